//! Typed values (FORMAT.md §7): the types CBOR has natively as themselves, the others as a map
//! of one key naming the type; dates and times as arrays of their fields.
//!
//! Owns the one encoding of each `Value` variant. It must never convert a value (no time zones,
//! no number parsing): what the database returned is what is written.

use std::io::Read;

use super::Canonical;
use crate::cbor::{
    DecodeError, Decoder, Encoder, Head, MAJOR_BYTES, MAJOR_FLOAT, MAJOR_MAP, MAJOR_NEGINT,
    MAJOR_SIMPLE, MAJOR_TEXT, MAJOR_UINT,
};
use crate::value::{DateTimeValue, TimeValue, Value};

canonical_array!(DateTimeValue [year, month, day, hour, minute, second, micros]);

canonical_array!(TimeValue [negative, hours, minute, second, micros]);

/// Writes the one-key map `{type: …}` of a value CBOR has no type for.
fn typed(e: &mut Encoder, ty: &str, v: &impl Canonical) {
    e.map(1);
    e.key(ty);
    v.encode(e);
}

impl Canonical for Value {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Value::Null => e.null(),
            Value::Bool(b) => e.bool(*b),
            Value::Int(i) => e.int(*i),
            Value::UInt(u) => typed(e, "uint", u),
            Value::Float(f) => e.f64(*f),
            Value::Decimal(s) => typed(e, "decimal", s),
            Value::Text(s) => e.text(s),
            Value::Bytes(b) => e.bytes(b),
            Value::DateTime(d) => typed(e, "datetime", d),
            Value::Date(d) => typed(e, "date", d),
            Value::Time(t) => typed(e, "time", t),
            Value::Json(s) => typed(e, "json", s),
        }
    }

    fn decode_from<R: Read>(d: &mut Decoder<R>, h: Head) -> Result<Self, DecodeError> {
        Ok(match h.major {
            MAJOR_SIMPLE => match h.arg {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                _ => Value::Null,
            },
            MAJOR_FLOAT => Value::Float(d.f64_from(h)?),
            MAJOR_UINT | MAJOR_NEGINT => Value::Int(d.int_from(h)?),
            MAJOR_TEXT => Value::Text(d.text_from(h)?),
            MAJOR_BYTES => Value::Bytes(d.bytes_from(h)?),
            MAJOR_MAP => {
                if h.arg != 1 {
                    return Err(
                        d.error(format!("a typed value is a map of 1 key, found {}", h.arg))
                    );
                }
                let kh = d.head()?;
                if kh.major != MAJOR_TEXT || kh.arg > 16 {
                    return Err(d.error("a typed value's key must be a short text string"));
                }
                let key = d.text_from(kh)?;
                match key.as_str() {
                    "uint" => Value::UInt(Canonical::decode(d)?),
                    "decimal" => Value::Decimal(Canonical::decode(d)?),
                    "datetime" => Value::DateTime(Canonical::decode(d)?),
                    "date" => Value::Date(Canonical::decode(d)?),
                    "time" => Value::Time(Canonical::decode(d)?),
                    "json" => Value::Json(Canonical::decode(d)?),
                    other => return Err(d.error(format!("unknown value type {other:?}"))),
                }
            }
            _ => return Err(d.error("not a value (arrays and tags are not values)")),
        })
    }
}
