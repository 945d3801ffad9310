//! `housekeeper undo <run-id>`: puts back what a run changed.

use crate::cli::{Failure, UndoArgs};
use crate::config::Config;
use crate::exit::Exit;

/// `housekeeper undo`.
///
/// # Errors
/// Configuration, database, lock or journal problems, with their exit codes.
pub fn command(_config: &Config, _args: &UndoArgs) -> Result<Exit, Failure> {
    Err(Failure::new(
        Exit::Usage,
        "`housekeeper undo` is not built yet in this version; nothing was done",
    ))
}
