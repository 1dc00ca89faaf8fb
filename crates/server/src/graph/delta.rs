//! Delta queries (`GET /users/delta`, `/groups/delta`) over the tenant's change feed, as Graph's delta query works:
//! a first round pages through every object (`@odata.nextLink`) and ends with an `@odata.deltaLink`; following that
//! link later returns what changed since: changed objects whole, deleted ones as `{"id", "@removed": {"reason"}}`
//! (`changed` for the deleted items, which can come back; `deleted` when gone for good), and for groups the member
//! changes as `members@delta`. The round's position in the feed is taken before its first page, so an object changed
//! while a round pages through is delivered again in the next: at least once, never lost.
//!
//! Tokens are opaque to clients: `$skiptoken` continues a round, `$deltatoken` starts the next.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use base64::Engine;
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::directory::query::{DEFAULT_TOP, ObjectQuery};
use idplane_provisioning::directory::{self, ChangeKind, ObjectKind};
use serde_json::{Map, Value, json};

use super::Caller;
use super::error::GraphError;
use super::odata::Options;
use crate::AppState;

/// The most feed entries one page of changes reads.
const FEED_WINDOW: usize = 1000;

/// Where a delta round stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// Paging through every object: the feed position when the round began, and the last id sent.
    Initial { since: i64, after: Option<String> },
    /// Sending the changes after this feed position.
    Changes { after: i64 },
}

fn encode(p: &Position) -> String {
    let text = match p {
        Position::Initial { since, after } => format!("i:{since}:{}", after.as_deref().unwrap_or_default()),
        Position::Changes { after } => format!("c:{after}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn decode(token: &str) -> Result<Position, GraphError> {
    let bad = || {
        ProvisioningError::invalid_property(
            "$deltatoken",
            "the token is not one this server issued: start again from /delta",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("i"), Some(since), Some(after)) => Ok(Position::Initial {
            since: since.parse().map_err(|_| bad())?,
            after: (!after.is_empty()).then(|| after.to_string()),
        }),
        (Some("c"), Some(after), None) => Ok(Position::Changes { after: after.parse().map_err(|_| bad())? }),
        _ => Err(bad().into()),
    }
}

/// The link to the next request: a `$skiptoken` within a round, the `$deltatoken` that ends it.
fn link(c: &Caller, options: &Options, name: &str, p: &Position) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &options.pairs {
        let bare = k.trim_start_matches('$');
        if !bare.eq_ignore_ascii_case("skiptoken") && !bare.eq_ignore_ascii_case("deltatoken") {
            q.append_pair(k, v);
        }
    }
    q.append_pair(name, &encode(p));
    format!("{}?{}", c.url, q.finish())
}

/// One object as delta shows it, with its `$select`ed properties.
fn shown(
    o: &directory::DirectoryObject,
    select: Option<&[&'static directory::properties::Property]>,
) -> Map<String, Value> {
    o.render(select)
}

pub async fn users(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Result<Response, GraphError> {
    delta(&s, &c, ObjectKind::User, q.as_deref()).await
}

pub async fn groups(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Result<Response, GraphError> {
    delta(&s, &c, ObjectKind::Group, q.as_deref()).await
}

async fn delta(s: &AppState, c: &Caller, kind: ObjectKind, query: Option<&str>) -> Result<Response, GraphError> {
    let options = Options::parse(query)?;
    if options.filter.is_some() {
        return Err(ProvisioningError::Unsupported(
            "$filter is not supported on delta queries: filter what they return".into(),
        )
        .into());
    }
    let select = options.selected().map(|names| directory::select(kind, &names)).transpose()?;
    let token = options.pairs.iter().find(|(k, _)| {
        let bare = k.trim_start_matches('$');
        bare.eq_ignore_ascii_case("skiptoken") || bare.eq_ignore_ascii_case("deltatoken")
    });
    let position = match token {
        Some((_, t)) => decode(t)?,
        None => Position::Initial { since: s.provisioning.latest_change(&c.tenant.id).await?, after: None },
    };
    let context = format!(
        "{}/delta",
        match kind {
            ObjectKind::User => "users",
            ObjectKind::Group => "groups",
        }
    );
    let top = options.top.unwrap_or(DEFAULT_TOP);
    match position {
        Position::Initial { since, after } => {
            let q = ObjectQuery { after, top, ..ObjectQuery::of(kind) };
            let page = s.provisioning.list_objects(&c.tenant.id, &q).await?;
            let items = page.items.iter().map(|o| Value::Object(shown(o, select.as_deref()))).collect();
            let next = match (page.more, page.items.last()) {
                (true, Some(last)) => ("$skiptoken", Position::Initial { since, after: Some(last.id.clone()) }),
                _ => ("$deltatoken", Position::Changes { after: since }),
            };
            Ok(delta_page(c, &context, items, &options, next))
        }
        Position::Changes { after } => {
            let changes = s.provisioning.changes(&c.tenant.id, after, FEED_WINDOW).await?;
            let last_read = changes.last().map_or(after, |ch| ch.seq);
            let full = changes.len() == FEED_WINDOW;
            // What changed, by object, in feed order of first change; member changes of groups kept in order.
            let mut order: Vec<String> = Vec::new();
            let mut members: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
            for ch in changes.iter().filter(|ch| ch.object_kind == kind) {
                match ch.kind {
                    ChangeKind::Assigned | ChangeKind::Unassigned => continue,
                    ChangeKind::MemberAdded | ChangeKind::MemberRemoved => {
                        if let Some(m) = &ch.related_id {
                            members
                                .entry(ch.object_id.clone())
                                .or_default()
                                .push((m.clone(), ch.kind == ChangeKind::MemberAdded));
                        }
                    }
                    _ => {}
                }
                if !order.contains(&ch.object_id) {
                    order.push(ch.object_id.clone());
                }
            }
            let live = s.provisioning.objects(&c.tenant.id, &order).await?;
            let mut items = Vec::with_capacity(order.len());
            for id in &order {
                let mut item = match live.iter().find(|o| &o.id == id) {
                    Some(o) => shown(o, select.as_deref()),
                    None => {
                        let in_bin = s.provisioning.object(&c.tenant.id, Some(kind), id, true).await?.is_some();
                        let reason = if in_bin { "changed" } else { "deleted" };
                        let mut m = Map::new();
                        m.insert("id".into(), json!(id));
                        m.insert("@removed".into(), json!({"reason": reason}));
                        m
                    }
                };
                if let Some(changes) = members.get(id) {
                    item.insert("members@delta".into(), members_delta(s, c, changes).await?);
                }
                items.push(Value::Object(item));
            }
            let next = if full {
                ("$skiptoken", Position::Changes { after: last_read })
            } else {
                ("$deltatoken", Position::Changes { after: last_read })
            };
            Ok(delta_page(c, &context, items, &options, next))
        }
    }
}

/// A group's member changes as Graph writes them: added members with their type, removed ones `@removed`.
async fn members_delta(s: &AppState, c: &Caller, changes: &[(String, bool)]) -> Result<Value, GraphError> {
    // The last change of each member is its state now.
    let mut last: Vec<(String, bool)> = Vec::new();
    for (m, added) in changes {
        last.retain(|(id, _)| id != m);
        last.push((m.clone(), *added));
    }
    let ids: Vec<String> = last.iter().map(|(id, _)| id.clone()).collect();
    let objects = s.provisioning.objects(&c.tenant.id, &ids).await?;
    let out = last
        .iter()
        .map(|(id, added)| {
            let kind = objects.iter().find(|o| &o.id == id).map_or(ObjectKind::User, |o| o.kind);
            let mut m = json!({"@odata.type": format!("#{}", kind.graph_type()), "id": id});
            if !added {
                m["@removed"] = json!({"reason": "deleted"});
            }
            m
        })
        .collect();
    Ok(Value::Array(out))
}

fn delta_page(c: &Caller, context: &str, items: Vec<Value>, options: &Options, next: (&str, Position)) -> Response {
    let (name, position) = next;
    let key = if name == "$deltatoken" { "@odata.deltaLink" } else { "@odata.nextLink" };
    let mut out = Map::new();
    out.insert("@odata.context".into(), json!(c.context(context)));
    out.insert(key.into(), json!(link(c, options, name, &position)));
    out.insert("value".into(), Value::Array(items));
    super::json_response(axum::http::StatusCode::OK, &Value::Object(out))
}
