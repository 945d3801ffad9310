//! Monitoring as an operator sees it: the Zabbix items a run sends (received by a real local
//! trapper), the Prometheus metrics file it replaces, a run that fails before its duties ran
//! still reported, a server that refuses items warned about, and `doctor` checking the Zabbix
//! server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use housekeeper::duties::DutyName;

use crate::duties_policy::seed_credentials;
use crate::duties_rows::install;
use crate::support::tool::Tool;
use crate::support::trapper::Trapper;
use crate::support::{closed_port, TestDb};

/// A tool reporting to `trapper` and writing `<test dir>/metrics/housekeeper.prom`.
fn monitored(db: &TestDb, trapper: &Trapper) -> (Tool, PathBuf) {
    let dir = db.dir().join("metrics");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("housekeeper.prom");
    let mut hk = Tool::new(db);
    hk.set("ZABBIX_SERVER", &trapper.server());
    hk.set("ZABBIX_HOST", "mf-app-01");
    hk.set(
        "MULTIFLEXI_HOUSEKEEPER_METRICS_FILE",
        &file.display().to_string(),
    );
    (hk, file)
}

/// The metrics file's sample lines (comments left out); asserts that it is alone in its
/// directory (no temporary file left) and readable by everyone.
fn samples(file: &Path) -> Vec<String> {
    let names: Vec<String> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["housekeeper.prom"], "no temporary file is left");
    let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter reads it");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.starts_with("# HELP housekeeper_last_run_timestamp_seconds "),
        "{text}"
    );
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The value of the sample named `name` (with its labels).
fn sample(samples: &[String], name: &str) -> String {
    samples
        .iter()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name} in {samples:#?}"))
        .to_owned()
}

backend_test!(
    fn a_run_reports_every_duty_to_zabbix_and_the_metrics_file(db) {
        seed_credentials(db);
        let fio = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let trapper = Trapper::answering("processed: 35; failed: 0; total: 35; seconds spent: 0.000100");
        let (mut hk, file) = monitored(db, &trapper);
        hk.set("MULTIFLEXI_HOUSEKEEPER_FIO_URL", &format!("https://127.0.0.1:{}/", fio.local_addr().unwrap().port()));
        let out = hk.run(&["run", "--format", "json"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = out.json();
        let credentials = report["duties"].as_array().unwrap().iter().find(|d| d["duty"] == "CredentialHealthCheck").unwrap().clone();
        assert_eq!((credentials["affected"].clone(), credentials["findings"].as_array().unwrap().len()), (serde_json::json!(0), 3));

        let request = trapper.received();
        assert_eq!(request.0["request"], "sender data");
        assert!(request.0["data"].as_array().unwrap().iter().all(|i| i["host"] == "mf-app-01"));
        let items = request.items();
        assert_eq!(items.len(), 8 * 4 + 3, "{items:#?}");
        for duty in DutyName::ALL {
            let status = request.value(&format!("multiflexi.housekeeper[{duty},status]"));
            assert!(matches!(status.as_deref(), Some("ok" | "skipped")), "{duty}: {status:?}");
        }
        // The read-only duty changed nothing: its findings are sent on their own.
        assert_eq!(request.value("multiflexi.housekeeper[CredentialHealthCheck,affected]").as_deref(), Some("0"));
        assert_eq!(request.value("multiflexi.housekeeper[CredentialHealthCheck,findings]").as_deref(), Some("3"));
        assert_eq!(request.value("multiflexi.housekeeper[run,status]").as_deref(), Some("ok"));
        assert_eq!(request.value("multiflexi.housekeeper[run,exit]").as_deref(), Some("0"));
        assert_eq!(request.value("multiflexi.housekeeper[run,error]"), None, "sent only by a run that stopped early");
        assert!(request.value("multiflexi.housekeeper[run,duration]").unwrap().parse::<f64>().is_ok());
        assert!(!out.stderr.contains("warning"), "{}", out.stderr);

        let samples = samples(&file);
        assert_eq!(sample(&samples, "housekeeper_run_status{status=\"ok\"}"), "1");
        assert_eq!(sample(&samples, "housekeeper_run_status{status=\"failed\"}"), "0");
        assert_eq!(sample(&samples, "housekeeper_run_interrupted"), "0");
        assert_eq!(sample(&samples, "housekeeper_run_exit_code"), "0");
        assert_eq!(sample(&samples, "housekeeper_duty_affected{duty=\"CredentialHealthCheck\"}"), "0");
        assert_eq!(sample(&samples, "housekeeper_duty_findings{duty=\"CredentialHealthCheck\"}"), "3");
        assert_eq!(sample(&samples, "housekeeper_duty_status{duty=\"CredentialHealthCheck\",status=\"ok\"}"), "1");
        assert!(sample(&samples, "housekeeper_last_run_timestamp_seconds").parse::<u64>().unwrap() > 1_700_000_000);
        assert!(sample(&samples, "housekeeper_run_duration_seconds").parse::<f64>().is_ok());
        for duty in DutyName::ALL {
            for figure in ["affected", "errors", "findings"] {
                let value = sample(&samples, &format!("housekeeper_duty_{figure}{{duty=\"{duty}\"}}"));
                assert_eq!(Some(value), request.value(&format!("multiflexi.housekeeper[{duty},{figure}]")), "the same figures as Zabbix");
            }
        }
        drop(fio);
    }
);

/// Asserts what Zabbix and the metrics file were told about a run that stopped with `code`.
fn assert_reported_failure(trapper: Trapper, file: &Path, code: u8, error: &str) {
    let request = trapper.received();
    assert_eq!(
        request
            .value("multiflexi.housekeeper[run,status]")
            .as_deref(),
        Some("failed")
    );
    assert_eq!(
        request.value("multiflexi.housekeeper[run,exit]"),
        Some(code.to_string())
    );
    let sent = request.value("multiflexi.housekeeper[run,error]").unwrap();
    assert!(sent.contains(error), "{sent}");
    assert_eq!(
        request.items().len(),
        4,
        "no duty ran: {:#?}",
        request.items()
    );
    let samples = samples(file);
    assert_eq!(
        sample(&samples, "housekeeper_run_status{status=\"failed\"}"),
        "1"
    );
    assert_eq!(
        sample(&samples, "housekeeper_run_exit_code"),
        code.to_string()
    );
    assert!(
        !samples.iter().any(|s| s.starts_with("housekeeper_duty_")),
        "{samples:#?}"
    );
}

backend_test!(
    only(sqlite)
    fn a_run_that_stops_before_its_duties_is_reported_with_its_exit_code(db) {
        // 2: a configuration error (the rest of the configuration does not load).
        let trapper = Trapper::answering("processed: 4; failed: 0; total: 4");
        let (mut hk, file) = monitored(db, &trapper);
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "lots");
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("error: configuration: MULTIFLEXI_HOUSEKEEPER_LOG_KEEP="), "{}", out.stderr);
        assert_reported_failure(trapper, &file, 2, "MULTIFLEXI_HOUSEKEEPER_LOG_KEEP");

        // 2: a database that is not MultiFlexi's.
        let trapper = Trapper::answering("processed: 4; failed: 0; total: 4");
        let (hk, file) = monitored(db, &trapper);
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_reported_failure(trapper, &file, 2, "is not a MultiFlexi database");

        // 75: another housekeeper holds the lock.
        install(db);
        let trapper = Trapper::answering("processed: 4; failed: 0; total: 4");
        let (hk, file) = monitored(db, &trapper);
        let state = housekeeper::state::StateDir::new(hk.state.clone());
        state.ensure().unwrap();
        let lock = state.lock("the test").unwrap();
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 75, "{}", out.stderr);
        assert_reported_failure(trapper, &file, 75, "the test");
        drop(lock);

        // 4: the database is unreachable.
        let trapper = Trapper::answering("processed: 4; failed: 0; total: 4");
        let (mut hk, file) = monitored(db, &trapper);
        hk.url = format!("postgres://postgres@127.0.0.1:{}/x", closed_port());
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 4, "{}", out.stderr);
        assert_reported_failure(trapper, &file, 4, "127.0.0.1");

        // A dry run reports nothing (the trapper is never called).
        let (mut hk, file) = monitored(db, &Trapper::answering(""));
        std::fs::remove_file(&file).unwrap();
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "lots");
        assert_eq!(hk.run(&["run", "--dry-run"]).code, 2);
        assert!(!file.exists());
    }
);

backend_test!(
    only(sqlite)
    fn items_the_server_did_not_take_are_a_warning(db) {
        install(db);
        let trapper = Trapper::answering("processed: 0; failed: 35; total: 35; seconds spent: 0.000050");
        let (hk, _) = monitored(db, &trapper);
        let out = hk.run(&["run", "--duty", "LogPruning"]);
        assert_eq!(out.code, 0, "a Zabbix problem never fails the run: {}", out.stderr);
        let warning = format!("warning: Zabbix at {} did not take 35 of the items (processed: 0; failed: 35; total: 35; seconds spent: 0.000050); are they defined, as trapper items, on the Zabbix host named by ZABBIX_HOST?", trapper.server());
        assert!(out.stderr.lines().any(|l| l == warning), "{}", out.stderr);
        assert_eq!(trapper.received().items().len(), 35);
        // -q keeps warnings.
        let trapper = Trapper::answering("processed: 0; failed: 35; total: 35");
        let (hk, _) = monitored(db, &trapper);
        let out = hk.run(&["-q", "run", "--duty", "LogPruning"]);
        assert!(out.stderr.contains("warning: Zabbix at"), "{}", out.stderr);
        let _ = trapper.received();
    }
);

backend_test!(
    only(sqlite)
    fn a_wrong_metrics_file_is_refused_naming_the_variable(db) {
        let mut hk = Tool::new(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", "housekeeper.prom");
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 2);
        assert!(out.stderr.starts_with("error: configuration: MULTIFLEXI_HOUSEKEEPER_METRICS_FILE=\"housekeeper.prom\": expected an absolute path"), "{}", out.stderr);
        let missing = db.dir().join("no-such-dir").join("housekeeper.prom");
        hk.set("MULTIFLEXI_HOUSEKEEPER_METRICS_FILE", &missing.display().to_string());
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 2);
        assert!(out.stderr.contains(&format!("the directory {} does not exist", db.dir().join("no-such-dir").display())), "{}", out.stderr);
    }
);

backend_test!(
    only(sqlite)
    fn doctor_checks_the_zabbix_server(db) {
        install(db);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut hk = Tool::new(db);
        hk.set("ZABBIX_SERVER", &format!("127.0.0.1:{port}"));
        hk.set("ZABBIX_HOST", "mf-app-01");
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "{}", out.stdout);
        assert!(out.stdout.contains(&format!("  ok      Zabbix server: 127.0.0.1:{port} accepts connections\n")), "{}", out.stdout);
        drop(listener);

        let closed = closed_port();
        hk.set("ZABBIX_SERVER", &format!("127.0.0.1:{closed}"));
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "an unreachable Zabbix does not fail a run: {}", out.stdout);
        let line = out.stdout.lines().find(|l| l.contains("Zabbix server:")).unwrap_or_default().to_owned();
        assert!(line.starts_with(&format!("  warning Zabbix server: cannot reach Zabbix at 127.0.0.1:{closed}: ")), "{}", out.stdout);
        assert!(line.contains("refused") && line.ends_with("; runs cannot report to Zabbix"), "{line}");
        let json = hk.run(&["doctor", "--format", "json"]).json();
        let check = json["checks"].as_array().unwrap().iter().find(|c| c["name"] == "Zabbix server").unwrap().clone();
        assert_eq!(check["level"], "warning");
    }
);
