//! Mirroring one Jira project: `project = "KEY" [AND updated >= "…"] ORDER BY updated ASC,
//! key ASC`, 100 issues a page with description and comments, each page committed with the
//! project's watermark while the next one is fetched.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Done, Failure, ProgressFn, Run, Scope, ScopeReport, SyncError, Syncer};
use crate::atlassian::CallTrace;
use crate::atlassian::mirror::{IssueBatch, Mirror, MirroredIssue};
use crate::cache::{Cache, CacheError, Confine, parse_site_time};
use crate::sync::records;

/// What every batch of one run compares against: the state before the run.
struct Before {
    /// The watermark's time, Unix ms (`None`: no sync committed yet).
    watermark_ms: Option<i64>,
    /// Keys cached before the run.
    cached: HashSet<String>,
    /// `--full`: write every issue, changed or not.
    full: bool,
}

/// One listing page on its way into the cache.
struct IssueJob {
    cache: Cache,
    project: String,
    issues: Vec<(MirroredIssue, String)>,
    mark: Option<(String, i64)>,
    before: Arc<Before>,
}

impl IssueJob {
    /// Converts and commits the page (on a blocking thread); returns the changed keys.
    fn run(self) -> Result<Vec<String>, CacheError> {
        let mut changed = Vec::new();
        let mut records = Vec::with_capacity(self.issues.len());
        for (item, url) in &self.issues {
            let issue = &item.issue;
            let is_new = !self.before.cached.contains(&issue.key);
            let newer = match (
                self.before.watermark_ms,
                issue.updated.as_deref().and_then(parse_site_time),
            ) {
                (Some(mark), Some(updated)) => updated > mark,
                _ => true,
            };
            // In the overlap an issue is usually the copy already held: compare before
            // converting it again.
            let is_changed = is_new
                || newer
                || (!self.before.full
                    && self
                        .cache
                        .issue(&issue.key, &Confine::default())?
                        .is_none_or(|held| held.record.updated != issue.updated));
            if is_changed {
                changed.push(issue.key.clone());
            }
            if is_changed || self.before.full {
                records.push(records::issue_record(
                    issue,
                    url.clone(),
                    true,
                    Some(&item.comments),
                ));
            }
        }
        if records.is_empty() && self.mark.is_none() {
            return Ok(changed);
        }
        let mark = self.mark.as_ref().map(|(t, ms)| (t.as_str(), *ms));
        self.cache
            .commit_issue_batch(&self.project, &records, mark)?;
        Ok(changed)
    }
}

/// The JQL that lists a project's issues changed since `since` (everything with `None`),
/// oldest change first.
pub fn project_jql(project: &str, since: Option<&str>) -> String {
    let window = since
        .map(|s| format!(" AND updated >= {}", super::quoted(s)))
        .unwrap_or_default();
    format!(
        "project = {}{window} ORDER BY updated ASC, key ASC",
        super::quoted(project)
    )
}

impl Syncer<'_> {
    /// Mirrors Jira project `project` into the cache: only what changed since the last sync,
    /// or (`full`) everything, dropping cached issues the project no longer has. Refused,
    /// before anything is sent, outside `policy.jira_projects`.
    pub async fn sync_project(
        &self,
        project: &str,
        full: bool,
        progress: &ProgressFn<'_>,
    ) -> Result<ScopeReport, SyncError> {
        let run = Run::new(Scope::jira(project));
        let result = self.project_body(&run, full, progress).await;
        run.finish(result)
    }

    async fn project_body(
        &self,
        run: &Run,
        full: bool,
        progress: &ProgressFn<'_>,
    ) -> Result<Done, Failure> {
        let key = run.scope().key;
        self.policy.admit_project(&key)?;
        let watermark = self.cache.watermark("jira", &key)?;
        let before = Arc::new(Before {
            watermark_ms: watermark.as_ref().map(|w| w.value_ms),
            cached: self.cache.issue_keys(&key)?.into_iter().collect(),
            full,
        });
        let since = watermark
            .as_ref()
            .filter(|_| !full)
            .map(|w| super::query_since(&w.value, w.value_ms));
        let jql = project_jql(&key, since.as_deref());
        let mirror = Mirror::new(self.api);

        // The listing runs up to AHEAD pages ahead of the commits: a slow commit (a WAL
        // checkpoint, a busy machine) never holds up the next request.
        let (tx, rx) = tokio::sync::mpsc::channel::<IssueBatch>(super::AHEAD);
        let jql = &jql;
        let list = async move {
            // For a bar: Cloud's count of what is to come, alongside the first page.
            let count = async {
                if self.totals {
                    let trace = CallTrace::new();
                    let n = mirror.issue_count(&trace, jql).await.ok().flatten();
                    run.add(&trace);
                    run.set_total(n);
                }
            };
            let (first, ()) = tokio::join!(self.issue_page(run, &mirror, jql, None), count);
            let mut batch = first?;
            let mut followed: HashSet<String> = HashSet::new();
            loop {
                if batch.total.is_some() {
                    run.set_total(batch.total);
                }
                // A page with nothing on it, or a cursor already followed, ends the listing
                // (Cloud's `isLast` is not always right).
                let next = batch
                    .next
                    .take()
                    .filter(|c| !batch.issues.is_empty() && followed.insert(c.clone()));
                if tx.send(batch).await.is_err() {
                    // The commits stopped (and say why).
                    return Ok(false);
                }
                match next {
                    Some(cursor) => {
                        batch = self.issue_page(run, &mirror, jql, Some(&cursor)).await?
                    }
                    None => return Ok::<bool, Failure>(true),
                }
            }
        };
        let store = async {
            // Owned here: when a commit fails the channel closes and the listing stops.
            let mut rx = rx;
            let mut mark_ms = watermark.as_ref().map(|w| w.value_ms);
            let mut seen: HashSet<String> = HashSet::new();
            while let Some(batch) = rx.recv().await {
                let listed = batch.issues.len();
                let mark = super::newest_after(
                    batch.issues.iter().map(|i| i.issue.updated.as_deref()),
                    mark_ms,
                );
                if let Some((_, ms)) = &mark {
                    mark_ms = Some(*ms);
                }
                let issues: Vec<(MirroredIssue, String)> = batch
                    .issues
                    .into_iter()
                    // Only issues that are (still) in the project, and that policy shows.
                    .filter(|i| records::project_of(&i.issue).eq_ignore_ascii_case(&key))
                    .filter(|i| {
                        self.policy
                            .issue_visible(&i.issue.key, i.issue.project_key.as_deref())
                    })
                    .map(|i| {
                        let url = self.api.issue_url(&i.issue.key);
                        (i, url)
                    })
                    .collect();
                seen.extend(issues.iter().map(|(i, _)| i.issue.key.clone()));
                let job = IssueJob {
                    cache: self.cache.clone(),
                    project: key.clone(),
                    issues,
                    mark,
                    before: Arc::clone(&before),
                };
                let changed = tokio::task::spawn_blocking(move || job.run())
                    .await
                    .map_err(|e| Failure::Internal(e.to_string()))??;
                run.committed(listed, changed);
                progress(&run.progress());
            }
            Ok::<_, Failure>(seen)
        };
        // Pages already listed are committed even when a later request fails: the next sync
        // resumes after them.
        let (listed, stored) = tokio::join!(list, store);
        let seen = stored?;
        if !listed? {
            return Err(Failure::Internal("the listing stopped early".to_string()));
        }
        let mut removed = 0;
        if full {
            let gone: Vec<String> = before
                .cached
                .iter()
                .filter(|k| !seen.contains(*k))
                .cloned()
                .collect();
            removed = self.cache.delete_issues(&gone)? as u64;
        }
        self.cache.finish_sync("jira", &key)?;
        let held = self.cache.issue_keys(&key)?.len() as u64;
        Ok(Done { held, removed })
    }

    /// One listing page on its own trace (its own retry budget), filed with the run.
    async fn issue_page(
        &self,
        run: &Run,
        mirror: &Mirror<'_>,
        jql: &str,
        cursor: Option<&str>,
    ) -> Result<IssueBatch, Failure> {
        let trace = CallTrace::new();
        let page = mirror.issues(&trace, jql, cursor).await;
        run.add(&trace);
        Ok(page?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_jql_lists_oldest_change_first_with_an_optional_window() {
        assert_eq!(
            project_jql("ENG", None),
            "project = \"ENG\" ORDER BY updated ASC, key ASC"
        );
        assert_eq!(
            project_jql("ENG", Some("2026-11-20 09:58")),
            "project = \"ENG\" AND updated >= \"2026-11-20 09:58\" ORDER BY updated ASC, key ASC"
        );
    }
}
