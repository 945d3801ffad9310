//! How text that housekeeper did not write itself appears in its human output.
//!
//! Anyone who can create a file in the temp directory, or write a row, a policy name, an app
//! or credential name, chooses bytes that housekeeper shows: file names and link targets,
//! table rows, before → after values, reasons and errors that quote data, journal contents.
//! Printed raw, a newline in such text forges report lines and an escape sequence clears the
//! screen or retitles the terminal. This module owns the one escaping every text output
//! (`plan`, `run`, `apply`, `undo`, `journal …`, `quarantine …`, `doctor`, log lines, Zabbix
//! values) applies to such text, once, where it is written out; the data itself (plans,
//! journal records, JSON documents) keeps the exact original.
//!
//! The style:
//! - printable characters, non-ASCII ones included, stay as they are;
//! - a backslash becomes `\\`;
//! - newline, carriage return and tab become `\n`, `\r`, `\t`;
//! - the other ASCII controls (U+0000–U+001F) and DEL become `\xHH` (`\x1b`, `\x7f`);
//! - the C1 controls (U+0080–U+009F), the bidirectional controls that can reorder a terminal
//!   line (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and the line and paragraph
//!   separators (U+2028, U+2029) become `\u{…}` in lower-case hex (`\u{9b}`, `\u{202e}`);
//! - bytes that are not valid UTF-8 become `\xHH` (`\xff`), one per byte;
//! - inside a quoted column value (`"…"`, see [`ShowValue`]) a double quote becomes `\"`.
//!
//! The escaped text never holds a control character, so it cannot start a line or an escape
//! sequence; and distinct inputs give distinct outputs, so two names never look the same.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use housekeeper_journal::{PathBytes, Value};

/// Whether `c` is written as an escape rather than as itself.
fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || is_reordering(c)
}

/// Unicode controls that are not `Cc` but move or reorder text on a terminal line.
fn is_reordering(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

fn write_char(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\\' => out.write_str("\\\\"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
        c if needs_escape(c) => write!(out, "\\u{{{:x}}}", c as u32),
        c => out.write_char(c),
    }
}

/// Writes valid text, escaping what needs it and copying runs of printable characters.
fn write_str(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    write_text(out, s, false)
}

/// `write_str`, and inside a quoted value also `"` as `\"`, so the value ends where it seems to.
fn write_text(out: &mut impl fmt::Write, s: &str, quoted: bool) -> fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if quoted && c == '"' {
            out.write_str(&s[start..i])?;
            out.write_str("\\\"")?;
            start = i + 1;
        } else if needs_escape(c) {
            out.write_str(&s[start..i])?;
            write_char(out, c)?;
            start = i + c.len_utf8();
        }
    }
    out.write_str(&s[start..])
}

fn write_bytes(out: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        write_str(out, chunk.valid())?;
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// `s` in the escaped style; borrowed when nothing needs escaping.
#[must_use]
pub fn escape_str(s: &str) -> Cow<'_, str> {
    if s.chars().any(needs_escape) {
        let mut out = String::with_capacity(s.len() + 8);
        let _ = write_str(&mut out, s);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// `bytes` in the escaped style, invalid UTF-8 as `\xHH`; borrowed when nothing needs escaping.
#[must_use]
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => escape_str(s),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            let _ = write_bytes(&mut out, bytes);
            Cow::Owned(out)
        }
    }
}

/// Text as bytes: what [`Escaped`] can show (strings, byte strings, OS strings, paths).
pub trait TextBytes {
    fn text_bytes(&self) -> &[u8];
}

impl TextBytes for str {
    fn text_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl TextBytes for String {
    fn text_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl TextBytes for [u8] {
    fn text_bytes(&self) -> &[u8] {
        self
    }
}

impl TextBytes for Vec<u8> {
    fn text_bytes(&self) -> &[u8] {
        self
    }
}

impl TextBytes for OsStr {
    fn text_bytes(&self) -> &[u8] {
        use std::os::unix::ffi::OsStrExt as _;
        self.as_bytes()
    }
}

impl TextBytes for OsString {
    fn text_bytes(&self) -> &[u8] {
        self.as_os_str().text_bytes()
    }
}

impl TextBytes for PathBytes {
    fn text_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl TextBytes for Path {
    fn text_bytes(&self) -> &[u8] {
        self.as_os_str().text_bytes()
    }
}

impl TextBytes for PathBuf {
    fn text_bytes(&self) -> &[u8] {
        self.as_os_str().text_bytes()
    }
}

impl<T: TextBytes + ?Sized> TextBytes for &T {
    fn text_bytes(&self) -> &[u8] {
        (**self).text_bytes()
    }
}

/// Shows text, bytes or a path escaped, for `format!`: `format!("{}", Escaped(&name))`.
/// A path is shown through its bytes, never lossily.
#[derive(Clone, Copy)]
pub struct Escaped<'a, T: ?Sized>(pub &'a T);

impl<T: TextBytes + ?Sized> fmt::Display for Escaped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_some() || f.precision().is_some() {
            // Columns (`{:<24}`) are padded by what is shown, not by the raw text.
            return f.pad(&escape_bytes(self.0.text_bytes()));
        }
        write_bytes(f, self.0.text_bytes())
    }
}

/// A column value for people: text and JSON quoted and escaped, a `"` inside as `\"`
/// (`"say \"hi\"\n"`), the rest as the journal's `Value` shows it (`NULL`, numbers, dates,
/// `<3 bytes>`).
#[derive(Clone, Copy)]
pub struct ShowValue<'a>(pub &'a Value);

impl fmt::Display for ShowValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Text(s) | Value::Json(s) => {
                f.write_char('"')?;
                write_text(f, s, true)?;
                f.write_char('"')
            }
            Value::Decimal(s) => write_str(f, s),
            other => write!(f, "{other}"),
        }
    }
}

/// A file path inside a message or a report key, which are escaped once where they are printed:
/// its exact text when its bytes are UTF-8 (JSON then carries the exact name), else its escaped
/// form (`\xff`), so that nothing is lost.
pub struct PathText<'a>(pub &'a PathBytes);

impl fmt::Display for PathText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0.as_bytes()) {
            Ok(text) => f.write_str(text),
            Err(_) => f.write_str(&escape_bytes(self.0.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn path_text_is_exact_for_utf8_and_escaped_otherwise_and_printing_escapes_once() {
        let forged = PathBytes::from("/tmp/a\n  error: x \u{1b}[2J é.csv");
        assert_eq!(
            PathText(&forged).to_string(),
            "/tmp/a\n  error: x \u{1b}[2J é.csv"
        );
        let message = format!("{} vanished", PathText(&forged));
        assert_eq!(
            Escaped(&message).to_string(),
            r"/tmp/a\n  error: x \x1b[2J é.csv vanished"
        );
        let binary = PathBytes::from_bytes(b"r\xe9sultat-\xff\n\x1b[2J\\ \xc3\xa9.csv".to_vec());
        assert_eq!(
            PathText(&binary).to_string(),
            r"r\xe9sultat-\xff\n\x1b[2J\\ é.csv"
        );
    }

    /// No control character (Cc), no bidi or line-separating control.
    fn is_safe(s: &str) -> bool {
        !s.chars().any(|c| c.is_control() || is_reordering(c))
    }

    #[test]
    fn printable_text_is_borrowed() {
        for s in [
            "",
            "job-42/result.json",
            "Žluťoučký kůň",
            "日本語 ✓",
            "a\"b'c",
        ] {
            assert!(matches!(escape_str(s), Cow::Borrowed(_)), "{s}");
            assert!(
                matches!(escape_bytes(s.as_bytes()), Cow::Borrowed(_)),
                "{s}"
            );
        }
    }

    #[test]
    fn the_documented_style() {
        let cases = [
            ("a\\b", "a\\\\b"),
            ("a\nb\rc\td", "a\\nb\\rc\\td"),
            ("\0\x07\x1b[2J\x7f", "\\x00\\x07\\x1b[2J\\x7f"),
            ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
            ("\u{80}\u{9b}\u{9f}\u{a0}", "\\u{80}\\u{9b}\\u{9f}\u{a0}"),
            ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
            (
                "\u{200e}\u{200f}\u{2066}\u{2069}\u{061c}",
                "\\u{200e}\\u{200f}\\u{2066}\\u{2069}\\u{61c}",
            ),
            ("a\u{2028}b\u{2029}", "a\\u{2028}b\\u{2029}"),
            (
                "\n  error: credential x MISCONFIGURED",
                "\\n  error: credential x MISCONFIGURED",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(escape_str(input), want, "{input:?}");
            assert_eq!(escape_bytes(input.as_bytes()), want, "{input:?}");
            assert_eq!(Escaped(input).to_string(), want, "{input:?}");
        }
    }

    #[test]
    fn invalid_utf8_bytes_are_hex() {
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"\xc3\x28"), "\\xc3(");
        assert_eq!(escape_bytes(b"\x80\xc2\x80"), "\\x80\\u{80}");
        assert_eq!(escape_bytes(b"x\\xff"), "x\\\\xff");
        assert_eq!(Escaped(&b"t\xfe\n"[..]).to_string(), "t\\xfe\\n");
    }

    #[test]
    fn paths_show_their_bytes() {
        use std::os::unix::ffi::OsStrExt as _;
        let path = Path::new(OsStr::from_bytes(b"/tmp/a\nb\xff"));
        assert_eq!(Escaped(path).to_string(), "/tmp/a\\nb\\xff");
        assert_eq!(Escaped(&path.to_path_buf()).to_string(), "/tmp/a\\nb\\xff");
    }

    #[test]
    fn values() {
        assert_eq!(
            ShowValue(&Value::Text("x\n\x1b".into())).to_string(),
            "\"x\\n\\x1b\""
        );
        assert_eq!(
            ShowValue(&Value::Text("a \"b\" \\".into())).to_string(),
            "\"a \\\"b\\\" \\\\\""
        );
        assert_eq!(ShowValue(&Value::Int(5)).to_string(), "5");
        assert_eq!(ShowValue(&Value::Null).to_string(), "NULL");
    }

    #[test]
    fn columns_are_padded_by_what_is_shown() {
        assert_eq!(format!("[{:<6}]", Escaped("a\nb")), "[a\\nb  ]");
        assert_eq!(format!("[{:>4}]", Escaped("é")), "[   é]");
    }

    /// Short byte strings made of what escapes are made of, so collisions would show.
    fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            Just(b'\\'),
            Just(b'x'),
            Just(b'u'),
            Just(b'{'),
            Just(b'}'),
            Just(b'1'),
            Just(b'b'),
            Just(b'n'),
            Just(0x1b),
            Just(b'\n'),
            Just(0xc2),
            Just(0x9b),
            Just(0xff),
            Just(0x80),
            Just(0xe2),
            Just(0xae),
            Just(0xd8),
        ];
        proptest::collection::vec(byte, 0..12)
    }

    /// The inverse of `escape_bytes`: that it exists proves distinct inputs escape apart.
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            match chars.next() {
                Some('\\') => out.push(b'\\'),
                Some('n') => out.push(b'\n'),
                Some('r') => out.push(b'\r'),
                Some('t') => out.push(b'\t'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).expect("two hex digits"));
                }
                Some('u') => {
                    assert_eq!(chars.next(), Some('{'));
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let c = char::from_u32(u32::from_str_radix(&hex, 16).expect("hex"))
                        .expect("a char");
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => panic!("bad escape {other:?} in {s:?}"),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn escaped_text_holds_no_control(s in any::<String>()) {
            let e = escape_str(&s);
            prop_assert!(is_safe(&e), "{e:?}");
            prop_assert_eq!(Escaped(s.as_str()).to_string(), e.as_ref());
        }

        #[test]
        fn escaped_bytes_hold_no_control(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let e = escape_bytes(&b);
            prop_assert!(is_safe(&e), "{e:?}");
            prop_assert_eq!(Escaped(&b).to_string(), e.as_ref());
        }

        #[test]
        fn escaping_bytes_is_injective(a in tricky_bytes(), b in tricky_bytes()) {
            if a != b {
                prop_assert_ne!(escape_bytes(&a), escape_bytes(&b));
            }
        }

        #[test]
        fn escaped_bytes_decode_back(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(unescape(&escape_bytes(&b)), b);
        }

        #[test]
        fn tricky_bytes_decode_back(b in tricky_bytes()) {
            prop_assert_eq!(unescape(&escape_bytes(&b)), b);
        }
    }
}
