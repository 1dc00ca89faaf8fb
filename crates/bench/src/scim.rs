//! What the benchmark sends: the users and groups it loads and creates, and how it reads ids back. Only RFC 7644
//! requests, so the same load runs against idplane and against any other SCIM server.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::http::{Connection, Response};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// The names of one run's resources, prefixed by a tag of the run so that a second run against the same server
/// does not collide with the first.
#[derive(Debug, Clone)]
pub struct Names {
    pub tag: String,
}

impl Names {
    pub fn new() -> Names {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Names { tag: format!("{:x}", (nanos as u64) & 0xff_ffff) }
    }

    pub fn user_name(&self, i: u64) -> String {
        format!("bench{}.user{i}@example.com", self.tag)
    }

    pub fn external_id(&self, i: u64) -> String {
        format!("bench{}-ext{i}", self.tag)
    }

    /// A user created during the POST phase (or the kill test), named apart from the loaded ones.
    pub fn new_user_name(&self, kind: &str, i: u64) -> String {
        format!("bench{}.{kind}{i}@example.com", self.tag)
    }

    pub fn group_name(&self, what: &str) -> String {
        format!("bench{} {what}", self.tag)
    }
}

/// A user as an identity provider sends it: userName, externalId, name, displayName and a work email.
pub fn user(user_name: &str, external_id: &str, i: u64) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": external_id,
        "displayName": format!("Bench User {i}"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

pub fn group(display_name: &str, member_ids: &[&str]) -> Value {
    let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": members})
}

pub fn add_members(member_ids: &[&str]) -> Value {
    let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": members}]})
}

pub fn replace_display_name(value: &str) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": value}]})
}

/// The id of a created resource: the last segment of its location, else the `id` of the body.
pub fn created_id(response: &Response) -> Result<String> {
    if let Some(id) = response.location.as_deref().and_then(id_of_location) {
        return Ok(id);
    }
    let body = response.json()?;
    body.get("id").and_then(Value::as_str).map(str::to_string).context("the created resource has no id")
}

pub fn id_of_location(location: &str) -> Option<String> {
    location.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty()).map(str::to_string)
}

/// What the server says of SCIM Bulk in its ServiceProviderConfig.
#[derive(Debug, Clone, Copy)]
pub struct BulkSupport {
    pub max_operations: usize,
    pub max_payload_bytes: usize,
}

pub async fn bulk_support(conn: &mut Connection) -> Result<Option<BulkSupport>> {
    let r = conn.call("GET", "/ServiceProviderConfig", None).await?;
    if !r.is_success() {
        bail!("GET /ServiceProviderConfig answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
    }
    let config = r.json()?;
    let bulk = &config["bulk"];
    if bulk["supported"] != json!(true) {
        return Ok(None);
    }
    let max_operations = bulk["maxOperations"].as_u64().unwrap_or(0) as usize;
    let max_payload_bytes = bulk["maxPayloadSize"].as_u64().unwrap_or(0) as usize;
    if max_operations == 0 || max_payload_bytes == 0 {
        return Ok(None);
    }
    Ok(Some(BulkSupport { max_operations, max_payload_bytes }))
}

/// Creates the users `first..first + docs.len()` in one Bulk request; returns their ids in order.
pub async fn bulk_create_users(conn: &mut Connection, first: u64, docs: &[Value]) -> Result<Vec<String>> {
    let ops: Vec<Value> = docs
        .iter()
        .enumerate()
        .map(|(k, doc)| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{}", first + k as u64), "data": doc}))
        .collect();
    let body = serde_json::to_vec(&json!({"schemas": [BULK_REQUEST], "Operations": ops}))?;
    let r = conn.call("POST", "/Bulk", Some(&body)).await?;
    if !r.is_success() {
        bail!("POST /Bulk answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
    }
    let answer = r.json()?;
    let results = answer["Operations"].as_array().context("the Bulk response has no Operations")?;
    let mut ids = vec![None; docs.len()];
    for result in results {
        let status = match &result["status"] {
            Value::String(s) => s.parse::<u16>().unwrap_or(0),
            Value::Number(n) => n.as_u64().unwrap_or(0) as u16,
            _ => 0,
        };
        if status != 201 {
            bail!("a Bulk POST failed: {result}");
        }
        let index = result["bulkId"]
            .as_str()
            .and_then(|b| b.strip_prefix('u'))
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|n| n.checked_sub(first))
            .map(|n| n as usize)
            .filter(|&n| n < docs.len())
            .with_context(|| format!("a Bulk result with an unknown bulkId: {result}"))?;
        let id =
            result["location"].as_str().and_then(id_of_location).with_context(|| format!("no location: {result}"))?;
        ids[index] = Some(id);
    }
    ids.into_iter()
        .enumerate()
        .map(|(k, id)| id.with_context(|| format!("the Bulk response says nothing of user {}", first + k as u64)))
        .collect()
}

/// The serialized size of a user inside a Bulk operation, to keep requests under the server's payload limit.
pub fn bulk_operation_size(doc: &Value) -> usize {
    // The operation's own keys and a bulkId add well under 100 bytes.
    doc.to_string().len() + 100
}
