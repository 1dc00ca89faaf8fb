//! Request spans: every line logged while a request is handled carries the request's id, route, tenant and
//! principal, a store failure's included.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::http::StatusCode;

use super::{WS, app};

/// A log destination for the test: every line written, kept.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect()
    }
}

/// A store failure (a stored document that is not JSON, as a damaged database would hold) is answered 500, and the
/// line that logs it carries the request id, route, tenant and principal of the request that met it.
#[tokio::test(flavor = "current_thread")]
async fn a_store_failure_is_logged_with_the_request_it_happened_in() -> Result<()> {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(captured.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = app().await?;
    let id = app.user(WS, "damaged@x.com").await?;
    let path = app.data_dir.as_ref().map(|d| d.join(idplane_store::DATABASE_FILE));
    let db = rusqlite::Connection::open(path.ok_or_else(|| anyhow::anyhow!("a SQLite app"))?)?;
    db.execute("UPDATE principals SET doc = 'not json' WHERE id = ?", [id.parse::<i64>()?])?;

    let r = app
        .send(axum::http::Method::GET, &format!("{WS}/Users/{id}"), None, &[("x-request-id", "req-damaged-1")])
        .await?;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
    assert!(!r.body.to_string().contains("not json"), "no internal detail for the client: {}", r.body);

    let lines = captured.lines();
    let failure = lines.iter().find(|l| l.contains("store failure")).ok_or_else(|| anyhow::anyhow!("{lines:#?}"))?;
    for field in [
        "request_id=req-damaged-1".to_string(),
        "route=/api/2.0/preview/scim/v2/Users/{id}".to_string(),
        format!("tenant={}", app.account),
        "principal=".to_string(),
    ] {
        assert!(failure.contains(&field), "{field} missing from: {failure}");
    }
    // The request's own line is in its span too.
    let done = lines
        .iter()
        .find(|l| l.contains("status=500"))
        .ok_or_else(|| anyhow::anyhow!("no request line: {lines:#?}"))?;
    assert!(done.contains("request_id=req-damaged-1") && done.contains(&format!("tenant={}", app.account)), "{done}");
    Ok(())
}
