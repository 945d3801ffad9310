//! The metrics file (`MULTIFLEXI_HOUSEKEEPER_METRICS_FILE`): a run's figures in the text
//! format of Prometheus, for node_exporter's textfile collector. The file is replaced
//! atomically after every run (a temporary file in the same directory, renamed over it), so
//! the collector never reads half a file, and is readable by everyone (mode 0644): it holds
//! counts and statuses only.

use std::fmt::Write as _;
use std::path::Path;

use super::monitor::Outcome;
use super::Status;

/// The statuses a run can end with, each a `housekeeper_run_status` series.
const RUN_STATUSES: [Status; 3] = [Status::Ok, Status::Failed, Status::Interrupted];

/// The statuses a duty can end with, each a `housekeeper_duty_status` series.
const DUTY_STATUSES: [Status; 3] = [Status::Ok, Status::Skipped, Status::Failed];

/// The file's text.
#[must_use]
pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let plain = |value: String| vec![(String::new(), value)];
    family(
        "housekeeper_last_run_timestamp_seconds",
        "When the last housekeeper run ended (Unix time).",
        &plain(outcome.clock.to_string()),
    );
    family(
        "housekeeper_run_duration_seconds",
        "How long the last housekeeper run took.",
        &plain(format!("{:.3}", outcome.seconds)),
    );
    family(
        "housekeeper_run_status",
        "The status of the last housekeeper run: 1 for the status it had, 0 for the others.",
        &RUN_STATUSES
            .iter()
            .map(|s| {
                (
                    format!("{{status=\"{}\"}}", s.as_str()),
                    u8::from(*s == outcome.status).to_string(),
                )
            })
            .collect::<Vec<_>>(),
    );
    family(
        "housekeeper_run_interrupted",
        "1 when a signal stopped the last run before all its duties were done.",
        &plain(u8::from(outcome.status == Status::Interrupted).to_string()),
    );
    family(
        "housekeeper_run_exit_code",
        "The exit status of the last housekeeper run (see housekeeper(8)).",
        &plain(outcome.exit.code().to_string()),
    );
    if outcome.duties.is_empty() {
        return out;
    }
    let per_duty = |value: &dyn Fn(&super::monitor::DutyFigures) -> u64| {
        outcome
            .duties
            .iter()
            .map(|d| {
                (
                    format!("{{duty=\"{}\"}}", d.duty.as_str()),
                    value(d).to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let statuses: Vec<(String, String)> = outcome
        .duties
        .iter()
        .flat_map(|d| {
            DUTY_STATUSES.iter().map(move |s| {
                (
                    format!("{{duty=\"{}\",status=\"{}\"}}", d.duty.as_str(), s.as_str()),
                    u8::from(*s == d.status).to_string(),
                )
            })
        })
        .collect();
    let affected = per_duty(&|d| d.affected);
    let errors = per_duty(&|d| d.errors);
    let findings = per_duty(&|d| d.findings);
    family(
        "housekeeper_duty_status",
        "The status of each duty in the last run: 1 for the status it had, 0 for the others.",
        &statuses,
    );
    family(
        "housekeeper_duty_affected",
        "Items each duty changed in the last run (0 for a duty that only reports).",
        &affected,
    );
    family(
        "housekeeper_duty_errors",
        "Errors that stopped work in each duty in the last run.",
        &errors,
    );
    family(
        "housekeeper_duty_findings",
        "Problems each duty found and reported, not fixed, in the last run.",
        &findings,
    );
    out
}

/// Replaces the file at `path` with the outcome, atomically, mode 0644.
///
/// # Errors
/// The file could not be written or renamed into place.
pub fn write(path: &Path, outcome: &Outcome) -> std::io::Result<()> {
    let text = render(outcome);
    crate::state::write_atomic(path, 0o644, |out| out.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::duties::DutyName;
    use crate::exit::{Exit, Failure};
    use crate::report::{DutyReport, Mode, RunReport};

    #[test]
    fn a_finished_run_has_every_figure_per_duty() {
        let mut r = RunReport::new(Mode::Run, "sqlite:x".into(), "2026-11-28 12:00:00".into());
        let mut d = DutyReport::new(DutyName::LogPruning);
        d.affected = 123;
        r.duties.push(d);
        let mut c = DutyReport::new(DutyName::CredentialHealthCheck);
        c.affected = 1;
        c.error("cannot read credentials");
        r.duties.push(c);
        r.finish(false);
        let text = render(&Outcome::of_report(
            &r,
            Duration::from_millis(2250),
            1_795_856_400,
        ));
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "housekeeper_last_run_timestamp_seconds 1795856400",
                "housekeeper_run_duration_seconds 2.250",
                "housekeeper_run_status{status=\"ok\"} 0",
                "housekeeper_run_status{status=\"failed\"} 1",
                "housekeeper_run_status{status=\"interrupted\"} 0",
                "housekeeper_run_interrupted 0",
                "housekeeper_run_exit_code 1",
                "housekeeper_duty_status{duty=\"LogPruning\",status=\"ok\"} 1",
                "housekeeper_duty_status{duty=\"LogPruning\",status=\"skipped\"} 0",
                "housekeeper_duty_status{duty=\"LogPruning\",status=\"failed\"} 0",
                "housekeeper_duty_status{duty=\"CredentialHealthCheck\",status=\"ok\"} 0",
                "housekeeper_duty_status{duty=\"CredentialHealthCheck\",status=\"skipped\"} 0",
                "housekeeper_duty_status{duty=\"CredentialHealthCheck\",status=\"failed\"} 1",
                "housekeeper_duty_affected{duty=\"LogPruning\"} 123",
                "housekeeper_duty_affected{duty=\"CredentialHealthCheck\"} 0",
                "housekeeper_duty_errors{duty=\"LogPruning\"} 0",
                "housekeeper_duty_errors{duty=\"CredentialHealthCheck\"} 1",
                "housekeeper_duty_findings{duty=\"LogPruning\"} 0",
                "housekeeper_duty_findings{duty=\"CredentialHealthCheck\"} 0",
            ]
        );
        // Every family is introduced by its HELP and TYPE lines.
        for name in samples.iter().map(|s| s.split(['{', ' ']).next().unwrap()) {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
        }
    }

    #[test]
    fn a_run_that_failed_early_has_the_run_figures_only() {
        let failure = Failure::new(Exit::Database, "cannot connect");
        let text = render(&Outcome::of_failure(
            &failure,
            Duration::from_millis(5),
            1_795_856_400,
        ));
        assert!(
            text.contains("housekeeper_run_status{status=\"failed\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("housekeeper_run_exit_code 4\n"), "{text}");
        assert!(!text.contains("housekeeper_duty_"), "{text}");
    }
}
