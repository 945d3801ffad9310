//! The mysql backend (to be implemented).

use super::{ConnectOptions, DbError, DbResult};

pub struct MysqlConnection;

impl MysqlConnection {
    /// Opens a connection.
    ///
    /// # Errors
    /// Not implemented yet.
    pub fn open(
        server: &crate::config::ServerTarget,
        _options: &ConnectOptions,
    ) -> DbResult<Box<dyn super::Connection>> {
        let _ = (server,);
        Err(DbError::Unsupported(
            "the mysql backend is not built yet".into(),
        ))
    }
}
