//! The console's stylesheet and script, vendored into the binary: no build step, no CDN, works offline.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::PageError;

const FILES: [(&str, &str, &str); 2] = [
    ("console.css", "text/css; charset=utf-8", include_str!("../assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("../assets/console.js")),
];

pub async fn asset(Path(file): Path<String>) -> Result<Response, PageError> {
    let Some((_, kind, body)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return Err(PageError::not_found(format!("no console asset {file}")));
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Assets change with the binary only: an hour in the browser's cache, then checked again.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(response)
}
