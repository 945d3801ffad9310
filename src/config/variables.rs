//! The table of every variable the tool reads, with its default and meaning: the one source
//! the man page, `--help` and `doctor` are generated from.
//!
//! Owns the documentation only. Must never parse or validate a value (that is `Config::load`).

/// One documented variable: its name, default and meaning. The man page, `--help` and
/// `doctor` are generated from this table.
#[derive(Debug, Clone, Copy)]
pub struct VarDoc {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every variable the tool reads.
pub const VARIABLES: &[VarDoc] = &[
    VarDoc { name: "DB_CONNECTION", default: "", help: "database engine: mysql, pgsql, sqlite or sqlite3" },
    VarDoc { name: "DB_HOST", default: "localhost", help: "database server host (mysql, pgsql)" },
    VarDoc { name: "DB_PORT", default: "3306 / 5432", help: "database server port" },
    VarDoc { name: "DB_DATABASE", default: "", help: "database name, or the SQLite file path" },
    VarDoc { name: "DB_USERNAME", default: "root / postgres", help: "database login" },
    VarDoc { name: "DB_PASSWORD", default: "", help: "database password (never printed)" },
    VarDoc { name: "DB_SETTINGS", default: "", help: "extra settings, e.g. unix_socket=/run/mysqld/mysqld.sock" },
    VarDoc { name: "HOUSEKEEPER_DATABASE_URL", default: "", help: "the database as one URL (sqlite:PATH, postgres://…, mysql://…); wins over DB_*" },
    VarDoc { name: "MULTIFLEXI_DAEMONIZE", default: "false", help: "loop forever, pausing CYCLE_PAUSE seconds between cycles" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_DRY_RUN", default: "false", help: "make `run` only plan (the --dry-run flag always wins)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", default: "3600", help: "seconds between cycles in daemon mode (at least 10)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", default: "100000", help: "rows of the log table to keep (LogPruning)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS", default: "24", help: "age in hours after which temp files are quarantined" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_STALE_JOB_AGE", default: "60", help: "minutes after its schedule an unstarted job without queue row is a ghost" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES", default: "", help: "comma-separated duty names to skip (case-insensitive)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", default: "true", help: "run CredentialHealthCheck" },
    VarDoc { name: "MULTIFLEXI_TMP", default: "/var/lib/multiflexi/tmp", help: "the MultiFlexi temp directory (DiskTempFileCleanup)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_STATE_DIR", default: "/var/lib/multiflexi-housekeeper", help: "journal and quarantine" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS", default: "14", help: "days row images and quarantined files are kept for undo" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS", default: "7", help: "days restored items are left alone by later runs" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS", default: "395", help: "days the journal keeps a run before its monthly segment is folded away (0: keep everything)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", default: "10000", help: "items per database transaction, and files per durable batch of moves" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_WRITER_PAUSE_MS", default: "25", help: "SQLite only: milliseconds housekeeper waits between its write transactions, so MultiFlexi's daemons get the database's one write lock in between: before every one while another connection has committed in the last 2 s, else after each 4 pauses' worth of writing (0: no pause; at most 1000)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT", default: "30", help: "seconds a statement waits for a table or row lock held by another session before its duty fails" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_STATEMENT_TIMEOUT", default: "900", help: "seconds one database statement may run before it is cancelled" },
    VarDoc { name: "MULTIFLEXI_TIMEZONE", default: "system zone", help: "zone of naive timestamps on SQLite (e.g. Europe/Prague)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", default: "hard_delete,soft_delete", help: "retention actions applied: hard_delete, soft_delete, grace_purge, anonymize, archive (or none)" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_FIO_URL", default: "https://fioapi.fio.cz/", help: "endpoint whose TCP reachability decides FioBank availability" },
    VarDoc { name: "APP_DEBUG", default: "false", help: "debug logging" },
    VarDoc { name: "ZABBIX_SERVER", default: "", help: "Zabbix server host[:port] to send results to (port 10051)" },
    VarDoc { name: "ZABBIX_HOST", default: "", help: "host name the results are reported for in Zabbix" },
    VarDoc { name: "MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", default: "", help: "absolute path of a Prometheus text file (node_exporter textfile collector) replaced after every run" },
    VarDoc { name: "HOUSEKEEPER_NOW", default: "", help: "fixed 'YYYY-MM-DD HH:MM:SS' now, for tests and the demo only" },
    VarDoc { name: "HOUSEKEEPER_SYSTEMD_UNIT_DIRS", default: "", help: "for tests only: ':'-separated directories where doctor looks for the installed service unit instead of systemd's" },
];
