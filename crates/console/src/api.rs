//! The console's way to idplane's APIs: the request goes in-process through the same router, middleware and checks
//! as a client's, with the signed-in token as its bearer, so that a page can show and change exactly what the token
//! may.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::Console;
use crate::session::Session;

/// Most bytes of an API answer the console reads.
const ANSWER_LIMIT: usize = 64 << 20;

/// An API call that did not succeed: its status, the API's message (what to fix) and its body.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
    pub body: Value,
}

/// The message of an error body in any of idplane's API shapes: Graph's `error.message`, SCIM's `detail`,
/// Databricks' `message`.
pub fn message_of(status: u16, body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .or_else(|| body["detail"].as_str())
        .or_else(|| body["message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("the API answered {status}"))
}

/// The APIs, as the signed-in token.
pub struct Api<'a> {
    console: &'a Console,
    session: &'a Session,
    /// Headers sent with every call besides the session's (a workspace API's `X-Databricks-Workspace-Id`).
    extra: HeaderMap,
}

impl<'a> Api<'a> {
    pub fn new(console: &'a Console, session: &'a Session) -> Api<'a> {
        Api { console, session, extra: HeaderMap::new() }
    }

    /// The same APIs with `name: value` on every call (`X-Databricks-Workspace-Id` picks a workspace API's
    /// workspace); a value that is not a header value is left out.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Api<'a> {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.extra.insert(name, value);
        }
        self
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiFailure> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiFailure> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ApiFailure> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiFailure> {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ApiFailure> {
        self.call(Method::DELETE, path, None).await
    }

    /// Calls `path` (with its query) on the API; the JSON of a 2xx answer (`null` when it has none).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ApiFailure> {
        let (status, answer) = self.exchange(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(answer)
        } else {
            Err(ApiFailure { status, message: message_of(status, &answer), body: answer })
        }
    }

    /// Calls `path` and returns the status and JSON body whatever the status (an answer that is not JSON is a
    /// string).
    pub async fn exchange(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(u16, Value), ApiFailure> {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in self.session.forwarded.iter().chain(&self.extra) {
            request = request.header(name, value);
        }
        request = request.header(header::AUTHORIZATION, format!("Bearer {}", self.session.bearer()));
        let request = match body {
            Some(json) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(json).unwrap_or_default())),
            None => request.body(Body::empty()),
        }
        .map_err(|e| failure(400, format!("the console built a request it cannot send: {e}")))?;
        let response = match self.console.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let bytes = http_body_util::Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| failure(502, format!("the API's answer could not be read: {e}")))?
            .to_bytes();
        let answer = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok((status, answer))
    }
}

/// A path segment, percent-encoded: an id taken from the URL never changes which API path is called.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `$skiptoken` of a Graph `@odata.nextLink`: the cursor of the next page.
pub fn skip_token(next_link: &str) -> Option<String> {
    let (_, query) = next_link.split_once('?')?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken"))
        .map(|(_, v)| v)
}

/// A string literal of an OData `$filter`, its quotes doubled.
pub fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn failure(status: u16, message: String) -> ApiFailure {
    ApiFailure { status, message, body: Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_cannot_leave_its_place_in_the_path() {
        assert_eq!(segment("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(segment("../x?y=1#z /"), "..%2Fx%3Fy%3D1%23z%20%2F");
    }

    #[test]
    fn the_skip_token_is_read_from_the_next_link_however_it_is_spelled() {
        assert_eq!(skip_token("http://h/v1.0/users?$top=5&$skiptoken=a%2Bb").as_deref(), Some("a+b"));
        assert_eq!(skip_token("http://h/v1.0/users?%24skipToken=c").as_deref(), Some("c"));
        assert_eq!(skip_token("http://h/v1.0/users?$top=5"), None);
    }

    #[test]
    fn odata_strings_double_their_quotes() {
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }
}
