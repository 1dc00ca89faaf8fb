//! Fresh PostgreSQL databases for the suites that run on both store backends, on the server named by
//! `IDPLANE_TEST_DATABASE_URL` (scripts/test starts a throwaway one). Without it they warn, loudly, and skip.

use anyhow::Result;

/// A database created for one test and dropped with it.
pub struct Database {
    pub url: String,
    server: String,
    name: String,
}

/// A new, empty database; `None`, after a warning the test harness does not swallow, without PostgreSQL.
pub async fn fresh(purpose: &str) -> Result<Option<Database>> {
    let Ok(server) = std::env::var("IDPLANE_TEST_DATABASE_URL") else {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            use std::io::Write;
            // Straight to the standard error, which the harness does not capture: a skip must not look like a pass.
            let _ = writeln!(
                std::io::stderr(),
                "\nWARNING: IDPLANE_TEST_DATABASE_URL is not set: the PostgreSQL tests are SKIPPED\n"
            );
        });
        return Ok(None);
    };
    let name = format!("idplane_{purpose}_{}", idplane_core::ids::new_numeric_id()?);
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    drop(client);
    let _ = task.await;
    let url = format!("{}/{name}", server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base));
    Ok(Some(Database { url, server, name }))
}

impl Drop for Database {
    fn drop(&mut self) {
        // Best effort, on a thread of its own (the test's runtime may be shutting down): the database is a throwaway
        // of a throwaway cluster.
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new()?;
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
