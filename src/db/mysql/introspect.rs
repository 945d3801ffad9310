//! Reading the schema of the current database from `information_schema`: tables, columns
//! (MariaDB's JSON checks included), primary and foreign keys, indexes.
//!
//! Owns the catalog queries and turning their rows into `SchemaFacts`. Must never change
//! anything, or look outside the current database.

use housekeeper_journal::Value;

use crate::db::driver::Driver;
use crate::db::{
    ColumnInfo, ColumnKind, DbError, DbResult, ForeignKey, IndexInfo, SchemaFacts, TableInfo,
};

/// Text of an `information_schema` value (some servers send it as binary strings).
pub(super) fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn need_text(value: &Value, what: &str) -> DbResult<String> {
    match value {
        Value::Text(_) | Value::Bytes(_) => Ok(text_of(value).unwrap_or_default()),
        other => Err(DbError::Decode {
            column: what.to_owned(),
            detail: format!("expected text, got {}", other.kind()),
        }),
    }
}

/// The column kind from `DATA_TYPE` and `COLUMN_TYPE`.
fn kind_of(data_type: &str, column_type: &str) -> ColumnKind {
    match data_type.to_ascii_lowercase().as_str() {
        "tinyint" if column_type.to_ascii_lowercase().starts_with("tinyint(1)") => {
            ColumnKind::Boolean
        }
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            ColumnKind::Integer
        }
        "decimal" | "numeric" => ColumnKind::Decimal,
        "float" | "double" | "real" => ColumnKind::Float,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            ColumnKind::Text
        }
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            ColumnKind::Bytes
        }
        "datetime" | "timestamp" => ColumnKind::DateTime,
        "date" => ColumnKind::Date,
        "time" => ColumnKind::Time,
        "json" => ColumnKind::Json,
        _ => ColumnKind::Other,
    }
}

pub(super) fn introspect(c: &mut impl Driver) -> DbResult<SchemaFacts> {
    let mut facts = SchemaFacts::default();
    let tables = c.rows(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        &[],
    )?;
    for row in &tables.rows {
        let name = need_text(&row[0], "TABLES.TABLE_NAME")?;
        facts.tables.insert(name.clone(), TableInfo::named(name));
    }

    let columns = c.rows(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, \
                EXTRA \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
        &[],
    )?;
    for row in &columns.rows {
        let table = need_text(&row[0], "COLUMNS.TABLE_NAME")?;
        let declared_type = need_text(&row[2], "COLUMNS.COLUMN_TYPE")?;
        let extra = text_of(&row[6]).unwrap_or_default().to_ascii_lowercase();
        let column = ColumnInfo {
            name: need_text(&row[1], "COLUMNS.COLUMN_NAME")?,
            kind: kind_of(&text_of(&row[3]).unwrap_or_default(), &declared_type),
            declared_type,
            nullable: text_of(&row[4]).as_deref() == Some("YES"),
            // MariaDB shows a nullable column without a default as the text `NULL`.
            default: text_of(&row[5]).filter(|d| !d.eq_ignore_ascii_case("NULL")),
            auto_increment: extra.contains("auto_increment"),
            on_update_now: extra.contains("on update"),
        };
        if let Some(t) = facts.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }

    // MariaDB's JSON columns are LONGTEXT with a json_valid() check.
    if let Ok(checks) = c.rows(
        "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = DATABASE()",
        &[],
    ) {
        for row in &checks.rows {
            let (Some(table), Some(clause)) = (text_of(&row[0]), text_of(&row[1])) else {
                continue;
            };
            let Some(t) = facts.tables.get_mut(&table) else {
                continue;
            };
            for column in &mut t.columns {
                if column.kind == ColumnKind::Text
                    && clause.replace(' ', "") == format!("json_valid(`{}`)", column.name)
                {
                    column.kind = ColumnKind::Json;
                }
            }
        }
    }

    let keys = c.rows(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, \
                k.REFERENCED_COLUMN_NAME, r.DELETE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k \
         LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
           ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
          AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() \
           AND (k.CONSTRAINT_NAME = 'PRIMARY' OR k.REFERENCED_TABLE_NAME IS NOT NULL) \
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        &[],
    )?;
    for row in &keys.rows {
        let table = need_text(&row[0], "KEY_COLUMN_USAGE.TABLE_NAME")?;
        let Some(t) = facts.tables.get_mut(&table) else {
            continue;
        };
        let name = need_text(&row[1], "KEY_COLUMN_USAGE.CONSTRAINT_NAME")?;
        let column = need_text(&row[2], "KEY_COLUMN_USAGE.COLUMN_NAME")?;
        if row[3].is_null() {
            t.primary_key.push(column);
            continue;
        }
        t.add_foreign_key_column(ForeignKey {
            name: Some(name),
            columns: vec![column],
            referenced_table: need_text(&row[3], "KEY_COLUMN_USAGE.REFERENCED_TABLE_NAME")?,
            referenced_columns: vec![need_text(
                &row[4],
                "KEY_COLUMN_USAGE.REFERENCED_COLUMN_NAME",
            )?],
            on_delete: text_of(&row[5]).unwrap_or_else(|| "RESTRICT".into()),
        });
    }

    let indexes = c.rows(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME <> 'PRIMARY' \
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        &[],
    )?;
    for row in &indexes.rows {
        let table = need_text(&row[0], "STATISTICS.TABLE_NAME")?;
        let Some(t) = facts.tables.get_mut(&table) else {
            continue;
        };
        let name = need_text(&row[1], "STATISTICS.INDEX_NAME")?;
        let column = text_of(&row[3]).unwrap_or_else(|| "<expression>".into());
        t.add_index_column(IndexInfo {
            name,
            columns: vec![column],
            unique: row[2].as_i64() == Some(0),
        });
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_declared_types() {
        assert_eq!(kind_of("tinyint", "tinyint(1)"), ColumnKind::Boolean);
        assert_eq!(kind_of("tinyint", "tinyint(4)"), ColumnKind::Integer);
        assert_eq!(kind_of("int", "int(11) unsigned"), ColumnKind::Integer);
        assert_eq!(kind_of("timestamp", "timestamp"), ColumnKind::DateTime);
        assert_eq!(kind_of("longtext", "longtext"), ColumnKind::Text);
        assert_eq!(kind_of("longblob", "longblob"), ColumnKind::Bytes);
        assert_eq!(kind_of("enum", "enum('a','b')"), ColumnKind::Text);
    }
}
