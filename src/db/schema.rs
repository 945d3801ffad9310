//! What introspection found: tables, columns with the types that matter, keys, indexes.
//! Read once per run; duties declare what they need and are skipped when it is missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The kind of a column, as far as this tool cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    Integer,
    Boolean,
    Float,
    Decimal,
    Text,
    Bytes,
    /// `DATETIME`, `TIMESTAMP`, `timestamp without time zone`, SQLite `*DATETIME*`/`*TIMESTAMP*`.
    DateTime,
    Date,
    Time,
    Json,
    Other,
}

impl ColumnKind {
    /// Whether values of this kind compare as points in time.
    #[must_use]
    pub fn is_temporal(self) -> bool {
        matches!(self, ColumnKind::DateTime | ColumnKind::Date)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The type as the engine declares it (`int(11) unsigned`, `timestamp without time zone`,
    /// `TIMESTAMP_TEXT`).
    pub declared_type: String,
    pub kind: ColumnKind,
    pub nullable: bool,
    /// The default expression as the catalog shows it, `None` when there is none.
    pub default: Option<String>,
    pub auto_increment: bool,
    /// MySQL `ON UPDATE CURRENT_TIMESTAMP`: every UPDATE must set it to itself.
    pub on_update_now: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referenced_table: String,
    pub referenced_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `RESTRICT`, `NO ACTION`, `SET DEFAULT`.
    pub on_delete: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub name: String,
    /// In table order.
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Secondary indexes (not the primary key).
    pub indexes: Vec<IndexInfo>,
}

impl TableInfo {
    /// A table with nothing known about it yet (introspection fills it in).
    #[must_use]
    pub fn named(name: String) -> Self {
        TableInfo {
            name,
            columns: Vec::new(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            indexes: Vec::new(),
        }
    }

    #[must_use]
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    #[must_use]
    pub fn has_column(&self, name: &str) -> bool {
        self.column(name).is_some()
    }

    /// Whether some index (or the primary key) starts with `column`.
    #[must_use]
    pub fn is_indexed(&self, column: &str) -> bool {
        self.primary_key.first().is_some_and(|c| c == column)
            || self
                .indexes
                .iter()
                .any(|i| i.columns.first().is_some_and(|c| c == column))
    }

    /// Adds a named foreign key as a catalog lists it, one column a row and the rows of a key
    /// together: the next column of the last key when the name is the same, else a new key.
    pub fn add_foreign_key_column(&mut self, key: ForeignKey) {
        match self.foreign_keys.last_mut() {
            Some(last) if last.name.is_some() && last.name == key.name => {
                last.columns.extend(key.columns);
                last.referenced_columns.extend(key.referenced_columns);
            }
            _ => self.foreign_keys.push(key),
        }
    }

    /// Adds an index as a catalog lists it, one column a row and the rows of an index
    /// together: the next column of the last index when the name is the same, else a new one.
    pub fn add_index_column(&mut self, index: IndexInfo) {
        match self.indexes.last_mut() {
            Some(last) if last.name == index.name => last.columns.extend(index.columns),
            _ => self.indexes.push(index),
        }
    }
}

/// Every table of the database, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaFacts {
    pub tables: BTreeMap<String, TableInfo>,
}

/// Tables by which a MultiFlexi database is recognised: its migrations' log and the tables
/// every version has.
pub const MULTIFLEXI_TABLES: &[&str] = &["phinxlog", "job", "runtemplate", "log"];

impl SchemaFacts {
    #[must_use]
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.get(name)
    }

    /// Whether this looks like a MultiFlexi database: it has at least one of
    /// [`MULTIFLEXI_TABLES`]. An empty database, or the wrong one, has none.
    #[must_use]
    pub fn is_multiflexi(&self) -> bool {
        MULTIFLEXI_TABLES
            .iter()
            .any(|t| self.tables.contains_key(*t))
    }

    #[must_use]
    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.table(table).is_some_and(|t| t.has_column(column))
    }

    /// The foreign keys of other tables that reference `table`.
    pub fn references_to<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = (&'a TableInfo, &'a ForeignKey)> + 'a {
        self.tables.values().flat_map(move |t| {
            t.foreign_keys
                .iter()
                .filter(move |fk| fk.referenced_table == table)
                .map(move |fk| (t, fk))
        })
    }
}
