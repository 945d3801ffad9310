//! When housekeeper's SQLite connection lets other writers take the database's one write lock.
//!
//! Owns: the decision, before each write transaction, whether to wait first, and how long.
//! Must never: touch the database itself (the connection reads `PRAGMA data_version` and
//! sleeps), or delay the first write transaction of a connection.
//!
//! A waiting writer cannot be seen: SQLite's busy handler sleeps in the waiting process and
//! leaves no trace. What can be seen is a commit by another connection: `PRAGMA data_version`
//! changes. So the connection pauses before every write transaction while other writers are
//! active (a commit of theirs seen in the last [`ACTIVE_FOR`]), and on a quiet database only
//! every [`PROBE_EVERY_PAUSES`] pauses' worth of its own writing, long enough for a writer
//! that has just started waiting to get in; its commit then turns on the pause before every
//! write. A gap between two write transactions at least as long as the pause (planning the
//! next duty, reading) counts as a pause.

use std::time::{Duration, Instant};

/// How long after another connection's last seen commit the database counts as shared.
pub(super) const ACTIVE_FOR: Duration = Duration::from_secs(2);

/// On a quiet database, the writing between two probing pauses, in pauses: with the default
/// pause of 25 ms, at most 100 ms of writing, then 25 ms for a writer that may be waiting.
pub(super) const PROBE_EVERY_PAUSES: u32 = 4;

/// The state of one connection's turns.
#[derive(Debug)]
pub(super) struct Turns {
    pause: Duration,
    /// `PRAGMA data_version` when last read; it changes when another connection commits.
    seen_version: Option<i64>,
    /// When this connection's last write transaction ended.
    ended: Option<Instant>,
    /// When the last pause (or a gap as long) ended: the start of the current writing stretch.
    stretch_began: Option<Instant>,
    /// Until when other writers count as active.
    active_until: Option<Instant>,
}

impl Turns {
    pub(super) fn new(pause: Duration) -> Self {
        Turns {
            pause,
            seen_version: None,
            ended: None,
            stretch_began: None,
            active_until: None,
        }
    }

    /// A write transaction of this connection ended at `at`.
    pub(super) fn ended(&mut self, at: Instant) {
        self.ended = Some(at);
    }

    /// How long to wait before the write transaction about to begin at `now`, given the
    /// connection's `PRAGMA data_version` read at `now` (`None` when no pause applies).
    pub(super) fn wait_before(&mut self, now: Instant, version: i64) -> Option<Duration> {
        if self.seen_version.is_some_and(|seen| seen != version) {
            self.active_until = Some(now + ACTIVE_FOR);
        }
        self.seen_version = Some(version);
        if self.pause.is_zero() {
            return None;
        }
        let Some(ended) = self.ended else {
            self.stretch_began = Some(now);
            return None;
        };
        let since = now.saturating_duration_since(ended);
        if since >= self.pause {
            self.stretch_began = Some(now);
            return None;
        }
        let shared = self.active_until.is_some_and(|until| now < until);
        let began = *self.stretch_began.get_or_insert(ended);
        let probe_due = now.saturating_duration_since(began) >= self.pause * PROBE_EVERY_PAUSES;
        if !(shared || probe_due) {
            return None;
        }
        let wait = self.pause - since;
        self.stretch_began = Some(now + wait);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Duration = Duration::from_millis(25);
    const CHUNK: Duration = Duration::from_millis(27);

    /// Runs `chunks` write transactions of `CHUNK` each, one right after the other, with
    /// `version` giving the data version seen before each; returns the waits.
    fn write(
        turns: &mut Turns,
        at: &mut Instant,
        chunks: usize,
        version: impl Fn(usize) -> i64,
    ) -> Vec<Duration> {
        let mut waits = Vec::new();
        for i in 0..chunks {
            let wait = turns.wait_before(*at, version(i)).unwrap_or_default();
            waits.push(wait);
            *at += wait + CHUNK;
            turns.ended(*at);
            *at += Duration::from_millis(1);
        }
        waits
    }

    #[test]
    fn the_first_write_transaction_never_waits() {
        let mut turns = Turns::new(PAUSE);
        assert_eq!(turns.wait_before(Instant::now(), 7), None);
    }

    #[test]
    fn a_quiet_database_gets_a_probing_pause_after_every_100_ms_of_writing() {
        let (mut turns, mut at) = (Turns::new(PAUSE), Instant::now());
        let waits = write(&mut turns, &mut at, 40, |_| 7);
        let paused: Vec<usize> = (0..40).filter(|&i| !waits[i].is_zero()).collect();
        // 27 ms chunks a millisecond apart: the fifth begins 112 ms into the stretch, then every
        // fourth after the pause.
        assert_eq!(paused, vec![4, 8, 12, 16, 20, 24, 28, 32, 36], "{waits:?}");
        assert!(waits.iter().all(|w| *w <= PAUSE));
        assert_eq!(waits[4], PAUSE - Duration::from_millis(1));
    }

    #[test]
    fn another_connections_commit_turns_on_the_pause_before_every_write_for_two_seconds() {
        let (mut turns, mut at) = (Turns::new(PAUSE), Instant::now());
        write(&mut turns, &mut at, 3, |_| 7);
        // Another writer committed before the fourth chunk.
        let waits = write(&mut turns, &mut at, 30, |i| if i == 0 { 7 } else { 8 });
        // Seen before the second of these; 30 chunks of 53 ms each are within the 2 s.
        assert!(waits.iter().skip(1).all(|w| !w.is_zero()), "{waits:?}");
        let later = write(&mut turns, &mut at, 30, |_| 8);
        assert!(
            later.iter().any(Duration::is_zero),
            "quiet again after {ACTIVE_FOR:?}: {later:?}"
        );
    }

    #[test]
    fn a_gap_as_long_as_the_pause_counts_as_one() {
        let (mut turns, mut at) = (Turns::new(PAUSE), Instant::now());
        write(&mut turns, &mut at, 3, |_| 7);
        at += Duration::from_millis(30);
        let waits = write(&mut turns, &mut at, 4, |_| 7);
        assert!(waits.iter().all(Duration::is_zero), "{waits:?}");
    }

    #[test]
    fn no_pause_configured_never_waits_even_when_shared() {
        let (mut turns, mut at) = (Turns::new(Duration::ZERO), Instant::now());
        let waits = write(&mut turns, &mut at, 10, |i| i as i64);
        assert!(waits.iter().all(Duration::is_zero));
    }
}
