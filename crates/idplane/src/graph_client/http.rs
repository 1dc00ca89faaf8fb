//! The connection to a running server's Graph API (`<url>/v1.0`): the flags that say where and with what token,
//! URLs built segment by segment (a user principal name or a display name is always escaped), Graph's errors read
//! into [`ClientError::Graph`], answers of 429 and 503 retried after their `Retry-After`, and listings followed
//! through `@odata.nextLink`. The token goes in the `Authorization` header of requests to `--url` only: a next link
//! that names another origin is followed on `--url`'s.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use url::Url;

use super::error::{ClientError, Result};

/// Where the server is, how to authenticate, and how to print: the flags every client command takes.
#[derive(Args, Clone)]
pub struct ConnectArgs {
    /// The idplane server: the origin `idplane serve` printed (the Graph API is at <url>/v1.0).
    #[arg(long, env = "IDPLANE_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// The token: the admin token `serve` printed at its first start (its account's tenant), or a tenant token
    /// (`idplane tenant token create`). Never printed.
    #[arg(long, env = "IDPLANE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's: a private CA, or a self-signed server's own
    /// certificate.
    #[arg(long, env = "IDPLANE_CA_BUNDLE", global = true)]
    pub ca_bundle: Option<PathBuf>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// How often an answer of 429 or 503 is retried before it is reported.
const MAX_RETRIES: u32 = 8;
/// The longest wait a `Retry-After` may ask for; a longer one is cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest a request may take, from connecting to the last byte of the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The most items of a listing a page asks for (Graph's `$top` limit).
pub const PAGE_SIZE: usize = 999;

/// A client of one server's Graph API.
#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    /// `<url>/v1.0/`, ending with a slash so that relative paths join under it.
    base: Url,
    token: String,
    /// How many requests were retried after a 429 or 503 (reported by bulk imports).
    retries: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// `Graph` holds the token: its debug form must not show it.
impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// A collection read whole: its items, and the first page's other properties (`@odata.context`).
pub struct Listing {
    pub first_page: Map<String, Value>,
    pub items: Vec<Value>,
}

impl Listing {
    /// The listing as one Graph collection: the first page with every item in `value`.
    pub fn to_json(&self) -> Value {
        let mut out = self.first_page.clone();
        out.remove("@odata.nextLink");
        out.insert("value".into(), Value::Array(self.items.clone()));
        Value::Object(out)
    }
}

impl Graph {
    pub fn new(args: &ConnectArgs) -> Result<Graph> {
        let token = args.token.clone().filter(|t| !t.trim().is_empty()).ok_or(ClientError::NoToken)?;
        let bad = |reason: &str| ClientError::BadUrl { url: args.url.clone(), reason: reason.to_string() };
        let mut base = Url::parse(args.url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad("give the server's origin, e.g. https://idp.example.com"));
        }
        if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
            return Err(bad("give the origin only: no query, fragment or credentials"));
        }
        // `https://host`, `https://host/` and `https://host/v1.0` all mean the same API.
        let path = base.path().trim_end_matches('/').to_string();
        let path = path.strip_suffix("/v1.0").unwrap_or(&path).to_string();
        base.set_path(&format!("{path}/v1.0/"));
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // A redirect would carry the token elsewhere: Graph never redirects its API.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("idplane-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &args.ca_bundle {
            let ca = |reason: String| ClientError::CaBundle { path: path.clone(), reason };
            let pem = std::fs::read(path).map_err(|e| ca(e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca("no PEM certificate in the file".into()));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| ClientError::Usage(format!("setting up HTTPS: {}", chain(&e))))?;
        Ok(Graph { http, base, token, retries: Default::default() })
    }

    /// The URL of `segments` under `/v1.0`, each escaped as one path segment.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The URL of `segments` with query parameters (`$filter`, `$select`, ...).
    pub fn url_with(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// An `@odata.id` reference to a directory object, as `$ref` bodies take it.
    pub fn reference(&self, id: &str) -> Value {
        serde_json::json!({"@odata.id": self.url(&["directoryObjects", id]).to_string()})
    }

    /// How many requests were retried after a 429 or 503 so far.
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends a request; its JSON answer (`Null` for 204), or Graph's error. 429 and 503 are retried after the
    /// `Retry-After` the server sent (a second when it sent none), at most [`MAX_RETRIES`] times.
    pub async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Value> {
        let mut attempt = 0;
        loop {
            let mut request = self.http.request(method.clone(), url.clone()).bearer_auth(&self.token);
            if let Some(b) = body {
                request = request.header("content-type", "application/json").body(b.to_string());
            }
            let response =
                request.send().await.map_err(|e| ClientError::Unreachable { url: origin(&url), reason: chain(&e) })?;
            let status = response.status();
            let wait = retry_after(response.headers());
            let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
            let bytes = response
                .bytes()
                .await
                .map_err(|e| ClientError::Unreachable { url: origin(&url), reason: chain(&e) })?;
            if (status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE)
                && attempt < MAX_RETRIES
            {
                attempt += 1;
                self.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // The server said how long to wait: this sleep is that wait, not a guess.
                tokio::time::sleep(wait.unwrap_or(Duration::from_secs(1)).min(MAX_RETRY_AFTER)).await;
                continue;
            }
            return read_answer(&method, &url, status, &bytes, request_id);
        }
    }

    pub async fn get(&self, url: Url) -> Result<Value> {
        self.send(Method::GET, url, None).await
    }

    pub async fn post(&self, url: Url, body: &Value) -> Result<Value> {
        self.send(Method::POST, url, Some(body)).await
    }

    pub async fn patch(&self, url: Url, body: &Value) -> Result<Value> {
        self.send(Method::PATCH, url, Some(body)).await
    }

    pub async fn put(&self, url: Url, body: &Value) -> Result<Value> {
        self.send(Method::PUT, url, Some(body)).await
    }

    pub async fn delete(&self, url: Url) -> Result<Value> {
        self.send(Method::DELETE, url, None).await
    }

    /// A whole collection, page after page through `@odata.nextLink`, up to `limit` items when given.
    pub async fn list(&self, url: Url, limit: Option<usize>) -> Result<Listing> {
        let mut next = Some(url);
        let mut first_page = None;
        let mut items = Vec::new();
        while let Some(url) = next.take() {
            let mut page = match self.get(url).await? {
                Value::Object(m) => m,
                other => {
                    return Err(ClientError::Usage(format!("a listing answered {other} instead of a collection")));
                }
            };
            if let Some(Value::Array(values)) = page.remove("value") {
                items.extend(values);
            }
            next = page.get("@odata.nextLink").and_then(Value::as_str).map(|l| self.rebase(l)).transpose()?;
            first_page.get_or_insert(page);
            if limit.is_some_and(|l| items.len() >= l) {
                items.truncate(limit.unwrap_or(usize::MAX));
                break;
            }
        }
        Ok(Listing { first_page: first_page.unwrap_or_default(), items })
    }

    /// A next link as a URL on `--url`'s origin: a server behind a proxy may build its links from another name,
    /// and the token must only go where the user sent it.
    fn rebase(&self, link: &str) -> Result<Url> {
        let parsed =
            Url::parse(link).map_err(|e| ClientError::Usage(format!("the server sent a bad next link: {e}")))?;
        if parsed.origin() == self.base.origin() {
            return Ok(parsed);
        }
        let path = parsed.path();
        let Some(at) = path.find("/v1.0/") else {
            return Err(ClientError::Usage(format!("the server sent a next link outside its Graph API: {link}")));
        };
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/').trim_end_matches("/v1.0");
        url.set_path(&format!("{prefix}{}", &path[at..]));
        url.set_query(parsed.query());
        Ok(url)
    }
}

/// The seconds of a `Retry-After` header (Graph sends seconds, never a date).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The answer of a request: its JSON, `Null` when empty, or the error it carries.
fn read_answer(
    method: &Method,
    url: &Url,
    status: StatusCode,
    bytes: &[u8],
    request_id: Option<String>,
) -> Result<Value> {
    let parsed: Option<Value> =
        if bytes.iter().all(u8::is_ascii_whitespace) { Some(Value::Null) } else { serde_json::from_slice(bytes).ok() };
    if status.is_success() {
        // `$count` answers text: a number parses as JSON too.
        return parsed.ok_or_else(|| unexpected(method, url, status, bytes));
    }
    let error = parsed.as_ref().and_then(|v| v.get("error")).filter(|e| e.is_object());
    match error {
        Some(e) => Err(ClientError::Graph {
            status: status.as_u16(),
            code: e.get("code").and_then(Value::as_str).unwrap_or("unknownError").to_string(),
            message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            request_id: e
                .pointer("/innerError/request-id")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .or(request_id),
        }),
        None => Err(unexpected(method, url, status, bytes)),
    }
}

fn unexpected(method: &Method, url: &Url, status: StatusCode, bytes: &[u8]) -> ClientError {
    let text = String::from_utf8_lossy(bytes);
    let snippet: String = text.chars().take(200).collect();
    ClientError::Unexpected {
        method: method.to_string(),
        url: url.to_string(),
        status: status.as_u16(),
        snippet: if snippet.is_empty() { "an empty body".into() } else { snippet },
    }
}

/// `scheme://host:port` of a URL, for messages.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// An error and its causes on one line: reqwest's own message says little ("error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// A string as an OData literal: quoted, its quotes doubled.
pub fn odata_string(s: &str) -> String {
    idplane_provisioning::odata::quote(s)
}

/// Whether `s` is a GUID (8-4-4-4-12 hexadecimal digits), as directory object ids are.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(url: &str) -> Result<Graph> {
        Graph::new(&ConnectArgs { url: url.into(), token: Some("t".into()), ca_bundle: None, json: false })
    }

    #[test]
    fn the_base_is_the_origin_with_or_without_v1_and_segments_are_escaped() -> Result<()> {
        for given in ["http://h:8080", "http://h:8080/", "http://h:8080/v1.0", "http://h:8080/v1.0/"] {
            let g = graph(given)?;
            assert_eq!(g.url(&["users", "ann@x.com"]).as_str(), "http://h:8080/v1.0/users/ann@x.com", "{given}");
        }
        let g = graph("https://h/idp")?;
        assert_eq!(g.url(&["groups", "a/b c"]).as_str(), "https://h/idp/v1.0/groups/a%2Fb%20c");
        let u = g.url_with(&["users"], &[("$filter", "displayName eq 'A&B'")]);
        assert_eq!(u.query(), Some("%24filter=displayName+eq+%27A%26B%27"));
        assert!(matches!(graph("ftp://h"), Err(ClientError::BadUrl { .. })));
        assert!(matches!(graph("http://h?x=1"), Err(ClientError::BadUrl { .. })));
        let none = Graph::new(&ConnectArgs { url: "http://h".into(), token: None, ca_bundle: None, json: false });
        assert!(matches!(none, Err(ClientError::NoToken)));
        Ok(())
    }

    #[test]
    fn next_links_on_another_origin_are_followed_on_the_given_one() -> Result<()> {
        let g = graph("http://127.0.0.1:9/idp")?;
        let same = g.rebase("http://127.0.0.1:9/idp/v1.0/users?$skiptoken=x")?;
        assert_eq!(same.as_str(), "http://127.0.0.1:9/idp/v1.0/users?$skiptoken=x");
        let other = g.rebase("https://public.example/v1.0/users?$top=2&$skiptoken=x")?;
        assert_eq!(other.as_str(), "http://127.0.0.1:9/idp/v1.0/users?$top=2&$skiptoken=x");
        assert!(g.rebase("https://elsewhere.example/steal").is_err());
        Ok(())
    }

    #[test]
    fn graph_errors_are_read_with_their_code_and_request_id() {
        let url = Url::parse("http://h/v1.0/users").unwrap_or_else(|_| unreachable!());
        let body = br#"{"error":{"code":"Request_BadRequest","message":"no","innerError":{"request-id":"r1"}}}"#;
        let e = read_answer(&Method::POST, &url, StatusCode::BAD_REQUEST, body, None);
        match e {
            Err(ClientError::Graph { status, code, message, request_id }) => {
                assert_eq!(
                    (status, code.as_str(), message.as_str(), request_id.as_deref()),
                    (400, "Request_BadRequest", "no", Some("r1"))
                );
            }
            other => panic!("{other:?}"),
        }
        let html = read_answer(&Method::GET, &url, StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", None);
        assert!(matches!(html, Err(ClientError::Unexpected { status: 502, .. })), "{html:?}");
        assert_eq!(read_answer(&Method::DELETE, &url, StatusCode::NO_CONTENT, b"", None).ok(), Some(Value::Null));
    }

    #[test]
    fn guids_and_odata_strings() {
        assert!(is_guid("9c9818d2-2900-49e8-8ba4-22688be7c675"));
        assert!(!is_guid("9c9818d2-2900-49e8-8ba4-22688be7c67"));
        assert!(!is_guid("Sales"));
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }
}
