//! Deterministic seed data for the sandbox: users, Jira projects and issues (rich ADF
//! descriptions with hand-written wiki-markup twins for Data Center, comments, changelogs,
//! generated filler), and Confluence spaces and pages (rich storage-format bodies).
//!
//! Every seed timestamp is relative to the fixed [`REFERENCE`] instant, never the wall clock,
//! so the seed is the same on every run. The sandbox clock (JQL/CQL `now()`, the time writes
//! record) starts at that instant and runs in real time from there.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// The sandbox's frozen "now": seed dates are spread over the weeks before it.
pub(crate) const REFERENCE: OffsetDateTime = datetime!(2026-11-20 10:00 UTC);

/// A person known to both products.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub account_id: &'static str,
    /// Data Center username.
    pub name: &'static str,
    /// Data Center user key.
    pub key: &'static str,
    pub display: &'static str,
    pub email: &'static str,
    pub tz: &'static str,
}

/// A Jira project.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: u64,
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub lead: usize,
    pub components: Vec<(u64, &'static str)>,
}

/// A workflow status with its category index into [`CATEGORIES`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Status {
    pub id: &'static str,
    pub name: &'static str,
    pub category: usize,
}

/// Status categories: (id, key, name, colour).
pub(crate) const CATEGORIES: [(i64, &str, &str, &str); 3] = [
    (2, "new", "To Do", "blue-gray"),
    (4, "indeterminate", "In Progress", "yellow"),
    (3, "done", "Done", "green"),
];

/// Statuses (every project shares one simple workflow).
pub(crate) const STATUSES: [Status; 4] = [
    Status {
        id: "10000",
        name: "To Do",
        category: 0,
    },
    Status {
        id: "3",
        name: "In Progress",
        category: 1,
    },
    Status {
        id: "10001",
        name: "In Review",
        category: 1,
    },
    Status {
        id: "10002",
        name: "Done",
        category: 2,
    },
];

/// Transition ids leading into each status (same index as [`STATUSES`]).
pub(crate) const TRANSITION_IDS: [&str; 4] = ["11", "21", "31", "41"];

/// The seed workflow: the statuses reachable from each status (indexes into [`STATUSES`]).
/// To Do → In Progress → In Review → Done is the main line; To Do may also go straight to
/// review or be closed, work in progress must pass review before Done, review may send work
/// back, and Done can only be reopened (back to To Do).
pub(crate) fn transitions_from(status: usize) -> &'static [usize] {
    match status {
        0 => &[1, 2, 3],
        1 => &[0, 2],
        2 => &[0, 1, 3],
        3 => &[0],
        _ => &[],
    }
}

/// A select-list custom field offered on the create screen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomField {
    pub id: &'static str,
    pub name: &'static str,
    /// The numeric custom field id (`customId` in the field schema).
    pub custom_id: i64,
    /// Project key the field is on.
    pub project: &'static str,
    /// Issue type names whose create screen has the field (all standard types when empty).
    pub types: &'static [&'static str],
    /// Issue type names for which the field is required.
    pub required_for: &'static [&'static str],
    /// Options: (id, value).
    pub options: &'static [(&'static str, &'static str)],
}

impl CustomField {
    /// Whether the field is on the create screen of `itype` in project `project_key`.
    pub fn applies(&self, project_key: &str, itype: &IssueType) -> bool {
        self.project.eq_ignore_ascii_case(project_key)
            && if self.types.is_empty() {
                !itype.subtask
            } else {
                self.types.contains(&itype.name)
            }
    }

    /// Whether the field is required for `itype`.
    pub fn required(&self, itype: &IssueType) -> bool {
        self.required_for.contains(&itype.name)
    }
}

/// Select custom fields: "Team" on every standard ENG issue type (required for Bugs) and
/// "Severity" on SEC Bugs (required).
pub(crate) const CUSTOM_FIELDS: [CustomField; 2] = [
    CustomField {
        id: "customfield_10020",
        name: "Team",
        custom_id: 10020,
        project: "ENG",
        types: &[],
        required_for: &["Bug"],
        options: &[
            ("10300", "Platform"),
            ("10301", "Search"),
            ("10302", "Integrations"),
        ],
    },
    CustomField {
        id: "customfield_10050",
        name: "Severity",
        custom_id: 10050,
        project: "SEC",
        types: &["Bug"],
        required_for: &["Bug"],
        options: &[
            ("10200", "S1 - Critical"),
            ("10201", "S2 - Major"),
            ("10202", "S3 - Minor"),
        ],
    },
];

/// An issue type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IssueType {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub subtask: bool,
    pub level: i64,
}

/// Issue types (every project has all of them).
pub(crate) const ISSUE_TYPES: [IssueType; 5] = [
    IssueType {
        id: "10001",
        name: "Task",
        description: "A small, distinct piece of work.",
        subtask: false,
        level: 0,
    },
    IssueType {
        id: "10002",
        name: "Bug",
        description: "A problem or error.",
        subtask: false,
        level: 0,
    },
    IssueType {
        id: "10003",
        name: "Story",
        description: "Functionality or a feature expressed as a user goal.",
        subtask: false,
        level: 0,
    },
    IssueType {
        id: "10004",
        name: "Epic",
        description: "A collection of related bugs, stories, and tasks.",
        subtask: false,
        level: 1,
    },
    IssueType {
        id: "10005",
        name: "Sub-task",
        description: "A small piece of work that's part of a larger task.",
        subtask: true,
        level: -1,
    },
];

/// Priorities, highest first: (id, name).
pub(crate) const PRIORITIES: [(&str, &str); 5] = [
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
];

/// A Jira comment.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    pub author: usize,
    pub adf: Value,
    pub wiki: String,
    pub text: String,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
}

/// One changed field in a changelog entry.
#[derive(Debug, Clone)]
pub(crate) struct ChangeItem {
    pub field: &'static str,
    pub field_id: &'static str,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

/// A changelog entry.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub id: u64,
    pub author: usize,
    pub created: OffsetDateTime,
    pub items: Vec<ChangeItem>,
}

/// A Jira issue.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    pub key: String,
    pub project: usize,
    pub number: u32,
    pub itype: usize,
    pub status: usize,
    pub priority: usize,
    pub summary: String,
    pub assignee: Option<usize>,
    pub reporter: usize,
    pub created: OffsetDateTime,
    pub updated: OffsetDateTime,
    pub due: Option<OffsetDateTime>,
    pub labels: Vec<String>,
    /// Index of the parent issue.
    pub parent: Option<usize>,
    pub components: Vec<u64>,
    pub adf: Option<Value>,
    pub wiki: Option<String>,
    /// Plain text of the description, for `~` searches.
    pub text: String,
    pub comments: Vec<Comment>,
    pub changelog: Vec<Change>,
    pub resolved: Option<OffsetDateTime>,
    /// Issue entity properties (`IssueUpdateDetails.properties`, `/issue/{key}/properties`).
    pub properties: BTreeMap<String, Value>,
    /// Custom field values by field id (`customfield_10020` → the option JSON).
    pub custom: BTreeMap<String, Value>,
}

/// A Confluence space.
#[derive(Debug, Clone)]
pub(crate) struct Space {
    pub id: u64,
    pub key: &'static str,
    pub name: &'static str,
    /// `global` or `personal`.
    pub kind: &'static str,
    pub homepage: u64,
    pub author: usize,
    pub created: OffsetDateTime,
    pub description: &'static str,
}

/// One version of a page.
#[derive(Debug, Clone)]
pub(crate) struct PageVersion {
    pub number: i64,
    pub author: usize,
    pub when: OffsetDateTime,
    pub message: String,
    pub minor: bool,
}

/// A Confluence page.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub id: u64,
    pub space: usize,
    pub parent: Option<u64>,
    pub position: i64,
    pub title: String,
    pub storage: String,
    /// Plain text of the body, for `~` searches and excerpts.
    pub text: String,
    pub labels: Vec<&'static str>,
    pub versions: Vec<PageVersion>,
}

impl Page {
    /// The creator (author of version 1).
    pub fn author(&self) -> usize {
        self.versions.first().map_or(0, |v| v.author)
    }

    /// When the page was created.
    pub fn created(&self) -> OffsetDateTime {
        self.versions.first().map_or(REFERENCE, |v| v.when)
    }

    /// The latest version.
    pub fn latest(&self) -> Option<&PageVersion> {
        self.versions.last()
    }

    /// When the page was last modified.
    pub fn modified(&self) -> OffsetDateTime {
        self.latest().map_or(REFERENCE, |v| v.when)
    }
}

/// One hand-written page: id, space index, parent id, position, title, storage body,
/// labels and versions.
type PageSeed = (
    u64,
    usize,
    Option<u64>,
    i64,
    &'static str,
    String,
    Vec<&'static str>,
    Vec<PageVersion>,
);

/// Everything the sandbox serves.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub users: Vec<User>,
    pub projects: Vec<Project>,
    pub issues: Vec<Issue>,
    pub spaces: Vec<Space>,
    pub pages: Vec<Page>,
    /// The last instant a write recorded ([`REFERENCE`] before any write); see [`Store::now`].
    pub clock: OffsetDateTime,
    /// When the store was built: the sandbox clock runs from [`REFERENCE`] at this moment.
    pub started: std::time::Instant,
}

/// The signed-in user (index into `users`).
pub(crate) const DEMO: usize = 0;
const ALEX: usize = 1;
const PRIYA: usize = 2;

fn ago(days: i64, hours: i64) -> OffsetDateTime {
    REFERENCE - Duration::days(days) - Duration::hours(hours)
}

fn due_in(days: i64) -> Option<OffsetDateTime> {
    Some((REFERENCE + Duration::days(days)).replace_time(time::Time::MIDNIGHT))
}

impl Store {
    /// Builds the seed data.
    pub fn build() -> Self {
        let users = vec![
            User {
                account_id: super::SANDBOX_ACCOUNT_ID,
                name: "demo",
                key: "JIRAUSER10000",
                display: "Dana Demo",
                email: super::SANDBOX_EMAIL,
                tz: "Europe/Berlin",
            },
            User {
                account_id: "61d5f0c2a8b4e3001d7c9a02",
                name: "alex.rivera",
                key: "JIRAUSER10001",
                display: "Alex Rivera",
                email: "alex.rivera@example.com",
                tz: "America/New_York",
            },
            User {
                account_id: "61d5f0c2a8b4e3001d7c9a03",
                name: "priya.shah",
                key: "JIRAUSER10002",
                display: "Priya Shah",
                email: "priya.shah@example.com",
                tz: "Asia/Kolkata",
            },
        ];
        let projects = vec![
            Project {
                id: 10000,
                key: "ENG",
                name: "Engineering",
                description: "Product engineering: the bridge, its search client and its tooling.",
                lead: DEMO,
                components: vec![(10100, "Search"), (10101, "API"), (10102, "Tooling")],
            },
            Project {
                id: 10001,
                key: "OPS",
                name: "Operations",
                description: "Infrastructure, on-call and release operations.",
                lead: PRIYA,
                components: vec![(10110, "Infrastructure"), (10111, "On-call")],
            },
            Project {
                id: 10002,
                key: "SEC",
                name: "Security",
                description: "Security reviews, audits and hardening work.",
                lead: PRIYA,
                components: vec![(10120, "Audit"), (10121, "Auth")],
            },
        ];
        let mut store = Store {
            users,
            projects,
            issues: Vec::new(),
            spaces: Vec::new(),
            pages: Vec::new(),
            clock: REFERENCE,
            started: std::time::Instant::now(),
        };
        store.seed_issues();
        store.seed_pages();
        store
    }

    /// [`REFERENCE`] plus the real time since the store was built, to the millisecond.
    fn running(&self) -> OffsetDateTime {
        let ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        REFERENCE
            .checked_add(Duration::milliseconds(ms))
            .unwrap_or(REFERENCE)
    }

    /// The sandbox's "now" (JQL/CQL `now()`, relative dates): [`REFERENCE`] when the sandbox
    /// starts, then advancing in real time, and never before the last write.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.max(self.running())
    }

    /// The instant a write records: the running clock, and at least one millisecond after the
    /// previous write, so every change is strictly later than everything before it.
    pub fn tick(&mut self) -> OffsetDateTime {
        let next = self
            .clock
            .checked_add(Duration::milliseconds(1))
            .unwrap_or(self.clock)
            .max(self.running());
        self.clock = next;
        next
    }

    /// Finds an issue by key (case-insensitive) or numeric id.
    pub fn issue(&self, id_or_key: &str) -> Option<&Issue> {
        self.issue_index(id_or_key).and_then(|i| self.issues.get(i))
    }

    /// The index of an issue found by key (case-insensitive) or numeric id.
    pub fn issue_index(&self, id_or_key: &str) -> Option<usize> {
        let k = id_or_key.trim();
        if let Ok(id) = k.parse::<u64>() {
            return self.issues.iter().position(|i| i.id == id);
        }
        self.issues
            .iter()
            .position(|i| i.key.eq_ignore_ascii_case(k))
    }

    /// The id for the next new issue.
    pub fn next_issue_id(&self) -> u64 {
        self.issues.iter().map(|i| i.id).max().unwrap_or(10000) + 1
    }

    /// The number for the next new issue in a project (after its highest key).
    pub fn next_issue_number(&self, project: usize) -> u32 {
        self.issues
            .iter()
            .filter(|i| i.project == project)
            .map(|i| i.number)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
    }

    /// The id for the next new comment (unique over all issues).
    pub fn next_comment_id(&self) -> u64 {
        self.issues
            .iter()
            .flat_map(|i| i.comments.iter().map(|c| c.id))
            .max()
            .unwrap_or(10499)
            + 1
    }

    /// The id for the next new page (new pages start above every seeded range).
    pub fn next_page_id(&self) -> u64 {
        self.pages
            .iter()
            .map(|p| p.id)
            .max()
            .unwrap_or(0)
            .max(400_000)
            + 1
    }

    /// Appends a changelog entry to the issue at `issue` (an index).
    pub fn record_change(
        &mut self,
        issue: usize,
        author: usize,
        at: OffsetDateTime,
        items: Vec<ChangeItem>,
    ) {
        if !items.is_empty() {
            self.change(issue, author, at, items);
        }
    }

    /// Finds a project by key (case-insensitive) or id.
    pub fn project(&self, id_or_key: &str) -> Option<usize> {
        let k = id_or_key.trim();
        self.projects
            .iter()
            .position(|p| p.key.eq_ignore_ascii_case(k) || p.id.to_string() == k)
    }

    /// Finds a page by id.
    pub fn page(&self, id: &str) -> Option<&Page> {
        let id = id.trim().parse::<u64>().ok()?;
        self.pages.iter().find(|p| p.id == id)
    }

    /// Finds a user index by accountId, username, key, email or display name.
    pub fn user(&self, any: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.account_id == any
                || u.name.eq_ignore_ascii_case(any)
                || u.key.eq_ignore_ascii_case(any)
                || u.email.eq_ignore_ascii_case(any)
                || u.display.eq_ignore_ascii_case(any)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn push_issue(
        &mut self,
        project: usize,
        itype: usize,
        status: usize,
        priority: usize,
        summary: &str,
        assignee: Option<usize>,
        reporter: usize,
        created: OffsetDateTime,
        updated: OffsetDateTime,
        due: Option<OffsetDateTime>,
        labels: &[&str],
        parent: Option<&str>,
        components: &[u64],
        adf: Value,
        wiki: &str,
    ) -> usize {
        let number = self.issues.iter().filter(|i| i.project == project).count() as u32 + 1;
        let key = format!(
            "{}-{number}",
            self.projects.get(project).map_or("X", |p| p.key)
        );
        let id = 10001 + self.issues.len() as u64;
        let parent = parent.and_then(|k| self.issues.iter().position(|i| i.key == k));
        let text = adf_text(&adf);
        let resolved = (STATUSES.get(status).map(|s| s.category) == Some(2)).then_some(updated);
        self.issues.push(Issue {
            id,
            key,
            project,
            number,
            itype,
            status,
            priority,
            summary: summary.to_string(),
            assignee,
            reporter,
            created,
            updated,
            due,
            labels: labels.iter().map(|s| s.to_string()).collect(),
            parent,
            components: components.to_vec(),
            adf: Some(adf),
            wiki: Some(wiki.to_string()),
            text,
            comments: Vec::new(),
            changelog: Vec::new(),
            resolved,
            properties: BTreeMap::new(),
            custom: BTreeMap::new(),
        });
        self.issues.len() - 1
    }

    fn comment(&mut self, issue: usize, author: usize, at: OffsetDateTime, adf: Value, wiki: &str) {
        let id = 10500
            + self
                .issues
                .iter()
                .map(|i| i.comments.len() as u64)
                .sum::<u64>();
        let text = adf_text(&adf);
        if let Some(i) = self.issues.get_mut(issue) {
            i.comments.push(Comment {
                id,
                author,
                adf,
                wiki: wiki.to_string(),
                text,
                created: at,
                updated: at,
            });
        }
    }

    fn change(&mut self, issue: usize, author: usize, at: OffsetDateTime, items: Vec<ChangeItem>) {
        let id = self
            .issues
            .iter()
            .flat_map(|i| i.changelog.iter().map(|c| c.id + 1))
            .max()
            .unwrap_or(20000);
        if let Some(i) = self.issues.get_mut(issue) {
            i.changelog.push(Change {
                id,
                author,
                created: at,
                items,
            });
        }
    }

    fn status_change(
        &mut self,
        issue: usize,
        author: usize,
        at: OffsetDateTime,
        from: usize,
        to: usize,
    ) {
        let (Some(f), Some(t)) = (STATUSES.get(from), STATUSES.get(to)) else {
            return;
        };
        self.change(
            issue,
            author,
            at,
            vec![ChangeItem {
                field: "status",
                field_id: "status",
                from: Some(f.id.to_string()),
                from_string: Some(f.name.to_string()),
                to: Some(t.id.to_string()),
                to_string: Some(t.name.to_string()),
            }],
        );
    }

    fn assignee_change(
        &mut self,
        issue: usize,
        author: usize,
        at: OffsetDateTime,
        from: Option<usize>,
        to: usize,
    ) {
        let from_user = from.and_then(|f| self.users.get(f)).cloned();
        let Some(to_user) = self.users.get(to).cloned() else {
            return;
        };
        self.change(
            issue,
            author,
            at,
            vec![ChangeItem {
                field: "assignee",
                field_id: "assignee",
                from: from_user.as_ref().map(|u| u.account_id.to_string()),
                from_string: from_user.as_ref().map(|u| u.display.to_string()),
                to: Some(to_user.account_id.to_string()),
                to_string: Some(to_user.display.to_string()),
            }],
        );
    }

    #[allow(clippy::too_many_lines)]
    fn seed_issues(&mut self) {
        use adf::*;
        let demo = self.users[DEMO].account_id;
        let alex = self.users[ALEX].account_id;
        let priya = self.users[PRIYA].account_id;
        let (eng, ops, sec) = (0, 1, 2);
        let (task, bug, story, epic, subtask) = (0, 1, 2, 3, 4);
        let (todo, inprog, review, done) = (0, 1, 2, 3);
        let (highest, high, medium, low, lowest) = (0, 1, 2, 3, 4);

        // ENG-1: epic with a rich overview.
        let i = self.push_issue(
            eng, epic, inprog, high, "Search API v2 migration", Some(DEMO), ALEX,
            ago(40, 3), ago(2, 1), due_in(20), &["api", "search"], None, &[10100, 10101],
            doc(vec![
                h(2, "Overview"),
                p(vec![
                    t("Jira Cloud removed "), code("/rest/api/3/search"), t(" (see "),
                    link("CHANGE-2046", "https://developer.atlassian.com/changelog/#CHANGE-2046"),
                    t("). Every caller must move to "), code("/rest/api/3/search/jql"),
                    t(" with "), b("token paging"), t("."),
                ]),
                h(3, "Goals"),
                ul(vec![
                    li(vec![p(vec![t("Replace offset paging with "), code("nextPageToken")])]),
                    li(vec![
                        p(vec![t("Keep responses small")]),
                        ul(vec![
                            li_p(vec![t("request only the fields we render")]),
                            li_p(vec![t("never ask for "), code("*all"), t(" in list views")]),
                        ]),
                    ]),
                    li_p(vec![t("Handle "), b("429"), t(" with "), em("Retry-After"), t(" "), emoji(":warning:", "⚠️")]),
                ]),
                h(3, "Milestones"),
                table(vec![
                    tr(vec![th("Milestone"), th("Owner"), th("State")]),
                    tr(vec![td(vec![t("Token paging")]), td(vec![mention(alex, "@Alex Rivera")]), td(vec![status("IN PROGRESS", "blue")])]),
                    tr(vec![td(vec![t("Retry policy")]), td(vec![mention(demo, "@Dana Demo")]), td(vec![status("TODO", "neutral")])]),
                    tr(vec![td(vec![t("Legacy removal")]), td(vec![mention(priya, "@Priya Shah")]), td(vec![status("DONE", "green")])]),
                ]),
                panel("info", vec![p(vec![t("Target date: "), date("1795046400000"), t(". Ask in #eng-search for help.")])]),
            ]),
            "h2. Overview\nJira Cloud removed {{/rest/api/3/search}} (see [CHANGE-2046|https://developer.atlassian.com/changelog/#CHANGE-2046]). Every caller must move to {{/rest/api/3/search/jql}} with *token paging*.\n\nh3. Goals\n* Replace offset paging with {{nextPageToken}}\n* Keep responses small\n** request only the fields we render\n** never ask for {{*all}} in list views\n* Handle *429* with _Retry-After_ (!)\n\nh3. Milestones\n||Milestone||Owner||State||\n|Token paging|[~alex.rivera]|{status:colour=Blue}IN PROGRESS{status}|\n|Retry policy|[~demo]|{status}TODO{status}|\n|Legacy removal|[~priya.shah]|{status:colour=Green}DONE{status}|\n\n{info}Target date: 2026-11-19. Ask in #eng-search for help.{info}",
        );
        self.status_change(i, DEMO, ago(30, 0), todo, inprog);
        self.comment(
            i,
            ALEX,
            ago(12, 4),
            doc(vec![p(vec![
                t("Token paging landed behind a flag. "),
                mention(demo, "@Dana Demo"),
                t(" can you review the retry part?"),
            ])]),
            "Token paging landed behind a flag. [~demo] can you review the retry part?",
        );
        self.comment(
            i,
            DEMO,
            ago(2, 1),
            doc(vec![p(vec![
                t("Reviewed "),
                emoji(":white_check_mark:", "✅"),
                t(" — one open question about "),
                code("isLast"),
                t(" quirks."),
            ])]),
            "Reviewed (/) — one open question about {{isLast}} quirks.",
        );

        // ENG-2: story with code and ordered steps.
        let i = self.push_issue(
            eng, story, review, medium, "Paginate search results with nextPageToken", Some(ALEX), DEMO,
            ago(28, 2), ago(1, 5), due_in(6), &["api", "search", "paging"], Some("ENG-1"), &[10100],
            doc(vec![
                p(vec![b("As a"), t(" bridge user "), b("I want"), t(" long result sets paged "), b("so that"), t(" the model sees one page at a time.")]),
                h(3, "Acceptance criteria"),
                ol(vec![
                    li_p(vec![t("First call omits "), code("nextPageToken")]),
                    li_p(vec![t("Follow-up calls pass the token back unchanged")]),
                    li_p(vec![t("Stop when "), code("isLast"), t(" is true or the token is absent")]),
                ]),
                h(3, "Sketch"),
                cb("rust", "let mut token = None;\nloop {\n    let page = client.search_jql(&jql, token.as_deref()).await?;\n    handle(&page.issues);\n    match page.next_page_token {\n        Some(t) => token = Some(t),\n        None => break,\n    }\n}"),
                p(vec![t("Pairing with "), mention(demo, "@Dana Demo"), t(" on Thursday "), emoji(":rocket:", "🚀")]),
            ]),
            "*As a* bridge user *I want* long result sets paged *so that* the model sees one page at a time.\n\nh3. Acceptance criteria\n# First call omits {{nextPageToken}}\n# Follow-up calls pass the token back unchanged\n# Stop when {{isLast}} is true or the token is absent\n\nh3. Sketch\n{code:rust}\nlet mut token = None;\nloop {\n    let page = client.search_jql(&jql, token.as_deref()).await?;\n    handle(&page.issues);\n    match page.next_page_token {\n        Some(t) => token = Some(t),\n        None => break,\n    }\n}\n{code}\n\nPairing with [~demo] on Thursday (*)",
        );
        self.status_change(i, ALEX, ago(20, 0), todo, inprog);
        self.status_change(i, ALEX, ago(1, 5), inprog, review);
        self.comment(i, DEMO, ago(3, 2), doc(vec![p(vec![t("Looks good. Please add a test for a token reused with a "), em("different"), t(" JQL — Jira answers 400.")])]),
            "Looks good. Please add a test for a token reused with a _different_ JQL — Jira answers 400.");

        // ENG-3: overdue bug with repro steps, table, warning, screenshot.
        let i = self.push_issue(
            eng, bug, todo, highest, "Search returns 410 for legacy endpoint after upgrade", Some(DEMO), PRIYA,
            ago(10, 6), ago(4, 2), due_in(-3), &["regression", "search"], None, &[10100],
            doc(vec![
                h(3, "Steps to reproduce"),
                ol(vec![
                    li_p(vec![t("Upgrade the client to 0.9")]),
                    li(vec![p(vec![t("Run a search:")]), cb("bash", "curl -u demo@example.com:$TOKEN \\\n  'https://acme.atlassian.net/rest/api/3/search?jql=project=ENG'")]),
                    li_p(vec![t("Observe the response")]),
                ]),
                table(vec![
                    tr(vec![th("Expected"), th("Actual")]),
                    tr(vec![td(vec![t("200 with issues")]), td(vec![t("410 Gone")])]),
                ]),
                panel("warning", vec![p(vec![t("Customers on the old client cannot search at all.")])]),
                media("c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8", "screenshot-410.png"),
                p(vec![t("Reported by "), mention(priya, "@Priya Shah"), t(".")]),
            ]),
            "h3. Steps to reproduce\n# Upgrade the client to 0.9\n# Run a search:\n{code:bash}\ncurl -u demo@example.com:$TOKEN \\\n  'https://acme.atlassian.net/rest/api/3/search?jql=project=ENG'\n{code}\n# Observe the response\n\n||Expected||Actual||\n|200 with issues|410 Gone|\n\n{warning}Customers on the old client cannot search at all.{warning}\n\n!screenshot-410.png|thumbnail!\n\nReported by [~priya.shah].",
        );
        self.comment(
            i,
            PRIYA,
            ago(9, 1),
            doc(vec![p(vec![
                t("Seen on three customer sites. Raising to "),
                status("HIGHEST", "red"),
                t("."),
            ])]),
            "Seen on three customer sites. Raising to {status:colour=Red}HIGHEST{status}.",
        );
        self.change(
            i,
            PRIYA,
            ago(9, 1),
            vec![ChangeItem {
                field: "priority",
                field_id: "priority",
                from: Some("2".into()),
                from_string: Some("High".into()),
                to: Some("1".into()),
                to_string: Some("Highest".into()),
            }],
        );
        self.assignee_change(i, PRIYA, ago(8, 0), None, DEMO);

        // ENG-4: overdue sub-task with a task list.
        let i = self.push_issue(
            eng, subtask, inprog, high, "Handle 429 Retry-After in search client", Some(DEMO), ALEX,
            ago(15, 0), ago(0, 20), due_in(-1), &["rate-limit"], Some("ENG-2"), &[10100],
            doc(vec![
                p(vec![t("Honour "), code("Retry-After"), t(" on 429 and 503; otherwise back off exponentially with jitter.")]),
                tasks(vec![
                    ("DONE", vec![t("Parse Retry-After seconds")]),
                    ("TODO", vec![t("Cap total wait at 30 s")]),
                    ("TODO", vec![t("Surface "), code("RateLimit-Reason"), t(" in errors")]),
                ]),
                cb("rust", "let wait = retry_after.unwrap_or(backoff * jitter);"),
            ]),
            "Honour {{Retry-After}} on 429 and 503; otherwise back off exponentially with jitter.\n\n* (/) Parse Retry-After seconds\n* (x) Cap total wait at 30 s\n* (x) Surface {{RateLimit-Reason}} in errors\n\n{code:rust}\nlet wait = retry_after.unwrap_or(backoff * jitter);\n{code}",
        );
        self.status_change(i, DEMO, ago(5, 0), todo, inprog);

        // ENG-5: done task with a blockquote, rule and nested ordered list.
        let i = self.push_issue(
            eng, task, done, low, "Document ADF to Markdown conversion rules", Some(PRIYA), DEMO,
            ago(35, 0), ago(18, 3), None, &["docs", "adf"], None, &[10102],
            doc(vec![
                h(2, "Conversion table"),
                table(vec![
                    tr(vec![th("ADF node"), th("Markdown")]),
                    tr(vec![td(vec![code("heading")]), td(vec![code("#"), t(" × level")])]),
                    tr(vec![td(vec![code("codeBlock")]), td(vec![t("fenced block")])]),
                    tr(vec![td(vec![code("mention")]), td(vec![code("@name")])]),
                ]),
                h(3, "Order of work"),
                ol(vec![
                    li(vec![p(vec![t("Block nodes")]), ol(vec![li_p(vec![t("paragraphs and headings")]), li_p(vec![t("lists and tables")])])]),
                    li_p(vec![t("Inline marks")]),
                ]),
                quote(vec![p(vec![t("Unknown nodes: recurse into content, else emit attrs.text.")])]),
                rule(),
                p(vec![t("Spec: "), card("https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/")]),
            ]),
            "h2. Conversion table\n||ADF node||Markdown||\n|{{heading}}|{{#}} × level|\n|{{codeBlock}}|fenced block|\n|{{mention}}|{{@name}}|\n\nh3. Order of work\n# Block nodes\n## paragraphs and headings\n## lists and tables\n# Inline marks\n\nbq. Unknown nodes: recurse into content, else emit attrs.text.\n----\nSpec: [https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/]",
        );
        self.status_change(i, PRIYA, ago(25, 0), todo, inprog);
        self.status_change(i, PRIYA, ago(18, 3), inprog, done);

        // ENG-6: unicode bug; carries invisible and bidi characters on purpose (the bridge must strip them).
        let i = self.push_issue(
            eng, bug, inprog, medium, "Unicode titles break page export", Some(ALEX), PRIYA,
            ago(7, 2), ago(0, 6), due_in(3), &["unicode", "export"], None, &[10102],
            doc(vec![
                p(vec![t("Titles such as "), b("Überprüfung – 日本語 – عربي"), t(" lose characters on export.")]),
                p(vec![t("Hidden characters found in the payload: zero\u{200B}width space and a \u{202E}right-to-left override\u{202C}.")]),
                ul(vec![li_p(vec![t("Emoji: "), emoji(":tada:", "🎉"), t(" and 👩‍💻 survive")]), li_p(vec![t("Combining marks (e\u{301}) do not")])]),
            ]),
            "Titles such as *Überprüfung – 日本語 – عربي* lose characters on export.\n\nHidden characters found in the payload: zero\u{200B}width space and a \u{202E}right-to-left override\u{202C}.\n\n* Emoji: (*) and 👩‍💻 survive\n* Combining marks (e\u{301}) do not",
        );
        self.comment(
            i,
            PRIYA,
            ago(1, 0),
            doc(vec![p(vec![t(
                "Repro file attached; note the \u{202E}override\u{202C} in the title.",
            )])]),
            "Repro file attached; note the \u{202E}override\u{202C} in the title.",
        );

        // ENG-7: unassigned story with a decision list and an expand.
        let i = self.push_issue(
            eng, story, todo, medium, "Bulk-create issues from meeting notes", None, DEMO,
            ago(5, 0), ago(5, 0), due_in(10), &["bulk", "ai"], Some("ENG-1"), &[10101],
            doc(vec![
                p(vec![t("Turn a list of action items into issues in one call, at most "), b("50 per request"), t(".")]),
                decisions(vec![vec![t("Chunk by 50, several chunks in flight")], vec![t("Journal every chunk by operation id")]]),
                expand("Example input", vec![cb("json", "[{\"summary\": \"Update runbook\"}, {\"summary\": \"Rotate keys\"}]")]),
            ]),
            "Turn a list of action items into issues in one call, at most *50 per request*.\n\n* (/) Decision: Chunk by 50, several chunks in flight\n* (/) Decision: Journal every chunk by operation id\n\n{expand:title=Example input}\n{code:json}\n[{\"summary\": \"Update runbook\"}, {\"summary\": \"Rotate keys\"}]\n{code}\n{expand}",
        );
        let _ = i;

        // ENG-8: done chore.
        let i = self.push_issue(
            eng,
            task,
            done,
            lowest,
            "Upgrade tokio and axum",
            Some(ALEX),
            ALEX,
            ago(21, 0),
            ago(14, 0),
            None,
            &["deps"],
            None,
            &[10102],
            doc(vec![p(vec![
                t("Bump "),
                code("tokio"),
                t(" to 1.54 and "),
                code("axum"),
                t(" to 0.8; no API changes expected."),
            ])]),
            "Bump {{tokio}} to 1.54 and {{axum}} to 0.8; no API changes expected.",
        );
        self.status_change(i, ALEX, ago(14, 0), todo, done);

        // OPS-1: overdue runbook task.
        let i = self.push_issue(
            ops, task, inprog, high, "Rotate TLS certificates for edge proxies", Some(PRIYA), DEMO,
            ago(12, 0), ago(1, 2), due_in(-2), &["tls", "runbook"], None, &[10110],
            doc(vec![
                h(3, "Runbook"),
                ol(vec![
                    li_p(vec![t("Issue new certificates from the internal CA")]),
                    li(vec![p(vec![t("Update the proxy config:")]), cb("yaml", "tls:\n  cert: /etc/edge/tls.crt\n  key: /etc/edge/tls.key\n  min_version: \"1.2\"")]),
                    li_p(vec![t("Reload one proxy at a time and watch error rates")]),
                ]),
                panel("note", vec![p(vec![t("Old certificates expire on "), date("1795478400000"), t(".")])]),
            ]),
            "h3. Runbook\n# Issue new certificates from the internal CA\n# Update the proxy config:\n{code:yaml}\ntls:\n  cert: /etc/edge/tls.crt\n  key: /etc/edge/tls.key\n  min_version: \"1.2\"\n{code}\n# Reload one proxy at a time and watch error rates\n\n{note}Old certificates expire on 2026-11-24.{note}",
        );
        self.status_change(i, PRIYA, ago(6, 0), todo, inprog);
        self.comment(
            i,
            DEMO,
            ago(1, 2),
            doc(vec![p(vec![
                t("Two of five proxies done. "),
                mention(priya, "@Priya Shah"),
                t(" please finish the rest before the weekend."),
            ])]),
            "Two of five proxies done. [~priya.shah] please finish the rest before the weekend.",
        );

        // OPS-2: overdue, unassigned bug with a host table.
        self.push_issue(
            ops, bug, todo, highest, "Disk usage alert on build agents", None, PRIYA,
            ago(9, 0), ago(6, 0), due_in(-5), &["alerting", "ci"], None, &[10110],
            doc(vec![
                p(vec![t("Build agents page the on-call every night.")]),
                table(vec![
                    tr(vec![th("Host"), th("Disk"), th("State")]),
                    tr(vec![td(vec![code("agent-01")]), td(vec![t("93%")]), td(vec![status("CRITICAL", "red")])]),
                    tr(vec![td(vec![code("agent-02")]), td(vec![t("81%")]), td(vec![status("WARNING", "yellow")])]),
                ]),
            ]),
            "Build agents page the on-call every night.\n\n||Host||Disk||State||\n|{{agent-01}}|93%|{status:colour=Red}CRITICAL{status}|\n|{{agent-02}}|81%|{status:colour=Yellow}WARNING{status}|",
        );

        // OPS-3: done handover.
        let i = self.push_issue(
            ops,
            task,
            done,
            medium,
            "Quarterly on-call handover",
            Some(DEMO),
            PRIYA,
            ago(30, 0),
            ago(16, 0),
            None,
            &["on-call"],
            None,
            &[10111],
            doc(vec![bullets(&[
                "Review open incidents",
                "Update escalation contacts",
                "Hand over pager",
            ])]),
            "* Review open incidents\n* Update escalation contacts\n* Hand over pager",
        );
        self.status_change(i, DEMO, ago(16, 0), inprog, done);

        // SEC-1: in review, with an error panel.
        let i = self.push_issue(
            sec, bug, review, highest, "Audit log must not contain API tokens", Some(DEMO), PRIYA,
            ago(14, 0), ago(0, 3), due_in(2), &["audit", "secrets"], None, &[10120],
            doc(vec![
                panel("error", vec![p(vec![t("A debug build wrote the Authorization header into the audit log.")])]),
                p(vec![t("Fix: redact before serialising; add a test that greps every record for "), code("Basic "), t(" and "), code("Bearer "), t(".")]),
                cb("rust", "assert!(!line.contains(\"Authorization\"));"),
                p(vec![t("Owner: "), mention(demo, "@Dana Demo")]),
            ]),
            "{panel:title=Error|borderStyle=solid|bgColor=#FFEBE6}A debug build wrote the Authorization header into the audit log.{panel}\n\nFix: redact before serialising; add a test that greps every record for {{Basic }} and {{Bearer }}.\n\n{code:rust}\nassert!(!line.contains(\"Authorization\"));\n{code}\n\nOwner: [~demo]",
        );
        self.status_change(i, DEMO, ago(0, 3), inprog, review);

        // SEC-2: scopes review.
        self.push_issue(
            sec, task, todo, high, "Review OAuth scopes for the bridge", Some(PRIYA), DEMO,
            ago(6, 0), ago(3, 0), due_in(5), &["oauth", "review"], None, &[10121],
            doc(vec![
                table(vec![
                    tr(vec![th("Scope"), th("Why")]),
                    tr(vec![td(vec![code("read:jira-work")]), td(vec![t("search and read issues")])]),
                    tr(vec![td(vec![code("write:jira-work")]), td(vec![t("create issues and comments")])]),
                    tr(vec![td(vec![code("offline_access")]), td(vec![t("refresh tokens")])]),
                ]),
            ]),
            "||Scope||Why||\n|{{read:jira-work}}|search and read issues|\n|{{write:jira-work}}|create issues and comments|\n|{{offline_access}}|refresh tokens|",
        );

        // SEC-3: story.
        self.push_issue(
            sec, story, inprog, medium, "Tamper-evident audit trail export", Some(ALEX), DEMO,
            ago(11, 0), ago(2, 0), due_in(14), &["audit"], None, &[10120],
            doc(vec![
                p(vec![t("Export the hash-chained log to a SIEM; "), code("audit verify"), t(" must name the first bad line.")]),
                bullets(&["JSON lines", "RFC 8785 canonical hashing", "rotation-aware"]),
            ]),
            "Export the hash-chained log to a SIEM; {{audit verify}} must name the first bad line.\n\n* JSON lines\n* RFC 8785 canonical hashing\n* rotation-aware",
        );

        // Filler: ENG up to 64 issues, OPS up to 30, SEC up to 20 (114 in all, so that the
        // 100-issue cap on full-field searches is observable).
        let topics = [
            "search client",
            "retry policy",
            "audit writer",
            "config loader",
            "page renderer",
            "token store",
            "CLI output",
            "bulk journal",
            "ADF converter",
            "policy filter",
            "sandbox",
            "installer",
        ];
        let verbs = [
            "Refactor",
            "Add tests for",
            "Fix flaky",
            "Document",
            "Speed up",
            "Harden",
            "Clean up",
        ];
        for (project, upto) in [(eng, 64u32), (ops, 30), (sec, 20)] {
            loop {
                let count = self.issues.iter().filter(|i| i.project == project).count() as u32;
                if count >= upto {
                    break;
                }
                let n = self.issues.len() as i64;
                let k = n as usize;
                let summary = format!(
                    "{} {}",
                    verbs[k % verbs.len()],
                    topics[(k * 5) % topics.len()]
                );
                let itype = [task, bug, story, task, bug, task][k % 6];
                let status = [todo, inprog, done, todo, review, done, inprog][k % 7];
                let priority = [medium, low, high, medium, lowest, highest][k % 6];
                let assignee = [Some(DEMO), Some(ALEX), None, Some(PRIYA), Some(DEMO)][k % 5];
                let reporter = [ALEX, PRIYA, DEMO][k % 3];
                let created = ago(3 + (n * 37) % 50, (n * 5) % 24);
                let updated_days = ((n * 13) % 20).min((created - REFERENCE).whole_days().abs());
                let updated = ago(updated_days, (n * 3) % 12).max(created);
                let due = match k % 4 {
                    0 => due_in(((n * 7) % 30) - 10),
                    2 => due_in((n % 15) + 1),
                    _ => None,
                };
                let label_sets: [&[&str]; 5] = [
                    &["backend"],
                    &["frontend", "ux"],
                    &[],
                    &["tech-debt"],
                    &["backend", "perf"],
                ];
                let labels = label_sets[k % 5];
                let parent = (project == eng && k % 10 == 3).then_some("ENG-1");
                let comps = self.projects[project].components.clone();
                let comp = comps.get(k % comps.len().max(1)).map(|c| c.0);
                let body = format!(
                    "Generated issue {n}: {} in the {} area.",
                    summary.to_lowercase(),
                    topics[(k * 5) % topics.len()]
                );
                let i = self.push_issue(
                    project,
                    itype,
                    status,
                    priority,
                    &summary,
                    assignee,
                    reporter,
                    created,
                    updated,
                    due,
                    labels,
                    parent,
                    &comp.into_iter().collect::<Vec<_>>(),
                    doc(vec![p(vec![t(&body)])]),
                    &body,
                );
                if status != todo {
                    let by = assignee.unwrap_or(reporter);
                    self.status_change(i, by, updated, todo, status);
                }
                if k % 4 == 1 {
                    let text = format!(
                        "Checked on {}; still relevant.",
                        crate::wire::jira_date(updated)
                    );
                    self.comment(i, reporter, updated, doc(vec![p(vec![t(&text)])]), &text);
                }
            }
        }
    }

    #[allow(clippy::too_many_lines)]
    fn seed_pages(&mut self) {
        let demo = self.users[DEMO].account_id;
        let alex = self.users[ALEX].account_id;
        let priya = self.users[PRIYA].account_id;
        self.spaces = vec![
            Space {
                id: 98305,
                key: "ENG",
                name: "Engineering",
                kind: "global",
                homepage: 100100,
                author: DEMO,
                created: ago(120, 0),
                description: "How we build the bridge: architecture, guidelines, runbooks.",
            },
            Space {
                id: 98306,
                key: "OPS",
                name: "Operations",
                kind: "global",
                homepage: 200100,
                author: PRIYA,
                created: ago(110, 0),
                description: "On-call, infrastructure and capacity.",
            },
            Space {
                id: 98307,
                key: "~demo",
                name: "Dana Demo",
                kind: "personal",
                homepage: 300100,
                author: DEMO,
                created: ago(90, 0),
                description: "Dana's personal space.",
            },
        ];
        let v = |number: i64, author: usize, days: i64, message: &'static str| PageVersion {
            number,
            author,
            when: ago(days, number),
            message: message.to_string(),
            minor: false,
        };
        let pages: Vec<PageSeed> = vec![
            (100100, 0, None, 0, "Engineering Home", format!(
                "<h1>Welcome to Engineering</h1><p>This space holds how we build the <strong>atlassian-mcp-bridge</strong>.</p>\
<ac:structured-macro ac:name=\"info\" ac:schema-version=\"1\" ac:macro-id=\"a1\"><ac:rich-text-body><p>New here? Start with <ac:link><ri:page ri:content-title=\"Architecture Overview\" /></ac:link>.</p></ac:rich-text-body></ac:structured-macro>\
<h2>Pages</h2><ul><li><ac:link><ri:page ri:content-title=\"Architecture Overview\" /></ac:link></li><li><ac:link><ri:page ri:content-title=\"Runbooks\" /></ac:link></li><li><ac:link><ri:page ri:content-title=\"Meeting Notes 2026-11-17\" /></ac:link></li></ul>\
<ac:structured-macro ac:name=\"toc\" ac:schema-version=\"1\" />\
<p>Space owner: <ac:link><ri:user ri:account-id=\"{demo}\" /></ac:link>&nbsp;&mdash; ask anything.</p>"),
                vec!["home"], vec![v(1, DEMO, 120, "Initial version"), v(2, DEMO, 30, "Link the new pages")]),
            (100101, 0, Some(100100), 0, "Architecture Overview", format!(
                "<h1>Architecture Overview</h1><p>The bridge is a single binary that speaks <em>MCP over stdio</em> and calls the Jira and Confluence REST APIs.</p>\
<h2>Components</h2><table><colgroup><col /><col /></colgroup><tbody><tr><th><p>Module</p></th><th><p>Responsibility</p></th></tr>\
<tr><td><p><code>mcp</code></p></td><td><p>tool definitions and the audit wrapper</p></td></tr>\
<tr><td><p><code>atlassian</code></p></td><td><p>HTTP client with retries &amp; paging</p></td></tr>\
<tr><td><p><code>audit</code></p></td><td><p>hash-chained JSONL log</p></td></tr></tbody></table>\
<h2>Search flow</h2><ol><li><p>The model calls <code>jira_search</code>.</p></li><li><p>The client pages with <code>nextPageToken</code>.</p><ul><li><p>at most 100 issues per page</p></li><li><p>only the fields we render</p></li></ul></li><li><p>Results are converted to Markdown.</p></li></ol>\
<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\" ac:macro-id=\"c1\"><ac:parameter ac:name=\"language\">rust</ac:parameter><ac:parameter ac:name=\"title\">search loop</ac:parameter><ac:plain-text-body><![CDATA[let page = jira.search(&jql, token).await?;\nif page.is_last {{ return Ok(()); }}\n// generics like Vec<Issue> & friends stay intact]]></ac:plain-text-body></ac:structured-macro>\
<ac:structured-macro ac:name=\"note\" ac:schema-version=\"1\"><ac:parameter ac:name=\"title\">Rate limits</ac:parameter><ac:rich-text-body><p>Honour <code>Retry-After</code> on 429 and 503.</p></ac:rich-text-body></ac:structured-macro>\
<p><ac:image ac:alt=\"architecture diagram\" ac:width=\"600\"><ri:attachment ri:filename=\"architecture.png\" /></ac:image></p>\
<p>Owners: <ac:link><ri:user ri:account-id=\"{alex}\" /></ac:link> and <ac:link><ri:user ri:account-id=\"{demo}\" /></ac:link>. See also <a href=\"https://developer.atlassian.com/cloud/jira/platform/rest/v3/\">the Jira REST docs</a>.</p>"),
                vec!["architecture", "api"], vec![v(1, ALEX, 100, "Initial version"), v(2, DEMO, 40, "Add search flow"), v(3, ALEX, 4, "Rate limit note")]),
            (100102, 0, Some(100101), 0, "API Design Guidelines", format!(
                "<h2>Principles</h2><ul><li><p>Small, paginated outputs</p></li><li><p>Errors the model can act on</p></li></ul>\
<ac:structured-macro ac:name=\"warning\" ac:schema-version=\"1\"><ac:rich-text-body><p>Never return raw response bodies that may contain secrets.</p></ac:rich-text-body></ac:structured-macro>\
<h2>Example error</h2><ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:parameter ac:name=\"language\">json</ac:parameter><ac:plain-text-body><![CDATA[{{\"errorMessages\":[\"Issue does not exist or you do not have permission to see it.\"],\"errors\":{{}}}}]]></ac:plain-text-body></ac:structured-macro>\
<h2>Checklist</h2><ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>Tool names follow <code>product_verb_noun</code></ac:task-body></ac:task><ac:task><ac:task-id>2</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body>Every field has a description for <ac:link><ri:user ri:account-id=\"{priya}\" /></ac:link> to review</ac:task-body></ac:task></ac:task-list>"),
                vec!["api", "guidelines"], vec![v(1, PRIYA, 80, "Initial version"), v(2, PRIYA, 9, "Checklist")]),
            (100103, 0, Some(100101), 1, "Search Pagination", "<p>Jira Cloud's <code>/rest/api/3/search/jql</code> pages with an opaque <code>nextPageToken</code>; there is no <code>total</code>.</p>\
<h2>Rules</h2><ol><li><p>Omit the token on the first call.</p></li><li><p>Stop when <code>isLast</code> is true.</p></li><li><p>Never reuse a token with another JQL&nbsp;query.</p></li></ol>\
<ac:structured-macro ac:name=\"info\" ac:schema-version=\"1\"><ac:rich-text-body><p>Data Center still uses <code>startAt</code>/<code>maxResults</code> offset paging.</p></ac:rich-text-body></ac:structured-macro>".to_string(),
                vec!["search", "api"], vec![v(1, ALEX, 60, "Initial version"), v(2, ALEX, 2, "Clarify DC paging")]),
            (100104, 0, Some(100100), 1, "Runbooks", "<p>Operational runbooks for the engineering services.</p><ac:structured-macro ac:name=\"children\" ac:schema-version=\"2\" />".to_string(),
                vec!["runbook"], vec![v(1, DEMO, 70, "Initial version")]),
            (100105, 0, Some(100104), 0, "Release Process", "<h2>Steps</h2><ol><li><p>Cut a release branch</p></li><li><p>Run the benchmarks</p></li><li><p>Tag and publish</p></li></ol>\
<p>Current state: <ac:structured-macro ac:name=\"status\" ac:schema-version=\"1\"><ac:parameter ac:name=\"colour\">Green</ac:parameter><ac:parameter ac:name=\"title\">READY</ac:parameter></ac:structured-macro></p>\
<ac:structured-macro ac:name=\"expand\" ac:schema-version=\"1\"><ac:parameter ac:name=\"title\">Rollback</ac:parameter><ac:rich-text-body><p>Re-publish the previous tag and notify #eng.</p></ac:rich-text-body></ac:structured-macro>\
<ac:structured-macro ac:name=\"jira\" ac:schema-version=\"1\"><ac:parameter ac:name=\"key\">ENG-1</ac:parameter></ac:structured-macro>".to_string(),
                vec!["release", "runbook"], vec![v(1, DEMO, 65, "Initial version"), v(2, ALEX, 12, "Add rollback")]),
            (100106, 0, Some(100104), 1, "Incident Postmortem: Search Outage", format!(
                "<h2>Summary</h2><p>On 2026-11-10 search returned <strong>410 Gone</strong> for 47&nbsp;minutes after the legacy endpoint was removed.</p>\
<h2>Timeline</h2><table><tbody><tr><th><p>Time (UTC)</p></th><th><p>Event</p></th></tr><tr><td><p>09:12</p></td><td><p>Alerts fire</p></td></tr><tr><td><p>09:20</p></td><td><p><ac:link><ri:user ri:account-id=\"{priya}\" /></ac:link> starts the incident</p></td></tr><tr><td><p>09:59</p></td><td><p>Client switched to <code>/search/jql</code></p></td></tr></tbody></table>\
<ac:structured-macro ac:name=\"panel\" ac:schema-version=\"1\"><ac:parameter ac:name=\"title\">Lessons</ac:parameter><ac:rich-text-body><ul><li><p>Watch Atlassian's changelog</p></li><li><p>Test against a sandbox that answers 410</p></li></ul></ac:rich-text-body></ac:structured-macro>\
<p>Mood afterwards: <ac:emoticon ac:name=\"smile\" ac:emoji-shortname=\":slight_smile:\" ac:emoji-fallback=\"🙂\" /></p>"),
                vec!["postmortem", "search"], vec![v(1, PRIYA, 10, "Initial version"), v(2, DEMO, 8, "Timeline")]),
            (100107, 0, Some(100100), 2, "Meeting Notes 2026-11-17", format!(
                "<p><strong>Date:</strong> <time datetime=\"2026-11-17\" /></p><p><strong>Attendees:</strong> <ac:link><ri:user ri:account-id=\"{demo}\" /></ac:link>, <ac:link><ri:user ri:account-id=\"{alex}\" /></ac:link>, <ac:link><ri:user ri:account-id=\"{priya}\" /></ac:link></p>\
<h2>Action items</h2><ac:task-list><ac:task><ac:task-id>11</ac:task-id><ac:task-status>incomplete</ac:task-status><ac:task-body><ac:link><ri:user ri:account-id=\"{alex}\" /></ac:link> finish token paging by <time datetime=\"2026-11-24\" /></ac:task-body></ac:task><ac:task><ac:task-id>12</ac:task-id><ac:task-status>complete</ac:task-status><ac:task-body>Rotate the sandbox API token</ac:task-body></ac:task></ac:task-list>\
<p>Related: <ac:link><ri:page ri:space-key=\"OPS\" ri:content-title=\"On-call Handbook\" /><ac:plain-text-link-body><![CDATA[on-call handbook]]></ac:plain-text-link-body></ac:link></p>"),
                vec!["meeting-notes"], vec![v(1, DEMO, 3, "Initial version")]),
            (200100, 1, None, 0, "Operations Home", "<h1>Operations</h1><p>Everything the on-call needs.</p><ac:structured-macro ac:name=\"children\" ac:schema-version=\"2\" />".to_string(),
                vec!["home"], vec![v(1, PRIYA, 110, "Initial version")]),
            (200101, 1, Some(200100), 0, "On-call Handbook", format!(
                "<h2>Escalation</h2><ol><li><p>Primary: <ac:link><ri:user ri:account-id=\"{priya}\" /></ac:link></p></li><li><p>Secondary: <ac:link><ri:user ri:account-id=\"{demo}\" /></ac:link></p></li></ol>\
<ac:structured-macro ac:name=\"tip\" ac:schema-version=\"1\"><ac:rich-text-body><p>Acknowledge within 5&nbsp;minutes &amp; write down what you did.</p></ac:rich-text-body></ac:structured-macro>"),
                vec!["on-call"], vec![v(1, PRIYA, 100, "Initial version"), v(2, PRIYA, 15, "New rota")]),
            (200102, 1, Some(200101), 0, "TLS Certificate Rotation", "<p>Rotate the edge certificates every 90 days.</p>\
<ac:structured-macro ac:name=\"code\" ac:schema-version=\"1\"><ac:parameter ac:name=\"language\">bash</ac:parameter><ac:plain-text-body><![CDATA[for host in edge-0{1..5}; do\n  ssh \"$host\" 'sudo systemctl reload edge-proxy' && echo \"$host ok\"\ndone]]></ac:plain-text-body></ac:structured-macro>\
<ac:structured-macro ac:name=\"warning\" ac:schema-version=\"1\"><ac:rich-text-body><p>Reload one host at a time.</p></ac:rich-text-body></ac:structured-macro>".to_string(),
                vec!["tls", "runbook"], vec![v(1, PRIYA, 50, "Initial version"), v(2, DEMO, 1, "Loop over hosts")]),
            (200103, 1, Some(200100), 1, "Capacity Planning 2027", "<table><tbody><tr><th><p>Service</p></th><th><p>2026</p></th><th><p>2027 (plan)</p></th></tr><tr><td><p>Build agents</p></td><td><p>12</p></td><td><p>20</p></td></tr><tr><td><p>Edge proxies</p></td><td><p>5</p></td><td><p>8</p></td></tr></tbody></table><p>Budget approved &gt; 80%.</p>".to_string(),
                vec!["planning"], vec![v(1, PRIYA, 20, "Initial version")]),
            (300100, 2, None, 0, "Dana Demo's Home", "<p>Personal notes and drafts.</p>".to_string(),
                vec![], vec![v(1, DEMO, 90, "Initial version")]),
            (300101, 2, Some(300100), 0, "Scratchpad", "<p>Ideas: summarise my open issues every Monday; draft issues from meeting notes.</p><ul><li><p>check <code>jira_summarize_search</code></p></li></ul>".to_string(),
                vec!["ideas"], vec![v(1, DEMO, 6, "Initial version"), v(2, DEMO, 0, "More ideas")]),
        ];
        self.pages = pages
            .into_iter()
            .map(
                |(id, space, parent, position, title, storage, labels, versions)| Page {
                    id,
                    space,
                    parent,
                    position,
                    title: title.to_string(),
                    text: storage_text(&storage),
                    storage,
                    labels,
                    versions,
                },
            )
            .collect();
    }
}

/// An ADF document holding `text` as paragraphs (split on blank lines), for content written as
/// plain text or wiki markup (Data Center) that Cloud readers see as ADF.
pub(crate) fn text_adf(text: &str) -> Value {
    let paras: Vec<Value> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| adf::p(vec![adf::t(p)]))
        .collect();
    adf::doc(paras)
}

/// Plain text of an ADF document: text, mentions, status lozenges, emoji and card URLs.
pub(crate) fn adf_text(node: &Value) -> String {
    let mut out = String::new();
    walk_adf(node, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn walk_adf(node: &Value, out: &mut String) {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    let attr = |k: &str| {
        node.get("attrs")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    match kind {
        "text" => out.push_str(node.get("text").and_then(Value::as_str).unwrap_or("")),
        "mention" | "status" | "emoji" => out.push_str(attr("text").unwrap_or("")),
        "inlineCard" | "blockCard" => out.push_str(attr("url").unwrap_or("")),
        "hardBreak" => out.push(' '),
        _ => {}
    }
    if let Some(children) = node.get("content").and_then(Value::as_array) {
        for c in children {
            walk_adf(c, out);
        }
        out.push(' ');
    }
}

/// Plain text of a storage-format body: tags dropped, CDATA kept, common entities decoded.
pub(crate) fn storage_text(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(cdata) = tail.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            out.push(' ');
            out.push_str(&cdata[..end]);
            out.push(' ');
            rest = cdata.get(end + 3..).unwrap_or("");
            continue;
        }
        // Macro parameters and task ids/states are settings, not prose.
        if let Some(skip) = ["ac:parameter", "ac:task-id", "ac:task-status"]
            .iter()
            .find(|t| tail.starts_with(&format!("<{t}")))
        {
            let close = format!("</{skip}>");
            let end = tail.find(&close).map_or(tail.len(), |e| e + close.len());
            rest = &tail[end..];
            continue;
        }
        let end = tail.find('>').map_or(tail.len(), |e| e + 1);
        // Inline tags join words; block tags separate them.
        let name: String = tail
            .trim_start_matches(['<', '/'])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == ':' || *c == '-')
            .collect();
        const INLINE: &[&str] = &[
            "strong",
            "em",
            "b",
            "i",
            "u",
            "s",
            "code",
            "a",
            "span",
            "sub",
            "sup",
            "ac:link",
            "ri:page",
            "ri:user",
            "ri:attachment",
            "ac:plain-text-link-body",
            "ac:link-body",
        ];
        if !INLINE.contains(&name.as_str()) {
            out.push(' ');
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&mdash;", "—")
        .replace("&ndash;", "–")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Small builders for ADF nodes, so seed descriptions read like the documents they are.
mod adf {
    use serde_json::{Value, json};

    pub fn doc(content: Vec<Value>) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }
    pub fn p(content: Vec<Value>) -> Value {
        json!({"type": "paragraph", "content": content})
    }
    pub fn t(s: &str) -> Value {
        json!({"type": "text", "text": s})
    }
    fn marked(s: &str, mark: Value) -> Value {
        json!({"type": "text", "text": s, "marks": [mark]})
    }
    pub fn b(s: &str) -> Value {
        marked(s, json!({"type": "strong"}))
    }
    pub fn em(s: &str) -> Value {
        marked(s, json!({"type": "em"}))
    }
    pub fn code(s: &str) -> Value {
        marked(s, json!({"type": "code"}))
    }
    pub fn link(s: &str, href: &str) -> Value {
        marked(s, json!({"type": "link", "attrs": {"href": href}}))
    }
    pub fn h(level: u8, s: &str) -> Value {
        json!({"type": "heading", "attrs": {"level": level}, "content": [t(s)]})
    }
    pub fn ul(items: Vec<Value>) -> Value {
        json!({"type": "bulletList", "content": items})
    }
    pub fn ol(items: Vec<Value>) -> Value {
        json!({"type": "orderedList", "attrs": {"order": 1}, "content": items})
    }
    pub fn li(blocks: Vec<Value>) -> Value {
        json!({"type": "listItem", "content": blocks})
    }
    pub fn li_p(inlines: Vec<Value>) -> Value {
        li(vec![p(inlines)])
    }
    pub fn bullets(items: &[&str]) -> Value {
        ul(items.iter().map(|s| li_p(vec![t(s)])).collect())
    }
    pub fn cb(language: &str, text: &str) -> Value {
        json!({"type": "codeBlock", "attrs": {"language": language}, "content": [t(text)]})
    }
    pub fn panel(kind: &str, blocks: Vec<Value>) -> Value {
        json!({"type": "panel", "attrs": {"panelType": kind}, "content": blocks})
    }
    pub fn table(rows: Vec<Value>) -> Value {
        json!({"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default"}, "content": rows})
    }
    pub fn tr(cells: Vec<Value>) -> Value {
        json!({"type": "tableRow", "content": cells})
    }
    pub fn th(s: &str) -> Value {
        json!({"type": "tableHeader", "attrs": {}, "content": [p(vec![b(s)])]})
    }
    pub fn td(inlines: Vec<Value>) -> Value {
        json!({"type": "tableCell", "attrs": {}, "content": [p(inlines)]})
    }
    pub fn mention(id: &str, text: &str) -> Value {
        json!({"type": "mention", "attrs": {"id": id, "text": text, "accessLevel": ""}})
    }
    pub fn status(text: &str, color: &str) -> Value {
        json!({"type": "status", "attrs": {"text": text, "color": color, "localId": format!("st-{}", text.to_lowercase().replace(' ', "-"))}})
    }
    pub fn date(ms: &str) -> Value {
        json!({"type": "date", "attrs": {"timestamp": ms}})
    }
    pub fn emoji(short: &str, text: &str) -> Value {
        json!({"type": "emoji", "attrs": {"shortName": short, "text": text}})
    }
    pub fn media(id: &str, alt: &str) -> Value {
        json!({"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
            {"type": "media", "attrs": {"type": "file", "id": id, "collection": "jira-sandbox-attachments", "alt": alt, "width": 1280, "height": 720}}
        ]})
    }
    pub fn quote(blocks: Vec<Value>) -> Value {
        json!({"type": "blockquote", "content": blocks})
    }
    pub fn rule() -> Value {
        json!({"type": "rule"})
    }
    pub fn card(url: &str) -> Value {
        json!({"type": "inlineCard", "attrs": {"url": url}})
    }
    pub fn tasks(items: Vec<(&str, Vec<Value>)>) -> Value {
        let content: Vec<Value> = items
            .into_iter()
            .enumerate()
            .map(|(n, (state, inl))| json!({"type": "taskItem", "attrs": {"localId": format!("task-{n}"), "state": state}, "content": inl}))
            .collect();
        json!({"type": "taskList", "attrs": {"localId": "tasks-1"}, "content": content})
    }
    pub fn decisions(items: Vec<Vec<Value>>) -> Value {
        let content: Vec<Value> = items
            .into_iter()
            .enumerate()
            .map(|(n, inl)| json!({"type": "decisionItem", "attrs": {"localId": format!("decision-{n}"), "state": "DECIDED"}, "content": inl}))
            .collect();
        json!({"type": "decisionList", "attrs": {"localId": "decisions-1"}, "content": content})
    }
    pub fn expand(title: &str, blocks: Vec<Value>) -> Value {
        json!({"type": "expand", "attrs": {"title": title}, "content": blocks})
    }
}

/// A modest ADF rendering of a storage body (paragraph per block of text), for
/// `body-format=atlas_doc_format`.
pub(crate) fn storage_to_adf(storage: &str) -> Value {
    let mut blocks = Vec::new();
    for chunk in storage
        .split("</p>")
        .flat_map(|c| c.split("</h1>"))
        .flat_map(|c| c.split("</h2>"))
    {
        let text = storage_text(chunk);
        if !text.is_empty() {
            blocks.push(json!({"type": "paragraph", "content": [{"type": "text", "text": text}]}));
        }
    }
    json!({"type": "doc", "version": 1, "content": blocks})
}
