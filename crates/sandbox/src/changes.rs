//! Changes made from outside the APIs, for testing and benchmarking `sync` (SPEC §10): touch
//! an issue or page (a new `updated` / version at the sandbox's now), delete one, generate many
//! (`generate`), and take the site off the network and back (`set_reachable`). The store-level
//! operations here also back `DELETE /rest/api/{2,3}/issue/{key}` and
//! `DELETE /wiki/api/v2/pages/{id}`.

use time::OffsetDateTime;

use super::Sandbox;
use super::generate::Generated;
use super::seed::{ChangeItem, DEMO, ISSUE_TYPES, PageVersion, Store};

/// Why a page could not be changed or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageRefusal {
    /// No page has that id.
    Missing,
    /// Another page in the space already has the new title (titles are unique per space).
    TitleTaken,
    /// The space's homepage: the sandbox keeps every space's homepage.
    Homepage,
}

impl Store {
    /// Indexes of the sub-tasks directly under the issue at `idx`.
    fn subtasks_of(&self, idx: usize) -> Vec<usize> {
        self.issues
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                i.parent == Some(idx) && ISSUE_TYPES.get(i.itype).is_some_and(|t| t.subtask)
            })
            .map(|(n, _)| n)
            .collect()
    }

    /// Marks the issue at `idx` as changed now (optionally with a new summary, recorded in its
    /// changelog); returns its new `updated`, strictly later than before.
    pub(crate) fn touch_issue(
        &mut self,
        idx: usize,
        summary: Option<&str>,
    ) -> Option<OffsetDateTime> {
        let old = self.issues.get(idx)?.summary.clone();
        let now = self.tick();
        if let Some(new) = summary.filter(|s| *s != old) {
            self.record_change(
                idx,
                DEMO,
                now,
                vec![ChangeItem {
                    field: "summary",
                    field_id: "summary",
                    from: None,
                    from_string: Some(old),
                    to: None,
                    to_string: Some(new.to_string()),
                }],
            );
        }
        let issue = self.issues.get_mut(idx)?;
        if let Some(new) = summary {
            issue.summary = new.to_string();
        }
        issue.updated = now;
        Some(now)
    }

    /// Deletes the issue at `idx` and, with `with_subtasks`, its sub-tasks (Jira refuses to
    /// delete an issue that has sub-tasks otherwise: `Err` holds their keys). Children that are
    /// not sub-tasks (an epic's stories) stay, without a parent. Returns the deleted keys.
    pub(crate) fn delete_issue(
        &mut self,
        idx: usize,
        with_subtasks: bool,
    ) -> Result<Vec<String>, Vec<String>> {
        if idx >= self.issues.len() {
            return Ok(Vec::new());
        }
        let subtasks = self.subtasks_of(idx);
        if !subtasks.is_empty() && !with_subtasks {
            return Err(subtasks
                .iter()
                .filter_map(|&s| self.issues.get(s).map(|i| i.key.clone()))
                .collect());
        }
        let mut gone = subtasks;
        gone.push(idx);
        gone.sort_unstable();
        let keys: Vec<String> = gone
            .iter()
            .filter_map(|&g| self.issues.get(g).map(|i| i.key.clone()))
            .collect();
        // Parents are indexes: shift them past the removed ones, and cut links to removed ones.
        let new_index = |old: usize| old - gone.partition_point(|&g| g < old);
        let mut n = 0;
        self.issues.retain(|_| {
            let keep = gone.binary_search(&n).is_err();
            n += 1;
            keep
        });
        for issue in &mut self.issues {
            issue.parent = issue
                .parent
                .filter(|p| gone.binary_search(p).is_err())
                .map(new_index);
        }
        self.tick();
        Ok(keys)
    }

    /// Writes a new version of page `id` now (optionally renamed); returns the version's time.
    pub(crate) fn touch_page(
        &mut self,
        id: u64,
        title: Option<&str>,
    ) -> Result<OffsetDateTime, PageRefusal> {
        let idx = self
            .pages
            .iter()
            .position(|p| p.id == id)
            .ok_or(PageRefusal::Missing)?;
        let space = self.pages.get(idx).map_or(0, |p| p.space);
        if let Some(t) = title
            && self
                .pages
                .iter()
                .any(|p| p.id != id && p.space == space && p.title.eq_ignore_ascii_case(t.trim()))
        {
            return Err(PageRefusal::TitleTaken);
        }
        let now = self.tick();
        let page = self.pages.get_mut(idx).ok_or(PageRefusal::Missing)?;
        let number = page.latest().map_or(0, |v| v.number) + 1;
        page.versions.push(PageVersion {
            number,
            author: DEMO,
            when: now,
            message: String::new(),
            minor: false,
        });
        if let Some(t) = title {
            page.title = t.trim().to_string();
        }
        Ok(now)
    }

    /// Deletes page `id`; its children move up to its parent, as in Confluence. A space's
    /// homepage is kept.
    pub(crate) fn delete_page(&mut self, id: u64) -> Result<(), PageRefusal> {
        let idx = self
            .pages
            .iter()
            .position(|p| p.id == id)
            .ok_or(PageRefusal::Missing)?;
        if self.spaces.iter().any(|s| s.homepage == id) {
            return Err(PageRefusal::Homepage);
        }
        let removed = self.pages.remove(idx);
        for p in &mut self.pages {
            if p.parent == Some(id) {
                p.parent = removed.parent;
            }
        }
        self.tick();
        Ok(())
    }
}

/// Switches for testing and benchmarking the offline cache and `sync`.
impl Sandbox {
    /// Takes the site off the network (`false`: the port refuses connections and every open
    /// connection, pooled keep-alive ones included, is closed at once) or brings it back on the
    /// same port (`true`). Flip it as often as needed; it takes effect before it returns.
    ///
    /// A client on the same Tokio runtime learns that its pooled connection was closed only
    /// when its connection task next runs: `tokio::task::yield_now().await` after going dark
    /// makes the next request a connect error every time. Without it, a request sent at once
    /// may go out on the closed pooled connection and fail as an incomplete message (no HTTP
    /// answer either); the request after it is a connect error.
    pub fn set_reachable(&self, reachable: bool) {
        if reachable {
            self.shared.gate.come_back();
        } else {
            self.shared.gate.go_dark(None);
        }
    }

    /// Whether the site answers now (see [`Sandbox::set_reachable`]).
    pub fn is_reachable(&self) -> bool {
        self.shared.gate.is_reachable()
    }

    /// Adds `issues` generated issues to project `project` and `pages` generated pages to space
    /// `space` (deterministic for the same sandbox state; see `POST /__sandbox/generate`). An
    /// unknown project or space gets nothing: its count in the answer is 0 and `problems` says
    /// why. Counts above [`super::MAX_ISSUES`] / [`super::MAX_PAGES`] are
    /// capped.
    pub fn generate(&self, project: &str, issues: usize, space: &str, pages: usize) -> Generated {
        self.shared
            .write_store()
            .generate(project, issues, space, pages)
    }

    /// Marks issue `key` (or id) as changed at the sandbox's now, optionally with a new
    /// summary: its `updated` becomes strictly later than before and than every other
    /// timestamp so far. False when there is no such issue.
    pub fn touch_issue(&self, key: &str, new_summary: Option<&str>) -> bool {
        let mut store = self.shared.write_store();
        store
            .issue_index(key)
            .and_then(|idx| store.touch_issue(idx, new_summary))
            .is_some()
    }

    /// Deletes issue `key` (or id) with its sub-tasks; false when there is no such issue.
    pub fn delete_issue(&self, key: &str) -> bool {
        let mut store = self.shared.write_store();
        match store.issue_index(key) {
            Some(idx) => store.delete_issue(idx, true).is_ok(),
            None => false,
        }
    }

    /// Writes a new version of page `id` at the sandbox's now (its `lastModified` and version
    /// number move on), optionally with a new title. False when there is no such page or the
    /// title is taken in its space.
    pub fn touch_page(&self, id: &str, new_title: Option<&str>) -> bool {
        let Ok(id) = id.trim().parse::<u64>() else {
            return false;
        };
        self.shared.write_store().touch_page(id, new_title).is_ok()
    }

    /// Deletes page `id` (its children move up to its parent); false when there is no such
    /// page or it is a space's homepage.
    pub fn delete_page(&self, id: &str) -> bool {
        let Ok(id) = id.trim().parse::<u64>() else {
            return false;
        };
        self.shared.write_store().delete_page(id).is_ok()
    }

    /// The sandbox clock now (what JQL `now()` means and what the next write records after).
    pub fn now(&self) -> OffsetDateTime {
        self.shared.read_store().now()
    }
}
