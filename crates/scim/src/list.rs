//! Listing and searching (RFC 7644 §3.4.2 query parameters, §3.4.3 `POST /.search`), the ListResponse message, and
//! cursor pagination (RFC 9865).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Result, ScimError, ScimType};
use crate::filter::{AttrPath, Filter};
use crate::schema::{URN_LIST_RESPONSE, URN_SEARCH_REQUEST};

/// The parameters of a list or search request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    /// `None` when the client gave none (the server picks its default); negative values are read as 0.
    pub count: Option<usize>,
    pub sort_by: Option<AttrPath>,
    pub sort_descending: bool,
    /// The comma-separated lists, for [`crate::projection::Projection::parse`].
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    /// RFC 9865: `Some("")` asks for the first page of a cursor-paginated listing.
    pub cursor: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: None,
            start_index: 1,
            count: None,
            sort_by: None,
            sort_descending: false,
            attributes: None,
            excluded_attributes: None,
            cursor: None,
        }
    }
}

impl ListQuery {
    /// Reads the decoded query parameters of `GET /Users` and the like. Names are case-insensitive; unknown parameters
    /// are ignored (Entra appends flags such as `aadOptscim062020` to every URL). Empty values count as absent, except
    /// `cursor`. Repeated `attributes`/`excludedAttributes` add up; for the others the last one wins.
    pub fn from_query(pairs: &[(String, String)]) -> Result<ListQuery> {
        let mut q = ListQuery::default();
        for (name, value) in pairs {
            let is = |n: &str| name.eq_ignore_ascii_case(n);
            if is("cursor") {
                q.cursor = Some(value.clone());
                continue;
            }
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if is("filter") {
                q.filter = Some(Filter::parse(value)?);
            } else if is("startIndex") {
                q.start_index = start_index(parse_int("startIndex", value)?);
            } else if is("count") {
                q.count = Some(count(parse_int("count", value)?));
            } else if is("sortBy") {
                q.sort_by = Some(AttrPath::parse(value)?);
            } else if is("sortOrder") {
                q.sort_descending = sort_descending(value)?;
            } else if is("attributes") {
                append_list(&mut q.attributes, value);
            } else if is("excludedAttributes") {
                append_list(&mut q.excluded_attributes, value);
            }
        }
        Ok(q)
    }

    /// Reads a SearchRequest body (RFC 7644 §3.4.3). Keys are case-insensitive; `attributes` and
    /// `excludedAttributes` may be arrays of names or comma-separated strings; numbers may be JSON numbers or numeric
    /// strings. `schemas` may be absent, but when present must name the SearchRequest URN.
    pub fn from_search_request(body: &Value) -> Result<ListQuery> {
        let Value::Object(body) = body else {
            return Err(ScimError::invalid_syntax("the search body must be a JSON object (a SearchRequest message)"));
        };
        let mut q = ListQuery::default();
        for (key, value) in body {
            let is = |n: &str| key.eq_ignore_ascii_case(n);
            if value.is_null() {
                continue;
            }
            if is("schemas") {
                let names = |v: &Value| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(URN_SEARCH_REQUEST));
                let ok = match value {
                    Value::Array(a) => a.iter().any(names),
                    other => names(other),
                };
                if !ok {
                    return Err(ScimError::invalid_syntax(format!("'schemas' must contain \"{URN_SEARCH_REQUEST}\"")));
                }
            } else if is("filter") {
                let f = string(key, value)?;
                if !f.trim().is_empty() {
                    q.filter = Some(Filter::parse(f)?);
                }
            } else if is("startIndex") {
                q.start_index = start_index(json_int(key, value)?);
            } else if is("count") {
                q.count = Some(count(json_int(key, value)?));
            } else if is("sortBy") {
                let s = string(key, value)?;
                if !s.trim().is_empty() {
                    q.sort_by = Some(AttrPath::parse(s)?);
                }
            } else if is("sortOrder") {
                q.sort_descending = sort_descending(string(key, value)?)?;
            } else if is("attributes") {
                q.attributes = json_list(key, value)?;
            } else if is("excludedAttributes") {
                q.excluded_attributes = json_list(key, value)?;
            } else if is("cursor") {
                q.cursor = Some(string(key, value)?.to_string());
            }
        }
        Ok(q)
    }
}

fn start_index(n: i64) -> usize {
    usize::try_from(n.max(1)).unwrap_or(usize::MAX)
}

fn count(n: i64) -> usize {
    usize::try_from(n.max(0)).unwrap_or(usize::MAX)
}

/// An integer parameter. Values beyond `i64` saturate rather than fail: `count=99999999999999999999` asks for
/// everything, and the server caps it anyway.
fn parse_int(name: &str, value: &str) -> Result<i64> {
    if let Ok(n) = value.parse::<i64>() {
        return Ok(n);
    }
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(if value.starts_with('-') { i64::MIN } else { i64::MAX });
    }
    Err(ScimError::invalid_value(format!("'{name}' must be an integer, not \"{value}\"")))
}

fn json_int(name: &str, value: &Value) -> Result<i64> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.is_u64() {
                Ok(i64::MAX)
            } else {
                Err(ScimError::invalid_value(format!("'{name}' must be an integer, not {n}")))
            }
        }
        Value::String(s) => parse_int(name, s.trim()),
        other => Err(ScimError::invalid_value(format!("'{name}' must be an integer, not {other}"))),
    }
}

/// `ascending`/`descending` in any case (the Databricks SDKs send lower case, newer Databricks API docs upper case and
/// also `ORDER_UNSPECIFIED`, read here as the default, ascending).
fn sort_descending(value: &str) -> Result<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("ascending") || value.eq_ignore_ascii_case("order_unspecified") {
        Ok(false)
    } else if value.eq_ignore_ascii_case("descending") {
        Ok(true)
    } else {
        Err(ScimError::invalid_value(format!("'sortOrder' must be \"ascending\" or \"descending\", not \"{value}\"")))
    }
}

fn string<'a>(name: &str, value: &'a Value) -> Result<&'a str> {
    value.as_str().ok_or_else(|| ScimError::invalid_value(format!("'{name}' must be a string")))
}

fn append_list(list: &mut Option<String>, value: &str) {
    match list {
        Some(l) => {
            l.push(',');
            l.push_str(value);
        }
        None => *list = Some(value.to_string()),
    }
}

fn json_list(name: &str, value: &Value) -> Result<Option<String>> {
    let joined = match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let names: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let names = names.ok_or_else(|| ScimError::invalid_value(format!("'{name}' must be a list of names")))?;
            names.join(",")
        }
        _ => return Err(ScimError::invalid_value(format!("'{name}' must be a list of names"))),
    };
    Ok(if joined.trim().is_empty() { None } else { Some(joined) })
}

/// The ListResponse message (RFC 7644 §3.4.2). `start_index` is `Some` for index pagination and `None` for cursor
/// pagination (RFC 9865), which instead carries `nextCursor` (absent on the last page) and `previousCursor`. The
/// key is exactly `Resources` (the Python SDK looks for it) and every number is a JSON number (the Go SDK decodes
/// them into `int64`).
pub fn list_response(
    resources: Vec<Value>,
    total: usize,
    start_index: Option<usize>,
    next_cursor: Option<String>,
    previous_cursor: Option<String>,
) -> Value {
    let mut m = Map::new();
    m.insert("schemas".into(), Value::Array(vec![Value::String(URN_LIST_RESPONSE.into())]));
    m.insert("totalResults".into(), Value::from(total));
    if let Some(start) = start_index {
        m.insert("startIndex".into(), Value::from(start));
    }
    m.insert("itemsPerPage".into(), Value::from(resources.len()));
    if let Some(next) = next_cursor {
        m.insert("nextCursor".into(), Value::String(next));
    }
    if let Some(previous) = previous_cursor {
        m.insert("previousCursor".into(), Value::String(previous));
    }
    m.insert("Resources".into(), Value::Array(resources));
    Value::Object(m)
}

/// Longest cursor accepted, in characters; a cursor is the server's own small JSON, so anything longer is not one.
const MAX_CURSOR_LEN: usize = 4096;

/// Encodes the server's pagination state as an opaque cursor (base64url of its JSON, URL-safe without escaping).
pub fn encode_cursor(state: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.to_string())
}

/// Decodes a cursor made by [`encode_cursor`]; anything else is 400 `invalidCursor`. The caller still checks that the
/// state is one it issued for this listing.
pub fn decode_cursor(cursor: &str) -> Result<Value> {
    let invalid = || ScimError::bad_request(ScimType::InvalidCursor, "the cursor is not one this server issued");
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(cursor.trim()).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

#[cfg(test)]
#[allow(clippy::panic)] // A failing test panics; these helpers say why.
mod tests {
    use serde_json::json;

    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn query(q: &[(&str, &str)]) -> ListQuery {
        match ListQuery::from_query(&pairs(q)) {
            Ok(q) => q,
            Err(e) => panic!("{e}"),
        }
    }

    fn search(body: Value) -> ListQuery {
        match ListQuery::from_search_request(&body) {
            Ok(q) => q,
            Err(e) => panic!("{e}"),
        }
    }

    fn path(s: &str) -> AttrPath {
        match AttrPath::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults() {
        let q = query(&[]);
        assert_eq!(q, ListQuery::default());
        assert_eq!(q.start_index, 1);
        assert_eq!(q.count, None);
    }

    #[test]
    fn databricks_sdk_query() {
        // As observed on the wire, after form decoding.
        let q = query(&[
            ("excludedAttributes", "roles,groups"),
            ("filter", "userName eq \"a+b@x.com\" and active eq true"),
            ("sortBy", "userName"),
            ("sortOrder", "descending"),
            ("startIndex", "1"),
            ("count", "10000"),
        ]);
        assert!(q.filter.is_some());
        assert_eq!(q.excluded_attributes.as_deref(), Some("roles,groups"));
        assert_eq!(q.sort_by, Some(path("userName")));
        assert!(q.sort_descending);
        assert_eq!((q.start_index, q.count), (1, Some(10000)));
    }

    #[test]
    fn entra_query_with_flags() {
        let q = query(&[
            ("excludedAttributes", "members"),
            ("filter", "displayName eq \"Sales\""),
            ("aadOptscim062020", ""),
            ("AzureAdScimPatch2017", "1"),
        ]);
        assert_eq!(q.excluded_attributes.as_deref(), Some("members"));
        assert!(q.filter.is_some());
    }

    #[test]
    fn names_are_case_insensitive_and_values_lenient() {
        let q = query(&[
            ("STARTINDEX", "0"),
            ("Count", "-5"),
            ("SORTORDER", "ASCENDING"),
            ("Attributes", "userName"),
            ("attributes", "emails"),
            ("sortby", "name.givenName"),
        ]);
        assert_eq!((q.start_index, q.count), (1, Some(0)));
        assert!(!q.sort_descending);
        assert_eq!(q.attributes.as_deref(), Some("userName,emails"));
        assert_eq!(q.sort_by, Some(path("name.givenName")));
        for order in ["ORDER_UNSPECIFIED", "Ascending"] {
            assert!(!query(&[("sortOrder", order)]).sort_descending);
        }
        assert!(query(&[("sortOrder", "DESCENDING")]).sort_descending);
        let q = query(&[("startIndex", "-3"), ("count", "99999999999999999999999"), ("filter", " ")]);
        assert_eq!((q.start_index, q.count, q.filter), (1, Some(count(i64::MAX)), None));
    }

    #[test]
    fn bad_parameters() {
        for (name, value, t) in [
            ("startIndex", "abc", ScimType::InvalidValue),
            ("count", "1.5", ScimType::InvalidValue),
            ("count", "ten", ScimType::InvalidValue),
            ("sortOrder", "up", ScimType::InvalidValue),
            ("filter", "userName eq", ScimType::InvalidFilter),
        ] {
            let r = ListQuery::from_query(&pairs(&[(name, value)]));
            assert_eq!(r.map(|_| ()).map_err(|e| e.scim_type), Err(Some(t)), "{name}={value}");
        }
    }

    #[test]
    fn cursor_parameter() {
        assert_eq!(query(&[("cursor", "")]).cursor.as_deref(), Some(""));
        assert_eq!(query(&[("cursor", "abc")]).cursor.as_deref(), Some("abc"));
        assert_eq!(query(&[("count", "5")]).cursor, None);
    }

    #[test]
    fn search_request() {
        let q = search(json!({
            "schemas": [URN_SEARCH_REQUEST],
            "attributes": ["displayName", "userName"],
            "excludedAttributes": "groups, roles",
            "filter": "displayName sw \"smith\"",
            "startIndex": 11,
            "count": "10",
            "sortBy": "userName",
            "sortOrder": "Descending",
            "cursor": ""
        }));
        assert_eq!(q.attributes.as_deref(), Some("displayName,userName"));
        assert_eq!(q.excluded_attributes.as_deref(), Some("groups, roles"));
        assert!(q.filter.is_some());
        assert_eq!((q.start_index, q.count), (11, Some(10)));
        assert!(q.sort_descending);
        assert_eq!(q.cursor.as_deref(), Some(""));
        assert_eq!(
            search(json!({"STARTINDEX": -1, "count": -1, "filter": null})),
            ListQuery { count: Some(0), ..ListQuery::default() }
        );
        assert_eq!(search(json!({})), ListQuery::default());
        for body in [
            json!([]),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            json!({"count": 1.5}),
            json!({"count": true}),
            json!({"attributes": [1]}),
            json!({"filter": 3}),
            json!({"sortOrder": "sideways"}),
        ] {
            let r = ListQuery::from_search_request(&body);
            assert!(r.is_err(), "{body} gave {r:?}");
        }
    }

    #[test]
    fn list_response_shape() {
        let r = list_response(vec![json!({"id": "1"})], 25, Some(11), None, None);
        assert_eq!(
            r.to_string(),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":25,"startIndex":11,"itemsPerPage":1,"Resources":[{"id":"1"}]}"#
        );
        // Entra's no-match answer.
        assert_eq!(
            list_response(vec![], 0, Some(1), None, None),
            json!({"schemas": [URN_LIST_RESPONSE], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
        );
        let r = list_response(vec![json!({"id": "1"})], 3, None, Some("n".into()), Some("p".into()));
        assert_eq!(
            r,
            json!({"schemas": [URN_LIST_RESPONSE], "totalResults": 3, "itemsPerPage": 1, "nextCursor": "n",
                   "previousCursor": "p", "Resources": [{"id": "1"}]})
        );
        assert!(list_response(vec![], 3, None, None, None).get("startIndex").is_none());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let state = json!({"after": "user-42", "filter": "userName sw \"a\"", "n": 7});
        let c = encode_cursor(&state);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{c}");
        assert_eq!(decode_cursor(&c), Ok(state));
        for bad in ["not a cursor!", "e30", "%%%", "aGVsbG8", &"A".repeat(5000)] {
            let r = decode_cursor(bad);
            // "e30" is `{}`: valid JSON, so it decodes; the caller rejects states it did not issue.
            if bad == "e30" {
                assert_eq!(r, Ok(json!({})));
                continue;
            }
            assert_eq!(r.map_err(|e| (e.status, e.scim_type)), Err((400, Some(ScimType::InvalidCursor))), "{bad}");
        }
    }
}
