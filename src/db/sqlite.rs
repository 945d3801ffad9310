//! The sqlite backend (to be implemented).

use super::{ConnectOptions, DbError, DbResult};

pub struct SqliteConnection;

impl SqliteConnection {
    /// Opens a connection.
    ///
    /// # Errors
    /// Not implemented yet.
    pub fn open(
        path: &std::path::Path,
        _options: &ConnectOptions,
    ) -> DbResult<Box<dyn super::Connection>> {
        let _ = (path,);
        Err(DbError::Unsupported(
            "the sqlite backend is not built yet".into(),
        ))
    }
}
