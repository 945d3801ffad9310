//! The stop watch of a session: when a stop signal (SIGTERM, SIGINT) arrives and the session
//! has not ended within [`GRACE`] — a statement waiting for a lock, a long statement — its
//! running statement is cancelled through the engine
//! (PostgreSQL's cancel request, `KILL QUERY` on MariaDB/MySQL), so the session ends soon.
//! The cancelled statement's transaction is rolled back; its chunk is journaled as aborted.
//!
//! Owns the watching thread. It never touches the session's connection, only the engine's
//! cancel handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::Cancel;

/// How long a stop signal may wait for the session to notice it before the running
/// statement is cancelled: a chunk that is about to commit is let finish.
pub const GRACE: Duration = Duration::from_secs(2);

/// The cancel handle of the session's connection, once it is open.
#[derive(Default)]
pub struct Watch {
    handle: Mutex<Option<Box<dyn Cancel>>>,
    done: AtomicBool,
}

impl Watch {
    /// Hands over the cancel handle of the session's connection (`None`: nothing to cancel).
    pub fn arm(&self, handle: Option<Box<dyn Cancel>>) {
        if let Ok(mut slot) = self.handle.lock() {
            *slot = handle;
        }
    }

    /// Watches `stop` until the session is done: `GRACE` after the signal, and every `GRACE`
    /// after that, the running statement (if any) is cancelled — the statements a stopping
    /// session still makes (its `log` rows, its end) must not wait for a lock either.
    fn watch(&self, stop: &AtomicBool) {
        let mut due: Option<Instant> = None;
        let mut told = false;
        while !self.done.load(Ordering::SeqCst) {
            // Woken at once when the session is done (`watching` unparks it).
            std::thread::park_timeout(Duration::from_millis(50));
            if self.done.load(Ordering::SeqCst) {
                break;
            }
            if !stop.load(Ordering::SeqCst) {
                continue;
            }
            let at = *due.get_or_insert_with(|| Instant::now() + GRACE);
            if Instant::now() < at {
                continue;
            }
            due = Some(at + GRACE);
            if let Ok(slot) = self.handle.lock() {
                if let Some(handle) = slot.as_ref() {
                    if !told {
                        log::info!("stop signal: cancelling database statements that still run");
                        told = true;
                    }
                    if let Err(e) = handle.cancel() {
                        log::warn!("could not cancel the running statement: {e}");
                    }
                }
            }
        }
    }
}

/// Runs `body` with a watch on `stop` beside it; the watch ends with `body`.
pub fn watching<R>(stop: &AtomicBool, body: impl FnOnce(&Watch) -> R) -> R {
    let watch = Watch::default();
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch.watch(stop));
        let result = body(&watch);
        watch.done.store(true, Ordering::SeqCst);
        // Without this the session's end would wait up to 50 ms for the watcher's next look.
        watcher.thread().unpark();
        result
    })
}
