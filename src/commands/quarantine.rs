//! `housekeeper quarantine list|expire`: the quarantined files and their undo window.

use crate::cli::{Failure, QuarantineCommand};
use crate::config::Config;
use crate::exit::Exit;

/// `housekeeper quarantine …`.
///
/// # Errors
/// The quarantine or the journal could not be read or written, with its exit code.
pub fn command(_config: &Config, _command: &QuarantineCommand) -> Result<Exit, Failure> {
    Err(Failure::new(
        Exit::Usage,
        "`housekeeper quarantine` is not built yet in this version; nothing was done",
    ))
}
