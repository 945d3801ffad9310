use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    Config::load(&Flags::default(), &env(pairs), &[])
}

fn write_env_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multiflexi.env");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn defaults_match_the_spec() {
    let c = load_env(&[]).unwrap().config;
    assert_eq!(c.database, None);
    assert!(!c.daemonize && !c.dry_run && c.credential_check && !c.app_debug);
    assert_eq!(c.cycle_pause_secs, 3600);
    assert_eq!(c.log_keep, 100_000);
    assert_eq!(c.tmp_age_hours, 24);
    assert_eq!(c.stale_job_age_minutes, 60);
    assert_eq!(c.tmp_dir, PathBuf::from("/var/lib/multiflexi/tmp"));
    assert_eq!(
        c.state_dir,
        PathBuf::from("/var/lib/multiflexi-housekeeper")
    );
    assert_eq!((c.undo_days, c.hold_days, c.chunk_rows), (14, 7, 10_000));
    assert_eq!(c.journal_keep_days, 395, "a year and a month");
    assert_eq!(c.writer_pause, std::time::Duration::from_millis(25));
    assert_eq!(
        c.retention_actions,
        [RetentionAction::HardDelete, RetentionAction::SoftDelete].into()
    );
    assert_eq!((c.fio.host.as_str(), c.fio.port), ("fioapi.fio.cz", 443));
    assert!(c.provenance.iter().all(|p| p.source == Source::Default));
}

#[test]
fn daemonize_false_means_false() {
    // The PHP tool cast the string "false" to true and looped forever.
    for text in ["false", "FALSE", "0", "no", "off", "Off"] {
        let c = load_env(&[("MULTIFLEXI_DAEMONIZE", text)]).unwrap().config;
        assert!(!c.daemonize, "{text}");
    }
    for text in ["true", "1", "yes", "ON"] {
        assert!(
            load_env(&[("MULTIFLEXI_DAEMONIZE", text)])
                .unwrap()
                .config
                .daemonize
        );
    }
}

#[test]
fn credential_check_false_disables_it() {
    let c = load_env(&[("MULTIFLEXI_HOUSEKEEPER_CREDENTIAL_CHECK", "false")])
        .unwrap()
        .config;
    assert!(!c.credential_check);
    assert!(!c.duty_enabled(DutyName::CredentialHealthCheck));
}

#[test]
fn dry_run_accepts_every_boolean_spelling() {
    // PHP only accepted the string "true".
    let c = load_env(&[("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", "1")])
        .unwrap()
        .config;
    assert!(c.dry_run);
}

#[test]
fn bad_booleans_name_variable_and_value() {
    let err = load_env(&[("MULTIFLEXI_DAEMONIZE", "maybe")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MULTIFLEXI_DAEMONIZE=\"maybe\": expected a boolean: true/false, 1/0, yes/no or on/off"
    );
    let err = load_env(&[("APP_DEBUG", "enabled")]).unwrap_err();
    assert!(err.to_string().starts_with("APP_DEBUG=\"enabled\""));
}

#[test]
fn bad_numbers_name_variable_and_value() {
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "lots")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=\"lots\": expected a whole number from 0 to 9223372036854775807"
    );
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS", "0")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MULTIFLEXI_HOUSEKEEPER_CHUNK_ROWS=\"0\": out of range: must be from 1 to 1000000"
    );
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS", "36501")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS=\"36501\": out of range: must be from 0 to 36500"
    );
    let err = load_env(&[
        ("MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS", "10"),
        ("MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS", "30"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS=\"10\": must be 0 (keep the whole journal) or at least 30 days, the longer of MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS (30) and MULTIFLEXI_HOUSEKEEPER_HOLD_DAYS (7)"
    );
    assert!(load_env(&[("MULTIFLEXI_HOUSEKEEPER_JOURNAL_KEEP_DAYS", "0")]).is_ok());
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_WRITER_PAUSE_MS", "2000")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MULTIFLEXI_HOUSEKEEPER_WRITER_PAUSE_MS=\"2000\": out of range: must be from 0 to 1000"
    );
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS", "-5")]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("MULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS=\"-5\""));
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE", "1h")]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("MULTIFLEXI_HOUSEKEEPER_CYCLE_PAUSE=\"1h\""));
}

#[test]
fn empty_values_mean_unset() {
    let c = load_env(&[
        ("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", ""),
        ("DB_CONNECTION", ""),
    ])
    .unwrap()
    .config;
    assert_eq!(c.log_keep, 100_000);
    assert_eq!(c.database, None);
}

#[test]
fn skip_duties_are_case_insensitive_and_checked() {
    let c = load_env(&[(
        "MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES",
        " logpruning, DiskTempFileCleanup ,",
    )])
    .unwrap()
    .config;
    assert_eq!(
        c.skip_duties,
        [DutyName::LogPruning, DutyName::DiskTempFileCleanup].into()
    );
    assert!(!c.duty_enabled(DutyName::LogPruning));
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES", "LogPruning,Vacuum")]).unwrap_err();
    assert!(err.to_string().starts_with(
        "MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES=\"LogPruning,Vacuum\": unknown duty \"Vacuum\""
    ));
}

#[test]
fn retention_actions_parse() {
    let c = load_env(&[(
        "MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS",
        "anonymize, ARCHIVE",
    )])
    .unwrap()
    .config;
    assert_eq!(
        c.retention_actions,
        [RetentionAction::Anonymize, RetentionAction::Archive].into()
    );
    let c = load_env(&[("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "none")])
        .unwrap()
        .config;
    assert!(c.retention_actions.is_empty());
    let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_RETENTION_ACTIONS", "shred")]).unwrap_err();
    assert!(err.to_string().contains("unknown action \"shred\""));
}

#[test]
fn timezone_and_fixed_now_are_validated() {
    let c = load_env(&[
        ("MULTIFLEXI_TIMEZONE", "Europe/Prague"),
        ("HOUSEKEEPER_NOW", "2026-01-02 03:04:05"),
    ])
    .unwrap()
    .config;
    assert_eq!(c.timezone, Some(chrono_tz::Europe::Prague));
    assert_eq!(
        c.fixed_now,
        Some(DateTimeValue::ymd_hms(2026, 1, 2, 3, 4, 5))
    );
    let err = load_env(&[("MULTIFLEXI_TIMEZONE", "Mars/Olympus")]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("MULTIFLEXI_TIMEZONE=\"Mars/Olympus\": unknown time zone"));
    let err = load_env(&[("HOUSEKEEPER_NOW", "2026-02-30 00:00:00")]).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("HOUSEKEEPER_NOW=\"2026-02-30 00:00:00\""));
}

#[test]
fn zabbix_needs_both_variables() {
    let loaded = load_env(&[
        ("ZABBIX_SERVER", "zbx.example:10052"),
        ("ZABBIX_HOST", "mf1"),
    ])
    .unwrap();
    assert_eq!(
        loaded.config.zabbix,
        Some(ZabbixTarget {
            server: "zbx.example".into(),
            port: 10052,
            host: "mf1".into()
        })
    );
    let loaded = load_env(&[("ZABBIX_SERVER", "zbx.example")]).unwrap();
    assert_eq!(loaded.config.zabbix, None);
    assert_eq!(
        loaded.warnings,
        ["ZABBIX_SERVER is set but ZABBIX_HOST is not: nothing is sent to Zabbix"]
    );
    let c = load_env(&[("ZABBIX_SERVER", "zbx"), ("ZABBIX_HOST", "h")])
        .unwrap()
        .config;
    assert_eq!(c.zabbix.unwrap().port, 10051);
}

#[test]
fn a_list_of_zabbix_servers_is_refused_naming_the_variable() {
    let err = load_env(&[("ZABBIX_SERVER", "zbx1,zbx2"), ("ZABBIX_HOST", "h")]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ZABBIX_SERVER"), "{text}");
    assert!(text.contains("a list is not supported"), "{text}");
}

#[test]
fn precedence_is_flags_then_environment_then_file_then_defaults() {
    let (_dir, path) = write_env_file(
        "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=10\nMULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS=5\n\
         MULTIFLEXI_TMP=/file/tmp\nMULTIFLEXI_HOUSEKEEPER_DRY_RUN=false\n",
    );
    let flags = Flags {
        env_file: Some(path.clone()),
        tmp_dir: Some("/flag/tmp".into()),
        dry_run: Some(true),
        ..Flags::default()
    };
    let loaded = Config::load(
        &flags,
        &env(&[("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "20")]),
        &[],
    )
    .unwrap();
    let c = loaded.config;
    assert_eq!(c.log_keep, 20, "environment beats the env file");
    assert_eq!(c.tmp_age_hours, 5, "env file beats the default");
    assert_eq!(
        c.tmp_dir,
        PathBuf::from("/flag/tmp"),
        "flag beats the env file"
    );
    assert!(
        c.dry_run,
        "--dry-run beats MULTIFLEXI_HOUSEKEEPER_DRY_RUN=false in the env file"
    );
    let source = |name: &str| {
        c.provenance
            .iter()
            .find(|p| p.variable == name)
            .unwrap()
            .source
            .clone()
    };
    assert_eq!(
        source("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP"),
        Source::Environment
    );
    assert_eq!(
        source("MULTIFLEXI_HOUSEKEEPER_TMP_AGE_HOURS"),
        Source::EnvFile(path)
    );
    assert_eq!(source("MULTIFLEXI_TMP"), Source::Flag("--tmp-dir"));
    assert_eq!(
        source("MULTIFLEXI_HOUSEKEEPER_DRY_RUN"),
        Source::Flag("--dry-run")
    );
    assert_eq!(source("MULTIFLEXI_HOUSEKEEPER_UNDO_DAYS"), Source::Default);
}

#[test]
fn environment_dry_run_true_cannot_be_undone_by_a_file() {
    let (_dir, path) = write_env_file("MULTIFLEXI_HOUSEKEEPER_DRY_RUN=false\n");
    let flags = Flags {
        env_file: Some(path),
        ..Flags::default()
    };
    let c = Config::load(
        &flags,
        &env(&[("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", "true")]),
        &[],
    )
    .unwrap()
    .config;
    assert!(c.dry_run);
}

#[test]
fn database_url_beats_db_variables() {
    let pairs = [
        ("DB_CONNECTION", "mysql"),
        ("DB_DATABASE", "multiflexi"),
        ("HOUSEKEEPER_DATABASE_URL", "sqlite:/srv/mf.sqlite"),
    ];
    let c = load_env(&pairs).unwrap().config;
    assert_eq!(
        c.database,
        Some(DbTarget::Sqlite {
            path: "/srv/mf.sqlite".into()
        })
    );
    let flags = Flags {
        database: Some("postgres://u@h/db".into()),
        ..Flags::default()
    };
    let c = Config::load(&flags, &env(&pairs), &[]).unwrap().config;
    assert_eq!(c.database.unwrap().engine(), Engine::Postgres);
}

#[test]
fn db_variables_from_the_env_file() {
    let (_dir, path) = write_env_file(
        "DB_CONNECTION=pgsql\nDB_HOST=db.internal\nDB_PORT=5433\nDB_DATABASE=multiflexi\n\
         DB_USERNAME=multiflexi\nDB_PASSWORD=Tr0ub4dor\n",
    );
    let flags = Flags {
        env_file: Some(path),
        ..Flags::default()
    };
    let c = Config::load(&flags, &BTreeMap::new(), &[]).unwrap().config;
    let db = c.database.clone().unwrap();
    assert_eq!(
        db.to_string(),
        "postgres://multiflexi@db.internal:5433/multiflexi"
    );
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("Tr0ub4dor"),
        "password leaked in Debug: {debug}"
    );
    let shown: Vec<String> = c.provenance.iter().map(|p| p.value.clone()).collect();
    assert!(!shown.iter().any(|v| v.contains("Tr0ub4dor")));
    assert!(shown.contains(&"***".to_owned()));
}

#[test]
fn a_missing_env_file_flag_is_an_error() {
    let flags = Flags {
        env_file: Some("/nonexistent/x.env".into()),
        ..Flags::default()
    };
    let err = Config::load(&flags, &BTreeMap::new(), &[]).unwrap_err();
    assert!(
        err.to_string().starts_with("env file /nonexistent/x.env: "),
        "{err}"
    );
}

#[test]
fn a_missing_default_env_file_is_a_warning() {
    let loaded = Config::load(
        &Flags::default(),
        &BTreeMap::new(),
        &["/nonexistent/multiflexi.env".into()],
    )
    .unwrap();
    assert_eq!(
        loaded.warnings,
        ["no env file found (looked for /nonexistent/multiflexi.env); using the process environment"]
    );
}

#[test]
fn an_unreadable_default_env_file_is_no_warning_when_the_environment_has_the_database() {
    // A directory stands for a file the user may not read: reading it fails, and not
    // with "not found".
    let dir = tempfile::tempdir().unwrap();
    let unreadable = [dir.path().to_path_buf()];
    let from_systemd = env(&[("DB_CONNECTION", "pgsql"), ("DB_DATABASE", "multiflexi")]);
    let loaded = Config::load(&Flags::default(), &from_systemd, &unreadable).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let note = loaded.config.env_file_note.unwrap();
    assert!(
        note.starts_with(&format!(
            "env file {} is not readable",
            dir.path().display()
        )),
        "{note}"
    );
    let url = env(&[("HOUSEKEEPER_DATABASE_URL", "sqlite:/x.db")]);
    let loaded = Config::load(&Flags::default(), &url, &["/nonexistent/x.env".into()]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let loaded = Config::load(&Flags::default(), &BTreeMap::new(), &unreadable).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].contains("is not readable")
            && loaded.warnings[0].contains("using the process environment"),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(loaded.config.env_file_note, None);
}

#[test]
fn the_first_existing_default_file_is_read() {
    let (_dir, path) = write_env_file("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP=7\n");
    let defaults = [PathBuf::from("/nonexistent/multiflexi.env"), path.clone()];
    let loaded = Config::load(&Flags::default(), &BTreeMap::new(), &defaults).unwrap();
    assert_eq!(loaded.config.log_keep, 7);
    assert_eq!(loaded.config.env_file, Some(path));
    assert!(loaded.warnings.is_empty());
}

#[test]
fn a_broken_env_file_names_the_line() {
    let (_dir, path) = write_env_file("A=1\nthis is not a pair\n");
    let flags = Flags {
        env_file: Some(path.clone()),
        ..Flags::default()
    };
    let err = Config::load(&flags, &BTreeMap::new(), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "env file {}:2: expected KEY=VALUE, found \"this is not a pair\"",
            path.display()
        )
    );
}

#[test]
fn every_variable_is_documented_once() {
    let mut names: Vec<_> = VARIABLES.iter().map(|v| v.name).collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count);
    let c = load_env(&[]).unwrap().config;
    assert_eq!(c.provenance.len(), count);
}

#[test]
fn the_metrics_file_must_be_absolute_in_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("housekeeper.prom");
    let good_text = good.display().to_string();
    let c = load_env(&[("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", &good_text)])
        .unwrap()
        .config;
    assert_eq!(c.metrics_file, Some(good.clone()));
    assert_eq!(c.monitoring().metrics_file, Some(good));

    let missing = dir.path().join("no-such-dir/housekeeper.prom");
    for (value, problem) in [
        ("housekeeper.prom".to_owned(), "expected an absolute path"),
        (missing.display().to_string(), "no-such-dir does not exist"),
        (format!("{}/", dir.path().display()), "not of a directory"),
    ] {
        let err = load_env(&[("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", &value)]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE="),
            "{text}"
        );
        assert!(text.contains(problem), "{text}");
    }
}

#[test]
fn monitoring_is_read_when_the_rest_of_the_configuration_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("housekeeper.prom");
    let metrics_text = metrics.display().to_string();
    let broken = [
        ("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "lots"),
        ("ZABBIX_SERVER", "zbx.example:10052"),
        ("ZABBIX_HOST", "mf1"),
        ("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", metrics_text.as_str()),
    ];
    assert!(load_env(&broken).is_err());
    let monitoring = Config::load_monitoring(&Flags::default(), &env(&broken), &[]);
    assert_eq!(
        monitoring,
        Monitoring {
            zabbix: Some(ZabbixTarget {
                server: "zbx.example".into(),
                port: 10052,
                host: "mf1".into(),
            }),
            metrics_file: Some(metrics),
        }
    );
    let dry = [
        broken.as_slice(),
        &[("MULTIFLEXI_HOUSEKEEPER_DRY_RUN", "yes")],
    ]
    .concat();
    assert_eq!(
        Config::load_monitoring(&Flags::default(), &env(&dry), &[]),
        Monitoring::default(),
        "a dry run reports nothing"
    );
    let wrong = [("ZABBIX_SERVER", "a,b"), ("ZABBIX_HOST", "mf1")];
    assert_eq!(
        Config::load_monitoring(&Flags::default(), &env(&wrong), &[]),
        Monitoring::default()
    );
}
