//! The builder's helpers for users, apps, companies and runtemplates.

use housekeeper_journal::Value;

use super::{deterministic_uuid, Row, RowRef, Seed, DAY};

impl Seed {
    /// An enabled web user `login` (unique), active yesterday.
    pub fn user(&mut self, login: &str) -> RowRef<'_> {
        let id = self.take_id("user");
        let created = self.at(-400 * DAY);
        let active = self.at(-DAY);
        self.push(Row::new(
            "user",
            vec![
                ("id", Value::Int(id)),
                ("enabled", Value::Bool(true)),
                ("settings", Value::Null),
                ("email", format!("{login}@example.com").into()),
                ("firstname", capitalized(login).into()),
                ("lastname", "Tester".into()),
                (
                    "password",
                    format!("$2y$10$seed.{login}.not.a.real.hash").into(),
                ),
                ("login", login.into()),
                ("DatCreate", created.into()),
                ("DatSave", created.into()),
                ("last_modifier_id", Value::Null),
                ("failed_login_attempts", Value::Int(0)),
                ("two_factor_enabled", Value::Bool(false)),
                ("last_login_ip", "192.0.2.10".into()),
                ("last_login_at", active.into()),
                ("last_activity_at", active.into()),
            ],
        ))
    }

    /// An enabled application `name` (unique) with a unique code and uuid.
    pub fn app(&mut self, name: &str) -> RowRef<'_> {
        let id = self.take_id("apps");
        let created = self.at(-500 * DAY);
        let executable = format!("multiflexi-{}", name.to_ascii_lowercase().replace(' ', "-"));
        self.push(Row::new(
            "apps",
            vec![
                ("id", Value::Int(id)),
                ("enabled", Value::Bool(true)),
                ("image", "".into()),
                ("name", name.into()),
                ("description", format!("{name} for the scenario").into()),
                ("executable", executable.into()),
                ("DatCreate", created.into()),
                ("DatUpdate", created.into()),
                ("deploy", "".into()),
                ("homepage", "https://example.com/".into()),
                ("requirements", "".into()),
                ("ociimage", "".into()),
                ("version", "1.0.0".into()),
                ("code", format!("APP{id}").into()),
                ("uuid", deterministic_uuid(0x0a, id).into()),
                ("tags", "".into()),
                ("resultfile", "RESULT_FILE".into()),
                ("artifacts", "".into()),
            ],
        ))
    }

    /// An enabled company `name` with `slug` (at most 10 characters; the pair is unique).
    pub fn company(&mut self, name: &str, slug: &str) -> RowRef<'_> {
        let id = self.take_id("company");
        let created = self.at(-450 * DAY);
        self.push(Row::new(
            "company",
            vec![
                ("id", Value::Int(id)),
                ("enabled", Value::Bool(true)),
                ("settings", Value::Null),
                ("logo", "".into()),
                ("server", Value::Int(0)),
                ("name", name.into()),
                ("ic", format!("{:08}", 1_000_000 + id).into()),
                ("setup", Value::Bool(true)),
                ("DatCreate", created.into()),
                ("DatUpdate", created.into()),
                (
                    "email",
                    format!("office@{}.example.com", slug.to_ascii_lowercase()).into(),
                ),
                ("slug", slug.into()),
                ("marked_for_deletion", Value::Bool(false)),
            ],
        ))
    }

    /// An active runtemplate of `app` for `company` with interval code `interv` (`d`, `h`, `n`,
    /// …), no `next_schedule`, counters 0.
    pub fn runtemplate(&mut self, app: i64, company: i64, interv: &str) -> RowRef<'_> {
        let id = self.take_id("runtemplate");
        let created = self.at(-300 * DAY);
        self.push(Row::new(
            "runtemplate",
            vec![
                ("id", Value::Int(id)),
                ("app_id", Value::Int(app)),
                ("company_id", Value::Int(company)),
                ("interv", interv.into()),
                ("prepared", Value::Bool(true)),
                ("name", format!("RT{id}").into()),
                ("delay", Value::Int(0)),
                ("executor", "Native".into()),
                ("active", Value::Bool(true)),
                ("next_schedule", Value::Null),
                ("DatCreate", created.into()),
                ("DatSave", Value::Null),
                ("successfull_jobs_count", Value::Int(0)),
                ("failed_jobs_count", Value::Int(0)),
                ("max_attempts", Value::Int(1)),
                ("retry_backoff", "none".into()),
                ("retry_min_gap", Value::Int(0)),
                ("allow_late", Value::Bool(false)),
            ],
        ))
    }
}

/// `s` with its first letter in upper case.
fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
