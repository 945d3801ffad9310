//! Where the MultiFlexi database is: `DB_*` variables or one URL, and the password that must
//! never be shown.
//!
//! Every `Display` and `Debug` of these types redacts the password; the only way to the clear
//! text is `Secret::expose`, called by the database backends when they connect.

use std::fmt;
use std::path::PathBuf;

use super::ConfigError;

/// A value that must never be printed (database passwords).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear text, for handing to a database driver and nothing else.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The database engine, as named by `DB_CONNECTION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
    Mysql,
}

impl Engine {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PostgreSQL or MySQL/MariaDB server and database.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerTarget {
    pub host: String,
    pub port: u16,
    /// Unix socket (MySQL `DB_SETTINGS=unix_socket=…`, or `?socket=` in a URL).
    pub socket: Option<PathBuf>,
    pub database: String,
    pub user: String,
    pub password: Option<Secret>,
    /// Extra URL query parameters understood by the backend (e.g. `prefer_socket=false`).
    pub params: Vec<(String, String)>,
}

impl fmt::Debug for ServerTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("params", &self.params)
            .finish()
    }
}

impl ServerTarget {
    /// The value of a URL query parameter, if given.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The MultiFlexi database this run works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite { path: PathBuf },
    Postgres(ServerTarget),
    Mysql(ServerTarget),
}

impl DbTarget {
    #[must_use]
    pub fn engine(&self) -> Engine {
        match self {
            DbTarget::Sqlite { .. } => Engine::Sqlite,
            DbTarget::Postgres(_) => Engine::Postgres,
            DbTarget::Mysql(_) => Engine::Mysql,
        }
    }

    /// Parses `sqlite:PATH`, `sqlite://PATH`, `postgres://…`/`postgresql://…`,
    /// `mysql://…`/`mariadb://…`. `origin` names where the URL came from, for errors.
    ///
    /// # Errors
    /// An unknown scheme, a URL that does not parse, a missing database name, a bad port.
    pub fn from_url(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let bad = |problem: String| ConfigError::Invalid {
            variable: origin.to_owned(),
            value: redact_url(text),
            problem,
        };
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad(
                    "a SQLite URL needs a path: sqlite:/var/lib/multiflexi/multiflexi.sqlite"
                        .into(),
                ));
            }
            return Ok(DbTarget::Sqlite {
                path: PathBuf::from(path),
            });
        }
        // libpq accepts an empty host (`postgres://user@/db?host=/run/postgresql`,
        // `postgres:///db`): read it as localhost, which a `host` parameter may replace.
        let url = url::Url::parse(text)
            .or_else(|e| match (e, with_localhost(text)) {
                (url::ParseError::EmptyHost, Some(fixed)) => url::Url::parse(&fixed),
                (e, _) => Err(e),
            })
            .map_err(|e| bad(format!("not a database URL: {e}")))?;
        let (engine, default_port) = match url.scheme() {
            "postgres" | "postgresql" => (Engine::Postgres, 5432),
            "mysql" | "mariadb" => (Engine::Mysql, 3306),
            other => {
                return Err(bad(format!(
                    "unknown scheme {other:?} (expected sqlite:, postgres:// or mysql://)"
                )))
            }
        };
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| bad("bad percent-encoding in the URL".into()))
        };
        let database = decode(url.path().trim_start_matches('/'))?;
        if database.is_empty() {
            return Err(bad("the URL names no database (…/DATABASE)".into()));
        }
        let mut params = Vec::new();
        let mut socket = None;
        let mut host = url
            .host_str()
            .unwrap_or("localhost")
            .trim_matches(['[', ']'])
            .to_owned();
        for (key, value) in url.query_pairs() {
            match (engine, key.as_ref()) {
                (_, "socket" | "unix_socket") => socket = Some(PathBuf::from(value.into_owned())),
                // libpq's `host` parameter: a directory is where the server's socket is.
                (Engine::Postgres, "host") if value.starts_with('/') => {
                    socket = Some(PathBuf::from(value.into_owned()));
                }
                (Engine::Postgres, "host") if !value.is_empty() => host = value.into_owned(),
                _ => params.push((key.into_owned(), value.into_owned())),
            }
        }
        let user = decode(url.username())?;
        let password = url.password().map(decode).transpose()?.map(Secret::new);
        let target = ServerTarget {
            host,
            port: url.port().unwrap_or(default_port),
            socket,
            database,
            user: if user.is_empty() {
                default_user(engine)
            } else {
                user
            },
            password,
            params,
        };
        Ok(match engine {
            Engine::Postgres => DbTarget::Postgres(target),
            _ => DbTarget::Mysql(target),
        })
    }
}

impl fmt::Display for DbTarget {
    /// A URL without the password, for messages: `mysql://root@127.0.0.1:3306/multiflexi`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbTarget::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            DbTarget::Postgres(t) | DbTarget::Mysql(t) => {
                let scheme = self.engine().as_str();
                match &t.socket {
                    Some(socket) => write!(
                        f,
                        "{scheme}://{}@localhost/{}?socket={}",
                        t.user,
                        t.database,
                        socket.display()
                    ),
                    None => write!(
                        f,
                        "{scheme}://{}@{}:{}/{}",
                        t.user, t.host, t.port, t.database
                    ),
                }
            }
        }
    }
}

fn default_user(engine: Engine) -> String {
    match engine {
        Engine::Postgres => "postgres".into(),
        _ => "root".into(),
    }
}

/// `text` with `localhost` as the host when its authority names none (`scheme://user@/…`,
/// `scheme:///…`); `None` when it has no authority.
fn with_localhost(text: &str) -> Option<String> {
    let start = text.find("://")? + 3;
    let end = text[start..]
        .find(['/', '?'])
        .map_or(text.len(), |i| start + i);
    let authority = &text[start..end];
    (authority.is_empty() || authority.ends_with('@'))
        .then(|| format!("{}localhost{}", &text[..end], &text[end..]))
}

/// Replaces the password of a URL by `***`, for error messages about the URL itself.
#[must_use]
pub fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(_) => text.to_owned(),
        // Unparseable: hide everything between "://" and the last '@', where a password sits.
        Err(_) => match (text.find("://"), text.rfind('@')) {
            (Some(start), Some(at)) if at > start => {
                format!("{}://***{}", &text[..start], &text[at..])
            }
            _ => text.to_owned(),
        },
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `DB_*` variables, as read (already merged from process environment and env file).
#[derive(Debug, Default)]
pub struct DbVars<'a> {
    pub connection: Option<&'a str>,
    pub host: Option<&'a str>,
    pub port: Option<&'a str>,
    pub database: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub settings: Option<&'a str>,
}

impl DbVars<'_> {
    /// Builds the target, or `None` when `DB_CONNECTION` is unset.
    ///
    /// # Errors
    /// Unknown `DB_CONNECTION`, missing `DB_DATABASE`, bad `DB_PORT`.
    pub fn target(&self) -> Result<Option<DbTarget>, ConfigError> {
        let Some(connection) = self.connection else {
            return Ok(None);
        };
        let engine = match connection.to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => Engine::Mysql,
            "pgsql" | "postgres" | "postgresql" => Engine::Postgres,
            "sqlite" | "sqlite3" => Engine::Sqlite,
            _ => {
                return Err(ConfigError::Invalid {
                    variable: "DB_CONNECTION".into(),
                    value: connection.into(),
                    problem: "unknown engine (expected mysql, pgsql, sqlite or sqlite3)".into(),
                })
            }
        };
        let database = self.database.ok_or_else(|| ConfigError::Missing {
            variable: "DB_DATABASE".into(),
            why: format!("needed with DB_CONNECTION={connection}"),
        })?;
        if engine == Engine::Sqlite {
            return Ok(Some(DbTarget::Sqlite {
                path: PathBuf::from(database),
            }));
        }
        let port = match self.port {
            None => match engine {
                Engine::Postgres => 5432,
                _ => 3306,
            },
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    return Err(ConfigError::Invalid {
                        variable: "DB_PORT".into(),
                        value: text.into(),
                        problem: "expected a port number from 1 to 65535".into(),
                    })
                }
            },
        };
        let mut socket = None;
        let mut params = Vec::new();
        for setting in self.settings.unwrap_or("").split(';').map(str::trim) {
            if setting.is_empty() {
                continue;
            }
            match setting.split_once('=') {
                Some(("unix_socket", path)) => socket = Some(PathBuf::from(path.trim())),
                Some((key, value)) => params.push((key.trim().to_owned(), value.trim().to_owned())),
                None => {
                    return Err(ConfigError::Invalid {
                        variable: "DB_SETTINGS".into(),
                        value: setting.into(),
                        problem: "expected key=value pairs separated by ';'".into(),
                    })
                }
            }
        }
        let target = ServerTarget {
            host: self.host.unwrap_or("localhost").to_owned(),
            port,
            socket,
            database: database.to_owned(),
            user: self
                .username
                .map_or_else(|| default_user(engine), str::to_owned),
            password: self.password.map(Secret::new),
            params,
        };
        Ok(Some(match engine {
            Engine::Postgres => DbTarget::Postgres(target),
            _ => DbTarget::Mysql(target),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_each_engine_parse() {
        let t = DbTarget::from_url("sqlite:/var/lib/mf.sqlite", "--database").unwrap();
        assert_eq!(
            t,
            DbTarget::Sqlite {
                path: "/var/lib/mf.sqlite".into()
            }
        );
        let t = DbTarget::from_url("sqlite://rel/mf.db", "--database").unwrap();
        assert_eq!(
            t,
            DbTarget::Sqlite {
                path: "rel/mf.db".into()
            }
        );

        let t = DbTarget::from_url("postgres://mf:s%40cret@db:6543/multiflexi", "x").unwrap();
        let DbTarget::Postgres(s) = &t else {
            panic!("{t:?}")
        };
        assert_eq!(
            (s.host.as_str(), s.port, s.user.as_str()),
            ("db", 6543, "mf")
        );
        assert_eq!(s.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!(s.database, "multiflexi");

        let t = DbTarget::from_url("mysql://root@127.0.0.1/test?prefer_socket=false", "x").unwrap();
        let DbTarget::Mysql(s) = &t else {
            panic!("{t:?}")
        };
        assert_eq!(s.port, 3306);
        assert_eq!(s.param("prefer_socket"), Some("false"));
        assert_eq!(t.to_string(), "mysql://root@127.0.0.1:3306/test");
    }

    #[test]
    fn a_postgres_socket_directory_in_the_host_parameter_is_the_socket() {
        let t = DbTarget::from_url(
            "postgres://multiflexi@/multiflexi?host=/var/run/postgresql",
            "x",
        )
        .unwrap();
        let DbTarget::Postgres(s) = &t else {
            panic!("{t:?}")
        };
        assert_eq!(
            s.socket.as_deref(),
            Some(std::path::Path::new("/var/run/postgresql"))
        );
        assert_eq!(
            (s.user.as_str(), s.database.as_str(), s.port),
            ("multiflexi", "multiflexi", 5432)
        );
        assert!(s.params.is_empty(), "not passed on as an unknown parameter");
        assert_eq!(
            t.to_string(),
            "postgres://multiflexi@localhost/multiflexi?socket=/var/run/postgresql"
        );
        let t = DbTarget::from_url("postgres:///mf?host=/run/postgresql", "x").unwrap();
        assert_eq!(
            t.to_string(),
            "postgres://postgres@localhost/mf?socket=/run/postgresql"
        );
        let t = DbTarget::from_url("postgresql://u@ignored:6000/db?host=db.example", "x").unwrap();
        let DbTarget::Postgres(s) = &t else {
            panic!("{t:?}")
        };
        assert_eq!(
            (s.host.as_str(), s.port, s.socket.as_ref()),
            ("db.example", 6000, None)
        );
    }

    #[test]
    fn bad_urls_are_named_and_redacted() {
        let err = DbTarget::from_url("oracle://u:pw@h/db", "HOUSEKEEPER_DATABASE_URL").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("HOUSEKEEPER_DATABASE_URL"), "{text}");
        assert!(text.contains("unknown scheme \"oracle\""), "{text}");
        assert!(!text.contains("pw"), "{text}");
        let err = DbTarget::from_url("mysql://u:pw@h", "--database").unwrap_err();
        assert!(err.to_string().contains("names no database"), "{err}");
        assert!(!err.to_string().contains("pw"));
    }

    #[test]
    fn passwords_never_show() {
        let t = DbTarget::from_url("postgres://u:hunter2@h/db", "x").unwrap();
        assert!(!format!("{t}").contains("hunter2"));
        assert!(!format!("{t:?}").contains("hunter2"));
        assert!(!format!("{t:#?}").contains("hunter2"));
        assert_eq!(redact_url("mysql://u:hunter2@h/db"), "mysql://u:***@h/db");
        assert_eq!(
            redact_url("mysql://u:hun@ter2@h:99999/db"),
            "mysql://***@h:99999/db"
        );
    }

    #[test]
    fn db_vars_build_targets() {
        let vars = DbVars {
            connection: Some("mysql"),
            host: Some("db"),
            database: Some("multiflexi"),
            username: Some("mf"),
            password: Some("pw"),
            settings: Some("unix_socket=/run/mysqld/mysqld.sock"),
            ..DbVars::default()
        };
        let Some(DbTarget::Mysql(t)) = vars.target().unwrap() else {
            panic!()
        };
        assert_eq!(
            t.socket.as_deref(),
            Some(std::path::Path::new("/run/mysqld/mysqld.sock"))
        );
        assert_eq!(t.port, 3306);

        let vars = DbVars {
            connection: Some("sqlite3"),
            database: Some("/x.db"),
            ..DbVars::default()
        };
        assert_eq!(
            vars.target().unwrap(),
            Some(DbTarget::Sqlite {
                path: "/x.db".into()
            })
        );
        assert_eq!(DbVars::default().target().unwrap(), None);
    }

    #[test]
    fn db_var_errors_name_the_variable() {
        let vars = DbVars {
            connection: Some("oracle"),
            ..DbVars::default()
        };
        assert_eq!(
            vars.target().unwrap_err().to_string(),
            "DB_CONNECTION=\"oracle\": unknown engine (expected mysql, pgsql, sqlite or sqlite3)"
        );
        let vars = DbVars {
            connection: Some("pgsql"),
            ..DbVars::default()
        };
        assert_eq!(
            vars.target().unwrap_err().to_string(),
            "DB_DATABASE is not set (needed with DB_CONNECTION=pgsql)"
        );
        let vars = DbVars {
            connection: Some("pgsql"),
            database: Some("mf"),
            port: Some("54x"),
            ..DbVars::default()
        };
        assert_eq!(
            vars.target().unwrap_err().to_string(),
            "DB_PORT=\"54x\": expected a port number from 1 to 65535"
        );
    }
}
