//! Tests of what sync and the write-behind path rely on: watermarks committed with their batch
//! and never moved backwards, several processes writing one file, `put_later` + `flush`.

use super::tests::{issue, page, temp_cache};
use super::*;

#[test]
fn a_watermark_moves_forward_only_and_finishing_stamps_it() {
    let (_dir, cache) = temp_cache(1 << 30);
    assert_eq!(cache.watermark("jira", "ENG").unwrap(), None);
    cache
        .commit_issue_batch("eng", &[issue("ENG-1", "a", "b")], Some(("t2", 2_000)))
        .unwrap();
    let mark = cache.watermark("jira", "ENG").unwrap().unwrap();
    assert_eq!(
        (mark.value.as_str(), mark.value_ms, mark.synced_at),
        ("t2", 2_000, 0)
    );
    // An older mark (an overlapping page) leaves it where it is.
    cache
        .commit_issue_batch("ENG", &[issue("ENG-2", "a", "b")], Some(("t1", 1_000)))
        .unwrap();
    cache
        .commit_issue_batch("ENG", &[issue("ENG-3", "a", "b")], None)
        .unwrap();
    assert_eq!(
        cache.watermark("jira", "eng").unwrap().unwrap().value_ms,
        2_000
    );
    assert_eq!(cache.issue_keys("ENG").unwrap().len(), 3);
    cache.finish_sync("jira", "ENG").unwrap();
    let done = cache.watermark("jira", "ENG").unwrap().unwrap();
    assert!(done.synced_at > 0);
    cache
        .commit_issue_batch("ENG", &[], Some(("t3", 3_000)))
        .unwrap();
    let next = cache.watermark("jira", "ENG").unwrap().unwrap();
    assert_eq!((next.value_ms, next.synced_at), (3_000, 0));
    // Pages have their own.
    cache
        .commit_page_batch("DOCS", &[page("1", "DOCS", "t", "b")], Some(("p", 5)))
        .unwrap();
    assert_eq!(
        cache
            .watermark("confluence", "DOCS")
            .unwrap()
            .unwrap()
            .value_ms,
        5
    );
    assert_eq!(cache.watermark("jira", "DOCS").unwrap(), None);
    // Finishing a sync that committed nothing records the time without inventing a mark.
    cache.finish_sync("jira", "NEW").unwrap();
    assert_eq!(cache.watermark("jira", "NEW").unwrap(), None);
}

#[test]
fn a_failed_batch_leaves_the_old_watermark_and_none_of_its_rows() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache
        .commit_issue_batch("ENG", &[issue("ENG-1", "a", "b")], Some(("t1", 1_000)))
        .unwrap();
    // Another process's connection: a trigger makes one record of the next batch fail.
    rusqlite::Connection::open(cache.path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON issues WHEN NEW.key = 'ENG-99'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let batch = [issue("ENG-2", "a", "b"), issue("ENG-99", "a", "b")];
    let err = cache
        .commit_issue_batch("ENG", &batch, Some(("t2", 2_000)))
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(
        cache.watermark("jira", "ENG").unwrap().unwrap().value_ms,
        1_000
    );
    assert_eq!(cache.issue_keys("ENG").unwrap(), vec!["ENG-1"]);
    // The cache stays usable.
    cache
        .commit_issue_batch("ENG", &batch[..1], Some(("t2", 2_000)))
        .unwrap();
    assert_eq!(
        cache.watermark("jira", "ENG").unwrap().unwrap().value_ms,
        2_000
    );
}

#[test]
fn two_processes_writing_one_file_both_succeed() {
    let (_dir, first) = temp_cache(1 << 30);
    let path = first.path().to_path_buf();
    let second = Cache::open(&path, 1 << 30).unwrap();
    let write = |cache: Cache, project: &'static str| {
        std::thread::spawn(move || {
            for batch in 0..20 {
                let records: Vec<_> = (0..25)
                    .map(|n| issue(&format!("{project}-{}", batch * 25 + n), "word", "body"))
                    .collect();
                cache
                    .commit_issue_batch(project, &records, Some(("t", batch)))
                    .unwrap();
                cache
                    .issue(&format!("{project}-1"), &Confine::default())
                    .unwrap();
            }
        })
    };
    let a = write(first.clone(), "AAA");
    let b = write(second, "BBB");
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(first.issue_keys("AAA").unwrap().len(), 500);
    assert_eq!(first.issue_keys("BBB").unwrap().len(), 500);
}

#[test]
fn opening_one_new_file_from_several_processes_at_once_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Cache::open(&path, 1 << 30).map(drop))
        })
        .collect();
    for open in opens {
        open.join().unwrap().unwrap();
    }
}

#[test]
fn put_later_stores_in_order_and_flush_waits_for_it() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache.flush(); // nothing queued, no thread: returns at once
    for n in 1..=50 {
        cache.put_later(move || {
            let mut r = issue("ENG-1", &format!("version {n}"), "d");
            r.fetched_at = n;
            Batch::Issues(vec![r])
        });
    }
    cache.put_later(|| Batch::Pages(vec![page("7", "DOCS", "t", "b")]));
    cache.put_later(|| panic!("a job that fails"));
    cache.put_later(|| Batch::Issues(vec![issue("ENG-2", "after the panic", "d")]));
    cache.flush();
    let got = cache.issue("ENG-1", &Confine::default()).unwrap().unwrap();
    assert_eq!(got.record.summary, "version 50");
    assert!(cache.page("7", &Confine::default()).unwrap().is_some());
    assert!(cache.issue("ENG-2", &Confine::default()).unwrap().is_some());
}

#[test]
fn the_writer_thread_ends_with_the_last_handle() {
    let (_dir, cache) = temp_cache(1 << 30);
    cache.put_later(|| Batch::Issues(vec![issue("ENG-1", "a", "b")]));
    cache.flush();
    let wal = sibling(cache.path(), "-wal");
    assert!(wal.exists());
    drop(cache);
    // SQLite removes the WAL when the last connection closes: the writer thread's included.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while wal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        !wal.exists(),
        "the writer thread still holds the cache open"
    );
}

#[test]
fn a_cache_can_be_shared_across_threads_and_tasks() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Cache>();
}
