//! Sign-in, the session cookie and CSRF.
//!
//! Signing in takes a token (the admin token printed at first start, or any token idplane issued); the session is a
//! cookie that holds that token sealed with the server's secrets key (ChaCha20-Poly1305, as provisioning secrets
//! are), with its expiry and a random nonce, so that every node sharing the key reads it and nothing else can. The
//! cookie is `HttpOnly`, `SameSite=Strict`, `Path=/console`, `Secure` under TLS, and lasts
//! [`crate::Settings::session_ttl`]. Every request checks the token again, so a revoked or expired token signs the
//! session out at once. Every form carries a CSRF token derived from the session's nonce ([`Form`]), checked in
//! constant time, and a form posted from another origin is refused.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idplane_core::access;
use idplane_core::token::{Secret, Token, TokenScope};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Console;
use crate::error::PageError;
use crate::page::{Chrome, render};

/// The session cookie's name.
pub const COOKIE: &str = "idplane_console";
/// The sign-in form's own CSRF cookie (there is no session yet to derive one from).
const SIGNIN_COOKIE: &str = "idplane_console_signin";
/// The name of the CSRF field of every form.
pub const CSRF_FIELD: &str = "_csrf";
/// Most bytes a form's body may have.
const FORM_LIMIT: usize = 4 << 20;

/// What the cookie holds, sealed.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The token.
    t: String,
    /// Expiry, in Unix seconds.
    e: i64,
    /// A random nonce, from which the CSRF token is derived.
    n: String,
}

/// A signed-in request: the token (checked against the store on this request), its CSRF token, and where the
/// request came to (for the URLs the API builds).
#[derive(Clone)]
pub struct Session {
    secret: String,
    pub token: Token,
    pub csrf: String,
    /// The request's `Host` and `X-Forwarded-*` headers, passed on to the API.
    pub forwarded: HeaderMap,
    /// Whether the cookie must be `Secure`.
    pub secure: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("token", &self.token.id).finish_non_exhaustive()
    }
}

impl Session {
    /// The signed-in token, to call the API with.
    pub fn bearer(&self) -> &str {
        &self.secret
    }

    /// The account the token belongs to.
    pub fn account_id(&self) -> &str {
        self.token.scope.account_id()
    }

    /// The workspace of a workspace token.
    pub fn workspace_id(&self) -> Option<i64> {
        match self.token.scope {
            TokenScope::Workspace { workspace_id, .. } => Some(workspace_id),
            TokenScope::Account { .. } => None,
        }
    }

    /// Whether `value` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, value: &str) -> bool {
        self.csrf.as_bytes().ct_eq(value.as_bytes()).into()
    }

    /// idplane's APIs, as this session's token.
    pub fn api<'a>(&'a self, console: &'a Console) -> crate::api::Api<'a> {
        crate::api::Api::new(console, self)
    }

    /// The frame of a page for this session.
    pub fn chrome(&self, title: impl Into<String>, section: &'static str) -> Chrome {
        Chrome::new(title, section, self)
    }
}

fn csrf_of(nonce: &str) -> String {
    hex::encode(Sha256::digest(format!("idplane console csrf\0{nonce}").as_bytes()))
}

fn random_hex() -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| PageError::internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether the request reached the console over TLS (directly, or through a proxy that says so).
fn secure(console: &Console, headers: &HeaderMap) -> bool {
    console.state.tls
        || console.state.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
        || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("idplane_console=; Max-Age=0"))
}

fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in [header::HOST.as_str(), "x-forwarded-host", "x-forwarded-proto"] {
        if let Some(v) = headers.get(name) {
            out.insert(axum::http::HeaderName::from_static(name), v.clone());
        }
    }
    out
}

/// The token `secret` stands for, when it is valid now.
async fn check(console: &Console, secret: &str) -> Result<Token, String> {
    let hash = Secret::new(secret.to_string()).hash();
    let now = console.state.clock.now();
    let token = match console.state.auth_cache.token(&hash) {
        Some(token) => token,
        None => {
            let token = access::token_of(console.state.store.as_ref(), &hash).await.map_err(|e| e.to_string())?;
            console.state.auth_cache.put_token(hash, &token);
            token
        }
    };
    access::unexpired(&token, now).map_err(|e| e.to_string())?;
    Ok(token)
}

/// Why a request has no session: it is sent to the sign-in page (a script's fragment request gets a 401).
pub struct SignInFirst {
    next: String,
    fragment: bool,
    reason: Option<&'static str>,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        if self.fragment {
            return (StatusCode::UNAUTHORIZED, "sign in again").into_response();
        }
        let mut to = format!("/console/signin?next={}", urlencode(&self.next));
        if let Some(reason) = self.reason {
            to.push_str("&reason=");
            to.push_str(reason);
        }
        let mut response = Redirect::to(&to).into_response();
        if self.reason.is_some() {
            response.headers_mut().append(header::SET_COOKIE, set_cookie(COOKIE, "", 0, false));
        }
        response
    }
}

/// Percent-encodes a query value.
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)]).map(|s| s[1..].to_string()).unwrap_or_default()
}

impl FromRequestParts<Console> for Session {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let next = match next {
            "/" => "/console".to_string(),
            n if n.starts_with("/?") => format!("/console{}", &n[1..]),
            n => format!("/console{n}"),
        };
        let fragment = parts.headers.contains_key("x-console-fragment");
        let rejected = |reason| SignInFirst { next: next.clone(), fragment, reason };
        let Some(value) = cookie(&parts.headers, COOKIE).filter(|v| !v.is_empty()) else {
            return Err(rejected(None));
        };
        let opened = URL_SAFE_NO_PAD
            .decode(value)
            .ok()
            .and_then(|sealed| console.state.secrets.open("console", "session", "v1", &sealed).ok())
            .and_then(|json| serde_json::from_str::<Sealed>(&json).ok());
        let Some(sealed) = opened else { return Err(rejected(Some("invalid"))) };
        if sealed.e <= console.state.clock.now().unix_timestamp() {
            return Err(rejected(Some("expired")));
        }
        let Ok(token) = check(console, &sealed.t).await else { return Err(rejected(Some("revoked"))) };
        Ok(Session {
            csrf: csrf_of(&sealed.n),
            secret: sealed.t,
            token,
            forwarded: forwarded(&parts.headers),
            secure: secure(console, &parts.headers),
        })
    }
}

/// A form posted by a signed-in user: its CSRF field checked, its origin checked, the rest deserialized into `T`.
pub struct Form<T>(pub Session, pub T);

impl<T: DeserializeOwned> FromRequest<Console> for Form<T> {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, console).await.map_err(IntoResponse::into_response)?;
        same_origin(&parts.headers).map_err(IntoResponse::into_response)?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| PageError::bad_request("The form is too large (at most 4 MiB).").into_response())?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::bad_request(format!("The form could not be read: {e}")).into_response())?;
        let sent = pairs.iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.as_str()).unwrap_or("");
        if !session.csrf_matches(sent) {
            return Err(PageError::csrf().into_response());
        }
        let fields: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != CSRF_FIELD).collect();
        let encoded = serde_urlencoded::to_string(&fields).unwrap_or_default();
        let value = serde_urlencoded::from_bytes::<T>(Bytes::from(encoded).as_ref())
            .map_err(|e| PageError::bad_request(format!("The form is missing a field or has a wrong one: {e}")))
            .map_err(IntoResponse::into_response)?;
        Ok(Form(session, value))
    }
}

/// Refuses a request whose `Origin` (sent by browsers with every POST) is not the host it was sent to.
pub fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(PageError::new(StatusCode::FORBIDDEN, "Refused", "This form was posted from another site."))
    }
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    reason: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "signin.html")]
struct SignInPage {
    csrf: String,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

/// Only the console's own pages are places to go back to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("/console//") && !n.contains('\\') => n.to_string(),
        _ => "/console".to_string(),
    }
}

fn signin_form(
    console: &Console,
    headers: &HeaderMap,
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let csrf = random_hex()?;
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let mut response = render(status, &SignInPage { csrf: csrf.clone(), next, error, notice })?;
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, &csrf, 1800, secure(console, headers)));
    Ok(response)
}

pub async fn signin_page(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Result<Response, PageError> {
    let notice = match q.reason.as_deref() {
        Some("expired") => Some("Your session has expired. Sign in again."),
        Some("revoked") => Some("The token of your session is no longer valid (revoked or expired). Sign in again."),
        Some("invalid") => Some("Your session could not be read (the server's key changed?). Sign in again."),
        Some("signedout") => Some("You are signed out."),
        _ => None,
    };
    signin_form(&console, &headers, safe_next(q.next.as_deref()), None, notice)
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

pub async fn signin(
    State(console): State<Console>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<SignInForm>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return Err(PageError::csrf());
    }
    let next = safe_next(form.next.as_deref());
    let secret = form.token.trim().trim_start_matches("Bearer ").trim().to_string();
    if secret.is_empty() {
        return signin_form(&console, &headers, next, Some("Paste a token to sign in.".into()), None);
    }
    if let Err(why) = check(&console, &secret).await {
        let message = format!(
            "That token cannot sign in ({why}). Paste the admin token printed at first start, or a token made with \
             `idplane token create`."
        );
        return signin_form(&console, &headers, next, Some(message), None);
    }
    let ttl = console.settings.session_ttl.as_secs() as i64;
    let sealed = Sealed { t: secret, e: console.state.clock.now().unix_timestamp() + ttl, n: random_hex()? };
    let json = serde_json::to_string(&sealed).map_err(|e| PageError::internal(e.to_string()))?;
    let bytes = console
        .state
        .secrets
        .seal("console", "session", "v1", &json)
        .map_err(|e| PageError::internal(e.to_string()))?;
    let secure = secure(&console, &headers);
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(COOKIE, &URL_SAFE_NO_PAD.encode(bytes), ttl, secure));
    response.headers_mut().append(header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, "", 0, secure));
    Ok(response)
}

#[derive(Deserialize)]
pub struct Nothing {}

pub async fn signout(Form(session, Nothing {}): Form<Nothing>) -> Response {
    let mut response = Redirect::to("/console/signin?reason=signedout").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(COOKIE, "", 0, session.secure));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_places_to_return_to() {
        assert_eq!(safe_next(Some("/console/apps")), "/console/apps");
        for bad in [None, Some("https://evil.example/"), Some("//evil.example/"), Some("/console//evil"), Some("/v1.0")]
        {
            assert_eq!(safe_next(bad), "/console", "{bad:?}");
        }
    }

    #[test]
    fn a_posted_form_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(same_origin(&headers).is_err());
    }
}
