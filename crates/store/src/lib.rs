//! idplane's storage: implementations of the core's [`Store`](idplane_core::store::Store) port.
//!
//! [`SqliteStore`] keeps everything in one SQLite file (the default, embedded). The SQL that does not depend on the
//! database lives in `sql` (statements, scope visibility, filter and sort translation), so that a PostgreSQL
//! backend can share it; what is SQLite's own (schema, connections, error codes) lives in `sqlite`. Every backend
//! passes the conformance suite in `tests/conformance`.

mod sql;
mod sqlite;

pub use sqlite::{DATABASE_FILE, SqliteStore};
