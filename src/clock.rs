//! The only module that reads the wall clock, and the one clock of the process.
//!
//! A run reads `now` once: from the database server on MySQL and PostgreSQL (naive local
//! time, what MultiFlexi stores), from the process clock in `MULTIFLEXI_TIMEZONE` (or the
//! system zone) on SQLite, or from `HOUSEKEEPER_NOW` when set (tests, the demo). Everything
//! else — file ages, journal time stamps and run ids, the end of the undo window, hold
//! periods, monitoring times — reads the host's absolute clock, which `HOUSEKEEPER_NOW`
//! (interpreted in the same zone) fixes as well: [`init`] sets it once, when the
//! configuration is loaded. Only the comparison with the database server's clock
//! ([`skew_seconds`]) reads the wall clock itself.
//!
//! `housekeeper demo` fixes its run's `now` and its file ages through its own configuration,
//! not the process clock: its journal is stamped on the wall clock, so the commands it
//! suggests afterwards (which run without `HOUSEKEEPER_NOW`) find its run inside the undo
//! window.

// The one reader of the wall clock (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use housekeeper_journal::DateTimeValue;

use crate::config::Config;

/// The fixed host time of `HOUSEKEEPER_NOW`, once the configuration is loaded.
static FIXED: OnceLock<Option<DateTime<Utc>>> = OnceLock::new();

/// Fixes the process's clock from the configuration (`HOUSEKEEPER_NOW` in
/// `MULTIFLEXI_TIMEZONE`), once; later calls change nothing.
pub fn init(config: &Config) {
    let _ = FIXED.set(
        config
            .fixed_now
            .and_then(|now| to_utc(now, config.timezone)),
    );
}

/// The one clock: the fixed time when there is one, else the wall clock.
fn utc_now() -> DateTime<Utc> {
    FIXED.get().copied().flatten().unwrap_or_else(Utc::now)
}

/// The host's absolute clock (or the fixed one).
#[must_use]
pub fn host_now(config: &Config) -> SystemTime {
    system_time(host_utc(config))
}

/// The host's absolute clock in UTC: `HOUSEKEEPER_NOW` read in `MULTIFLEXI_TIMEZONE` when it
/// is set (tests, the demo), else the wall clock. File ages and the end of the undo window
/// both count from it.
#[must_use]
pub fn host_utc(config: &Config) -> DateTime<Utc> {
    config
        .fixed_now
        .and_then(|now| to_utc(now, config.timezone))
        .unwrap_or_else(utc_now)
}

/// The current time as a naive local time in `MULTIFLEXI_TIMEZONE` (or the system zone).
#[must_use]
pub fn local_now(config: &Config) -> DateTimeValue {
    if let Some(now) = config.fixed_now {
        return now;
    }
    let naive = match config.timezone {
        Some(tz) => Utc::now().with_timezone(&tz).naive_local(),
        None => Local::now().naive_local(),
    };
    from_naive(naive)
}

/// The host clock in UTC, RFC 3339, for journal records.
#[must_use]
pub fn utc_stamp() -> String {
    utc_now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The host clock in UTC `days` ago, RFC 3339 (the start of a hold period).
#[must_use]
pub fn utc_stamp_days_ago(days: u32) -> String {
    (utc_now() - chrono::Duration::days(i64::from(days)))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How long ago the host clock passed `then`.
#[must_use]
pub fn age_of(then: DateTime<chrono::FixedOffset>) -> chrono::Duration {
    utc_now().signed_duration_since(then)
}

/// `YYYYMMDDTHHMMSSZ` of the host clock, for run ids.
#[must_use]
pub fn compact_utc_stamp() -> String {
    utc_now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// Seconds since the Unix epoch of the host clock.
#[must_use]
pub fn unix_seconds() -> u64 {
    u64::try_from(utc_now().timestamp()).unwrap_or(0)
}

/// Converts a naive local time in `zone` (system zone when `None`) to UTC. Ambiguous times
/// (DST fold) take the earlier instant; nonexistent ones (DST gap) give `None`.
#[must_use]
pub fn to_utc(local: DateTimeValue, zone: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
    let naive = to_naive(local)?;
    match zone {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        None => Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// The chrono form of a valid date/time value.
#[must_use]
pub fn to_naive(value: DateTimeValue) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(
        i32::from(value.year),
        u32::from(value.month),
        u32::from(value.day),
    )?
    .and_hms_micro_opt(
        u32::from(value.hour),
        u32::from(value.minute),
        u32::from(value.second),
        value.micros,
    )
}

/// The date/time value of a chrono naive time (years outside 0..=65535 saturate).
#[must_use]
pub fn from_naive(naive: NaiveDateTime) -> DateTimeValue {
    DateTimeValue {
        year: u16::try_from(naive.year()).unwrap_or(0),
        month: u8::try_from(naive.month()).unwrap_or(0),
        day: u8::try_from(naive.day()).unwrap_or(0),
        hour: u8::try_from(naive.hour()).unwrap_or(0),
        minute: u8::try_from(naive.minute()).unwrap_or(0),
        second: u8::try_from(naive.second()).unwrap_or(0),
        micros: naive.nanosecond() / 1000 % 1_000_000,
    }
}

/// `value` shifted by a signed number of seconds (`None` when it is not a valid date).
#[must_use]
pub fn shift(value: DateTimeValue, seconds: i64) -> Option<DateTimeValue> {
    let naive = to_naive(value)?;
    naive
        .checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?)
        .map(from_naive)
}

fn system_time(utc: DateTime<Utc>) -> SystemTime {
    let secs = utc.timestamp();
    let nanos = utc.timestamp_subsec_nanos();
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::new(0, nanos)
    }
}

/// Difference between the database's UTC clock and the host's, in seconds (absolute).
#[must_use]
pub fn skew_seconds(db_utc: DateTimeValue) -> Option<u64> {
    let db = to_naive(db_utc)?.and_utc();
    // The database's clock is real: compared with the real one.
    Some((Utc::now() - db).num_seconds().unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifting_crosses_month_ends() {
        let v = DateTimeValue::ymd_hms(2024, 3, 1, 0, 30, 0);
        assert_eq!(
            shift(v, -3600),
            Some(DateTimeValue::ymd_hms(2024, 2, 29, 23, 30, 0))
        );
        assert_eq!(shift(DateTimeValue::date(0, 0, 0), 1), None);
    }

    #[test]
    fn local_times_convert_to_utc_in_the_given_zone() {
        let v = DateTimeValue::ymd_hms(2026, 7, 1, 12, 0, 0);
        let utc = to_utc(v, Some(chrono_tz::Europe::Prague)).unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-07-01T10:00:00+00:00");
        // A time inside the spring-forward gap does not exist.
        let gap = DateTimeValue::ymd_hms(2026, 3, 29, 2, 30, 0);
        assert_eq!(to_utc(gap, Some(chrono_tz::Europe::Prague)), None);
    }
}
