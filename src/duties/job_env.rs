//! Reading a job's `env` column for file paths: MultiFlexi stores it as PHP `serialize()`
//! output of a `MultiFlexi\ConfigFields` object (with the NUL bytes of private property
//! names), hand-written jobs sometimes as JSON, and anything else is scanned as plain text.
//! A string value of the first two that is itself a path counts whole (spaces included); in
//! plain text a path ends at white space or punctuation. On PostgreSQL the serialized object
//! is stored cut at its first NUL byte, so it names no path there.
//!
//! Pure: text in, strings or paths out. Never panics on any input (the parser is bounded by
//! the input length and a nesting limit).

use std::path::{Component, Path, PathBuf};

/// Nesting deeper than this is treated as not PHP-serialized.
const MAX_DEPTH: usize = 64;

/// Every string value (and array key) of PHP `serialize()` output, or `None` when the text
/// is not exactly one serialized value.
#[must_use]
pub fn php_strings(text: &[u8]) -> Option<Vec<String>> {
    let mut parser = Php {
        input: text,
        at: 0,
        strings: Vec::new(),
    };
    parser.value(0)?;
    (parser.at == text.len() || text[parser.at..].iter().all(u8::is_ascii_whitespace))
        .then_some(parser.strings)
}

struct Php<'a> {
    input: &'a [u8],
    at: usize,
    strings: Vec<String>,
}

impl Php<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.input.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.byte()? == b).then_some(())
    }

    /// Digits (with an optional sign) up to `end`, consuming `end`.
    fn number_until(&mut self, end: u8) -> Option<&[u8]> {
        let start = self.at;
        while *self.input.get(self.at)? != end {
            self.at += 1;
        }
        let text = &self.input[start..self.at];
        self.at += 1;
        Some(text)
    }

    fn length(&mut self, end: u8) -> Option<usize> {
        let text = self.number_until(end)?;
        std::str::from_utf8(text).ok()?.parse().ok()
    }

    /// `"` + exactly `len` bytes + `"`.
    fn quoted(&mut self, len: usize) -> Option<&[u8]> {
        self.expect(b'"')?;
        let end = self.at.checked_add(len)?;
        let bytes = self.input.get(self.at..end)?;
        self.at = end;
        self.expect(b'"')?;
        Some(bytes)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.byte()? {
            b'N' => self.expect(b';'),
            b'b' | b'i' | b'd' | b'r' | b'R' => {
                self.expect(b':')?;
                self.number_until(b';').map(|_| ())
            }
            b's' | b'S' | b'E' => {
                self.expect(b':')?;
                let len = self.length(b':')?;
                let bytes = self.quoted(len)?.to_vec();
                self.expect(b';')?;
                self.strings
                    .push(String::from_utf8_lossy(&bytes).into_owned());
                Some(())
            }
            b'a' => {
                self.expect(b':')?;
                let count = self.length(b':')?;
                self.members(count, depth)
            }
            b'O' => {
                self.expect(b':')?;
                let len = self.length(b':')?;
                self.quoted(len)?;
                self.expect(b':')?;
                let count = self.length(b':')?;
                self.members(count, depth)
            }
            b'C' => {
                // Custom serialization: opaque data; keep it as one string to scan.
                self.expect(b':')?;
                let len = self.length(b':')?;
                self.quoted(len)?;
                self.expect(b':')?;
                let len = self.length(b':')?;
                self.expect(b'{')?;
                let end = self.at.checked_add(len)?;
                let data = self.input.get(self.at..end)?.to_vec();
                self.at = end;
                self.expect(b'}')?;
                self.strings
                    .push(String::from_utf8_lossy(&data).into_owned());
                Some(())
            }
            _ => None,
        }
    }

    fn members(&mut self, count: usize, depth: usize) -> Option<()> {
        self.expect(b'{')?;
        for _ in 0..count {
            self.value(depth + 1)?; // key
            self.value(depth + 1)?; // value
        }
        self.expect(b'}')
    }
}

/// Every string value of a JSON document, or `None` when it is not JSON.
#[must_use]
pub fn json_strings(text: &str) -> Option<Vec<String>> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
                out.push(k.clone());
                walk(x, out);
            }),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut out = Vec::new();
    walk(&value, &mut out);
    Some(out)
}

/// Lexically normalizes an absolute path (`.` and `..` resolved, no filesystem access).
#[must_use]
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Absolute paths strictly inside `dir` mentioned in `text` (a whole value or free text).
fn paths_in(text: &str, dir: &Path, out: &mut Vec<PathBuf>) {
    let prefix = dir.to_string_lossy();
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return;
    }
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '"' | '\''
                            | '`'
                            | ','
                            | ';'
                            | '\0'
                            | '|'
                            | '<'
                            | '>'
                            | ')'
                            | '('
                            | '{'
                            | '}'
                            | '['
                            | ']'
                    )
            })
            .unwrap_or(tail.len());
        let candidate = &tail[..end];
        // `/tmpx` is not inside `/tmp`: the prefix must end at a separator or the path's end.
        let after = &candidate[prefix.len()..];
        if after.is_empty() || after.starts_with('/') {
            let path = normalize(Path::new(candidate));
            // The directory itself (every MultiFlexi job names MULTIFLEXI_TMP) protects nothing.
            if path.starts_with(dir) && path != dir {
                out.push(path);
            }
        }
        rest = &tail[end.max(prefix.len())..];
    }
}

/// A structured value that is itself a path inside `dir` counts whole, spaces and all (a
/// `RESULT_FILE` of `/…/tmp/report 2026.csv`); free text is cut at white space instead.
fn whole_value_path(value: &str, dir: &Path, out: &mut Vec<PathBuf>) {
    let value = value.trim();
    if value.contains(['\0', '\n']) || !value.starts_with('/') {
        return;
    }
    let path = normalize(Path::new(value));
    if path.starts_with(dir) && path != dir {
        out.push(path);
    }
}

/// Every absolute path inside `dir` that a job's `env` refers to: PHP-serialized values,
/// else JSON values, else a plain text scan.
#[must_use]
pub fn referenced_paths(env: &[u8], dir: &Path) -> Vec<PathBuf> {
    let dir = normalize(dir);
    let mut out = Vec::new();
    let strings = php_strings(env).or_else(|| std::str::from_utf8(env).ok().and_then(json_strings));
    match strings {
        Some(strings) => {
            for s in &strings {
                whole_value_path(s, &dir, &mut out);
                paths_in(s, &dir, &mut out);
            }
        }
        None => paths_in(&String::from_utf8_lossy(env), &dir, &mut out),
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `MultiFlexi\ConfigFields` object as PHP `serialize()` writes it: private property
    /// names carry NUL-delimited class names.
    fn config_fields(result_file: &str) -> Vec<u8> {
        fn s(text: &str) -> String {
            format!("s:{}:\"{}\";", text.len(), text)
        }
        let field = |code: &str, value: &str| {
            format!(
                "O:22:\"MultiFlexi\\ConfigField\":3:{{{}{}{}{}{}{}}}",
                s("\0MultiFlexi\\ConfigField\0code"),
                s(code),
                s("\0MultiFlexi\\ConfigField\0type"),
                s("string"),
                s("\0MultiFlexi\\ConfigField\0value"),
                s(value)
            )
        };
        format!(
            "O:23:\"MultiFlexi\\ConfigFields\":2:{{{}a:3:{{{}{}{}{}{}i:42;}}{}s:3:\"Job\";}}",
            s("\0MultiFlexi\\ConfigFields\0fields"),
            s("RESULT_FILE"),
            field("RESULT_FILE", result_file),
            s("MULTIFLEXI_TMP"),
            field("MULTIFLEXI_TMP", "/var/lib/multiflexi/tmp"),
            s("MULTIFLEXI_JOB_ID"),
            s("\0MultiFlexi\\ConfigFields\0name"),
        )
        .into_bytes()
    }

    #[test]
    fn serialized_config_fields_yield_their_paths() {
        let env = config_fields("/var/lib/multiflexi/tmp/running.json");
        assert!(env.contains(&0), "real data carries NUL bytes");
        let strings = php_strings(&env).unwrap();
        assert!(strings.contains(&"/var/lib/multiflexi/tmp/running.json".to_owned()));
        let paths = referenced_paths(&env, Path::new("/var/lib/multiflexi/tmp"));
        assert_eq!(
            paths,
            [PathBuf::from("/var/lib/multiflexi/tmp/running.json")],
            "the temp dir itself protects nothing"
        );
    }

    #[test]
    fn plain_arrays_json_and_text_work_too() {
        let php = b"a:1:{s:11:\"RESULT_FILE\";s:34:\"/var/lib/multiflexi/tmp/a b.json\";}";
        assert!(
            php_strings(php).is_none(),
            "the length does not match the bytes"
        );
        let php = b"a:1:{s:11:\"RESULT_FILE\";s:32:\"/var/lib/multiflexi/tmp/ab.json\";}";
        assert_eq!(
            referenced_paths(php, Path::new("/var/lib/multiflexi/tmp")),
            [PathBuf::from("/var/lib/multiflexi/tmp/ab.json")]
        );
        let json = br#"{"RESULT_FILE":"/var/lib/multiflexi/tmp/jsonenv.json","N":1}"#;
        assert_eq!(
            referenced_paths(json, Path::new("/var/lib/multiflexi/tmp/")),
            [PathBuf::from("/var/lib/multiflexi/tmp/jsonenv.json")]
        );
        let text = b"RESULT_FILE=/var/lib/multiflexi/tmp/out.csv OTHER=/var/lib/multiflexi/tmpx/no /etc/passwd";
        assert_eq!(
            referenced_paths(text, Path::new("/var/lib/multiflexi/tmp")),
            [PathBuf::from("/var/lib/multiflexi/tmp/out.csv")]
        );
    }

    #[test]
    fn a_value_that_is_a_path_counts_whole_with_its_spaces() {
        let env = config_fields("/var/lib/multiflexi/tmp/out dir/report 2026.csv");
        let paths = referenced_paths(&env, Path::new("/var/lib/multiflexi/tmp"));
        assert!(
            paths.contains(&PathBuf::from(
                "/var/lib/multiflexi/tmp/out dir/report 2026.csv"
            )),
            "{paths:?}"
        );
        let json = br#"{"RESULT_FILE":"\/var\/lib\/multiflexi\/tmp\/a b.json"}"#;
        assert!(referenced_paths(json, Path::new("/var/lib/multiflexi/tmp"))
            .contains(&PathBuf::from("/var/lib/multiflexi/tmp/a b.json")));
        // In free text a space ends a path.
        let text = b"RESULT_FILE=/var/lib/multiflexi/tmp/a b.json";
        assert_eq!(
            referenced_paths(text, Path::new("/var/lib/multiflexi/tmp")),
            [PathBuf::from("/var/lib/multiflexi/tmp/a")]
        );
    }

    #[test]
    fn postgres_truncated_config_fields_name_nothing_and_still_parse_as_text() {
        let env = config_fields("/var/lib/multiflexi/tmp/running.json");
        let cut = &env[..env.iter().position(|b| *b == 0).unwrap()];
        assert!(
            php_strings(cut).is_none(),
            "cut at the first NUL it is no longer PHP"
        );
        assert!(referenced_paths(cut, Path::new("/var/lib/multiflexi/tmp")).is_empty());
    }

    #[test]
    fn dot_dot_cannot_escape_or_fake_a_path() {
        let text = b"/var/lib/multiflexi/tmp/../secret /var/lib/multiflexi/tmp/a/../b";
        assert_eq!(
            referenced_paths(text, Path::new("/var/lib/multiflexi/tmp")),
            [PathBuf::from("/var/lib/multiflexi/tmp/b")]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b"O:999999999999999999999:"[..],
            b"s:5:\"ab",
            b"a:2:{i:1;",
            b"C:1:\"X\":99:{",
            b"\xff\xfe",
            b"",
            b"N;extra",
        ] {
            let _ = php_strings(input);
            let _ = referenced_paths(input, Path::new("/tmp/x"));
        }
        let deep = "a:1:{i:0;".repeat(200);
        assert!(php_strings(deep.as_bytes()).is_none());
    }
}
