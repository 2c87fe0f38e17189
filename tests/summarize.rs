//! `jira_summarize_issue` and `confluence_summarize_page` against the sandbox (Cloud and Data
//! Center): the digest's fields on real data, `max_words` at sentence boundaries, page outline,
//! tables and word count, and the client's model through MCP sampling — answered, refused, not
//! offered, and under the stateless 2026-07-28 lifecycle (input-required, then the retry).

// Sampling is deprecated by SEP-2577 (rmcp marks its types); these tests exercise it on purpose.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    CreateMessageRequestParams, CreateMessageResult, ErrorCode, Implementation, InputRequest,
    ProtocolVersion, Role, SamplingMessage, SamplingMessageContentBlock,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, ServiceExt};
use serde_json::{Value, json};

use crate::support::{BIN, Env, FLAVORS, Flavor, call, err, ok, text};

/// Words as the digests count them: whitespace-separated tokens with a letter or digit.
fn words(s: &str) -> usize {
    s.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// `2026-11-20T…` → `2026-11-20`.
fn day(ts: &Value) -> String {
    ts.as_str().expect("timestamp")[..10].to_string()
}

/// How the test client answers sampling requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A summary made from the request it got.
    Summarize,
    /// A JSON-RPC error, as a client does when the person rejects the request.
    Refuse,
}

/// A client that may declare sampling and records every sampling request it gets.
#[derive(Clone)]
struct Sampler {
    declare: bool,
    answer: Answer,
    seen: Arc<Mutex<Vec<CreateMessageRequestParams>>>,
}

impl Sampler {
    fn new(declare: bool, answer: Answer) -> Self {
        Self {
            declare,
            answer,
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<CreateMessageRequestParams> {
        self.seen.lock().unwrap().clone()
    }
}

/// The user message of a sampling request.
fn prompt(p: &CreateMessageRequestParams) -> String {
    assert_eq!(p.messages.len(), 1, "one message");
    assert_eq!(p.messages[0].role, Role::User);
    let blocks = p.messages[0].content.clone().into_vec();
    match &blocks[..] {
        [SamplingMessageContentBlock::Text(t)] => t.text.clone(),
        other => panic!("unexpected content {other:?}"),
    }
}

/// The digest JSON the prompt carries between its markers.
fn sent_digest(p: &CreateMessageRequestParams) -> Value {
    let text = prompt(p);
    let start = text.find("<digest>\n").expect("opening marker") + "<digest>\n".len();
    let end = text.rfind("\n</digest>").expect("closing marker");
    serde_json::from_str(&text[start..end]).expect("the digest is JSON")
}

/// What the test model answers: derived from the request, so a test can tell it came back.
fn model_answer(p: &CreateMessageRequestParams) -> String {
    let d = sent_digest(p);
    let name = d["key"].as_str().or(d["title"].as_str()).unwrap_or("?");
    format!(
        "Summary of {name}, read from {} bytes of digest.",
        prompt(p).len()
    )
}

impl ClientHandler for Sampler {
    fn get_info(&self) -> ClientConfig {
        let caps = if self.declare {
            ClientCapabilities::builder().enable_sampling().build()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(caps, Implementation::new("sampler", "1.0.0"))
    }

    async fn create_message(
        &self,
        p: CreateMessageRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.seen.lock().unwrap().push(p.clone());
        match self.answer {
            Answer::Summarize => Ok(CreateMessageResult::new(
                SamplingMessage::assistant_text(model_answer(&p)),
                "test-model-7".into(),
            )),
            Answer::Refuse => Err(ErrorData::new(
                ErrorCode(-1),
                "User rejected sampling request",
                None,
            )),
        }
    }
}

/// Spawns the bridge for `env` and connects `sampler`, on the initialize lifecycle or the
/// stateless 2026-07-28 one.
async fn connect(env: &Env, sampler: Sampler, modern: bool) -> RunningService<RoleClient, Sampler> {
    let home = env.home.path().to_path_buf();
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(env.stderr_path())
        .unwrap();
    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("serve")
            .env("ATLASSIAN_MCP_BRIDGE_HOME", &home)
            .env_remove("ATLASSIAN_MCP_BRIDGE_CONFIG")
            .env_remove("ATLASSIAN_API_TOKEN")
            .env_remove("ATLASSIAN_PAT");
    });
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::from(stderr))
        .spawn()
        .unwrap();
    let client = async {
        if modern {
            sampler
                .serve_with_lifecycle(
                    transport,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
                .unwrap()
        } else {
            sampler.serve(transport).await.unwrap()
        }
    };
    tokio::time::timeout(Duration::from_secs(20), client)
        .await
        .expect("connected in time")
}

fn params(tool: &str, args: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().unwrap().clone())
}

async fn call_with(
    client: &RunningService<RoleClient, Sampler>,
    tool: &str,
    args: Value,
) -> CallToolResult {
    tokio::time::timeout(
        Duration::from_secs(60),
        client.call_tool(params(tool, args)),
    )
    .await
    .expect("answered in time")
    .expect("tool call answered")
}

/// Checks the sampling request the bridge sent and that the result labels the answer.
fn assert_sampled(p: &CreateMessageRequestParams, r: &CallToolResult) {
    let system = p.system_prompt.as_deref().expect("a system prompt");
    assert!(system.contains("data"), "{system}");
    assert!(system.contains("not instructions"), "{system}");
    assert!(p.max_tokens > 0 && p.max_tokens <= 1000, "{}", p.max_tokens);
    let out = ok(r);
    assert_eq!(
        sent_digest(p),
        out["digest"],
        "the digest sent is the digest returned"
    );
    assert_eq!(out["model_summary"], model_answer(p));
    assert_eq!(out["model_summary_by"], "test-model-7");
    let t = text(r);
    let digest_at = t.find("Digest (built locally)").expect("digest label");
    let summary_at = t
        .find("Summary by your client's model")
        .expect("summary label");
    assert!(digest_at < summary_at, "{t}");
    assert!(t[summary_at..].contains(&model_answer(p)), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_digest_reflects_fields_comments_and_changes() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        // Three new comments and a transition, made through the bridge's own write tools.
        let bodies: Vec<String> = (1..=3)
            .map(|i| format!("Comment number {i} from the test. It has a second sentence."))
            .collect();
        for b in &bodies {
            ok(&call(
                &client,
                "jira_add_comment",
                json!({"key": "ENG-2", "body": b}),
            )
            .await);
        }
        let before = ok(&call(&client, "jira_get_issue", json!({"key": "ENG-2"})).await);
        ok(&call(
            &client,
            "jira_transition_issue",
            json!({"key": "ENG-2", "transition": "Done"}),
        )
        .await);
        let full = ok(&call(
            &client,
            "jira_get_issue",
            json!({"key": "ENG-2", "include": ["comments", "changelog"], "comment_limit": 50}),
        )
        .await);

        let r = call(&client, "jira_summarize_issue", json!({"key": "eng-2"})).await;
        let out = ok(&r);
        let d = &out["digest"];
        assert_eq!(d["key"], "ENG-2");
        for field in [
            "summary", "type", "status", "priority", "assignee", "reporter", "parent", "url",
        ] {
            assert_eq!(d[field], full[field], "{flavor:?}: {field}");
        }
        assert_eq!(d["status"], "Done", "{flavor:?}");
        assert_eq!(d["labels"], full["labels"]);
        assert_eq!(d["created"], day(&full["created"]));
        assert_eq!(d["updated"], day(&full["updated"]));
        assert_eq!(d["due"], day(&full["due"]));
        // The latest three comments, oldest first, as the authors wrote them.
        let comments = d["comments"].as_array().unwrap();
        let texts: Vec<&str> = comments
            .iter()
            .map(|c| c["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, bodies, "{flavor:?}");
        let all = full["comments"].as_array().unwrap();
        assert_eq!(d["comment_total"], json!(all.len()));
        for (c, w) in comments.iter().zip(&all[all.len() - 3..]) {
            assert_eq!(c["author"], w["author"]);
            assert_eq!(c["date"], day(&w["created"]));
        }
        // The transition is the latest notable change: who, when, from → to.
        let changes = d["changes"].as_array().unwrap();
        let last = changes.last().expect("changes");
        assert_eq!(last["field"], "status");
        assert_eq!(last["from"], before["status"]);
        assert_eq!(last["to"], "Done");
        assert_eq!(last["author"], comments[2]["author"]);
        assert_eq!(last["date"], comments[2]["date"]);
        let status_changes = full["changelog"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["changes"].as_array().unwrap())
            .filter(|c| c.as_str().unwrap().starts_with("status:"))
            .count();
        assert_eq!(
            changes.iter().filter(|c| c["field"] == "status").count(),
            status_changes.min(5),
            "{flavor:?}: {changes:?}"
        );
        // No sampling offered: the digest alone, labelled, with the reason.
        assert!(out["model_summary"].is_null());
        assert!(
            out["model_summary_note"]
                .as_str()
                .unwrap()
                .contains("sampling")
        );
        let t = text(&r);
        assert!(t.starts_with("Digest (built locally)\nENG-2"), "{t}");
        assert!(t.contains("Summary by your client's model: none"), "{t}");
        assert!(t.contains("status In Review → Done"), "{t}");

        // ENG-3's history holds an assignee and a priority change; ENG-1's description a table.
        let eng3 = ok(&call(&client, "jira_summarize_issue", json!({"key": "ENG-3"})).await);
        let fields: Vec<&str> = eng3["digest"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&"assignee") && fields.contains(&"priority"),
            "{fields:?}"
        );
        let assignee = eng3["digest"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["field"] == "assignee")
            .unwrap();
        assert_eq!(assignee["to"], eng3["digest"]["assignee"]);
        let eng1 = ok(&call(&client, "jira_summarize_issue", json!({"key": "ENG-1"})).await);
        let table = &eng1["digest"]["description"]["tables"][0];
        assert_eq!(
            table["header"],
            json!(["Milestone", "Owner", "State"]),
            "{flavor:?}"
        );
        assert_eq!(table["rows"], 3);
        assert_eq!(eng1["digest"]["subtasks"], json!([]));
        client.cancel().await.ok();

        let records = env.tool_records();
        let rec = records
            .iter()
            .find(|r| r["tool"] == "jira_summarize_issue")
            .unwrap();
        assert_eq!(rec["outcome"], "ok");
        assert_eq!(rec["touched"], json!(["ENG-2"]));
        let paths: Vec<&str> = rec["upstream"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["path"].as_str().unwrap())
            .collect();
        assert!(
            paths.iter().any(|p| p.ends_with("/issue/ENG-2/comment")),
            "{paths:?}"
        );
    }
}

/// A description of sentences of different lengths, and the sentences.
fn long_description() -> (String, Vec<String>) {
    let pool = [
        "amber", "basil", "cedar", "delta", "ember", "fable", "grove", "heron", "ivory",
    ];
    let sentences: Vec<String> = (0..12)
        .map(|i| {
            let n = 2 + (i * 5) % 7;
            format!("Point{i} {}.", pool[..n].join(" "))
        })
        .collect();
    (sentences.join(" "), sentences)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_words_trims_the_description_at_sentence_boundaries() {
    let (description, sentences) = long_description();
    let total = words(&description);
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let created = ok(&call(
            &client,
            "jira_create_issue",
            json!({"project": "OPS", "issue_type": "Task", "summary": "Long description",
                   "description": description}),
        )
        .await);
        let key = created["key"].as_str().unwrap().to_string();
        for max in [3usize, 10, 25, 40, 1000] {
            let out = ok(&call(
                &client,
                "jira_summarize_issue",
                json!({"key": key, "max_words": max}),
            )
            .await);
            let d = &out["digest"]["description"];
            let shown = d["text"].as_str().unwrap();
            let n = d["words"].as_u64().unwrap() as usize;
            assert_eq!(words(shown), n, "{flavor:?} {max}: {shown}");
            assert!(n <= max, "{flavor:?} {max}: {n} words");
            assert_eq!(d["total_words"], json!(total));
            // Whole sentences from the start, as many as fit.
            assert!(description.starts_with(shown), "{flavor:?} {max}: {shown}");
            let fitting = sentences
                .iter()
                .scan(0, |acc, s| {
                    *acc += words(s);
                    Some(*acc)
                })
                .take_while(|w| *w <= max)
                .count();
            assert_eq!(shown, sentences[..fitting].join(" "), "{flavor:?} {max}");
            assert_eq!(d["trimmed"], json!(fitting < sentences.len()));
        }
        // Default budget (150) keeps the whole description.
        let out = ok(&call(&client, "jira_summarize_issue", json!({"key": key})).await);
        assert_eq!(out["digest"]["description"]["text"], description);
        // A budget smaller than the first sentence cuts it at a word, marked.
        let out = ok(&call(
            &client,
            "jira_summarize_issue",
            json!({"key": key, "max_words": 2}),
        )
        .await);
        let first: Vec<&str> = sentences[0].split_whitespace().collect();
        assert_eq!(
            out["digest"]["description"]["text"],
            format!("{} {}…", first[0], first[1])
        );
        for bad in [0, 1001] {
            let e = err(&call(
                &client,
                "jira_summarize_issue",
                json!({"key": key, "max_words": bad}),
            )
            .await);
            assert!(e.contains("max_words") && e.contains("1–1000"), "{e}");
            assert!(!e.contains("page"), "max_words is not paged: {e}");
        }

        // A description that opens with a heading (ENG-1, "## Overview"): a small budget shows
        // the opening words of its text, never the heading alone.
        let issue = ok(&call(&client, "jira_get_issue", json!({"key": "ENG-1"})).await);
        let full = ok(&call(
            &client,
            "jira_summarize_issue",
            json!({"key": "ENG-1", "max_words": 1000}),
        )
        .await);
        let full_text = full["digest"]["description"]["text"].as_str().unwrap();
        let mut lines = full_text.lines();
        let (heading, body) = (lines.next().unwrap(), lines.next().unwrap());
        assert!(
            issue["description"]
                .as_str()
                .unwrap()
                .starts_with(&format!("## {heading}\n")),
            "{flavor:?}: ENG-1 opens with a heading: {}",
            issue["description"]
        );
        let mut max = 1;
        let sentence = loop {
            let out = ok(&call(
                &client,
                "jira_summarize_issue",
                json!({"key": "ENG-1", "max_words": max}),
            )
            .await);
            let d = &out["digest"]["description"];
            let shown = d["text"].as_str().unwrap().to_string();
            assert_eq!(
                d["words"],
                json!(words(&shown)),
                "{flavor:?} {max}: {shown}"
            );
            assert!(words(&shown) <= max, "{flavor:?} {max}: {shown}");
            assert_eq!(d["trimmed"], true);
            assert!(
                !shown.starts_with(heading),
                "{flavor:?} {max}: the heading alone or first: {shown}"
            );
            match shown.strip_suffix('…') {
                // The first sentence does not fit: its first `max` words, cut and marked.
                Some(cut) => {
                    assert_eq!(words(cut), max, "{flavor:?}: {shown}");
                    assert!(body.starts_with(cut), "{flavor:?} {max}: {shown}");
                }
                // It fits, whole, and its heading does not fit with it.
                None => {
                    assert!(body.starts_with(&shown) && shown.ends_with('.'), "{shown}");
                    break shown;
                }
            }
            max += 1;
            assert!(max < 100, "{flavor:?}: no whole sentence");
        };
        assert!(
            max > 5,
            "{flavor:?}: budgets 1, 2 and 5 were cut ({sentence})"
        );
        // One word more and the heading comes back with its text.
        let out = ok(&call(
            &client,
            "jira_summarize_issue",
            json!({"key": "ENG-1", "max_words": max + words(heading)}),
        )
        .await);
        assert_eq!(
            out["digest"]["description"]["text"],
            format!("{heading}\n{sentence}"),
            "{flavor:?}"
        );
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_digest_outline_tables_word_count_and_budget() {
    let intro: Vec<String> = (0..6)
        .map(|i| format!("Intro sentence {i} tells{} things.", " many".repeat(i)))
        .collect();
    let notes = ["Notes start here.", "They end here too."];
    let rows = 4;
    let table: String = (0..rows).map(|i| format!("| row{i} | {i} |\n")).collect();
    let body = format!(
        "## Intro\n\n{}\n\n## Data\n\n| Name | Count |\n|---|---|\n{table}\n## Notes\n\n{}\n\n```text\nlet hidden = words here;\n```\n",
        intro.join(" "),
        notes.join(" ")
    );
    let intro_words: usize = intro.iter().map(|s| words(s)).sum();
    let notes_words: usize = notes.iter().map(|s| words(s)).sum();
    // Headings + prose + every table cell; the code block does not count.
    let expected_words = 3 + intro_words + notes_words + 2 + rows * 2;

    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let client = env.client().await;
        let me = ok(&call(&client, "atlassian_whoami", json!({})).await);

        // A seeded page: its headings, its table, its last editor.
        let page = ok(&call(&client, "confluence_get_page", json!({"page_id": "100101"})).await);
        let r = call(
            &client,
            "confluence_summarize_page",
            json!({"page_id": "100101"}),
        )
        .await;
        let d = ok(&r)["digest"].clone();
        assert_eq!(d["title"], page["title"]);
        assert_eq!(d["version"], page["version"]);
        assert_eq!(d["space"], "ENG");
        assert_eq!(d["last_edited"], day(&page["updated"]));
        assert_eq!(d["last_editor"], "Alex Rivera", "{flavor:?}");
        assert_eq!(
            d["outline"],
            json!([{"level": 1, "text": "Architecture Overview"}, {"level": 2, "text": "Components"},
                   {"level": 2, "text": "Search flow"}]),
            "{flavor:?}"
        );
        assert_eq!(
            d["tables"],
            json!([{"section": "Components", "header": ["Module", "Responsibility"], "rows": 3}])
        );
        assert!(d["word_count"].as_u64().unwrap() > d["text_words"].as_u64().unwrap());
        let t = text(&r);
        assert!(
            t.contains("Components: 3 rows × 2 columns (Module | Responsibility)"),
            "{t}"
        );
        if flavor == Flavor::Cloud {
            // Cloud names only the editor's account id; the name comes from the user lookup.
            assert!(
                env.sandbox
                    .requests()
                    .iter()
                    .any(|q| q.method == "POST" && q.path == "/wiki/api/v2/users-bulk")
            );
        }

        // A page written here: the counts are known.
        let created = ok(&call(
            &client,
            "confluence_create_page",
            json!({"space": "OPS", "title": "Digest fixture", "body": body}),
        )
        .await);
        let id = created["id"].as_str().unwrap().to_string();
        let full = ok(&call(&client, "confluence_summarize_page", json!({"page_id": id})).await);
        let d = &full["digest"];
        assert_eq!(d["word_count"], json!(expected_words), "{flavor:?}");
        assert_eq!(d["code_blocks"], 1);
        assert_eq!(d["last_editor"], me["user"]["display_name"]);
        assert_eq!(
            d["tables"],
            json!([{"section": "Data", "header": ["Name", "Count"], "rows": rows}])
        );
        let outline: Vec<&str> = d["outline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["text"].as_str().unwrap())
            .collect();
        assert_eq!(outline, ["Intro", "Data", "Notes"]);
        // Under the default budget each section's first paragraph is whole.
        let sections = d["sections"].as_array().unwrap();
        assert_eq!(sections.len(), 2, "the table-only section has no paragraph");
        assert_eq!(sections[0]["text"], intro.join(" "));
        assert_eq!(sections[1]["text"], notes.join(" "));
        assert_eq!(d["trimmed"], false);
        assert_eq!(d["text_words"], json!(intro_words + notes_words));

        // A small budget: never exceeded, whole sentences, every section still heard from.
        for max in [8usize, 15, 20] {
            let out = ok(&call(
                &client,
                "confluence_summarize_page",
                json!({"page_id": id, "max_words": max}),
            )
            .await);
            let d = &out["digest"];
            let sections = d["sections"].as_array().unwrap();
            let shown: usize = sections
                .iter()
                .map(|s| words(s["text"].as_str().unwrap()))
                .sum();
            assert_eq!(json!(shown), d["text_words"]);
            assert!(shown <= max, "{flavor:?} {max}: {shown}");
            assert_eq!(d["trimmed"], true);
            assert_eq!(
                d["word_count"],
                json!(expected_words),
                "metadata is not trimmed"
            );
            assert_eq!(d["outline"].as_array().unwrap().len(), 3);
            for s in sections {
                let t = s["text"].as_str().unwrap();
                let para = if s["heading"] == "Intro" {
                    intro.join(" ")
                } else {
                    notes.join(" ")
                };
                assert!(
                    para.starts_with(t) && t.ends_with('.'),
                    "{flavor:?} {max}: {t}"
                );
            }
            let heads: Vec<&Value> = sections.iter().map(|s| &s["heading"]).collect();
            assert_eq!(
                heads,
                [&json!("Intro"), &json!("Notes")],
                "{flavor:?} {max}"
            );
        }
        client.cancel().await.ok();
        let rec = env
            .tool_records()
            .into_iter()
            .rfind(|r| r["tool"] == "confluence_summarize_page")
            .unwrap();
        assert_eq!(rec["touched"], json!([id]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_sampling_gets_a_labelled_model_summary() {
    for flavor in FLAVORS {
        let env = Env::new(flavor, "").await;
        let sampler = Sampler::new(true, Answer::Summarize);
        let client = connect(&env, sampler.clone(), false).await;
        let r = call_with(&client, "jira_summarize_issue", json!({"key": "ENG-1"})).await;
        let seen = sampler.seen();
        assert_eq!(seen.len(), 1, "asked once");
        assert_sampled(&seen[0], &r);
        let r = call_with(
            &client,
            "confluence_summarize_page",
            json!({"page_id": "100106", "max_words": 30}),
        )
        .await;
        let seen = sampler.seen();
        assert_eq!(seen.len(), 2);
        assert_sampled(&seen[1], &r);
        assert!(prompt(&seen[1]).contains("Confluence page 100106"));
        client.cancel().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_or_no_capability_leaves_the_digest_alone() {
    let env = Env::new(Flavor::Cloud, "").await;
    // The client declares sampling and then refuses.
    let refusing = Sampler::new(true, Answer::Refuse);
    let client = connect(&env, refusing.clone(), false).await;
    let r = call_with(&client, "jira_summarize_issue", json!({"key": "ENG-1"})).await;
    let out = ok(&r);
    assert_eq!(refusing.seen().len(), 1, "it was asked");
    assert!(out["model_summary"].is_null());
    assert!(
        out["model_summary_note"]
            .as_str()
            .unwrap()
            .contains("User rejected sampling request"),
        "{out}"
    );
    assert_eq!(out["digest"]["key"], "ENG-1");
    assert!(text(&r).contains("Summary by your client's model: none"));
    client.cancel().await.ok();

    // A client that could answer but does not declare sampling is never asked.
    let silent = Sampler::new(false, Answer::Summarize);
    let client = connect(&env, silent.clone(), false).await;
    for (tool, args) in [
        ("jira_summarize_issue", json!({"key": "ENG-1"})),
        ("confluence_summarize_page", json!({"page_id": "100101"})),
    ] {
        let out = ok(&call_with(&client, tool, args).await);
        assert!(out["model_summary"].is_null());
        assert!(
            out["model_summary_note"]
                .as_str()
                .unwrap()
                .contains("does not offer"),
            "{out}"
        );
    }
    assert!(
        silent.seen().is_empty(),
        "no sampling request without the capability"
    );
    client.cancel().await.ok();
    let outcomes: Vec<Value> = env
        .tool_records()
        .iter()
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("ok"), json!("ok"), json!("ok")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_clients_are_asked_through_input_required() {
    let env = Env::new(Flavor::Cloud, "").await;
    let sampler = Sampler::new(true, Answer::Summarize);
    let client = connect(&env, sampler.clone(), true).await;
    let ask = params(
        "jira_summarize_issue",
        json!({"key": "ENG-2", "max_words": 20}),
    );

    // Round one: the request travels in an input-required result.
    let first = client.call_tool_once(ask.clone()).await.unwrap();
    let CallToolResponse::InputRequired(asked) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let requests = asked.input_requests.clone().expect("input requests");
    assert_eq!(requests.len(), 1);
    let (key, request) = requests.into_iter().next().unwrap();
    let InputRequest::CreateMessage(request) = request else {
        panic!("expected a sampling request");
    };
    let p = request.params;
    assert!(
        p.system_prompt
            .as_deref()
            .unwrap()
            .contains("not instructions")
    );
    let sent = sent_digest(&p);
    assert_eq!(sent["key"], "ENG-2");
    assert!(asked.request_state.is_some());

    // Round two: the answer comes back in inputResponses.
    let answer = CreateMessageResult::new(
        SamplingMessage::assistant_text(model_answer(&p)),
        "test-model-7".into(),
    );
    let mut retry = ask.clone();
    retry.request_state = asked.request_state.clone();
    retry.input_responses = Some([(key.clone(), serde_json::to_value(answer).unwrap())].into());
    let CallToolResponse::Complete(done) = client.call_tool_once(retry).await.unwrap() else {
        panic!("expected a complete result");
    };
    let out = ok(&done);
    assert_eq!(out["digest"], sent);
    assert_eq!(out["model_summary"], model_answer(&p));
    assert!(out.get("model_summary_note").is_none(), "{out}");

    // A refusal in inputResponses, or a retry without an answer: the digest alone.
    let mut refused = ask.clone();
    refused.request_state = asked.request_state.clone();
    refused.input_responses = Some(
        [(
            key,
            json!({"error": {"code": -1, "message": "User rejected sampling request"}}),
        )]
        .into(),
    );
    let CallToolResponse::Complete(r) = client.call_tool_once(refused).await.unwrap() else {
        panic!("expected a complete result");
    };
    let out = ok(&r);
    assert!(out["model_summary"].is_null());
    assert!(
        out["model_summary_note"]
            .as_str()
            .unwrap()
            .contains("User rejected")
    );
    let mut unanswered = ask.clone();
    unanswered.request_state = asked.request_state.clone();
    let CallToolResponse::Complete(r) = client.call_tool_once(unanswered).await.unwrap() else {
        panic!("expected a complete result");
    };
    assert!(ok(&r)["model_summary"].is_null());

    // rmcp's own client drives both rounds through its handler.
    let r = call_with(
        &client,
        "confluence_summarize_page",
        json!({"page_id": "100101"}),
    )
    .await;
    let seen = sampler.seen();
    assert_eq!(seen.len(), 1, "the handler answered the one request");
    assert_sampled(&seen[0], &r);
    client.cancel().await.ok();

    // A stateless client without sampling gets the digest at once.
    let silent = Sampler::new(false, Answer::Summarize);
    let client = connect(&env, silent.clone(), true).await;
    let CallToolResponse::Complete(r) = client.call_tool_once(ask).await.unwrap() else {
        panic!("no input should be required");
    };
    assert!(ok(&r)["model_summary"].is_null());
    assert!(silent.seen().is_empty());
    client.cancel().await.ok();

    let records = env.tool_records();
    assert!(records.iter().all(|r| r["outcome"] == "ok"), "{records:?}");
    assert!(
        records.iter().all(|r| r["touched"] != json!([])),
        "every round read the item"
    );
}

/// Round one of a stateless call (input-required): the sampling request and the state.
async fn ask_once(
    client: &RunningService<RoleClient, Sampler>,
    ask: &CallToolRequestParams,
) -> (String, CreateMessageRequestParams, String) {
    let first = client.call_tool_once(ask.clone()).await.unwrap();
    let CallToolResponse::InputRequired(asked) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let (key, request) = asked
        .input_requests
        .expect("input requests")
        .into_iter()
        .next()
        .unwrap();
    let InputRequest::CreateMessage(request) = request else {
        panic!("expected a sampling request");
    };
    (key, request.params, asked.request_state.expect("a state"))
}

/// Round two: `ask` again with `answer` under `key`, and `state` if given.
async fn retry(
    client: &RunningService<RoleClient, Sampler>,
    ask: &CallToolRequestParams,
    key: &str,
    answer: &Value,
    state: Option<&str>,
) -> Value {
    let mut again = ask.clone();
    again.request_state = state.map(str::to_string);
    again.input_responses = Some([(key.to_string(), answer.clone())].into());
    match client.call_tool_once(again).await.unwrap() {
        CallToolResponse::Complete(r) => ok(&r),
        other => panic!("expected a complete result, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_used_only_for_the_request_it_was_asked_for() {
    let env = Env::new(Flavor::Cloud, "").await;
    let client = connect(&env, Sampler::new(true, Answer::Summarize), true).await;
    let page = |id: &str| params("confluence_summarize_page", json!({"page_id": id}));
    let (key, p, state) = ask_once(&client, &page("100101")).await;
    assert_eq!(sent_digest(&p)["id"], "100101");
    let answer = serde_json::to_value(CreateMessageResult::new(
        SamplingMessage::assistant_text(model_answer(&p)),
        "test-model-7".into(),
    ))
    .unwrap();
    let dropped = |out: &Value, case: &str| {
        assert!(out["model_summary"].is_null(), "{case}: {out}");
        assert!(out.get("model_summary_by").is_none(), "{case}: {out}");
        let note = out["model_summary_note"].as_str().unwrap_or_default();
        assert!(
            note.contains("did not belong to this request"),
            "{case}: {note}"
        );
    };

    // Page 100101's answer and state, sent with a call for page 100102.
    let out = retry(&client, &page("100102"), &key, &answer, Some(&state)).await;
    assert_eq!(out["digest"]["id"], "100102");
    dropped(&out, "another page");
    // The answer without any state.
    let out = retry(&client, &page("100101"), &key, &answer, None).await;
    assert_eq!(out["digest"]["id"], "100101");
    dropped(&out, "no state");
    // The answer and state, sent to the other summarize tool.
    let issue = params("jira_summarize_issue", json!({"key": "ENG-1"}));
    let out = retry(&client, &issue, &key, &answer, Some(&state)).await;
    assert_eq!(out["digest"]["key"], "ENG-1");
    dropped(&out, "another tool");
    // The state does not carry the answer's content, and the right retry still uses it.
    assert!(!state.contains("Architecture"), "{state}");
    let out = retry(&client, &page("100101"), &key, &answer, Some(&state)).await;
    assert_eq!(out["model_summary"], model_answer(&p));
    assert!(out.get("model_summary_note").is_none(), "{out}");

    // The same item, changed between the rounds: the answer is used, with a caveat.
    let eng2 = params("jira_summarize_issue", json!({"key": "ENG-2"}));
    let (key, p, state) = ask_once(&client, &eng2).await;
    let answer = serde_json::to_value(CreateMessageResult::new(
        SamplingMessage::assistant_text(model_answer(&p)),
        "test-model-7".into(),
    ))
    .unwrap();
    let comment = params(
        "jira_add_comment",
        json!({"key": "ENG-2", "body": "Added while the model was reading."}),
    );
    let CallToolResponse::Complete(r) = client.call_tool_once(comment).await.unwrap() else {
        panic!("expected the comment to be added");
    };
    ok(&r);
    let out = retry(&client, &eng2, &key, &answer, Some(&state)).await;
    assert_eq!(out["model_summary"], model_answer(&p));
    assert!(
        out["model_summary_note"]
            .as_str()
            .unwrap()
            .contains("changed"),
        "{out}"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_confines_both_tools_before_any_model_sees_data() {
    for flavor in FLAVORS {
        let env = Env::new(
            flavor,
            "[policy]\njira_projects = [\"OPS\"]\nconfluence_spaces = [\"OPS\"]\n",
        )
        .await;
        let sampler = Sampler::new(true, Answer::Summarize);
        let client = connect(&env, sampler.clone(), false).await;
        err(&call_with(&client, "jira_summarize_issue", json!({"key": "ENG-1"})).await);
        err(&call_with(
            &client,
            "confluence_summarize_page",
            json!({"page_id": "100101"}),
        )
        .await);
        assert!(
            sampler.seen().is_empty(),
            "{flavor:?}: nothing denied reached the model"
        );
        ok(&call_with(&client, "jira_summarize_issue", json!({"key": "OPS-1"})).await);
        ok(&call_with(
            &client,
            "confluence_summarize_page",
            json!({"page_id": "200101"}),
        )
        .await);
        assert_eq!(sampler.seen().len(), 2);
        client.cancel().await.ok();
        let outcomes: Vec<Value> = env
            .tool_records()
            .iter()
            .map(|r| r["outcome"].clone())
            .collect();
        assert_eq!(
            outcomes,
            [json!("denied"), json!("denied"), json!("ok"), json!("ok")],
            "{flavor:?}"
        );
    }
}

/// Under OAuth the last editor's name needs `read:user:confluence` (v2 `users-bulk`): with the
/// default scopes the name is shown; without that scope the page still summarizes, with the
/// account id instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_editor_name_follows_the_granted_scope() {
    let defaults = None;
    let without: &[&str] = &[
        "read:jira-work",
        "read:jira-user",
        "read:page:confluence",
        "read:space:confluence",
        "search:confluence",
        "read:me",
        "offline_access",
    ];
    for (scopes, expected) in [
        (defaults, "Alex Rivera"),
        (Some(without), "61d5f0c2a8b4e3001d7c9a02"),
    ] {
        let env = Env::new(Flavor::Cloud, "").await;
        std::fs::write(
            env.home.path().join("config.toml"),
            crate::support::oauth_config(&env.sandbox, scopes),
        )
        .unwrap();
        env.login().await;
        let client = env.client().await;
        let r = call(
            &client,
            "confluence_summarize_page",
            json!({"page_id": "100101"}),
        )
        .await;
        assert_eq!(ok(&r)["digest"]["last_editor"], expected, "{scopes:?}");
        client.cancel().await.ok();
    }
}
