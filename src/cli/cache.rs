//! `cache stats|clear`: what the local cache holds, and removing it (SPEC §10).
//!
//! `stats` never creates the cache: with no file it says how to fill one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::CliError;
use super::sync::thousands;
use crate::cache::{Cache, CacheStats, ScopeStats, now_ms};
use crate::config::Settings;

/// The cache commands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Counts, size and age per project and space.
    Stats {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove the cache (the audit log, credentials and outbox stay).
    Clear,
}

/// Runs a cache command.
pub fn run(cmd: CacheCommand, settings: &Settings) -> Result<ExitCode, CliError> {
    match cmd {
        CacheCommand::Stats { json } => stats(settings, json),
        CacheCommand::Clear => clear(&settings.cache.path),
    }
}

fn stats(settings: &Settings, as_json: bool) -> Result<ExitCode, CliError> {
    let path = &settings.cache.path;
    if !path.exists() {
        if as_json {
            println!(
                "{}",
                json!({"path": path.display().to_string(), "exists": false})
            );
        } else {
            println!(
                "no cache yet at {}; run `atlassian-mcp-bridge sync --jira KEY` (or `--confluence SPACE`) to mirror a project or space, or use the tools online",
                path.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cache =
        Cache::open(path, settings.cache.max_bytes).context("cannot open the local cache")?;
    let stats = cache.stats().context("cannot read the local cache")?;
    let now = now_ms();
    if as_json {
        println!("{}", stats_json(path, settings, &stats));
    } else {
        print!("{}", stats_text(path, settings, &stats, now));
    }
    Ok(ExitCode::SUCCESS)
}

fn stats_json(path: &Path, settings: &Settings, stats: &CacheStats) -> serde_json::Value {
    let scopes = |list: &[ScopeStats]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|s| {
                json!({
                    "key": s.scope,
                    "count": s.count,
                    "oldest_copy": rfc3339(s.oldest),
                    "newest_copy": rfc3339(s.newest),
                    "last_sync": s.synced_at.map(rfc3339),
                })
            })
            .collect()
    };
    json!({
        "path": path.display().to_string(),
        "exists": true,
        "enabled": settings.cache.enabled,
        "projects": scopes(&stats.projects),
        "spaces": scopes(&stats.spaces),
        "data_bytes": stats.data_bytes,
        "file_bytes": stats.file_bytes,
        "max_bytes": settings.cache.max_bytes,
    })
}

fn stats_text(path: &Path, settings: &Settings, stats: &CacheStats, now: i64) -> String {
    let mut out = format!("Local cache: {}\n", path.display());
    if !settings.cache.enabled {
        out.push_str("(cache.enabled = false: the tools neither fill nor read it)\n");
    }
    let width = stats
        .projects
        .iter()
        .chain(&stats.spaces)
        .map(|s| s.scope.chars().count())
        .max()
        .unwrap_or(0);
    for (title, list, noun) in [
        ("Jira projects", &stats.projects, "issues"),
        ("Confluence spaces", &stats.spaces, "pages"),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for s in list.iter() {
            let copies = if s.count == 0 {
                String::new()
            } else if age(now, s.oldest) == age(now, s.newest) {
                format!(", copies {} old", age(now, s.oldest))
            } else {
                format!(
                    ", copies {} to {} old",
                    age(now, s.newest),
                    age(now, s.oldest)
                )
            };
            let synced = match s.synced_at {
                Some(t) => format!(", last sync {} ago", age(now, t)),
                None => ", never synced".to_string(),
            };
            out.push_str(&format!(
                "  {:<width$}  {:>7} {noun}{copies}{synced}\n",
                s.scope,
                thousands(s.count)
            ));
        }
    }
    if stats.projects.is_empty() && stats.spaces.is_empty() {
        out.push_str("Empty: run `atlassian-mcp-bridge sync --jira KEY` to mirror a project.\n");
    }
    out.push_str(&format!(
        "Size: {} of data, {} on disk (cache.max_bytes {})\n",
        bytes(stats.data_bytes),
        bytes(stats.file_bytes),
        bytes(settings.cache.max_bytes)
    ));
    out
}

/// Removes `cache.db` and its `-wal`/`-shm` companions, saying which were there.
fn clear(path: &Path) -> Result<ExitCode, CliError> {
    let present: Vec<PathBuf> = companions(path)
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    let removed = crate::cache::clear(path).context("cannot remove the local cache")?;
    if !removed && present.is_empty() {
        println!("no cache at {}; nothing to remove", path.display());
    } else {
        let names: Vec<String> = present.iter().map(|p| p.display().to_string()).collect();
        let names = if names.is_empty() {
            path.display().to_string()
        } else {
            names.join(", ")
        };
        println!("removed the local cache: {names}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `cache.db`, `cache.db-wal`, `cache.db-shm`.
fn companions(path: &Path) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        out.push(PathBuf::from(name));
    }
    out
}

/// How long ago `then_ms` was: `just now`, `45 s`, `20 min`, `5 h`, `3 days`.
fn age(now_ms: i64, then_ms: i64) -> String {
    let secs = (now_ms.saturating_sub(then_ms) / 1000).max(0);
    match secs {
        0..5 => "0 s".to_string(),
        5..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// `12.3 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Unix ms as RFC 3339 (UTC).
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_says_them() {
        let now = 1_000_000_000;
        assert_eq!(age(now, now), "0 s");
        assert_eq!(age(now, now - 45_000), "45 s");
        assert_eq!(age(now, now - 20 * 60_000), "20 min");
        assert_eq!(age(now, now - 5 * 3_600_000), "5 h");
        assert_eq!(age(now, now - 3 * 86_400_000), "3 days");
        assert_eq!(age(now, now + 10_000), "0 s");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(bytes(0), "0 bytes");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(536_870_912), "512.0 MiB");
    }

    #[test]
    fn companions_are_the_wal_and_shm_files() {
        let names: Vec<String> = companions(Path::new("/h/cache.db"))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(names, ["/h/cache.db", "/h/cache.db-wal", "/h/cache.db-shm"]);
    }

    #[test]
    fn stats_text_lists_each_scope_with_its_age() {
        let now = 1_800_000_000_000;
        let stats = CacheStats {
            projects: vec![ScopeStats {
                scope: "ENG".into(),
                count: 4812,
                oldest: now - 5 * 3_600_000,
                newest: now - 120_000,
                synced_at: Some(now - 120_000),
            }],
            spaces: vec![ScopeStats {
                scope: "DOCS".into(),
                count: 612,
                oldest: now - 3 * 86_400_000,
                newest: now - 3 * 86_400_000,
                synced_at: None,
            }],
            data_bytes: 1536,
            file_bytes: 4096,
        };
        let dir = std::env::temp_dir();
        let settings = settings_for(&dir);
        let text = stats_text(Path::new("/h/cache.db"), &settings, &stats, now);
        assert!(text.starts_with("Local cache: /h/cache.db\n"), "{text}");
        assert!(
            text.contains("  ENG     4,812 issues, copies 2 min to 5 h old, last sync 2 min ago\n"),
            "{text}"
        );
        assert!(
            text.contains("  DOCS      612 pages, copies 3 days old, never synced\n"),
            "{text}"
        );
        assert!(
            text.contains("Size: 1.5 KiB of data, 4.0 KiB on disk"),
            "{text}"
        );
        let v = stats_json(Path::new("/h/cache.db"), &settings, &stats);
        assert_eq!(v["projects"][0]["key"], "ENG");
        assert_eq!(v["projects"][0]["count"], 4812);
        assert_eq!(v["spaces"][0]["last_sync"], serde_json::Value::Null);
        assert_eq!(v["exists"], true);
    }

    fn settings_for(dir: &Path) -> Settings {
        let locations = crate::config::Locations {
            config_file: dir.join("no-such-config-for-cache-tests.toml"),
            explicit: false,
            data_dir: dir.to_path_buf(),
        };
        Settings::load(&locations).expect("defaults load")
    }
}
