//! `housekeeper journal list|show|find|verify`: the journal for people and auditors.

use crate::cli::{Failure, JournalCommand};
use crate::config::Config;
use crate::exit::Exit;

/// `housekeeper journal …`.
///
/// # Errors
/// The journal could not be read, with its exit code.
pub fn command(_config: &Config, _command: &JournalCommand) -> Result<Exit, Failure> {
    Err(Failure::new(
        Exit::Usage,
        "`housekeeper journal` is not built yet in this version; nothing was done",
    ))
}
