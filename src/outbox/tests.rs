//! Unit tests of the outbox store: queue, list, lock, mark, drop, permissions.

use super::*;
use serde_json::json;

fn outbox() -> (tempfile::TempDir, Outbox) {
    let home = tempfile::tempdir().unwrap();
    let ob = Outbox::new(home.path().join("outbox"));
    (home, ob)
}

fn queue(ob: &Outbox, id: &str, summary: &str) -> QueuedWrite {
    ob.queue(
        id,
        "jira_create_issue",
        json!({"project": "ENG", "summary": summary}),
        "rec-1",
        "https://acme.atlassian.net/",
    )
    .unwrap()
}

#[test]
fn queue_list_get_and_drop() {
    let (_home, ob) = outbox();
    assert!(ob.list().unwrap().is_empty(), "no directory yet is empty");
    let a = queue(&ob, "op-a", "first");
    std::thread::sleep(std::time::Duration::from_millis(5));
    queue(&ob, "op-b", "second");
    assert_eq!(a.status, Status::Queued);
    assert_eq!(a.attempts, 0);
    let ids: Vec<String> = ob.list().unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["op-a", "op-b"], "oldest first");
    assert_eq!(ob.get("op-a").unwrap().unwrap().args["summary"], "first");
    assert!(ob.has_queued());
    assert_eq!(ob.drop("op-a").unwrap().id, "op-a");
    assert!(ob.get("op-a").unwrap().is_none());
    assert!(matches!(ob.drop("op-a"), Err(OutboxError::NotFound(_))));
    assert!(!ob.dir().join("op-a.lock").exists(), "no lock file is left");
    assert!(matches!(ob.drop("../x"), Err(OutboxError::BadId(_))));
    assert_eq!(ob.list().unwrap().len(), 1);
}

#[test]
fn queuing_again_is_idempotent_and_a_different_write_is_refused() {
    let (_home, ob) = outbox();
    let a = queue(&ob, "op", "same");
    assert_eq!(queue(&ob, "op", "same"), a);
    let other = ob.queue("op", "jira_create_issue", json!({"x": 1}), "r", "s");
    assert!(matches!(other, Err(OutboxError::Conflict(_))), "{other:?}");
}

#[test]
fn sent_entries_go_failed_ones_stay_with_their_reason() {
    let (_home, ob) = outbox();
    let a = queue(&ob, "op-a", "a");
    let b = queue(&ob, "op-b", "b");
    let lock = ob.lock("op-a").unwrap().unwrap();
    ob.mark_sent(lock, a, json!({"key": "ENG-1"})).unwrap();
    assert!(ob.get("op-a").unwrap().is_none());
    assert!(
        !ob.dir().join("op-a.json").exists(),
        "sent entries are removed"
    );
    let lock = ob.lock("op-b").unwrap().unwrap();
    ob.mark_retry(&lock, b.clone(), "could not reach Jira")
        .unwrap();
    let again = ob.get("op-b").unwrap().unwrap();
    assert_eq!((again.status, again.attempts), (Status::Queued, 1));
    ob.mark_failed(&lock, again, "Jira answered 400: no such project")
        .unwrap();
    drop(lock);
    let listed = ob.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, Status::Failed);
    assert_eq!(listed[0].attempts, 2);
    assert!(listed[0].error.as_deref().unwrap().contains("400"));
    assert!(!ob.has_queued(), "a failed entry is not waiting");
}

#[test]
fn one_holder_at_a_time() {
    let (_home, ob) = outbox();
    queue(&ob, "op", "x");
    let held = ob.lock("op").unwrap().unwrap();
    assert!(ob.lock("op").unwrap().is_none(), "a second lock fails");
    assert!(matches!(ob.drop("op"), Err(OutboxError::Busy(_))));
    drop(held);
    assert!(ob.lock("op").unwrap().is_some());
}

#[test]
fn stray_sent_and_broken_files_are_not_listed() {
    let (_home, ob) = outbox();
    let a = queue(&ob, "op-a", "a");
    let mut sent = a.clone();
    sent.status = Status::Sent;
    std::fs::write(
        ob.dir().join("op-a.json"),
        serde_json::to_vec(&sent).unwrap(),
    )
    .unwrap();
    std::fs::write(ob.dir().join("broken.json"), b"{not json").unwrap();
    assert!(ob.list().unwrap().is_empty());
    assert!(
        !ob.dir().join("op-a.json").exists(),
        "the sent leftover is cleaned"
    );
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_home, ob) = outbox();
    queue(&ob, "op", "x");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(ob.dir()), 0o700);
    assert_eq!(mode(&ob.dir().join("op.json")), 0o600);
    assert_eq!(mode(&ob.dir().join("op.lock")), 0o600);
}
