//! The write-behind thread behind [`super::Cache::put_later`]: one std thread per cache, started
//! on first use, with its own connection. It runs the queued jobs in order and stores their
//! batches; `flush` sends a barrier and waits for its answer. The thread ends when the last
//! handle is dropped (the queue closes) and never keeps the process alive.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

use super::Batch;
use super::db::Db;

/// A job for the thread: builds the records to store.
pub(super) type Job = Box<dyn FnOnce() -> Batch + Send + 'static>;

enum Msg {
    Job(Job),
    /// Answered once everything queued before it is done.
    Barrier(Sender<()>),
}

/// The queue to the thread, once started.
#[derive(Debug, Default)]
pub(super) struct Writer {
    queue: Mutex<Option<Sender<Msg>>>,
}

impl Writer {
    /// Queues `job`, starting the thread when needed; gives the job back when no thread
    /// could be started.
    pub(super) fn send(&self, path: &Path, max_bytes: u64, job: Job) -> Option<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let mut msg = Msg::Job(job);
        // A second try covers a thread that is gone (it never should be: panics are caught).
        for _ in 0..2 {
            if queue.is_none() {
                *queue = start(path.to_path_buf(), max_bytes);
            }
            let Some(tx) = queue.as_ref() else { break };
            match tx.send(msg) {
                Ok(()) => return None,
                Err(back) => {
                    msg = back.0;
                    *queue = None;
                }
            }
        }
        match msg {
            Msg::Job(job) => Some(job),
            Msg::Barrier(_) => None,
        }
    }

    /// Waits until the thread has handled everything queued so far.
    pub(super) fn flush(&self) {
        let (done, wait) = channel();
        {
            let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let Some(tx) = queue.as_ref() else { return };
            if tx.send(Msg::Barrier(done)).is_err() {
                return;
            }
        }
        // An error means the thread is gone, so nothing is left to wait for.
        let _ = wait.recv();
    }
}

fn start(path: PathBuf, max_bytes: u64) -> Option<Sender<Msg>> {
    let (tx, rx) = channel();
    let spawned = std::thread::Builder::new()
        .name("cache-writer".into())
        .spawn(move || run(&path, max_bytes, rx));
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::warn!(error = %e, "the local cache could not start its writer thread");
            None
        }
    }
}

fn run(path: &Path, max_bytes: u64, rx: Receiver<Msg>) {
    let mut db: Option<Db> = None;
    while let Ok(msg) = rx.recv() {
        let job = match msg {
            Msg::Barrier(done) => {
                let _ = done.send(());
                continue;
            }
            Msg::Job(job) => job,
        };
        let batch = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
            Ok(batch) => batch,
            Err(_) => {
                tracing::warn!("a local cache job panicked; its records were not stored");
                continue;
            }
        };
        if db.is_none() {
            match Db::open(path, max_bytes) {
                Ok(opened) => db = Some(opened),
                Err(e) => {
                    tracing::warn!(error = %e, "the local cache writer could not open the cache");
                    continue;
                }
            }
        }
        if let Some(db) = db.as_mut()
            && let Err(e) = {
                let batch = batch.against(db);
                db.put(batch.rows(), None)
            }
        {
            tracing::warn!(error = %e, "the local cache could not store a batch");
        }
    }
}
