//! Tests of the store: opening, upserts, reads, confinement, filtered search, deletion, stats,
//! eviction and the record round trip. Helpers here are shared with the other cache tests.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rusqlite::types::Value;

use super::*;
use crate::cache::{Ancestor, CommentRecord, LinkRecord, Person, query::SqlFilter};

/// A cache in a fresh temporary directory (kept alive by the returned guard).
pub(in crate::cache) fn temp_cache(max_bytes: u64) -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(&dir.path().join("home").join("cache.db"), max_bytes).unwrap();
    (dir, cache)
}

/// A small issue: key, summary, description.
pub(in crate::cache) fn issue(key: &str, summary: &str, description: &str) -> IssueRecord {
    IssueRecord {
        key: key.into(),
        project: key.split('-').next().unwrap().into(),
        summary: summary.into(),
        status: Some("To Do".into()),
        updated: Some("2026-01-02T03:04:05.000+0000".into()),
        description: Some(description.into()),
        comments: Some(Vec::new()),
        fetched_at: 1_000,
        ..IssueRecord::default()
    }
}

/// A small page: id, space, title, body.
pub(in crate::cache) fn page(id: &str, space: &str, title: &str, body: &str) -> PageRecord {
    PageRecord {
        id: id.into(),
        space: space.into(),
        title: title.into(),
        kind: "page".into(),
        storage: Some(format!("<p>{body}</p>")),
        body: Some(body.into()),
        fetched_at: 1_000,
        ..PageRecord::default()
    }
}

fn full_issue() -> IssueRecord {
    IssueRecord {
        key: "ENG-12".into(),
        project: "ENG".into(),
        summary: "Login fails on Safari".into(),
        status: Some("In Progress".into()),
        status_category: Some("indeterminate".into()),
        issue_type: Some("Bug".into()),
        priority: Some("High".into()),
        assignee: Some(Person {
            id: Some("acc-1".into()),
            name: Some("Ada".into()),
        }),
        reporter: Some(Person {
            id: None,
            name: Some("Bob".into()),
        }),
        labels: vec!["web".into(), "ß-ü".into()],
        created: Some("2026-01-01T10:00:00.000+0000".into()),
        updated: Some("2026-01-02T10:00:00.000+0000".into()),
        due: Some("2026-02-01".into()),
        resolution: None,
        parent: Some("ENG-1".into()),
        components: vec!["auth".into()],
        subtasks: vec!["ENG-13".into()],
        links: vec![LinkRecord {
            relation: "blocks".into(),
            key: "ENG-14".into(),
            summary: Some("Other".into()),
            status: None,
        }],
        url: Some("https://x.atlassian.net/browse/ENG-12".into()),
        description: Some("Steps:\n1. open\n2. \"log in\"".into()),
        comments: Some(vec![CommentRecord {
            author: "Ada".into(),
            created: Some("2026-01-02T10:00:00.000+0000".into()),
            body: "seen it".into(),
        }]),
        comment_total: Some(3),
        fetched_at: 1_700_000_000_000,
        partial: false,
    }
}

fn full_page() -> PageRecord {
    PageRecord {
        id: "98765".into(),
        space: "DOCS".into(),
        space_id: Some("123".into()),
        title: "Runbook".into(),
        kind: "blogpost".into(),
        labels: vec!["ops".into()],
        ancestors: vec![Ancestor {
            id: "1".into(),
            title: Some("Home".into()),
        }],
        parent_id: Some("1".into()),
        version: Some(7),
        author: Some("Ada".into()),
        last_editor: Some("Bob".into()),
        last_modified: Some("2026-01-02T10:00:00.000Z".into()),
        url: Some("https://x.atlassian.net/wiki/x".into()),
        storage: Some("<p>hi</p>".into()),
        body: Some("hi".into()),
        fetched_at: 1_700_000_000_000,
    }
}

fn all() -> Confine {
    Confine::default()
}

fn sql(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn count(path: &Path, sql_text: &str) -> i64 {
    sql(path).query_row(sql_text, [], |r| r.get(0)).unwrap()
}

#[cfg(unix)]
#[test]
fn open_creates_a_private_wal_database_and_tightens_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, cache) = temp_cache(1 << 30);
    let mode = std::fs::metadata(cache.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let journal: String = sql(cache.path())
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let version: i64 = sql(cache.path())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, crate::cache::schema::MIGRATIONS.len() as i64);
    let path = cache.path().to_path_buf();
    drop(cache);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Cache::open(&path, 1 << 30).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn reopening_keeps_the_data() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache.put_issues(&[full_issue()]).unwrap();
    cache.put_pages(&[full_page()]).unwrap();
    let path = cache.path().to_path_buf();
    drop(cache);
    let again = Cache::open(&path, 1 << 30).unwrap();
    assert_eq!(
        again.issue("ENG-12", &all()).unwrap().unwrap().record,
        full_issue()
    );
    assert_eq!(
        again.page("98765", &all()).unwrap().unwrap().record,
        full_page()
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, cache) = temp_cache(1 << 30);
    let path = cache.path().to_path_buf();
    drop(cache);
    sql(&path).pragma_update(None, "user_version", 99).unwrap();
    match Cache::open(&path, 1 << 30) {
        Err(CacheError::TooNew {
            found: 99,
            supported,
            ..
        }) => {
            assert_eq!(supported, crate::cache::schema::MIGRATIONS.len() as i64)
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_a_db_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    match Cache::open(&path, 1 << 30) {
        Err(e @ CacheError::Db { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}")
        }
        other => panic!("expected a Db error, got {other:?}"),
    }
}

#[test]
fn records_round_trip() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache.put_issues(&[full_issue()]).unwrap();
    cache.put_pages(&[full_page()]).unwrap();
    let got = cache.issue("ENG-12", &all()).unwrap().unwrap();
    assert_eq!(got.record, full_issue());
    assert_eq!(got.fetched_at, 1_700_000_000_000);
    assert_eq!(
        cache.page("98765", &all()).unwrap().unwrap().record,
        full_page()
    );
    // Derived columns.
    let (num, created_ms): (i64, i64) = sql(cache.path())
        .query_row("SELECT num, created_ms FROM issues", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((num, created_ms), (12, 1_767_261_600_000));
    // A sparse record comes back as sparse (absent parts stay absent).
    let sparse = IssueRecord {
        key: "OPS-1".into(),
        project: "OPS".into(),
        fetched_at: 5,
        ..IssueRecord::default()
    };
    cache.put_issues(std::slice::from_ref(&sparse)).unwrap();
    assert_eq!(
        cache.issue("OPS-1", &all()).unwrap().unwrap().record,
        sparse
    );
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

prop_compose! {
    fn any_issue()(
        n in 1u32..100_000, summary in text(), status in opt_text(), labels in proptest::collection::vec(text(), 0..3),
        assignee in proptest::option::of((opt_text(), text())), description in opt_text(),
        comments in proptest::option::of(proptest::collection::vec((text(), opt_text(), text()), 0..3)),
        comment_total in proptest::option::of(0u64..1000), components in proptest::collection::vec(text(), 0..2),
        url in opt_text(), fetched_at in 1i64..i64::MAX,
    ) -> IssueRecord {
        IssueRecord {
            key: format!("PRO-{n}"),
            project: "PRO".into(),
            summary, status, labels, description, comment_total, components, url, fetched_at,
            assignee: assignee.map(|(id, name)| Person { id, name: Some(name) }),
            comments: comments.map(|c| c.into_iter().map(|(author, created, body)| CommentRecord { author, created, body }).collect()),
            ..IssueRecord::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_issue_round_trips(record in any_issue()) {
        let (_dir, cache) = temp_cache(1 << 30);
        cache.put_issues(std::slice::from_ref(&record)).unwrap();
        let got = cache.issue(&record.key, &all()).unwrap().unwrap();
        prop_assert_eq!(got.record, record);
    }
}

#[test]
fn a_partial_record_keeps_the_cached_description_comments_and_body() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache.put_issues(&[full_issue()]).unwrap();
    cache.put_pages(&[full_page()]).unwrap();
    let mut partial = full_issue();
    partial.summary = "Renamed".into();
    partial.description = None;
    partial.comments = None;
    cache.put_issues(&[partial]).unwrap();
    let got = cache.issue("ENG-12", &all()).unwrap().unwrap().record;
    assert_eq!(got.summary, "Renamed");
    assert_eq!(got.description, full_issue().description);
    assert_eq!(got.comments, full_issue().comments);
    let mut partial = full_page();
    partial.storage = None;
    partial.body = None;
    partial.version = Some(8);
    cache.put_pages(&[partial]).unwrap();
    let got = cache.page("98765", &all()).unwrap().unwrap().record;
    assert_eq!(
        (got.version, got.body, got.storage),
        (Some(8), full_page().body, full_page().storage)
    );
    // The kept text is still searchable.
    let hits = cache
        .local_search(
            &crate::cache::LocalQuery {
                text: "seen".into(),
                jira: true,
                confluence: false,
                limit: 5,
            },
            &all(),
        )
        .unwrap();
    assert_eq!(hits.len(), 1);
    // Upserts keep the rowid (the FTS rows hang off it) and one FTS row per item.
    assert_eq!(count(cache.path(), "SELECT COUNT(*) FROM issues_fts"), 1);
    assert_eq!(count(cache.path(), "SELECT MAX(rowid) FROM issues"), 1);
}

#[test]
fn reads_ignore_case_and_mark_rows_read() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache.put_issues(&[issue("ENG-12", "a", "b")]).unwrap();
    let before = count(cache.path(), "SELECT read_at FROM issues");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let got = cache.issue(" eng-12 ", &all()).unwrap().unwrap();
    assert_eq!(got.record.key, "ENG-12");
    assert!(count(cache.path(), "SELECT read_at FROM issues") > before);
    assert_eq!(cache.issue("ENG-13", &all()).unwrap(), None);
    assert_eq!(cache.page("1", &all()).unwrap(), None);
}

#[test]
fn confinement_hides_other_projects_and_spaces() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache
        .put_issues(&[issue("ENG-1", "a", "b"), issue("OPS-1", "a", "b")])
        .unwrap();
    cache
        .put_pages(&[page("1", "DOCS", "t", "b"), page("2", "HR", "t", "b")])
        .unwrap();
    let confine = Confine {
        projects: Some(vec!["eng".into()]),
        spaces: Some(vec!["docs".into()]),
    };
    assert!(cache.issue("ENG-1", &confine).unwrap().is_some());
    assert!(cache.issue("OPS-1", &confine).unwrap().is_none());
    assert!(cache.page("1", &confine).unwrap().is_some());
    assert!(cache.page("2", &confine).unwrap().is_none());
    let every = SqlFilter {
        where_sql: "1".into(),
        params: vec![],
        order_sql: "issues.key".into(),
    };
    let (found, total) = cache.search_issues(&every, &confine, 0, 10).unwrap();
    assert_eq!((found.len(), total), (1, 1));
    let none = Confine {
        projects: Some(vec![]),
        spaces: Some(vec![]),
    };
    assert_eq!(cache.search_issues(&every, &none, 0, 10).unwrap().1, 0);
    let every = SqlFilter {
        where_sql: "1".into(),
        params: vec![],
        order_sql: "pages.id".into(),
    };
    let (found, total) = cache.search_pages(&every, &confine, 0, 10).unwrap();
    assert_eq!((found[0].record.id.as_str(), total), ("1", 1));
}

#[test]
fn filtered_search_pages_through_in_the_filter_order_with_a_total() {
    let (_dir, cache) = temp_cache(1 << 30);
    let mut records = Vec::new();
    for n in 1..=7 {
        let mut r = issue(&format!("ENG-{n}"), "s", "d");
        r.status = Some(if n % 2 == 0 { "Done" } else { "To Do" }.into());
        r.updated = Some(format!("2026-01-0{n}T00:00:00.000Z"));
        records.push(r);
    }
    cache.put_issues(&records).unwrap();
    let filter = SqlFilter {
        where_sql: "issues.status = ?".into(),
        params: vec![Value::Text("To Do".into())],
        order_sql: "issues.updated_ms DESC, issues.project, issues.num".into(),
    };
    let keys = |offset| {
        let (found, total) = cache.search_issues(&filter, &all(), offset, 3).unwrap();
        (
            found.into_iter().map(|c| c.record.key).collect::<Vec<_>>(),
            total,
        )
    };
    assert_eq!(
        keys(0),
        (vec!["ENG-7".to_string(), "ENG-5".into(), "ENG-3".into()], 4)
    );
    assert_eq!(keys(3), (vec!["ENG-1".to_string()], 4));
    assert_eq!(keys(6), (vec![], 4));
    let confined = Confine {
        projects: Some(vec!["OPS".into()]),
        spaces: None,
    };
    assert_eq!(cache.search_issues(&filter, &confined, 0, 3).unwrap().1, 0);
}

#[test]
fn deleting_removes_rows_and_their_index_entries() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache
        .put_issues(&[issue("ENG-1", "kiwi", "x"), issue("ENG-2", "kiwi", "y")])
        .unwrap();
    cache.put_pages(&[page("1", "DOCS", "kiwi", "b")]).unwrap();
    assert_eq!(cache.issue_keys("eng").unwrap(), vec!["ENG-1", "ENG-2"]);
    assert_eq!(cache.page_ids("docs").unwrap(), vec!["1"]);
    let n = cache
        .delete_issues(&["eng-1".into(), "ENG-9".into()])
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(cache.delete_pages(&["1".into()]).unwrap(), 1);
    let q = crate::cache::LocalQuery {
        text: "kiwi".into(),
        jira: true,
        confluence: true,
        limit: 10,
    };
    let ids: Vec<String> = cache
        .local_search(&q, &all())
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, vec!["ENG-2"]);
    assert_eq!(count(cache.path(), "SELECT COUNT(*) FROM issues_fts"), 1);
    assert_eq!(count(cache.path(), "SELECT COUNT(*) FROM pages_fts"), 0);
}

#[test]
fn eviction_drops_the_least_recently_read_rows_first() {
    let big = "lorem ipsum ".repeat(500); // 6,000 bytes
    // Room for four such issues and the page (its storage and body: 12,000): the next issue
    // forces eviction down to 90 %.
    let (_dir, cache) = temp_cache(40_000);
    let tick = || std::thread::sleep(std::time::Duration::from_millis(3));
    for n in 1..=4 {
        cache
            .put_issues(&[issue(&format!("ENG-{n}"), "s", &big)])
            .unwrap();
        tick();
    }
    cache.put_pages(&[page("1", "DOCS", "t", &big)]).unwrap();
    tick();
    // Read the oldest two: now ENG-3 is the least recently read, then ENG-4.
    assert!(cache.issue("ENG-1", &all()).unwrap().is_some());
    assert!(cache.issue("ENG-2", &all()).unwrap().is_some());
    tick();
    cache.put_issues(&[issue("ENG-5", "s", &big)]).unwrap();
    let keys = cache.issue_keys("ENG").unwrap();
    assert_eq!(keys, vec!["ENG-1", "ENG-2", "ENG-5"]);
    assert_eq!(cache.page_ids("DOCS").unwrap(), vec!["1"]);
    let stats = cache.stats().unwrap();
    assert!(stats.data_bytes <= 36_000, "{stats:?}");
    assert_eq!(count(cache.path(), "SELECT COUNT(*) FROM issues_fts"), 3);
}

#[test]
fn stats_count_scopes_and_sizes_and_clear_removes_the_files() {
    let (dir, cache) = temp_cache(1 << 30);
    let mut a = issue("ENG-1", "a", "b");
    a.fetched_at = 10;
    let mut b = issue("ENG-2", "a", "b");
    b.fetched_at = 20;
    cache.put_issues(&[a, b, issue("OPS-1", "a", "b")]).unwrap();
    cache.put_pages(&[page("1", "DOCS", "t", "b")]).unwrap();
    cache.finish_sync("jira", "eng").unwrap();
    cache.finish_sync("confluence", "EMPTY").unwrap();
    let stats = cache.stats().unwrap();
    let eng = &stats.projects[0];
    assert_eq!(
        (eng.scope.as_str(), eng.count, eng.oldest, eng.newest),
        ("ENG", 2, 10, 20)
    );
    assert!(eng.synced_at.is_some());
    assert_eq!(stats.projects[1].synced_at, None);
    let spaces: Vec<(&str, u64)> = stats
        .spaces
        .iter()
        .map(|s| (s.scope.as_str(), s.count))
        .collect();
    assert_eq!(spaces, vec![("DOCS", 1), ("EMPTY", 0)]);
    assert!(
        stats.data_bytes > 0 && stats.file_bytes > stats.data_bytes,
        "{stats:?}"
    );
    let path: PathBuf = cache.path().to_path_buf();
    drop(cache);
    assert!(clear(&path).unwrap());
    assert!(!path.exists());
    assert!(!clear(&dir.path().join("home")).unwrap());
}

#[test]
fn a_search_row_keeps_what_only_a_full_read_knows() {
    let (_dir, cache) = temp_cache(1 << 30);
    let full = full_issue();
    cache.put_issues(std::slice::from_ref(&full)).unwrap();
    let row = IssueRecord {
        summary: "Renamed".into(),
        resolution: None,
        components: Vec::new(),
        subtasks: Vec::new(),
        links: Vec::new(),
        description: None,
        comments: None,
        comment_total: None,
        partial: true,
        ..full.clone()
    };
    cache.put_issues(&[row]).unwrap();
    let got = cache.issue(&full.key, &all()).unwrap().unwrap().record;
    assert_eq!(got.summary, "Renamed");
    assert_eq!(got.resolution, full.resolution);
    assert_eq!(got.components, full.components);
    assert_eq!(got.links, full.links);
    assert_eq!(got.comment_total, full.comment_total);
    assert_eq!(got.description, full.description);
    // A full read may clear them.
    let cleared = IssueRecord {
        resolution: None,
        components: Vec::new(),
        ..full.clone()
    };
    cache.put_issues(&[cleared]).unwrap();
    let got = cache.issue(&full.key, &all()).unwrap().unwrap().record;
    assert_eq!(got.resolution, None);
    assert!(got.components.is_empty());
}

#[test]
fn a_read_of_fewer_latest_comments_keeps_the_longer_cached_list() {
    let (_dir, cache) = temp_cache(1 << 30);
    let mut full = full_issue();
    let comment = |n: usize| crate::cache::CommentRecord {
        author: "Dana".into(),
        created: Some(format!("2026-11-{n:02}T10:00:00.000+0000")),
        body: format!("comment {n}"),
    };
    full.comments = Some((1..=20).map(comment).collect());
    cache.put_issues(std::slice::from_ref(&full)).unwrap();
    // The latest five, as jira_get_issue reads them.
    let latest = IssueRecord {
        comments: Some((16..=20).map(comment).collect()),
        ..full.clone()
    };
    cache.put_issues(&[latest]).unwrap();
    let got = cache.issue(&full.key, &all()).unwrap().unwrap().record;
    assert_eq!(got.comments.as_ref().map(Vec::len), Some(20));
    // A new comment since: the read's list wins.
    let newer = IssueRecord {
        comments: Some((17..=21).map(comment).collect()),
        ..full.clone()
    };
    cache.put_issues(&[newer]).unwrap();
    let got = cache.issue(&full.key, &all()).unwrap().unwrap().record;
    assert_eq!(got.comments.as_ref().map(Vec::len), Some(5));
}
