//! PostgreSQL's binary wire values: decoding every supported column type into `Value` by
//! type OID, and encoding `Value`s for the parameter types the server inferred.
//!
//! Owns the value conversions only. Must never run a statement, or guess a value it cannot
//! convert exactly: that is an error naming the parameter's position and type (never the
//! value), or, for a result column, the caller's `DbError::Decode` naming the column.
//!
//! Decoding: `bool` → `Bool`; `int2/int4/int8/oid` → `Int`; `float4/float8` → `Float`
//! (float4 widened exactly); `numeric` → `Decimal`, the digit string PostgreSQL itself prints
//! (decoded from the binary form here, `NaN`/`Infinity` included); `text/varchar/bpchar/name/
//! "char"` and enum labels → `Text`; `bytea` → `Bytes`; `timestamp` → `DateTime` with micros;
//! `timestamptz` → `DateTime` in UTC; `date` → `Date`; `time` → `Time`; `json`/`jsonb` →
//! `Json` (the server's text); `uuid` → `Text` (lower-case, hyphenated). `±infinity`
//! timestamps and dates read as the text `infinity`/`-infinity`, and bind back from it.
//! Domains decode as their base type. Dates before year 1 are a decode error.
//!
//! Binding converts a `Value` into the parameter's type: integers with range checks, text
//! into timestamps/dates/times/numerics/uuids by parsing, `Bool` into `bool` (or 0/1 into
//! integers), `DateTime` into `timestamp`/`timestamptz` (as UTC), `Date` into `date`.
//! Calendar arithmetic is chrono's (proleptic Gregorian, as PostgreSQL's).

use std::error::Error as StdError;
use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use housekeeper_journal::{DateTimeValue, TimeValue, Value};
use postgres::types::private::BytesMut;
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type};

use crate::clock;

type BoxError = Box<dyn StdError + Sync + Send>;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Whether this backend can decode values of `ty`.
pub(super) fn supported(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::CHAR
            | Type::UNKNOWN
            | Type::BYTEA
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::DATE
            | Type::TIME
            | Type::JSON
            | Type::JSONB
            | Type::UUID
    ) || match ty.kind() {
        Kind::Enum(_) => true,
        Kind::Domain(inner) => supported(inner),
        _ => false,
    }
}

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], BoxError> {
    raw.try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", raw.len()).into())
}

fn utf8(raw: &[u8]) -> Result<String, BoxError> {
    Ok(std::str::from_utf8(raw)
        .map_err(|_| "text is not valid UTF-8")?
        .to_owned())
}

/// Decodes one value in PostgreSQL's binary format.
fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    Ok(match *ty {
        Type::BOOL => Value::Bool(be::<1>(raw)?[0] != 0),
        Type::INT2 => Value::Int(i64::from(i16::from_be_bytes(be(raw)?))),
        Type::INT4 => Value::Int(i64::from(i32::from_be_bytes(be(raw)?))),
        Type::INT8 => Value::Int(i64::from_be_bytes(be(raw)?)),
        Type::OID => Value::Int(i64::from(u32::from_be_bytes(be(raw)?))),
        Type::FLOAT4 => Value::Float(f64::from(f32::from_be_bytes(be(raw)?))),
        Type::FLOAT8 => Value::Float(f64::from_be_bytes(be(raw)?)),
        Type::NUMERIC => Value::Decimal(decode_numeric(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR | Type::UNKNOWN => {
            Value::Text(utf8(raw)?)
        }
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => match i64::from_be_bytes(be(raw)?) {
            i64::MAX => Value::Text("infinity".into()),
            i64::MIN => Value::Text("-infinity".into()),
            micros => Value::DateTime(datetime_from_micros(micros)?),
        },
        Type::DATE => match i32::from_be_bytes(be(raw)?) {
            i32::MAX => Value::Text("infinity".into()),
            i32::MIN => Value::Text("-infinity".into()),
            days => Value::Date(date_from_days(days)?),
        },
        Type::TIME => Value::Time(time_from_micros(i64::from_be_bytes(be(raw)?))?),
        Type::JSON => Value::Json(utf8(raw)?),
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => Value::Json(utf8(text)?),
            _ => return Err("unknown jsonb format version".into()),
        },
        Type::UUID => {
            let b: [u8; 16] = be(raw)?;
            let mut s = String::with_capacity(36);
            for (i, byte) in b.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    s.push('-');
                }
                let _ = write!(s, "{byte:02x}");
            }
            Value::Text(s)
        }
        _ => match ty.kind() {
            Kind::Enum(_) => Value::Text(utf8(raw)?),
            Kind::Domain(inner) => decode(inner, raw)?,
            _ => return Err(format!("unsupported type {}", ty.name()).into()),
        },
    })
}

/// PostgreSQL's epoch: `timestamp`s count microseconds and `date`s days from its midnight.
const PG_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

const OUT_OF_YEARS: &str = "a date before year 1 or after 65535 cannot be represented";

/// A date/time value of a chrono time within the years `DateTimeValue` can hold.
fn representable(naive: Option<NaiveDateTime>) -> Result<DateTimeValue, BoxError> {
    naive
        .filter(|n| (1..=65_535).contains(&n.year()))
        .map(clock::from_naive)
        .ok_or_else(|| OUT_OF_YEARS.into())
}

/// A timestamp from microseconds since 2000-01-01 00:00:00.
fn datetime_from_micros(micros: i64) -> Result<DateTimeValue, BoxError> {
    representable(
        PG_EPOCH
            .and_time(NaiveTime::MIN)
            .checked_add_signed(TimeDelta::microseconds(micros)),
    )
}

/// A date from days since 2000-01-01.
fn date_from_days(days: i32) -> Result<DateTimeValue, BoxError> {
    representable(
        PG_EPOCH
            .checked_add_signed(TimeDelta::days(i64::from(days)))
            .map(|date| date.and_time(NaiveTime::MIN)),
    )
}

/// The chrono form of a valid date and time.
fn naive(d: &DateTimeValue) -> Result<NaiveDateTime, BoxError> {
    Some(*d)
        .filter(DateTimeValue::is_valid_date)
        .and_then(clock::to_naive)
        .ok_or_else(|| "not a valid calendar date and time (a zero date?)".into())
}

/// Microseconds since 2000-01-01 of a valid date and time.
fn micros_from_datetime(d: &DateTimeValue) -> Result<i64, BoxError> {
    (naive(d)? - PG_EPOCH.and_time(NaiveTime::MIN))
        .num_microseconds()
        .ok_or_else(|| OUT_OF_YEARS.into())
}

/// Days since 2000-01-01 of a valid date.
fn days_from_date(d: &DateTimeValue) -> Result<i64, BoxError> {
    Ok((naive(d)?.date() - PG_EPOCH).num_days())
}

/// A time of day from microseconds since midnight; `24:00:00` included, as PostgreSQL has it.
fn time_from_micros(micros: i64) -> Result<TimeValue, BoxError> {
    if micros == MICROS_PER_DAY {
        return Ok(TimeValue {
            negative: false,
            hours: 24,
            minute: 0,
            second: 0,
            micros: 0,
        });
    }
    let time = u32::try_from(micros.div_euclid(1_000_000))
        .ok()
        .zip(u32::try_from(micros.rem_euclid(1_000_000)).ok())
        .filter(|_| micros >= 0)
        .and_then(|(seconds, micros)| {
            NaiveTime::from_num_seconds_from_midnight_opt(seconds, micros * 1_000)
        })
        .ok_or("time of day out of range")?;
    Ok(TimeValue {
        negative: false,
        hours: time.hour(),
        minute: u8::try_from(time.minute())?,
        second: u8::try_from(time.second())?,
        micros: time.nanosecond() / 1_000,
    })
}

/// Microseconds since midnight of a time of day (`24:00:00` at most).
fn micros_from_time(t: &TimeValue) -> Result<i64, BoxError> {
    let micros = (TimeDelta::hours(i64::from(t.hours))
        + TimeDelta::minutes(i64::from(t.minute))
        + TimeDelta::seconds(i64::from(t.second))
        + TimeDelta::microseconds(i64::from(t.micros)))
    .num_microseconds()
    .filter(|m| *m <= MICROS_PER_DAY);
    match micros {
        Some(micros) if !t.negative && t.minute <= 59 && t.second <= 59 => Ok(micros),
        _ => Err("not a time of day between 00:00:00 and 24:00:00".into()),
    }
}

/// Parses `HH:MM:SS[.ffffff]`.
fn parse_time(text: &str) -> Option<TimeValue> {
    let (hms, frac) = match text.trim().split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (text.trim(), None),
    };
    let mut parts = hms.split(':');
    let hours = parts.next()?.parse().ok()?;
    let minute = parts.next()?.parse().ok()?;
    let second = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let micros = match frac {
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<6}").parse().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some(TimeValue {
        negative: false,
        hours,
        minute,
        second,
        micros,
    })
}

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// The text PostgreSQL prints for a binary `numeric`.
fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(i16::from_be_bytes(word(2)?.to_be_bytes()));
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    if raw.len() != 8 + 2 * ndigits {
        return Err("numeric length does not match its digit count".into());
    }
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        NUMERIC_POS | NUMERIC_NEG => {}
        _ => return Err("unknown numeric sign".into()),
    }
    let mut digits = Vec::with_capacity(ndigits);
    for i in 0..ndigits {
        let d = word(8 + 2 * i)?;
        if d > 9999 {
            return Err("numeric digit out of range".into());
        }
        digits.push(d);
    }
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == NUMERIC_NEG && !digits.is_empty() {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                let _ = write!(out, "{}", digit(i));
            } else {
                let _ = write!(out, "{:04}", digit(i));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(i));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push_str(&fraction);
    }
    Ok(out)
}

/// The binary `numeric` of a decimal digit string (`-12.50`, `NaN`, `Infinity`).
fn encode_numeric(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let header = |out: &mut BytesMut, ndigits: u16, weight: i16, sign: u16, dscale: u16| {
        out.extend_from_slice(&ndigits.to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
    };
    let text = text.trim();
    match text {
        "NaN" => {
            header(out, 0, 0, NUMERIC_NAN, 0);
            return Ok(());
        }
        "Infinity" | "+Infinity" => {
            header(out, 0, 0, NUMERIC_PINF, 0);
            return Ok(());
        }
        "-Infinity" => {
            header(out, 0, 0, NUMERIC_NINF, 0);
            return Ok(());
        }
        _ => {}
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("not a decimal number".into());
    }
    let dscale = u16::try_from(frac.len())
        .ok()
        .filter(|s| *s <= 0x3FFF)
        .ok_or("too many fractional digits")?;
    let int = int.trim_start_matches('0');
    let mut padded = "0".repeat((4 - int.len() % 4) % 4);
    padded.push_str(int);
    let int_groups = padded.len() / 4;
    padded.push_str(frac);
    padded.push_str(&"0".repeat((4 - frac.len() % 4) % 4));
    let mut groups: Vec<u16> = padded
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0')))
        .collect();
    let mut weight = i64::try_from(int_groups)? - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= i64::try_from(leading)?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    let (sign, weight) = if groups.is_empty() {
        (NUMERIC_POS, 0)
    } else {
        (
            if negative { NUMERIC_NEG } else { NUMERIC_POS },
            i16::try_from(weight).map_err(|_| "number out of numeric's range")?,
        )
    };
    let ndigits = u16::try_from(groups.len()).map_err(|_| "number out of numeric's range")?;
    header(out, ndigits, weight, sign, dscale);
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// A cell of a result row.
pub(super) struct Cell(pub(super) Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A bound parameter, encoded for the type the server inferred.
#[derive(Debug)]
pub(super) struct Param<'a> {
    pub(super) value: &'a Value,
    /// 1-based, for messages.
    pub(super) position: usize,
}

impl Param<'_> {
    fn mismatch(&self, ty: &Type, why: &str) -> BoxError {
        format!(
            "parameter {}: {} value {why} (parameter type {})",
            self.position,
            self.value.kind(),
            ty.name()
        )
        .into()
    }

    fn integer(&self, ty: &Type) -> Result<i128, BoxError> {
        match self.value {
            Value::Int(i) => Ok(i128::from(*i)),
            Value::UInt(u) => Ok(i128::from(*u)),
            Value::Bool(b) => Ok(i128::from(*b)),
            Value::Text(s) | Value::Decimal(s) => s
                .trim()
                .parse()
                .map_err(|_| self.mismatch(ty, "is not an integer")),
            _ => Err(self.mismatch(ty, "cannot be bound")),
        }
    }

    fn float(&self, ty: &Type) -> Result<f64, BoxError> {
        match self.value {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::UInt(u) => Ok(*u as f64),
            Value::Text(s) | Value::Decimal(s) => s
                .trim()
                .parse()
                .map_err(|_| self.mismatch(ty, "is not a number")),
            _ => Err(self.mismatch(ty, "cannot be bound")),
        }
    }

    fn datetime(&self, ty: &Type) -> Result<DateTimeValue, BoxError> {
        match self.value {
            Value::DateTime(d) | Value::Date(d) => Ok(*d),
            Value::Text(s) => {
                DateTimeValue::parse(s).ok_or_else(|| self.mismatch(ty, "is not a date/time"))
            }
            _ => Err(self.mismatch(ty, "cannot be bound")),
        }
    }

    fn encode(&self, ty: &Type, out: &mut BytesMut) -> Result<(), BoxError> {
        let range = |what: &str| self.mismatch(ty, &format!("is out of range of {what}"));
        match *ty {
            Type::BOOL => {
                let b = match self.value {
                    Value::Bool(b) => *b,
                    Value::Int(0) | Value::UInt(0) => false,
                    Value::Int(1) | Value::UInt(1) => true,
                    Value::Text(_) => self
                        .value
                        .as_bool()
                        .ok_or_else(|| self.mismatch(ty, "is not a boolean"))?,
                    _ => return Err(self.mismatch(ty, "cannot be bound")),
                };
                out.extend_from_slice(&[u8::from(b)]);
            }
            Type::INT2 => {
                let v = i16::try_from(self.integer(ty)?).map_err(|_| range("smallint"))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            Type::INT4 => {
                let v = i32::try_from(self.integer(ty)?).map_err(|_| range("integer"))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            Type::INT8 => {
                let v = i64::try_from(self.integer(ty)?).map_err(|_| range("bigint"))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            Type::OID => {
                let v = u32::try_from(self.integer(ty)?).map_err(|_| range("oid"))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            // Narrowing to float4 is exact for every value that was read from a float4.
            Type::FLOAT4 => out.extend_from_slice(&(self.float(ty)? as f32).to_be_bytes()),
            Type::FLOAT8 => out.extend_from_slice(&self.float(ty)?.to_be_bytes()),
            Type::NUMERIC => {
                let text = match self.value {
                    Value::Decimal(s) | Value::Text(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    Value::Float(f) if f.is_nan() => "NaN".into(),
                    Value::Float(f) if f.is_infinite() => {
                        if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()
                    }
                    Value::Float(f) => f.to_string(),
                    _ => return Err(self.mismatch(ty, "cannot be bound")),
                };
                encode_numeric(&text, out).map_err(|e| self.mismatch(ty, &e.to_string()))?;
            }
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR | Type::UNKNOWN => {
                let text = match self.value {
                    Value::Text(s) | Value::Json(s) | Value::Decimal(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    Value::Float(f) => f.to_string(),
                    Value::DateTime(d) => d.to_string(),
                    Value::Date(_) | Value::Time(_) => self.value.to_string(),
                    Value::Bytes(b) => std::str::from_utf8(b)
                        .map_err(|_| self.mismatch(ty, "is not valid UTF-8"))?
                        .to_owned(),
                    Value::Bool(_) | Value::Null => {
                        return Err(self.mismatch(ty, "cannot be bound"))
                    }
                };
                out.extend_from_slice(text.as_bytes());
            }
            Type::BYTEA => match self.value {
                Value::Bytes(b) => out.extend_from_slice(b),
                Value::Text(s) => out.extend_from_slice(s.as_bytes()),
                _ => return Err(self.mismatch(ty, "cannot be bound")),
            },
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let micros = match self.value {
                    Value::Text(s) if s.trim() == "infinity" => i64::MAX,
                    Value::Text(s) if s.trim() == "-infinity" => i64::MIN,
                    _ => micros_from_datetime(&self.datetime(ty)?)
                        .map_err(|e| self.mismatch(ty, &e.to_string()))?,
                };
                out.extend_from_slice(&micros.to_be_bytes());
            }
            Type::DATE => {
                let days = match self.value {
                    Value::Text(s) if s.trim() == "infinity" => i32::MAX,
                    Value::Text(s) if s.trim() == "-infinity" => i32::MIN,
                    _ => {
                        let d = self.datetime(ty)?;
                        if (d.hour, d.minute, d.second, d.micros) != (0, 0, 0, 0) {
                            return Err(self.mismatch(ty, "has a time of day and is no date"));
                        }
                        let days =
                            days_from_date(&d).map_err(|e| self.mismatch(ty, &e.to_string()))?;
                        i32::try_from(days).map_err(|_| range("date"))?
                    }
                };
                out.extend_from_slice(&days.to_be_bytes());
            }
            Type::TIME => {
                let t = match self.value {
                    Value::Time(t) => *t,
                    Value::Text(s) => {
                        parse_time(s).ok_or_else(|| self.mismatch(ty, "is not a time"))?
                    }
                    _ => return Err(self.mismatch(ty, "cannot be bound")),
                };
                let micros = micros_from_time(&t).map_err(|e| self.mismatch(ty, &e.to_string()))?;
                out.extend_from_slice(&micros.to_be_bytes());
            }
            Type::JSON | Type::JSONB => {
                let (Value::Json(text) | Value::Text(text)) = self.value else {
                    return Err(self.mismatch(ty, "cannot be bound"));
                };
                if *ty == Type::JSONB {
                    out.extend_from_slice(&[1]);
                }
                out.extend_from_slice(text.as_bytes());
            }
            Type::UUID => {
                let bytes = match self.value {
                    Value::Bytes(b) if b.len() == 16 => b.clone(),
                    Value::Text(s) => {
                        parse_uuid(s).ok_or_else(|| self.mismatch(ty, "is not a UUID"))?
                    }
                    _ => return Err(self.mismatch(ty, "cannot be bound")),
                };
                out.extend_from_slice(&bytes);
            }
            _ => match ty.kind() {
                Kind::Enum(_) => match self.value {
                    Value::Text(s) => out.extend_from_slice(s.as_bytes()),
                    _ => return Err(self.mismatch(ty, "cannot be bound")),
                },
                Kind::Domain(inner) => self.encode(inner, out)?,
                _ => return Err(self.mismatch(ty, "cannot be bound (unsupported type)")),
            },
        }
        Ok(())
    }
}

fn parse_uuid(text: &str) -> Option<Vec<u8>> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    hex.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if self.value.is_null() {
            return Ok(IsNull::Yes);
        }
        self.encode(ty, out)?;
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_round_trip(text: &str) -> String {
        let mut out = BytesMut::new();
        encode_numeric(text, &mut out).unwrap();
        decode_numeric(&out).unwrap()
    }

    #[test]
    fn numerics_encode_and_decode_to_the_same_text() {
        for text in [
            "0",
            "0.00",
            "-0.5",
            "1",
            "9999",
            "10000",
            "12345678.9",
            "0.0001",
            "0.00001",
            "-99999999.99990",
            "123456789012345678901234567890.123456789",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(numeric_round_trip(text), text);
        }
        assert_eq!(numeric_round_trip("007.50"), "7.50");
        assert_eq!(numeric_round_trip("-0.00"), "0.00");
        assert_eq!(numeric_round_trip(".5"), "0.5");
        let mut out = BytesMut::new();
        assert!(encode_numeric("1e5", &mut out).is_err());
        assert!(encode_numeric("", &mut out).is_err());
        assert!(decode_numeric(&[0, 1, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn dates_convert_both_ways() {
        for (y, m, d, days) in [
            (2000, 1, 1, 0),
            (1970, 1, 1, -10_957),
            (1, 1, 1, -730_119),
            (2024, 2, 29, 8_825),
            (9999, 12, 31, 2_921_939),
        ] {
            let date = DateTimeValue::date(y, m, d);
            assert_eq!(days_from_date(&date).unwrap(), i64::from(days));
            assert_eq!(date_from_days(days).unwrap(), date);
        }
        assert!(date_from_days(-730_120).is_err());
        assert!(date_from_days(i32::MAX - 1).is_err());
        assert!(datetime_from_micros(i64::MIN + 1).is_err());
        assert_eq!(
            time_from_micros(MICROS_PER_DAY).unwrap().to_string(),
            "24:00:00"
        );
        assert!(time_from_micros(MICROS_PER_DAY + 1).is_err());
        assert!(time_from_micros(-1).is_err());
        let t = time_from_micros(3_723_000_004).unwrap();
        assert_eq!(micros_from_time(&t).unwrap(), 3_723_000_004);
        let dt = DateTimeValue {
            micros: 999_999,
            ..DateTimeValue::ymd_hms(1999, 12, 31, 23, 59, 59)
        };
        let micros = micros_from_datetime(&dt).unwrap();
        assert_eq!(micros, -1);
        assert_eq!(datetime_from_micros(micros).unwrap(), dt);
        assert!(micros_from_datetime(&DateTimeValue::date(0, 0, 0)).is_err());
    }
}
