//! idplane's storage: the core's store ports ([`idplane_core::store`]) over SQL databases.
//!
//! [`SqliteStore`] keeps everything in one SQLite file (the default, embedded); [`PgStore`] keeps it in a PostgreSQL
//! database. Both are [`SqlStore`] over a backend, and every operation is one transaction script written once, over
//! the small transaction abstraction in `tx` that both backends implement:
//! - `tx`: statements, parameters, rows, the dialect differences, the error classes scripts react to;
//! - `tenancy`, `assignments`, `tokens`, `principals`, `audit`: each aggregate's statements and scripts;
//! - `provisioning`: the provisioning domain's ports (tenants, directory, applications, jobs), likewise;
//! - `listing`: visibility, filter and sort translation, the plan of a listing and what it costs;
//! - `schema`: the migration runner (each backend's schema is in `sqlite::schema`, `postgres::schema`);
//! - `codec`: how values are stored; `store`: the ports over the scripts, timing and the count cache;
//! - `sqlite`, `postgres`: connections, transactions, value conversion, error codes.
//!
//! Every backend passes the conformance suite in `tests/conformance`.

mod assignments;
mod audit;
mod codec;
mod listing;
mod postgres;
mod principals;
mod provisioning;
mod schema;
mod sqlite;
mod store;
mod tenancy;
mod tokens;
mod tx;

pub use postgres::{DEFAULT_STATEMENT_TIMEOUT, PgStore, Postgres};
pub use sqlite::backup;
pub use sqlite::{DATABASE_FILE, Sqlite, SqliteStore};
pub use store::{DEFAULT_COUNT_CACHE, SqlStore};

/// What an idplane database offers: both domains' ports (the identity core's and the provisioning domain's). An
/// `Arc<dyn Database>` coerces to either side's `Arc<dyn Store>` or `Arc<dyn ProvisioningStore>`.
pub trait Database: idplane_core::store::Store + idplane_provisioning::store::ProvisioningStore {}

impl<T: idplane_core::store::Store + idplane_provisioning::store::ProvisioningStore> Database for T {}
