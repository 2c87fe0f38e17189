//! Bulk generation of realistic issues and pages (`Sandbox::generate`,
//! `POST /__sandbox/generate`), so the offline cache, `sync` and local full-text search can be
//! tested and benchmarked at size: thousands of issues with varied summaries, several-sentence
//! descriptions, comments, labels, components, statuses in every category, priorities,
//! assignees among the seeded users and `created`/`updated` spread over the six months before
//! the seed's reference instant; pages with unique titles, headings, paragraphs, lists, labels,
//! several versions and a parent tree a few levels deep.
//!
//! Output depends only on the arguments and on how many issues and pages the store already
//! holds, never on the clock, so the same calls on a fresh sandbox give the same data.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::seed::{
    CUSTOM_FIELDS, Change, ChangeItem, Comment, ISSUE_TYPES, Issue, Page, PageVersion, REFERENCE,
    STATUSES, Store, adf_text, storage_text,
};
use super::vocab::{
    EDIT_MESSAGES, HEADINGS, ISSUE_LABELS, NOUNS, PAGE_LABELS, Rng, VERBS, capitalize,
};
use super::wire::{digest, escape_html};

/// Most issues one call generates (larger requests are capped).
pub const MAX_ISSUES: usize = 200_000;
/// Most pages one call generates (larger requests are capped).
pub const MAX_PAGES: usize = 50_000;

/// How far back generated `created` dates reach.
const SPREAD: Duration = Duration::days(180);

/// Issue type weights: Task, Bug, Story, Epic, Sub-task (indexes into `ISSUE_TYPES`).
const TYPE_WEIGHTS: [usize; 5] = [40, 25, 20, 4, 11];
/// Status weights: To Do, In Progress, In Review, Done (indexes into `STATUSES`).
const STATUS_WEIGHTS: [usize; 4] = [30, 20, 10, 40];
/// Priority weights: Highest … Lowest.
const PRIORITY_WEIGHTS: [usize; 5] = [5, 20, 50, 20, 5];
/// How many comments (0, 1, 2, 3) or labels an item gets.
const FEW_WEIGHTS: [usize; 4] = [40, 32, 18, 10];
/// Deepest level a generated page sits at (the homepage is level 1).
const MAX_DEPTH: usize = 5;

/// What [`Sandbox::generate`](super::Sandbox::generate) (or `POST /__sandbox/generate`) added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Issues added.
    pub issues: usize,
    /// Pages added.
    pub pages: usize,
    /// Key of the first issue added (`ENG-65`).
    pub first_key: Option<String>,
    /// Key of the last issue added.
    pub last_key: Option<String>,
    /// Id of the first page added.
    pub first_page_id: Option<u64>,
    /// Id of the last page added.
    pub last_page_id: Option<u64>,
    /// Why a part was skipped (an unknown project or space).
    pub problems: Vec<String>,
}

/// A random instant in the [`SPREAD`] before [`REFERENCE`], to the millisecond.
fn past(rng: &mut Rng) -> OffsetDateTime {
    let span = usize::try_from(SPREAD.whole_milliseconds()).unwrap_or(0);
    REFERENCE - Duration::milliseconds(i64::try_from(rng.below(span)).unwrap_or(0))
}

/// A random instant between `from` and [`REFERENCE`] (inclusive), to the millisecond.
fn between(rng: &mut Rng, from: OffsetDateTime) -> OffsetDateTime {
    let gap = usize::try_from((REFERENCE - from).whole_milliseconds()).unwrap_or(0);
    from + Duration::milliseconds(i64::try_from(rng.below(gap + 1)).unwrap_or(0))
}

fn p(text: &str) -> Value {
    json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
}

fn list(kind: &str, items: &[String]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|i| json!({"type": "listItem", "content": [p(i)]}))
        .collect();
    match kind {
        "orderedList" => json!({"type": kind, "attrs": {"order": 1}, "content": items}),
        _ => json!({"type": kind, "content": items}),
    }
}

/// A short imperative step ("Open the cache").
fn step(rng: &mut Rng) -> String {
    format!(
        "{} the {} {}",
        capitalize(rng.skewed(VERBS)),
        rng.skewed(NOUNS),
        rng.skewed(NOUNS)
    )
}

/// A description as ADF and its Data Center wiki-markup twin.
fn description(rng: &mut Rng, bug: bool) -> (Value, String) {
    let mut adf = Vec::new();
    let mut wiki = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let para = rng.paragraph(2, 4);
        adf.push(p(&para));
        wiki.push(para);
    }
    let (heading, kind, marker) = if bug {
        ("Steps to reproduce", "orderedList", "#")
    } else {
        ("Acceptance criteria", "bulletList", "*")
    };
    if bug || rng.chance(40) {
        let items: Vec<String> = (0..rng.range(2, 4)).map(|_| step(rng)).collect();
        adf.push(json!({"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": heading}]}));
        adf.push(list(kind, &items));
        wiki.push(format!(
            "h3. {heading}\n{}",
            items
                .iter()
                .map(|i| format!("{marker} {i}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    if rng.chance(50) {
        let para = rng.paragraph(1, 2);
        adf.push(p(&para));
        wiki.push(para);
    }
    (
        json!({"type": "doc", "version": 1, "content": adf}),
        wiki.join("\n\n"),
    )
}

/// Up to three distinct labels, common ones more often.
fn labels<'a>(rng: &mut Rng, from: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&'a str> = Vec::new();
    for _ in 0..rng.weighted(&FEW_WEIGHTS) {
        let l = rng.skewed(from);
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

impl Store {
    /// Adds `issues` issues to `project` and `pages` pages to `space` (see [`Generated`]).
    pub(crate) fn generate(
        &mut self,
        project: &str,
        issues: usize,
        space: &str,
        pages: usize,
    ) -> Generated {
        let mut out = Generated::default();
        let mut rng = Rng::new(digest(&format!(
            "{project}|{issues}|{space}|{pages}|{}|{}",
            self.issues.len(),
            self.pages.len()
        )));
        if issues > 0 {
            match self.project(project) {
                Some(p) => self.generate_issues(p, issues.min(MAX_ISSUES), &mut rng, &mut out),
                None => out.problems.push(format!("no project '{project}'")),
            }
        }
        if pages > 0 {
            let found = self.spaces.iter().position(|s| {
                s.key.eq_ignore_ascii_case(space.trim()) || s.id.to_string() == space.trim()
            });
            match found {
                Some(s) => self.generate_pages(s, pages.min(MAX_PAGES), &mut rng, &mut out),
                None => out.problems.push(format!("no space '{space}'")),
            }
        }
        out
    }

    fn generate_issues(
        &mut self,
        project: usize,
        count: usize,
        rng: &mut Rng,
        out: &mut Generated,
    ) {
        let Some(proj) = self.projects.get(project) else {
            return;
        };
        let pkey = proj.key;
        let components: Vec<u64> = proj.components.iter().map(|c| c.0).collect();
        let users = self.users.len().max(1);
        let first_id = self.next_issue_id();
        let mut number = self.next_issue_number(project);
        let mut comment_id = self.next_comment_id();
        let mut change_id = self
            .issues
            .iter()
            .flat_map(|i| i.changelog.iter().map(|c| c.id + 1))
            .max()
            .unwrap_or(20000);
        // Generated issues that can hold sub-tasks, and generated epics (indexes).
        let mut standard: Vec<usize> = Vec::new();
        let mut epics: Vec<usize> = Vec::new();
        self.issues.reserve(count);
        for id in (first_id..).take(count) {
            let mut itype = rng.weighted(&TYPE_WEIGHTS);
            let mut parent = None;
            if ISSUE_TYPES.get(itype).is_some_and(|t| t.subtask) {
                match standard.get(rng.below(standard.len())) {
                    Some(&p) => parent = Some(p),
                    None => itype = 0,
                }
            } else if itype != 3 && rng.chance(25) {
                parent = epics.get(rng.below(epics.len())).copied();
            }
            let status = rng.weighted(&STATUS_WEIGHTS);
            let created = past(rng);
            let updated = between(rng, created);
            let reporter = rng.below(users);
            let assignee = rng.chance(80).then(|| rng.below(users));
            let bug = itype == 1;
            let (adf, wiki) = description(rng, bug);
            let mut custom = std::collections::BTreeMap::new();
            if let Some(t) = ISSUE_TYPES.get(itype) {
                for cf in CUSTOM_FIELDS.iter().filter(|cf| cf.applies(pkey, t)) {
                    if (cf.required(t) || rng.chance(70))
                        && let Some((oid, name)) = cf.options.get(rng.below(cf.options.len()))
                    {
                        custom.insert(cf.id.to_string(), json!({"value": name, "id": oid}));
                    }
                }
            }
            let mut comments = Vec::new();
            for _ in 0..rng.weighted(&FEW_WEIGHTS) {
                let text = rng.paragraph(1, 3);
                let at = between(rng, created).min(updated);
                comments.push(Comment {
                    id: comment_id,
                    author: rng.below(users),
                    adf: json!({"type": "doc", "version": 1, "content": [p(&text)]}),
                    wiki: text.clone(),
                    text,
                    created: at,
                    updated: at,
                });
                comment_id += 1;
            }
            comments.sort_by_key(|c| c.created);
            let mut changelog = Vec::new();
            if let (Some(from), Some(to)) = (STATUSES.first(), STATUSES.get(status))
                && status != 0
            {
                changelog.push(Change {
                    id: change_id,
                    author: assignee.unwrap_or(reporter),
                    created: updated,
                    items: vec![ChangeItem {
                        field: "status",
                        field_id: "status",
                        from: Some(from.id.to_string()),
                        from_string: Some(from.name.to_string()),
                        to: Some(to.id.to_string()),
                        to_string: Some(to.name.to_string()),
                    }],
                });
                change_id += 1;
            }
            let done = STATUSES.get(status).is_some_and(|s| s.category == 2);
            let due = rng.chance(30).then(|| {
                let days = i64::try_from(rng.below(60)).unwrap_or(0) - 20;
                (updated + Duration::days(days)).replace_time(time::Time::MIDNIGHT)
            });
            let key = format!("{pkey}-{number}");
            let idx = self.issues.len();
            match itype {
                3 => epics.push(idx),
                4 => {}
                _ => standard.push(idx),
            }
            out.first_key.get_or_insert_with(|| key.clone());
            out.last_key = Some(key.clone());
            let text = adf_text(&adf);
            self.issues.push(Issue {
                id,
                key,
                project,
                number,
                itype,
                status,
                priority: rng.weighted(&PRIORITY_WEIGHTS),
                summary: rng.summary(bug),
                assignee,
                reporter,
                created,
                updated,
                due,
                labels: labels(rng, ISSUE_LABELS)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                parent,
                components: if rng.chance(50) {
                    Vec::new()
                } else {
                    components
                        .get(rng.below(components.len()))
                        .copied()
                        .into_iter()
                        .collect()
                },
                adf: Some(adf),
                wiki: Some(wiki),
                text,
                comments,
                changelog,
                resolved: done.then_some(updated),
                properties: std::collections::BTreeMap::new(),
                custom,
            });
            number = number.saturating_add(1);
            out.issues += 1;
        }
    }

    fn generate_pages(&mut self, space: usize, count: usize, rng: &mut Rng, out: &mut Generated) {
        let Some(homepage) = self.spaces.get(space).map(|s| s.homepage) else {
            return;
        };
        let users = self.users.len().max(1);
        let mut titles: HashSet<String> = self
            .pages
            .iter()
            .filter(|p| p.space == space)
            .map(|p| p.title.to_lowercase())
            .collect();
        let mut children: HashMap<u64, i64> = HashMap::new();
        for p in self.pages.iter().filter(|p| p.space == space) {
            if let Some(parent) = p.parent {
                *children.entry(parent).or_default() += 1;
            }
        }
        // Generated pages that may still take children, with their level.
        let mut open: Vec<(u64, usize)> = Vec::new();
        let first_id = self.next_page_id();
        self.pages.reserve(count);
        for id in (first_id..).take(count) {
            let (parent, level) = if open.is_empty() || rng.chance(20) {
                (homepage, 1)
            } else {
                open.get(rng.below(open.len()))
                    .copied()
                    .unwrap_or((homepage, 1))
            };
            let position = children.entry(parent).or_default();
            let pos = *position;
            *position += 1;
            let base = rng.title();
            let mut title = base.clone();
            let mut n = 2;
            while !titles.insert(title.to_lowercase()) {
                title = format!("{base} {n}");
                n += 1;
            }
            let storage = page_body(rng);
            let mut when = past(rng);
            let mut versions = Vec::new();
            for number in 1..=rng.weighted(&FEW_WEIGHTS) + 1 {
                if number > 1 {
                    when = between(rng, when);
                }
                versions.push(PageVersion {
                    number: i64::try_from(number).unwrap_or(1),
                    author: rng.below(users),
                    when,
                    message: if number == 1 {
                        "Initial version".to_string()
                    } else {
                        rng.pick(EDIT_MESSAGES).to_string()
                    },
                    minor: rng.chance(20),
                });
            }
            if level + 1 < MAX_DEPTH {
                open.push((id, level + 1));
            }
            out.first_page_id.get_or_insert(id);
            out.last_page_id = Some(id);
            self.pages.push(Page {
                id,
                space,
                parent: Some(parent),
                position: pos,
                title,
                text: storage_text(&storage),
                storage,
                labels: labels(rng, PAGE_LABELS),
                versions,
            });
            out.pages += 1;
        }
    }
}

/// A storage-format page body: an introduction, then sections with headings, paragraphs,
/// lists and the odd info panel.
fn page_body(rng: &mut Rng) -> String {
    let mut s = format!("<p>{}</p>", escape_html(&rng.paragraph(1, 3)));
    for _ in 0..rng.range(2, 5) {
        s.push_str(&format!("<h2>{}</h2>", escape_html(rng.pick(HEADINGS))));
        s.push_str(&format!("<p>{}</p>", escape_html(&rng.paragraph(2, 5))));
        if rng.chance(40) {
            s.push_str("<ul>");
            for _ in 0..rng.range(2, 5) {
                s.push_str(&format!("<li><p>{}</p></li>", escape_html(&step(rng))));
            }
            s.push_str("</ul>");
        }
        if rng.chance(15) {
            s.push_str(&format!(
                "<ac:structured-macro ac:name=\"info\" ac:schema-version=\"1\"><ac:rich-text-body><p>{}</p></ac:rich-text-body></ac:structured-macro>",
                escape_html(&rng.sentence())
            ));
        }
    }
    s
}
