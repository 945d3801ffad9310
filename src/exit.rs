//! The process exit codes, in one place. Only `cli::main` turns them into a process status.

use std::process::ExitCode;

/// What the process tells its caller (systemd, a script, an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Every duty ok or skipped (findings do not count).
    Ok = 0,
    /// At least one duty failed, an undo reported conflicts, or an `apply` was refused.
    Failed = 1,
    /// Usage or configuration error (including a database that is not MultiFlexi's), or a
    /// command that is not available.
    Usage = 2,
    /// Journal or quarantine integrity problem.
    Integrity = 3,
    /// Database unreachable, login refused, or the connection lost mid-run.
    Database = 4,
    /// Another housekeeper holds the lock, or a table stayed locked by another session
    /// longer than `MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT` while the run started
    /// (`EX_TEMPFAIL`: try again later).
    Locked = 75,
}

impl Exit {
    #[must_use]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit codes as documented in `--help` and the man page.
    pub const TABLE: &'static [(u8, &'static str)] = &[
        (0, "every duty ok or skipped (findings do not count)"),
        (
            1,
            "a duty failed, an undo reported conflicts, or an apply was refused",
        ),
        (
            2,
            "usage or configuration error, or a database that is not MultiFlexi's",
        ),
        (3, "journal or quarantine integrity problem"),
        (
            4,
            "database unreachable, login refused, or the connection lost mid-run",
        ),
        (
            75,
            "another housekeeper holds the lock, or the database stayed locked by another session",
        ),
    ];
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// A command that could not do its work: the exit code and what to tell the user.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hints: Vec<String>,
}

impl Failure {
    #[must_use]
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Failure::new(Exit::Usage, format!("configuration: {e}"))
    }
}
