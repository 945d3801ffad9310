//! Row keys are compared by value, not by their display text: binary keys of one length (which
//! display alike) and byte strings that are not UTF-8 (which a lossy conversion merges) stay
//! distinct when the executor re-checks, deletes and restores rows. Every engine has binary
//! columns: SQLite `BLOB`, PostgreSQL `bytea`, MariaDB `VARBINARY`.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

use housekeeper::apply::{anchor, Executor};
use housekeeper::config::{Config, Engine};
use housekeeper::db::Connection;
use housekeeper::duties::{self, DutyContext, DutyName, History};
use housekeeper::plan::{DeleteRows, DutyPlan, Guard, Item, Op, Reason, ReinsertRows, RowImages};
use housekeeper::quarantine::Quarantine;
use housekeeper::report::DutyReport;
use housekeeper_journal::{DateTimeValue, Journal, KeySet, PayloadKind, RowRole, Value};

use crate::support::TestDb;

const FF: &[u8] = &[0xff, 0x00, 0x01];
const FE: &[u8] = &[0xfe, 0x00, 0x01];
const CAFE_E9: &[u8] = b"caf\xe9";
const CAFE_E8: &[u8] = b"caf\xe8";

fn create(db: &TestDb, keys: &[&[u8]]) {
    let mut conn = db.connect();
    let ddl = match db.engine() {
        Engine::Sqlite => "CREATE TABLE blob_keys (k BLOB PRIMARY KEY, note TEXT)",
        Engine::Postgres => "CREATE TABLE blob_keys (k bytea PRIMARY KEY, note text)",
        Engine::Mysql => "CREATE TABLE blob_keys (k VARBINARY(16) PRIMARY KEY, note TEXT)",
    };
    conn.execute_ddl(ddl).expect("create blob_keys");
    insert(&mut *conn, keys);
}

fn insert(conn: &mut dyn Connection, keys: &[&[u8]]) {
    let mut tx = conn.begin().expect("begin");
    for (i, key) in keys.iter().enumerate() {
        tx.execute(
            "INSERT INTO blob_keys (k, note) VALUES (?, ?)",
            &[Value::Bytes(key.to_vec()), Value::from(format!("row {i}"))],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
}

fn keys_left(db: &TestDb) -> BTreeSet<Vec<u8>> {
    let mut conn = db.connect();
    let mut view = conn.snapshot().expect("snapshot");
    let rows = view.query("SELECT k FROM blob_keys", &[]).expect("select");
    rows.rows
        .into_iter()
        .map(|r| match &r[0] {
            Value::Bytes(b) => b.clone(),
            Value::Text(t) => t.as_bytes().to_vec(),
            other => panic!("a binary key read back as {other:?}"),
        })
        .collect()
}

/// Applies `plan` through the real executor, journal and anchors, as a run would.
fn apply(db: &TestDb, plan: &DutyPlan) -> DutyReport {
    let mut conn = db.connect();
    anchor::ensure_table(&mut *conn).expect("anchor table");
    let schema = conn.introspect().expect("introspect");
    let state = db.dir().join("state");
    let (mut journal, _) = Journal::open(&state.join("journal")).expect("journal");
    let quarantine = Quarantine::new(state.join("quarantine"));
    let config = Config::load(&Default::default(), &Default::default(), &[])
        .expect("defaults")
        .config;
    let history = History::default();
    let ctx = DutyContext {
        now: plan.now,
        host_now: std::time::SystemTime::now(),
        config: &config,
        schema: &schema,
        engine: db.engine(),
        history: &history,
        pending: &duties::NO_EFFECTS,
    };
    let stop = AtomicBool::new(false);
    let mut report = DutyReport::new(plan.duty);
    let duty = duties::duty(plan.duty);
    let mut executor = Executor {
        conn: &mut *conn,
        journal: &mut journal,
        quarantine: &quarantine,
        journal_id: "keys-test",
        run_id: "20261206T090000Z-000001",
        chunk_rows: 1000,
        stop: &stop,
        strict: false,
    };
    executor
        .apply(&*duty, &ctx, plan.clone(), &mut report)
        .expect("the journal is writable");
    report
}

/// A row-image payload holding `rows` of `blob_keys` as deleted rows, as a run that deleted
/// them writes it: what a re-insert item refers to.
fn deleted_images(db: &TestDb, columns: &[String], rows: &[Vec<Value>]) -> RowImages {
    let (journal, _) = Journal::open(&db.dir().join("state/journal")).expect("journal");
    let mut pw = journal
        .payload_writer(PayloadKind::RowImages)
        .expect("payload writer");
    pw.begin_table("blob_keys", columns).expect("table");
    for row in rows {
        pw.row(RowRole::Deleted, row).expect("row");
    }
    let payload = pw.finish().expect("payload");
    RowImages {
        payload: payload.digest.to_hex(),
        section: 0,
    }
}

fn plan_of(op: Op) -> DutyPlan {
    let mut plan = DutyPlan::new(
        DutyName::LogPruning,
        DateTimeValue::ymd_hms(2026, 12, 6, 9, 0, 0),
    );
    plan.items
        .push(Item::new(op, Reason::new("test", "binary keys")));
    plan
}

fn bytes(keys: &[&[u8]]) -> Vec<Value> {
    keys.iter().map(|k| Value::Bytes(k.to_vec())).collect()
}

fn gone(report: &DutyReport) -> BTreeSet<String> {
    report
        .drifted
        .iter()
        .filter(|d| d.reason == "gone")
        .map(|d| d.key.clone())
        .collect()
}

backend_test!(fn a_delete_reports_each_missing_binary_key_even_when_another_displays_alike(db) {
    create(db, &[FF, CAFE_E8]);
    // FE is planned but gone; it displays like FF. CAFE_E9 is gone; lossily it reads like
    // CAFE_E8.
    let plan = plan_of(Op::Delete(DeleteRows {
        table: "blob_keys".into(),
        key_column: "k".into(),
        keys: KeySet::Values(bytes(&[FF, FE, CAFE_E9])),
        dependents: Vec::new().into(),
        guard: Guard::Exists,
    }));
    let report = apply(db, &plan);
    assert_eq!(report.affected, 1, "{report:?}");
    assert_eq!(
        gone(&report),
        ["0xfe0001".to_owned(), "0x636166e9".to_owned()].into(),
        "both missing keys are reported, by their bytes"
    );
    assert_eq!(keys_left(db), [CAFE_E8.to_vec()].into(), "only FF was deleted");
});

backend_test!(fn a_restore_is_not_refused_because_another_binary_key_displays_alike(db) {
    // FE exists; FF comes back. By display text the two are one key (`key_reused`).
    create(db, &[FE, CAFE_E8]);
    let columns = vec!["k".to_owned(), "note".to_owned()];
    let rows = [
        vec![Value::Bytes(FF.to_vec()), Value::from("restored")],
        vec![Value::Bytes(CAFE_E9.to_vec()), Value::from("restored")],
        vec![Value::Bytes(CAFE_E8.to_vec()), Value::from("taken")],
    ];
    let plan = plan_of(Op::Reinsert(ReinsertRows {
        table: "blob_keys".into(),
        key_column: "k".into(),
        images: Some(deleted_images(db, &columns, &rows)),
        columns,
        keys: KeySet::Values(bytes(&[FF, CAFE_E9, CAFE_E8])),
    }));
    let report = apply(db, &plan);
    let reused: Vec<&str> = report
        .drifted
        .iter()
        .filter(|d| d.reason == "key_reused")
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(reused, ["0x636166e8"], "only the really taken key conflicts: {report:?}");
    assert_eq!(
        keys_left(db),
        [FF.to_vec(), FE.to_vec(), CAFE_E9.to_vec(), CAFE_E8.to_vec()].into()
    );
});
