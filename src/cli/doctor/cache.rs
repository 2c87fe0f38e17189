//! The `cache` check: whether the local cache (SPEC §10) opens, what it holds and how old it
//! is, so a person knows before a flight what will be readable offline.

use super::Check;
use crate::cache::{Cache, CacheStats};
use crate::config::Settings;
use crate::mcp::offline::age_text;

/// What the local cache holds, its size against `[cache].max_bytes` and its age.
pub(super) fn cache(settings: &Settings) -> Check {
    const NAME: &str = "cache";
    let c = &settings.cache;
    if !c.enabled {
        return Check::skip(
            NAME,
            "cache.enabled = false: nothing is kept and nothing is answered offline",
        );
    }
    let shown = c.path.display();
    if !c.path.exists() {
        return Check::pass(
            NAME,
            format!(
                "no cache yet at {shown} (created by the first read); `atlassian-mcp-bridge sync --jira KEY` mirrors a project for offline use"
            ),
        );
    }
    let stats = match Cache::open(&c.path, c.max_bytes).and_then(|cache| cache.stats()) {
        Ok(s) => s,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("the local cache cannot be used: {e}"),
                "run `atlassian-mcp-bridge cache clear` to start a new one (the audit log and outbox stay)",
            );
        }
    };
    let detail = format!(
        "{shown}: {} (offline = {})",
        summary(&stats, c.max_bytes, crate::cache::now_ms()),
        c.offline.as_str()
    );
    if stats.data_bytes > c.max_bytes {
        return Check::warn(
            NAME,
            detail,
            "the oldest entries are dropped on the next write; raise cache.max_bytes to keep more",
        );
    }
    Check::pass(NAME, detail)
}

/// `64 issues in 2 projects, 8 pages in 1 space; 1.2 MB of 512 MB; copies 5 min – 3 days old;
/// last sync: ENG 2 h ago`.
fn summary(s: &CacheStats, max_bytes: u64, now: i64) -> String {
    let count = |v: &[crate::cache::ScopeStats]| v.iter().map(|x| x.count).sum::<u64>();
    let issues = count(&s.projects);
    let pages = count(&s.spaces);
    let mut out = format!(
        "{issues} issue{} in {} project{}, {pages} page{} in {} space{}; {} of {}",
        if issues == 1 { "" } else { "s" },
        s.projects.len(),
        if s.projects.len() == 1 { "" } else { "s" },
        if pages == 1 { "" } else { "s" },
        s.spaces.len(),
        if s.spaces.len() == 1 { "" } else { "s" },
        megabytes(s.data_bytes),
        megabytes(max_bytes)
    );
    let all = s.projects.iter().chain(&s.spaces);
    let newest = all.clone().map(|x| x.newest).max();
    let oldest = all.clone().map(|x| x.oldest).min();
    if let (Some(n), Some(o)) = (newest, oldest) {
        out.push_str(&format!(
            "; copies {} – {} old",
            age_text(now - n),
            age_text(now - o)
        ));
    }
    let synced: Vec<String> = all
        .filter_map(|x| {
            x.synced_at
                .map(|t| format!("{} {} ago", x.scope, age_text(now - t)))
        })
        .collect();
    if synced.is_empty() {
        out.push_str("; never synced");
    } else {
        out.push_str(&format!("; last sync: {}", synced.join(", ")));
    }
    out
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// The `outbox` check: writes queued while offline, and those the site refused.
pub(super) fn outbox(settings: &Settings) -> Check {
    use crate::outbox::{Outbox, Status};
    const NAME: &str = "outbox";
    let entries = match Outbox::new(&settings.cache.outbox_dir).list() {
        Ok(e) => e,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("the outbox cannot be read: {e}"),
                "check the permissions of the outbox directory under the home",
            );
        }
    };
    let queued = entries
        .iter()
        .filter(|e| e.status == Status::Queued)
        .count();
    let failed: Vec<String> = entries
        .iter()
        .filter(|e| e.status == Status::Failed)
        .map(|e| {
            let (target, summary) = crate::mcp::outbox::describe(e);
            format!(
                "{} {} {target} ({summary}): {}",
                e.id,
                e.tool,
                e.error.as_deref().unwrap_or("refused")
            )
        })
        .collect();
    if !failed.is_empty() {
        return Check::warn(
            NAME,
            format!(
                "{} queued write{} refused by the site: {}{}",
                failed.len(),
                if failed.len() == 1 { " was" } else { "s were" },
                failed.join("; "),
                if queued > 0 {
                    format!("; {queued} more waiting")
                } else {
                    String::new()
                }
            ),
            "see `atlassian-mcp-bridge outbox list`; fix and redo the write, then `atlassian-mcp-bridge outbox drop ID`",
        );
    }
    match queued {
        0 => Check::pass(NAME, "no writes waiting"),
        n => Check::pass(
            NAME,
            format!(
                "{n} write{} made offline waiting; sent by the next call that reaches the site, or `atlassian-mcp-bridge outbox send`",
                if n == 1 { "" } else { "s" }
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::ScopeStats;

    #[test]
    fn the_summary_counts_sizes_and_ages() {
        let now = 10 * 86_400_000;
        let s = CacheStats {
            projects: vec![ScopeStats {
                scope: "ENG".into(),
                count: 64,
                oldest: now - 3 * 86_400_000,
                newest: now - 5 * 60_000,
                synced_at: Some(now - 2 * 3_600_000),
            }],
            spaces: vec![ScopeStats {
                scope: "DOCS".into(),
                count: 1,
                oldest: now - 60_000,
                newest: now - 60_000,
                synced_at: None,
            }],
            data_bytes: 1_200_000,
            file_bytes: 2_000_000,
        };
        assert_eq!(
            summary(&s, 536_870_912, now),
            "64 issues in 1 project, 1 page in 1 space; 1.2 MB of 536.9 MB; copies 1 min – 3 days old; last sync: ENG 2 h ago"
        );
    }
}
