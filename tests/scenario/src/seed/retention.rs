//! The builder's helpers for the retention tables: policies (and the seven defaults of the
//! migration), cleanup jobs, archive entries and reports.

use housekeeper_journal::{DateTimeValue, Value};

use super::{shift, Row, RowRef, Seed, DAY};

/// One of the retention policies that migration 20250120185000 inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPolicy {
    pub policy_name: &'static str,
    pub data_type: &'static str,
    pub table_name: &'static str,
    pub retention_period_days: i64,
    pub grace_period_days: i64,
    pub deletion_action: &'static str,
    pub legal_basis: &'static str,
    pub description: &'static str,
}

/// The seven default retention policies, in insertion order (ids 1–7).
pub const DEFAULT_RETENTION_POLICIES: [DefaultPolicy; 7] = [
    DefaultPolicy {
        policy_name: "user_accounts_inactive",
        data_type: "user_personal_data",
        table_name: "user",
        retention_period_days: 1095,
        grace_period_days: 30,
        deletion_action: "anonymize",
        legal_basis: "GDPR Art. 5(1)(e) - Data minimization principle",
        description: "Inactive user accounts are anonymized after 3 years of inactivity",
    },
    DefaultPolicy {
        policy_name: "session_data",
        data_type: "session_data",
        table_name: "user_sessions",
        retention_period_days: 30,
        grace_period_days: 7,
        deletion_action: "hard_delete",
        legal_basis: "GDPR Art. 5(1)(e) - Data minimization principle",
        description: "Session data is deleted after 30 days",
    },
    DefaultPolicy {
        policy_name: "audit_logs",
        data_type: "audit_data",
        table_name: "security_audit_log",
        retention_period_days: 2555,
        grace_period_days: 90,
        deletion_action: "archive",
        legal_basis: "Legal and regulatory requirements for audit trail retention",
        description: "Security audit logs are archived after 7 years",
    },
    DefaultPolicy {
        policy_name: "job_execution_logs",
        data_type: "job_execution_data",
        table_name: "job",
        retention_period_days: 365,
        grace_period_days: 30,
        deletion_action: "soft_delete",
        legal_basis: "Business operations and troubleshooting requirements",
        description: "Job execution logs are soft deleted after 1 year",
    },
    DefaultPolicy {
        policy_name: "application_logs",
        data_type: "application_logs",
        table_name: "log",
        retention_period_days: 365,
        grace_period_days: 30,
        deletion_action: "hard_delete",
        legal_basis: "Business operations and troubleshooting requirements",
        description: "Application logs are deleted after 1 year",
    },
    DefaultPolicy {
        policy_name: "company_data_business_relationship",
        data_type: "company_business_data",
        table_name: "company",
        retention_period_days: 1825,
        grace_period_days: 90,
        deletion_action: "anonymize",
        legal_basis: "Legitimate business interests and contract obligations",
        description: "Company data retained based on active business relationship, anonymized after 5 years of inactivity",
    },
    DefaultPolicy {
        policy_name: "login_attempts",
        data_type: "security_data",
        table_name: "login_attempts",
        retention_period_days: 90,
        grace_period_days: 7,
        deletion_action: "hard_delete",
        legal_basis: "Security monitoring and fraud prevention",
        description: "Login attempt logs are deleted after 3 months",
    },
];

impl Seed {
    /// A `data_retention_policies` row (enabled).
    #[allow(clippy::too_many_arguments)]
    pub fn retention_policy(
        &mut self,
        policy_name: &str,
        data_type: &str,
        table_name: &str,
        retention_period_days: i64,
        grace_period_days: i64,
        deletion_action: &str,
        created_by: Option<i64>,
    ) -> RowRef<'_> {
        let id = self.take_id("data_retention_policies");
        let created = self.at(-200 * DAY);
        self.push(Row::new(
            "data_retention_policies",
            vec![
                ("id", Value::Int(id)),
                ("policy_name", policy_name.into()),
                ("data_type", data_type.into()),
                ("table_name", table_name.into()),
                ("retention_period_days", Value::Int(retention_period_days)),
                ("grace_period_days", Value::Int(grace_period_days)),
                ("deletion_action", deletion_action.into()),
                ("legal_basis", Value::Null),
                ("description", Value::Null),
                ("enabled", Value::Bool(true)),
                ("created_by", created_by.map_or(Value::Null, Value::Int)),
                ("created_at", created.into()),
                ("updated_at", created.into()),
            ],
        ))
    }

    /// The seven default policies of migration 20250120185000 ([`DEFAULT_RETENTION_POLICIES`]),
    /// created by `created_by` (the migration uses the first enabled user, else NULL). Returns
    /// their ids.
    pub fn default_retention_policies(&mut self, created_by: Option<i64>) -> Vec<i64> {
        let mut ids = Vec::new();
        for p in DEFAULT_RETENTION_POLICIES {
            let row = self
                .retention_policy(
                    p.policy_name,
                    p.data_type,
                    p.table_name,
                    p.retention_period_days,
                    p.grace_period_days,
                    p.deletion_action,
                    created_by,
                )
                .set("legal_basis", p.legal_basis)
                .set("description", p.description);
            ids.push(row.id());
        }
        ids
    }

    /// A `retention_cleanup_jobs` row (`job_type` scheduled_cleanup, manual_cleanup or
    /// grace_period_cleanup; `status` pending, running, completed, failed or cancelled).
    pub fn retention_cleanup_job(
        &mut self,
        policy: i64,
        job_type: &str,
        status: &str,
        started_at: DateTimeValue,
    ) -> RowRef<'_> {
        let id = self.take_id("retention_cleanup_jobs");
        self.push(Row::new(
            "retention_cleanup_jobs",
            vec![
                ("id", Value::Int(id)),
                ("policy_id", Value::Int(policy)),
                ("job_type", job_type.into()),
                ("status", status.into()),
                ("started_by", Value::Null),
                ("started_at", started_at.into()),
                ("completed_at", shift(started_at, 5).into()),
                ("records_processed", Value::Int(0)),
                ("records_deleted", Value::Int(0)),
                ("records_anonymized", Value::Int(0)),
                ("records_archived", Value::Int(0)),
                ("errors", Value::Json("[]".to_owned())),
                (
                    "summary",
                    "Processed: 0, Deleted: 0, Anonymized: 0, Archived: 0".into(),
                ),
                ("created_at", started_at.into()),
            ],
        ))
    }

    /// A `data_archive` row holding `archived_data` (JSON text of the original row).
    pub fn archive_entry(
        &mut self,
        source_table: &str,
        source_record_id: i64,
        archived_data: &str,
        archived_by: i64,
    ) -> RowRef<'_> {
        let id = self.take_id("data_archive");
        let at = self.at(-30 * DAY);
        self.push(Row::new(
            "data_archive",
            vec![
                ("id", Value::Int(id)),
                ("archive_type", "legal_hold".into()),
                ("source_table", source_table.into()),
                ("source_record_id", Value::Int(source_record_id)),
                ("archived_data", archived_data.into()),
                ("retention_job_id", Value::Null),
                ("archived_reason", "Legal retention archive".into()),
                ("legal_hold_until", shift(at, 365 * DAY).into()),
                ("archived_by", Value::Int(archived_by)),
                ("archived_at", at.into()),
            ],
        ))
    }

    /// A `retention_reports` row (`report_type` daily_summary, weekly_summary, monthly_summary,
    /// policy_audit or compliance_report).
    pub fn retention_report(&mut self, generated_by: i64, report_type: &str) -> RowRef<'_> {
        let id = self.take_id("retention_reports");
        let end = self.at(-DAY);
        self.push(Row::new(
            "retention_reports",
            vec![
                ("id", Value::Int(id)),
                ("report_type", report_type.into()),
                ("report_period_start", shift(end, -7 * DAY).into()),
                ("report_period_end", end.into()),
                ("generated_by", Value::Int(generated_by)),
                (
                    "report_data",
                    Value::Json("{\"policies\":7,\"expired\":0}".to_owned()),
                ),
                ("summary", "Nothing expired".into()),
                ("file_path", Value::Null),
                ("generated_at", end.into()),
            ],
        ))
    }
}
