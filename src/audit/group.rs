//! Group commit: callers that arrive while a flush is under way wait, and the next flush takes
//! all of them at once, so N records finishing together cost one disk flush instead of N.
//!
//! Every caller blocks until the flush that carried its item has returned that item's result;
//! nothing is answered early. There is no timer and no background thread: the first caller to
//! find nobody flushing becomes the flusher for everything queued at that moment, and when it
//! is done any caller still waiting takes over the next batch. A lone caller therefore pays
//! exactly what it paid before (one flush), and under load a flush carries everyone who queued
//! while the previous one ran.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A queue of items flushed in batches by whichever caller is free to do it.
#[derive(Debug)]
pub(crate) struct GroupCommit<T, R> {
    state: Mutex<State<T, R>>,
    flushed: Condvar,
}

#[derive(Debug)]
struct State<T, R> {
    /// Items waiting for the next flush, with their tickets, in arrival order.
    pending: Vec<(u64, T)>,
    /// Results of flushed items whose callers have not collected them yet.
    finished: HashMap<u64, R>,
    next_ticket: u64,
    /// A caller is flushing a batch now.
    flushing: bool,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                finished: HashMap::new(),
                next_ticket: 0,
                flushing: false,
            }),
            flushed: Condvar::new(),
        }
    }
}

impl<T, R> GroupCommit<T, R> {
    /// Queues `item` and returns its result once a flush has handled it. `flush` receives a
    /// batch in arrival order and must return one result per item, in the same order (a missing
    /// result, or a panic inside `flush`, gives the affected callers `failed()`).
    pub(crate) fn submit(
        &self,
        item: T,
        flush: impl Fn(Vec<T>) -> Vec<R>,
        failed: impl Fn() -> R,
    ) -> R {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket = state.next_ticket.wrapping_add(1);
        state.pending.push((ticket, item));
        loop {
            if let Some(result) = state.finished.remove(&ticket) {
                return result;
            }
            if state.flushing {
                // A poisoned lock only means a flusher panicked; its callers were answered.
                state = self.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Nobody is flushing and our item is still queued: flush everything queued now.
            state.flushing = true;
            let (tickets, items): (Vec<u64>, Vec<T>) =
                std::mem::take(&mut state.pending).into_iter().unzip();
            drop(state);
            let results = catch_unwind(AssertUnwindSafe(|| flush(items))).unwrap_or_default();
            let mut results = results.into_iter();
            state = self.lock();
            for t in tickets {
                let result = results.next().unwrap_or_else(&failed);
                state.finished.insert(t, result);
            }
            state.flushing = false;
            self.flushed.notify_all();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T, R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_lone_caller_flushes_its_own_item() {
        let g = GroupCommit::<u32, u32>::default();
        let batches = AtomicUsize::new(0);
        let r = g.submit(
            7,
            |items| {
                batches.fetch_add(1, Ordering::SeqCst);
                items.into_iter().map(|i| i * 2).collect()
            },
            || 0,
        );
        assert_eq!(r, 14);
        assert_eq!(batches.load(Ordering::SeqCst), 1);
    }

    /// Callers arriving while a slow flush runs are carried together by the next one, and each
    /// gets its own result (not a neighbour's).
    #[test]
    fn callers_that_arrive_during_a_flush_share_the_next_one() {
        let g = Arc::new(GroupCommit::<usize, usize>::default());
        let batches = Arc::new(Mutex::new(Vec::<Vec<usize>>::new()));
        let n = 16;
        let start = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (g, batches, start) = (g.clone(), batches.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    // The first few arrive at once; the rest while a flush sleeps.
                    std::thread::sleep(Duration::from_millis((i as u64 % 4) * 5));
                    g.submit(
                        i,
                        |items| {
                            batches.lock().unwrap().push(items.clone());
                            std::thread::sleep(Duration::from_millis(30));
                            items.into_iter().map(|x| x + 1000).collect()
                        },
                        || usize::MAX,
                    )
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i + 1000, "caller {i} got its own result");
        }
        let batches = batches.lock().unwrap();
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..n).collect::<Vec<_>>(),
            "each item flushed exactly once"
        );
        assert!(
            batches.len() < n,
            "16 callers took {} flushes: no grouping happened",
            batches.len()
        );
        assert!(batches.iter().any(|b| b.len() > 1), "{batches:?}");
    }

    #[test]
    fn a_panicking_flush_fails_its_batch_and_the_queue_goes_on() {
        let g = GroupCommit::<u32, Result<u32, String>>::default();
        let r = g.submit(
            1,
            |_| panic!("flush blew up"),
            || Err("flush failed".to_string()),
        );
        assert_eq!(r, Err("flush failed".to_string()));
        let r = g.submit(
            2,
            |items| items.into_iter().map(Ok).collect(),
            || Err("unexpected".to_string()),
        );
        assert_eq!(r, Ok(2));
    }

    #[test]
    fn a_short_result_list_fails_only_the_items_without_a_result() {
        let g = Arc::new(GroupCommit::<u32, Option<u32>>::default());
        // One flush sees two items (the second queued while the first flush is held up).
        let gate = Arc::new(Barrier::new(2));
        let g2 = g.clone();
        let gate2 = gate.clone();
        let first = std::thread::spawn(move || {
            g2.submit(
                1,
                |items| {
                    if items == [1] {
                        gate2.wait();
                        std::thread::sleep(Duration::from_millis(50));
                        vec![Some(1)]
                    } else {
                        // Only the first of the batch gets a result.
                        vec![Some(items[0])]
                    }
                },
                || None,
            )
        });
        gate.wait();
        let g3 = g.clone();
        let second = std::thread::spawn(move || g3.submit(2, |i| vec![Some(i[0])], || None));
        let third = std::thread::spawn(move || g.submit(3, |i| vec![Some(i[0])], || None));
        assert_eq!(first.join().unwrap(), Some(1));
        let (a, b) = (second.join().unwrap(), third.join().unwrap());
        // Both queued during the first flush; whichever flushed gave a result to the first
        // item of the batch only, the other got `failed()`. (If they flushed separately, both
        // have results.)
        assert!(
            matches!(
                (a, b),
                (Some(2), Some(3)) | (Some(2), None) | (None, Some(3))
            ),
            "{a:?} {b:?}"
        );
    }
}
