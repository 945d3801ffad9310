//! The command line as a user meets it: configuration errors (exit 2), unreachable databases
//! and refused logins (exit 4), with messages that name what is wrong and never a password.

use crate::support::tool::Tool;
use crate::support::{closed_port, TestDb};

fn bare(db: &TestDb) -> Tool {
    Tool::new(db)
}

backend_test!(
    fn configuration_errors_exit_2_naming_the_variable(db) {
        let mut hk = bare(db);
        hk.set("MULTIFLEXI_DAEMONIZE", "maybe");
        let out = hk.run(&["plan"]);
        assert_eq!(out.code, 2);
        assert_eq!(
            out.stderr.trim_end(),
            "error: configuration: MULTIFLEXI_DAEMONIZE=\"maybe\": expected a boolean: true/false, 1/0, yes/no or on/off"
        );
        let mut hk = bare(db);
        hk.set("MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES", "LogPruning,Vacuum");
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 2);
        assert!(out.stderr.starts_with("error: configuration: MULTIFLEXI_HOUSEKEEPER_SKIP_DUTIES=\"LogPruning,Vacuum\": unknown duty \"Vacuum\""), "{}", out.stderr);
        let out = bare(db).run(&["plan", "--duty", "Vacuum"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        let env = db.dir().join("broken.env");
        std::fs::write(&env, "DB_CONNECTION=sqlite\nthis is not a pair\n").unwrap();
        let mut hk = bare(db);
        hk.env_file = env.clone();
        let out = hk.run(&["plan"]);
        assert_eq!(out.code, 2);
        assert_eq!(
            out.stderr.trim_end(),
            format!("error: configuration: env file {}:2: expected KEY=VALUE, found \"this is not a pair\"", env.display())
        );
    }
);

backend_test!(
    only(sqlite)
    fn no_database_configured_exits_2_with_a_hint(db) {
        let hk = bare(db);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"));
        cmd.env_clear().arg("--env-file").arg(&hk.env_file).arg("--state-dir").arg(&hk.state).arg("plan");
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error: no database configured"), "{stderr}");
        assert!(stderr.contains("hint: to see housekeeper at work on a throw-away database, try `housekeeper demo`"), "{stderr}");
        let missing = db.dir().join("nope.env");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"));
        let out = cmd.env_clear().arg("--env-file").arg(&missing).arg("plan").output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("env file {}: No such file", missing.display())));
    }
);

backend_test!(
    fn an_unreachable_database_exits_4_naming_it(db) {
        let mut hk = bare(db);
        let port = closed_port();
        hk.url = match db.engine() {
            housekeeper::config::Engine::Sqlite => format!("sqlite:{}", db.dir().join("absent.sqlite").display()),
            housekeeper::config::Engine::Postgres => format!("postgres://hkuser:Secr3tPw@127.0.0.1:{port}/multiflexi"),
            housekeeper::config::Engine::Mysql => format!("mysql://hkuser:Secr3tPw@127.0.0.1:{port}/multiflexi?prefer_socket=false"),
        };
        for command in [&["plan"][..], &["run"], &["doctor"]] {
            let out = hk.run(command);
            let expected = if command == ["doctor"] { 1 } else { 4 };
            assert_eq!(out.code, expected, "{command:?}: {}{}", out.stdout, out.stderr);
            let text = format!("{}{}", out.stdout, out.stderr);
            assert!(!text.contains("Secr3tPw"), "the password leaked: {text}");
            match db.engine() {
                housekeeper::config::Engine::Sqlite => assert!(text.contains("absent.sqlite"), "{text}"),
                _ => assert!(
                    text.contains(&format!("hkuser@127.0.0.1:{port}/multiflexi")),
                    "host, port, database and user are named: {text}"
                ),
            }
        }
    }
);

backend_test!(
    only(mysql)
    fn a_refused_login_exits_4_without_the_password(db) {
        db.run_sql(&[
            "CREATE USER IF NOT EXISTS 'hk_cli_user'@'%' IDENTIFIED BY 'right-password'",
        ]);
        let mut hk = bare(db);
        let url = url::Url::parse(db.url()).unwrap();
        hk.url = format!(
            "mysql://hk_cli_user:Wr0ngPassw0rd@{}:{}{}?prefer_socket=false",
            url.host_str().unwrap(),
            url.port().unwrap_or(3306),
            url.path()
        );
        let out = hk.run(&["plan"]);
        db.run_sql(&["DROP USER IF EXISTS 'hk_cli_user'@'%'"]);
        assert_eq!(out.code, 4, "{}", out.stderr);
        assert!(out.stderr.contains("hint: check DB_USERNAME and DB_PASSWORD"), "{}", out.stderr);
        assert!(out.stderr.contains("hk_cli_user@"), "{}", out.stderr);
        assert!(!out.stderr.contains("Wr0ngPassw0rd"), "{}", out.stderr);
    }
);

backend_test!(
    only(sqlite) fn the_demo_plans_runs_and_undoes_and_everything_comes_back(db) {
        let dir = db.dir().join("demo");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
            .env_clear()
            .arg("--env-file")
            .arg(Tool::new(db).env_file)
            .arg("demo")
            .arg(&dir)
            .output()
            .expect("run the demo");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        for step in ["$ housekeeper plan", "$ housekeeper run", "$ housekeeper undo "] {
            assert!(stdout.contains(step), "{step} missing:\n{stdout}");
        }
        assert!(stderr.contains("run ok:"), "{stderr}");
        assert!(stderr.contains("undo ok:") && stderr.contains(", 0 not restored"), "{stderr}");
        assert!(
            stdout.contains("temp files are back as they were, byte for byte"),
            "{stdout}"
        );
        let again = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
            .env_clear()
            .arg("demo")
            .arg(&dir)
            .output()
            .expect("run the demo again");
        assert_eq!(again.status.code(), Some(2), "a used directory is refused");
    }
);

#[test]
fn the_man_page_read_only_in_part_is_not_an_error() {
    // `housekeeper man | head`: the reader has gone before the page is written.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
        .arg("man")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn housekeeper man");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

backend_test!(
    fn quiet_runs_say_nothing_and_journald_gets_each_line_priority(db) {
        let mut conn = db.connect();
        housekeeper_scenario::install_schema(&mut *conn, housekeeper_scenario::SchemaLevel::Current)
            .expect("schema");
        drop(conn);
        let mut hk = bare(db);
        // The first run creates the journal (an info line) and changes nothing: with -q,
        // nothing at all on stderr.
        let quiet = hk.run(&["-q", "run"]);
        assert_eq!(quiet.code, 0, "{}", quiet.stderr);
        assert_eq!(quiet.stderr, "", "-q leaves out the summary of a run that went well");
        let json = hk.run(&["-q", "run", "--format", "json"]);
        assert_eq!(json.json()["status"], "ok", "the JSON report still comes on stdout");

        // Under systemd (JOURNAL_STREAM set), each log line starts with its syslog priority.
        hk.set("JOURNAL_STREAM", "8:12345");
        hk.set("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP", "not a number");
        let out = hk.run(&["-v", "plan"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.lines().any(|l| l.starts_with("<3>error: configuration")),
            "{}",
            out.stderr
        );
        hk.env.remove("MULTIFLEXI_HOUSEKEEPER_LOG_KEEP");
        let out = hk.run(&["-v", "run"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let logged: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("debug: ") || l.contains("info: "))
            .collect();
        assert!(!logged.is_empty(), "{}", out.stderr);
        assert!(
            logged.iter().all(|l| l.starts_with("<7>debug: ") || l.starts_with("<6>info: ")),
            "{logged:?}"
        );
        hk.env.remove("JOURNAL_STREAM");
        let out = hk.run(&["-v", "run"]);
        assert!(
            out.stderr.lines().any(|l| l.starts_with("debug: ")),
            "no prefix without the journal: {}",
            out.stderr
        );
    }
);

backend_test!(
    fn an_empty_database_is_refused_and_left_empty(db) {
        let hk = bare(db);
        // `run`, `apply` and `undo` share the session that refuses it.
        let out = hk.run(&["run"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("is not a MultiFlexi database")
                && out.stderr.contains("phinxlog, job, runtemplate, log"),
            "{}",
            out.stderr
        );
        let mut conn = db.connect();
        let schema = conn.introspect().expect("introspect");
        assert!(
            schema.tables.is_empty(),
            "nothing was created, not even housekeeper_anchor: {:?}",
            schema.tables.keys().collect::<Vec<_>>()
        );
        let doctor = hk.run(&["doctor"]);
        assert_eq!(doctor.code, 1, "{}{}", doctor.stdout, doctor.stderr);
        assert!(
            doctor.stdout.contains("not a MultiFlexi database"),
            "{}",
            doctor.stdout
        );
    }
);

backend_test!(
    only(sqlite)
    fn the_service_environment_needs_no_readable_env_file_and_gets_no_warning(db) {
        if std::path::Path::new(housekeeper::config::SYSTEM_ENV_FILE).exists() {
            eprintln!("{} exists on this host: skipped", housekeeper::config::SYSTEM_ENV_FILE);
            return;
        }
        housekeeper_scenario::install_schema(
            &mut *db.connect(),
            housekeeper_scenario::SchemaLevel::Current,
        )
        .unwrap();
        let hk = bare(db);
        let sqlite = db.sqlite_path().unwrap().display().to_string();
        // What the unit does: no --env-file, the variables in the environment (systemd read
        // the file), the service user unable to read the file itself.
        let unit_run = |vars: &[(&str, &str)]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
                .env_clear()
                .envs(&hk.env)
                .envs(vars.iter().copied())
                .current_dir(db.dir())
                .arg("--state-dir")
                .arg(&hk.state)
                .arg("--tmp-dir")
                .arg(&hk.tmp)
                .args(["run", "--once", "--duty", "LogPruning"])
                .output()
                .unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        };
        for vars in [
            vec![("DB_CONNECTION", "sqlite"), ("DB_DATABASE", sqlite.as_str())],
            vec![("HOUSEKEEPER_DATABASE_URL", hk.url.as_str())],
        ] {
            let (code, stderr) = unit_run(&vars);
            assert_eq!(code, Some(0), "{stderr}");
            assert!(!stderr.contains("warning"), "{stderr}");
            assert!(stderr.contains("run ok:"), "{stderr}");
        }
        // No configuration at all: the missing file is still said, then what is missing.
        let (code, stderr) = unit_run(&[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "warning: no env file found (looked for {}, .env); using the process environment",
                housekeeper::config::SYSTEM_ENV_FILE
            )),
            "{stderr}"
        );
        assert!(stderr.contains("error: no database configured"), "{stderr}");
    }
);

backend_test!(
    fn the_demo_refuses_a_database_it_would_ignore(db) {
        let hk = bare(db);
        let dir = db.dir().join("demo");
        // Tool passes --database, --state-dir and --tmp-dir, as a user pointing at theirs.
        let out = hk.run(&["demo", dir.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
        assert_eq!(
            out.stderr.lines().next().unwrap_or_default(),
            "error: demo does not take --database: it builds its own SQLite database, state and temp directories under DIR"
        );
        assert!(out.stderr.contains("hint: run `housekeeper demo DIR` without it"), "{}", out.stderr);
        assert!(!dir.exists(), "nothing was built");
        assert!(!hk.state.exists(), "nothing was written to the state directory");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_housekeeper"))
            .env_clear()
            .arg("--env-file")
            .arg(&hk.env_file)
            .arg("--state-dir")
            .arg(&hk.state)
            .arg("demo")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: demo does not take --state-dir:"));
        assert!(!dir.exists());
    }
);
