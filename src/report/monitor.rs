//! What monitoring is told about a run, and telling it: the figures of one run (its status,
//! exit code, duration and per duty `status`, `affected`, `errors`, `findings`) — of a run
//! that finished, or of one that failed before its duties ran — sent to Zabbix (`zabbix`)
//! and written to the metrics file (`metrics`). Both get the same figures.
//!
//! Publishing never fails a run: what could not be sent or written comes back as warnings.

use std::time::Duration;

use super::{DutyReport, RunReport, Status};
use crate::config::Monitoring;
use crate::duties::DutyName;
use crate::exit::{Exit, Failure};

/// One duty's figures. `affected` of a read-only duty (CredentialHealthCheck) is 0: it
/// changes nothing; what it found is `findings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyFigures {
    pub duty: DutyName,
    pub status: Status,
    pub affected: u64,
    pub errors: u64,
    pub findings: u64,
}

impl DutyFigures {
    #[must_use]
    pub fn of(report: &DutyReport) -> Self {
        DutyFigures {
            duty: report.duty,
            status: report.status,
            affected: if report.duty.is_read_only() {
                0
            } else {
                report.affected
            },
            errors: report.errors.len() as u64,
            findings: report.findings.len() as u64,
        }
    }
}

/// A run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `ok`, `failed` or `interrupted`.
    pub status: Status,
    pub exit: Exit,
    /// Why the run stopped before its duties ran; empty for a run that got to its end.
    pub error: String,
    pub seconds: f64,
    /// When the run ended (Unix time, host clock).
    pub clock: u64,
    /// Every duty of a run that got to its end; none for one that failed before.
    pub duties: Vec<DutyFigures>,
}

impl Outcome {
    /// The figures of a run that got to its end.
    #[must_use]
    pub fn of_report(report: &RunReport, elapsed: Duration, clock: u64) -> Self {
        Outcome {
            status: report.status,
            exit: report.exit(),
            error: String::new(),
            seconds: elapsed.as_secs_f64(),
            clock,
            duties: report.duties.iter().map(DutyFigures::of).collect(),
        }
    }

    /// The figures of a run that stopped before its duties ran (configuration, schema,
    /// journal, database, lock): `failed`, with the exit code and the error.
    #[must_use]
    pub fn of_failure(failure: &Failure, elapsed: Duration, clock: u64) -> Self {
        Outcome {
            status: Status::Failed,
            exit: failure.exit,
            error: failure.message.clone(),
            seconds: elapsed.as_secs_f64(),
            clock,
            duties: Vec::new(),
        }
    }
}

/// Sends the outcome to Zabbix and writes the metrics file, as configured; returns what
/// could not be done, as warnings (also logged).
pub fn publish(monitoring: &Monitoring, outcome: &Outcome) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(target) = &monitoring.zabbix {
        let items = super::zabbix::items(outcome, &target.host);
        match super::zabbix::send(target, &items, outcome.clock) {
            Ok(info) => log::debug!("zabbix: {info}"),
            Err(e) => warnings.push(e.to_string()),
        }
    }
    if let Some(path) = &monitoring.metrics_file {
        if let Err(e) = super::metrics::write(path, outcome) {
            warnings.push(format!(
                "cannot write the metrics file {} (MULTIFLEXI_HOUSEKEEPER_METRICS_FILE): {e}",
                path.display()
            ));
        }
    }
    for warning in &warnings {
        log::warn!("{warning}");
    }
    warnings
}

/// Publishes a run that failed before its duties ran.
pub fn publish_failure(monitoring: &Monitoring, failure: &Failure, elapsed: Duration) {
    if monitoring.zabbix.is_none() && monitoring.metrics_file.is_none() {
        return;
    }
    let outcome = Outcome::of_failure(failure, elapsed, crate::clock::unix_seconds());
    publish(monitoring, &outcome);
}
