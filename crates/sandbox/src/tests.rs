//! Tests for the sandbox (compiled only under #[cfg(test)] from mod.rs): JQL/CQL parser and evaluator units, real HTTP behaviour against a
//! sandbox on port 0, and validation of responses against Atlassian's OpenAPI descriptions and
//! of the seeded ADF against the ADF JSON schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::query::{self, Dialect, Expr, FieldVal, Kind, Op, Operand, QueryError, SortKey};
use super::*;

// ---------------------------------------------------------------------------------------------
// Query language units
// ---------------------------------------------------------------------------------------------

fn p(q: &str) -> query::Query {
    query::parse(q, Dialect::Jql).unwrap_or_else(|e| panic!("parse {q:?}: {e:?}"))
}

fn perr(q: &str) -> QueryError {
    query::parse(q, Dialect::Jql).expect_err(q)
}

fn clause_field(e: &Expr) -> &str {
    match e {
        Expr::Clause(c) => &c.field,
        other => panic!("not a clause: {other:?}"),
    }
}

#[test]
fn and_binds_tighter_than_or() {
    let q = p("a = 1 OR b = 2 AND c = 3");
    let Some(Expr::Or(l, r)) = &q.filter else {
        panic!("{q:?}")
    };
    assert_eq!(clause_field(l), "a");
    let Expr::And(b, c) = r.as_ref() else {
        panic!("{r:?}")
    };
    assert_eq!((clause_field(b), clause_field(c)), ("b", "c"));
}

#[test]
fn not_binds_tighter_than_and_and_parentheses_override() {
    let q = p("NOT a = 1 AND b = 2");
    let Some(Expr::And(l, _)) = &q.filter else {
        panic!("{q:?}")
    };
    assert!(matches!(l.as_ref(), Expr::Not(_)));
    let q = p("(a = 1 OR b = 2) AND c = 3");
    let Some(Expr::And(l, _)) = &q.filter else {
        panic!("{q:?}")
    };
    assert!(matches!(l.as_ref(), Expr::Or(_, _)));
    let q = p("a = 1 && !(b = 2 || c = 3)");
    let Some(Expr::And(_, r)) = &q.filter else {
        panic!("{q:?}")
    };
    assert!(matches!(r.as_ref(), Expr::Not(inner) if matches!(inner.as_ref(), Expr::Or(_, _))));
}

#[test]
fn every_operator_parses() {
    let cases = [
        ("f = x", Op::Eq),
        ("f != x", Op::Ne),
        ("f ~ x", Op::Like),
        ("f !~ x", Op::NotLike),
        ("f > x", Op::Gt),
        ("f >= x", Op::Ge),
        ("f < x", Op::Lt),
        ("f <= x", Op::Le),
        ("f in (x, y)", Op::In),
        ("f NOT IN (x)", Op::NotIn),
        ("f is EMPTY", Op::Is),
        ("f IS NOT null", Op::IsNot),
    ];
    for (q, op) in cases {
        let parsed = p(q);
        let Some(Expr::Clause(c)) = parsed.filter else {
            panic!("{q}")
        };
        assert_eq!(c.op, op, "{q}");
    }
    let Some(Expr::Clause(c)) = p("f in (x, \"y z\", fn(1))").filter else {
        panic!()
    };
    assert_eq!(
        c.operand,
        Operand::List(vec![
            Operand::Value("x".into()),
            Operand::Value("y z".into()),
            Operand::Func("fn".into(), vec!["1".into()])
        ])
    );
}

#[test]
fn strings_escapes_functions_and_order_by() {
    let Some(Expr::Clause(c)) = p(r#"summary ~ "say \"hi\" \u00e9\\" "#).filter else {
        panic!()
    };
    assert_eq!(c.operand, Operand::Value("say \"hi\" é\\".into()));
    let Some(Expr::Clause(c)) = p("summary ~ 'it\\'s'").filter else {
        panic!()
    };
    assert_eq!(c.operand, Operand::Value("it's".into()));
    let Some(Expr::Clause(c)) = p("updated >= startOfDay(-1d)").filter else {
        panic!()
    };
    assert_eq!(
        c.operand,
        Operand::Func("startOfDay".into(), vec!["-1d".into()])
    );
    let q = p("project = ENG ORDER BY priority DESC, key asc, created");
    assert_eq!(
        q.order,
        vec![
            ("priority".to_string(), true),
            ("key".to_string(), false),
            ("created".to_string(), false)
        ]
    );
    let q = p("order by key desc");
    assert!(q.filter.is_none());
    assert_eq!(q.order, vec![("key".to_string(), true)]);
    assert!(p("").filter.is_none());
}

#[test]
fn syntax_errors_name_the_problem_and_position() {
    let e = perr("project = ");
    assert_eq!(e.pos, Some(11));
    assert!(
        e.message
            .contains("Expecting either a value, list or function but got 'EOF'")
    );
    let e = perr("project ENG");
    assert!(
        e.message.starts_with("Expecting operator but got 'ENG'"),
        "{e:?}"
    );
    assert_eq!(e.pos, Some(9));
    assert!(
        e.jira_message()
            .starts_with("Error in the JQL Query: Expecting operator")
    );
    assert!(e.jira_message().ends_with("(line 1, character 9)"));
    let e = perr("summary ~ \"open");
    assert!(e.message.contains("has not been completed"), "{e:?}");
    let e = perr("(a = 1");
    assert!(e.message.contains("Expecting ')'"), "{e:?}");
    let e = perr("a = 1 b = 2");
    assert!(
        e.message.contains("Expecting either 'OR' or 'AND'"),
        "{e:?}"
    );
    let e = perr("a = x & b = y");
    assert!(e.message.contains("reserved JQL character"), "{e:?}");
    assert!(perr("a in ()").message.contains("Expecting either a value"));
    assert!(
        perr("a = (x, y)")
            .message
            .contains("does not support the list")
    );
    assert!(perr("a is x").message.contains("EMPTY"));
    assert!(perr("a not x").message.contains("'IN' after 'NOT'"));
    assert!(perr("a = 1 AND").message.contains("field name"));
    assert!(perr("= 1").message.contains("field name"));
    assert!(perr("a = \"\\q\"").message.contains("escape"));
    assert!(perr("a was x").message.contains("history operator"));
    assert!(perr("a = 1 order by").message.contains("field name"));
    // Hostile input is refused, not recursed into.
    let deep = format!("{}a = 1{}", "(".repeat(65), ")".repeat(65));
    assert!(perr(&deep).message.contains("nested more than 64"));
    assert!(
        p(&format!("{}a = 1{}", "(".repeat(64), ")".repeat(64)))
            .filter
            .is_some()
    );
    assert!(
        perr(&"NOT ".repeat(100_000))
            .message
            .contains("longer than")
    );
    assert!(perr(&"NOT ".repeat(1000)).message.contains("nested"));
    let many = vec!["a = 1"; 501].join(" AND ");
    assert!(perr(&many).message.contains("more than 500 clauses"));
    assert!(p(&vec!["a = 1"; 500].join(" OR ")).filter.is_some());
}

/// A tiny record type for evaluator tests.
struct Rec {
    name: &'static str,
    tags: Vec<&'static str>,
    body: &'static str,
    when: Option<time::OffsetDateTime>,
    owner: Option<&'static str>,
}

struct RecSchema;

impl query::Schema for RecSchema {
    fn kind(&self, f: &str) -> Option<Kind> {
        Some(match f {
            "name" | "tags" => Kind::Keyword,
            "body" => Kind::Text,
            "when" => Kind::Date,
            "owner" => Kind::User,
            _ => return None,
        })
    }
    fn check_value(&self, f: &str, v: &str) -> Result<(), QueryError> {
        if f == "name" && v == "nope" {
            return Err(QueryError {
                message: "no such name".into(),
                pos: None,
            });
        }
        Ok(())
    }
    fn current_user(&self) -> String {
        "me".into()
    }
    fn now(&self) -> time::OffsetDateTime {
        time::macros::datetime!(2026-11-20 10:00 UTC)
    }
}

impl query::Subject for Rec {
    fn value(&self, f: &str) -> FieldVal {
        match f {
            "name" => FieldVal::Many(vec![self.name.into()]),
            "tags" => FieldVal::Many(self.tags.iter().map(|t| t.to_string()).collect()),
            "body" => FieldVal::Text(self.body.into()),
            "when" => FieldVal::Date(self.when),
            "owner" => FieldVal::Many(self.owner.map(|o| vec![o.to_string()]).unwrap_or_default()),
            _ => FieldVal::Many(vec![]),
        }
    }
    fn sort_key(&self, f: &str) -> SortKey {
        match f {
            "name" => SortKey::Str(self.name.into()),
            "when" => self.when.map_or(SortKey::None, SortKey::Time),
            _ => SortKey::None,
        }
    }
}

fn recs() -> Vec<Rec> {
    let now = time::macros::datetime!(2026-11-20 10:00 UTC);
    vec![
        Rec {
            name: "alpha",
            tags: vec!["x", "y"],
            body: "The quick brown fox",
            when: Some(now - time::Duration::days(2)),
            owner: Some("me"),
        },
        Rec {
            name: "beta",
            tags: vec![],
            body: "Lazy dogs sleep",
            when: Some(now - time::Duration::days(10)),
            owner: None,
        },
        Rec {
            name: "gamma",
            tags: vec!["y"],
            body: "",
            when: None,
            owner: Some("you"),
        },
    ]
}

fn names(q: &str) -> Vec<&'static str> {
    let c = query::compile(&p(q), &RecSchema, Dialect::Jql)
        .unwrap_or_else(|e| panic!("compile {q}: {e:?}"));
    let mut rs = recs();
    rs.retain(|r| c.matches(r));
    // ORDER BY, then the records' own order (as the handlers add a unique tie-breaker).
    let desc: Vec<bool> = c.order().iter().map(|(_, d)| *d).collect();
    let ranked = paging::Ranked::new(rs.into_iter().enumerate(), desc, |(n, r)| {
        let mut keys: Vec<SortKey> = c
            .order()
            .iter()
            .map(|(f, _)| query::Subject::sort_key(r, f))
            .collect();
        keys.push(SortKey::Num(*n as i64));
        keys
    });
    ranked.items.iter().map(|(_, (_, r))| r.name).collect()
}

#[test]
fn evaluator_implements_each_operator() {
    assert_eq!(names("name = ALPHA"), ["alpha"]);
    assert_eq!(names("name != alpha"), ["beta", "gamma"]);
    assert_eq!(names("tags = y"), ["alpha", "gamma"]);
    assert_eq!(
        names("tags != y"),
        Vec::<&str>::new(),
        "!= never matches empty values"
    );
    assert_eq!(names("tags in (x, z)"), ["alpha"]);
    assert_eq!(names("tags not in (x)"), ["gamma"]);
    assert_eq!(names("tags is EMPTY"), ["beta"]);
    assert_eq!(names("tags is not empty"), ["alpha", "gamma"]);
    assert_eq!(names("tags in (x, EMPTY)"), ["alpha", "beta"]);
    assert_eq!(names("body ~ \"QUICK fox\""), ["alpha"]);
    assert_eq!(
        names("body ~ \"fox quick\""),
        ["alpha"],
        "words in any order"
    );
    assert_eq!(
        names("body ~ '\"fox quick\"'"),
        Vec::<&str>::new(),
        "phrase"
    );
    assert_eq!(names("body ~ sle*"), ["beta"]);
    assert_eq!(names("body !~ fox"), ["beta"]);
    assert_eq!(names("when >= -7d"), ["alpha"]);
    assert_eq!(names("when < -7d"), ["beta"]);
    assert_eq!(
        names("when <= now() AND when > \"2026-11-01\""),
        ["alpha", "beta"]
    );
    assert_eq!(names("when > startOfDay(-3d)"), ["alpha"]);
    assert_eq!(names("when is empty"), ["gamma"]);
    assert_eq!(names("owner = currentUser()"), ["alpha"]);
    assert_eq!(names("owner in (currentUser(), you)"), ["alpha", "gamma"]);
    assert_eq!(
        names("NOT name = beta ORDER BY name DESC"),
        ["gamma", "alpha"]
    );
    assert_eq!(
        names("name in (alpha, beta, gamma) order by when"),
        ["beta", "alpha", "gamma"]
    );
    assert_eq!(
        names("name in (alpha, beta, gamma) order by when desc"),
        ["gamma", "alpha", "beta"]
    );
    assert_eq!(
        names("(name = alpha OR name = beta) AND tags is empty"),
        ["beta"]
    );
}

#[test]
fn checker_rejects_unknown_fields_operators_functions_and_values() {
    let err = |q: &str| {
        query::compile(&p(q), &RecSchema, Dialect::Jql)
            .expect_err(q)
            .message
    };
    assert_eq!(
        err("bogus = 1"),
        "Field 'bogus' does not exist or you do not have permission to view it."
    );
    assert!(err("body = x").contains("operator '=' is not supported by the 'body' field"));
    assert!(err("name ~ x").contains("not supported"));
    assert!(err("name = nope").contains("no such name"));
    assert!(err("when > yesterday").contains("Date value 'yesterday'"));
    assert!(err("owner = whoAmI()").contains("Unable to find JQL function 'whoAmI()'"));
    assert!(err("when > startOfDay(soon)").contains("not a valid period"));
    assert!(err("name = x order by body").contains("sorting"));
    assert!(err("name = x order by nothing").contains("does not exist"));
    let cql = query::compile(
        &query::parse("nothing = 1", Dialect::Cql).expect("parse"),
        &RecSchema,
        Dialect::Cql,
    )
    .expect_err("cql");
    assert!(cql.message.contains("not a CQL field"));
}

#[test]
fn text_matching_and_word_splitting() {
    assert!(query::text_matches("Handle 429 Retry-After", "retry-after"));
    assert!(query::text_matches("nextPageToken paging", "NEXTPAGETOKEN"));
    assert!(!query::text_matches("abc", ""));
    assert!(!query::text_matches("abc", "***"));
    assert_eq!(query::words("Foo, bar* baz!"), ["foo", "bar", "baz"]);
}

#[test]
fn paging_tokens_are_bound_to_their_query() {
    let t = wire::make_token("jql", 50, "project = ENG");
    assert_eq!(wire::read_token("jql", &t, "project = ENG"), Some(50));
    assert_eq!(wire::read_token("jql", &t, "project = OPS"), None);
    assert_eq!(wire::read_token("cql", &t, "project = ENG"), None);
    assert_eq!(wire::read_token("jql", "garbage!!", "project = ENG"), None);
    assert_eq!(
        wire::jira_time(seed::REFERENCE),
        "2026-11-20T10:00:00.000+0000"
    );
    assert_eq!(wire::conf_time(seed::REFERENCE), "2026-11-20T10:00:00.000Z");
    assert_eq!(wire::friendly(seed::REFERENCE), "Nov 20, 2026");
}

#[test]
fn seed_data_has_the_promised_shape() {
    let s = seed::Store::build();
    assert_eq!(s.users.len(), 3);
    assert_eq!(
        s.projects.iter().map(|p| p.key).collect::<Vec<_>>(),
        ["ENG", "OPS", "SEC"]
    );
    assert!(s.issues.iter().filter(|i| i.project == 0).count() >= 60);
    let overdue = s
        .issues
        .iter()
        .filter(|i| i.due.is_some_and(|d| d < seed::REFERENCE) && i.resolved.is_none())
        .count();
    assert!(overdue >= 3, "{overdue}");
    assert!(s.issue("eng-1").is_some());
    assert_eq!(s.pages.len(), 14);
    for page in &s.pages {
        assert!(
            page.parent
                .is_none_or(|id| s.pages.iter().any(|p| p.id == id)),
            "{}",
            page.id
        );
    }
    // Same input, same output.
    let again = seed::Store::build();
    assert_eq!(format!("{:?}", s.issues), format!("{:?}", again.issues));
    let text = seed::storage_text(
        "<p>a&nbsp;b &amp; <code>c</code>;</p><![CDATA[x<y]]><ac:parameter ac:name=\"l\">rust</ac:parameter><ac:task><ac:task-id>7</ac:task-id><ac:task-body>do</ac:task-body></ac:task>",
    );
    assert_eq!(text, "a b & c; x<y do");
}

// ---------------------------------------------------------------------------------------------
// Schema validation helpers
// ---------------------------------------------------------------------------------------------

/// Atlassian's API descriptions, kept once for the whole repository under `tests/specs`.
fn spec_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/specs").to_string()
}

pub(super) fn load(name: &str) -> Value {
    let path = format!("{}/{name}", spec_dir());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("spec json")
}

/// Rewrites an OpenAPI 3.0 schema into JSON Schema 2020-12: `nullable` becomes a union with
/// null; boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers.
pub(super) fn to_json_schema(v: &mut Value) {
    let Some(m) = v.as_object_mut() else {
        if let Some(a) = v.as_array_mut() {
            a.iter_mut().for_each(to_json_schema);
        }
        return;
    };
    for key in ["properties", "patternProperties", "schemas", "definitions"] {
        if let Some(Value::Object(children)) = m.get_mut(key) {
            children.values_mut().for_each(to_json_schema);
        }
    }
    for key in [
        "items",
        "additionalProperties",
        "not",
        "allOf",
        "anyOf",
        "oneOf",
    ] {
        if let Some(child) = m.get_mut(key) {
            to_json_schema(child);
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(Value::Bool(b)) = m.get(flag).cloned() {
            m.remove(flag);
            if b && let Some(n) = m.remove(bound) {
                m.insert(flag.into(), n);
            }
        }
    }
    if m.get("nullable") == Some(&Value::Bool(true)) {
        m.remove("nullable");
        if let Some(Value::String(t)) = m.get("type").cloned() {
            m.insert("type".into(), json!([t, "null"]));
            if let Some(Value::Array(e)) = m.get_mut("enum") {
                e.push(Value::Null);
            }
        } else {
            let inner = Value::Object(std::mem::take(m));
            *v = json!({"anyOf": [inner, {"type": "null"}]});
        }
    }
}

pub(super) struct Spec {
    pub(super) doc: Value,
}

impl Spec {
    pub(super) fn converted(name: &str) -> Spec {
        let mut doc = load(name);
        if let Some(c) = doc.get_mut("components") {
            to_json_schema(c);
        }
        Spec { doc }
    }

    /// A validator for `components.schemas.<name>`.
    pub(super) fn component(&self, name: &str) -> jsonschema::Validator {
        assert!(
            self.doc["components"]["schemas"].get(name).is_some(),
            "no schema {name}"
        );
        let root = json!({
            "components": self.doc["components"],
            "$ref": format!("#/components/schemas/{name}"),
        });
        jsonschema::validator_for(&root).expect("compile schema")
    }

    /// A validator for the JSON 200 response of `GET path`.
    pub(super) fn response(&self, path: &str) -> jsonschema::Validator {
        let mut schema = self.doc["paths"][path]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]
            .clone();
        assert!(schema.is_object(), "no 200 schema for {path}");
        to_json_schema(&mut schema);
        let mut root = json!({"allOf": [schema]});
        root["components"] = self.doc["components"].clone();
        jsonschema::validator_for(&root).expect("compile schema")
    }
}

pub(super) fn jira_spec() -> &'static Spec {
    static S: OnceLock<Spec> = OnceLock::new();
    S.get_or_init(|| Spec::converted("jira-platform-v3.openapi.json"))
}

pub(super) fn conf_v2_spec() -> &'static Spec {
    static S: OnceLock<Spec> = OnceLock::new();
    S.get_or_init(|| Spec::converted("confluence-v2.openapi.json"))
}

pub(super) fn conf_v1_spec() -> &'static Spec {
    static S: OnceLock<Spec> = OnceLock::new();
    S.get_or_init(|| Spec::converted("confluence-v1.openapi.json"))
}

#[track_caller]
pub(super) fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .take(8)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}",
        errors.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

pub(super) async fn sandbox() -> Sandbox {
    start(SandboxOptions::default())
        .await
        .expect("start sandbox")
}

pub(super) struct Resp {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

pub(super) async fn send(req: reqwest::RequestBuilder) -> Resp {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    Resp {
        status,
        headers,
        body,
    }
}

pub(super) async fn cloud(sb: &Sandbox, path: &str) -> Resp {
    send(
        http()
            .get(format!("{}{path}", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await
}

pub(super) async fn cloud_post(sb: &Sandbox, path: &str, body: &Value) -> Resp {
    send(
        http()
            .post(format!("{}{path}", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
            .json(body),
    )
    .await
}

pub(super) async fn dc(sb: &Sandbox, path: &str) -> Resp {
    send(
        http()
            .get(format!("{}{path}", sb.dc_base_url()))
            .bearer_auth(SANDBOX_PAT),
    )
    .await
}

fn enc(s: &str) -> String {
    wire::enc(s)
}

pub(super) fn keys(v: &Value) -> Vec<String> {
    v["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["key"].as_str().expect("key").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Auth, routing, gateway
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn wrong_credentials_get_401_in_each_products_shape() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let bad = |url: String| http().get(url).basic_auth(SANDBOX_EMAIL, Some("wrong"));
    let r = send(bad(format!("{base}/rest/api/3/myself"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body["errorMessages"][0],
        "You are not authenticated. Authentication required to perform this operation."
    );
    assert!(r.headers.contains_key("www-authenticate"));
    let r = send(bad(format!("{base}/wiki/api/v2/spaces"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"errors": [{"status": 401, "code": "UNAUTHORIZED", "title": "Unauthorized", "detail": null}]})
    );
    let r = send(bad(format!("{base}/wiki/rest/api/search?cql=type=page"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["statusCode"], 401);
    assert_eq!(r.body["reason"], "Unauthorized");
    // No credentials at all.
    let r = send(http().get(format!("{base}/rest/api/3/myself"))).await;
    assert_eq!(r.status, 401);
    // Cloud refuses the PAT; DC refuses Basic.
    let r = send(
        http()
            .get(format!("{base}/rest/api/3/myself"))
            .bearer_auth(SANDBOX_PAT),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(
        http()
            .get(format!("{}/rest/api/2/myself", sb.dc_base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(dc(&sb, "/rest/api/2/myself").await.status, 200);
    assert_eq!(cloud(&sb, "/rest/api/3/myself").await.status, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn gateway_prefix_serves_the_sandbox_cloud_id_only() {
    let sb = sandbox().await;
    let r = cloud(
        &sb,
        &format!("/ex/jira/{SANDBOX_CLOUD_ID}/rest/api/3/issue/ENG-1?fields=summary"),
    )
    .await;
    assert_eq!(r.status, 200);
    let self_link = r.body["self"].as_str().expect("self");
    assert!(
        self_link.contains(&format!("/ex/jira/{SANDBOX_CLOUD_ID}/rest/api/3/issue/")),
        "{self_link}"
    );
    let r = cloud(
        &sb,
        "/ex/jira/00000000-0000-0000-0000-000000000000/rest/api/3/myself",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], 404);
    let r = cloud(
        &sb,
        &format!("/ex/confluence/{SANDBOX_CLOUD_ID}/wiki/api/v2/pages/100101?body-format=storage"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["_links"]["base"]
            .as_str()
            .expect("base")
            .ends_with(&format!("/ex/confluence/{SANDBOX_CLOUD_ID}/wiki"))
    );
    let r = cloud(
        &sb,
        &format!("/ex/confluence/{SANDBOX_CLOUD_ID}/wiki/rest/api/search?cql=type%3Dpage"),
    )
    .await;
    assert_eq!(r.status, 200);
    // Jira paths are not served under the Confluence prefix and vice versa.
    assert_eq!(
        cloud(
            &sb,
            &format!("/ex/confluence/{SANDBOX_CLOUD_ID}/rest/api/3/myself")
        )
        .await
        .status,
        404
    );
    assert_eq!(
        cloud(
            &sb,
            &format!("/ex/jira/{SANDBOX_CLOUD_ID}/wiki/api/v2/spaces")
        )
        .await
        .status,
        404
    );
    // Faults match the path inside the site too.
    sb.faults().inject(FaultSpec {
        status: 503,
        count: 1,
        retry_after: Some(2),
        path_prefix: Some("/rest/api/3/myself".into()),
    });
    let r = cloud(
        &sb,
        &format!("/ex/jira/{SANDBOX_CLOUD_ID}/rest/api/3/myself"),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.headers["retry-after"], "2");
    sb.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_and_malformed_input_are_clean_errors() {
    let sb = sandbox().await;
    let r = cloud(&sb, "/rest/api/3/nothing").await;
    assert_eq!(r.status, 404);
    assert!(r.body["errorMessages"].is_array());
    let r = cloud(&sb, "/wiki/api/v2/nothing").await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let r = send(
        http()
            .delete(format!("{}/rest/api/3/myself", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN)),
    )
    .await;
    assert_eq!(r.status, 405);
    // Malformed JSON, wrong types.
    let r = send(
        http()
            .post(format!("{}/rest/api/3/search/jql", sb.base_url()))
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN))
            .header("content-type", "application/json")
            .body("{\"jql\": "),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errorMessages"][0]
            .as_str()
            .expect("msg")
            .contains("malformed JSON")
    );
    let r = cloud_post(&sb, "/rest/api/3/search/jql", &json!({"jql": 5})).await;
    assert_eq!(r.status, 400);
    let r = cloud_post(
        &sb,
        "/rest/api/3/search/jql",
        &json!({"jql": "project = ENG", "fields": "summary", "maxResults": "x"}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = cloud_post(&sb, "/rest/api/3/search/jql", &json!([1, 2])).await;
    assert_eq!(r.status, 400);
    // Invalid UTF-8 in the query string and in the path.
    let r = cloud(&sb, "/rest/api/3/search/jql?jql=%FF%FE").await;
    assert_eq!(r.status, 400);
    let r = cloud(&sb, "/rest/api/3/issue/%FF").await;
    assert_eq!(r.status, 400);
    let r = cloud(&sb, "/wiki/rest/api/search?cql=%C3%28").await;
    assert_eq!((r.status, r.body["statusCode"].as_i64()), (400, Some(400)));
    // Numbers out of range and non-numbers.
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%3DENG&maxResults=99999999999999999999",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%3DENG&maxResults=-5",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%3DENG&fields=key&maxResults=9223372036854775807",
    )
    .await;
    assert_eq!(r.status, 200);
    let r = cloud(&sb, "/rest/api/3/project/search?startAt=-1").await;
    assert_eq!(r.status, 400);
    let r = cloud(&sb, "/rest/api/3/issue/ENG-1/comment?startAt=9999999999999").await;
    assert_eq!(
        (r.status, r.body["comments"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let r = cloud(&sb, "/wiki/api/v2/pages?limit=0").await;
    assert_eq!(r.status, 400);
    let r = cloud(&sb, "/wiki/api/v2/pages/abc").await;
    assert_eq!(r.status, 400);
    let r = cloud(&sb, "/wiki/api/v2/pages?cursor=bogus").await;
    assert_eq!(r.status, 400);
    let r = cloud(&sb, "/wiki/rest/api/search?cql=type%3Dpage&cursor=bogus").await;
    assert_eq!(r.status, 400);
    // Deeply nested JQL does not overflow the stack at this depth, and odd bytes do not panic.
    let deep = format!("{}project = ENG{}", "(".repeat(60), ")".repeat(60));
    let r = cloud(&sb, &format!("/rest/api/3/search/jql?jql={}", enc(&deep))).await;
    assert_eq!(r.status, 200);
    let hostile = "(".repeat(100_000);
    let r = cloud_post(&sb, "/rest/api/3/search/jql", &json!({"jql": hostile})).await;
    assert_eq!(r.status, 400);
    let hostile = vec!["key = ENG-1"; 2000].join(" OR ");
    let r = cloud_post(&sb, "/rest/api/3/search/jql", &json!({"jql": hostile})).await;
    assert_eq!(r.status, 400);
    for junk in [
        "\u{0}",
        "\"",
        "'",
        "((((",
        "))",
        "!",
        "~~",
        "a = \"\\u12\"",
        "😀 = 😀",
        "order",
        "order by",
    ] {
        let r = cloud(&sb, &format!("/rest/api/3/search/jql?jql={}", enc(junk))).await;
        assert_eq!(r.status, 400, "{junk}");
        let r = cloud(&sb, &format!("/wiki/rest/api/search?cql={}", enc(junk))).await;
        assert!(r.status == 400 || r.status == 200, "{junk}");
    }
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Jira Cloud
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn old_search_endpoints_answer_410_with_the_change_2046_body() {
    let sb = sandbox().await;
    let expected = json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"], "errors": {}});
    for path in [
        "/rest/api/3/search?jql=project%3DENG",
        "/rest/api/2/search?jql=project%3DENG",
    ] {
        let r = cloud(&sb, path).await;
        assert_eq!((r.status, &r.body), (410, &expected), "{path}");
    }
    let r = cloud_post(&sb, "/rest/api/3/search", &json!({"jql": "project = ENG"})).await;
    assert_eq!((r.status, &r.body), (410, &expected));
    let r = cloud_post(&sb, "/rest/api/2/search", &json!({"jql": "project = ENG"})).await;
    assert_eq!(r.status, 410);
    sb.shutdown().await;
}

#[tokio::test]
async fn search_jql_pages_with_tokens_and_covers_every_issue_once() {
    let sb = sandbox().await;
    let jql = "project = ENG ORDER BY key ASC";
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!(
            "/rest/api/3/search/jql?jql={}&maxResults=7&fields=key,summary",
            enc(jql)
        );
        if let Some(t) = &token {
            url.push_str(&format!("&nextPageToken={}", enc(t)));
        }
        let r = cloud(&sb, &url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body.get("total").is_none(),
            "no total on the enhanced search"
        );
        seen.extend(keys(&r.body));
        pages += 1;
        match r.body.get("nextPageToken").and_then(Value::as_str) {
            Some(t) => {
                assert_eq!(r.body["isLast"], false);
                token = Some(t.to_string());
            }
            None => {
                assert_eq!(r.body["isLast"], true);
                break;
            }
        }
        assert!(pages < 50);
    }
    let total = seen.len();
    assert!(total >= 60, "{total}");
    assert_eq!(pages, total.div_ceil(7));
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), total, "each issue exactly once");
    let expected: Vec<String> = (1..=total).map(|n| format!("ENG-{n}")).collect();
    assert_eq!(seen, expected, "ORDER BY key ASC");

    // The same over POST, with fields as an array.
    let mut post_seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"jql": jql, "maxResults": 25, "fields": ["key"]});
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let r = cloud_post(&sb, "/rest/api/3/search/jql", &body).await;
        assert_eq!(r.status, 200);
        post_seen.extend(keys(&r.body));
        match r.body.get("nextPageToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(post_seen, seen);

    // A token used with another JQL is refused.
    let first = cloud(
        &sb,
        &format!("/rest/api/3/search/jql?jql={}&maxResults=5", enc(jql)),
    )
    .await;
    let t = first.body["nextPageToken"].as_str().expect("token");
    let r = cloud(
        &sb,
        &format!(
            "/rest/api/3/search/jql?jql={}&nextPageToken={}",
            enc("project = OPS"),
            enc(t)
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["errorMessages"][0]
            .as_str()
            .expect("msg")
            .contains("token")
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn search_jql_fields_default_to_id_and_caps_depend_on_fields() {
    let sb = sandbox().await;
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%20%3D%20ENG&maxResults=3",
    )
    .await;
    assert_eq!(r.status, 200);
    for issue in r.body["issues"].as_array().expect("issues") {
        assert_eq!(
            issue
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["id".to_string()])
        );
    }
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%20%3D%20ENG&maxResults=5000&fields=*all",
    )
    .await;
    assert_eq!(r.body["issues"].as_array().map(Vec::len), Some(64));
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%20in%20(ENG,OPS,SEC)&maxResults=5000&fields=summary",
    )
    .await;
    assert_eq!(r.body["issues"].as_array().map(Vec::len), Some(100));
    assert_eq!(r.body["isLast"], false);
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=project%20in%20(ENG,OPS,SEC)&maxResults=5000&fields=key",
    )
    .await;
    assert_eq!(r.body["issues"].as_array().map(Vec::len), Some(114));
    assert_eq!(r.body["isLast"], true);
    // Explicit lists, *navigable and exclusions.
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=key%3DENG-1&fields=summary,status",
    )
    .await;
    let fields = r.body["issues"][0]["fields"].as_object().expect("fields");
    let mut got: Vec<&String> = fields.keys().collect();
    got.sort();
    assert_eq!(got, ["status", "summary"]);
    assert_eq!(r.body["issues"][0]["key"], "ENG-1");
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=key%3DENG-1&fields=*navigable,-description",
    )
    .await;
    let fields = r.body["issues"][0]["fields"].as_object().expect("fields");
    assert!(
        fields.contains_key("summary")
            && !fields.contains_key("description")
            && !fields.contains_key("comment")
    );
    let r = cloud(
        &sb,
        "/rest/api/3/search/jql?jql=key%3DENG-1&fields=*all&expand=names",
    )
    .await;
    let issue = &r.body["issues"][0];
    assert!(issue["fields"]["comment"]["comments"].is_array());
    assert_eq!(issue["fields"]["description"]["type"], "doc");
    assert_eq!(
        issue["fields"]["status"]["statusCategory"]["key"],
        "indeterminate"
    );
    assert_eq!(issue["fields"]["created"].as_str().map(str::len), Some(28));
    assert_eq!(r.body["names"]["summary"], "Summary");
    sb.shutdown().await;
}

#[tokio::test]
async fn jql_errors_are_jira_shaped_400s() {
    let sb = sandbox().await;
    let cases = [
        ("", "Unbounded JQL"),
        ("   ", "Unbounded JQL"),
        ("ORDER BY key DESC", "Unbounded JQL"),
        (
            "project = ",
            "Error in the JQL Query: Expecting either a value, list or function",
        ),
        (
            "project ENG",
            "Error in the JQL Query: Expecting operator but got 'ENG'",
        ),
        (
            "bogus = 1",
            "Field 'bogus' does not exist or you do not have permission to view it.",
        ),
        (
            "project = NOPE",
            "The value 'NOPE' does not exist for the field 'project'.",
        ),
        (
            "summary = x",
            "The operator '=' is not supported by the 'summary' field.",
        ),
        (
            "status = Blocked",
            "The value 'Blocked' does not exist for the field 'status'.",
        ),
        (
            "key = ENG-999",
            "An issue with key 'ENG-999' does not exist for field 'key'.",
        ),
        (
            "created > yesterday",
            "Date value 'yesterday' for field 'created' is invalid.",
        ),
        (
            "assignee = nobody",
            "The value 'nobody' does not exist for the field 'assignee'.",
        ),
        ("project = ENG order by summary", "does not support sorting"),
    ];
    for (jql, msg) in cases {
        let r = cloud(&sb, &format!("/rest/api/3/search/jql?jql={}", enc(jql))).await;
        assert_eq!(r.status, 400, "{jql}: {}", r.body);
        let m = r.body["errorMessages"][0].as_str().expect("message");
        assert!(m.contains(msg), "{jql}: {m}");
        assert_eq!(r.body["errors"], json!({}));
    }
    let r = cloud_post(&sb, "/rest/api/3/search/jql", &json!({"maxResults": 5})).await;
    assert_eq!(r.status, 400);
    sb.shutdown().await;
}

async fn jql_keys(sb: &Sandbox, jql: &str) -> Vec<String> {
    let r = cloud(
        sb,
        &format!(
            "/rest/api/3/search/jql?jql={}&fields=key&maxResults=1000",
            enc(jql)
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{jql}: {}", r.body);
    keys(&r.body)
}

#[tokio::test]
async fn jql_semantics_match_the_seed() {
    let sb = sandbox().await;
    let store = seed::Store::build();
    let mine = jql_keys(&sb, "assignee = currentUser() AND statusCategory != Done").await;
    let expected: Vec<&seed::Issue> = store
        .issues
        .iter()
        .filter(|i| i.assignee == Some(seed::DEMO) && i.resolved.is_none())
        .collect();
    assert_eq!(mine.len(), expected.len());
    assert!(mine.contains(&"ENG-3".to_string()));
    let overdue = jql_keys(
        &sb,
        "duedate < now() AND resolution = Unresolved ORDER BY duedate ASC",
    )
    .await;
    assert!(overdue.len() >= 3);
    assert!(overdue.contains(&"OPS-2".to_string()) && overdue.contains(&"ENG-3".to_string()));
    let dues: Vec<_> = overdue
        .iter()
        .map(|k| store.issue(k).and_then(|i| i.due).expect("due"))
        .collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "sorted by duedate");
    assert!(dues.iter().all(|d| *d < seed::REFERENCE));
    assert!(
        overdue
            .iter()
            .all(|k| store.issue(k).is_some_and(|i| i.resolved.is_none()))
    );
    assert_eq!(
        jql_keys(
            &sb,
            "text ~ \"nextPageToken\" AND project = ENG AND issuetype = Story"
        )
        .await,
        ["ENG-2"]
    );
    assert_eq!(
        jql_keys(&sb, "comment ~ \"isLast quirks\"").await,
        ["ENG-1"]
    );
    assert_eq!(jql_keys(&sb, "issuekey = eng-4").await, ["ENG-4"]);
    assert_eq!(jql_keys(&sb, "parent = ENG-2").await, ["ENG-4"]);
    assert_eq!(
        jql_keys(&sb, "labels in (secrets, tls) order by key").await,
        ["OPS-1", "SEC-1"]
    );
    assert_eq!(
        jql_keys(&sb, "project = SEC AND labels is EMPTY")
            .await
            .len(),
        store
            .issues
            .iter()
            .filter(|i| i.project == 2 && i.labels.is_empty())
            .count()
    );
    let unassigned = jql_keys(&sb, "assignee is EMPTY").await;
    assert!(unassigned.contains(&"OPS-2".to_string()) && unassigned.contains(&"ENG-7".to_string()));
    let recent = jql_keys(&sb, "updated >= -1d").await;
    for k in ["ENG-4", "ENG-6", "SEC-1"] {
        assert!(recent.contains(&k.to_string()), "{k} in {recent:?}");
    }
    let by_prio = jql_keys(&sb, "project = OPS ORDER BY priority DESC, key ASC").await;
    assert_eq!(by_prio.first().map(String::as_str), Some("OPS-2"));
    let done = jql_keys(&sb, "status = Done AND project = ENG").await;
    assert!(done.contains(&"ENG-5".to_string()) && !done.contains(&"ENG-1".to_string()));
    assert_eq!(jql_keys(&sb, "id = 10001").await, ["ENG-1"]);
    assert_eq!(
        jql_keys(&sb, "key in (ENG-1, SEC-2) order by key desc").await,
        ["SEC-2", "ENG-1"]
    );
    assert!(
        jql_keys(&sb, "project = ENG AND NOT project = ENG")
            .await
            .is_empty()
    );
    // Default order: newest first.
    let all = jql_keys(&sb, "project = OPS").await;
    let mut by_created: Vec<&seed::Issue> =
        store.issues.iter().filter(|i| i.project == 1).collect();
    by_created.sort_by_key(|i| std::cmp::Reverse(i.created));
    assert_eq!(
        all,
        by_created.iter().map(|i| i.key.clone()).collect::<Vec<_>>()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn get_issue_expands_and_404s() {
    let sb = sandbox().await;
    let r = cloud(
        &sb,
        "/rest/api/3/issue/eng-3?expand=changelog,transitions,renderedFields,names",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["key"], "ENG-3");
    assert_eq!(r.body["fields"]["priority"]["name"], "Highest");
    assert_eq!(
        r.body["fields"]["assignee"]["accountId"],
        "61d5f0c2a8b4e3001d7c9a01"
    );
    assert!(r.body["fields"]["comment"]["total"].as_u64() >= Some(1));
    assert!(r.body["changelog"]["histories"].as_array().map(Vec::len) >= Some(2));
    assert_eq!(r.body["transitions"].as_array().map(Vec::len), Some(3));
    assert!(
        r.body["renderedFields"]["description"]
            .as_str()
            .expect("html")
            .contains("<ol>")
    );
    assert_eq!(r.body["names"]["duedate"], "Due date");
    let by_id = cloud(
        &sb,
        &format!("/rest/api/3/issue/{}", r.body["id"].as_str().expect("id")),
    )
    .await;
    assert_eq!(by_id.body["key"], "ENG-3");
    let r = cloud(&sb, "/rest/api/3/issue/ENG-4?fields=parent,summary").await;
    assert_eq!(r.body["fields"]["parent"]["key"], "ENG-2");
    let r = cloud(&sb, "/rest/api/3/issue/ENG-2?fields=subtasks").await;
    assert_eq!(r.body["fields"]["subtasks"][0]["key"], "ENG-4");
    for missing in ["ENG-999", "NOPE-1", "x"] {
        let r = cloud(&sb, &format!("/rest/api/3/issue/{missing}")).await;
        assert_eq!(r.status, 404);
        assert_eq!(
            r.body,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
        );
    }
    assert_eq!(
        cloud(&sb, "/rest/api/3/issue/ENG-999/comment").await.status,
        404
    );
    assert_eq!(
        cloud(&sb, "/rest/api/3/issue/ENG-999/transitions")
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn comments_page_and_order() {
    let sb = sandbox().await;
    let r = cloud(&sb, "/rest/api/3/issue/ENG-1/comment").await;
    assert_eq!(r.body["total"], 2);
    assert_eq!(
        r.body["comments"][0]["author"]["displayName"],
        "Alex Rivera"
    );
    let r = cloud(
        &sb,
        "/rest/api/3/issue/ENG-1/comment?orderBy=-created&maxResults=1",
    )
    .await;
    assert_eq!(r.body["comments"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["comments"][0]["author"]["displayName"], "Dana Demo");
    assert_eq!(r.body["maxResults"], 1);
    let r = cloud(&sb, "/rest/api/3/issue/ENG-1/comment?startAt=1").await;
    assert_eq!(r.body["comments"][0]["author"]["displayName"], "Dana Demo");
    let r = cloud(&sb, "/rest/api/3/issue/ENG-1/comment?orderBy=author").await;
    assert_eq!(r.status, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn projects_createmeta_myself_server_info() {
    let sb = sandbox().await;
    let r = cloud(&sb, "/rest/api/3/project/search").await;
    assert_eq!(r.body["total"], 3);
    assert_eq!(r.body["isLast"], true);
    let r = cloud(&sb, "/rest/api/3/project/search?maxResults=2").await;
    assert_eq!(r.body["values"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["isLast"], false);
    assert!(
        r.body["nextPage"]
            .as_str()
            .expect("next")
            .contains("startAt=2")
    );
    let r = cloud(&sb, "/rest/api/3/project/search?query=oper").await;
    assert_eq!(r.body["values"][0]["key"], "OPS");
    let r = cloud(&sb, "/rest/api/3/project/search?query=sec").await;
    assert_eq!(r.body["values"][0]["key"], "SEC");
    let r = cloud(&sb, "/rest/api/3/project/search?keys=ENG&keys=SEC").await;
    assert_eq!(r.body["total"], 2);
    let r = cloud(&sb, "/rest/api/3/project/search?maxResults=1000").await;
    assert_eq!(r.body["maxResults"], 100);

    let r = cloud(&sb, "/rest/api/3/issue/createmeta/ENG/issuetypes").await;
    assert_eq!(r.body["total"], 5);
    let names: Vec<&str> = r.body["issueTypes"]
        .as_array()
        .expect("types")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["Task", "Bug", "Story", "Epic", "Sub-task"]);
    let r = cloud(&sb, "/rest/api/3/issue/createmeta/ENG/issuetypes/10005").await;
    let fields = r.body["fields"].as_array().expect("fields");
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f["required"] == true)
        .filter_map(|f| f["fieldId"].as_str())
        .collect();
    assert_eq!(
        required,
        ["issuetype", "project", "summary", "reporter", "parent"]
    );
    let prio = fields
        .iter()
        .find(|f| f["fieldId"] == "priority")
        .expect("priority");
    assert_eq!(prio["allowedValues"].as_array().map(Vec::len), Some(5));
    let r = cloud(&sb, "/rest/api/3/issue/createmeta/SEC/issuetypes/10002").await;
    assert!(
        r.body["fields"]
            .as_array()
            .expect("f")
            .iter()
            .any(|f| f["fieldId"] == "customfield_10050" && f["required"] == true)
    );
    assert_eq!(
        cloud(&sb, "/rest/api/3/issue/createmeta/NOPE/issuetypes")
            .await
            .status,
        404
    );
    assert_eq!(
        cloud(&sb, "/rest/api/3/issue/createmeta/ENG/issuetypes/1")
            .await
            .status,
        404
    );
    let r = cloud(
        &sb,
        "/rest/api/3/issue/createmeta/ENG/issuetypes?maxResults=201",
    )
    .await;
    assert_eq!(
        r.body["errorMessages"][0],
        "Parameter 'maxResults' must not exceed the limit '200'"
    );

    let r = cloud(&sb, "/rest/api/3/myself").await;
    assert_eq!(r.body["emailAddress"], SANDBOX_EMAIL);
    assert_eq!(r.body["accountId"], "61d5f0c2a8b4e3001d7c9a01");
    let r = cloud(&sb, "/rest/api/3/serverInfo").await;
    assert_eq!(r.body["deploymentType"], "Cloud");
    let r = cloud(&sb, "/rest/api/3/issue/ENG-2/transitions").await;
    let to: Vec<&str> = r.body["transitions"]
        .as_array()
        .expect("t")
        .iter()
        .filter_map(|t| t["to"]["name"].as_str())
        .collect();
    assert_eq!(to, ["To Do", "In Progress", "Done"]);
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Confluence Cloud
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cql_search_highlights_and_pages_with_cursor() {
    let sb = sandbox().await;
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("type = page AND text ~ \"retry-after\"")
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for res in results {
        let ex = res["excerpt"].as_str().expect("excerpt");
        assert!(
            ex.to_lowercase().contains("@@@hl@@@retry-after@@@endhl@@@"),
            "{ex}"
        );
        assert!(
            res["content"]["_links"]["webui"]
                .as_str()
                .expect("webui")
                .starts_with("/spaces/")
        );
        assert!(
            res["resultGlobalContainer"]["displayUrl"]
                .as_str()
                .expect("url")
                .starts_with("/spaces/")
        );
    }
    assert_eq!(r.body["cqlQuery"], "type = page AND text ~ \"retry-after\"");
    assert_eq!(r.body["_links"]["context"], "/wiki");

    // Titles are highlighted too; content titles stay clean.
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}&expand=content.space,content.version",
            enc("title ~ architecture")
        ),
    )
    .await;
    assert_eq!(
        r.body["results"][0]["title"],
        "@@@hl@@@Architecture@@@endhl@@@ Overview"
    );
    assert_eq!(
        r.body["results"][0]["content"]["title"],
        "Architecture Overview"
    );
    assert_eq!(r.body["results"][0]["content"]["space"]["key"], "ENG");
    assert_eq!(r.body["results"][0]["content"]["version"]["number"], 3);

    // Paging through everything in ENG with limit 3 via _links.next (relative to /wiki).
    let mut url = format!(
        "/wiki/rest/api/search?cql={}&limit=3",
        enc("space = ENG AND type = page order by title")
    );
    let mut titles = Vec::new();
    for _ in 0..20 {
        let r = cloud(&sb, &url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.body);
        assert_eq!(r.body["totalSize"], 8);
        titles.extend(
            r.body["results"]
                .as_array()
                .expect("r")
                .iter()
                .map(|x| x["content"]["title"].as_str().expect("t").to_string()),
        );
        match r.body["_links"]["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with("/rest/api/search?"), "{next}");
                assert!(next.contains("cursor="));
                url = format!("/wiki{next}");
            }
            None => break,
        }
    }
    let mut sorted = titles.clone();
    sorted.sort_by_key(|t| t.to_lowercase());
    assert_eq!(titles, sorted);
    assert_eq!(titles.len(), 8);

    // Excerpt strategies.
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}&excerpt=none",
            enc("text ~ rotation")
        ),
    )
    .await;
    assert!(
        r.body["results"]
            .as_array()
            .expect("r")
            .iter()
            .all(|x| x["excerpt"] == "")
    );
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}&excerpt=indexed",
            enc("text ~ rotation")
        ),
    )
    .await;
    assert!(
        r.body["results"]
            .as_array()
            .expect("r")
            .iter()
            .all(|x| !x["excerpt"].as_str().unwrap_or("").contains("@@@"))
    );

    // CQL fields.
    let ids = |r: &Resp| -> Vec<String> {
        r.body["results"]
            .as_array()
            .expect("r")
            .iter()
            .map(|x| x["content"]["id"].as_str().unwrap_or("space").to_string())
            .collect()
    };
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("ancestor = 100104 order by id")
        ),
    )
    .await;
    assert_eq!(ids(&r), ["100105", "100106"]);
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("parent = 100100 order by id")
        ),
    )
    .await;
    assert_eq!(ids(&r), ["100101", "100104", "100107"]);
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("label = runbook and space.key = OPS")
        ),
    )
    .await;
    assert_eq!(ids(&r), ["200102"]);
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("creator = currentUser() and type = page and space = \"~demo\" order by created")
        ),
    )
    .await;
    assert_eq!(ids(&r), ["300100", "300101"]);
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("contributor = \"61d5f0c2a8b4e3001d7c9a01\" and space = OPS")
        ),
    )
    .await;
    assert_eq!(ids(&r), ["200102"]);
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("lastmodified >= now(\"-3d\") and type = page order by lastmodified desc")
        ),
    )
    .await;
    assert_eq!(ids(&r), ["300101", "200102", "100103"]);
    let r = cloud(
        &sb,
        &format!(
            "/wiki/rest/api/search?cql={}",
            enc("type = space order by title")
        ),
    )
    .await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(3));
    assert_eq!(r.body["results"][0]["entityType"], "space");
    let r = cloud(
        &sb,
        &format!("/wiki/rest/api/search?cql={}", enc("title = \"Runbooks\"")),
    )
    .await;
    assert_eq!(ids(&r), ["100104"]);

    // Bad CQL.
    for cql in ["type = ", "type page", "bogus = 1", "type = widget"] {
        let r = cloud(&sb, &format!("/wiki/rest/api/search?cql={}", enc(cql))).await;
        assert_eq!(r.status, 400, "{cql}");
        assert_eq!(r.body["statusCode"], 400);
        assert_eq!(r.body["reason"], "Bad Request");
    }
    let r = cloud(&sb, "/wiki/rest/api/search?cql=type%20%3D").await;
    assert!(
        r.body["message"]
            .as_str()
            .expect("m")
            .contains("Could not parse cql : type =")
    );
    assert_eq!(cloud(&sb, "/wiki/rest/api/search").await.status, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn v2_pages_and_spaces() {
    let sb = sandbox().await;
    let r = cloud(&sb, "/wiki/api/v2/pages/100101?body-format=storage").await;
    assert_eq!(r.status, 200);
    let storage = r.body["body"]["storage"]["value"]
        .as_str()
        .expect("storage");
    assert!(
        storage.contains("<![CDATA[")
            && storage.contains("ri:account-id")
            && storage.contains("<ac:image")
    );
    assert_eq!(r.body["body"]["storage"]["representation"], "storage");
    assert_eq!(r.body["spaceId"], "98305");
    assert_eq!(r.body["parentId"], "100100");
    assert_eq!(r.body["version"]["number"], 3);
    let r = cloud(&sb, "/wiki/api/v2/pages/100101").await;
    assert_eq!(r.body["body"], json!({}));
    let r = cloud(
        &sb,
        "/wiki/api/v2/pages/100101?body-format=atlas_doc_format",
    )
    .await;
    let adf: Value = serde_json::from_str(
        r.body["body"]["atlas_doc_format"]["value"]
            .as_str()
            .expect("adf"),
    )
    .expect("adf json");
    assert_eq!(adf["type"], "doc");
    assert_eq!(
        cloud(&sb, "/wiki/api/v2/pages/100101?body-format=view")
            .await
            .status,
        400
    );
    let r = cloud(&sb, "/wiki/api/v2/pages/999").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["errors"][0]["status"], 404);
    assert_eq!(r.body["errors"][0]["code"], "NOT_FOUND");

    let r = cloud(&sb, "/wiki/api/v2/spaces?limit=1").await;
    assert_eq!(r.body["results"][0]["key"], "ENG");
    let next = r.body["_links"]["next"].as_str().expect("next").to_string();
    let link = r.headers["link"].to_str().expect("link");
    assert!(link.contains(&format!("<{next}>; rel=\"next\"")), "{link}");
    assert!(next.starts_with("/wiki/api/v2/spaces?"));
    let r2 = cloud(&sb, &next).await;
    assert_eq!(r2.body["results"][0]["key"], "OPS");
    let r3 = cloud(&sb, r2.body["_links"]["next"].as_str().expect("next")).await;
    assert_eq!(r3.body["results"][0]["key"], "~demo");
    assert!(r3.body["_links"].get("next").is_none());
    assert!(!r3.headers.contains_key("link"));
    let r = cloud(&sb, "/wiki/api/v2/spaces?keys=OPS,ENG").await;
    let got: Vec<&str> = r.body["results"]
        .as_array()
        .expect("r")
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert_eq!(got, ["ENG", "OPS"]);
    let r = cloud(&sb, "/wiki/api/v2/spaces/98306").await;
    assert_eq!(r.body["key"], "OPS");
    assert_eq!(r.body["homepageId"], "200100");
    assert_eq!(cloud(&sb, "/wiki/api/v2/spaces/1").await.status, 404);

    let r = cloud(
        &sb,
        "/wiki/api/v2/pages?space-id=98305&limit=5&body-format=storage",
    )
    .await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(5));
    assert!(r.body["results"][0]["body"]["storage"]["value"].is_string());
    let r2 = cloud(&sb, r.body["_links"]["next"].as_str().expect("next")).await;
    assert_eq!(r2.body["results"].as_array().map(Vec::len), Some(3));
    assert!(r2.body["_links"].get("next").is_none());
    let r = cloud(&sb, "/wiki/api/v2/pages?title=Runbooks").await;
    assert_eq!(r.body["results"][0]["id"], "100104");
    let r = cloud(&sb, "/wiki/api/v2/spaces/98306/pages").await;
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(4));
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Data Center
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dc_jira_uses_wiki_markup_usernames_and_offset_paging() {
    let sb = sandbox().await;
    let r = dc(
        &sb,
        &format!(
            "/rest/api/2/search?jql={}&maxResults=10&startAt=60",
            enc("project = ENG order by key")
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 64);
    assert_eq!(r.body["startAt"], 60);
    assert_eq!(keys(&r.body), ["ENG-61", "ENG-62", "ENG-63", "ENG-64"]);
    assert!(
        r.body["issues"][0]["fields"]["summary"].is_string(),
        "DC default fields are navigable"
    );
    let r = dc(&sb, "/rest/api/2/search").await;
    assert_eq!(r.body["total"], 114, "DC accepts empty JQL");
    let r = send(
        http()
            .post(format!("{}/rest/api/2/search", sb.dc_base_url()))
            .bearer_auth(SANDBOX_PAT)
            .json(&json!({"jql": "key = ENG-1", "fields": ["description", "assignee"]})),
    )
    .await;
    let issue = &r.body["issues"][0];
    let desc = issue["fields"]["description"]
        .as_str()
        .expect("wiki string");
    assert!(desc.starts_with("h2. Overview") && desc.contains("{{nextPageToken}}"));
    assert_eq!(issue["fields"]["assignee"]["name"], "demo");
    assert!(issue["fields"]["assignee"].get("accountId").is_none());
    let r = dc(
        &sb,
        &format!(
            "/rest/api/2/search?jql={}",
            enc("assignee = currentUser() and key = ENG-3")
        ),
    )
    .await;
    assert_eq!(keys(&r.body), ["ENG-3"]);
    let r = dc(
        &sb,
        &format!("/rest/api/2/search?jql={}", enc("project = ")),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = dc(&sb, "/rest/api/2/issue/ENG-1").await;
    assert!(r.body["fields"]["description"].is_string());
    assert!(
        r.body["fields"]["comment"]["comments"][0]["body"]
            .as_str()
            .expect("wiki")
            .contains("[~demo]")
    );
    assert!(
        r.body["self"]
            .as_str()
            .expect("self")
            .contains("/dc/rest/api/2/issue/")
    );
    let r = dc(&sb, "/rest/api/2/issue/ENG-1/comment").await;
    assert_eq!(r.body["total"], 2);
    let r = dc(&sb, "/rest/api/2/project").await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(3));
    let r = dc(&sb, "/rest/api/2/myself").await;
    assert_eq!(
        (r.body["name"].as_str(), r.body["key"].as_str()),
        (Some("demo"), Some("JIRAUSER10000"))
    );
    let r = dc(&sb, "/rest/api/2/serverInfo").await;
    assert_ne!(r.body["deploymentType"], "Cloud");
    let r = dc(&sb, "/rest/api/2/issue/createmeta/OPS/issuetypes").await;
    assert_eq!(r.body["values"].as_array().map(Vec::len), Some(5));
    assert_eq!(r.body["isLast"], true);
    let r = dc(&sb, "/rest/api/2/issue/createmeta/OPS/issuetypes/10001").await;
    assert!(
        r.body["values"]
            .as_array()
            .expect("v")
            .iter()
            .any(|f| f["fieldId"] == "summary")
    );
    let r = dc(&sb, "/rest/api/3/myself").await;
    assert_eq!(r.status, 404, "DC has no v3");
    let r = dc(&sb, "/rest/api/3/search/jql?jql=project%3DENG").await;
    assert_eq!(r.status, 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn dc_confluence_content_space_and_search() {
    let sb = sandbox().await;
    let r = dc(
        &sb,
        "/rest/api/content/100102?expand=body.storage,version,space,ancestors",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["body"]["storage"]["value"]
            .as_str()
            .expect("storage")
            .contains("ac:task-list")
    );
    assert_eq!(r.body["space"]["key"], "ENG");
    assert_eq!(r.body["version"]["by"]["username"], "priya.shah");
    assert_eq!(r.body["ancestors"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["_links"]["context"], "/dc");
    let r = dc(&sb, "/rest/api/content/424242").await;
    assert_eq!((r.status, r.body["statusCode"].as_i64()), (404, Some(404)));
    let r = dc(&sb, "/rest/api/space?spaceKey=OPS").await;
    assert_eq!(r.body["size"], 1);
    assert_eq!(r.body["results"][0]["name"], "Operations");
    let r = dc(&sb, "/rest/api/space?limit=2").await;
    assert!(
        r.body["_links"]["next"]
            .as_str()
            .expect("next")
            .contains("start=2")
    );
    let r = dc(
        &sb,
        &format!(
            "/rest/api/search?cql={}&limit=2&start=2",
            enc("type = page and space = ENG order by id")
        ),
    )
    .await;
    assert_eq!(r.body["start"], 2);
    assert_eq!(r.body["results"][0]["content"]["id"], "100102");
    assert!(
        r.body["_links"]["next"]
            .as_str()
            .expect("next")
            .contains("start=4")
    );
    assert!(
        r.body["results"][0]["url"]
            .as_str()
            .expect("url")
            .starts_with("/display/ENG/")
    );
    let r = dc(
        &sb,
        &format!(
            "/rest/api/content/search?cql={}",
            enc("creator = \"priya.shah\" and type = page order by id")
        ),
    )
    .await;
    let got: Vec<&str> = r.body["results"]
        .as_array()
        .expect("r")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        got,
        ["100102", "100106", "200100", "200101", "200102", "200103"]
    );
    sb.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Faults, latency, request log, shutdown
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn injected_faults_count_down_with_rate_limit_headers() {
    let sb = sandbox().await;
    sb.faults().inject(FaultSpec {
        status: 429,
        count: 2,
        retry_after: Some(3),
        path_prefix: Some("/rest/api/3/search/jql".into()),
    });
    assert_eq!(sb.faults().pending(), 2);
    // Other paths are untouched.
    assert_eq!(cloud(&sb, "/rest/api/3/myself").await.status, 200);
    let url = "/rest/api/3/search/jql?jql=project%3DENG";
    for _ in 0..2 {
        let r = cloud(&sb, url).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.headers["retry-after"], "3");
        assert_eq!(r.headers["ratelimit-reason"], "jira-burst-based");
        let reset = r.headers["x-ratelimit-reset"].to_str().expect("reset");
        assert_eq!(reset.len(), "2026-11-20T10:00Z".len(), "{reset}");
        assert!(r.body["errorMessages"].is_array());
    }
    assert_eq!(cloud(&sb, url).await.status, 200);
    assert_eq!(sb.faults().pending(), 0);
    let seen: Vec<u16> = sb
        .requests()
        .iter()
        .filter(|r| r.path == "/rest/api/3/search/jql")
        .map(|r| r.status)
        .collect();
    assert_eq!(seen, [429, 429, 200]);
    assert_eq!(
        sb.requests()[0],
        SeenRequest {
            method: "GET".into(),
            path: "/rest/api/3/myself".into(),
            query: None,
            status: 200
        }
    );

    // Confluence faults use Confluence's shape; faults fire before auth.
    sb.faults().inject(FaultSpec {
        status: 503,
        count: 1,
        retry_after: None,
        path_prefix: Some("/wiki/api/v2".into()),
    });
    let r = send(http().get(format!("{}/wiki/api/v2/spaces", sb.base_url()))).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["errors"][0]["code"], "SERVICE_UNAVAILABLE");
    assert!(!r.headers.contains_key("retry-after"));
    sb.faults().inject(FaultSpec {
        status: 500,
        count: 10,
        retry_after: None,
        path_prefix: None,
    });
    sb.faults().clear();
    assert_eq!(cloud(&sb, "/rest/api/3/myself").await.status, 200);
    sb.clear_requests();
    assert!(sb.requests().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_never_over_consume_a_fault() {
    let sb = sandbox().await;
    sb.faults().inject(FaultSpec {
        status: 429,
        count: 5,
        retry_after: Some(1),
        path_prefix: None,
    });
    let client = http();
    let url = format!("{}/rest/api/3/myself", sb.base_url());
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let req = client
            .get(&url)
            .basic_auth(SANDBOX_EMAIL, Some(SANDBOX_API_TOKEN));
        tasks.push(tokio::spawn(async move {
            req.send().await.expect("send").status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("join"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 35);
    assert_eq!(sb.requests().len(), 40);
    sb.shutdown().await;
}

#[tokio::test]
async fn control_endpoints_drive_faults_and_latency_over_http() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let r = send(http().post(format!("{base}/__sandbox/faults")).json(&json!({"status": 429, "count": 2, "retry_after": 1, "path_prefix": "/rest/api/3/search/jql"}))).await;
    assert_eq!((r.status, r.body["pending"].as_u64()), (200, Some(2)));
    assert_eq!(sb.faults().pending(), 2);
    let r = cloud(&sb, "/rest/api/3/search/jql?jql=project%3DENG").await;
    assert_eq!(r.status, 429);
    let r = send(http().delete(format!("{base}/__sandbox/faults"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(sb.faults().pending(), 0);
    assert_eq!(
        cloud(&sb, "/rest/api/3/search/jql?jql=project%3DENG")
            .await
            .status,
        200
    );
    for bad in [json!({"count": 1}), json!({"status": 42}), json!("x")] {
        let r = send(http().post(format!("{base}/__sandbox/faults")).json(&bad)).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = send(
        http()
            .post(format!("{base}/__sandbox/latency"))
            .json(&json!({"ms": 120})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(sb.faults().latency(), Duration::from_millis(120));
    let t0 = Instant::now();
    assert_eq!(cloud(&sb, "/rest/api/3/myself").await.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(120));
    // Control endpoints skip latency and the log.
    let t0 = Instant::now();
    let r = send(http().get(format!("{base}/__sandbox/requests"))).await;
    assert!(t0.elapsed() < Duration::from_millis(120));
    let logged = r.body["requests"].as_array().expect("log");
    assert!(
        logged
            .iter()
            .all(|x| !x["path"].as_str().unwrap_or("").starts_with("/__sandbox"))
    );
    assert_eq!(logged.len(), 3);
    let r = send(http().get(format!("{base}/__sandbox/info"))).await;
    assert_eq!(r.body["cloudId"], SANDBOX_CLOUD_ID);
    assert_eq!(r.body["latencyMs"], 120);
    let r = send(
        http()
            .post(format!("{base}/__sandbox/latency"))
            .json(&json!({"ms": -1})),
    )
    .await;
    assert_eq!(r.status, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_option_and_switch_apply_to_every_route() {
    let sb = start(SandboxOptions {
        port: 0,
        latency: Duration::from_millis(150),
    })
    .await
    .expect("start");
    let t0 = Instant::now();
    assert_eq!(cloud(&sb, "/wiki/api/v2/spaces").await.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let t0 = Instant::now();
    assert_eq!(cloud(&sb, "/rest/api/3/nothing").await.status, 404);
    assert!(t0.elapsed() >= Duration::from_millis(150));
    sb.faults().set_latency(Duration::ZERO);
    let t0 = Instant::now();
    assert_eq!(dc(&sb, "/rest/api/2/myself").await.status, 200);
    assert!(t0.elapsed() < Duration::from_millis(150));
    sb.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_the_listener() {
    let sb = sandbox().await;
    let url = format!("{}/rest/api/3/myself", sb.base_url());
    assert_eq!(cloud(&sb, "/rest/api/3/myself").await.status, 200);
    assert!(sb.addr().ip().is_loopback());
    sb.shutdown().await;
    let err = reqwest::Client::new().get(&url).send().await;
    assert!(err.is_err());
}

// ---------------------------------------------------------------------------------------------
// Responses against Atlassian's OpenAPI descriptions
// ---------------------------------------------------------------------------------------------

#[test]
fn the_schema_helper_rejects_wrong_shapes() {
    let spec = jira_spec();
    let issue = spec.component("IssueBean");
    assert!(issue.is_valid(&json!({"id": "1", "key": "A-1", "fields": {}})));
    assert!(!issue.is_valid(&json!({"id": 1})), "id must be a string");
    assert!(
        !issue.is_valid(&json!({"bogus": true})),
        "IssueBean forbids unknown members"
    );
    let page = conf_v1_spec().component("SearchPageResponseSearchResult");
    assert!(!page.is_valid(&json!({"results": []})), "required members");
    let mut nullable =
        json!({"type": "object", "properties": {"a": {"type": "string", "nullable": true}}});
    to_json_schema(&mut nullable);
    assert_eq!(
        nullable["properties"]["a"]["type"],
        json!(["string", "null"])
    );
}

#[tokio::test]
async fn jira_responses_match_the_v3_spec() {
    let sb = sandbox().await;
    let spec = jira_spec();
    let results = spec.component("SearchAndReconcileResults");
    for url in [
        "/rest/api/3/search/jql?jql=project%3DENG&maxResults=3",
        "/rest/api/3/search/jql?jql=project%20in%20(ENG,OPS,SEC)&maxResults=100&fields=*all&expand=names,changelog,transitions,renderedFields",
        "/rest/api/3/search/jql?jql=project%3DSEC&fields=*navigable",
    ] {
        let r = cloud(&sb, url).await;
        assert_eq!(r.status, 200);
        assert_valid(&results, &r.body, url);
    }
    let issue = spec.component("IssueBean");
    for key in [
        "ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-6", "OPS-2", "SEC-1", "ENG-40",
    ] {
        let r = cloud(
            &sb,
            &format!("/rest/api/3/issue/{key}?expand=changelog,transitions,renderedFields,names"),
        )
        .await;
        assert_valid(&issue, &r.body, key);
    }
    let checks = [
        (
            "PageBeanProject",
            "/rest/api/3/project/search?maxResults=2&expand=description,lead,issueTypes",
        ),
        ("User", "/rest/api/3/myself"),
        ("PageOfComments", "/rest/api/3/issue/ENG-1/comment"),
        ("Transitions", "/rest/api/3/issue/ENG-1/transitions"),
        (
            "PageOfCreateMetaIssueTypes",
            "/rest/api/3/issue/createmeta/ENG/issuetypes",
        ),
        (
            "PageOfCreateMetaIssueTypeWithField",
            "/rest/api/3/issue/createmeta/ENG/issuetypes/10005",
        ),
        (
            "PageOfCreateMetaIssueTypeWithField",
            "/rest/api/3/issue/createmeta/SEC/issuetypes/10002",
        ),
        ("ServerInformation", "/rest/api/3/serverInfo"),
        ("Project", "/rest/api/3/project/ENG"),
        ("ErrorCollection", "/rest/api/3/issue/NOPE-1"),
        ("ErrorCollection", "/rest/api/3/search/jql?jql=bogus%3D1"),
        ("ErrorCollection", "/rest/api/3/search"),
    ];
    for (schema, url) in checks {
        let r = cloud(&sb, url).await;
        assert_valid(&spec.component(schema), &r.body, url);
    }
    let r = send(http().get(format!("{}/rest/api/3/myself", sb.base_url()))).await;
    assert_valid(&spec.component("ErrorCollection"), &r.body, "401");
    sb.shutdown().await;
}

#[tokio::test]
async fn gateway_bearer_responses_match_the_v3_spec() {
    let sb = sandbox().await;
    let spec = jira_spec();
    let token = sb
        .oauth()
        .mint("read:jira-user read:jira-work")
        .access_token;
    let gw = format!("{}/ex/jira/{SANDBOX_CLOUD_ID}", sb.gateway_url());
    let r = send(
        http()
            .get(format!("{gw}/rest/api/3/myself"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["accountId"], SANDBOX_ACCOUNT_ID);
    assert!(
        r.body["self"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{gw}/rest/api/3/user"))
    );
    assert_valid(&spec.component("User"), &r.body, "myself via bearer");
    let r = send(
        http()
            .get(format!("{gw}/rest/api/3/issue/ENG-1"))
            .bearer_auth(&token),
    )
    .await;
    assert_valid(&spec.component("IssueBean"), &r.body, "ENG-1 via bearer");
    sb.shutdown().await;
}

#[tokio::test]
async fn confluence_responses_match_the_v1_and_v2_specs() {
    let sb = sandbox().await;
    let v2 = conf_v2_spec();
    let page = v2.response("/pages/{id}");
    for id in ["100100", "100101", "100102", "100107", "200102", "300100"] {
        for fmt in ["", "?body-format=storage", "?body-format=atlas_doc_format"] {
            let r = cloud(&sb, &format!("/wiki/api/v2/pages/{id}{fmt}")).await;
            assert_valid(&page, &r.body, id);
        }
    }
    let pages = v2.response("/pages");
    let r = cloud(&sb, "/wiki/api/v2/pages?limit=3&body-format=storage").await;
    assert_valid(&pages, &r.body, "pages");
    let spaces = v2.response("/spaces");
    for url in [
        "/wiki/api/v2/spaces",
        "/wiki/api/v2/spaces?limit=1&description-format=plain",
    ] {
        let r = cloud(&sb, url).await;
        assert_valid(&spaces, &r.body, url);
    }
    let r = cloud(&sb, "/wiki/api/v2/spaces/98305").await;
    assert_valid(&v2.response("/spaces/{id}"), &r.body, "space");

    let v1 = conf_v1_spec();
    let search = v1.component("SearchPageResponseSearchResult");
    for cql in [
        "type = page and text ~ \"search\"",
        "space = ENG",
        "type = space",
        "text ~ engineering",
    ] {
        for extra in [
            "",
            "&expand=content.space,content.version,content.history,content.ancestors",
            "&limit=2&excerpt=indexed",
        ] {
            let url = format!("/wiki/rest/api/search?cql={}{extra}", enc(cql));
            let r = cloud(&sb, &url).await;
            assert_eq!(r.status, 200);
            assert_valid(&search, &r.body, &url);
        }
    }
    let r = dc(
        &sb,
        &format!("/rest/api/search?cql={}&limit=3", enc("type = page")),
    )
    .await;
    assert_valid(&search, &r.body, "dc search");
    let content = v1.component("Content");
    for url in [
        "/wiki/rest/api/content/100101?expand=body.storage,version,space,ancestors,history,metadata.labels",
        "/wiki/rest/api/content/100100",
    ] {
        let r = cloud(&sb, url).await;
        assert_valid(&content, &r.body, url);
    }
    let r = dc(
        &sb,
        "/rest/api/content/100101?expand=body.storage,version,space",
    )
    .await;
    assert_valid(&content, &r.body, "dc content");
    sb.shutdown().await;
}

#[test]
fn seeded_adf_validates_against_the_adf_schema() {
    let schema = load("adf.schema.json");
    let validator = jsonschema::draft4::new(&schema).expect("compile ADF schema");
    assert!(!validator.is_valid(&json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]})), "empty text must fail");
    assert!(!validator.is_valid(&json!({"type": "doc", "version": 2, "content": []})));
    let store = seed::Store::build();
    let mut checked = 0;
    for issue in &store.issues {
        if let Some(adf) = &issue.adf {
            assert_valid(&validator, adf, &issue.key);
            checked += 1;
        }
        for c in &issue.comments {
            assert_valid(
                &validator,
                &c.adf,
                &format!("{} comment {}", issue.key, c.id),
            );
            checked += 1;
        }
    }
    for page in &store.pages {
        assert_valid(
            &validator,
            &seed::storage_to_adf(&page.storage),
            &format!("page {}", page.id),
        );
    }
    assert!(checked > 82);
    // The rich issues really use the rich nodes.
    let all = serde_json::to_string(
        &store
            .issues
            .iter()
            .filter_map(|i| i.adf.clone())
            .collect::<Vec<_>>(),
    )
    .expect("json");
    for node in [
        "heading",
        "bulletList",
        "orderedList",
        "codeBlock",
        "table",
        "panel",
        "mention",
        "status",
        "date",
        "emoji",
        "mediaSingle",
        "taskList",
        "blockquote",
        "rule",
        "inlineCard",
        "decisionList",
        "expand",
        "\"link\"",
    ] {
        assert!(
            all.contains(&format!("\"type\":\"{}", node.trim_matches('"'))),
            "{node}"
        );
    }
}
