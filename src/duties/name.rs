//! The names of the duties: the one small type the CLI, the configuration, the journal's
//! records and the reports share, kept apart so that naming a duty needs nothing else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The name of a duty, as used in output, `MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES` and `--duty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DutyName {
    #[serde(rename = "StaleTaskFinalization")]
    StaleTaskFinalization,
    #[serde(rename = "OrphanedJobCleanup")]
    OrphanedJobCleanup,
    #[serde(rename = "ScheduleIntegrity")]
    ScheduleIntegrity,
    #[serde(rename = "DataRetentionCleanup")]
    DataRetentionCleanup,
    #[serde(rename = "DiskTempFileCleanup")]
    DiskTempFileCleanup,
    #[serde(rename = "LogPruning")]
    LogPruning,
    #[serde(rename = "RuntemplateCounterRecalc")]
    RuntemplateCounterRecalc,
    #[serde(rename = "CredentialHealthCheck")]
    CredentialHealthCheck,
}

impl DutyName {
    /// Every duty, in the order a run performs them.
    pub const ALL: [DutyName; 8] = [
        DutyName::StaleTaskFinalization,
        DutyName::OrphanedJobCleanup,
        DutyName::ScheduleIntegrity,
        DutyName::DataRetentionCleanup,
        DutyName::DiskTempFileCleanup,
        DutyName::LogPruning,
        DutyName::RuntemplateCounterRecalc,
        DutyName::CredentialHealthCheck,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DutyName::StaleTaskFinalization => "StaleTaskFinalization",
            DutyName::OrphanedJobCleanup => "OrphanedJobCleanup",
            DutyName::ScheduleIntegrity => "ScheduleIntegrity",
            DutyName::DataRetentionCleanup => "DataRetentionCleanup",
            DutyName::DiskTempFileCleanup => "DiskTempFileCleanup",
            DutyName::LogPruning => "LogPruning",
            DutyName::RuntemplateCounterRecalc => "RuntemplateCounterRecalc",
            DutyName::CredentialHealthCheck => "CredentialHealthCheck",
        }
    }

    /// Whether the duty only reports (it never changes anything).
    #[must_use]
    pub fn is_read_only(self) -> bool {
        self == DutyName::CredentialHealthCheck
    }

    /// One line saying what the duty does, for `--help`, the man page and `doctor`.
    #[must_use]
    pub fn summary(self) -> &'static str {
        match self {
            DutyName::StaleTaskFinalization => {
                "open/running tasks whose window ended become missed (0 attempts) or failed"
            }
            DutyName::OrphanedJobCleanup => {
                "deletes orphaned jobs, broken queue rows and ghost jobs, with their dependent rows"
            }
            DutyName::ScheduleIntegrity => {
                "clears next_schedule of active runtemplates whose queued job is gone"
            }
            DutyName::DataRetentionCleanup => "enforces the enabled data_retention_policies",
            DutyName::DiskTempFileCleanup => {
                "moves old files of MULTIFLEXI_TMP to the quarantine unless a job uses them"
            }
            DutyName::LogPruning => "keeps the LOG_KEEP newest rows of the log table",
            DutyName::RuntemplateCounterRecalc => {
                "corrects drifted success/failure counters of runtemplates"
            }
            DutyName::CredentialHealthCheck => {
                "reports misconfigured or unreachable credentials of scheduled runtemplates"
            }
        }
    }
}

impl fmt::Display for DutyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown duty name; the message lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown duty {name:?} (known: {known})")]
pub struct UnknownDuty {
    pub name: String,
    pub known: String,
}

impl FromStr for DutyName {
    type Err = UnknownDuty;

    /// Case-insensitive, surrounding white space ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        DutyName::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownDuty {
                name: wanted.to_owned(),
                known: DutyName::ALL.map(DutyName::as_str).join(", "),
            })
    }
}
