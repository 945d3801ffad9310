//! `housekeeper doctor` names each problem of a broken set-up and exits 1; a healthy one
//! exits 0.

use housekeeper::scenario::{self, SchemaLevel, Seed};

use crate::support::tool::{self, Tool};
use crate::support::{closed_port, TestDb};

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
