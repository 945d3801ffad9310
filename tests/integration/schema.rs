//! The MultiFlexi schema fixtures and the scenario builder on real engines: the installed
//! schema introspects exactly as the real migrated database (`expected-<engine>.tsv`), the
//! PostgreSQL 20241020 schema is the old one, the PHP fixture and the realistic mess write what
//! they promise, and dumps compare equal until a cell changes.

use std::collections::{BTreeMap, BTreeSet};

use housekeeper::config::Engine;
use housekeeper::db::SchemaFacts;
use housekeeper_journal::{DateTimeValue, Value};
use housekeeper_scenario::{
    self as scenario, dump_database, install_schema, php_observed_fixture, realistic_mess_in,
    DumpDifference, SchemaLevel,
};

fn now() -> DateTimeValue {
    DateTimeValue::ymd_hms(2026, 11, 28, 12, 0, 0)
}

fn expected_tsv(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => include_str!("../fixtures/schema/expected-sqlite.tsv"),
        Engine::Postgres => include_str!("../fixtures/schema/expected-postgres.tsv"),
        Engine::Mysql => include_str!("../fixtures/schema/expected-mysql.tsv"),
    }
}

// ----- comparing introspection with the expected facts ------------------------------------------

#[derive(Debug, Default)]
struct ExpectedTable {
    /// (name, declared type, nullable, default, flag, kind) in table order.
    columns: Vec<[String; 6]>,
    primary_key: String,
    foreign_keys: BTreeSet<String>,
    indexes: BTreeSet<String>,
}

fn parse_expected(tsv: &str) -> BTreeMap<String, ExpectedTable> {
    let mut tables: BTreeMap<String, ExpectedTable> = BTreeMap::new();
    for (n, line) in tsv.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let table = tables.entry(f[1].to_owned()).or_default();
        match (f[0], f.len()) {
            ("column", 9) => {
                assert_eq!(
                    f[2].parse::<usize>().ok(),
                    Some(table.columns.len() + 1),
                    "expected file line {}: columns out of order",
                    n + 1
                );
                table
                    .columns
                    .push([f[3], f[4], f[5], f[6], f[7], f[8]].map(str::to_owned));
            }
            ("primary_key", 3) => table.primary_key = f[2].to_owned(),
            ("foreign_key", 6) => {
                table.foreign_keys.insert(fk_text(f[2], f[3], f[4], f[5]));
            }
            ("index", 5) => {
                table
                    .indexes
                    .insert(index_text(f[2], f[3], f[4] == "unique"));
            }
            _ => panic!("expected file line {}: cannot read {line:?}", n + 1),
        }
    }
    tables
}

fn fk_text(columns: &str, table: &str, referenced: &str, on_delete: &str) -> String {
    format!("({columns}) → {table}({referenced}) ON DELETE {on_delete}")
}

fn index_text(name: &str, columns: &str, unique: bool) -> String {
    format!("{}{name}({columns})", if unique { "UNIQUE " } else { "" })
}

/// `NULL` as a default and no default at all both mean "defaults to NULL".
fn same_default(expected: &str, actual: Option<&str>) -> bool {
    let norm = |d: Option<&str>| match d {
        None => None,
        Some(d) if d.eq_ignore_ascii_case("null") => None,
        Some(d) => Some(d.to_owned()),
    };
    let expected = if expected == "\\N" {
        None
    } else {
        Some(expected)
    };
    norm(expected) == norm(actual)
}

/// Every difference between the expected facts and the introspection, one readable line each,
/// naming the table and column.
fn compare(expected: &BTreeMap<String, ExpectedTable>, actual: &SchemaFacts) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, want) in expected {
        let Some(got) = actual.table(name) else {
            problems.push(format!("{name}: table missing"));
            continue;
        };
        let got_names: Vec<&str> = got.columns.iter().map(|c| c.name.as_str()).collect();
        let want_names: Vec<&str> = want.columns.iter().map(|c| c[0].as_str()).collect();
        if got_names != want_names {
            problems.push(format!(
                "{name}: columns differ\n      expected: {}\n      got:      {}",
                want_names.join(", "),
                got_names.join(", ")
            ));
        }
        for [column, declared, nullable, default, flag, kind] in &want.columns {
            let Some(c) = got.column(column) else {
                continue;
            };
            let mut check = |what: &str, ok: bool, want: &str, got: String| {
                if !ok {
                    problems.push(format!(
                        "{name}.{column}: {what}: expected {want}, got {got}"
                    ));
                }
            };
            check(
                "declared type",
                c.declared_type == *declared,
                declared,
                c.declared_type.clone(),
            );
            check(
                "nullability",
                c.nullable == (nullable == "null"),
                nullable,
                if c.nullable { "null" } else { "not_null" }.to_owned(),
            );
            check(
                "default",
                same_default(default, c.default.as_deref()),
                default,
                c.default.clone().unwrap_or_else(|| "\\N".to_owned()),
            );
            check(
                "auto_increment",
                c.auto_increment == (flag == "auto_increment"),
                &(flag == "auto_increment").to_string(),
                c.auto_increment.to_string(),
            );
            check(
                "on_update_now",
                c.on_update_now == (flag == "on_update_now"),
                &(flag == "on_update_now").to_string(),
                c.on_update_now.to_string(),
            );
            check(
                "kind",
                kind == "-" || format!("{:?}", c.kind) == *kind,
                kind,
                format!("{:?}", c.kind),
            );
        }
        let pk = got.primary_key.join(",");
        if pk != want.primary_key {
            problems.push(format!(
                "{name}: primary key: expected ({}), got ({pk})",
                want.primary_key
            ));
        }
        let fks: BTreeSet<String> = got
            .foreign_keys
            .iter()
            .map(|fk| {
                fk_text(
                    &fk.columns.join(","),
                    &fk.referenced_table,
                    &fk.referenced_columns.join(","),
                    &fk.on_delete,
                )
            })
            .collect();
        for missing in want.foreign_keys.difference(&fks) {
            problems.push(format!("{name}: foreign key missing: {missing}"));
        }
        for extra in fks.difference(&want.foreign_keys) {
            problems.push(format!("{name}: unexpected foreign key: {extra}"));
        }
        let indexes: BTreeSet<String> = got
            .indexes
            .iter()
            .map(|i| index_text(&i.name, &i.columns.join(","), i.unique))
            .collect();
        for missing in want.indexes.difference(&indexes) {
            problems.push(format!("{name}: index missing: {missing}"));
        }
        for extra in indexes.difference(&want.indexes) {
            problems.push(format!("{name}: unexpected index: {extra}"));
        }
    }
    for name in actual.tables.keys() {
        if !expected.contains_key(name) && !name.starts_with("sqlite_") {
            problems.push(format!("{name}: unexpected table"));
        }
    }
    problems
}

fn assert_introspection_matches(engine: Engine, facts: &SchemaFacts) {
    let expected = parse_expected(expected_tsv(engine));
    assert_eq!(expected.len(), 27, "the expected file covers 27 tables");
    let problems = compare(&expected, facts);
    assert!(
        problems.is_empty(),
        "introspection on {engine} differs from tests/fixtures/schema/expected-{engine}.tsv \
         in {} place(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn a_changed_column_shows_up_naming_table_and_column() {
    // The comparison itself, without a database: one fact changed in the expected file.
    let tsv = "column\tlog\t1\tid\tINTEGER\tnot_null\t\\N\tauto_increment\tInteger\n\
               column\tlog\t2\tcreated\tTIMESTAMP_TEXT\tnull\tCURRENT_TIMESTAMP\t-\tDateTime\n\
               primary_key\tlog\tid\n";
    let expected = parse_expected(tsv);
    let mut facts = SchemaFacts::default();
    let column = |name: &str, declared: &str, default: Option<&str>| housekeeper::db::ColumnInfo {
        name: name.to_owned(),
        declared_type: declared.to_owned(),
        kind: if declared == "INTEGER" {
            housekeeper::db::ColumnKind::Integer
        } else {
            housekeeper::db::ColumnKind::DateTime
        },
        nullable: name != "id",
        default: default.map(str::to_owned),
        auto_increment: name == "id",
        on_update_now: false,
    };
    facts.tables.insert(
        "log".to_owned(),
        housekeeper::db::TableInfo {
            name: "log".to_owned(),
            columns: vec![
                column("id", "INTEGER", None),
                column("created", "DATETIME_TEXT", Some("CURRENT_TIMESTAMP")),
            ],
            primary_key: vec!["id".to_owned()],
            foreign_keys: vec![],
            indexes: vec![],
        },
    );
    assert_eq!(
        compare(&expected, &facts),
        ["log.created: declared type: expected TIMESTAMP_TEXT, got DATETIME_TEXT"]
    );
}

// ----- on every engine ---------------------------------------------------------------------------

backend_test!(
    fn current_schema_introspects_like_the_real_multiflexi_database(db) {
    let mut conn = db.connect();
    install_schema(conn.as_mut(), SchemaLevel::Current).unwrap();
    let facts = conn.introspect().unwrap();
    assert_introspection_matches(db.engine(), &facts);
    let phinx = dump_database(conn.as_mut()).unwrap();
    assert_eq!(phinx.row_count("phinxlog"), 137);
}
);

backend_test!(
    fn php_observed_fixture_writes_the_seed_of_the_php_runs(db) {
    let mut conn = db.connect();
    install_schema(conn.as_mut(), SchemaLevel::Current).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fixture = php_observed_fixture(conn.as_mut(), now(), tmp.path()).unwrap();
    assert_eq!(fixture.tmp_dir, tmp.path());

    let dump = dump_database(conn.as_mut()).unwrap();
    let counts = dump.row_counts();
    let mut expected: BTreeMap<String, usize> = [
        ("user", 1),
        ("apps", 1),
        ("company", 1),
        ("runtemplate", 5),
        ("job", 9),
        ("schedule", 3),
        ("task", 4),
        ("credential_type", 2),
        ("credtypedata", 1),
        ("credentials", 2),
        ("runtplcreds", 2),
        ("log", 10),
        ("data_retention_policies", 7),
        ("phinxlog", 137),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_owned(), n))
    .collect();
    for table in counts.keys() {
        expected.entry(table.clone()).or_insert(0);
    }
    assert_eq!(counts, expected);

    let jobs = dump.table("job").unwrap();
    let job = |id: i64| jobs.row(&format!("id={id}")).unwrap();
    // Job 5 points at a runtemplate that does not exist; job 4 at none.
    // (Numbers compared as numbers: unsigned MySQL columns read back as `UInt`.)
    let number = |v: Option<&Value>| v.and_then(Value::as_i64);
    assert_eq!(number(jobs.value(job(5), "runtemplate_id")), Some(99));
    assert_eq!(jobs.value(job(4), "runtemplate_id"), Some(&Value::Null));
    // Job 6: a PHP-serialized ConfigFields object, NUL bytes and all, naming running.json —
    // except on PostgreSQL, where PHP leaves it cut at the first NUL byte.
    let env6 = jobs.value(job(6), "env").and_then(Value::as_str).unwrap();
    assert!(env6.starts_with("O:23:\"MultiFlexi\\ConfigFields\""), "{env6:?}");
    let running = format!("{}/running.json", tmp.path().display());
    let names_running = env6.contains(&format!("s:{}:\"{running}\";", running.len()));
    assert_eq!(names_running, fixture.job6_env_names_running_json);
    if db.engine() == Engine::Postgres {
        assert!(!names_running && !env6.contains('\0'), "{env6:?}");
        assert!(env6.ends_with("s:31:\""), "{env6:?}");
    } else {
        assert!(names_running && env6.contains('\0'), "{env6:?}");
    }
    // Job 9: JSON, slashes escaped as PHP writes them.
    let env9 = jobs.value(job(9), "env").and_then(Value::as_str).unwrap();
    let json: serde_json::Value = serde_json::from_str(env9).unwrap();
    assert_eq!(
        json["RESULT_FILE"],
        format!("{}/jsonenv.json", tmp.path().display())
    );
    assert!(env9.contains("\\/"));
    // Queue rows 2 and 3 point at job 0 and the missing job 999.
    let queue = dump.table("schedule").unwrap();
    assert_eq!(number(queue.value(queue.row("id=3").unwrap(), "job")), Some(999));

    // Later inserts without an id continue after the seeded ids (PostgreSQL identities moved).
    let mut tx = conn.begin().unwrap();
    tx.execute(
        "INSERT INTO log (severity, venue, message, marked_for_deletion) VALUES (?, ?, ?, ?)",
        &["info".into(), "test".into(), "after the seed".into(), Value::Bool(false)],
    )
    .unwrap();
    tx.commit().unwrap();
    let after = dump_database(conn.as_mut()).unwrap();
    let log = after.table("log").unwrap();
    assert_eq!(log.rows.len(), 11);
    assert!(log.row("id=11").is_some(), "the new log row got id 11");
}
);

backend_test!(
    fn dumps_compare_equal_until_a_cell_changes(db) {
    let mut conn = db.connect();
    install_schema(conn.as_mut(), SchemaLevel::Current).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let report = realistic_mess_in(conn.as_mut(), now(), 1, tmp.path()).unwrap();

    let before = dump_database(conn.as_mut()).unwrap();
    let again = dump_database(conn.as_mut()).unwrap();
    assert_eq!(before, again);
    assert!(before.diff(&again).is_empty());
    for (table, n) in &report.rows {
        assert_eq!(before.row_count(table), *n, "rows of {table}");
    }

    // A succeeded job gets another exit code.
    let jobs = before.table("job").unwrap();
    let succeeded = jobs
        .rows
        .iter()
        .find(|r| jobs.value(r, "exitcode").and_then(Value::as_i64) == Some(0))
        .unwrap();
    let id = jobs.value(succeeded, "id").and_then(Value::as_i64).unwrap();
    let mut tx = conn.begin().unwrap();
    let changed = tx
        .execute(
            "UPDATE job SET exitcode = ? WHERE id = ?",
            &[Value::Int(42), Value::Int(id)],
        )
        .unwrap();
    assert_eq!(changed, 1);
    tx.commit().unwrap();
    let after = dump_database(conn.as_mut()).unwrap();
    let diff = before.diff(&after);
    assert_eq!(diff.len(), 1, "{diff}");
    let DumpDifference::CellChanged {
        table,
        key,
        column,
        after: new,
        ..
    } = &diff.differences[0]
    else {
        panic!("not a changed cell: {diff}");
    };
    let id_key = format!("id={id}");
    assert_eq!(
        (table.as_str(), key.as_str(), column.as_str()),
        ("job", id_key.as_str(), "exitcode")
    );
    assert_eq!(new, &Value::Int(42));
    let line = format!("job [id={id}] exitcode: 0 → 42");
    assert!(diff.to_string().contains(&line), "{diff}");
}
);

// ----- PostgreSQL only -------------------------------------------------------------------------

backend_test!(
    only(postgres)
    fn postgres_stuck_at_20241020_has_the_old_schema(db) {
    let mut conn = db.connect();
    install_schema(conn.as_mut(), SchemaLevel::Pg20241020).unwrap();
    let facts = conn.introspect().unwrap();
    let tables: Vec<&str> = facts.tables.keys().map(String::as_str).collect();
    assert_eq!(
        tables,
        [
            "actionconfig", "apps", "company", "company_apps", "companyapp", "companyenv",
            "conffield", "configuration", "consent", "consent_log", "customer", "job", "log",
            "modconfig", "phinxlog", "runtemplate", "schedule", "servers", "token", "user",
        ]
    );
    let rt: Vec<&str> = facts.tables["runtemplate"]
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        rt,
        ["id", "app_id", "company_id", "interv", "prepared", "success", "fail", "name", "delay", "executor"]
    );
    let job = &facts.tables["job"];
    for gone in ["task_id", "retention_until", "marked_for_deletion", "pid"] {
        assert!(!job.has_column(gone), "job.{gone} should not exist yet");
    }
    for old in ["stdout", "stderr"] {
        assert!(job.has_column(old), "job.{old} still exists at this level");
    }
    let schedule = job.column("schedule").unwrap();
    assert!(!schedule.kind.is_temporal(), "job.schedule is still text: {schedule:?}");
    assert_eq!(job.column("launched_by").unwrap().declared_type, "text");

    let dump = dump_database(conn.as_mut()).unwrap();
    let phinx = dump.table("phinxlog").unwrap();
    assert_eq!(phinx.rows.len(), 66);
    let newest = phinx.rows.iter().filter_map(|r| r[0].as_i64()).max();
    assert_eq!(newest, Some(20_241_020_100_500));
}
);

#[test]
fn the_old_schema_is_refused_on_other_engines() {
    let err = scenario::schema_sql(scenario::Engine::Mysql, SchemaLevel::Pg20241020).unwrap_err();
    assert!(
        err.to_string().contains("only as a PostgreSQL fixture"),
        "{err}"
    );
}
