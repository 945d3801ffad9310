//! PHP `serialize()` text of a `MultiFlexi\ConfigFields` object, the form `job.env` really has
//! in a MultiFlexi database: an object whose private properties are named
//! `"\0MultiFlexi\ConfigFields\0fields"` (NUL bytes included) and whose fields are
//! `MultiFlexi\ConfigField` objects. Built here so tests exercise the real shape, not JSON.
//!
//! What such a value becomes in the database depends on the engine: PHP's PDO hands text
//! parameters to PostgreSQL as NUL-terminated strings, so there the value is cut at its first
//! NUL byte (checked with PHP 8.2 `pdo_pgsql`: stored silently, truncated, in both prepare
//! modes); MySQL/MariaDB and SQLite keep every byte. [`as_stored_by_php`] applies that.
//!
//! Must never: be used to parse anything (the temp-file duty has its own reader); this is a
//! writer of sample data only.

use std::fmt::Write as _;

use crate::Engine;

/// `text` as MultiFlexi's PHP code leaves it in a database of `engine`: cut before the first
/// NUL byte on PostgreSQL, unchanged elsewhere.
#[must_use]
pub fn as_stored_by_php(engine: Engine, text: &str) -> String {
    match engine {
        Engine::Postgres => text.split('\0').next().unwrap_or_default().to_owned(),
        Engine::Mysql | Engine::Sqlite => text.to_owned(),
    }
}

/// One configuration field of a job environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvField {
    /// The variable name, e.g. `RESULT_FILE`.
    pub code: String,
    /// One of MultiFlexi's field types: `string`, `file-path`, `integer`, `bool`, `url`, …
    pub kind: String,
    /// The value; `None` is serialized as PHP `null`.
    pub value: Option<String>,
    /// Where the value came from (`Application`, `Company`, `RunTemplate`, `Job`, …).
    pub source: String,
}

impl EnvField {
    #[must_use]
    pub fn new(code: &str, kind: &str, value: &str, source: &str) -> Self {
        EnvField {
            code: code.to_owned(),
            kind: kind.to_owned(),
            value: Some(value.to_owned()),
            source: source.to_owned(),
        }
    }
}

const FIELDS_CLASS: &str = "MultiFlexi\\ConfigFields";
const FIELD_CLASS: &str = "MultiFlexi\\ConfigField";

/// `serialize()` of a `ConfigFields` object named `name` holding `fields`, ordered by code as
/// `ConfigFields::addField` keeps them (`ksort`).
#[must_use]
pub fn php_serialized_config_fields(name: &str, fields: &[EnvField]) -> String {
    let mut sorted: Vec<&EnvField> = fields.iter().collect();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    let mut out = String::new();
    let _ = write!(out, "O:{}:\"{FIELDS_CLASS}\":4:{{", FIELDS_CLASS.len());
    // Inherited public properties of Ease\Atom and Ease\Molecule come first.
    push_str(&mut out, "debug");
    out.push_str("b:0;");
    push_str(&mut out, "objectName");
    push_str(&mut out, "Molecule");
    push_str(&mut out, &private(FIELDS_CLASS, "fields"));
    let _ = write!(out, "a:{}:{{", sorted.len());
    for field in sorted {
        push_str(&mut out, &field.code);
        push_field(&mut out, field);
    }
    out.push('}');
    push_str(&mut out, &private(FIELDS_CLASS, "name"));
    push_str(&mut out, name);
    out.push('}');
    out
}

fn push_field(out: &mut String, field: &EnvField) {
    let _ = write!(out, "O:{}:\"{FIELD_CLASS}\":16:{{", FIELD_CLASS.len());
    let prop = |out: &mut String, name: &str| push_str(out, &private(FIELD_CLASS, name));
    prop(out, "code");
    push_str(out, &field.code);
    prop(out, "name");
    push_str(out, &field.code);
    prop(out, "description");
    push_str(out, "");
    prop(out, "hint");
    push_str(out, "");
    prop(out, "source");
    push_str(out, &field.source);
    prop(out, "note");
    push_str(out, "");
    prop(out, "value");
    match &field.value {
        Some(v) => push_str(out, v),
        None => out.push_str("N;"),
    }
    prop(out, "type");
    push_str(out, &field.kind);
    prop(out, "category");
    push_str(out, "");
    prop(out, "defaultValue");
    out.push_str("N;");
    prop(out, "required");
    out.push_str("b:0;");
    prop(out, "isSecret");
    out.push_str("b:0;");
    prop(out, "isManual");
    out.push_str("b:1;");
    prop(out, "multiLine");
    out.push_str("b:0;");
    prop(out, "logo");
    out.push_str("N;");
    prop(out, "isExpiring");
    out.push_str("b:0;");
    out.push('}');
}

/// PHP's name for a private property in serialized form: `\0Class\0property`.
fn private(class: &str, property: &str) -> String {
    format!("\0{class}\0{property}")
}

/// `s:<byte length>:"<bytes>";`
fn push_str(out: &mut String, s: &str) {
    let _ = write!(out, "s:{}:\"{s}\";", s.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_keeps_only_what_precedes_the_first_nul() {
        let env = php_serialized_config_fields("Job", &[EnvField::new("A", "string", "x", "Job")]);
        let stored = as_stored_by_php(Engine::Postgres, &env);
        assert_eq!(
            stored,
            "O:23:\"MultiFlexi\\ConfigFields\":4:{s:5:\"debug\";b:0;s:10:\"objectName\";\
             s:8:\"Molecule\";s:31:\""
        );
        assert_eq!(as_stored_by_php(Engine::Mysql, &env), env);
        assert_eq!(as_stored_by_php(Engine::Sqlite, &env), env);
    }

    #[test]
    fn serializes_private_properties_with_nul_bytes_and_byte_lengths() {
        let env = php_serialized_config_fields(
            "Job",
            &[
                EnvField::new("RESULT_FILE", "file-path", "/tmp/é.json", "Job"),
                EnvField::new("MULTIFLEXI_JOB_ID", "integer", "6", "Job"),
            ],
        );
        assert!(env.starts_with("O:23:\"MultiFlexi\\ConfigFields\":4:{s:5:\"debug\";b:0;"));
        assert!(env.contains("s:31:\"\0MultiFlexi\\ConfigFields\0fields\";a:2:{"));
        // Sorted by code, as ConfigFields keeps them.
        let job_id = env.find("s:17:\"MULTIFLEXI_JOB_ID\";O:22:").unwrap();
        let result = env.find("s:11:\"RESULT_FILE\";O:22:").unwrap();
        assert!(job_id < result);
        // "é" is two bytes in UTF-8, as PHP counts.
        assert!(env.contains("s:29:\"\0MultiFlexi\\ConfigField\0value\";s:12:\"/tmp/é.json\";"));
        assert!(env.ends_with("s:29:\"\0MultiFlexi\\ConfigFields\0name\";s:3:\"Job\";}"));
        assert_eq!(env.matches(":16:{").count(), 2);
    }
}
