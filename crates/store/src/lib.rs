//! idplane's storage: implementations of the core's [`Store`](idplane_core::store::Store) port.
//!
//! [`SqliteStore`] keeps everything in one SQLite file (the default, embedded); [`PgStore`] keeps it in a PostgreSQL
//! database. The SQL that does not depend on the database lives in `sql` (statements, scope visibility, filter and
//! sort translation) and both backends share it; what is a backend's own (schema, connections, placeholders, error
//! codes, row locks) lives in `sqlite` and `postgres`. Every backend passes the conformance suite in
//! `tests/conformance`.

mod codec;
mod postgres;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::backup;
pub use sqlite::{DATABASE_FILE, SqliteStore};
