//! What `doctor` says of the runs that happened: the age and result of the last run in the
//! journal (read through the run index, nothing written), and, where systemd runs, whether
//! the timer that starts the runs is enabled and active. Never fails without systemd.

use std::path::Path;
use std::process::{Command, Stdio};

use super::Diagnosis;
use crate::audit::index::JournalIndex;

/// A last run older than this (seconds) is a warning: the timer runs hourly.
pub const STALE_AFTER_SECS: i64 = 2 * 3600;

/// The timer unit the package installs.
pub const TIMER: &str = "multiflexi-housekeeper.timer";

/// Adds the last run of `journal_dir` (`run` or `apply`, not undo).
pub fn check(d: &mut Diagnosis, journal_dir: &Path) {
    if !journal_dir.is_dir() {
        return;
    }
    // A damaged journal is reported by the chain check; here only what can be read.
    let Ok((index, _)) = JournalIndex::read_lenient(journal_dir) else {
        return;
    };
    let Some(run) = index
        .runs
        .iter()
        .filter(|r| matches!(r.kind_name(), "run" | "apply"))
        .max_by(|a, b| a.started_utc.cmp(&b.started_utc))
    else {
        d.add("journal", "last run", "info", "no run yet");
        return;
    };
    let when = run.end.as_ref().map_or(&run.started_utc, |(_, at)| at);
    let age = chrono::DateTime::parse_from_rfc3339(when)
        .ok()
        .map(|t| crate::clock::age_of(t).num_seconds());
    let status = run.end.as_ref().map(|(status, _)| status.as_str());
    let (level, text) = judge(status, age);
    d.add(
        "journal",
        "last run",
        level,
        format!("{} ({}) {text}", run.run_id, run.kind_name()),
    );
}

/// The level and text for a last run with `status` (`None`: it has not ended) that ended
/// (or started) `age` seconds ago.
#[must_use]
pub fn judge(status: Option<&str>, age: Option<i64>) -> (&'static str, String) {
    let ago = age.map_or_else(|| "at an unknown time".to_owned(), age_text);
    match (status, age) {
        (None, _) => (
            "warning",
            format!("started {ago} and has not ended (still running, or stopped by a crash the next run recovers)"),
        ),
        (Some("ok"), Some(age)) if age > STALE_AFTER_SECS => (
            "warning",
            format!("ended ok {ago}: no run for more than 2 hours (is the timer running?)"),
        ),
        (Some("ok"), _) => ("ok", format!("ended ok {ago}")),
        (Some(status), _) => (
            "warning",
            format!("ended {status} {ago} (housekeeper journal show RUN-ID says why)"),
        ),
    }
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 0 => "in the future (check the host clock)".into(),
        s if s < 120 => format!("{s} s ago"),
        s if s < 2 * 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// Adds the timer's state when systemd is the running init and `systemctl` is on `PATH`.
pub fn timer(d: &mut Diagnosis) {
    if !Path::new("/run/systemd/system").is_dir() {
        return;
    }
    let ask = |verb: &str| -> Option<String> {
        let out = Command::new("systemctl")
            .args([verb, TIMER])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Some(if text.is_empty() {
            "unknown".into()
        } else {
            text
        })
    };
    let (Some(enabled), Some(active)) = (ask("is-enabled"), ask("is-active")) else {
        return;
    };
    let (level, hint) = if enabled == "enabled" && active == "active" {
        ("ok", String::new())
    } else {
        (
            "warning",
            format!("; no hourly run: systemctl enable --now {TIMER}"),
        )
    };
    d.add(
        "journal",
        "timer",
        level,
        format!("{TIMER} is {enabled} and {active}{hint}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_ok_run_is_ok_an_old_or_failed_one_a_warning() {
        assert_eq!(
            judge(Some("ok"), Some(600)),
            ("ok", "ended ok 10 min ago".into())
        );
        let (level, text) = judge(Some("ok"), Some(3 * 3600));
        assert_eq!(level, "warning");
        assert_eq!(
            text,
            "ended ok 3 h ago: no run for more than 2 hours (is the timer running?)"
        );
        let (level, text) = judge(Some("failed"), Some(30));
        assert_eq!(level, "warning");
        assert!(text.starts_with("ended failed 30 s ago"), "{text}");
        let (level, text) = judge(Some("interrupted"), Some(5 * 86_400));
        assert_eq!(level, "warning");
        assert!(text.starts_with("ended interrupted 5 days ago"), "{text}");
        let (level, text) = judge(None, None);
        assert_eq!(level, "warning");
        assert!(
            text.starts_with("started at an unknown time and has not ended"),
            "{text}"
        );
    }
}
