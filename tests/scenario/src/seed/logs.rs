//! The builder's helpers for log lines, user sessions, security audit events and login
//! attempts.

use housekeeper_journal::{DateTimeValue, Value};

use super::{shift, Row, RowRef, Seed, DAY, HOUR};

impl Seed {
    /// A `log` row.
    pub fn log(
        &mut self,
        severity: &str,
        venue: &str,
        message: &str,
        created: DateTimeValue,
    ) -> RowRef<'_> {
        let id = self.take_id("log");
        self.push(Row::new(
            "log",
            vec![
                ("id", Value::Int(id)),
                ("company_id", Value::Null),
                ("apps_id", Value::Null),
                ("user_id", Value::Null),
                ("severity", severity.into()),
                ("venue", venue.into()),
                ("message", message.into()),
                ("created", created.into()),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// A web session of `user` (string key `sess-<n>`) last active at `last_activity`, expiring
    /// a day later.
    pub fn session(&mut self, user: i64, last_activity: DateTimeValue) -> RowRef<'_> {
        let n = self.take_id("user_sessions");
        self.push(Row::new(
            "user_sessions",
            vec![
                ("id", format!("sess-{n:032x}").into()),
                ("user_id", Value::Int(user)),
                ("ip_address", "198.51.100.7".into()),
                ("user_agent", "Mozilla/5.0 (X11; Linux x86_64)".into()),
                ("created_at", shift(last_activity, -HOUR).into()),
                ("last_activity", last_activity.into()),
                ("expires_at", shift(last_activity, DAY).into()),
                ("is_active", Value::Bool(true)),
                ("security_data", Value::Json("{\"mfa\":false}".to_owned())),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// A `security_audit_log` event (`severity` one of low, medium, high, critical).
    pub fn audit_event(
        &mut self,
        user: Option<i64>,
        event_type: &str,
        severity: &str,
        created_at: DateTimeValue,
    ) -> RowRef<'_> {
        let id = self.take_id("security_audit_log");
        self.push(Row::new(
            "security_audit_log",
            vec![
                ("id", Value::Int(id)),
                ("user_id", user.map_or(Value::Null, Value::Int)),
                ("event_type", event_type.into()),
                (
                    "event_description",
                    format!("{event_type} event #{id}").into(),
                ),
                ("ip_address", "203.0.113.5".into()),
                ("user_agent", "curl/8.0".into()),
                (
                    "additional_data",
                    Value::Json("{\"source\":\"web\"}".to_owned()),
                ),
                ("severity", severity.into()),
                ("created_at", created_at.into()),
                ("retention_until", Value::Null),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// A `login_attempts` row.
    pub fn login_attempt(
        &mut self,
        username: &str,
        at: DateTimeValue,
        success: bool,
    ) -> RowRef<'_> {
        let id = self.take_id("login_attempts");
        self.push(Row::new(
            "login_attempts",
            vec![
                ("id", Value::Int(id)),
                ("ip_address", "198.51.100.23".into()),
                ("username", username.into()),
                ("attempt_time", at.into()),
                ("success", Value::Bool(success)),
                ("user_agent", "Mozilla/5.0".into()),
                (
                    "failure_reason",
                    if success {
                        Value::Null
                    } else {
                        "invalid_password".into()
                    },
                ),
            ],
        ))
    }
}
