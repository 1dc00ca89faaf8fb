//! `POST /Bulk` (RFC 7644 §3.7): operations applied in order, `bulkId` references resolved to the ids of resources
//! created earlier in the same request, and `failOnErrors` honoured. Each operation is atomic on its own; the
//! request as a whole is not (the RFC does not ask it to be).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use idplane_core::audit::Actor;
use idplane_core::identities::Target;
use idplane_core::principal::PrincipalKind;
use idplane_scim::schema::{URN_BULK_REQUEST, URN_BULK_RESPONSE};
use idplane_scim::{ScimError, ScimType};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::body::{read_json, scim_json};
use crate::context::Ctx;
use crate::error::ApiError;

pub async fn bulk(State(s): State<AppState>, ctx: Ctx, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    ctx.require_admin()?;
    let request = read_json(&headers, body, s.limits.bulk_max_payload_bytes).await?;
    if let Some(schemas) = request.get("schemas").and_then(Value::as_array)
        && !schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(URN_BULK_REQUEST)))
    {
        return Err(
            ScimError::invalid_syntax(format!("a bulk request's schemas must contain {URN_BULK_REQUEST}")).into()
        );
    }
    let ops = field(&request, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a bulk request needs an \"Operations\" array"))?;
    if ops.len() > s.limits.bulk_max_operations {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "a bulk request may hold at most {} operations; this one has {}",
                s.limits.bulk_max_operations,
                ops.len()
            ),
        )
        .into());
    }
    let fail_on_errors = match field(&request, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| ScimError::invalid_value("failOnErrors must be a positive integer"))?,
        ),
    };
    // Every operation is recorded as made in the bulk request, with its request id.
    let actor = ctx.actor();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut errors = 0u64;
    for op in ops {
        let outcome = run(&s, &ctx, &actor, op, &mut ids).await;
        let mut result = Map::new();
        let method = field(op, "method").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
        result.insert("method".into(), json!(method));
        if let Some(bulk_id) = field(op, "bulkId").and_then(Value::as_str) {
            result.insert("bulkId".into(), json!(bulk_id));
        }
        match outcome {
            Ok(done) => {
                if let Some(location) = done.location {
                    result.insert("location".into(), json!(location));
                }
                if let Some(version) = done.version {
                    result.insert("version".into(), json!(version));
                }
                result.insert("status".into(), json!(done.status.to_string()));
            }
            Err(e) => {
                errors += 1;
                let e = e.describe();
                result.insert("status".into(), json!(e.status.to_string()));
                result.insert("response".into(), e.to_json());
            }
        }
        results.push(Value::Object(result));
        if fail_on_errors.is_some_and(|max| errors >= max) {
            break;
        }
    }
    Ok(scim_json(StatusCode::OK, &json!({"schemas": [URN_BULK_RESPONSE], "Operations": results}), None))
}

struct Done {
    status: u16,
    location: Option<String>,
    version: Option<String>,
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

async fn run(
    s: &AppState,
    ctx: &Ctx,
    actor: &Actor,
    op: &Value,
    ids: &mut HashMap<String, String>,
) -> Result<Done, ApiError> {
    let method = field(op, "method")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_syntax("each bulk operation needs a \"method\""))?
        .to_ascii_uppercase();
    let path = field(op, "path")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_syntax("each bulk operation needs a \"path\""))?;
    let path = resolve_str(path, ids)?;
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let endpoint = segments.next().unwrap_or_default();
    let id = segments.next().filter(|s| !s.is_empty());
    let kind = [PrincipalKind::User, PrincipalKind::Group, PrincipalKind::ServicePrincipal]
        .into_iter()
        .find(|k| k.endpoint().eq_ignore_ascii_case(endpoint))
        .ok_or_else(|| ScimError::invalid_path(format!("no resource endpoint \"/{endpoint}\"")))?;
    let t = Target { scope: &ctx.scope, kind, base_url: &ctx.base_url };
    let version = field(op, "version").and_then(Value::as_str);
    let data = || -> Result<Value, ApiError> {
        let data =
            field(op, "data").ok_or_else(|| ScimError::invalid_syntax(format!("a bulk {method} needs \"data\"")))?;
        Ok(resolve(data, ids)?)
    };
    match (method.as_str(), id) {
        ("POST", None) => {
            let bulk_id = field(op, "bulkId").and_then(Value::as_str);
            if bulk_id.is_none() {
                return Err(ScimError::invalid_syntax("a bulk POST needs a \"bulkId\"").into());
            }
            let r = s.identities.create(&t, &data()?, ctx.now, actor).await?;
            if let (Some(bulk_id), Some(id)) = (bulk_id, r.body.get("id").and_then(Value::as_str)) {
                ids.insert(bulk_id.to_string(), id.to_string());
            }
            Ok(Done { status: 201, location: Some(r.location), version: Some(r.etag) })
        }
        ("PUT", Some(id)) => {
            let r = s.identities.replace(&t, id, &data()?, version, ctx.now, actor).await?;
            Ok(Done { status: 200, location: Some(r.location), version: Some(r.etag) })
        }
        ("PATCH", Some(id)) => {
            let c = s.identities.patch(&t, id, &data()?, version, ctx.now, actor).await?;
            let location = format!("{}/{}/{}", ctx.base_url, kind.endpoint(), c.id);
            Ok(Done { status: 200, location: Some(location), version: Some(c.etag) })
        }
        ("DELETE", Some(id)) => {
            s.identities.delete(&t, id, version, ctx.now, actor).await?;
            let location = format!("{}/{}/{}", ctx.base_url, kind.endpoint(), id);
            Ok(Done { status: 204, location: Some(location), version: None })
        }
        (m @ ("PUT" | "PATCH" | "DELETE"), None) => {
            Err(ScimError::invalid_path(format!("a bulk {m} needs a path with an id, like /{endpoint}/<id>")).into())
        }
        ("POST", Some(_)) => Err(ScimError::invalid_path("a bulk POST goes to a collection, like /Users").into()),
        (m, _) => {
            Err(ScimError::invalid_syntax(format!("unsupported bulk method \"{m}\"; use POST, PUT, PATCH or DELETE"))
                .into())
        }
    }
}

/// Replaces `bulkId:<id>` references with the ids they stand for, everywhere in `v`.
fn resolve(v: &Value, ids: &HashMap<String, String>) -> Result<Value, ScimError> {
    Ok(match v {
        Value::String(s) => Value::String(resolve_str(s, ids)?),
        Value::Array(items) => Value::Array(items.iter().map(|i| resolve(i, ids)).collect::<Result<_, _>>()?),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(k.clone(), resolve(v, ids)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn resolve_str(s: &str, ids: &HashMap<String, String>) -> Result<String, ScimError> {
    let Some(pos) = s.find("bulkId:") else { return Ok(s.to_string()) };
    let reference = &s[pos + "bulkId:".len()..];
    let key = reference.split('/').next().unwrap_or_default();
    let id = ids.get(key).ok_or_else(|| {
        ScimError::new(
            409,
            Some(ScimType::InvalidValue),
            format!("bulkId \"{key}\" does not name a resource created by an earlier operation of this request"),
        )
    })?;
    Ok(format!("{}{}{}", &s[..pos], id, &reference[key.len()..]))
}
