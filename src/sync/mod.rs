//! Mirroring Jira projects and Confluence spaces into the local cache (SPEC §10): incremental
//! by watermark, committed batch by batch, with progress reported to the caller.
//!
//! A scope (one project or space) is listed oldest change first; each listing page is converted
//! and committed with the scope's watermark in one transaction, so a sync that is killed
//! resumes from its last committed page. The next page's request is in flight while the
//! current one is converted and committed on a blocking thread. Incremental runs ask only for
//! what changed since the watermark less [`OVERLAP_MS`] (clock skew, minute-granular query
//! dates, search indexes that lag); `--full` lists everything and then drops what the site no
//! longer has. This module knows nothing of MCP or of the command line: progress goes to a
//! callback, and the caller writes the audit record from the [`ScopeReport`] or [`SyncError`].
//!
//! - [`records`]: Atlassian's types → the cache's records (shared with the tools' write-through).
//! - `jira.rs`: a project; `confluence.rs`: a space.

mod confluence;
mod jira;
pub mod records;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::atlassian::{Api, ApiError, CallTrace};
use crate::audit::Upstream;
use crate::cache::{Cache, CacheError};
use crate::policy::{Policy, Refusal};

/// How far before the watermark an incremental listing starts again (2 minutes).
pub const OVERLAP_MS: i64 = 120_000;

/// How many listing pages may wait for their commit while the next ones are requested.
const AHEAD: usize = 2;

/// Changed keys or ids a report keeps (for the audit record's `touched`); past this only the
/// count is kept.
pub const MAX_CHANGED_IDS: usize = 200;

/// Jira project or Confluence space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// A Jira project.
    Jira,
    /// A Confluence space.
    Confluence,
}

impl ScopeKind {
    /// `jira` / `confluence`: the watermark kind and the audit argument name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Jira => "jira",
            ScopeKind::Confluence => "confluence",
        }
    }

    /// `issues` / `pages`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            ScopeKind::Jira => "issues",
            ScopeKind::Confluence => "pages",
        }
    }
}

/// One project or space to mirror.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Jira or Confluence.
    pub kind: ScopeKind,
    /// Project key (upper case) or space key (as given).
    pub key: String,
}

impl Scope {
    /// A Jira project (the key upper-cased, as Jira keys are).
    pub fn jira(key: &str) -> Self {
        Self {
            kind: ScopeKind::Jira,
            key: key.trim().to_ascii_uppercase(),
        }
    }

    /// A Confluence space.
    pub fn confluence(key: &str) -> Self {
        Self {
            kind: ScopeKind::Confluence,
            key: key.trim().to_string(),
        }
    }
}

/// Where a scope's sync stands, reported after every committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The scope.
    pub scope: Scope,
    /// Items listed so far.
    pub listed: u64,
    /// Items the listing will bring, when the site said (Data Center totals, Cloud's
    /// approximate count when asked for with [`Syncer::with_totals`]).
    pub total: Option<u64>,
    /// Items new or changed so far.
    pub changed: u64,
}

/// What one finished scope did.
#[derive(Debug, Clone)]
pub struct ScopeReport {
    /// The scope, its key as the site spells it.
    pub scope: Scope,
    /// Items of the scope in the cache now.
    pub held: u64,
    /// Items the listing brought (unchanged ones in the overlap included).
    pub listed: u64,
    /// Items new or changed since the last sync (what was actually fetched anew).
    pub changed: u64,
    /// Items dropped because the site no longer has them (`--full` only).
    pub removed: u64,
    /// Keys / ids of the changed items, at most [`MAX_CHANGED_IDS`].
    pub changed_ids: Vec<String>,
    /// Every Atlassian request made, in order.
    pub upstream: Vec<Upstream>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Why a scope did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Outside `policy.jira_projects` / `policy.confluence_spaces`: nothing was fetched.
    #[error("{0}")]
    Denied(String),
    /// The site has no such project or space (or this account cannot see it).
    #[error("{0}")]
    NotFound(String),
    /// Atlassian answered with an error, or not at all.
    #[error("{}", .0.user_message())]
    Api(ApiError),
    /// The local cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A worker thread died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// A scope that failed, with what it did before failing (for its audit record).
#[derive(Debug)]
pub struct SyncError {
    /// The scope.
    pub scope: Scope,
    /// Why.
    pub failure: Box<Failure>,
    /// Items committed before the failure (they stay cached, the watermark with them).
    pub changed: u64,
    /// Every Atlassian request made, in order.
    pub upstream: Vec<Upstream>,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.failure)
    }
}

impl std::error::Error for SyncError {}

impl SyncError {
    /// True when the site gave no HTTP answer (SPEC §10's "unreachable").
    pub fn is_unreachable(&self) -> bool {
        matches!(&*self.failure, Failure::Api(e) if e.is_unreachable())
    }

    /// True when policy refused the scope.
    pub fn is_denied(&self) -> bool {
        matches!(*self.failure, Failure::Denied(_))
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Denied(m) | Refusal::Invalid(m) => Failure::Denied(m),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

/// The progress callback.
pub type ProgressFn<'p> = dyn Fn(&Progress) + Send + Sync + 'p;

/// Mirrors scopes of one site into one cache under one policy.
#[derive(Debug, Clone, Copy)]
pub struct Syncer<'a> {
    api: &'a Api,
    cache: &'a Cache,
    policy: &'a Policy,
    totals: bool,
}

impl<'a> Syncer<'a> {
    /// A syncer; Cloud issue totals are not asked for (see [`Syncer::with_totals`]).
    pub fn new(api: &'a Api, cache: &'a Cache, policy: &'a Policy) -> Self {
        Self {
            api,
            cache,
            policy,
            totals: false,
        }
    }

    /// With `true`, a Jira Cloud sync also asks for the listing's approximate count (one more
    /// request, sent alongside the first page) so that progress has a total; for a bar.
    pub fn with_totals(mut self, totals: bool) -> Self {
        self.totals = totals;
        self
    }

    /// Mirrors one scope: [`Syncer::sync_project`] or [`Syncer::sync_space`].
    pub async fn sync(
        &self,
        scope: &Scope,
        full: bool,
        progress: &ProgressFn<'_>,
    ) -> Result<ScopeReport, SyncError> {
        match scope.kind {
            ScopeKind::Jira => self.sync_project(&scope.key, full, progress).await,
            ScopeKind::Confluence => self.sync_space(&scope.key, full, progress).await,
        }
    }
}

/// A scope's run in progress: its requests and its tallies, shared by the listing and the
/// commits.
struct Run {
    scope: Mutex<Scope>,
    started: Instant,
    requests: Mutex<Vec<Upstream>>,
    listed: AtomicU64,
    changed: AtomicU64,
    changed_ids: Mutex<Vec<String>>,
    total: Mutex<Option<u64>>,
}

/// What a scope's body returns on success.
struct Done {
    held: u64,
    removed: u64,
}

impl Run {
    fn new(scope: Scope) -> Self {
        Self {
            scope: Mutex::new(scope),
            started: Instant::now(),
            requests: Mutex::new(Vec::new()),
            listed: AtomicU64::new(0),
            changed: AtomicU64::new(0),
            changed_ids: Mutex::new(Vec::new()),
            total: Mutex::new(None),
        }
    }

    /// What the listing will bring, once the site said.
    fn set_total(&self, total: Option<u64>) {
        if let (Some(t), Ok(mut held)) = (total, self.total.lock()) {
            *held = Some(t);
        }
    }

    fn scope(&self) -> Scope {
        self.scope
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The key as the site spells it, once known.
    fn rename(&self, key: &str) {
        if let Ok(mut s) = self.scope.lock() {
            s.key = key.to_string();
        }
    }

    /// Files a finished request's trace.
    fn add(&self, trace: &CallTrace) {
        if let Ok(mut r) = self.requests.lock() {
            r.extend(trace.upstream());
        }
    }

    fn committed(&self, listed: usize, changed: Vec<String>) {
        self.listed.fetch_add(listed as u64, Ordering::Relaxed);
        self.changed
            .fetch_add(changed.len() as u64, Ordering::Relaxed);
        if let Ok(mut ids) = self.changed_ids.lock() {
            let room = MAX_CHANGED_IDS.saturating_sub(ids.len());
            ids.extend(changed.into_iter().take(room));
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            scope: self.scope(),
            listed: self.listed.load(Ordering::Relaxed),
            total: self.total.lock().ok().and_then(|t| *t),
            changed: self.changed.load(Ordering::Relaxed),
        }
    }

    fn take_requests(&self) -> Vec<Upstream> {
        self.requests
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    fn finish(self, result: Result<Done, Failure>) -> Result<ScopeReport, SyncError> {
        let upstream = self.take_requests();
        let scope = self.scope();
        let changed = self.changed.load(Ordering::Relaxed);
        match result {
            Ok(done) => Ok(ScopeReport {
                scope,
                held: done.held,
                listed: self.listed.load(Ordering::Relaxed),
                changed,
                removed: done.removed,
                changed_ids: self
                    .changed_ids
                    .lock()
                    .map(|mut i| std::mem::take(&mut *i))
                    .unwrap_or_default(),
                upstream,
                elapsed: self.started.elapsed(),
            }),
            Err(failure) => Err(SyncError {
                scope,
                failure: Box::new(failure),
                changed,
                upstream,
                elapsed: self.started.elapsed(),
            }),
        }
    }
}

/// The newest of `times` (as the site gave them) that is past `after_ms`: the watermark a
/// batch moves to, or `None` when it would not move forward.
fn newest_after<'t>(
    times: impl Iterator<Item = Option<&'t str>>,
    after_ms: Option<i64>,
) -> Option<(String, i64)> {
    let newest = times
        .flatten()
        .filter_map(|t| crate::cache::parse_site_time(t).map(|ms| (t, ms)))
        .max_by_key(|(_, ms)| *ms)?;
    (after_ms.is_none_or(|a| newest.1 > a)).then(|| (newest.0.to_string(), newest.1))
}

/// The date a JQL `updated >=` or CQL `lastmodified >=` clause starts from: the watermark
/// less [`OVERLAP_MS`], as `yyyy-MM-dd HH:mm` (minutes rounded down).
///
/// Query dates are read in the user's time zone, and the sites write timestamps in that zone
/// too (`…+1100`), so the date is written in the offset the watermark itself carries (UTC for
/// `Z`, or when it carries none).
pub fn query_since(watermark: &str, watermark_ms: i64) -> String {
    let offset = site_offset(watermark).unwrap_or(time::UtcOffset::UTC);
    let nanos = i128::from(watermark_ms.saturating_sub(OVERLAP_MS)) * 1_000_000;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]"
    ))
    .unwrap_or_default()
}

/// The UTC offset at the end of a site timestamp (`Z`, `+0000`, `-05:00`), if it has one.
fn site_offset(t: &str) -> Option<time::UtcOffset> {
    // Only a time carries an offset: `…T10:00:00.000+0100`, never a bare date.
    let (_, clock) = t.trim().split_once(['T', ' '])?;
    if clock.ends_with(['Z', 'z']) {
        return Some(time::UtcOffset::UTC);
    }
    let at = clock.rfind(['+', '-'])?;
    let (sign, rest) = clock[at..].split_at(1);
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i8 = digits.get(..2)?.parse().ok()?;
    let minutes: i8 = digits.get(2..)?.parse().ok()?;
    let k = if sign == "-" { -1 } else { 1 };
    time::UtcOffset::from_hms(k * hours, k * minutes, 0).ok()
}

/// A key or value quoted for JQL / CQL (`"` and `\` escaped).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: &str) -> i64 {
        crate::cache::parse_site_time(t).expect("time")
    }

    #[test]
    fn query_dates_start_two_minutes_before_the_watermark_rounded_down() {
        let wm = "2026-11-20T10:00:30.123+0000";
        assert_eq!(query_since(wm, ms(wm)), "2026-11-20 09:58");
        let wm = "2026-11-20T10:01:59.999Z";
        assert_eq!(query_since(wm, ms(wm)), "2026-11-20 09:59");
        // Across midnight and a year boundary.
        let wm = "2027-01-01T00:01:00.000Z";
        assert_eq!(query_since(wm, ms(wm)), "2026-12-31 23:59");
    }

    #[test]
    fn query_dates_use_the_offset_the_site_wrote_the_watermark_in() {
        // Jira writes times in the user's zone, and reads JQL dates in it too.
        let wm = "2026-11-20T21:00:00.000+1100";
        assert_eq!(query_since(wm, ms(wm)), "2026-11-20 20:58");
        let wm = "2026-11-20T05:00:00.000-05:00";
        assert_eq!(query_since(wm, ms(wm)), "2026-11-20 04:58");
        let wm = "2026-11-20T05:00:00.000-0530";
        assert_eq!(query_since(wm, ms(wm)), "2026-11-20 04:58");
        // No offset at all: UTC.
        assert_eq!(
            query_since("2026-11-20", ms("2026-11-20")),
            "2026-11-19 23:58"
        );
    }

    #[test]
    fn offsets_are_read_only_from_times() {
        assert_eq!(
            site_offset("2026-11-20T10:00:00Z"),
            Some(time::UtcOffset::UTC)
        );
        assert_eq!(
            site_offset("2026-11-20T10:00:00.000+0100"),
            time::UtcOffset::from_hms(1, 0, 0).ok()
        );
        assert_eq!(site_offset("2026-11-20"), None);
        assert_eq!(site_offset("2026-11-20T10:00:00"), None);
        assert_eq!(site_offset("2026-11-21"), None);
        assert_eq!(site_offset("garbage"), None);
        assert_eq!(site_offset(""), None);
    }

    #[test]
    fn the_watermark_only_moves_forward() {
        let times = [
            Some("2026-11-20T10:00:00.000+0000"),
            None,
            Some("2026-11-20T10:05:00.000+0000"),
            Some("not a time"),
            Some("2026-11-20T10:03:00.000+0000"),
        ];
        let newest = newest_after(times.iter().copied(), None).expect("a mark");
        assert_eq!(newest.0, "2026-11-20T10:05:00.000+0000");
        assert_eq!(newest.1, ms("2026-11-20T10:05:00.000+0000"));
        assert_eq!(newest_after(times.iter().copied(), Some(newest.1)), None);
        assert_eq!(
            newest_after(times.iter().copied(), Some(newest.1 - 1)).map(|m| m.1),
            Some(newest.1)
        );
        assert_eq!(newest_after([None, Some("x")].into_iter(), None), None);
    }

    #[test]
    fn keys_are_quoted_for_queries() {
        assert_eq!(quoted("ENG"), "\"ENG\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
