//! Request bodies and SCIM responses: media types, size limits, JSON parsing with SCIM errors, ETag headers.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use idplane_scim::{ScimError, ScimType};
use serde_json::Value;

use crate::error::ApiError;

pub const SCIM_JSON: &str = "application/scim+json";

/// Reads a JSON request body of at most `limit` bytes. Accepts `application/json` and `application/scim+json` (with
/// any parameters, such as `charset=utf-8`) and a missing content type.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .map_err(|_| {
                ScimError::invalid_syntax(
                    "the Content-Type header holds bytes that are not ASCII; send application/scim+json or application/json",
                )
            })?
            .to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !(essence == "application/json" || essence == "application/scim+json" || essence.is_empty()) {
            return Err(ScimError::new(
                415,
                None,
                format!("send the body as application/scim+json or application/json, not {essence}"),
            )
            .into());
        }
    }
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        ScimError::new(413, None, format!("the request body is larger than the limit of {limit} bytes"))
    })?;
    if bytes.is_empty() {
        return Err(ScimError::invalid_syntax("the request needs a JSON body").into());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::bad_request(ScimType::InvalidSyntax, format!("the body is not valid JSON: {e}")).into())
}

/// A SCIM JSON response with an optional ETag.
pub fn scim_json(status: StatusCode, body: &Value, etag: Option<&str>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// The value of a request header as a string, if present and valid.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
