//! The env file: `KEY=VALUE` lines as MultiFlexi writes `/etc/multiflexi/multiflexi.env`.
//!
//! Rules: `#` comment lines and blank lines are ignored; an optional `export ` prefix is
//! dropped; key and value are trimmed; one pair of surrounding quotes (single or double) is
//! removed from the value; no expansion, no escapes. A line that is not a comment and has no
//! `=` or an empty or malformed key is an error naming the file and line. An empty value means
//! unset. Later lines win over earlier ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A malformed line of an env file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {problem}")]
pub struct EnvFileError {
    pub path: PathBuf,
    pub line: usize,
    pub problem: String,
}

/// Parses env file text. `path` is only used in error messages.
///
/// # Errors
/// A line that is neither blank, a comment nor a `KEY=VALUE` pair with a valid key.
pub fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, String>, EnvFileError> {
    let mut vars = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |problem: String| EnvFileError {
            path: path.to_owned(),
            line: index + 1,
            problem,
        };
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err(error(format!("expected KEY=VALUE, found {line:?}")));
        };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(error(format!(
                "invalid variable name {key:?} (letters, digits and _ only)"
            )));
        }
        vars.insert(key.to_owned(), unquote(value.trim()).to_owned());
    }
    Ok(vars)
}

/// Removes one pair of matching surrounding quotes.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> BTreeMap<String, String> {
        parse(text, Path::new("test.env")).unwrap()
    }

    #[test]
    fn reads_pairs_comments_export_and_quotes() {
        let vars = parse_ok(
            "# MultiFlexi\n\nDB_CONNECTION=mysql\n  export DB_HOST = db.example \n\
             DB_PASSWORD=\"p=ss#word\"\nAPP_DEBUG='false'\nEMPTY=\nINNER=a\"b\"\n",
        );
        assert_eq!(vars["DB_CONNECTION"], "mysql");
        assert_eq!(vars["DB_HOST"], "db.example");
        assert_eq!(vars["DB_PASSWORD"], "p=ss#word");
        assert_eq!(vars["APP_DEBUG"], "false");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars["INNER"], "a\"b\"");
    }

    #[test]
    fn only_one_pair_of_quotes_is_removed() {
        assert_eq!(parse_ok("A=\"'x'\"\n")["A"], "'x'");
        assert_eq!(parse_ok("A=\"x'\n")["A"], "\"x'");
    }

    #[test]
    fn later_lines_win() {
        assert_eq!(parse_ok("A=1\nA=2\n")["A"], "2");
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let err = parse("A=1\nJUSTAWORD\n", Path::new("/etc/x.env")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/x.env:2: expected KEY=VALUE, found \"JUSTAWORD\""
        );
        let err = parse("MY KEY=1\n", Path::new("x.env")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.env:1: invalid variable name \"MY KEY\" (letters, digits and _ only)"
        );
        assert!(parse("=1\n", Path::new("x.env")).is_err());
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        assert_eq!(parse_ok("A=1\r\nB=2\r\n")["B"], "2");
    }
}
