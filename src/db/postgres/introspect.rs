//! Reading the schema of `current_schema()` from `pg_catalog`: tables, columns, primary and
//! foreign keys, indexes.
//!
//! Owns the catalog queries and turning their rows into `SchemaFacts`. Must never change
//! anything, or look outside the current schema.

use housekeeper_journal::Value;

use crate::db::driver::Driver;
use crate::db::{
    ColumnInfo, ColumnKind, DbError, DbResult, ForeignKey, IndexInfo, SchemaFacts, TableInfo,
};

fn need_text(value: &Value, what: &str) -> DbResult<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| DbError::Decode {
            column: what.to_owned(),
            detail: format!("expected text, got {}", value.kind()),
        })
}

/// The column kind from `pg_type.typname` (base type for domains).
fn kind_of(typname: &str) -> ColumnKind {
    match typname {
        "bool" => ColumnKind::Boolean,
        "int2" | "int4" | "int8" | "oid" => ColumnKind::Integer,
        "float4" | "float8" => ColumnKind::Float,
        "numeric" => ColumnKind::Decimal,
        "text" | "varchar" | "bpchar" | "name" | "char" | "citext" | "uuid" => ColumnKind::Text,
        "bytea" => ColumnKind::Bytes,
        "timestamp" | "timestamptz" => ColumnKind::DateTime,
        "date" => ColumnKind::Date,
        "time" | "timetz" => ColumnKind::Time,
        "json" | "jsonb" => ColumnKind::Json,
        _ => ColumnKind::Other,
    }
}

pub(super) fn introspect(c: &mut impl Driver) -> DbResult<SchemaFacts> {
    let mut facts = SchemaFacts::default();
    let tables = c.rows(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        &[],
    )?;
    for row in &tables.rows {
        let name = need_text(&row[0], "pg_class.relname")?;
        facts.tables.insert(name.clone(), TableInfo::named(name));
    }

    let columns = c.rows(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), \
                CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END, \
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), CAST(a.attidentity AS text) \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_type bt ON bt.oid = t.typbasetype \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum",
        &[],
    )?;
    for row in &columns.rows {
        let table = need_text(&row[0], "pg_class.relname")?;
        let default = row[5].as_str().map(str::to_owned);
        let identity = row[6].as_str().is_some_and(|s| !s.is_empty());
        let column = ColumnInfo {
            name: need_text(&row[1], "pg_attribute.attname")?,
            declared_type: need_text(&row[2], "format_type")?,
            kind: kind_of(row[3].as_str().unwrap_or("")),
            nullable: row[4] == Value::Bool(false),
            auto_increment: identity
                || default
                    .as_deref()
                    .is_some_and(|d| d.starts_with("nextval(")),
            default: default.filter(|d| !d.eq_ignore_ascii_case("NULL")),
            on_update_now: false,
        };
        if let Some(t) = facts.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }

    let constraints = c.rows(
        "SELECT c.relname, con.conname, CAST(con.contype AS text), a.attname, fc.relname, \
                fa.attname, CAST(con.confdeltype AS text) \
         FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, i) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
         LEFT JOIN pg_attribute fa ON fa.attrelid = con.confrelid \
              AND fa.attnum = con.confkey[k.i] \
         WHERE n.nspname = current_schema() AND con.contype IN ('p', 'f') \
         ORDER BY c.relname, con.conname, k.i",
        &[],
    )?;
    for row in &constraints.rows {
        let table = need_text(&row[0], "pg_class.relname")?;
        let Some(t) = facts.tables.get_mut(&table) else {
            continue;
        };
        let name = need_text(&row[1], "pg_constraint.conname")?;
        let column = need_text(&row[3], "pg_attribute.attname")?;
        if row[2].as_str() == Some("p") {
            t.primary_key.push(column);
            continue;
        }
        t.add_foreign_key_column(ForeignKey {
            name: Some(name),
            columns: vec![column],
            referenced_table: need_text(&row[4], "pg_class.relname")?,
            referenced_columns: vec![need_text(&row[5], "pg_attribute.attname")?],
            on_delete: match row[6].as_str() {
                Some("c") => "CASCADE",
                Some("n") => "SET NULL",
                Some("d") => "SET DEFAULT",
                Some("r") => "RESTRICT",
                _ => "NO ACTION",
            }
            .to_owned(),
        });
    }

    let indexes = c.rows(
        "SELECT c.relname, ic.relname, i.indisunique, a.attname \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, i) \
         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE n.nspname = current_schema() AND NOT i.indisprimary AND k.i <= i.indnkeyatts \
         ORDER BY c.relname, ic.relname, k.i",
        &[],
    )?;
    for row in &indexes.rows {
        let table = need_text(&row[0], "pg_class.relname")?;
        let Some(t) = facts.tables.get_mut(&table) else {
            continue;
        };
        let name = need_text(&row[1], "pg_class.relname")?;
        let column = row[3]
            .as_str()
            .map_or_else(|| "<expression>".to_owned(), str::to_owned);
        t.add_index_column(IndexInfo {
            name,
            columns: vec![column],
            unique: row[2] == Value::Bool(true),
        });
    }
    Ok(facts)
}
