//! The database layer on real engines: typed values, capturing deletes, row locks, snapshots,
//! the per-database lock, introspection, the server clock and connect errors.
//!
//! Every test runs on SQLite, PostgreSQL and MariaDB/MySQL unless it is about one engine.

use std::time::{Duration, Instant};

use housekeeper::config::Secret;
use housekeeper::db::{ColumnKind, LockHolder};

use crate::support::{
    closed_port, server_of, ConnectOptions, Connection, DateTimeValue, DbError, DbTarget, Engine,
    TestDb, TimeValue, Value,
};

fn all_rows(conn: &mut Box<dyn Connection>, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
    let mut view = conn.snapshot().expect("snapshot");
    view.query(sql, params).expect(sql).rows
}

fn scalar(conn: &mut Box<dyn Connection>, sql: &str) -> Value {
    let mut view = conn.snapshot().expect("snapshot");
    view.query_scalar(sql, &[]).expect(sql).expect("one row")
}

fn insert(conn: &mut Box<dyn Connection>, sql: &str, rows: &[Vec<Value>]) {
    let mut tx = conn.begin().expect("begin");
    for row in rows {
        assert_eq!(tx.execute(sql, row).expect(sql), 1);
    }
    tx.commit().expect("commit");
}

fn is_mariadb(conn: &mut Box<dyn Connection>) -> bool {
    conn.server_version().expect("version").contains("MariaDB")
}

fn dt(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, micros: u32) -> DateTimeValue {
    DateTimeValue {
        micros,
        ..DateTimeValue::ymd_hms(y, mo, d, h, mi, s)
    }
}

const VALS_SQLITE: &str = "CREATE TABLE vals (id INTEGER PRIMARY KEY, n_int INTEGER, \
    n_neg INTEGER, n_big INTEGER, flag BOOLEAN_INTEGER, amount DECIMAL(12,2), \
    label VARCHAR(255), data BINARY_BLOB, at DATETIME_TEXT, day DATE, doc JSON_TEXT, \
    ratio REAL, tm TIME, empty TEXT)";
const VALS_POSTGRES: &str = "CREATE TABLE vals (id integer PRIMARY KEY, n_int integer, \
    n_neg bigint, n_big bigint, flag boolean, amount numeric(12,2), \
    label character varying(255), data bytea, at timestamp without time zone, day date, \
    doc json, ratio double precision, tm time, empty text)";
const VALS_MYSQL: &str = "CREATE TABLE vals (id int(11) unsigned NOT NULL PRIMARY KEY, \
    n_int int(11), n_neg bigint, n_big bigint unsigned, flag tinyint(1), amount decimal(12,2), \
    label varchar(255), data longblob, at datetime(6), day date, doc json, ratio double, \
    tm time(6), empty text) DEFAULT CHARSET=utf8mb4";
const VALS_COLUMNS: &str =
    "id, n_int, n_neg, n_big, flag, amount, label, data, at, day, doc, ratio, tm, empty";

backend_test!(
    fn typed_values_round_trip(db) {
        db.run_sql(&[db.pick(VALS_SQLITE, VALS_POSTGRES, VALS_MYSQL)]);
        let mut conn = db.connect();
        let engine = db.engine();
        let at = dt(2024, 2, 29, 23, 59, 58, 123_456);
        let day = DateTimeValue::date(2024, 1, 31);
        let label = "Žluťoučký kůň — 'single' \"double\" \\ back ✓ 🚀";
        let bytes = vec![0u8, 1, 2, 0, 255, b'\'', 0];
        let json = r#"{"a": [1, 2.5, "x"], "b": null}"#;
        let time = TimeValue {
            negative: false,
            hours: 7,
            minute: 8,
            second: 9,
            micros: 500_000,
        };
        let big = if engine == Engine::Mysql {
            Value::UInt(u64::MAX)
        } else {
            Value::Int(i64::MAX)
        };
        let insert_sql = format!("INSERT INTO vals ({VALS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        insert(
            &mut conn,
            &insert_sql,
            &[vec![
                Value::Int(1),
                Value::Int(42),
                Value::Int(-9_000_000_000),
                big.clone(),
                Value::Bool(true),
                Value::Decimal("-12345.67".into()),
                Value::Text(label.into()),
                Value::Bytes(bytes.clone()),
                Value::DateTime(at),
                Value::Date(day),
                Value::Json(json.into()),
                Value::Float(0.1),
                Value::Time(time),
                Value::Null,
            ]],
        );
        let select = format!("SELECT {VALS_COLUMNS} FROM vals WHERE id = ?");
        let back = all_rows(&mut conn, &select, &[Value::Int(1)]);
        let expected = match engine {
            // SQLite keeps storage classes: dates, times and JSON are TEXT; a DECIMAL column
            // has NUMERIC affinity, so SQLite itself stores the decimal text as REAL.
            Engine::Sqlite => vec![
                Value::Int(1),
                Value::Int(42),
                Value::Int(-9_000_000_000),
                big,
                Value::Int(1),
                Value::Float(-12345.67),
                Value::Text(label.into()),
                Value::Bytes(bytes),
                Value::Text("2024-02-29 23:59:58.123456".into()),
                Value::Text("2024-01-31".into()),
                Value::Text(json.into()),
                Value::Float(0.1),
                Value::Text("07:08:09.500000".into()),
                Value::Null,
            ],
            Engine::Postgres => vec![
                Value::Int(1),
                Value::Int(42),
                Value::Int(-9_000_000_000),
                big,
                Value::Bool(true),
                Value::Decimal("-12345.67".into()),
                Value::Text(label.into()),
                Value::Bytes(bytes),
                Value::DateTime(at),
                Value::Date(day),
                Value::Json(json.into()),
                Value::Float(0.1),
                Value::Time(time),
                Value::Null,
            ],
            Engine::Mysql => vec![
                Value::UInt(1),
                Value::Int(42),
                Value::Int(-9_000_000_000),
                big,
                Value::Int(1),
                Value::Decimal("-12345.67".into()),
                Value::Text(label.into()),
                Value::Bytes(bytes),
                Value::DateTime(at),
                Value::Date(day),
                // MariaDB's JSON is LONGTEXT with a json_valid() check: it reads as text.
                if is_mariadb(&mut conn) {
                    Value::Text(json.into())
                } else {
                    Value::Json(json.into())
                },
                Value::Float(0.1),
                Value::Time(time),
                Value::Null,
            ],
        };
        assert_eq!(back, vec![expected.clone()]);

        // What was read goes back in unchanged: the property undo relies on.
        let mut again = expected;
        again[0] = Value::Int(2);
        insert(&mut conn, &insert_sql, std::slice::from_ref(&again));
        let back = all_rows(&mut conn, &select, &[Value::Int(2)]);
        assert_eq!(back[0][1..], again[1..]);
    }
);

backend_test!(
    only(mysql)
    fn mysql_zero_dates_and_long_times_survive(db) {
        db.run_sql(&[
            "CREATE TABLE z (id int NOT NULL PRIMARY KEY, d datetime NULL, dd date NULL, \
             ts timestamp NULL DEFAULT NULL, t time NULL)",
            "INSERT INTO z VALUES (1, '0000-00-00 00:00:00', '0000-00-00', \
             '0000-00-00 00:00:00', '-838:59:59')",
        ]);
        let mut conn = db.connect();
        let mode = scalar(&mut conn, "SELECT @@SESSION.sql_mode");
        let mode = mode.as_str().expect("sql_mode is text").to_owned();
        assert!(!mode.contains("NO_ZERO_DATE"), "{mode}");
        assert!(!mode.contains("NO_ZERO_IN_DATE"), "{mode}");
        assert!(mode.contains("ALLOW_INVALID_DATES"), "{mode}");

        let zero = DateTimeValue::ymd_hms(0, 0, 0, 0, 0, 0);
        let long = TimeValue {
            negative: true,
            hours: 838,
            minute: 59,
            second: 59,
            micros: 0,
        };
        let row = all_rows(&mut conn, "SELECT d, dd, ts, t FROM z WHERE id = 1", &[]);
        let expected = vec![
            Value::DateTime(zero),
            Value::Date(zero),
            Value::DateTime(zero),
            Value::Time(long),
        ];
        assert_eq!(row, vec![expected.clone()]);

        let mut params = vec![Value::Int(2)];
        params.extend(expected.iter().cloned());
        insert(&mut conn, "INSERT INTO z (id, d, dd, ts, t) VALUES (?, ?, ?, ?, ?)", &[params]);
        let row = all_rows(&mut conn, "SELECT d, dd, ts, t FROM z WHERE id = 2", &[]);
        assert_eq!(row, vec![expected]);
        let text = all_rows(
            &mut conn,
            "SELECT CAST(d AS CHAR), CAST(dd AS CHAR) FROM z WHERE id = 2",
            &[],
        );
        assert_eq!(
            text[0],
            [
                Value::Text("0000-00-00 00:00:00".into()),
                Value::Text("0000-00-00".into())
            ]
        );

        // Dates that are not on the calendar, which a MultiFlexi database may hold, too.
        let odd = vec![
            Value::DateTime(DateTimeValue::ymd_hms(2024, 2, 30, 10, 0, 0)),
            Value::Date(DateTimeValue::date(2024, 0, 15)),
        ];
        let mut params = vec![Value::Int(3)];
        params.extend(odd.iter().cloned());
        insert(&mut conn, "INSERT INTO z (id, d, dd) VALUES (?, ?, ?)", &[params]);
        assert_eq!(all_rows(&mut conn, "SELECT d, dd FROM z WHERE id = 3", &[]), [odd]);
    }
);

backend_test!(
    only(postgres)
    fn postgres_numeric_and_temporal_edges_are_exact(db) {
        let mut conn = db.connect();
        for text in [
            "0",
            "0.00",
            "-0.5",
            "123456789012345678901234567890.123456789",
            "1000000",
            "0.0001",
            "0.000000001",
            "10000.0000",
            "-99999999.99990",
            "NaN",
        ] {
            let row = all_rows(
                &mut conn,
                "SELECT CAST(? AS numeric), CAST(CAST(? AS numeric) AS text)",
                &[Value::Decimal(text.into()), Value::Text(text.into())],
            );
            assert_eq!(row[0][0], Value::Decimal(text.into()), "{text}");
            assert_eq!(row[0][1], Value::Text(text.into()), "{text}");
        }
        for stamp in [
            "1999-12-31 23:59:59.999999",
            "0001-01-01 00:00:00",
            "2000-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            let parsed = DateTimeValue::parse(stamp).unwrap();
            let row = all_rows(
                &mut conn,
                "SELECT CAST(? AS timestamp), CAST(? AS timestamp), CAST(? AS date)",
                &[
                    Value::DateTime(parsed),
                    Value::Text(stamp.into()),
                    Value::Date(DateTimeValue::date(parsed.year, parsed.month, parsed.day)),
                ],
            );
            assert_eq!(row[0][0], Value::DateTime(parsed), "{stamp}");
            assert_eq!(row[0][1], Value::DateTime(parsed), "{stamp}");
            assert_eq!(
                row[0][2],
                Value::Date(DateTimeValue::date(parsed.year, parsed.month, parsed.day))
            );
        }
        let row = all_rows(
            &mut conn,
            "SELECT CAST('infinity' AS timestamp), CAST(? AS timestamp), \
             CAST('{\"b\": 1, \"a\": [true]}' AS jsonb), \
             CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS uuid), CAST(7 AS smallint), \
             CAST(1.5 AS real), CAST('x' AS character(3)), CAST(? AS integer)",
            &[Value::Text("-infinity".into()), Value::Text("12".into())],
        );
        assert_eq!(
            row[0],
            [
                Value::Text("infinity".into()),
                Value::Text("-infinity".into()),
                Value::Json("{\"a\": [true], \"b\": 1}".into()),
                Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
                Value::Int(7),
                Value::Float(1.5),
                Value::Text("x  ".into()),
                Value::Int(12),
            ]
        );
        // Binding checks the range of the parameter's type.
        let mut view = conn.snapshot().unwrap();
        let err = view
            .query("SELECT CAST(? AS smallint)", &[Value::Int(70_000)])
            .unwrap_err();
        assert!(err.to_string().contains("smallint"), "{err}");
        // A type this tool cannot represent is named with its column.
        let err = view
            .query("SELECT CAST('1 day' AS interval) AS span", &[])
            .unwrap_err();
        assert!(
            matches!(&err, DbError::Decode { column, .. } if column == "span"),
            "{err:?}"
        );
    }
);

backend_test!(
    only(postgres)
    fn postgres_calendar_edges_read_bind_or_name_the_column(db) {
        let mut conn = db.connect();
        let midnight = TimeValue {
            negative: false,
            hours: 24,
            minute: 0,
            second: 0,
            micros: 0,
        };
        let row = all_rows(
            &mut conn,
            "SELECT CAST('24:00:00' AS time), CAST(? AS time), CAST(? AS time), \
             CAST('infinity' AS date), CAST(? AS date), CAST(? AS date)",
            &[
                Value::Text("24:00:00".into()),
                Value::Time(midnight),
                Value::Text("-infinity".into()),
                Value::Date(DateTimeValue::date(1, 1, 1)),
            ],
        );
        assert_eq!(
            row[0],
            [
                Value::Time(midnight),
                Value::Time(midnight),
                Value::Time(midnight),
                Value::Text("infinity".into()),
                Value::Text("-infinity".into()),
                Value::Date(DateTimeValue::date(1, 1, 1)),
            ]
        );
        // Dates a value cannot hold are decode errors naming the column.
        let mut view = conn.snapshot().unwrap();
        for (sql, column) in [
            ("SELECT CAST('0044-03-15 BC' AS date) AS ides", "ides"),
            ("SELECT CAST('0001-01-01 BC' AS timestamp) AS eve", "eve"),
            ("SELECT CAST('65536-01-01' AS timestamp) AS far", "far"),
            ("SELECT CAST('5874897-12-31' AS date) AS last", "last"),
        ] {
            let err = view.query(sql, &[]).unwrap_err();
            assert!(
                matches!(&err, DbError::Decode { column: c, detail } if c == column
                    && detail.contains("before year 1 or after 65535")),
                "{sql}: {err}"
            );
        }
        drop(view);
        // Values that are no date or time of day are refused, naming the parameter.
        let mut view = conn.snapshot().unwrap();
        for (sql, value, words) in [
            (
                "SELECT CAST(? AS date)",
                Value::DateTime(dt(2024, 5, 1, 12, 0, 0, 0)),
                "parameter 1: datetime value has a time of day and is no date",
            ),
            (
                "SELECT CAST(? AS timestamp)",
                Value::DateTime(dt(2024, 2, 30, 0, 0, 0, 0)),
                "not a valid calendar date and time",
            ),
            (
                "SELECT CAST(? AS time)",
                Value::Time(TimeValue {
                    micros: 1,
                    ..midnight
                }),
                "not a time of day between 00:00:00 and 24:00:00",
            ),
        ] {
            let err = view.query(sql, &[value]).unwrap_err();
            assert!(err.to_string().contains(words), "{sql}: {err}");
        }
    }
);

const ITEM_SQLITE: &str = "CREATE TABLE item (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, \
    qty INTEGER, at DATETIME_TEXT)";
const ITEM_POSTGRES: &str = "CREATE TABLE item (id integer PRIMARY KEY, \
    name character varying(64) NOT NULL, qty integer, at timestamp without time zone)";
const ITEM_MYSQL: &str =
    "CREATE TABLE item (id int NOT NULL PRIMARY KEY, name varchar(64) NOT NULL, \
    qty int, at datetime) ENGINE=InnoDB";

/// An `item` table with rows 1..=n (`qty` = 10·id).
fn item_table(db: &TestDb, n: i64) -> Box<dyn Connection> {
    db.run_sql(&[db.pick(ITEM_SQLITE, ITEM_POSTGRES, ITEM_MYSQL)]);
    let mut conn = db.connect();
    let rows: Vec<Vec<Value>> = (1..=n)
        .map(|i| {
            vec![
                Value::Int(i),
                Value::Text(format!("item {i}")),
                Value::Int(i * 10),
                Value::DateTime(dt(2024, 5, u8::try_from(i).unwrap(), 12, 0, 0, 0)),
            ]
        })
        .collect();
    insert(
        &mut conn,
        "INSERT INTO item (id, name, qty, at) VALUES (?, ?, ?, ?)",
        &rows,
    );
    conn
}

fn ids(conn: &mut Box<dyn Connection>) -> Vec<i64> {
    all_rows(conn, "SELECT id FROM item ORDER BY id", &[])
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect()
}

/// Deletes ids 2, 4 and 6 of a six-row `item` table through `delete_capture` and checks what
/// was captured and what is left; then a failing capture and an empty one.
fn capture_scenario(conn: &mut Box<dyn Connection>) {
    let before = all_rows(conn, "SELECT * FROM item ORDER BY id", &[]);
    let d = *conn.dialect();
    let condition = format!("{} IN (?, ?) OR {} >= ?", d.quote("id"), d.quote("qty"));
    let mut captured = Vec::new();
    let mut tx = conn.begin().unwrap();
    let (columns, deleted) = tx
        .delete_capture(
            "item",
            &condition,
            &[Value::Int(2), Value::Int(4), Value::Int(60)],
            &mut |row| {
                captured.push(row.to_vec());
                Ok(())
            },
        )
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(columns, ["id", "name", "qty", "at"]);
    assert_eq!(deleted, 3);
    captured.sort_by_key(|r| r[0].as_i64());
    assert_eq!(
        captured,
        [before[1].clone(), before[3].clone(), before[5].clone()]
    );
    assert_eq!(ids(conn), [1, 3, 5]);

    // A capture that fails part-way changes nothing once its transaction is dropped.
    let mut tx = conn.begin().unwrap();
    let err = tx
        .delete_capture("item", "1 = 1", &[], &mut |_| {
            Err(DbError::Lock("payload could not be written".into()))
        })
        .unwrap_err();
    assert!(err.to_string().contains("payload could not be written"));
    drop(tx);
    assert_eq!(ids(conn), [1, 3, 5]);

    // Nothing matched: nothing deleted, the columns still named.
    let mut tx = conn.begin().unwrap();
    let (columns, deleted) = tx
        .delete_capture("item", "1 = 0", &[], &mut |_| panic!("no row expected"))
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(columns, ["id", "name", "qty", "at"]);
    assert_eq!(deleted, 0);
}

backend_test!(
    fn delete_capture_returns_every_column_and_deletes_exactly_those_rows(db) {
        let mut conn = item_table(db, 6);
        capture_scenario(&mut conn);
    }
);

backend_test!(
    only(mysql)
    fn mysql_delete_capture_without_returning_selects_for_update_then_deletes(db) {
        drop(item_table(db, 6));
        // MySQL has no DELETE … RETURNING; this URL parameter takes MySQL's way on MariaDB.
        let mut server = server_of(db.target());
        server
            .params
            .push(("delete_returning".into(), "false".into()));
        let mut conn =
            housekeeper::db::connect(&DbTarget::Mysql(server), &ConnectOptions::default())
                .unwrap();
        capture_scenario(&mut conn);
    }
);

backend_test!(
    fn select_for_update_returns_the_rows_and_holds_them(db) {
        let mut conn = item_table(db, 3);
        let row2 = all_rows(&mut conn, "SELECT * FROM item WHERE id = 2", &[]);
        let mut tx = conn.begin().unwrap();
        let locked = tx.select_for_update("item", "id = ?", &[Value::Int(2)]).unwrap();
        assert_eq!(locked.columns, ["id", "name", "qty", "at"]);
        assert_eq!(locked.rows, row2);

        // The lock timeout of the connection bounds the wait on every engine.
        let quick = ConnectOptions {
            lock_timeout: Duration::from_secs(1),
            ..ConnectOptions::default()
        };
        let mut other = db.connect_with(&quick).unwrap();
        let update = "UPDATE item SET qty = 0 WHERE id = 2";
        let started = Instant::now();
        let blocked = match db.engine() {
            // SQLite's write lock covers the whole database.
            Engine::Sqlite => other.begin().map(drop).unwrap_err(),
            Engine::Postgres | Engine::Mysql => {
                let mut t2 = other.begin().unwrap();
                t2.execute(update, &[]).unwrap_err()
            }
        };
        assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}", started.elapsed());
        assert!(matches!(blocked, DbError::LockTimeout { .. }), "{blocked:?}");
        assert!(blocked.to_string().contains("MULTIFLEXI_HOUSEKEEPER_LOCK_TIMEOUT"), "{blocked}");
        drop(tx);

        let mut t2 = other.begin().unwrap();
        assert_eq!(t2.execute(update, &[]).unwrap(), 1);
        t2.commit().unwrap();
        let qty = all_rows(&mut conn, "SELECT qty FROM item WHERE id = 2", &[]);
        assert_eq!(qty[0][0].as_i64(), Some(0));
    }
);

backend_test!(
    fn snapshot_sees_the_database_as_of_its_start_and_refuses_writes(db) {
        let mut reader = item_table(db, 2);
        let mut writer = db.connect();
        let mut view = reader.snapshot().unwrap();

        let mut tx = writer.begin().unwrap();
        tx.execute(
            "INSERT INTO item (id, name, qty, at) VALUES (?, ?, ?, ?)",
            &[Value::Int(3), "new".into(), Value::Int(1), Value::Null],
        )
        .unwrap();
        tx.execute("UPDATE item SET qty = ? WHERE id = ?", &[Value::Int(-1), Value::Int(1)])
            .unwrap();
        tx.commit().unwrap();

        let seen = view.query("SELECT id, qty FROM item ORDER BY id", &[]).unwrap();
        let seen: Vec<_> = seen.rows.iter().map(|r| (r[0].as_i64(), r[1].as_i64())).collect();
        assert_eq!(seen, [(Some(1), Some(10)), (Some(2), Some(20))]);

        let write = view.query(
            "INSERT INTO item (id, name, qty, at) VALUES (?, ?, ?, ?)",
            &[Value::Int(9), "through the snapshot".into(), Value::Null, Value::Null],
        );
        assert!(matches!(write, Err(DbError::Statement { .. })), "{write:?}");
        drop(view);

        assert_eq!(ids(&mut reader), [1, 2, 3]);
        // The connection writes again once the snapshot is over.
        let mut tx = reader.begin().unwrap();
        assert_eq!(tx.execute("DELETE FROM item WHERE id = ?", &[Value::Int(3)]).unwrap(), 1);
        tx.commit().unwrap();
        assert_eq!(ids(&mut reader), [1, 2]);
    }
);

backend_test!(
    only(sqlite)
    fn sqlite_foreign_keys_stay_off(db) {
        db.run_sql(&[
            "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, \
             parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE)",
            "INSERT INTO parent VALUES (1)",
            "INSERT INTO child VALUES (10, 1)",
        ]);
        let mut conn = db.connect();
        assert_eq!(scalar(&mut conn, "PRAGMA foreign_keys"), Value::Int(0));
        let mut tx = conn.begin().unwrap();
        assert_eq!(tx.execute("DELETE FROM parent WHERE id = 1", &[]).unwrap(), 1);
        tx.commit().unwrap();
        let children = all_rows(&mut conn, "SELECT id, parent_id FROM child", &[]);
        assert_eq!(children, [[Value::Int(10), Value::Int(1)]]);
    }
);

backend_test!(
    only(sqlite)
    fn sqlite_second_writer_waits_for_the_busy_timeout_then_names_the_database(db) {
        db.run_sql(&["CREATE TABLE t (id INTEGER PRIMARY KEY)"]);
        let options = ConnectOptions {
            lock_timeout: Duration::from_millis(400),
            ..ConnectOptions::default()
        };
        let mut first = db.connect_with(&options).unwrap();
        let mut second = db.connect_with(&options).unwrap();
        let tx = first.begin().unwrap();
        let started = Instant::now();
        let err = second.begin().map(drop).unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(350), "gave up after {waited:?}");
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
        let text = err.to_string();
        let path = db.sqlite_path().unwrap().display().to_string();
        assert!(text.contains(&path), "{text}");
        assert!(text.contains("locked by another connection"), "{text}");
        assert!(text.contains("waited 0.4 s"), "{text}");
        drop(tx);

        // A writer that finishes within the timeout is simply waited for.
        let patient = ConnectOptions {
            lock_timeout: Duration::from_secs(10),
            ..ConnectOptions::default()
        };
        let mut second = db.connect_with(&patient).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let holder = {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut tx = first.begin().unwrap();
                tx.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
                barrier.wait();
                std::thread::sleep(Duration::from_millis(200));
                tx.commit().unwrap();
            })
        };
        barrier.wait();
        let mut tx = second.begin().unwrap();
        tx.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
        tx.commit().unwrap();
        holder.join().unwrap();
        assert_eq!(all_rows(&mut second, "SELECT count(*) FROM t", &[]), [[Value::Int(2)]]);
    }
);

backend_test!(
    only(sqlite)
    fn sqlite_read_only_creates_nothing_and_refuses_writes(db) {
        let path = db.sqlite_path().unwrap().to_owned();
        db.run_sql(&[
            "PRAGMA journal_mode = DELETE",
            "CREATE TABLE t (id INTEGER PRIMARY KEY)",
            "INSERT INTO t VALUES (1)",
        ]);
        let listing = || {
            let mut names: Vec<String> = std::fs::read_dir(db.dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let before = listing();
        assert_eq!(before, ["multiflexi.sqlite"]);
        let read_only = ConnectOptions {
            read_only: true,
            ..ConnectOptions::default()
        };
        let mut conn = db.connect_with(&read_only).unwrap();
        assert_eq!(all_rows(&mut conn, "SELECT id FROM t", &[]), [[Value::Int(1)]]);
        conn.introspect().unwrap();
        // Without a lock file nobody holds the lock, and a read-only connection creates none.
        assert_eq!(conn.try_lock().unwrap(), Ok(()));
        conn.unlock().unwrap();
        let mut tx = conn.begin().unwrap();
        let err = tx.execute("INSERT INTO t VALUES (2)", &[]).unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        drop(tx);
        drop(conn);
        assert_eq!(listing(), before);

        // A WAL database whose -wal and -shm files are gone (all connections closed): to read
        // it, SQLite itself creates both, and a read-only connection cannot remove them again.
        // Nothing else appears.
        db.run_sql(&["PRAGMA journal_mode = WAL"]);
        assert_eq!(listing(), ["multiflexi.sqlite"]);
        let mut conn = db.connect_with(&read_only).unwrap();
        assert_eq!(all_rows(&mut conn, "SELECT id FROM t", &[]), [[Value::Int(1)]]);
        drop(conn);
        assert_eq!(
            listing(),
            ["multiflexi.sqlite", "multiflexi.sqlite-shm", "multiflexi.sqlite-wal"]
        );
        assert!(path.exists());
    }
);

backend_test!(
    only(sqlite)
    fn sqlite_refuses_unsigned_values_beyond_its_integers(db) {
        db.run_sql(&["CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)"]);
        let mut conn = db.connect();
        let mut tx = conn.begin().unwrap();
        let err = tx
            .execute("INSERT INTO t VALUES (?, ?)", &[Value::Int(1), Value::UInt(u64::MAX)])
            .unwrap_err();
        assert!(err.to_string().contains("parameter 2"), "{err}");
        assert!(err.to_string().contains("INSERT INTO t VALUES"), "{err}");
        assert_eq!(
            tx.execute("INSERT INTO t VALUES (?, ?)", &[Value::Int(1), Value::UInt(7)])
                .unwrap(),
            1
        );
        tx.commit().unwrap();
        assert_eq!(
            all_rows(&mut conn, "SELECT n FROM t", &[]),
            [[Value::Int(7)]]
        );
    }
);

/// The id of the connection's server session, as the lock holder names it.
fn session_id(conn: &mut Box<dyn Connection>) -> String {
    match conn.engine() {
        Engine::Sqlite => std::process::id().to_string(),
        Engine::Postgres => scalar(conn, "SELECT pg_backend_pid()").to_string(),
        Engine::Mysql => scalar(conn, "SELECT CONNECTION_ID()").to_string(),
    }
}

fn retry_lock(conn: &mut Box<dyn Connection>) -> Result<(), LockHolder> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match conn.try_lock().unwrap() {
            Err(holder) if Instant::now() < deadline => {
                let _ = holder;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

backend_test!(
    fn lock_is_exclusive_names_its_holder_and_is_released(db) {
        let mut first = db.connect();
        let mut second = db.connect();
        let first_id = session_id(&mut first);
        assert_eq!(first.try_lock().unwrap(), Ok(()));
        assert_eq!(first.try_lock().unwrap(), Ok(()), "taking it again is a no-op");
        let holder = second.try_lock().unwrap().unwrap_err();
        assert!(holder.0.contains(&first_id), "{holder:?} should name {first_id}");
        match db.engine() {
            Engine::Sqlite => assert!(holder.0.contains(".housekeeper-lock"), "{holder:?}"),
            Engine::Postgres => assert!(holder.0.contains("housekeeper"), "{holder:?}"),
            Engine::Mysql => assert!(holder.0.contains("connection"), "{holder:?}"),
        }

        // The lock of another database is another lock.
        let other_db = TestDb::create(db.engine()).unwrap().unwrap();
        let mut elsewhere = other_db.connect();
        assert_eq!(elsewhere.try_lock().unwrap(), Ok(()));

        first.unlock().unwrap();
        first.unlock().unwrap();
        assert_eq!(second.try_lock().unwrap(), Ok(()));
        assert!(first.try_lock().unwrap().is_err());
        drop(second);
        assert_eq!(retry_lock(&mut first), Ok(()), "a closed connection releases it");
        drop(elsewhere);
    }
);

backend_test!(
    fn introspection_reports_keys_indexes_defaults_and_nullability(db) {
        let statements: &[&str] = match db.engine() {
            Engine::Sqlite => &[
                "CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, code VARCHAR(16) NOT NULL)",
                "CREATE TABLE child (`id` INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, \
                 `parent_id` INTEGER NULL, `email` VARCHAR(64) NOT NULL DEFAULT '', \
                 `active` BOOLEAN_INTEGER NOT NULL DEFAULT 1, `seen` DATETIME_TEXT NULL, \
                 `note` TEXT, `DatSave` DATETIME_TEXT NULL, \
                 CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) \
                 ON DELETE CASCADE)",
                "CREATE UNIQUE INDEX child_email_unique ON child (email)",
                "CREATE INDEX child_seen_index ON child (seen)",
            ],
            Engine::Postgres => &[
                "CREATE TABLE parent (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
                 code character varying(16) NOT NULL)",
                "CREATE TABLE child (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
                 parent_id integer, email character varying(64) DEFAULT '' NOT NULL, \
                 active boolean DEFAULT true NOT NULL, seen timestamp without time zone, \
                 note text, \"DatSave\" timestamp without time zone, \
                 CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) \
                 ON DELETE CASCADE)",
                "CREATE UNIQUE INDEX child_email_unique ON child (email)",
                "CREATE INDEX child_seen_index ON child (seen)",
            ],
            Engine::Mysql => &[
                "CREATE TABLE parent (id int(11) unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, \
                 code varchar(16) NOT NULL) ENGINE=InnoDB",
                "CREATE TABLE child (id int(11) unsigned NOT NULL AUTO_INCREMENT, \
                 parent_id int(11) unsigned NULL, email varchar(64) NOT NULL DEFAULT '', \
                 active tinyint(1) NOT NULL DEFAULT 1, \
                 seen timestamp NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(), \
                 note text, `DatSave` datetime NULL, PRIMARY KEY (id), \
                 UNIQUE KEY child_email_unique (email), KEY child_seen_index (seen), \
                 CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) \
                 ON DELETE CASCADE) ENGINE=InnoDB",
            ],
        };
        db.run_sql(statements);
        let mut conn = db.connect();
        let facts = conn.introspect().unwrap();
        assert_eq!(facts.tables.keys().collect::<Vec<_>>(), ["child", "parent"]);
        let child = facts.table("child").unwrap();
        let names: Vec<&str> = child.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["id", "parent_id", "email", "active", "seen", "note", "DatSave"]
        );
        assert_eq!(child.primary_key, ["id"]);
        let col = |name: &str| child.column(name).unwrap();
        assert!(col("id").auto_increment);
        assert!(!col("id").nullable);
        assert!(col("parent_id").nullable);
        assert!(!col("email").nullable);
        assert!(col("note").nullable);
        assert_eq!(col("note").default, None);
        assert_eq!(col("seen").kind, ColumnKind::DateTime);
        assert_eq!(col("DatSave").kind, ColumnKind::DateTime);
        assert_eq!(col("active").kind, ColumnKind::Boolean);
        assert_eq!(col("email").kind, ColumnKind::Text);
        assert_eq!(col("id").kind, ColumnKind::Integer);
        let email_default = col("email").default.clone().expect("email has a default");
        assert!(email_default.contains("''") || email_default.is_empty(), "{email_default}");
        let active_default = col("active").default.clone().expect("active has a default");
        assert!(["1", "true"].contains(&active_default.as_str()), "{active_default}");
        match db.engine() {
            Engine::Sqlite => assert_eq!(col("seen").declared_type, "DATETIME_TEXT"),
            Engine::Postgres => {
                assert_eq!(col("seen").declared_type, "timestamp without time zone");
            }
            Engine::Mysql => assert_eq!(col("id").declared_type, "int(11) unsigned"),
        }
        assert_eq!(
            col("seen").on_update_now,
            db.engine() == Engine::Mysql,
            "ON UPDATE CURRENT_TIMESTAMP"
        );
        assert!(!col("DatSave").on_update_now);

        assert_eq!(child.foreign_keys.len(), 1);
        let fk = &child.foreign_keys[0];
        assert_eq!(fk.columns, ["parent_id"]);
        assert_eq!(fk.referenced_table, "parent");
        assert_eq!(fk.referenced_columns, ["id"]);
        assert_eq!(fk.on_delete, "CASCADE");
        if db.engine() != Engine::Sqlite {
            assert_eq!(fk.name.as_deref(), Some("child_parent_fk"));
        }
        let index = |name: &str| {
            child
                .indexes
                .iter()
                .find(|i| i.name == name)
                .unwrap_or_else(|| panic!("no index {name} in {:?}", child.indexes))
        };
        assert!(index("child_email_unique").unique);
        assert_eq!(index("child_email_unique").columns, ["email"]);
        assert!(!index("child_seen_index").unique);
        assert_eq!(index("child_seen_index").columns, ["seen"]);
        assert!(child.is_indexed("seen"));
        assert!(!child.is_indexed("note"));
        let referencing: Vec<_> = facts.references_to("parent").map(|(t, _)| &t.name).collect();
        assert_eq!(referencing, ["child"]);
        let parent = facts.table("parent").unwrap();
        assert_eq!(parent.primary_key, ["id"]);
        assert!(parent.indexes.is_empty(), "{:?}", parent.indexes);
    }
);

backend_test!(
    fn server_clock_and_version(db) {
        let mut conn = db.connect();
        let version = conn.server_version().unwrap();
        let now = conn.server_now().unwrap();
        match db.engine() {
            Engine::Sqlite => {
                assert!(version.starts_with("SQLite 3."), "{version}");
                assert_eq!(now, None);
            }
            Engine::Postgres | Engine::Mysql => {
                let prefix = if db.engine() == Engine::Postgres {
                    "PostgreSQL "
                } else {
                    ""
                };
                assert!(version.starts_with(prefix), "{version}");
                let now = now.expect("a server clock");
                assert!(now.is_valid_date(), "{now}");
                // The server's naive local time, shifted by the server's own UTC offset,
                // is the host's UTC clock.
                let offset_sql = db.pick(
                    "",
                    "SELECT CAST(EXTRACT(EPOCH FROM (LOCALTIMESTAMP - \
                     (now() AT TIME ZONE 'UTC'))) AS bigint)",
                    "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())",
                );
                let offset = scalar(&mut conn, offset_sql).as_i64().unwrap();
                let server = chrono::NaiveDate::from_ymd_opt(
                    i32::from(now.year),
                    u32::from(now.month),
                    u32::from(now.day),
                )
                .unwrap()
                .and_hms_micro_opt(
                    u32::from(now.hour),
                    u32::from(now.minute),
                    u32::from(now.second),
                    now.micros,
                )
                .unwrap();
                let host = chrono::Utc::now().naive_utc();
                let drift = (server - chrono::Duration::seconds(offset) - host).num_seconds();
                assert!(drift.abs() < 60, "server clock {now} is {drift} s off the host");
            }
        }
    }
);

backend_test!(
    fn identity_is_stable_across_connections_and_host_spellings(db) {
        let mut first = db.connect();
        let identity = first.identity().unwrap();
        assert!(identity.starts_with(&format!("{}:", db.engine())), "{identity}");
        let other_target = match db.target() {
            DbTarget::Sqlite { path } => {
                let dir = path.parent().unwrap();
                DbTarget::Sqlite {
                    path: dir.join(".").join(path.file_name().unwrap()),
                }
            }
            DbTarget::Postgres(s) | DbTarget::Mysql(s) => {
                let mut s = s.clone();
                s.host = if s.host == "localhost" {
                    "127.0.0.1".into()
                } else {
                    "localhost".into()
                };
                if db.engine() == Engine::Postgres {
                    DbTarget::Postgres(s)
                } else {
                    DbTarget::Mysql(s)
                }
            }
        };
        let mut second = housekeeper::db::connect(&other_target, &ConnectOptions::default())
            .unwrap();
        assert_eq!(second.identity().unwrap(), identity);
        assert!(identity.ends_with(&db.database_name()) || db.engine() == Engine::Sqlite);
        let other_db = TestDb::create(db.engine()).unwrap().unwrap();
        assert_ne!(other_db.connect().identity().unwrap(), identity);
    }
);

/// Asserts a connect error names everything but the password.
fn assert_connect_error(err: &DbError, auth: bool, names: &[&str], secrets: &[&str]) {
    let DbError::Connect { auth: got, .. } = err else {
        panic!("expected a connect error, got {err:?}")
    };
    let display = err.to_string();
    let debug = format!("{err:?}");
    assert_eq!(*got, auth, "auth flag of: {display}");
    for name in names {
        assert!(display.contains(name), "{display:?} should name {name:?}");
    }
    for secret in secrets {
        assert!(!display.contains(secret), "password in {display:?}");
        assert!(!debug.contains(secret), "password in {debug:?}");
    }
}

fn with_password(
    target: &DbTarget,
    f: impl FnOnce(&mut housekeeper::config::ServerTarget),
) -> DbTarget {
    let mut server = server_of(target);
    f(&mut server);
    match target {
        DbTarget::Postgres(_) => DbTarget::Postgres(server),
        _ => DbTarget::Mysql(server),
    }
}

backend_test!(
    only(postgres, mysql)
    fn connect_to_a_closed_port_names_the_target(db) {
        let port = closed_port();
        let secret = "pw-for-the-closed-port";
        let target = with_password(db.target(), |s| {
            s.host = "127.0.0.1".into();
            s.port = port;
            s.password = Some(Secret::new(secret));
        });
        let options = ConnectOptions {
            timeout: Duration::from_secs(5),
            ..ConnectOptions::default()
        };
        let err = housekeeper::db::connect(&target, &options).map(drop).unwrap_err();
        let server = server_of(&target);
        assert_connect_error(
            &err,
            false,
            &["127.0.0.1", &port.to_string(), &server.database, &server.user],
            &[secret],
        );
    }
);

backend_test!(
    fn connect_to_an_unknown_database_names_it(db) {
        let secret = "pw-for-the-missing-db";
        let (target, names) = match db.target() {
            DbTarget::Sqlite { .. } => {
                let path = db.dir().join("missing.sqlite");
                let text = path.display().to_string();
                (DbTarget::Sqlite { path }, vec![text, "does not exist".to_owned()])
            }
            other => {
                let target = with_password(other, |s| {
                    s.database = "hk_no_such_database".into();
                    // The MySQL test login has no password; PostgreSQL trusts and ignores it.
                    if matches!(other, DbTarget::Postgres(_)) {
                        s.password = Some(Secret::new(secret));
                    }
                });
                let s = server_of(&target);
                (
                    target,
                    vec![
                        s.host.clone(),
                        s.port.to_string(),
                        "hk_no_such_database".to_owned(),
                        s.user.clone(),
                    ],
                )
            }
        };
        let err = housekeeper::db::connect(&target, &ConnectOptions::default())
            .map(drop)
            .unwrap_err();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_connect_error(&err, false, &names, &[secret]);
        if let DbTarget::Sqlite { path } = target {
            assert!(!path.exists(), "connecting must not create the file");
        }
    }
);

backend_test!(
    only(postgres)
    fn postgres_unknown_role_is_a_refused_login(db) {
        let secret = "pw-of-a-role-that-does-not-exist";
        let target = with_password(db.target(), |s| {
            s.user = "hk_no_such_role".into();
            s.password = Some(Secret::new(secret));
        });
        let err = housekeeper::db::connect(&target, &ConnectOptions::default())
            .map(drop)
            .unwrap_err();
        let s = server_of(&target);
        assert_connect_error(
            &err,
            true,
            &[&s.host, &s.port.to_string(), &s.database, "hk_no_such_role"],
            &[secret],
        );
    }
);

backend_test!(
    only(postgres)
    fn postgres_refuses_a_tls_request_it_cannot_honour(db) {
        let mut server = server_of(db.target());
        server.params.push(("sslmode".into(), "require".into()));
        let err = housekeeper::db::connect(&DbTarget::Postgres(server), &ConnectOptions::default())
            .map(drop)
            .unwrap_err();
        assert_connect_error(&err, false, &["sslmode=require", "TLS"], &[]);
    }
);

/// Drops the MySQL test users when the test ends, even on panic.
struct MysqlUsers {
    admin: DbTarget,
    drops: Vec<String>,
}

impl Drop for MysqlUsers {
    fn drop(&mut self) {
        if let Ok(mut conn) = housekeeper::db::connect(&self.admin, &ConnectOptions::default()) {
            for sql in &self.drops {
                let _ = conn.execute_ddl(sql);
            }
        }
    }
}

backend_test!(
    only(mysql)
    fn mysql_wrong_password_is_a_refused_login(db) {
        let user = format!("hk_u_{}", db.database_name().trim_start_matches("hk_t_"));
        let user = &user[..user.len().min(32)];
        let right = "Right-Pa55word-for-the-test";
        let wrong = "Wrong-Pa55word-for-the-test";
        let admin = db.admin().unwrap().clone();
        let hosts = ["%", "localhost", "127.0.0.1"];
        let _users = MysqlUsers {
            admin: admin.clone(),
            drops: hosts
                .iter()
                .map(|h| format!("DROP USER IF EXISTS '{user}'@'{h}'"))
                .collect(),
        };
        let mut conn = housekeeper::db::connect(&admin, &ConnectOptions::default()).unwrap();
        for host in hosts {
            conn.execute_ddl(&format!(
                "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{right}'"
            ))
            .unwrap();
            conn.execute_ddl(&format!(
                "GRANT ALL ON `{}`.* TO '{user}'@'{host}'",
                db.database_name()
            ))
            .unwrap();
        }
        let login = |password: &str| {
            with_password(db.target(), |s| {
                s.user = user.to_owned();
                s.password = Some(Secret::new(password));
            })
        };
        let err = housekeeper::db::connect(&login(wrong), &ConnectOptions::default())
            .map(drop)
            .unwrap_err();
        let s = server_of(db.target());
        assert_connect_error(
            &err,
            true,
            &[&s.host, &s.port.to_string(), &s.database, user],
            &[wrong, right],
        );
        let mut ok = housekeeper::db::connect(&login(right), &ConnectOptions::default())
            .expect("the right password logs in");
        assert!(ok.identity().unwrap().ends_with(&s.database));
    }
);

backend_test!(
    fn statement_errors_keep_the_sql_but_not_the_values(db) {
        let mut conn = db.connect();
        let mut tx = conn.begin().unwrap();
        let err = tx
            .execute(
                "UPDATE no_such_table SET x = ? WHERE id = ?",
                &[Value::Text("secret-value-1".into()), Value::Int(4_242_424)],
            )
            .unwrap_err();
        let DbError::Statement { sql, code, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(sql.contains("UPDATE no_such_table SET x = ? WHERE id = ?"), "{sql}");
        assert!(code.is_some(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("no_such_table"), "{text}");
        assert!(!text.contains("secret-value-1"), "{text}");
        assert!(!format!("{err:?}").contains("4242424"), "{err:?}");
    }
);

backend_test!(
    only(postgres, mysql)
    fn harness_drops_the_database_even_when_the_test_panics(db) {
        let engine = db.engine();
        let name = std::sync::Mutex::new(String::new());
        let outcome = std::panic::catch_unwind(|| {
            let inner = TestDb::create(engine).unwrap().unwrap();
            *name.lock().unwrap() = inner.database_name();
            inner.run_sql(&[db.pick("", "CREATE TABLE t (id integer)", "CREATE TABLE t (id int)")]);
            panic!("the test body fails");
        });
        assert!(outcome.is_err());
        let name = name.into_inner().unwrap();
        assert!(name.starts_with("hk_t_"), "{name}");
        let mut admin =
            housekeeper::db::connect(db.admin().unwrap(), &ConnectOptions::default()).unwrap();
        let sql = db.pick(
            "",
            "SELECT datname FROM pg_database WHERE datname = ?",
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
        );
        let mut view = admin.snapshot().unwrap();
        assert!(view.query(sql, &[Value::Text(name)]).unwrap().rows.is_empty());
    }
);
