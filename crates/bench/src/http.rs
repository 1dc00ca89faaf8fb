//! A minimal HTTP/1.1 client over one keep-alive TCP connection: the load generator shares the machine with the
//! server it measures, so every microsecond it spends is one the server does not get. It writes a request in one
//! `write`, parses the response head with `httparse`, and reads a body framed by `Content-Length`, chunked, or the
//! end of the connection. A server that closes after each response (HTTP/1.0, `Connection: close`, as the Python
//! peer's WSGI server does) gets a new connection for the next request, and the connect is part of that request's
//! latency. Plain HTTP only: the benchmark runs on loopback.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where requests go: `host:port`, the base path of the SCIM API, and the `Authorization` header to send.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`, for connecting and for the `Host` header.
    pub authority: String,
    /// The path of the SCIM base without a trailing slash, such as `/api/2.0/accounts/<id>/scim/v2`.
    pub base_path: String,
    authorization: Option<String>,
}

impl Endpoint {
    /// Parses an `http://host:port/path` URL; `token`, when given, is sent as a bearer token.
    pub fn parse(url: &str, token: Option<&str>) -> Result<Endpoint> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("{url}: only http:// URLs are supported (the benchmark runs on loopback)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            bail!("{url}: no host");
        }
        let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
        Ok(Endpoint {
            authority,
            base_path: path.trim_end_matches('/').to_string(),
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// The same server with another base path (for `/readyz`, outside the SCIM base).
    pub fn with_base_path(&self, base_path: &str) -> Endpoint {
        Endpoint { base_path: base_path.trim_end_matches('/').to_string(), ..self.clone() }
    }

    /// The bytes of a request for `path` (relative to the base path), with a JSON body when given.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Vec<u8> {
        let mut r = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        r.extend_from_slice(method.as_bytes());
        r.push(b' ');
        r.extend_from_slice(self.base_path.as_bytes());
        r.extend_from_slice(path.as_bytes());
        r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        r.extend_from_slice(self.authority.as_bytes());
        r.extend_from_slice(b"\r\nAccept: application/scim+json\r\n");
        if let Some(a) = &self.authorization {
            r.extend_from_slice(b"Authorization: ");
            r.extend_from_slice(a.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        if let Some(body) = body {
            r.extend_from_slice(b"Content-Type: application/scim+json\r\nContent-Length: ");
            r.extend_from_slice(body.len().to_string().as_bytes());
            r.extend_from_slice(b"\r\n\r\n");
            r.extend_from_slice(body);
        } else {
            r.extend_from_slice(b"\r\n");
        }
        r
    }
}

/// A response: its status, the `Location` header if any, the cookies it sets (`name=value`), and the body.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub cookies: Vec<String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!("status {}: the body is not JSON: {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }
}

/// One connection, opened on first use and reopened after the server closed it or after an error.
pub struct Connection {
    endpoint: Endpoint,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Connection {
    pub fn new(endpoint: Endpoint) -> Connection {
        Connection { endpoint, stream: None, buf: Vec::with_capacity(16 * 1024) }
    }

    /// Sends a request built by [`Endpoint::request`] and reads the whole response. After an error the connection
    /// is dropped, and the next request opens a new one.
    pub async fn send(&mut self, request: &[u8]) -> Result<Response> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                bail!("no response within {} s", REQUEST_TIMEOUT.as_secs())
            }
        }
    }

    /// A convenience for requests whose bytes are not reused.
    pub async fn call(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Response> {
        let request = self.endpoint.request(method, path, body);
        self.send(&request).await
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Response> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(&self.endpoint.authority)
                    .await
                    .with_context(|| format!("connecting to {}", self.endpoint.authority))?;
                s.set_nodelay(true)?;
                self.buf.clear();
                self.stream.insert(s)
            }
        };
        stream.write_all(request).await.context("sending the request")?;
        let (response, keep_alive) = read_response(stream, &mut self.buf).await?;
        if !keep_alive {
            self.stream = None;
        }
        Ok(response)
    }
}

/// How the body of a response is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads one response from `stream`; `buf` holds bytes read past the previous response (none, with this client's
/// one request at a time, but a server may send them). Returns the response and whether the connection stays open.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(Response, bool)> {
    let (head_len, mut response, framing, keep_alive) = loop {
        if let Some(head) = parse_head(buf)? {
            break head;
        }
        fill(stream, buf).await?.then_some(()).context("the server closed the connection before a response")?;
    };
    buf.drain(..head_len);
    match framing {
        Framing::Length(n) => {
            while buf.len() < n {
                fill(stream, buf).await?.then_some(()).context("the server closed the connection mid-body")?;
            }
            response.body = buf.drain(..n).collect();
        }
        Framing::Chunked => response.body = read_chunked(stream, buf).await?,
        Framing::UntilClose => {
            while fill(stream, buf).await? {}
            response.body = std::mem::take(buf);
            return Ok((response, false));
        }
    }
    Ok((response, keep_alive))
}

/// Reads more bytes into `buf`; false at the end of the stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool> {
    buf.reserve(8 * 1024);
    let n = stream.read_buf(buf).await.context("reading the response")?;
    Ok(n > 0)
}

/// Parses a complete response head: its length, the response without body, the body's framing, keep-alive.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, Response, Framing, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf).context("parsing the response head")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = parsed.code.context("no status code")?;
    // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes it unless told otherwise.
    let mut keep_alive = parsed.version == Some(1);
    let mut framing = None;
    let mut location = None;
    let mut cookies = Vec::new();
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or_default().trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            framing = Some(Framing::Length(value.parse().context("a malformed Content-Length")?));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") && value.to_ascii_lowercase().contains("chunked") {
            framing = Some(Framing::Chunked);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                keep_alive = false;
            } else if value.contains("keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("location") {
            location = Some(value.to_string());
        } else if h.name.eq_ignore_ascii_case("set-cookie") {
            cookies.push(value.split(';').next().unwrap_or_default().to_string());
        }
    }
    // No body for 1xx, 204 and 304 (and this client sends no HEAD).
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else {
        framing.unwrap_or(Framing::UntilClose)
    };
    Ok(Some((head_len, Response { status, location, cookies, body: Vec::new() }, framing, keep_alive)))
}

/// Reads a chunked body (RFC 9112 §7.1), ignoring chunk extensions and trailers.
async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            fill(stream, buf).await?.then_some(()).context("the server closed the connection mid-chunk")?;
        };
        let line = std::str::from_utf8(&buf[..line_end]).context("a malformed chunk size")?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or_default().trim(), 16)
            .context("a malformed chunk size")?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    let empty = i == 0;
                    buf.drain(..i + 2);
                    if empty {
                        return Ok(body);
                    }
                    continue;
                }
                fill(stream, buf).await?.then_some(()).context("the server closed the connection in trailers")?;
            }
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?.then_some(()).context("the server closed the connection mid-chunk")?;
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// Percent-encodes a query parameter value.
pub fn encode_query(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn urls_split_into_authority_and_base_path() -> Result<()> {
        let e = Endpoint::parse("http://127.0.0.1:8080/api/2.0/preview/scim/v2/", Some("t"))?;
        assert_eq!(e.authority, "127.0.0.1:8080");
        assert_eq!(e.base_path, "/api/2.0/preview/scim/v2");
        let r = String::from_utf8(e.request("GET", "/Users/1", None))?;
        assert_eq!(
            r,
            "GET /api/2.0/preview/scim/v2/Users/1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
             Accept: application/scim+json\r\nAuthorization: Bearer t\r\n\r\n"
        );
        assert_eq!(Endpoint::parse("http://localhost", None)?.authority, "localhost:80");
        assert!(Endpoint::parse("https://localhost", None).is_err());
        Ok(())
    }

    /// A server that answers each connection with the given raw responses, one per request, then closes.
    async fn serve(responses: Vec<&'static [u8]>) -> Result<Endpoint> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let responses = responses.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    for r in responses {
                        if s.read(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let _ = s.write_all(r).await;
                    }
                });
            }
        });
        Endpoint::parse(&format!("http://{addr}/v2"), None)
    }

    #[tokio::test]
    async fn bodies_framed_by_length_chunks_and_close() -> Result<()> {
        let endpoint = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nLocation: /v2/Users/7\r\n\r\n{}",
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n{\"closed\":true}",
        ])
        .await?;
        let mut c = Connection::new(endpoint);
        let r = c.call("GET", "/Users/7", None).await?;
        assert_eq!((r.status, r.location.as_deref(), r.body.as_slice()), (200, Some("/v2/Users/7"), &b"{}"[..]));
        let r = c.call("POST", "/Users", Some(b"{}")).await?;
        assert_eq!((r.status, r.json()?), (201, serde_json::json!({"a": 1})));
        assert_eq!(c.call("DELETE", "/Users/7", None).await?.status, 204);
        let r = c.call("GET", "/x", None).await?;
        assert_eq!(r.json()?, serde_json::json!({"closed": true}));
        assert!(c.stream.is_none(), "an HTTP/1.0 response without keep-alive closes the connection");
        // The next request reconnects (and gets the first canned response again).
        assert_eq!(c.call("GET", "/Users/7", None).await?.status, 200);
        Ok(())
    }
}
