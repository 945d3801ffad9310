//! The subcommands. Each turns configuration and arguments into work and returns the exit
//! code. The selection of duties lives here; opening the database, the locks and `now` are
//! the session's (`crate::session`), re-exported for the commands that only read.

pub mod apply;
pub mod demo;
pub mod doctor;
pub mod journal;
pub mod plan;
pub mod quarantine;
pub mod reset;
pub mod run;
pub mod undo;

use std::collections::BTreeSet;

use crate::cli::DutySelection;
use crate::config::Config;
use crate::duties::DutyName;

pub use crate::session::{
    database_lock, db_failure, host_lock, open_database, require_database, resolve_now,
};

/// Why a duty does not take part, or `None` when it does.
#[must_use]
pub fn deselected(duty: DutyName, config: &Config, selection: &DutySelection) -> Option<String> {
    if !selection.only.is_empty() && !selection.only.contains(&duty) {
        return Some("not selected by --duty".into());
    }
    if selection.skip.contains(&duty) {
        return Some("skipped by --skip".into());
    }
    if config.skip_duties.contains(&duty) {
        return Some("skipped via MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES".into());
    }
    if duty == DutyName::CredentialHealthCheck && !config.credential_check {
        return Some("disabled by MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK=false".into());
    }
    None
}

/// The duties a selection names, in run order.
#[must_use]
pub fn selected(config: &Config, selection: &DutySelection) -> BTreeSet<DutyName> {
    DutyName::ALL
        .into_iter()
        .filter(|d| deselected(*d, config, selection).is_none())
        .collect()
}
