//! The fast reader for search pages: decodes Jira's JSON straight into [`Issue`]s, reading only
//! the fields a row needs and skipping the rest (avatar URLs, `self` links, project and status
//! category objects) without building a `serde_json::Value` for them.
//!
//! It gives exactly what the forgiving `Value` reader ([`Issue::from_json`]) gives: fields it
//! does not read typed (extra fields the caller asked for, descriptions, links) are kept as
//! `Value` and read by that same code, and a page with anything unexpected in a typed field (a
//! number where a name should be, a user that is a string) is not decoded here at all: the
//! caller falls back to the `Value` reader for the whole page, so odd sites lose nothing.
//!
//! One difference remains, in the lenient direction: values it skips (inside `avatarUrls`,
//! issues past `maxResults`) go through serde_json's skipping, which does not check nesting
//! depth, number range or lone surrogate escapes, so such a page is read where the `Value`
//! reader would have refused all of it.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{Issue, User};
use crate::sanitize::clean_text;

/// A search page as Jira sends it, issues already decoded.
#[derive(Debug, Default)]
pub(super) struct WirePage {
    /// Issues in the order sent (those without a key left out, as the `Value` reader does).
    pub issues: Vec<Issue>,
    /// How many issues the page held before decoding (for the cut to `maxResults`).
    pub sent: usize,
    /// Cloud's `nextPageToken`.
    pub next_page_token: Option<String>,
    /// Cloud's `isLast`.
    pub is_last: Option<bool>,
    /// Data Center's `startAt`.
    pub start_at: Option<u64>,
    /// Data Center's `total`.
    pub total: Option<u64>,
}

/// Decodes a search page; `extra_fields` are kept raw in [`Issue::extra`], and only the first
/// `keep` issues are decoded (the rest are counted and skipped). An error means "use the
/// `Value` reader", not "the page is bad".
pub(super) fn decode_page(
    body: &[u8],
    extra_fields: &[String],
    keep: usize,
) -> Result<WirePage, serde_json::Error> {
    // One pass of UTF-8 validation over the whole body, instead of one per string (a body that
    // is not UTF-8 goes to the general reader, which says what is wrong with it).
    let text = std::str::from_utf8(body)
        .map_err(|_| <serde_json::Error as serde::de::Error>::custom("the body is not UTF-8"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let page = PageSeed {
        extra: extra_fields,
        keep,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

/// Keys of `fields` that [`Issue::from_json`] reads beyond the typed ones: kept as `Value`.
const READ_AS_VALUE: &[&str] = &[
    "resolution",
    "components",
    "description",
    "issuelinks",
    "subtasks",
];

/// A string, borrowed from the body when it has no escapes (serde's own `Cow<str>` always
/// copies).
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An optional string (`null` and absent are `None`).
type Str<'a> = Option<Text<'a>>;

/// A JSON object read as `T` (serde's derived structs would also take an array, which the
/// `Value` reader treats as no object at all).
struct Obj<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `{ "name": … }` (issue type, priority).
#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    name: Str<'a>,
}

/// `{ "key": … }` (parent).
#[derive(Deserialize)]
struct Keyed<'a> {
    #[serde(borrow, default)]
    key: Str<'a>,
}

#[derive(Deserialize)]
struct Status<'a> {
    #[serde(borrow, default)]
    name: Str<'a>,
    #[serde(borrow, default, rename = "statusCategory")]
    category: Option<Obj<Keyed<'a>>>,
}

#[derive(Deserialize)]
struct ProjectRef<'a> {
    #[serde(borrow, default)]
    key: Str<'a>,
    #[serde(borrow, default)]
    name: Str<'a>,
}

/// A Jira Cloud or Data Center user object (the names [`User::from_json`] reads).
#[derive(Deserialize)]
struct WireUser<'a> {
    #[serde(borrow, default, rename = "accountId")]
    account_id: Str<'a>,
    #[serde(borrow, default)]
    key: Str<'a>,
    #[serde(borrow, default, rename = "userKey")]
    user_key: Str<'a>,
    #[serde(borrow, default)]
    name: Str<'a>,
    #[serde(borrow, default)]
    username: Str<'a>,
    #[serde(borrow, default, rename = "displayName")]
    display_name: Str<'a>,
    #[serde(borrow, default, rename = "emailAddress")]
    email: Str<'a>,
}

impl WireUser<'_> {
    fn user(self) -> User {
        User {
            id: text(self.account_id)
                .or_else(|| text(self.key))
                .or_else(|| text(self.user_key))
                .or_else(|| text(self.name))
                .or_else(|| text(self.username)),
            display_name: text(self.display_name),
            email: text(self.email),
        }
    }
}

/// A non-empty string, cleaned (what `json::text` gives).
fn text(s: Str<'_>) -> Option<String> {
    s.filter(|s| !s.0.is_empty()).map(|s| clean_text(&s.0))
}

/// An issue's `fields`: typed where a row needs them, raw where the `Value` reader does.
#[derive(Default)]
struct Fields<'a> {
    summary: Option<Str<'a>>,
    status: Option<Option<Obj<Status<'a>>>>,
    issuetype: Option<Option<Obj<Named<'a>>>>,
    priority: Option<Option<Obj<Named<'a>>>>,
    assignee: Option<Option<Obj<WireUser<'a>>>>,
    reporter: Option<Option<Obj<WireUser<'a>>>>,
    created: Option<Str<'a>>,
    updated: Option<Str<'a>>,
    duedate: Option<Str<'a>>,
    labels: Option<Option<Vec<Text<'a>>>>,
    project: Option<Option<Obj<ProjectRef<'a>>>>,
    parent: Option<Option<Obj<Keyed<'a>>>>,
    /// Extra fields and the ones read from a `Value`.
    raw: Map<String, Value>,
}

impl Fields<'_> {
    /// The issue, as [`Issue::from_json`] reads it: the raw part through that same code, then
    /// each typed field that was present.
    fn issue(self, key: String, id: Option<String>, extra_fields: &[String]) -> Issue {
        let raw = Value::Object(self.raw);
        let mut issue = Issue::from_fields(key, id, &raw, extra_fields);
        if let Some(s) = self.summary {
            issue.summary = text(s);
        }
        if let Some(s) = self.status {
            let s = s.map(|Obj(s)| (text(s.name), s.category.and_then(|c| text(c.0.key))));
            (issue.status, issue.status_category) = s.unwrap_or_default();
        }
        if let Some(t) = self.issuetype {
            issue.issue_type = t.and_then(|t| text(t.0.name));
        }
        if let Some(p) = self.priority {
            issue.priority = p.and_then(|p| text(p.0.name));
        }
        if let Some(u) = self.assignee {
            issue.assignee = u.map(|u| u.0.user());
        }
        if let Some(u) = self.reporter {
            issue.reporter = u.map(|u| u.0.user());
        }
        if let Some(s) = self.created {
            issue.created = text(s);
        }
        if let Some(s) = self.updated {
            issue.updated = text(s);
        }
        if let Some(s) = self.duedate {
            issue.due = text(s);
        }
        if let Some(l) = self.labels {
            issue.labels = l
                .unwrap_or_default()
                .iter()
                .map(|s| clean_text(&s.0))
                .collect();
        }
        if let Some(p) = self.project {
            (issue.project_key, issue.project_name) = p
                .map(|Obj(p)| (text(p.key), text(p.name)))
                .unwrap_or_default();
        }
        if let Some(p) = self.parent {
            issue.parent = p.and_then(|p| text(p.0.key));
        }
        issue
    }
}

struct FieldsSeed<'x> {
    extra: &'x [String],
}

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = Option<Fields<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = Option<Fields<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an issue's fields object")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let key = &*key.0;
            if self.extra.iter().any(|e| e == key) || READ_AS_VALUE.contains(&key) {
                f.raw.insert(key.to_string(), map.next_value()?);
                continue;
            }
            match key {
                "summary" => f.summary = Some(map.next_value()?),
                "status" => f.status = Some(map.next_value()?),
                "issuetype" => f.issuetype = Some(map.next_value()?),
                "priority" => f.priority = Some(map.next_value()?),
                "assignee" => f.assignee = Some(map.next_value()?),
                "reporter" => f.reporter = Some(map.next_value()?),
                "created" => f.created = Some(map.next_value()?),
                "updated" => f.updated = Some(map.next_value()?),
                "duedate" => f.duedate = Some(map.next_value()?),
                "labels" => f.labels = Some(map.next_value()?),
                "project" => f.project = Some(map.next_value()?),
                "parent" => f.parent = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(f))
    }
}

/// An issue id: a string or a number (`json::id`).
struct Id(Option<String>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id")
            }
            fn visit_str<E>(self, s: &str) -> Result<Id, E> {
                Ok(Id((!s.is_empty()).then(|| s.to_string())))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Id, E> {
                Ok(Id(Some(n.to_string())))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Id, E> {
                Ok(Id(Some(n.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Id, E> {
                Ok(Id(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// One issue object; `None` when it has no key (skipped, like the `Value` reader does).
struct IssueSeed<'x> {
    extra: &'x [String],
}

impl<'de> DeserializeSeed<'de> for IssueSeed<'_> {
    type Value = Option<Issue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IssueSeed<'_> {
    type Value = Option<Issue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an issue object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut key, mut id, mut fields) = (None, None, None);
        while let Some(k) = map.next_key::<Text<'de>>()? {
            match &*k.0 {
                "key" => key = map.next_value::<Str<'de>>()?,
                "id" => id = map.next_value::<Id>()?.0,
                "fields" => {
                    fields = map.next_value_seed(FieldsSeed { extra: self.extra })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(key) = text(key) else {
            return Ok(None);
        };
        let fields = fields.unwrap_or_default();
        Ok(Some(fields.issue(key, id, self.extra)))
    }
}

/// The `issues` array: the first `keep` decoded, the rest counted.
struct IssuesSeed<'x> {
    extra: &'x [String],
    keep: usize,
}

impl<'de> DeserializeSeed<'de> for IssuesSeed<'_> {
    type Value = (Vec<Issue>, usize);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for IssuesSeed<'_> {
    type Value = (Vec<Issue>, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of issues")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut issues = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.keep));
        let mut sent = 0;
        loop {
            if sent < self.keep {
                match seq.next_element_seed(IssueSeed { extra: self.extra })? {
                    Some(Some(issue)) => issues.push(issue),
                    Some(None) => {}
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            sent += 1;
        }
        Ok((issues, sent))
    }
}

/// A count that may come as a number or a numeric string (`json::uint`).
struct Count(Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E>(self, n: u64) -> Result<Count, E> {
                Ok(Count(Some(n)))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_str<E>(self, s: &str) -> Result<Count, E> {
                Ok(Count(s.parse().ok()))
            }
            fn visit_unit<E>(self) -> Result<Count, E> {
                Ok(Count(None))
            }
        }
        d.deserialize_any(V)
    }
}

struct PageSeed<'x> {
    extra: &'x [String],
    keep: usize,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = WirePage;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = WirePage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a search page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WirePage, A::Error> {
        let mut page = WirePage::default();
        let mut seen_issues = false;
        while let Some(k) = map.next_key::<Text<'de>>()? {
            match &*k.0 {
                "issues" => {
                    (page.issues, page.sent) = map.next_value_seed(IssuesSeed {
                        extra: self.extra,
                        keep: self.keep,
                    })?;
                    seen_issues = true;
                }
                "nextPageToken" => page.next_page_token = text(map.next_value::<Str<'de>>()?),
                "isLast" => page.is_last = map.next_value()?,
                "startAt" => page.start_at = map.next_value::<Count>()?.0,
                "total" => page.total = map.next_value::<Count>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !seen_issues {
            return Err(serde::de::Error::missing_field("issues"));
        }
        Ok(page)
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
