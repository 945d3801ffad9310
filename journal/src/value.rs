//! Typed column values, as read from and written back to a database.
//!
//! A `Value` keeps what the engine returned, losslessly, so that a row captured before a
//! delete can be re-inserted byte for byte: integers keep their signedness, decimals their
//! digits, dates their fields even when they are not a valid date (MySQL zero dates), text
//! its exact bytes. Nothing here converts between engines or time zones.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A date and/or time of day, field by field, exactly as stored.
///
/// Fields are not validated: `0000-00-00 00:00:00` (a MySQL zero date) and `2024-02-30` are
/// representable, and `is_valid_date` tells them apart. There is no time zone: MultiFlexi
/// stores naive local times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DateTimeValue {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub micros: u32,
}

impl DateTimeValue {
    /// A date at midnight.
    #[must_use]
    pub fn date(year: u16, month: u8, day: u8) -> Self {
        Self {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        }
    }

    /// A date and time with whole seconds.
    #[must_use]
    pub fn ymd_hms(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Self {
        Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros: 0,
        }
    }

    /// Whether the fields form a real calendar date and time of day (proleptic Gregorian).
    #[must_use]
    pub fn is_valid_date(&self) -> bool {
        let leap = (self.year.is_multiple_of(4) && !self.year.is_multiple_of(100))
            || self.year.is_multiple_of(400);
        let days_in_month = match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        self.year >= 1
            && self.day >= 1
            && self.day <= days_in_month
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.micros < 1_000_000
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS`, each optionally with
    /// `.f` to `.ffffff` fractional seconds. Returns `None` for anything else. Field values are
    /// not range-checked (see `is_valid_date`).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        fn num<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
            if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        }
        let text = text.trim();
        let (date, time) = match text.find([' ', 'T']) {
            Some(at) => (&text[..at], Some(&text[at + 1..])),
            None => (text, None),
        };
        let mut parts = date.split('-');
        let year = num(parts.next()?, 4)?;
        let month = num(parts.next()?, 2)?;
        let day = num(parts.next()?, 2)?;
        if parts.next().is_some() {
            return None;
        }
        let mut value = Self::date(year, month, day);
        if let Some(time) = time {
            let (hms, frac) = match time.split_once('.') {
                Some((hms, frac)) => (hms, Some(frac)),
                None => (time, None),
            };
            let mut parts = hms.split(':');
            value.hour = num(parts.next()?, 2)?;
            value.minute = num(parts.next()?, 2)?;
            value.second = num(parts.next()?, 2)?;
            if parts.next().is_some() {
                return None;
            }
            if let Some(frac) = frac {
                if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let padded = format!("{frac:0<6}");
                value.micros = padded.parse().ok()?;
            }
        }
        Some(value)
    }
}

impl fmt::Display for DateTimeValue {
    /// `YYYY-MM-DD HH:MM:SS`, with `.ffffff` only when there are fractional seconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.micros != 0 {
            write!(f, ".{:06}", self.micros)?;
        }
        Ok(())
    }
}

/// A time of day or a duration (MySQL `TIME` ranges over ±838 hours), field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeValue {
    pub negative: bool,
    pub hours: u32,
    pub minute: u8,
    pub second: u8,
    pub micros: u32,
}

impl fmt::Display for TimeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        write!(
            f,
            "{sign}{:02}:{:02}:{:02}",
            self.hours, self.minute, self.second
        )?;
        if self.micros != 0 {
            write!(f, ".{:06}", self.micros)?;
        }
        Ok(())
    }
}

/// One column value of one row, losslessly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    /// Signed integers of any width.
    Int(i64),
    /// Unsigned integers that do not fit `i64` or come from an unsigned column.
    UInt(u64),
    /// Floating point, kept bit-exact.
    Float(f64),
    /// Exact decimal (`NUMERIC`/`DECIMAL`) as its canonical digit string, e.g. `-12.50`.
    Decimal(String),
    Text(String),
    Bytes(Vec<u8>),
    /// `DATE` (time fields zero), `DATETIME`, `TIMESTAMP` — naive, possibly not a valid date.
    DateTime(DateTimeValue),
    /// `DATE` kept apart from `DATETIME` so it is written back as a date.
    Date(DateTimeValue),
    Time(TimeValue),
    /// JSON document text, exactly as stored (not re-serialized).
    Json(String),
}

impl Value {
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a signed integer, if it is an integer that fits (also integral text).
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::UInt(v) => i64::try_from(*v).ok(),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Text(s) | Value::Decimal(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text, if it is textual.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Json(s) | Value::Decimal(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a date/time: typed dates directly, text by `DateTimeValue::parse`.
    #[must_use]
    pub fn as_datetime(&self) -> Option<DateTimeValue> {
        match self {
            Value::DateTime(d) | Value::Date(d) => Some(*d),
            Value::Text(s) => DateTimeValue::parse(s),
            Value::Bytes(b) => std::str::from_utf8(b).ok().and_then(DateTimeValue::parse),
            _ => None,
        }
    }

    /// Truthiness as MultiFlexi means it: `true`, non-zero integers, `"1"`/`"true"` text.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(v) => Some(*v != 0),
            Value::UInt(v) => Some(*v != 0),
            Value::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "t" => Some(true),
                "0" | "false" | "f" | "" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A short name of the variant, for messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Float(_) => "float",
            Value::Decimal(_) => "decimal",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::DateTime(_) => "datetime",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Json(_) => "json",
        }
    }
}

impl fmt::Display for Value {
    /// Human rendering for `plan` output: `NULL`, numbers, quoted text, dates as stored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Decimal(v) => f.write_str(v),
            Value::Text(s) | Value::Json(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::DateTime(d) => write!(f, "{d}"),
            Value::Date(d) => write!(f, "{:04}-{:02}-{:02}", d.year, d.month, d.day),
            Value::Time(t) => write!(f, "{t}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<DateTimeValue> for Value {
    fn from(v: DateTimeValue) -> Self {
        Value::DateTime(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_timestamp_forms() {
        assert_eq!(
            DateTimeValue::parse("2024-01-31"),
            Some(DateTimeValue::date(2024, 1, 31))
        );
        assert_eq!(
            DateTimeValue::parse("2024-01-31 23:59:58"),
            Some(DateTimeValue::ymd_hms(2024, 1, 31, 23, 59, 58))
        );
        let frac = DateTimeValue::parse("2024-01-31T23:59:58.5").unwrap();
        assert_eq!(frac.micros, 500_000);
        assert_eq!(frac.to_string(), "2024-01-31 23:59:58.500000");
        assert_eq!(DateTimeValue::parse("2024-1-31"), None);
        assert_eq!(DateTimeValue::parse("yesterday"), None);
        assert_eq!(DateTimeValue::parse("2024-01-31 23:59"), None);
        assert_eq!(DateTimeValue::parse("2024-01-31 23:59:58.1234567"), None);
    }

    #[test]
    fn zero_dates_parse_but_are_not_valid() {
        let zero = DateTimeValue::parse("0000-00-00 00:00:00").unwrap();
        assert!(!zero.is_valid_date());
        assert!(!DateTimeValue::date(2023, 2, 29).is_valid_date());
        assert!(DateTimeValue::date(2024, 2, 29).is_valid_date());
    }

    #[test]
    fn datetimes_order_chronologically() {
        let a = DateTimeValue::ymd_hms(2024, 1, 1, 0, 0, 0);
        let b = DateTimeValue { micros: 1, ..a };
        assert!(a < b);
        assert!(DateTimeValue::date(2023, 12, 31) < a);
    }
}
