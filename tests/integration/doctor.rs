//! `housekeeper doctor` names each problem of a broken set-up and exits 1; a healthy one
//! exits 0; it creates nothing in the state directory, and no line of it shows Rust debug
//! formatting.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use housekeeper_scenario::{self as scenario, SchemaLevel, Seed};

use crate::support::tool::{self, Out, Tool};
use crate::support::{closed_port, TestDb};

/// Every line of doctor's text output is free of Rust debug formatting.
fn assert_plain(out: &Out) {
    for line in out.stdout.lines() {
        assert!(
            !line.contains("Some(") && !line.contains("None"),
            "debug formatting in: {line}\n{}",
            out.stdout
        );
    }
}

/// The directories under `dir`, recursively (what `tool::tree` does not list).
fn directories(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(entry.path());
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

fn is_root() -> bool {
    housekeeper::state::user_id() == Some(0)
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
}

fn install(db: &TestDb) {
    let mut conn = db.connect();
    scenario::install_schema(&mut *conn, SchemaLevel::Current).unwrap();
    let mut seed = Seed::new(housekeeper_journal::DateTimeValue::parse(tool::NOW).unwrap());
    seed.log(
        "info",
        "seed",
        "one",
        housekeeper_journal::DateTimeValue::parse(tool::NOW).unwrap(),
    );
    seed.apply(&mut *conn).unwrap();
}

backend_test!(
    fn a_healthy_setup_has_no_problem(db) {
        install(db);
        let hk = Tool::new(db);
        assert_eq!(hk.run(&["run", "--duty", "LogPruning"]).code, 0);
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("no problem found"), "{}", out.stdout);
        assert!(out.stdout.contains("newest migration 20260630120000"), "{}", out.stdout);
        assert!(out.stdout.contains("(flag --database)"), "sources are shown: {}", out.stdout);
        assert_plain(&out);
        let run = out
            .stdout
            .lines()
            .find(|l| l.contains("last run:"))
            .unwrap_or_else(|| panic!("no last run: {}", out.stdout));
        assert!(run.starts_with("  ok      last run: ") && run.contains(" (run) ended ok "), "{run}");
        assert!(out.stdout.contains("multiflexi-housekeeper.service: not installed"), "{}", out.stdout);
        let json = hk.run(&["doctor", "--format", "json"]).json();
        assert_eq!(json["format"], "housekeeper.doctor/v1");
    }
);

backend_test!(
    fn a_broken_setup_names_each_problem(db) {
        install(db);
        let mut hk = Tool::new(db);
        assert_eq!(hk.run(&["run", "--duty", "LogPruning"]).code, 0);
        // Damage the journal: flip a byte inside the first record.
        let journal = hk.state.join("journal");
        let segment = std::fs::read_dir(&journal)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_file() && p.extension().is_some_and(|e| e == "hkj"))
            .expect("a journal segment");
        let mut bytes = std::fs::read(&segment).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x40;
        std::fs::write(&segment, bytes).unwrap();
        hk.tmp = "/tmp".into();
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stdout.contains("PROBLEM chain: damaged"), "{}", out.stdout);
        assert!(out.stdout.contains("PROBLEM temp directory: refusing to sweep /tmp"), "{}", out.stdout);
        assert_plain(&out);

        let mut unreachable = hk.clone();
        unreachable.url = match db.engine() {
            housekeeper::config::Engine::Sqlite => format!("sqlite:{}", db.dir().join("missing.sqlite").display()),
            housekeeper::config::Engine::Postgres => format!("postgres://postgres@127.0.0.1:{}/x", closed_port()),
            housekeeper::config::Engine::Mysql => format!("mysql://root@127.0.0.1:{}/x?prefer_socket=false", closed_port()),
        };
        unreachable.state = db.dir().join("state-file");
        std::fs::write(&unreachable.state, "not a directory").unwrap();
        let out = unreachable.run(&["doctor"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(out.stdout.contains("PROBLEM connection: cannot connect to"), "{}", out.stdout);
        assert!(out.stdout.contains("PROBLEM state directory:") && out.stdout.contains("is not a directory"), "{}", out.stdout);
        assert!(out.stdout.contains("problem(s) would make a run fail"), "{}", out.stdout);
        assert_plain(&out);
        let connection = out.stdout.lines().find(|l| l.contains("connection:")).unwrap();
        if db.engine() == housekeeper::config::Engine::Sqlite {
            assert!(connection.contains("check that DB_DATABASE (with DB_CONNECTION=sqlite), or the path of the sqlite: URL, names the MultiFlexi SQLite file"), "{connection}");
            assert!(!connection.contains("DB_HOST"), "{connection}");
        } else {
            assert!(connection.contains("DB_HOST/DB_PORT/DB_DATABASE"), "{connection}");
        }
    }
);

backend_test!(
    only(postgres)
    fn an_old_schema_says_which_duties_are_skipped(db) {
        let mut conn = db.connect();
        scenario::install_schema(&mut *conn, SchemaLevel::Pg20241020).unwrap();
        drop(conn);
        let hk = Tool::new(db);
        let out = hk.run(&["doctor"]);
        assert!(out.stdout.contains("newest migration 20241020100500"), "{}", out.stdout);
        assert!(out.stdout.contains("StaleTaskFinalization: will be skipped: needs table task"), "{}", out.stdout);
        assert!(out.stdout.contains("LogPruning: will run"), "{}", out.stdout);
    }
);

backend_test!(
    fn doctor_creates_nothing_in_the_state_directory(db) {
        install(db);
        let hk = Tool::new(db);
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "{}", out.stdout);
        assert!(out.stdout.contains("does not exist yet"), "{}", out.stdout);
        assert!(!hk.state.exists(), "a missing state directory stays missing");

        std::fs::create_dir(&hk.state).unwrap();
        std::fs::set_permissions(&hk.state, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(hk.run(&["doctor"]).code, 0);
        assert_eq!(std::fs::read_dir(&hk.state).unwrap().count(), 0, "an empty one stays empty");

        assert_eq!(hk.run(&["run", "--duty", "LogPruning"]).code, 0);
        let (files, dirs) = (tool::tree(&hk.state), directories(&hk.state));
        assert!(files.contains_key("housekeeper.lock"), "{files:?}");
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "{}", out.stdout);
        assert!(out.stdout.contains("ok      host lock:"), "{}", out.stdout);
        assert_eq!(tool::tree(&hk.state), files, "bytes, modes, owners and times unchanged");
        assert_eq!(directories(&hk.state), dirs);
    }
);

backend_test!(
    fn files_of_another_owner_in_the_state_directory_are_a_problem_with_the_fix(db) {
        if !is_root() {
            eprintln!("not root: changing owners needs root, skipped");
            return;
        }
        install(db);
        let hk = Tool::new(db);
        assert_eq!(hk.run(&["run", "--duty", "LogPruning"]).code, 0);
        // The state directory belongs to the service user; a run as root left its files.
        chown(&hk.state, 65534, 65534);
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert_plain(&out);
        let (user, group) = (
            housekeeper::state::user_name_of(65534),
            housekeeper::state::group_name_of(65534),
        );
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains("state directory owner:"))
            .unwrap_or_else(|| panic!("no ownership problem: {}", out.stdout));
        assert!(line.starts_with("  PROBLEM state directory owner: "), "{line}");
        assert!(line.contains(&format!("not owned by {user}:{group}, the owner of {}", hk.state.display())), "{line}");
        assert!(line.contains(&format!("{} (root:root)", hk.state.join("housekeeper.lock").display())), "{line}");
        assert!(line.ends_with(&format!("fix: chown -R {user}:{group} {}", hk.state.display())), "{line}");

        // Once everything belongs to the owner, the problem is gone.
        for path in directories(&hk.state).iter().chain(
            tool::tree(&hk.state).keys().map(|k| hk.state.join(k)).collect::<Vec<_>>().iter(),
        ) {
            chown(path, 65534, 65534);
        }
        let out = hk.run(&["doctor"]);
        assert!(!out.stdout.contains("state directory owner"), "{}", out.stdout);
    }
);

backend_test!(
    only(sqlite)
    fn a_state_directory_the_user_cannot_write_is_a_problem(db) {
        if !is_root() {
            eprintln!("not root: running doctor as another user needs root, skipped");
            return;
        }
        use std::os::unix::process::CommandExt;
        install(db);
        let hk = Tool::new(db);
        // nobody must reach the env file and the database in the test's directory.
        std::fs::set_permissions(db.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(&hk.state).unwrap();
        chown(&hk.state, 65534, 65534);
        std::fs::set_permissions(&hk.state, std::fs::Permissions::from_mode(0o500)).unwrap();
        let out = hk.command(&["doctor"]).uid(65534).gid(65534).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        let expected = format!(
            "  PROBLEM state directory access: {} is not writable for {} (uid 65534): a run would fail",
            hk.state.display(),
            housekeeper::state::user_name_of(65534)
        );
        assert!(stdout.lines().any(|l| l == expected), "{expected}\n{stdout}");
        assert_plain(&Out { code: 1, stdout, stderr: String::new() });
        std::fs::set_permissions(&hk.state, std::fs::Permissions::from_mode(0o700)).unwrap();
        let out = hk.command(&["doctor"]).uid(65534).gid(65534).output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("state directory access"));
    }
);

backend_test!(
    fn the_last_run_and_a_daemonizing_env_file_are_warnings(db) {
        install(db);
        let mut hk = Tool::new(db);
        let out = hk.run(&["doctor"]);
        assert!(!out.stdout.contains("last run:"), "no journal, no last run: {}", out.stdout);
        hk.tmp = "/tmp".into();
        assert_eq!(hk.run(&["run"]).code, 1, "DiskTempFileCleanup refuses /tmp");
        hk.tmp = db.dir().join("tmp");
        std::fs::write(&hk.env_file, "MULTIFLEXI_DAEMONIZE=true\n").unwrap();
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "warnings do not fail: {}", out.stdout);
        assert_plain(&out);
        let run = out.stdout.lines().find(|l| l.contains("last run:")).unwrap();
        assert!(run.starts_with("  warning last run: ") && run.contains(" (run) ended failed "), "{run}");
        assert!(
            out.stdout.contains("  warning MULTIFLEXI_DAEMONIZE: true: a bare `housekeeper run` loops, one cycle every 3600 s, and never exits; the timer's unit runs `run --once`, which ignores it"),
            "{}",
            out.stdout
        );
    }
);

backend_test!(
    only(sqlite)
    fn the_unit_sandbox_must_cover_the_configured_paths(db) {
        install(db);
        let hk = Tool::new(db);
        let units = db.dir().join("units");
        let service = "multiflexi-housekeeper.service";
        std::fs::write(
            units.join(service),
            include_str!("../../systemd/multiflexi-housekeeper.service"),
        )
        .unwrap();
        // The shipped unit with the test's paths in a private /tmp: nothing reachable.
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert_plain(&out);
        assert!(out.stdout.contains(&format!(
            "  PROBLEM temp directory in the unit: {} (MULTIFLEXI_TMP) is in the service's own empty /tmp (PrivateTmp=yes), not this one",
            hk.tmp.display()
        )), "{}", out.stdout);

        // A drop-in without the private /tmp: the paths are read-only until a drop-in allows them.
        std::fs::create_dir(units.join(format!("{service}.d"))).unwrap();
        std::fs::write(
            units.join(format!("{service}.d/override.conf")),
            format!("[Service]\nPrivateTmp=no\nUser=root\nReadWritePaths={}\n", hk.state.display()),
        )
        .unwrap();
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        let sqlite_dir = db.sqlite_path().unwrap().parent().unwrap().to_path_buf();
        for (what, variable, path) in [
            ("temp directory", "MULTIFLEXI_TMP", &hk.tmp),
            ("SQLite database directory", "DB_DATABASE", &sqlite_dir),
        ] {
            let expected = format!(
                "  PROBLEM {what} in the unit: {} ({variable}) is read-only for the service (ProtectSystem=, and no ReadWritePaths= or StateDirectory= covers it): a run of {service} would fail; add a drop-in with `systemctl edit {service}`: [Service] ReadWritePaths={}",
                path.display(),
                path.display()
            );
            assert!(out.stdout.lines().any(|l| l == expected), "{expected}\n{}", out.stdout);
        }
        assert!(!out.stdout.contains("state directory in the unit"), "{}", out.stdout);

        std::fs::write(
            units.join(format!("{service}.d/paths.conf")),
            format!("[Service]\nReadWritePaths={} {}\n", hk.tmp.display(), sqlite_dir.display()),
        )
        .unwrap();
        let out = hk.run(&["doctor"]);
        assert_eq!(out.code, 0, "{}", out.stdout);
        assert!(out.stdout.contains(&format!("  ok      {service}: {}", units.join(service).display())), "{}", out.stdout);
        assert!(out.stdout.contains("runs as root and may write state directory, temp directory, SQLite database directory"), "{}", out.stdout);
    }
);

backend_test!(
    only(postgres)
    fn a_socket_directory_in_the_host_parameter_is_used(db) {
        let server = crate::support::server_of(db.target());
        let dir = Path::new("/var/run/postgresql");
        if !dir.join(format!(".s.PGSQL.{}", server.port)).exists() || server.port != 5432 {
            eprintln!("no PostgreSQL socket for port 5432 in {}: skipped", dir.display());
            return;
        }
        install(db);
        let mut hk = Tool::new(db);
        hk.url = format!("postgres://{}@/{}?host={}", server.user, server.database, dir.display());
        let out = hk.run(&["doctor"]);
        assert!(
            out.stdout.contains(&format!(
                "  ok      connection: postgres://{}@localhost/{}?socket={} (PostgreSQL",
                server.user,
                server.database,
                dir.display()
            )),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
        assert!(!out.stderr.contains("unknown connection parameter"), "{}", out.stderr);
        assert!(out.stdout.contains("newest migration 20260630120000"), "{}", out.stdout);
    }
);
