//! The transaction abstraction both backends implement, so that every transaction script (the statements of one
//! store operation, and the migration runner) is written once: [`Tx`] runs statements with bound [`Param`]s and
//! returns owned [`Row`]s; [`Dialect`] spells the few expressions the SQL dialects write differently; [`DbError`]
//! classifies the failures scripts react to (a violated unique index, a missing reference, an interrupted statement).
//!
//! Scripts are `async` functions over `&mut dyn Tx`. On PostgreSQL they await the network; on SQLite every call
//! completes at once (rusqlite is synchronous), so the SQLite backend runs a whole script on a blocking thread and
//! polls it once ([`complete_now`]). A script must therefore await nothing but its transaction.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use idplane_core::error::StoreError;

/// The SQL dialect of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// True when the text `needle` occurs in the text `haystack` (both SQL expressions).
    pub fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }

    /// What locks the rows a `SELECT` reads until the transaction ends: PostgreSQL's `FOR UPDATE`. SQLite needs none:
    /// its single writer serialises write transactions.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// A subquery yielding, as column `id`, the integers of a JSON array bound to the placeholder `param`: one
    /// statement text whatever the length of the list (so it stays prepared), and no parameter limit.
    pub fn id_list(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value AS id FROM json_each({param})"),
            Dialect::Postgres => {
                format!("SELECT CAST(value AS BIGINT) AS id FROM json_array_elements_text(CAST({param} AS json))")
            }
        }
    }

    /// A subquery yielding, as column `value`, the strings of a JSON array bound to the placeholder `param`.
    pub fn text_list(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({param})"),
            Dialect::Postgres => format!("SELECT value FROM json_array_elements_text(CAST({param} AS json))"),
        }
    }

    /// The text at a JSON path (a list of object keys) of a JSON text column, or NULL when absent or not a string.
    pub fn json_text(self, column: &str, path: &[&str]) -> String {
        match self {
            // `->>` (SQLite 3.38+) takes a JSON path and yields SQL text for JSON strings.
            Dialect::Sqlite => {
                let p = sqlite_path(path);
                format!("(CASE WHEN json_type({column}, '{p}') = 'text' THEN {column} ->> '{p}' END)")
            }
            Dialect::Postgres => {
                let (value, p) = (format!("CAST({column} AS jsonb)"), postgres_path(path));
                format!("(CASE WHEN jsonb_typeof({value} #> '{p}') = 'string' THEN {value} #>> '{p}' END)")
            }
        }
    }

    /// The JSON boolean at a JSON path of a JSON text column as SQL true or false, NULL when absent or not a
    /// boolean.
    pub fn json_bool(self, column: &str, path: &[&str]) -> String {
        match self {
            Dialect::Sqlite => {
                let p = sqlite_path(path);
                format!("(CASE json_type({column}, '{p}') WHEN 'true' THEN 1 = 1 WHEN 'false' THEN 1 = 0 END)")
            }
            Dialect::Postgres => {
                let (value, p) = (format!("CAST({column} AS jsonb)"), postgres_path(path));
                format!(
                    "(CASE WHEN jsonb_typeof({value} #> '{p}') = 'boolean' THEN CAST({value} #>> '{p}' AS BOOLEAN) END)"
                )
            }
        }
    }

    /// `expr` with ASCII capitals lowered and every other character kept, the same in every locale.
    pub fn ascii_lower(self, expr: &str) -> String {
        match self {
            // SQLite's `lower` folds ASCII only (without the ICU extension, which idplane does not load).
            Dialect::Sqlite => format!("lower({expr})"),
            Dialect::Postgres => {
                format!("translate({expr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
            }
        }
    }

    /// True when the text `expr` holds a character beyond ASCII.
    pub fn non_ascii(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("length({expr}) <> length(CAST({expr} AS BLOB))"),
            Dialect::Postgres => format!("length({expr}) <> octet_length({expr})"),
        }
    }
}

/// A JSON path of object keys as SQLite writes it (`$."name"."familyName"`). Keys come from the schemas, never
/// from a request; quotes are dropped all the same.
fn sqlite_path(keys: &[&str]) -> String {
    keys.iter().fold(String::from("$"), |p, key| format!("{p}.\"{}\"", key.replace(['"', '\''], "")))
}

/// A JSON path of object keys as PostgreSQL's `#>` takes it (`{"name","familyName"}`).
fn postgres_path(keys: &[&str]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.replace(['"', '\'', ',', '{', '}'], ""))).collect();
    format!("{{{}}}", keys.join(","))
}

/// A value bound to a `?` placeholder. NULLs carry their type: PostgreSQL needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    Bool(bool),
    Bytes(Vec<u8>),
    NullInt,
    NullText,
    NullBool,
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Text(v)
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Text(v.to_string())
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Param::Text(v.clone())
    }
}

impl From<&[u8]> for Param {
    fn from(v: &[u8]) -> Self {
        Param::Bytes(v.to_vec())
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::NullInt, Param::Int)
    }
}

impl From<Option<bool>> for Param {
    fn from(v: Option<bool>) -> Self {
        v.map_or(Param::NullBool, Param::Bool)
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        v.map_or(Param::NullText, Param::Text)
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Param::NullText, |s| Param::Text(s.to_string()))
    }
}

impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// The parameters of a statement: `params![a, b]` converts each with [`Param::from`].
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        [$($crate::tx::Param::from($value)),*]
    };
}
pub(crate) use params;

/// A column value as read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A row as read: its cells in the order of the statement's columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> Result<&Cell, StoreError> {
        self.0.get(i).ok_or_else(|| StoreError::Backend(format!("the row has no column {i}")))
    }

    fn take(&mut self, i: usize) -> Result<Cell, StoreError> {
        match self.0.get_mut(i) {
            Some(cell) => Ok(std::mem::replace(cell, Cell::Null)),
            None => Err(StoreError::Backend(format!("the row has no column {i}"))),
        }
    }

    fn mismatch(i: usize, want: &str, got: &Cell) -> StoreError {
        StoreError::Backend(format!("column {i}: expected {want}, found {got:?}"))
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.cell(i)? {
            Cell::Int(n) => Ok(*n),
            other => Err(Self::mismatch(i, "an integer", other)),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A boolean: PostgreSQL's BOOLEAN, SQLite's 0 or 1.
    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.int(i)? != 0)
    }

    /// Takes the text of column `i` out of the row.
    pub fn text(&mut self, i: usize) -> Result<String, StoreError> {
        match self.take(i)? {
            Cell::Text(s) => Ok(s),
            other => Err(Self::mismatch(i, "text", &other)),
        }
    }

    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>, StoreError> {
        match self.take(i)? {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s)),
            other => Err(Self::mismatch(i, "text", &other)),
        }
    }

    pub fn bytes(&mut self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.take(i)? {
            Cell::Bytes(b) => Ok(b),
            other => Err(Self::mismatch(i, "bytes", &other)),
        }
    }
}

/// What went wrong with a statement, as far as scripts care.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DbError {
    /// A unique index or constraint was violated; `primary_key` when it was the primary key.
    Unique {
        primary_key: bool,
    },
    /// A foreign key was violated (a row referenced a row that does not exist).
    ForeignKey,
    /// The statement was stopped (interrupted, cancelled, past its time limit).
    Interrupted(String),
    Other(String),
}

impl DbError {
    /// The store error of a failure while doing `context`.
    pub fn during(self, context: &str) -> StoreError {
        match self {
            DbError::Interrupted(e) => StoreError::Interrupted(format!("{context}: {e}")),
            DbError::Unique { .. } => StoreError::Backend(format!("{context}: a unique constraint was violated")),
            DbError::ForeignKey => StoreError::Backend(format!("{context}: a foreign key was violated")),
            DbError::Other(e) => StoreError::Backend(format!("{context}: {e}")),
        }
    }

    /// Like [`DbError::during`], but a violated primary key is a conflict on `id` and another violated unique index
    /// a conflict on `unique`.
    pub fn conflict(self, context: &str, unique: &'static str) -> StoreError {
        match self {
            DbError::Unique { primary_key: true } => StoreError::Conflict("id"),
            DbError::Unique { primary_key: false } => StoreError::Conflict(unique),
            other => other.during(context),
        }
    }
}

/// A fragment of SQL with the values of its `?` placeholders, in order. Nothing from a request is ever spliced into
/// SQL text: every value is bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_string(), params: Vec::new() }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Param>) -> &mut Self {
        self.text.push('?');
        self.params.push(value.into());
        self
    }

    pub fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
        self
    }

    pub fn join(a: Sql, op: &str, b: Sql) -> Sql {
        let mut s = Sql::new("(");
        s.append(a).push(op).append(b).push(")");
        s
    }

    pub fn negated(self) -> Sql {
        let mut s = Sql::new("NOT (");
        s.append(self).push(")");
        s
    }

    pub fn never() -> Sql {
        Sql::new("1 = 0")
    }

    pub fn always() -> Sql {
        Sql::new("1 = 1")
    }
}

/// A transaction of either backend. Statements use `?` placeholders.
#[async_trait]
pub(crate) trait Tx: Send {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; the number of rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Param]) -> Result<u64, DbError>;
    /// Runs a query; its rows.
    async fn query(&mut self, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError>;
    /// Runs several statements without parameters (schema changes).
    async fn batch(&mut self, sql: &str) -> Result<(), DbError>;
}

impl dyn Tx + '_ {
    pub async fn rows(&mut self, s: &Sql) -> Result<Vec<Row>, DbError> {
        self.query(&s.text, &s.params).await
    }

    /// The first row of a query, if any.
    pub async fn first(&mut self, sql: &str, params: &[Param]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// The integer in the first column of the first row (a count).
    pub async fn scalar(&mut self, sql: &str, params: &[Param], context: &str) -> Result<i64, StoreError> {
        let row = self.first(sql, params).await.map_err(|e| e.during(context))?;
        match row {
            Some(r) => Ok(r.opt_int(0)?.unwrap_or(0)),
            None => Ok(0),
        }
    }
}

/// A boxed transaction script: what [`crate::store::Backend`] runs in a transaction.
pub(crate) type Script<T> =
    Box<dyn for<'t> FnOnce(&'t mut dyn Tx) -> Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 't>> + Send>;

/// Polls a future that must be ready at once (a script over a synchronous transaction); an error if it is not.
pub(crate) fn complete_now<T>(
    future: Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + '_>>,
) -> Result<T, StoreError> {
    let mut future = future;
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => {
            Err(StoreError::Backend("a store script awaited something other than its SQLite transaction".into()))
        }
    }
}
