//! Reading what targets answer, tolerating what real servers send: `application/json` as well as
//! `application/scim+json` (the body is read as JSON whatever its type), a ListResponse without `schemas`, with
//! `totalResults` as a string or keys in another case, a bare JSON array for a discovery list, and error bodies in
//! the SCIM shape (`status`, `scimType`, `detail`) or Databricks' (`error_code`, `message`).

use std::time::Duration;

use idplane_scim::schema::URN_LIST_RESPONSE;
use serde_json::{Map, Value};

use crate::error::ErrorResponse;
use crate::transport::HttpResponse;

/// How many characters of a body messages quote.
pub const BODY_START_CHARS: usize = 300;

/// One page of a listing (RFC 7644 §3.4.2 ListResponse).
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// `totalResults`; the number of resources when a server left it out.
    pub total_results: u64,
    /// `startIndex` (1-based), when the server sent it.
    pub start_index: Option<u64>,
    /// `itemsPerPage`, when the server sent it.
    pub items_per_page: Option<u64>,
    /// `Resources` (absent or `null` reads as none).
    pub resources: Vec<Value>,
    /// `nextCursor` (RFC 9865), when the server pages by cursor.
    pub next_cursor: Option<String>,
}

impl ListPage {
    /// Reads a ListResponse; the error says why `body` is not one.
    pub fn from_json(body: &Value) -> Result<ListPage, String> {
        let object = match body {
            // Some servers answer /Schemas and /ResourceTypes with a bare array.
            Value::Array(items) => {
                return Ok(ListPage {
                    total_results: items.len() as u64,
                    start_index: None,
                    items_per_page: None,
                    resources: items.clone(),
                    next_cursor: None,
                });
            }
            Value::Object(object) => object,
            other => return Err(format!("it is {}, not a JSON object", kind(other))),
        };
        if let Some(schemas) = get(object, "schemas") {
            let names_list = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(URN_LIST_RESPONSE));
            let ok = match schemas {
                Value::Array(items) => items.iter().any(names_list),
                other => names_list(other),
            };
            if !ok {
                return Err(format!("its schemas do not name {URN_LIST_RESPONSE}"));
            }
        }
        let total = get(object, "totalResults");
        let resources = get(object, "Resources");
        if total.is_none() && resources.is_none() {
            return Err("it has neither totalResults nor Resources".into());
        }
        let resources = match resources {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => return Err(format!("its Resources is {}, not an array", kind(other))),
        };
        let total_results = match total {
            None | Some(Value::Null) => resources.len() as u64,
            Some(v) => number(v).ok_or_else(|| format!("its totalResults is {v}, not a count"))?,
        };
        Ok(ListPage {
            total_results,
            start_index: get(object, "startIndex").and_then(number),
            items_per_page: get(object, "itemsPerPage").and_then(number),
            resources,
            next_cursor: get(object, "nextCursor").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// The `startIndex` of the next page, for a page asked for at `requested_start`; `None` on the last page (or an
    /// empty one, so that a server that miscounts cannot loop its reader forever).
    pub fn next_start_index(&self, requested_start: u64) -> Option<u64> {
        let next = self.start_index.unwrap_or(requested_start).max(1) + self.resources.len() as u64;
        (!self.resources.is_empty() && next <= self.total_results).then_some(next)
    }
}

/// A non-negative integer, as a JSON number or a numeric string (some servers send `"totalResults": "0"`).
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The value of `key`, matched case-insensitively (RFC 7643 §2.1: attribute names are case-insensitive).
fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a body as JSON; `Ok(None)` when it is empty (or only whitespace).
pub fn json(body: &[u8]) -> Result<Option<Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| format!("it is not JSON ({e})"))
}

/// The first [`BODY_START_CHARS`] characters of a body, as text with runs of whitespace made one space, and `…`
/// when there was more.
pub fn body_start(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let mut count = 0;
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        for c in word.chars() {
            if count == BODY_START_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
        if words.peek().is_some() {
            if count == BODY_START_CHARS {
                out.push('…');
                return out;
            }
            out.push(' ');
            count += 1;
        }
    }
    out
}

impl ErrorResponse {
    /// Reads an error answer: the SCIM Error fields or Databricks' ones when the body is a JSON object, whatever the
    /// content type says, and `Retry-After` when it is a number of seconds.
    pub fn from_response(response: &HttpResponse) -> ErrorResponse {
        let parsed = json(&response.body).ok().flatten();
        let object = parsed.as_ref().and_then(Value::as_object);
        let text = |key: &str| object.and_then(|o| get(o, key)).and_then(scalar_text);
        ErrorResponse {
            status: response.status,
            scim_type: text("scimType"),
            detail: text("detail").or_else(|| text("message")),
            error_code: text("error_code"),
            retry_after: response.header("retry-after").and_then(|v| v.trim().parse().ok()).map(Duration::from_secs),
            content_type: response.header("content-type").map(str::to_string),
            body_start: body_start(&response.body),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn page(v: Value) -> ListPage {
        ListPage::from_json(&v).unwrap()
    }

    #[test]
    fn list_responses_as_servers_send_them() {
        let p = page(
            json!({"schemas": [URN_LIST_RESPONSE], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []}),
        );
        assert_eq!((p.total_results, p.start_index, p.items_per_page, p.resources.len()), (0, Some(1), Some(0), 0));
        // No schemas, totalResults as a string, no Resources at all.
        let p = page(json!({"totalResults": "0"}));
        assert_eq!((p.total_results, p.resources.len()), (0, 0));
        // Keys in another case, Resources null.
        let p = page(json!({"TotalResults": 2, "resources": [{"id": "1"}, {"id": "2"}], "StartIndex": "3"}));
        assert_eq!((p.total_results, p.start_index, p.resources.len()), (2, Some(3), 2));
        assert_eq!(page(json!({"totalResults": 0, "Resources": null})).resources.len(), 0);
        // Resources without totalResults: the count of what came.
        assert_eq!(page(json!({"Resources": [{"id": "1"}]})).total_results, 1);
        // A bare array (some servers' /Schemas).
        assert_eq!(page(json!([{"id": "urn:x"}])).total_results, 1);
        assert_eq!(
            page(json!({"totalResults": 1, "Resources": [{}], "nextCursor": "abc"})).next_cursor.as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn what_is_not_a_list_response() {
        for (body, why) in [
            (
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "x"}),
                "schemas do not name",
            ),
            (json!({"id": "1"}), "neither totalResults nor Resources"),
            (json!({"totalResults": "many", "Resources": []}), "not a count"),
            (json!({"totalResults": 1, "Resources": {"id": "1"}}), "not an array"),
            (json!("ok"), "a string, not a JSON object"),
        ] {
            let e = ListPage::from_json(&body).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
    }

    #[test]
    fn paging() {
        let p = |start: Option<u64>, n: usize, total: u64| ListPage {
            total_results: total,
            start_index: start,
            items_per_page: None,
            resources: vec![Value::Null; n],
            next_cursor: None,
        };
        assert_eq!(p(Some(1), 2, 5).next_start_index(1), Some(3));
        assert_eq!(p(Some(3), 2, 5).next_start_index(3), Some(5));
        assert_eq!(p(Some(5), 1, 5).next_start_index(5), None);
        assert_eq!(p(None, 2, 5).next_start_index(3), Some(5));
        // A server that claims more but sends nothing ends the reading.
        assert_eq!(p(Some(1), 0, 5).next_start_index(1), None);
    }

    #[test]
    fn body_start_is_short_and_flat() {
        assert_eq!(body_start(b"{\n  \"detail\":  \"no\"\n}\n"), "{ \"detail\": \"no\" }");
        let long = "é".repeat(BODY_START_CHARS + 10);
        let start = body_start(long.as_bytes());
        assert_eq!(start.chars().count(), BODY_START_CHARS + 1);
        assert!(start.ends_with('…'));
        assert_eq!(body_start("a".repeat(BODY_START_CHARS).as_bytes()).chars().count(), BODY_START_CHARS);
        assert_eq!(body_start(b""), "");
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_bodies() {
        let scim = ErrorResponse::from_response(&response(
            409,
            &[("content-type", "application/scim+json")],
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"User already exists"}"#,
        ));
        assert_eq!(scim.status, 409);
        assert_eq!(scim.scim_type.as_deref(), Some("uniqueness"));
        assert_eq!(scim.detail.as_deref(), Some("User already exists"));
        assert_eq!(scim.content_type.as_deref(), Some("application/scim+json"));
        let databricks = ErrorResponse::from_response(&response(
            429,
            &[("Retry-After", "7")],
            r#"{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"Too many requests"}"#,
        ));
        assert_eq!(databricks.error_code.as_deref(), Some("REQUEST_LIMIT_EXCEEDED"));
        assert_eq!(databricks.detail.as_deref(), Some("Too many requests"));
        assert_eq!(databricks.retry_after, Some(Duration::from_secs(7)));
        let html =
            ErrorResponse::from_response(&response(403, &[("content-type", "text/html")], "<html>Forbidden</html>"));
        assert_eq!((html.detail, html.scim_type), (None, None));
        assert_eq!(html.body_start, "<html>Forbidden</html>");
    }
}
