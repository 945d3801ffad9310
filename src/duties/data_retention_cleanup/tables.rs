//! The fixed whitelist of the tables a retention policy may act on: the most any policy may
//! change (`SCOPE`), each table's date column, the tables never hard-deleted and the personal
//! columns `anonymize` overwrites. Constants and look-ups only: never reads the database.

/// The most that any policy may ever change: deletes from the known tables other tables do
/// not reference, marks, anonymizes (the personal columns and `anonymized_at`), and its record
/// rows. At apply time the scope is narrower: only the tables an enabled policy names, with
/// what its action writes ([`super::policy::policy_scope`]).
pub const SCOPE: crate::duties::Scope = crate::duties::Scope {
    deletes: &[
        "user_sessions",
        "security_audit_log",
        "job",
        "log",
        "login_attempts",
    ],
    updates: &[
        (
            "user",
            &[
                "login",
                "email",
                "firstname",
                "lastname",
                "last_login_ip",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "user_sessions",
            &[
                "ip_address",
                "user_agent",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "security_audit_log",
            &[
                "ip_address",
                "user_agent",
                "additional_data",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "job",
            &["env", "command", "anonymized_at", "marked_for_deletion"],
        ),
        ("log", &["message", "anonymized_at", "marked_for_deletion"]),
        (
            "company",
            &[
                "name",
                "email",
                "ic",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
        (
            "login_attempts",
            &[
                "ip_address",
                "username",
                "user_agent",
                "anonymized_at",
                "marked_for_deletion",
            ],
        ),
    ],
    records: &["retention_cleanup_jobs", "data_archive"],
    files: false,
};

/// Tables a policy may name, with the date column that ages their rows.
pub const KNOWN_TABLES: &[(&str, &str)] = &[
    ("user", "last_activity_at"),
    ("user_sessions", "last_activity"),
    ("security_audit_log", "created_at"),
    ("job", "begin"),
    ("log", "created"),
    ("company", "DatUpdate"),
    ("login_attempts", "attempt_time"),
];

/// Tables other tables reference: never hard-deleted (use `anonymize`).
pub const REFERENCED: &[&str] = &["user", "company"];

/// The personal columns `anonymize` overwrites, per table, with their fixed values. `true`
/// marks a unique column, which gets `-<id>` appended so it stays unique.
/// Column, fixed value, unique.
pub type PersonalColumns = &'static [(&'static str, &'static str, bool)];

pub const PERSONAL: &[(&str, PersonalColumns)] = &[
    (
        "user",
        &[
            ("login", "deleted_user", true),
            ("email", "anonymized@deleted.user", true),
            ("firstname", "[ANONYMIZED]", false),
            ("lastname", "[ANONYMIZED]", false),
            ("last_login_ip", "0.0.0.0", false),
        ],
    ),
    (
        "user_sessions",
        &[
            ("ip_address", "0.0.0.0", false),
            ("user_agent", "[ANONYMIZED]", false),
        ],
    ),
    (
        "security_audit_log",
        &[
            ("ip_address", "0.0.0.0", false),
            ("user_agent", "[ANONYMIZED]", false),
            ("additional_data", "{\"anonymized\":true}", false),
        ],
    ),
    (
        "job",
        &[
            ("env", "[ANONYMIZED]", false),
            ("command", "[ANONYMIZED]", false),
        ],
    ),
    ("log", &[("message", "[LOG MESSAGE ANONYMIZED]", false)]),
    (
        "company",
        &[
            ("name", "[ANONYMIZED]", true),
            ("email", "anonymized@deleted.user", false),
            ("ic", "[ANONYMIZED]", false),
        ],
    ),
    (
        "login_attempts",
        &[
            ("ip_address", "0.0.0.0", false),
            ("username", "deleted_user", false),
            ("user_agent", "[ANONYMIZED]", false),
        ],
    ),
];

/// The date column that ages the rows of a known table.
pub(super) fn date_column_of(table: &str) -> Option<&'static str> {
    KNOWN_TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, c)| *c)
}

/// The personal columns of a table (none for a table this tool does not know).
pub(super) fn personal_of(table: &str) -> PersonalColumns {
    PERSONAL
        .iter()
        .find(|(t, _)| *t == table)
        .map_or(&[], |(_, cols)| cols)
}
