//! JSON batching (`POST /v1.0/$batch`), as Graph has it: up to 20 requests in one, each answered in the batch's
//! response with its own id, status, headers and body. Requests run one after another in the order given, so a
//! `dependsOn` is always met by the time its request runs; a request whose dependency failed is answered 424 and
//! not run. Each runs through the Graph API exactly as if it had been sent alone, with the batch's token.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use idplane_provisioning::ProvisioningError;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::error::GraphError;
use super::{Caller, json_response, read_body};
use crate::AppState;

/// The most requests one batch may hold (Graph's limit).
pub const MAX_REQUESTS: usize = 20;
/// The largest body of one answer kept in the batch's response.
const MAX_ANSWER_BYTES: usize = 4 << 20;

fn invalid(detail: impl Into<String>) -> GraphError {
    ProvisioningError::invalid_property("requests", detail).into()
}

/// One request of the batch, checked.
struct Item {
    id: String,
    method: Method,
    path: String,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    depends_on: Vec<String>,
}

fn item(v: &Value, seen: &[String]) -> Result<Item, GraphError> {
    let id = match v.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(invalid("each request needs an \"id\"")),
    };
    if seen.contains(&id) {
        return Err(invalid(format!("the id \"{id}\" is used twice")));
    }
    let method = v
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .filter(|m| matches!(*m, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE))
        .ok_or_else(|| invalid(format!("request \"{id}\": \"method\" is GET, POST, PUT, PATCH or DELETE")))?;
    let url =
        v.get("url").and_then(Value::as_str).ok_or_else(|| invalid(format!("request \"{id}\" needs a \"url\"")))?;
    // Relative to the version (`/users/{id}`, `users`); an absolute URL of this API is taken by its path.
    let path = match url.find("/v1.0/") {
        Some(i) => url[i..].to_string(),
        None => format!("/v1.0/{}", url.trim_start_matches('/')),
    };
    if path.contains("$batch") {
        return Err(invalid(format!("request \"{id}\": a batch cannot hold a batch")));
    }
    let headers = v
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| h.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect())
        .unwrap_or_default();
    let depends_on = match v.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids.iter().filter_map(|d| d.as_str().map(str::to_string)).collect(),
        Some(_) => return Err(invalid(format!("request \"{id}\": \"dependsOn\" is a list of ids"))),
    };
    if let Some(d) = depends_on.iter().find(|d| !seen.contains(d)) {
        return Err(invalid(format!(
            "request \"{id}\" depends on \"{d}\", which is not an earlier request of the batch"
        )));
    }
    Ok(Item { id, method, path, body: v.get("body").cloned(), headers, depends_on })
}

pub async fn batch(
    State(s): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let body = read_body(&s, &headers, body).await?;
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return Err(invalid(
            "the body is {\"requests\": [{\"id\", \"method\", \"url\", \"body\"?, \"headers\"?, \"dependsOn\"?}]}",
        ));
    };
    if requests.len() > MAX_REQUESTS {
        return Err(invalid(format!("a batch holds at most {MAX_REQUESTS} requests, not {}", requests.len())));
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut seen = Vec::new();
    for r in requests {
        let i = item(r, &seen)?;
        seen.push(i.id.clone());
        items.push(i);
    }
    let router = crate::graph_router(s.clone());
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let mut failed: Vec<String> = Vec::new();
    let mut answers = Vec::with_capacity(items.len());
    for i in items {
        if i.depends_on.iter().any(|d| failed.contains(d)) {
            failed.push(i.id.clone());
            answers.push(json!({"id": i.id, "status": 424, "headers": {"Content-Type": "application/json"},
                "body": {"error": {"code": "FailedDependency", "message": "a request this one depends on failed; it was not run"}}}));
            continue;
        }
        let mut request = Request::builder().method(i.method).uri(&i.path);
        if let Some(a) = &authorization {
            request = request.header(header::AUTHORIZATION, a.clone());
        }
        for (k, v) in &i.headers {
            request = request.header(k.as_str(), v.as_str());
        }
        if let Some(host) = headers.get(header::HOST) {
            request = request.header(header::HOST, host.clone());
        }
        let request = match &i.body {
            Some(b) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => request.body(Body::empty()),
        }
        .map_err(|e| invalid(format!("request \"{}\": {e}", i.id)))?;
        let response =
            router.clone().oneshot(request).await.map_err(|e| invalid(format!("request \"{}\": {e}", i.id)))?;
        let status = response.status();
        if !status.is_success() {
            failed.push(i.id.clone());
        }
        answers.push(answer(&i.id, response).await);
    }
    Ok(json_response(StatusCode::OK, &json!({"responses": answers})))
}

/// One answer as the batch's response shows it.
async fn answer(id: &str, response: Response) -> Value {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for name in [header::CONTENT_TYPE, header::LOCATION, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name).and_then(|v: &HeaderValue| v.to_str().ok()) {
            headers.insert(name.to_string(), json!(v));
        }
    }
    let bytes = match response.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Default::default(),
    };
    let body = if bytes.is_empty() || bytes.len() > MAX_ANSWER_BYTES {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    json!({"id": id, "status": status, "headers": headers, "body": body})
}
