//! Splitting work over threads, with one policy: **a worker's panic is a bug**, and it is
//! re-raised as a panic on the thread that waits for the worker. It is never turned into an
//! error value, and never into a storage or integrity error (an auditor must not be told
//! that a ledger was tampered with when the program had a bug). The command line reports a
//! panic as an internal error with exit code 1.
//!
//! Two shapes cover every use in the workspace:
//! - [`join`]: two closures, one on this thread and one on a worker, both results back;
//! - [`scope`]: a pipeline of named workers connected by channels, each joined explicitly
//!   through [`Worker::join`].
//!
//! A worker that is not joined explicitly is joined when its scope ends; its panic is then
//! re-raised there as well (the standard library's scoped threads do that).

use std::io;
use std::panic::resume_unwind;
use std::thread::{self, ScopedJoinHandle};

/// Runs `here` on the calling thread and `there` on a worker thread, and returns both
/// results once both are done.
///
/// If either closure panics, the panic is re-raised here after both have finished (the
/// calling thread's own panic first).
///
/// ```
/// let (evens, odds) = arl_par::join(
///     || (0..10).filter(|n| n % 2 == 0).count(),
///     || (0..10).filter(|n| n % 2 == 1).count(),
/// );
/// assert_eq!((evens, odds), (5, 5));
/// ```
pub fn join<A, B>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B)
where
    B: Send,
{
    thread::scope(|scope| {
        let worker = scope.spawn(there);
        let here = here();
        let there = worker.join().unwrap_or_else(|panic| resume_unwind(panic));
        (here, there)
    })
}

/// Runs `body` with a [`Scope`] in which it can start workers that borrow from the caller.
/// Every worker has finished when `scope` returns.
pub fn scope<'env, T>(body: impl for<'scope> FnOnce(&Scope<'scope, 'env>) -> T) -> T {
    thread::scope(|inner| body(&Scope { inner }))
}

/// Where workers are started; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    inner: &'scope thread::Scope<'scope, 'env>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Starts `work` on a new thread named `name` (the name shows in a panic message and in
    /// a debugger).
    ///
    /// The system may refuse a thread (too many threads, no memory): that is an I/O
    /// failure of the caller's job, returned as such.
    pub fn spawn<T: Send + 'scope>(
        &self,
        name: &str,
        work: impl FnOnce() -> T + Send + 'scope,
    ) -> io::Result<Worker<'scope, T>> {
        let handle = thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(self.inner, work)?;
        Ok(Worker { handle })
    }
}

/// A running worker; [`Worker::join`] waits for its result.
pub struct Worker<'scope, T> {
    handle: ScopedJoinHandle<'scope, T>,
}

impl<T> Worker<'_, T> {
    /// Waits for the worker and returns what it returned; re-raises its panic here.
    pub fn join(self) -> T {
        self.handle
            .join()
            .unwrap_or_else(|panic| resume_unwind(panic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::mpsc::sync_channel;

    fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
        payload
            .downcast_ref::<&str>()
            .map(std::string::ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    #[test]
    fn join_returns_both_results_in_their_places() {
        let data: Vec<u64> = (1..=100).collect();
        let (front, back) = data.split_at(50);
        let (a, b) = join(|| front.iter().sum::<u64>(), || back.iter().sum::<u64>());
        assert_eq!((a, b), (1275, 3775));
    }

    #[test]
    fn a_panicking_worker_is_re_raised_as_the_same_panic() {
        let caught = catch_unwind(|| join(|| 1, || -> u32 { panic!("worker bug 17") }));
        let payload = caught.expect_err("the worker's panic must reach the caller");
        assert_eq!(panic_message(&*payload), "worker bug 17");
    }

    #[test]
    fn a_panic_here_is_re_raised_after_the_worker_finished() {
        let finished = std::sync::atomic::AtomicBool::new(false);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            join(
                || -> u32 { panic!("caller bug") },
                || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    finished.store(true, std::sync::atomic::Ordering::SeqCst);
                },
            )
        }));
        assert_eq!(panic_message(&*caught.unwrap_err()), "caller bug");
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_pipeline_worker_s_result_and_panic_reach_the_joiner() {
        let total = scope(|s| {
            let (tx, rx) = sync_channel::<u64>(2);
            let summer = s.spawn("summer", move || rx.iter().sum::<u64>()).unwrap();
            for n in 1..=10 {
                tx.send(n).unwrap();
            }
            drop(tx);
            summer.join()
        });
        assert_eq!(total, 55);
        let caught = catch_unwind(|| {
            scope(|s| {
                let worker = s.spawn("doomed", || -> u8 { panic!("pipeline bug") });
                worker.unwrap().join()
            })
        });
        assert_eq!(panic_message(&*caught.unwrap_err()), "pipeline bug");
    }
}
