//! The write journal ([`crate::journal`]) for one queued write that is not a bulk call (a
//! comment, a page): `begin`, `sent` before the request, `result` after the answer, `done` with
//! the result, under the entry's operation id — the same lines and lock as a bulk operation
//! with one item, so a crash between the request and its answer leaves the write "in doubt"
//! and the next try looks for it at the site before sending again.

use std::path::Path;

use serde_json::Value;

use super::Attempt;
use crate::journal::{ItemRecord, Journal, JournalEntry, JournalError, Replay};
use crate::outbox::now_rfc3339;

/// What opening the journal found.
pub(super) enum Opened {
    /// Finished earlier: its recorded result (nothing is sent again).
    Finished(Value),
    /// To run, or to go on with.
    Run(One),
}

/// An open, locked one-write journal.
pub(super) struct One {
    journal: Journal,
    replay: Replay,
}

fn journal_attempt(e: JournalError) -> Attempt {
    match e {
        JournalError::Busy(_) => Attempt::Busy,
        e => Attempt::waiting(e.to_string()),
    }
}

/// Opens the journal of `id` for `tool`; `fingerprint` catches an id reused for another write.
pub(super) fn open(dir: &Path, id: &str, tool: &str, fingerprint: &str) -> Result<Opened, Attempt> {
    let (mut journal, entries) = Journal::open(dir, id).map_err(journal_attempt)?;
    let replay = Replay::of(&entries);
    if let Some(done) = &replay.done {
        return Ok(Opened::Finished(done.clone()));
    }
    let same = replay
        .begin
        .as_ref()
        .is_some_and(|(t, _, n, fp)| t == tool && *n == 1 && fp == fingerprint);
    if !same {
        if !replay.settled.is_empty() || !replay.in_doubt.is_empty() {
            return Err(Attempt::refused(format!(
                "operation `{id}` was already used for a different write; drop this entry and make the call again"
            )));
        }
        journal
            .append(&JournalEntry::Begin {
                tool: tool.to_string(),
                started: now_rfc3339(),
                items: 1,
                fingerprint: fingerprint.to_string(),
            })
            .map_err(journal_attempt)?;
    }
    Ok(Opened::Run(One { journal, replay }))
}

impl One {
    /// The write's record, when an earlier try saw it created.
    pub(super) fn created(&self) -> Option<&ItemRecord> {
        self.replay.settled.get(&0).filter(|r| r.created())
    }

    /// True when an earlier try sent it and never learnt the answer.
    pub(super) fn in_doubt(&self) -> bool {
        self.replay.in_doubt.contains(&0)
    }

    /// Records that the write is about to be sent.
    pub(super) fn sending(&mut self) -> Result<(), Attempt> {
        self.journal
            .append(&JournalEntry::Sent { indexes: vec![0] })
            .map_err(journal_attempt)
    }

    /// Records the site's answer.
    pub(super) fn settle(&mut self, record: ItemRecord) -> Result<(), Attempt> {
        self.journal
            .append(&JournalEntry::Result {
                items: vec![record],
            })
            .map_err(journal_attempt)
    }

    /// Records the end, so a later try answers with `result` and sends nothing.
    pub(super) fn finish(mut self, result: Value) -> Result<Value, Attempt> {
        self.journal
            .append(&JournalEntry::Done {
                result: result.clone(),
            })
            .map_err(journal_attempt)?;
        Ok(result)
    }
}

/// A created record for the one item.
pub(super) fn created(key: Option<String>, id: String) -> ItemRecord {
    ItemRecord {
        i: 0,
        status: "created".into(),
        key,
        id: Some(id),
        error: None,
    }
}

/// A failed record for the one item.
pub(super) fn failed(error: String) -> ItemRecord {
    ItemRecord {
        i: 0,
        status: "failed".into(),
        key: None,
        id: None,
        error: Some(error),
    }
}
