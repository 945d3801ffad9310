//! The PostgreSQL backend (`postgres`, the synchronous client, without TLS).
//!
//! Owns: connecting from a `ServerTarget` (TCP host or Unix socket directory, a connect
//! timeout, `application_name` `housekeeper`), the binary decoding of every supported column
//! type into `Value` by type OID, the binding of `Value`s according to the parameter types the
//! server inferred, snapshots (`REPEATABLE READ READ ONLY`), write transactions (`READ
//! COMMITTED`), `DELETE … RETURNING *`, introspection of `current_schema()` from `pg_catalog`,
//! and the advisory lock.
//!
//! A URL's `sslmode=require` (or stricter) is refused rather than silently ignored: this build
//! has no TLS.
//!
//! Must never: put a value into SQL text (the `?` placeholders become `$1…$n` through
//! `Dialect::native_placeholders`), print the password, or guess a value it cannot decode
//! exactly: an unsupported column type is a `DbError::Decode` naming the column.
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
//! integers), `DateTime` into `timestamp`/`timestamptz` (as UTC), `Date` into `date`. A value
//! that does not fit is an error naming the parameter's position and type, never the value.

use std::error::Error as StdError;
use std::fmt::Write as _;

use housekeeper_journal::{DateTimeValue, TimeValue, Value};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::private::BytesMut;
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use postgres::{GenericClient, IsolationLevel, NoTls};

use super::{
    ColumnInfo, ColumnKind, ConnectOptions, Connection, DbError, DbResult, Dialect, Failed,
    ForeignKey, IndexInfo, LockHolder, Query, ReadView, Rows, SchemaFacts, TableInfo, WriteTx,
};
use crate::config::{DbTarget, Engine, ServerTarget};

type BoxError = Box<dyn StdError + Sync + Send>;

/// The text the advisory lock key is derived from.
pub const LOCK_NAME: &str = "multiflexi-housekeeper";

/// The advisory lock key: the first 8 bytes of `blake3("multiflexi-housekeeper")`, big-endian.
/// In `pg_locks` it shows as `classid` (high 32 bits) and `objid` (low 32 bits), `objsubid` 1.
#[must_use]
pub fn lock_key() -> i64 {
    let hash = blake3::hash(LOCK_NAME.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_be_bytes(first)
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// One open PostgreSQL session.
pub struct PostgresConnection {
    client: postgres::Client,
    server: ServerTarget,
    dialect: Dialect,
    lock_held: bool,
}

/// The driver's reason, with its causes; for server errors `SEVERITY: message` only (the
/// server's DETAIL can quote row values).
fn reason(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn statement_error(sql: &str, error: &postgres::Error) -> DbError {
    if error.is_closed() || error.as_db_error().is_none() && error.code().is_none() && is_io(error)
    {
        return DbError::Lost(reason(error));
    }
    let code = error.code().map(|c| c.code().to_owned());
    let kind = match code.as_deref() {
        Some("55P03") => Failed::LockTimeout,
        Some("57014") => Failed::Cancelled,
        // The server ended the session (administrator command, crash, shutdown).
        Some("57P01" | "57P02" | "57P03") => return DbError::Lost(reason(error)),
        _ => Failed::Other,
    };
    DbError::classified(sql, reason(error), code, kind)
}

/// Whether the error comes from the socket (the server went away mid-statement).
fn is_io(error: &postgres::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Sends PostgreSQL's cancel request for the session's running statement.
struct PgCancel(postgres::CancelToken);

impl crate::db::Cancel for PgCancel {
    fn cancel(&self) -> DbResult<()> {
        self.0
            .cancel_query(NoTls)
            .map_err(|e| DbError::Lock(format!("sending the cancel request: {}", reason(&e))))
    }
}

impl PostgresConnection {
    /// Connects and logs in.
    ///
    /// # Errors
    /// `DbError::Connect` naming the redacted target; `auth` is set when the server refused
    /// the login (wrong password, unknown role, no `pg_hba.conf` entry).
    pub fn open(server: &ServerTarget, options: &ConnectOptions) -> DbResult<Box<dyn Connection>> {
        let target = DbTarget::Postgres(server.clone()).to_string();
        for (key, value) in &server.params {
            match (key.as_str(), value.as_str()) {
                // This build talks without TLS: refuse rather than silently downgrade.
                ("sslmode", "disable" | "allow" | "prefer") => {}
                ("sslmode", mode) => {
                    return Err(DbError::Connect {
                        target,
                        detail: format!(
                            "sslmode={mode} asks for TLS, which this build of housekeeper \
                             does not support (use a local socket or sslmode=disable)"
                        ),
                        auth: false,
                    })
                }
                _ => log::warn!("{target}: ignoring the unknown connection parameter '{key}'"),
            }
        }
        let mut config = postgres::Config::new();
        match &server.socket {
            Some(dir) => config.host_path(dir),
            None => config.host(&server.host),
        };
        config
            .port(server.port)
            .user(&server.user)
            .dbname(&server.database)
            .application_name("housekeeper")
            .connect_timeout(options.timeout)
            .options(&format!(
                "-c lock_timeout={} -c statement_timeout={}",
                options.lock_timeout.as_millis(),
                options.statement_timeout.as_millis()
            ));
        if let Some(password) = &server.password {
            config.password(password.expose());
        }
        let client = config.connect(NoTls).map_err(|e| {
            let auth = matches!(
                e.code().map(postgres::error::SqlState::code),
                Some("28P01" | "28000")
            ) || e.to_string().starts_with("authentication error");
            DbError::Connect {
                target: target.clone(),
                detail: reason(&e),
                auth,
            }
        })?;
        Ok(Box::new(PostgresConnection {
            client,
            server: server.clone(),
            dialect: Dialect::new(Engine::Postgres),
            lock_held: false,
        }))
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> DbResult<Rows> {
        let mut rows = Vec::new();
        let columns = query_each(&mut self.client, &self.dialect, sql, params, &mut |row| {
            rows.push(row.to_vec());
            Ok(())
        })?;
        Ok(Rows { columns, rows })
    }

    fn scalar(&mut self, sql: &str, params: &[Value]) -> DbResult<Value> {
        let rows = self.rows(sql, params)?;
        Ok(rows
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Value::Null))
    }

    fn holder(&mut self) -> DbResult<Option<String>> {
        let key = lock_key();
        let bits = key.to_be_bytes();
        let high = u32::from_be_bytes([bits[0], bits[1], bits[2], bits[3]]);
        let low = u32::from_be_bytes([bits[4], bits[5], bits[6], bits[7]]);
        let rows = self.rows(
            "SELECT l.pid, a.usename, host(a.client_addr), a.application_name, a.backend_start \
             FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.classid = ? AND l.objid = ? \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[Value::Int(i64::from(high)), Value::Int(i64::from(low))],
        )?;
        Ok(rows.rows.first().map(|r| {
            format!(
                "PostgreSQL session pid {} (user {}, from {}, application {}, connected since {})",
                r[0],
                text_or(&r[1], "unknown"),
                text_or(&r[2], "a local socket"),
                text_or(&r[3], "unnamed"),
                since(&r[4]),
            )
        }))
    }
}

/// A text column for a message, `unknown` when it is NULL or empty.
fn text_or(value: &Value, unknown: &str) -> String {
    match value {
        Value::Null => unknown.to_owned(),
        Value::Text(s) if s.is_empty() => unknown.to_owned(),
        other => other
            .as_str()
            .map_or_else(|| other.to_string(), str::to_owned),
    }
}

/// A `timestamptz` column (read as UTC) for a message.
fn since(value: &Value) -> String {
    match value {
        Value::DateTime(d) => format!("{d} UTC"),
        _ => "an unknown time".to_owned(),
    }
}

/// Whether this backend can decode values of `ty`.
fn supported(ty: &Type) -> bool {
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
            days => Value::Date(datetime_from_micros(i64::from(days) * MICROS_PER_DAY)?),
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A timestamp from microseconds since 2000-01-01 00:00:00.
fn datetime_from_micros(micros: i64) -> Result<DateTimeValue, BoxError> {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days + PG_EPOCH_DAYS);
    let year = u16::try_from(year)
        .ok()
        .filter(|y| *y >= 1)
        .ok_or("a date before year 1 or after 65535 cannot be represented")?;
    let second_of_day = rest / 1_000_000;
    // Every narrowing below is bounded by the arithmetic above (month ≤ 12, hour < 24, …).
    Ok(DateTimeValue {
        year,
        month: u8::try_from(month)?,
        day: u8::try_from(day)?,
        hour: u8::try_from(second_of_day / 3600)?,
        minute: u8::try_from(second_of_day / 60 % 60)?,
        second: u8::try_from(second_of_day % 60)?,
        micros: u32::try_from(rest % 1_000_000)?,
    })
}

/// Microseconds since 2000-01-01 of a valid date and time.
fn micros_from_datetime(d: &DateTimeValue) -> Result<i64, BoxError> {
    if !d.is_valid_date() {
        return Err("not a valid calendar date and time (a zero date?)".into());
    }
    let days =
        days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day)) - PG_EPOCH_DAYS;
    let seconds = i64::from(d.hour) * 3600 + i64::from(d.minute) * 60 + i64::from(d.second);
    Ok(days * MICROS_PER_DAY + seconds * 1_000_000 + i64::from(d.micros))
}

fn time_from_micros(micros: i64) -> Result<TimeValue, BoxError> {
    if !(0..=MICROS_PER_DAY).contains(&micros) {
        return Err("time of day out of range".into());
    }
    let seconds = micros / 1_000_000;
    Ok(TimeValue {
        negative: false,
        hours: u32::try_from(seconds / 3600)?,
        minute: u8::try_from(seconds / 60 % 60)?,
        second: u8::try_from(seconds % 60)?,
        micros: u32::try_from(micros % 1_000_000)?,
    })
}

fn micros_from_time(t: &TimeValue) -> Result<i64, BoxError> {
    let micros = i64::from(t.hours) * 3_600_000_000
        + i64::from(t.minute) * 60_000_000
        + i64::from(t.second) * 1_000_000
        + i64::from(t.micros);
    if t.negative || t.minute > 59 || t.second > 59 || micros > MICROS_PER_DAY {
        return Err("not a time of day between 00:00:00 and 24:00:00".into());
    }
    Ok(micros)
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
struct Cell(Value);

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
struct Param<'a> {
    value: &'a Value,
    position: usize,
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
                        let micros = micros_from_datetime(&d)
                            .map_err(|e| self.mismatch(ty, &e.to_string()))?;
                        i32::try_from(micros.div_euclid(MICROS_PER_DAY))
                            .map_err(|_| range("date"))?
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

/// Prepares a statement, checking parameter count and result column types.
fn prepare(
    client: &mut impl GenericClient,
    dialect: &Dialect,
    sql: &str,
    params: &[Value],
) -> DbResult<postgres::Statement> {
    let native = dialect.native_placeholders(sql);
    let stmt = client
        .prepare(&native)
        .map_err(|e| statement_error(sql, &e))?;
    if stmt.params().len() != params.len() {
        return Err(DbError::statement(
            sql,
            format!(
                "the statement has {} parameters but {} values were given",
                stmt.params().len(),
                params.len()
            ),
            None,
        ));
    }
    for column in stmt.columns() {
        if !supported(column.type_()) {
            return Err(DbError::Decode {
                column: column.name().to_owned(),
                detail: format!(
                    "the PostgreSQL type {} is not supported",
                    column.type_().name()
                ),
            });
        }
    }
    Ok(stmt)
}

fn bind(params: &[Value]) -> Vec<Param<'_>> {
    params
        .iter()
        .enumerate()
        .map(|(i, value)| Param {
            value,
            position: i + 1,
        })
        .collect()
}

fn query_each(
    client: &mut impl GenericClient,
    dialect: &Dialect,
    sql: &str,
    params: &[Value],
    each: &mut dyn FnMut(&[Value]) -> DbResult<()>,
) -> DbResult<Vec<String>> {
    let stmt = prepare(client, dialect, sql, params)?;
    let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let binds = bind(params);
    let mut rows = client
        .query_raw(&stmt, binds.iter().map(|p| p as &dyn ToSql))
        .map_err(|e| statement_error(sql, &e))?;
    let mut buffer = Vec::with_capacity(columns.len());
    while let Some(row) = rows.next().map_err(|e| statement_error(sql, &e))? {
        buffer.clear();
        for (i, name) in columns.iter().enumerate() {
            let cell: Cell = row.try_get(i).map_err(|e| DbError::Decode {
                column: name.clone(),
                detail: reason(&e),
            })?;
            buffer.push(cell.0);
        }
        each(&buffer)?;
    }
    Ok(columns)
}

fn execute(
    client: &mut impl GenericClient,
    dialect: &Dialect,
    sql: &str,
    params: &[Value],
) -> DbResult<u64> {
    let stmt = prepare(client, dialect, sql, params)?;
    let binds = bind(params);
    let refs: Vec<&(dyn ToSql + Sync)> = binds.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    client
        .execute(&stmt, &refs)
        .map_err(|e| statement_error(sql, &e))
}

/// A `REPEATABLE READ READ ONLY` transaction.
struct PgSnapshot<'a> {
    tx: postgres::Transaction<'a>,
    dialect: Dialect,
}

impl Query for PgSnapshot<'_> {
    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[Value]) -> DbResult<()>,
    ) -> DbResult<Vec<String>> {
        query_each(&mut self.tx, &self.dialect, sql, params, each)
    }
}

impl ReadView for PgSnapshot<'_> {}

/// A `READ COMMITTED` write transaction; dropped without commit, it rolls back.
struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    dialect: Dialect,
}

impl Query for PgTx<'_> {
    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[Value]) -> DbResult<()>,
    ) -> DbResult<Vec<String>> {
        query_each(&mut self.tx, &self.dialect, sql, params, each)
    }
}

impl WriteTx for PgTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        execute(&mut self.tx, &self.dialect, sql, params)
    }

    fn delete_capture(
        &mut self,
        table: &str,
        where_sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[Value]) -> DbResult<()>,
    ) -> DbResult<(Vec<String>, u64)> {
        let sql = format!(
            "DELETE FROM {} WHERE {where_sql} RETURNING *",
            self.dialect.quote(table)
        );
        let mut deleted = 0u64;
        let columns = query_each(&mut self.tx, &self.dialect, &sql, params, &mut |row| {
            deleted += 1;
            each(row)
        })?;
        Ok((columns, deleted))
    }

    fn select_for_update(
        &mut self,
        table: &str,
        where_sql: &str,
        params: &[Value],
    ) -> DbResult<Rows> {
        let sql = format!(
            "SELECT * FROM {} WHERE {where_sql} FOR UPDATE",
            self.dialect.quote(table)
        );
        self.query(&sql, params)
    }

    fn commit(self: Box<Self>) -> DbResult<()> {
        self.tx.commit().map_err(|e| statement_error("COMMIT", &e))
    }
}

impl Connection for PostgresConnection {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    fn describe(&self) -> String {
        DbTarget::Postgres(self.server.clone()).to_string()
    }

    fn identity(&mut self) -> DbResult<String> {
        // The cluster's system identifier does not depend on how the server was reached;
        // reading it needs superuser or pg_monitor-like rights, so fall back to the server's
        // own address.
        let server = match self.scalar("SELECT system_identifier FROM pg_control_system()", &[]) {
            Ok(Value::Int(id)) => id.to_string(),
            _ => match self.scalar("SELECT host(inet_server_addr())", &[])? {
                Value::Text(addr) => addr,
                _ => "local".to_owned(),
            },
        };
        let rows = self.rows("SELECT current_setting('port'), current_database()", &[])?;
        let row = rows.rows.first().ok_or_else(|| DbError::Decode {
            column: "current_database()".into(),
            detail: "no row".into(),
        })?;
        Ok(format!(
            "postgres:{server}:{}/{}",
            row[0],
            text_value(&row[1])
        ))
    }

    fn server_version(&mut self) -> DbResult<String> {
        let version = self.scalar("SELECT current_setting('server_version')", &[])?;
        Ok(format!("PostgreSQL {}", text_value(&version)))
    }

    fn server_now(&mut self) -> DbResult<Option<DateTimeValue>> {
        match self.scalar("SELECT LOCALTIMESTAMP", &[])? {
            Value::DateTime(now) => Ok(Some(now)),
            other => Err(DbError::Decode {
                column: "LOCALTIMESTAMP".into(),
                detail: format!("expected a timestamp, got {}", other.kind()),
            }),
        }
    }

    fn introspect(&mut self) -> DbResult<SchemaFacts> {
        introspect(self)
    }

    fn snapshot(&mut self) -> DbResult<Box<dyn ReadView + '_>> {
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| {
                statement_error(
                    "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                    &e,
                )
            })?;
        // The snapshot is taken by the first statement, not by START TRANSACTION: take it now.
        tx.batch_execute("SELECT 1")
            .map_err(|e| statement_error("SELECT 1", &e))?;
        Ok(Box::new(PgSnapshot {
            tx,
            dialect: self.dialect,
        }))
    }

    fn begin(&mut self) -> DbResult<Box<dyn WriteTx + '_>> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(|e| statement_error("START TRANSACTION ISOLATION LEVEL READ COMMITTED", &e))?;
        Ok(Box::new(PgTx {
            tx,
            dialect: self.dialect,
        }))
    }

    fn execute_ddl(&mut self, sql: &str) -> DbResult<()> {
        self.client
            .batch_execute(sql)
            .map_err(|e| statement_error(sql, &e))
    }

    fn try_lock(&mut self) -> DbResult<Result<(), LockHolder>> {
        if self.lock_held {
            return Ok(Ok(()));
        }
        let lock_error = |e: DbError| DbError::Lock(format!("pg_try_advisory_lock: {e}"));
        for _ in 0..2 {
            let got = self
                .scalar("SELECT pg_try_advisory_lock(?)", &[Value::Int(lock_key())])
                .map_err(lock_error)?;
            if got == Value::Bool(true) {
                self.lock_held = true;
                return Ok(Ok(()));
            }
            // Held: name the holder. If it let go in between, try once more.
            if let Some(holder) = self.holder().map_err(lock_error)? {
                return Ok(Err(LockHolder(holder)));
            }
        }
        Ok(Err(LockHolder(
            "another PostgreSQL session (it could not be identified)".into(),
        )))
    }

    fn unlock(&mut self) -> DbResult<()> {
        if self.lock_held {
            self.scalar("SELECT pg_advisory_unlock(?)", &[Value::Int(lock_key())])
                .map_err(|e| DbError::Lock(format!("pg_advisory_unlock: {e}")))?;
            self.lock_held = false;
        }
        Ok(())
    }

    fn canceller(&mut self) -> Option<Box<dyn crate::db::Cancel>> {
        Some(Box::new(PgCancel(self.client.cancel_token())))
    }

    fn lock_holders(&mut self) -> Vec<String> {
        // Sessions in a transaction that hold more than a read lock on a table of this
        // database. Their statements are not shown: they can quote personal data.
        let rows = self.rows(
            "SELECT a.pid, a.usename, a.application_name, a.state, a.xact_start, \
                    string_agg(DISTINCT c.relname || ' (' || l.mode || ')', ', ') \
             FROM pg_stat_activity a \
             JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype = 'relation' \
                  AND l.mode <> 'AccessShareLock' \
             JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p') \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
             GROUP BY a.pid, a.usename, a.application_name, a.state, a.xact_start \
             ORDER BY a.xact_start LIMIT 5",
            &[],
        );
        let Ok(rows) = rows else {
            return Vec::new();
        };
        rows.rows
            .iter()
            .map(|r| {
                format!(
                    "PostgreSQL session pid {} (user {}, application {}, {} since {}) holds {}",
                    r[0],
                    text_or(&r[1], "unknown"),
                    text_or(&r[2], "unnamed"),
                    text_or(&r[3], "in a transaction"),
                    since(&r[4]),
                    text_or(&r[5], "locks"),
                )
            })
            .collect()
    }

    fn is_lost(&mut self) -> bool {
        self.client.is_closed()
    }
}

fn text_value(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn need_text(value: &Value, what: &str) -> DbResult<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| DbError::Decode {
            column: what.to_owned(),
            detail: format!("expected text, got {}", value.kind()),
        })
}

/// The column kind from `pg_type.typname` (base type for domains).
fn kind_of(typname: &str) -> ColumnKind {
    match typname {
        "bool" => ColumnKind::Boolean,
        "int2" | "int4" | "int8" | "oid" => ColumnKind::Integer,
        "float4" | "float8" => ColumnKind::Float,
        "numeric" => ColumnKind::Decimal,
        "text" | "varchar" | "bpchar" | "name" | "char" | "citext" | "uuid" => ColumnKind::Text,
        "bytea" => ColumnKind::Bytes,
        "timestamp" | "timestamptz" => ColumnKind::DateTime,
        "date" => ColumnKind::Date,
        "time" | "timetz" => ColumnKind::Time,
        "json" | "jsonb" => ColumnKind::Json,
        _ => ColumnKind::Other,
    }
}

fn introspect(c: &mut PostgresConnection) -> DbResult<SchemaFacts> {
    let mut facts = SchemaFacts::default();
    let tables = c.rows(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        &[],
    )?;
    for row in &tables.rows {
        let name = need_text(&row[0], "pg_class.relname")?;
        facts.tables.insert(name.clone(), TableInfo::named(name));
    }

    let columns = c.rows(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), \
                CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END, \
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), CAST(a.attidentity AS text) \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_type bt ON bt.oid = t.typbasetype \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum",
        &[],
    )?;
    for row in &columns.rows {
        let table = need_text(&row[0], "pg_class.relname")?;
        let default = row[5].as_str().map(str::to_owned);
        let identity = row[6].as_str().is_some_and(|s| !s.is_empty());
        let column = ColumnInfo {
            name: need_text(&row[1], "pg_attribute.attname")?,
            declared_type: need_text(&row[2], "format_type")?,
            kind: kind_of(row[3].as_str().unwrap_or("")),
            nullable: row[4] == Value::Bool(false),
            auto_increment: identity
                || default
                    .as_deref()
                    .is_some_and(|d| d.starts_with("nextval(")),
            default: default.filter(|d| !d.eq_ignore_ascii_case("NULL")),
            on_update_now: false,
        };
        if let Some(t) = facts.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }

    let constraints = c.rows(
        "SELECT c.relname, con.conname, CAST(con.contype AS text), a.attname, fc.relname, \
                fa.attname, CAST(con.confdeltype AS text) \
         FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, i) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
         LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid \
              AND fa.attnum = con.confkey[k.i] \
         WHERE n.nspname = current_schema() AND con.contype IN ('p', 'f') \
         ORDER BY c.relname, con.conname, k.i",
        &[],
    )?;
    for row in &constraints.rows {
        let table = need_text(&row[0], "pg_class.relname")?;
        let Some(t) = facts.tables.get_mut(&table) else {
            continue;
        };
        let name = need_text(&row[1], "pg_constraint.conname")?;
        let column = need_text(&row[3], "pg_attribute.attname")?;
        if row[2].as_str() == Some("p") {
            t.primary_key.push(column);
            continue;
        }
        let referenced_column = need_text(&row[5], "pg_attribute.attname")?;
        match t.foreign_keys.last_mut() {
            Some(fk) if fk.name.as_deref() == Some(name.as_str()) => {
                fk.columns.push(column);
                fk.referenced_columns.push(referenced_column);
            }
            _ => t.foreign_keys.push(ForeignKey {
                name: Some(name),
                columns: vec![column],
                referenced_table: need_text(&row[4], "pg_class.relname")?,
                referenced_columns: vec![referenced_column],
                on_delete: match row[6].as_str() {
                    Some("c") => "CASCADE",
                    Some("n") => "SET NULL",
                    Some("d") => "SET DEFAULT",
                    Some("r") => "RESTRICT",
                    _ => "NO ACTION",
                }
                .to_owned(),
            }),
        }
    }

    let indexes = c.rows(
        "SELECT c.relname, ic.relname, i.indisunique, a.attname \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, i) \
         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE n.nspname = current_schema() AND NOT i.indisprimary AND k.i <= i.indnkeyatts \
         ORDER BY c.relname, ic.relname, k.i",
        &[],
    )?;
    for row in &indexes.rows {
        let table = need_text(&row[0], "pg_class.relname")?;
        let Some(t) = facts.tables.get_mut(&table) else {
            continue;
        };
        let name = need_text(&row[1], "pg_class.relname")?;
        let column = row[3]
            .as_str()
            .map_or_else(|| "<expression>".to_owned(), str::to_owned);
        match t.indexes.last_mut() {
            Some(index) if index.name == name => index.columns.push(column),
            _ => t.indexes.push(IndexInfo {
                name,
                columns: vec![column],
                unique: row[2] == Value::Bool(true),
            }),
        }
    }
    Ok(facts)
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
        for (y, m, d) in [
            (2000, 1, 1),
            (1970, 1, 1),
            (1, 1, 1),
            (2024, 2, 29),
            (9999, 12, 31),
        ] {
            let days = days_from_civil(y, m, d);
            assert_eq!(civil_from_days(days), (y, m, d));
        }
        assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_DAYS);
        let dt = DateTimeValue {
            micros: 999_999,
            ..DateTimeValue::ymd_hms(1999, 12, 31, 23, 59, 59)
        };
        let micros = micros_from_datetime(&dt).unwrap();
        assert_eq!(micros, -1);
        assert_eq!(datetime_from_micros(micros).unwrap(), dt);
        assert!(micros_from_datetime(&DateTimeValue::date(0, 0, 0)).is_err());
    }

    #[test]
    fn the_lock_key_is_fixed() {
        assert_eq!(lock_key(), lock_key());
        assert_eq!(lock_key(), FIXED_LOCK_KEY);
    }

    /// What `lock_key()` returns; operators find it in `pg_locks`.
    const FIXED_LOCK_KEY: i64 = -3_509_090_560_721_014_225;
}
