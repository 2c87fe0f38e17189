//! Paging through a whole JQL result set with a restricted field list, up to a limit, for
//! callers that aggregate rather than list (`jira_summarize_search`).
//!
//! Cloud pages with `nextPageToken` (`/rest/api/3/search/jql`), Data Center with `startAt`
//! (`/rest/api/2/search`); [`super::Jira::search_page`] hides the difference behind one cursor.
//! Every page is a request on the caller's [`CallTrace`], so retries share the tool call's
//! budget, and dropping the future between pages (a cancelled call) stops the scan.

use std::collections::HashSet;

use super::{Issue, Jira};
use crate::atlassian::ApiError;
use crate::atlassian::http::CallTrace;

/// Issues asked for per page: Cloud's enhanced search returns at most 100 issues per page
/// unless only `id`/`key` are requested, and Data Center admins often cap pages near there.
pub const SCAN_PAGE_SIZE: u32 = 100;

/// A scan in progress: call [`SearchScan::next_page`] until it returns `None`.
#[derive(Debug)]
pub struct SearchScan<'a> {
    jira: Jira<'a>,
    jql: String,
    fields: Vec<String>,
    limit: usize,
    fetched: usize,
    cursor: Option<String>,
    /// Cursors already followed: a repeated one would loop forever.
    followed: HashSet<String>,
    finished: bool,
    more: bool,
    total: Option<u64>,
    pages: u32,
}

impl<'a> SearchScan<'a> {
    pub(super) fn new(jira: Jira<'a>, jql: &str, fields: &[&str], limit: usize) -> Self {
        Self {
            jira,
            jql: jql.to_string(),
            fields: fields.iter().map(|f| (*f).to_string()).collect(),
            limit,
            fetched: 0,
            cursor: None,
            followed: HashSet::new(),
            finished: limit == 0,
            more: false,
            total: None,
            pages: 0,
        }
    }

    /// The next page of issues (never more than the limit in all), or `None` once the result
    /// set or the limit is exhausted.
    ///
    /// A page that brings no issues, or a cursor that was already followed, ends the scan:
    /// Cloud's `isLast` is known to be unreliable, and either would otherwise loop forever.
    pub async fn next_page(&mut self, trace: &CallTrace) -> Result<Option<Vec<Issue>>, ApiError> {
        if self.finished {
            return Ok(None);
        }
        let remaining = self.limit.saturating_sub(self.fetched);
        // `remaining` is at least 1 here (a scan at its limit is finished) and the page size
        // fits a u32.
        let size = u32::try_from(remaining)
            .unwrap_or(u32::MAX)
            .min(SCAN_PAGE_SIZE);
        let fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
        let page = self
            .jira
            .search_page(trace, &self.jql, &fields, size, self.cursor.as_deref())
            .await?;
        self.pages += 1;
        if page.total.is_some() {
            self.total = page.total;
        }
        let mut issues = page.issues;
        // A server that sends more than asked (cut to the page size by the search already):
        // keep the limit, and remember there was more.
        let overflow = page.cut || issues.len() > remaining;
        issues.truncate(remaining);
        self.fetched += issues.len();
        let stalled = issues.is_empty()
            || page
                .next_page_token
                .as_ref()
                .is_some_and(|c| !self.followed.insert(c.clone()));
        match page.next_page_token {
            Some(cursor) if !stalled => {
                if self.fetched >= self.limit {
                    self.finished = true;
                    self.more = true;
                } else {
                    self.cursor = Some(cursor);
                }
            }
            _ => {
                self.finished = true;
                self.more = overflow;
            }
        }
        Ok(Some(issues))
    }

    /// Issues returned so far.
    pub fn fetched(&self) -> usize {
        self.fetched
    }

    /// True when the scan stopped at its limit while the result set had more issues.
    pub fn capped(&self) -> bool {
        self.finished && self.more
    }

    /// Total matches, when the server reports one (Data Center; Cloud's search does not).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Pages requested so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use url::Url;

    use crate::atlassian::{Api, CallTrace, DEFAULT_API_BASE, RetryPolicy};
    use crate::config::Deployment;
    use crate::sandbox::{self, Sandbox, SandboxOptions};

    async fn site(deployment: Deployment) -> (Sandbox, Api) {
        let sb = sandbox::start(SandboxOptions::default())
            .await
            .expect("sandbox starts");
        let settings = crate::cli::serve::sandbox_site(&sb.base_url(), deployment).expect("site");
        let api = Api::new(
            &settings,
            &Url::parse(DEFAULT_API_BASE).expect("url"),
            None,
            RetryPolicy::default(),
        )
        .expect("api");
        (sb, api)
    }

    /// Scans the 114 seeded issues with `limit`: (keys, capped, pages, total).
    async fn scan(api: &Api, limit: usize) -> (Vec<String>, bool, u32, Option<u64>) {
        let trace = CallTrace::new();
        let jira = api.jira();
        let mut s = jira.scan(
            "project in (ENG, OPS, SEC) ORDER BY key ASC",
            &["summary", "status"],
            limit,
        );
        let mut keys = Vec::new();
        while let Some(page) = s.next_page(&trace).await.expect("page") {
            keys.extend(page.into_iter().map(|i| {
                assert!(i.status_category.is_some() && i.summary.is_some());
                assert!(
                    i.assignee.is_none() && i.project_key.is_none(),
                    "only asked fields"
                );
                i.key
            }));
        }
        assert_eq!(s.fetched(), keys.len());
        assert!(s.next_page(&trace).await.expect("done").is_none());
        assert_eq!(trace.upstream().len() as u32, s.pages());
        (keys, s.capped(), s.pages(), s.total())
    }

    #[tokio::test]
    async fn pages_up_to_the_limit_and_knows_when_it_capped() {
        for deployment in [Deployment::Cloud, Deployment::DataCenter] {
            let (_sb, api) = site(deployment).await;
            let dc_total = (deployment == Deployment::DataCenter).then_some(114);
            let (keys, capped, pages, total) = scan(&api, 1000).await;
            assert_eq!(
                (keys.len(), capped, pages, total),
                (114, false, 2, dc_total)
            );
            let unique: HashSet<&String> = keys.iter().collect();
            assert_eq!(unique.len(), 114);
            assert_eq!(keys.first().map(String::as_str), Some("ENG-1"));
            // Exactly the result set is not capped; one fewer is.
            let (keys, capped, pages, _) = scan(&api, 114).await;
            assert_eq!((keys.len(), capped, pages), (114, false, 2));
            let (short, capped, pages, _) = scan(&api, 113).await;
            assert_eq!((short.len(), capped, pages), (113, true, 2));
            assert_eq!(short[..], keys[..113]);
            let (keys, capped, pages, _) = scan(&api, 100).await;
            assert_eq!((keys.len(), capped, pages), (100, true, 1));
            let (keys, capped, pages, _) = scan(&api, 0).await;
            assert_eq!((keys.len(), capped, pages), (0, false, 0));
        }
    }
}
