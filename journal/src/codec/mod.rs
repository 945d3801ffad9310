//! Canonical encoding of typed values (FORMAT.md §7) and records (§8), both directions.
//!
//! Owns the mapping between the Rust types of `value` and `record` and their CBOR form, through
//! one trait, `Canonical`, that every encoded type implements: the leaves (integers, strings,
//! digests, paths, options, lists) by hand in this file, typed values in `value`, and every
//! record, field map and enum in `shapes`, generated both ways from one field list per type by
//! the macros of `derive`. Encoding is infallible and deterministic; decoding is strict (exact
//! key sets in canonical order, ranges checked) so that one record has exactly one encoding.
//! Pure: no I/O beyond the `Read` it is given, no knowledge of frames, files or hashes.

#[macro_use]
mod derive;
mod shapes;
#[cfg(test)]
mod tests;
mod value;

use std::io::Read;

use crate::cbor::{DecodeError, Decoder, Encoder, Head, MAJOR_BYTES, MAJOR_SIMPLE};
use crate::record::{Digest, PathBytes, PayloadRef, Record};
use crate::value::{DateTimeValue, Value};

pub use shapes::{encode_plan_record, record_kind_name, RECORD_KEYS};

/// A type with exactly one canonical CBOR encoding.
///
/// `decode_from` reads the item whose head the caller has already taken, so that an `Option`
/// can look at the head for `null` first; it never accepts a second encoding of a value.
pub(crate) trait Canonical: Sized {
    fn encode(&self, e: &mut Encoder);

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError>;

    fn decode<R: Read>(d: &mut Decoder<R>) -> Result<Self, DecodeError> {
        let h = d.head()?;
        Self::decode_from(d, h)
    }
}

/// Encodes one record canonically.
#[must_use]
pub fn encode_record(record: &Record) -> Vec<u8> {
    let mut e = Encoder::new();
    record.encode(&mut e);
    e.buf
}

/// Decodes exactly one canonical record of the current format version from `bytes` (nothing
/// may follow it).
pub fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    decode_record_of_version(bytes, crate::frame::FORMAT_VERSION)
}

/// Decodes exactly one canonical record written in format `version` (its segment header's).
pub fn decode_record_of_version(bytes: &[u8], version: u16) -> Result<Record, DecodeError> {
    let mut d = Decoder::new(bytes).in_format_version(version);
    let r = Record::decode(&mut d)?;
    if version < 2 && matches!(r, Record::SegmentsFolded { .. }) {
        return Err(d.error("record kind \"segments_folded\" is not in format version 1"));
    }
    d.expect_end()?;
    Ok(r)
}

/// Encodes one typed value (FORMAT.md §7).
pub fn value_to(e: &mut Encoder, v: &Value) {
    v.encode(e);
}

/// Decodes one typed value.
pub fn value_from<R: Read>(d: &mut Decoder<R>) -> Result<Value, DecodeError> {
    Value::decode(d)
}

/// Decodes one typed value whose head was already read.
pub fn value_from_head<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Value, DecodeError> {
    Value::decode_from(d, h)
}

/// Encodes a date and time as its array of 7 fields.
pub fn datetime_to(e: &mut Encoder, d: &DateTimeValue) {
    d.encode(e);
}

/// Decodes a date and time from its array of 7 fields.
pub fn datetime_from<R: Read>(d: &mut Decoder<R>) -> Result<DateTimeValue, DecodeError> {
    DateTimeValue::decode(d)
}

/// Every payload reference a record carries, in field order.
#[must_use]
pub fn payload_refs(r: &Record) -> Vec<&PayloadRef> {
    match r {
        Record::Plan { payload, .. } => vec![payload],
        Record::ChunkOutcome {
            payload,
            error_payload,
            ..
        } => payload.iter().chain(error_payload.iter()).collect(),
        Record::DutyEnd { details, .. } | Record::RunEnd { details, .. } => {
            details.iter().collect()
        }
        _ => Vec::new(),
    }
}

/// Capacity to reserve for `n` elements announced by untrusted input.
fn cap(n: u64) -> usize {
    usize::try_from(n.min(1024)).unwrap_or(1024)
}

// ---------------------------------------------------------------------------------------------
// The leaves

impl Canonical for bool {
    fn encode(&self, e: &mut Encoder) {
        e.bool(*self);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.bool_from(h)
    }
}

impl Canonical for u64 {
    fn encode(&self, e: &mut Encoder) {
        e.uint(*self);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.uint_from(h)
    }
}

/// The narrow unsigned fields: an unsigned integer that must fit the field.
macro_rules! canonical_narrow_uint {
    ($($t:ty: $bits:literal),*) => {$(
        impl Canonical for $t {
            fn encode(&self, e: &mut Encoder) {
                e.uint(u64::from(*self));
            }

            fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
                let v = d.uint_from(h)?;
                <$t>::try_from(v).map_err(|_| d.error(format!(concat!("{} does not fit ", $bits), v)))
            }
        }
    )*};
}

canonical_narrow_uint!(u8: "an 8-bit field", u16: "a 16-bit field", u32: "a 32-bit field");

impl Canonical for i64 {
    fn encode(&self, e: &mut Encoder) {
        e.int(*self);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.int_from(h)
    }
}

impl Canonical for i128 {
    fn encode(&self, e: &mut Encoder) {
        e.i128(*self);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.i128_from(h)
    }
}

impl Canonical for String {
    fn encode(&self, e: &mut Encoder) {
        e.text(self);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.text_from(h)
    }
}

impl Canonical for Digest {
    fn encode(&self, e: &mut Encoder) {
        e.bytes(&self.0);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.fixed_bytes_from::<32>(h).map(Digest)
    }
}

/// A path (FORMAT.md §8.1 `path`): a text string when its bytes are valid UTF-8, else a byte
/// string — so every path has exactly one encoding.
impl Canonical for PathBytes {
    fn encode(&self, e: &mut Encoder) {
        match self.as_str() {
            Some(text) => e.text(text),
            None => e.bytes(self.as_bytes()),
        }
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        if h.major == MAJOR_BYTES {
            let start = d.offset();
            let bytes = d.bytes_from(h)?;
            if std::str::from_utf8(&bytes).is_ok() {
                return Err(DecodeError {
                    offset: start,
                    message: "a path that is valid UTF-8 must be a text string".into(),
                });
            }
            return Ok(PathBytes::from_bytes(bytes));
        }
        Ok(PathBytes::from(d.text_from(h)?))
    }
}

/// An optional field: `null` when absent (the key is always present).
impl<T: Canonical> Canonical for Option<T> {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Some(v) => v.encode(e),
            None => e.null(),
        }
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        if h.major == MAJOR_SIMPLE && h.arg == 22 {
            Ok(None)
        } else {
            T::decode_from(d, h).map(Some)
        }
    }
}

/// A list: an array of any length.
impl<T: Canonical> Canonical for Vec<T> {
    fn encode(&self, e: &mut Encoder) {
        e.array(self.len());
        for v in self {
            v.encode(e);
        }
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        let n = d.array_from(h)?;
        let mut out = Vec::with_capacity(cap(n));
        for _ in 0..n {
            out.push(T::decode(d)?);
        }
        Ok(out)
    }
}

/// A pair (an inclusive range): an array of exactly 2.
impl<A: Canonical, B: Canonical> Canonical for (A, B) {
    fn encode(&self, e: &mut Encoder) {
        e.array(2);
        self.0.encode(e);
        self.1.encode(e);
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        d.array_exact_from(h, 2)?;
        Ok((A::decode(d)?, B::decode(d)?))
    }
}
