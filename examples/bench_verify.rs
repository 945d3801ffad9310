//! Benchmark: what checking the journal before acting costs each run, as history grows.
//!
//! ```text
//! cargo run --release --example bench_verify -- [runs ...]     # default: 0 336 10000
//! ```
//!
//! For each count, builds in a scratch directory a journal of that many hourly runs (each: a run
//! start, a LogPruning plan and its committed chunk, eight duty ends and a run end — about the
//! records of a real hourly run) and a SQLite database whose `housekeeper_anchor` holds the
//! anchors of the last 336 runs (the default undo window of hourly runs: older anchors are
//! pruned), with the checkpoint at the last run end, as a run leaves them. Then times, median of
//! 9, `apply::trust::open_journal` — the check every acting command makes — and, for
//! comparison, a full verification of the chain from its first record against the same
//! anchors (what the check costs without the checkpoint).

use std::time::{Duration, Instant};

use housekeeper::apply::{anchor, trust};
use housekeeper::config::DbTarget;
use housekeeper::db::{self, ConnectOptions, Connection};
use housekeeper_journal::{
    Action, ChunkStatus, DateTimeValue, Digest, ItemSummary, Journal, JournalOptions, KeySet,
    PayloadKind, PayloadRef, Record, RunKind, TableChange,
};

const WINDOW: usize = 336;
const DUTIES: [&str; 8] = [
    "StaleTaskFinalization",
    "OrphanedJobCleanup",
    "ScheduleIntegrity",
    "DataRetentionCleanup",
    "DiskTempFileCleanup",
    "LogPruning",
    "RuntemplateCounterRecalc",
    "CredentialHealthCheck",
];

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number of runs"))
        .collect();
    let counts = if counts.is_empty() {
        vec![0, 336, 10_000]
    } else {
        counts
    };
    println!("runs  journal_bytes  check_ms(median of 9)  full_verify_ms(median of 9)");
    for runs in counts {
        let dir = tempfile::tempdir().expect("scratch dir");
        let journal_dir = dir.path().join("journal");
        let db_path = dir.path().join("multiflexi.sqlite");
        std::fs::File::create(&db_path).expect("an empty SQLite file");
        let target = DbTarget::from_url(&format!("sqlite://{}", db_path.display()), "url")
            .expect("a SQLite URL");
        let mut conn = db::connect(&target, &ConnectOptions::default()).expect("connect");
        anchor::ensure_table(&mut *conn).expect("anchor table");
        let identity = conn.identity().expect("identity");
        build(&journal_dir, &mut *conn, &identity, runs);
        let bytes: u64 = std::fs::read_dir(&journal_dir)
            .expect("journal")
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "hkj"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum();
        let schema = conn.introspect().expect("introspect");
        let key = anchor::JournalKey::chain(&anchor::chain_id(&journal_dir).expect("a journal"));
        let check = median(|| {
            let witness = trust::Witness {
                conn: &mut *conn,
                schema: &schema,
                identity: &identity,
            };
            let t = trust::open_journal(&journal_dir, &key, Some(witness)).expect("intact");
            drop(t);
        });
        let full = median(|| {
            let mut view = conn.snapshot().expect("snapshot");
            let anchors = anchor::since(&mut *view, &key, 0).expect("anchors");
            drop(view);
            let opened = Journal::open_with(
                &journal_dir,
                JournalOptions {
                    expected: trust::heads(&anchors),
                    ..JournalOptions::default()
                },
            )
            .expect("intact");
            drop(opened);
        });
        println!(
            "{runs:>5}  {bytes:>13}  {:>21.2}  {:>27.2}",
            ms(check),
            ms(full)
        );
    }
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..9)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[4]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `runs` hourly runs in the journal, the anchors of the last `WINDOW` of them in the
/// database, and the checkpoint at the last run end.
fn build(journal_dir: &std::path::Path, conn: &mut dyn Connection, identity: &str, runs: usize) {
    let (mut journal, _) = Journal::open(journal_dir).expect("journal");
    let now = DateTimeValue::ymd_hms(2026, 11, 28, 9, 0, 0);
    let payload = PayloadRef {
        digest: Digest([7; 32]),
        len: 4096,
        kind: PayloadKind::RowImages,
    };
    let mut last_end = None;
    for i in 0..runs {
        let run_id = format!("20261128T{i:06}Z-bench");
        let mut anchors = Vec::new();
        journal
            .append(&Record::RunStart {
                run_id: run_id.clone(),
                kind: RunKind::Run,
                started_utc: "2026-11-28T09:00:00Z".into(),
                now,
                host: "web1".into(),
                user: "multiflexi".into(),
                tool_version: "2.0.0".into(),
                database: identity.to_owned(),
                duties: DUTIES.iter().map(|d| (*d).to_owned()).collect(),
            })
            .expect("append");
        let plan = journal
            .append(&Record::Plan {
                run_id: run_id.clone(),
                duty: "LogPruning".into(),
                payload: payload.clone(),
                items: vec![ItemSummary {
                    item: 0,
                    action: Action::Delete,
                    table: Some("log".into()),
                    key_columns: vec!["id".into()],
                    keys: KeySet::Ranges(vec![(1, 100)]),
                    columns: Vec::new(),
                    dependents: Vec::new(),
                    path: None,
                    reason: "beyond_log_keep".into(),
                    policy: None,
                }],
            })
            .expect("append");
        anchors.push(("LogPruning", plan.head()));
        journal
            .append(&Record::ChunkOutcome {
                run_id: run_id.clone(),
                duty: "LogPruning".into(),
                chunk: 0,
                items: vec![(0, 0)],
                status: ChunkStatus::Committed,
                changes: vec![TableChange {
                    table: "log".into(),
                    action: Action::Delete,
                    keys: KeySet::Ranges(vec![(1, 100)]),
                }],
                drifted: Vec::new(),
                payload: Some(payload.clone()),
                error: None,
                error_payload: None,
            })
            .expect("append");
        for duty in DUTIES {
            journal
                .append(&Record::DutyEnd {
                    run_id: run_id.clone(),
                    duty: duty.into(),
                    status: "ok".into(),
                    affected: 100,
                    errors: 0,
                    findings: 0,
                    details: None,
                })
                .expect("append");
        }
        let end = journal
            .append_durable(&Record::RunEnd {
                run_id: run_id.clone(),
                status: "ok".into(),
                ended_utc: "2026-11-28T09:00:01Z".into(),
                details: None,
            })
            .expect("append");
        anchors.push(("*", end.head()));
        if i + WINDOW >= runs {
            let mut tx = conn.begin().expect("begin");
            for (duty, head) in anchors {
                anchor::insert(
                    &mut *tx,
                    &journal.journal_id().to_hex(),
                    &anchor::Anchor {
                        run_id: run_id.clone(),
                        duty: duty.into(),
                        chunk: 0,
                        record_seq: head.seq,
                        record_hash: head.hash.to_hex(),
                        payload_digest: None,
                        payload_len: None,
                    },
                )
                .expect("anchor");
            }
            tx.commit().expect("commit");
        }
        last_end = Some(end);
    }
    if let Some(end) = last_end {
        journal.write_checkpoint(&end).expect("checkpoint");
    }
}
