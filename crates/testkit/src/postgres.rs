//! Throwaway PostgreSQL databases, on the server that `IDPLANE_TEST_DATABASE_URL` names (`scripts/test` starts a
//! throwaway cluster and sets it). A test that asks for one without a server fails: PostgreSQL tests are
//! `#[ignore]`d (see the crate's documentation), so they only run when asked to, and then must run.

use anyhow::{Context, Result};

/// The variable that names the PostgreSQL server of the tests.
pub const TEST_DATABASE_URL: &str = "IDPLANE_TEST_DATABASE_URL";

/// The server's URL (`postgres://user@host:port/database`).
pub fn server() -> Result<String> {
    std::env::var(TEST_DATABASE_URL).with_context(|| {
        format!(
            "this PostgreSQL test needs {TEST_DATABASE_URL}, the URL of a PostgreSQL server (scripts/test starts one)"
        )
    })
}

/// A database created for one test and dropped with it.
#[derive(Debug)]
pub struct Database {
    pub url: String,
    server: String,
    name: String,
}

impl Database {
    /// A new, empty database named after `purpose`.
    pub async fn fresh(purpose: &str) -> Result<Database> {
        let server = server()?;
        let name = format!("idplane_{purpose}_{}", idplane_core::ids::new_numeric_id()?);
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
        drop(client);
        let _ = task.await;
        Ok(Database { url: url_of(&server, &name), server, name })
    }
}

/// The URL of database `name` on the server of `server_url` (`postgres://user@host:port/db?options`), its options
/// kept.
pub fn url_of(server_url: &str, name: &str) -> String {
    let (base, query) = server_url.split_once('?').map_or((server_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..authority_end]),
        None => format!("{}/{name}", &base[..authority_end]),
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // On a thread of its own with its own runtime: the test's runtime may be shutting down. Best effort: the
        // database is a throwaway of a throwaway cluster.
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
                let task = tokio::spawn(connection);
                let dropped = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                drop(client);
                let _ = task.await;
                dropped
            })
            .map_err(anyhow::Error::from)
        })
        .join();
    }
}
