//! The canonical CBOR profile of FORMAT.md §6: an encoder that can only produce it and a strict
//! decoder that rejects everything outside it.
//!
//! Owns the byte-level rules (shortest heads, definite lengths, 8-byte floats, the allowed simple
//! values). It knows nothing about records or values; `codec` builds those on top. It must never
//! allocate more than the input actually contains: lengths read from untrusted bytes only bound
//! reads, they never size an allocation up front.

use std::fmt;
use std::io::{self, Read};

/// Longest text or byte string accepted anywhere (FORMAT.md §13).
pub const MAX_STRING_LEN: u64 = u32::MAX as u64;

/// How deeply the generic walker (`skip_item`, `diagnostic`) may nest before it gives up.
const MAX_DEPTH: u32 = 64;

pub const MAJOR_UINT: u8 = 0;
pub const MAJOR_NEGINT: u8 = 1;
pub const MAJOR_BYTES: u8 = 2;
pub const MAJOR_TEXT: u8 = 3;
pub const MAJOR_ARRAY: u8 = 4;
pub const MAJOR_MAP: u8 = 5;
pub const MAJOR_TAG: u8 = 6;
pub const MAJOR_SIMPLE: u8 = 7;
/// Not a CBOR major type: how a decoded head marks a float64 (major type 7, additional
/// information 27), so that its bit pattern can never be mistaken for a simple value.
pub const MAJOR_FLOAT: u8 = 8;

const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const NULL: u8 = 0xf6;
const FLOAT64: u8 = 0xfb;

/// Why bytes are not an item of the profile, or not the item a decoder expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset of the offending byte from the start of the decoded stream.
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// Appends canonical CBOR to a byte vector.
#[derive(Debug, Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A head in its shortest form (FORMAT.md §6 rule 1).
    pub fn head(&mut self, major: u8, arg: u64) {
        let m = major << 5;
        if arg < 24 {
            // Fits the additional-information bits.
            self.buf.push(m | arg as u8);
        } else if let Ok(a) = u8::try_from(arg) {
            self.buf.extend_from_slice(&[m | 24, a]);
        } else if let Ok(a) = u16::try_from(arg) {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&a.to_be_bytes());
        } else if let Ok(a) = u32::try_from(arg) {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&a.to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
    }

    pub fn uint(&mut self, v: u64) {
        self.head(MAJOR_UINT, v);
    }

    pub fn int(&mut self, v: i64) {
        if v >= 0 {
            self.head(MAJOR_UINT, v.unsigned_abs());
        } else {
            // CBOR stores -1 - v; for v < 0 that is |v| - 1, which cannot overflow.
            self.head(MAJOR_NEGINT, v.unsigned_abs() - 1);
        }
    }

    /// An `i128` field (FORMAT.md §8.1): an integer when it fits, else a bignum.
    pub fn i128(&mut self, v: i128) {
        if v >= 0 {
            match u64::try_from(v) {
                Ok(u) => self.head(MAJOR_UINT, u),
                Err(_) => {
                    self.head(MAJOR_TAG, 2);
                    self.bytes(strip_leading_zeros(&v.to_be_bytes()));
                }
            }
        } else {
            let n = -1 - v; // >= 0, no overflow for any negative i128
            match u64::try_from(n) {
                Ok(u) => self.head(MAJOR_NEGINT, u),
                Err(_) => {
                    self.head(MAJOR_TAG, 3);
                    self.bytes(strip_leading_zeros(&n.to_be_bytes()));
                }
            }
        }
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { TRUE } else { FALSE });
    }

    pub fn null(&mut self) {
        self.buf.push(NULL);
    }

    /// Always 8 bytes, bit-exact (FORMAT.md §6 rule 4).
    pub fn f64(&mut self, v: f64) {
        self.buf.push(FLOAT64);
        self.buf.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    pub fn text(&mut self, s: &str) {
        self.head(MAJOR_TEXT, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.head(MAJOR_BYTES, b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn array(&mut self, len: usize) {
        self.head(MAJOR_ARRAY, len as u64);
    }

    pub fn map(&mut self, len: usize) {
        self.head(MAJOR_MAP, len as u64);
    }

    /// A map key. Callers write keys in canonical order; the codec tests check they do.
    pub fn key(&mut self, k: &str) {
        self.text(k);
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// A decoded head: major type and argument. For `false`/`true`/`null` (major type 7) the
/// argument is the additional information (20–22); a float64 has major `MAJOR_FLOAT` and its
/// bits as the argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub major: u8,
    pub arg: u64,
}

/// Strict decoder over any byte source.
#[derive(Debug)]
pub struct Decoder<R> {
    reader: R,
    offset: u64,
    /// The journal format version of the bytes (FORMAT.md §14), for the shapes that differ
    /// between versions.
    format_version: u16,
}

impl<R: Read> Decoder<R> {
    /// A decoder of bytes in the current format version.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            offset: 0,
            format_version: crate::frame::FORMAT_VERSION,
        }
    }

    /// A decoder of bytes written in format `version` (a segment header's).
    #[must_use]
    pub fn in_format_version(mut self, version: u16) -> Self {
        self.format_version = version;
        self
    }

    #[must_use]
    pub fn format_version(&self) -> u16 {
        self.format_version
    }

    /// Bytes consumed so far.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn into_inner(self) -> R {
        self.reader
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    #[must_use]
    pub fn error(&self, message: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.offset,
            message: message.into(),
        }
    }

    fn io_error(&self, e: &io::Error) -> DecodeError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            self.error("unexpected end of data")
        } else {
            self.error(format!("read error: {e}"))
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), DecodeError> {
        self.reader.read_exact(buf).map_err(|e| self.io_error(&e))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Reads one byte, or `None` at a clean end of data.
    pub fn read_first_byte(&mut self) -> Result<Option<u8>, DecodeError> {
        let mut b = [0u8; 1];
        loop {
            match self.reader.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.offset += 1;
                    return Ok(Some(b[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(&e)),
            }
        }
    }

    /// Whether the source is exhausted (reads one byte to find out; an error if there is one).
    pub fn expect_end(&mut self) -> Result<(), DecodeError> {
        match self.read_first_byte()? {
            None => Ok(()),
            Some(_) => Err(DecodeError {
                offset: self.offset - 1,
                message: "unexpected data after the item".into(),
            }),
        }
    }

    /// Reads a head, or `None` at a clean end of data (between items).
    pub fn try_head(&mut self) -> Result<Option<Head>, DecodeError> {
        let Some(first) = self.read_first_byte()? else {
            return Ok(None);
        };
        self.head_from(first).map(Some)
    }

    pub fn head(&mut self) -> Result<Head, DecodeError> {
        match self.try_head()? {
            Some(h) => Ok(h),
            None => Err(self.error("unexpected end of data")),
        }
    }

    fn head_from(&mut self, first: u8) -> Result<Head, DecodeError> {
        let major = first >> 5;
        let info = first & 0x1f;
        let start = self.offset - 1;
        let bad = |msg: &str| DecodeError {
            offset: start,
            message: msg.to_owned(),
        };
        if major == MAJOR_SIMPLE {
            return match first {
                FALSE | TRUE | NULL => Ok(Head {
                    major,
                    arg: u64::from(info),
                }),
                FLOAT64 => {
                    let mut b = [0u8; 8];
                    self.read_exact(&mut b)?;
                    Ok(Head {
                        major: MAJOR_FLOAT,
                        arg: u64::from_be_bytes(b),
                    })
                }
                0xf9 | 0xfa => Err(bad("half- and single-precision floats are not allowed")),
                0xff => Err(bad("break code is not allowed (indefinite lengths)")),
                _ => Err(bad(
                    "simple value not allowed (only false, true, null, float64)",
                )),
            };
        }
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let mut b = [0u8; 1];
                self.read_exact(&mut b)?;
                if b[0] < 24 {
                    return Err(bad("integer head not in shortest form"));
                }
                u64::from(b[0])
            }
            25 => {
                let mut b = [0u8; 2];
                self.read_exact(&mut b)?;
                let v = u16::from_be_bytes(b);
                if v <= 0xff {
                    return Err(bad("integer head not in shortest form"));
                }
                u64::from(v)
            }
            26 => {
                let mut b = [0u8; 4];
                self.read_exact(&mut b)?;
                let v = u32::from_be_bytes(b);
                if v <= 0xffff {
                    return Err(bad("integer head not in shortest form"));
                }
                u64::from(v)
            }
            27 => {
                let mut b = [0u8; 8];
                self.read_exact(&mut b)?;
                let v = u64::from_be_bytes(b);
                if v <= 0xffff_ffff {
                    return Err(bad("integer head not in shortest form"));
                }
                v
            }
            31 => return Err(bad("indefinite lengths are not allowed")),
            _ => return Err(bad("reserved additional information")),
        };
        Ok(Head { major, arg })
    }

    fn kind_name(h: Head) -> &'static str {
        match h.major {
            MAJOR_UINT => "unsigned integer",
            MAJOR_NEGINT => "negative integer",
            MAJOR_BYTES => "byte string",
            MAJOR_TEXT => "text string",
            MAJOR_ARRAY => "array",
            MAJOR_MAP => "map",
            MAJOR_TAG => "tag",
            MAJOR_FLOAT => "float",
            _ => match h.arg {
                20 | 21 => "boolean",
                22 => "null",
                _ => "float",
            },
        }
    }

    fn unexpected(&self, h: Head, wanted: &str) -> DecodeError {
        self.error(format!("expected {wanted}, found {}", Self::kind_name(h)))
    }

    pub fn uint(&mut self) -> Result<u64, DecodeError> {
        let h = self.head()?;
        self.uint_from(h)
    }

    pub fn uint_from(&self, h: Head) -> Result<u64, DecodeError> {
        if h.major == MAJOR_UINT {
            Ok(h.arg)
        } else {
            Err(self.unexpected(h, "unsigned integer"))
        }
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let v = self.uint()?;
        u32::try_from(v).map_err(|_| self.error(format!("{v} does not fit a 32-bit field")))
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let v = self.uint()?;
        u16::try_from(v).map_err(|_| self.error(format!("{v} does not fit a 16-bit field")))
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let v = self.uint()?;
        u8::try_from(v).map_err(|_| self.error(format!("{v} does not fit an 8-bit field")))
    }

    pub fn int(&mut self) -> Result<i64, DecodeError> {
        let h = self.head()?;
        self.int_from(h)
    }

    pub fn int_from(&self, h: Head) -> Result<i64, DecodeError> {
        match h.major {
            MAJOR_UINT => i64::try_from(h.arg)
                .map_err(|_| self.error(format!("{} does not fit a signed 64-bit field", h.arg))),
            MAJOR_NEGINT => {
                // value = -1 - arg; fits i64 iff arg <= i64::MAX.
                let a = i64::try_from(h.arg).map_err(|_| {
                    self.error("negative integer does not fit a signed 64-bit field")
                })?;
                Ok(-1 - a)
            }
            _ => Err(self.unexpected(h, "integer")),
        }
    }

    pub fn i128(&mut self) -> Result<i128, DecodeError> {
        let h = self.head()?;
        self.i128_from(h)
    }

    pub fn i128_from(&mut self, h: Head) -> Result<i128, DecodeError> {
        match h.major {
            MAJOR_UINT => Ok(i128::from(h.arg)),
            MAJOR_NEGINT => Ok(-1 - i128::from(h.arg)),
            MAJOR_TAG if h.arg == 2 || h.arg == 3 => {
                let b = self.bytes_limited(16)?;
                if b.first() == Some(&0) {
                    return Err(self.error("bignum has leading zero bytes"));
                }
                if b.len() <= 8 {
                    return Err(self.error("bignum that fits an integer (not canonical)"));
                }
                let mut full = [0u8; 16];
                full[16 - b.len()..].copy_from_slice(&b);
                let magnitude = u128::from_be_bytes(full);
                let m = i128::try_from(magnitude)
                    .map_err(|_| self.error("bignum does not fit a 128-bit field"))?;
                Ok(if h.arg == 2 { m } else { -1 - m })
            }
            _ => Err(self.unexpected(h, "integer")),
        }
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let h = self.head()?;
        self.bool_from(h)
    }

    pub fn bool_from(&self, h: Head) -> Result<bool, DecodeError> {
        match (h.major, h.arg) {
            (MAJOR_SIMPLE, 20) => Ok(false),
            (MAJOR_SIMPLE, 21) => Ok(true),
            _ => Err(self.unexpected(h, "boolean")),
        }
    }

    /// Reads a head; `None` if it is `null`, else the head for the caller to interpret.
    pub fn nullable(&mut self) -> Result<Option<Head>, DecodeError> {
        let h = self.head()?;
        if h.major == MAJOR_SIMPLE && h.arg == 22 {
            Ok(None)
        } else {
            Ok(Some(h))
        }
    }

    fn payload_bytes(&mut self, len: u64, limit: u64) -> Result<Vec<u8>, DecodeError> {
        /// The most a string's stated length reserves before its bytes are read.
        const PREALLOCATE_MAX: u64 = 64 * 1024;
        if len > limit {
            return Err(self.error(format!(
                "string of {len} bytes exceeds the limit of {limit}"
            )));
        }
        // Sized exactly for the common short string; a longer one (its length may be a lie)
        // grows only as real bytes arrive, bounded by `take`.
        let mut out = Vec::with_capacity(usize::try_from(len.min(PREALLOCATE_MAX)).unwrap_or(0));
        let got = (&mut self.reader)
            .take(len)
            .read_to_end(&mut out)
            .map_err(|e| self.io_error(&e))?;
        self.offset += got as u64;
        if (got as u64) < len {
            return Err(self.error("unexpected end of data inside a string"));
        }
        Ok(out)
    }

    pub fn text(&mut self) -> Result<String, DecodeError> {
        let h = self.head()?;
        self.text_from(h)
    }

    pub fn text_from(&mut self, h: Head) -> Result<String, DecodeError> {
        if h.major != MAJOR_TEXT {
            return Err(self.unexpected(h, "text string"));
        }
        let start = self.offset;
        let b = self.payload_bytes(h.arg, MAX_STRING_LEN)?;
        String::from_utf8(b).map_err(|_| DecodeError {
            offset: start,
            message: "text string is not valid UTF-8".into(),
        })
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let h = self.head()?;
        self.bytes_from(h)
    }

    pub fn bytes_from(&mut self, h: Head) -> Result<Vec<u8>, DecodeError> {
        if h.major != MAJOR_BYTES {
            return Err(self.unexpected(h, "byte string"));
        }
        self.payload_bytes(h.arg, MAX_STRING_LEN)
    }

    fn bytes_limited(&mut self, limit: u64) -> Result<Vec<u8>, DecodeError> {
        let h = self.head()?;
        if h.major != MAJOR_BYTES {
            return Err(self.unexpected(h, "byte string"));
        }
        self.payload_bytes(h.arg, limit)
    }

    /// A byte string of exactly `N` bytes.
    pub fn fixed_bytes<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let h = self.head()?;
        self.fixed_bytes_from(h)
    }

    pub fn fixed_bytes_from<const N: usize>(&mut self, h: Head) -> Result<[u8; N], DecodeError> {
        if h.major != MAJOR_BYTES {
            return Err(self.unexpected(h, "byte string"));
        }
        if h.arg != N as u64 {
            return Err(self.error(format!("expected {N} bytes, found {}", h.arg)));
        }
        let mut out = [0u8; N];
        self.read_exact(&mut out)?;
        Ok(out)
    }

    pub fn array(&mut self) -> Result<u64, DecodeError> {
        let h = self.head()?;
        self.array_from(h)
    }

    pub fn array_from(&self, h: Head) -> Result<u64, DecodeError> {
        if h.major == MAJOR_ARRAY {
            Ok(h.arg)
        } else {
            Err(self.unexpected(h, "array"))
        }
    }

    pub fn array_exact(&mut self, n: u64) -> Result<(), DecodeError> {
        let h = self.head()?;
        self.array_exact_from(h, n)
    }

    pub fn array_exact_from(&self, h: Head, n: u64) -> Result<(), DecodeError> {
        let len = self.array_from(h)?;
        if len == n {
            Ok(())
        } else {
            Err(self.error(format!("expected an array of {n} elements, found {len}")))
        }
    }

    pub fn map(&mut self) -> Result<u64, DecodeError> {
        let h = self.head()?;
        self.map_from(h)
    }

    pub fn map_from(&self, h: Head) -> Result<u64, DecodeError> {
        if h.major == MAJOR_MAP {
            Ok(h.arg)
        } else {
            Err(self.unexpected(h, "map"))
        }
    }

    /// A map with exactly the keys `keys`, which the caller reads in this order.
    pub fn map_exact(&mut self, keys: &[&str]) -> Result<(), DecodeError> {
        let h = self.head()?;
        self.map_exact_from(h, keys)
    }

    /// `map_exact` for a map whose head was already read.
    pub fn map_exact_from(&self, h: Head, keys: &[&str]) -> Result<(), DecodeError> {
        let n = self.map_from(h)?;
        if n == keys.len() as u64 {
            Ok(())
        } else {
            Err(self.error(format!(
                "expected a map of {} keys ({}), found {n}",
                keys.len(),
                keys.join(", ")
            )))
        }
    }

    /// The next map key, which must be `expected` (canonical order, no unknown keys).
    pub fn key(&mut self, expected: &str) -> Result<(), DecodeError> {
        let h = self.head()?;
        if h.major != MAJOR_TEXT {
            return Err(self.unexpected(h, "text map key"));
        }
        if h.arg != expected.len() as u64 {
            let found = self.payload_bytes(h.arg, 256).ok();
            return Err(self.error(format!(
                "expected key {expected:?}, found {}",
                found.map_or_else(
                    || "a longer key".to_owned(),
                    |b| format!("{:?}", String::from_utf8_lossy(&b))
                )
            )));
        }
        let b = self.payload_bytes(h.arg, 256)?;
        if b == expected.as_bytes() {
            Ok(())
        } else {
            Err(self.error(format!(
                "expected key {expected:?}, found {:?}",
                String::from_utf8_lossy(&b)
            )))
        }
    }

    pub fn f64_from(&self, h: Head) -> Result<f64, DecodeError> {
        if h.major == MAJOR_FLOAT {
            Ok(f64::from_bits(h.arg))
        } else {
            Err(self.unexpected(h, "float"))
        }
    }

    /// Skips one complete item of the profile (used for payload headers and diagnostics).
    pub fn skip_item(&mut self) -> Result<(), DecodeError> {
        let h = self.head()?;
        self.skip_from(h, 0)
    }

    fn skip_from(&mut self, h: Head, depth: u32) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.error("items nested too deeply"));
        }
        match h.major {
            MAJOR_BYTES | MAJOR_TEXT => {
                let mut sink = io::sink();
                let got = io::copy(&mut (&mut self.reader).take(h.arg), &mut sink)
                    .map_err(|e| self.io_error(&e))?;
                self.offset += got;
                if got < h.arg {
                    return Err(self.error("unexpected end of data inside a string"));
                }
            }
            MAJOR_ARRAY => {
                for _ in 0..h.arg {
                    let inner = self.head()?;
                    self.skip_from(inner, depth + 1)?;
                }
            }
            MAJOR_MAP => {
                for _ in 0..h.arg {
                    let k = self.head()?;
                    self.skip_from(k, depth + 1)?;
                    let v = self.head()?;
                    self.skip_from(v, depth + 1)?;
                }
            }
            MAJOR_TAG => {
                if h.arg != 2 && h.arg != 3 {
                    return Err(self.error(format!("tag {} is not allowed", h.arg)));
                }
                let inner = self.head()?;
                self.skip_from(inner, depth + 1)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Renders items of the profile in CBOR diagnostic notation (RFC 8949 §8), for people and
/// tests. Stops with an error on anything outside the profile.
pub fn diagnostic(bytes: &[u8]) -> Result<String, DecodeError> {
    let mut d = Decoder::new(bytes);
    let mut out = String::new();
    let mut first = true;
    while let Some(h) = d.try_head()? {
        if !first {
            out.push_str(", ");
        }
        first = false;
        diag_item(&mut d, h, &mut out, 0)?;
    }
    Ok(out)
}

fn diag_item(
    d: &mut Decoder<&[u8]>,
    h: Head,
    out: &mut String,
    depth: u32,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(d.error("items nested too deeply"));
    }
    match h.major {
        MAJOR_UINT => out.push_str(&h.arg.to_string()),
        MAJOR_NEGINT => out.push_str(&(-1 - i128::from(h.arg)).to_string()),
        MAJOR_BYTES => {
            let b = d.bytes_from(h)?;
            out.push_str("h'");
            for x in b {
                out.push_str(&format!("{x:02x}"));
            }
            out.push('\'');
        }
        MAJOR_TEXT => {
            let s = d.text_from(h)?;
            out.push_str(&format!("{s:?}"));
        }
        MAJOR_ARRAY => {
            out.push('[');
            for i in 0..h.arg {
                if i > 0 {
                    out.push_str(", ");
                }
                let inner = d.head()?;
                diag_item(d, inner, out, depth + 1)?;
            }
            out.push(']');
        }
        MAJOR_MAP => {
            out.push('{');
            let mut prev_key: Option<Vec<u8>> = None;
            for i in 0..h.arg {
                if i > 0 {
                    out.push_str(", ");
                }
                let kh = d.head()?;
                let key = d.text_from(kh)?;
                let mut enc = Encoder::new();
                enc.text(&key);
                if let Some(prev) = &prev_key {
                    if prev.as_slice() >= enc.buf.as_slice() {
                        return Err(d.error(format!("map key {key:?} out of canonical order")));
                    }
                }
                prev_key = Some(enc.buf);
                out.push_str(&format!("{key:?}: "));
                let vh = d.head()?;
                diag_item(d, vh, out, depth + 1)?;
            }
            out.push('}');
        }
        MAJOR_TAG => {
            if h.arg != 2 && h.arg != 3 {
                return Err(d.error(format!("tag {} is not allowed", h.arg)));
            }
            out.push_str(&format!("{}(", h.arg));
            let inner = d.head()?;
            diag_item(d, inner, out, depth + 1)?;
            out.push(')');
        }
        MAJOR_FLOAT => {
            let bits = h.arg;
            let v = f64::from_bits(bits);
            if v.is_nan() {
                out.push_str(&format!("NaN(0x{bits:016x})"));
            } else if v.is_infinite() {
                out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                out.push_str(&format!("{v:?}"));
            }
        }
        _ => match h.arg {
            20 => out.push_str("false"),
            21 => out.push_str("true"),
            _ => out.push_str("null"),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests;
