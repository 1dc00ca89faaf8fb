//! **Provision on demand** (`/console/apps/{sp}/provisioning/ondemand`): search a user or a group of the directory
//! (Graph's `startswith` filters, ten at a time), pick one (a group shows its members first: the API provisions a
//! group of at most five members, members first), "Provision"; the answer of `provisionOnDemand` shown as Entra's
//! step cards (Test connection only on failure, Import, Determine if in scope, Match between source and target,
//! Perform action), each a `<details>` with the step's details, the action's with the modified properties.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppJob;
use super::view::{details_of, modified_of, quoted, seg, text};
use crate::Console;
use crate::api::Api;
use crate::error::PageError;
use crate::page::{Chrome, render};
use crate::session::{Form, Session, urlencode};

/// Results of a search, per kind.
const SEARCH_TOP: usize = 10;
/// The most members of a group provision on demand takes (the API's limit).
const GROUP_MEMBERS: usize = 5;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    group: String,
}

#[derive(Deserialize)]
pub struct ProvisionForm {
    object_id: String,
    object_type: String,
    #[serde(default)]
    q: String,
}

/// A user or group found.
struct Found {
    id: String,
    name: String,
    detail: String,
}

/// One step card.
struct Card {
    title: String,
    status: String,
    description: String,
    details: Vec<(String, String)>,
    /// Whether the modified properties belong in this card (the object's own action).
    action: bool,
}

/// What provisionOnDemand answered.
struct Outcome {
    name: String,
    result: String,
    error_code: String,
    error_message: String,
    recommended: String,
    action: String,
    target_id: String,
    cards: Vec<Card>,
    modified: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "runs/ondemand.html")]
struct OnDemand {
    chrome: Chrome,
    sp_id: String,
    name: String,
    has_job: bool,
    q: String,
    users: Vec<Found>,
    groups: Vec<Found>,
    group: Option<Found>,
    members: Vec<Found>,
    more_members: bool,
    error: Option<String>,
    outcome: Option<Outcome>,
}

fn found(v: &Value, detail_key: &str) -> Found {
    Found { id: text(v, "id"), name: text(v, "displayName"), detail: text(v, detail_key) }
}

async fn search(api: &Api<'_>, q: &str) -> Result<(Vec<Found>, Vec<Found>), PageError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let users = format!("startswith(displayName,{0}) or startswith(userPrincipalName,{0})", quoted(q));
    let users = api.get(&format!("/v1.0/users?$filter={}&$top={SEARCH_TOP}", urlencode(&users))).await?;
    let groups = format!("startswith(displayName,{})", quoted(q));
    let groups = api.get(&format!("/v1.0/groups?$filter={}&$top={SEARCH_TOP}", urlencode(&groups))).await?;
    let list = |v: &Value, key: &str| -> Vec<Found> {
        v["value"].as_array().map(|a| a.iter().map(|x| found(x, key)).collect()).unwrap_or_default()
    };
    Ok((list(&users, "userPrincipalName"), list(&groups, "description")))
}

impl OnDemand {
    /// The link that selects the group `g` (its members shown), keeping the search.
    fn select_href(&self, g: &Found) -> String {
        format!(
            "/console/apps/{}/provisioning/ondemand?q={}&group={}",
            seg(&self.sp_id),
            urlencode(&self.q),
            urlencode(&g.id)
        )
    }

    async fn build(
        console: &Console,
        session: &Session,
        sp: &str,
        q: SearchQuery,
        error: Option<String>,
        outcome: Option<Outcome>,
    ) -> Result<OnDemand, PageError> {
        let api = session.api(console);
        let app = AppJob::load(&api, sp).await?;
        let (users, groups) = search(&api, &q.q).await?;
        let (group, members, more_members) = if q.group.is_empty() {
            (None, Vec::new(), false)
        } else {
            let g = api.get(&format!("/v1.0/groups/{}", seg(&q.group))).await?;
            let m = api.get(&format!("/v1.0/groups/{}/members?$top={}", seg(&q.group), GROUP_MEMBERS + 1)).await?;
            let mut members: Vec<Found> = m["value"]
                .as_array()
                .map(|a| a.iter().map(|x| found(x, "userPrincipalName")).collect())
                .unwrap_or_default();
            let more = members.len() > GROUP_MEMBERS || m["@odata.nextLink"].is_string();
            members.truncate(GROUP_MEMBERS);
            (Some(found(&g, "description")), members, more)
        };
        Ok(OnDemand {
            chrome: session.chrome(format!("Provision on demand · {}", app.name), "apps"),
            has_job: app.job.is_some(),
            sp_id: app.sp_id,
            name: app.name,
            q: q.q,
            users,
            groups,
            group,
            members,
            more_members,
            error,
            outcome,
        })
    }
}

pub async fn page(
    State(console): State<Console>,
    session: Session,
    Path(sp): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let page = OnDemand::build(&console, &session, &sp, q, None, None).await?;
    render(StatusCode::OK, &page)
}

pub async fn provision(
    State(console): State<Console>,
    Path(sp): Path<String>,
    Form(session, form): Form<ProvisionForm>,
) -> Result<Response, PageError> {
    let api = session.api(&console);
    let app = AppJob::load(&api, &sp).await?;
    let job = app.job_path()?;
    let kind = if form.object_type.eq_ignore_ascii_case("group") { "Group" } else { "User" };
    let schema = api.get(&format!("{job}/schema")).await?;
    let rule = schema["synchronizationRules"].as_array().and_then(|r| r.first()).map(|r| text(r, "id"));
    let body =
        json!({"parameters": [{"ruleId": rule, "subjects": [{"objectId": form.object_id, "objectTypeName": kind}]}]});
    let q = SearchQuery { q: form.q, group: if kind == "Group" { form.object_id.clone() } else { String::new() } };
    let (status, error, outcome) = match api.post(&format!("{job}/provisionOnDemand"), &body).await {
        Ok(answer) => (StatusCode::OK, None, Some(outcome(&answer, kind))),
        Err(f) => (
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
            Some(format!("Provision on demand did not run: {}", f.message)),
            None,
        ),
    };
    let page = OnDemand::build(&console, &session, &sp, q, error, outcome).await?;
    render(status, &page)
}

/// A JSON string holding JSON (as `key` and `value` of the answer are), read.
fn inner(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// Entra's card title of a step of an object of `kind` ("User" or "Group").
fn card_title(name: &str, step_type: &str, kind: &str) -> (String, bool) {
    let kind = kind.to_lowercase();
    match (name, step_type.to_lowercase().as_str()) {
        ("TestConnection", _) => ("Test connection".into(), false),
        ("EntryExportMember", _) => ("Provision group member".into(), false),
        (_, "import") => (format!("Import {kind}"), false),
        (_, "scoping") => (format!("Determine if {kind} is in scope"), false),
        (_, "matching") => (format!("Match {kind} between source and target"), false),
        (_, "referenceresolution") => ("Resolve references".into(), false),
        _ => ("Perform action".into(), true),
    }
}

/// Reads provisionOnDemand's answer: `key` the result, `value` the provisioning event, both JSON in strings.
fn outcome(answer: &Value, kind: &str) -> Outcome {
    let key = inner(&answer["key"]);
    let value = inner(&answer["value"]);
    let cards: Vec<Card> = value["provisioningSteps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    let (title, action) = card_title(&text(s, "name"), &text(s, "type"), kind);
                    let details = details_of(s);
                    Card { title, status: text(s, "status"), description: text(s, "description"), details, action }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut cards: Vec<Card> = cards;
    let action = text(&value, "action");
    // The engine writes no matching step when no target object matched (it creates one); Entra's card says so.
    let matched = cards.iter().any(|c| c.title.starts_with("Match "));
    if !matched && action == "Create" {
        let at = cards.iter().position(|c| c.action).unwrap_or(cards.len());
        let lower = kind.to_lowercase();
        let target = text(&value["targetSystem"], "name");
        cards.insert(
            at,
            Card {
                title: format!("Match {lower} between source and target"),
                status: "Success".into(),
                description: format!(
                    "No {lower} in {target} matched this {lower} by its matching attributes, so it is created."
                ),
                details: Vec::new(),
                action: false,
            },
        );
    }
    let modified = modified_of(&value);
    let info = &value["statusInfo"];
    Outcome {
        name: text(&value, "reportableIdentifier"),
        result: text(&key, "result"),
        error_code: text(&key["details"], "errorCode"),
        error_message: text(&key["details"], "errorMessage"),
        recommended: text(info, "recommendedAction"),
        action,
        target_id: text(&value["targetIdentity"], "id"),
        cards,
        modified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_as_entras_step_cards() {
        let value = json!({"action": "Create", "reportableIdentifier": "Ada",
            "targetIdentity": {"id": "t1"}, "statusInfo": {"status": "Success"},
            "modifiedProperties": [{"displayName": "userName", "oldValue": null, "newValue": "ada@x"}],
            "provisioningSteps": [
                {"name": "EntryImport", "type": "Import", "status": "Success", "description": "Retrieved", "details": {"a": true}},
                {"name": "EntrySynchronizationScoping", "type": "Scoping", "status": "Success", "description": "", "details": {}},
                {"name": "EntryImport", "type": "Matching", "status": "Success", "description": "", "details": {}},
                {"name": "EntryExportAdd", "type": "Export", "status": "Success", "description": "Created", "details": {}}]});
        let answer = json!({"key": "{\"result\":\"Success\",\"details\":{}}", "value": value.to_string()});
        let o = outcome(&answer, "User");
        let titles: Vec<&str> = o.cards.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            ["Import user", "Determine if user is in scope", "Match user between source and target", "Perform action"]
        );
        assert!(o.cards[3].action && !o.cards[0].action);
        assert_eq!(o.cards[0].details, [("a".to_string(), "true".to_string())]);
        assert_eq!((o.result.as_str(), o.action.as_str(), o.target_id.as_str()), ("Success", "Create", "t1"));
        assert_eq!(o.modified, [("userName".to_string(), String::new(), "ada@x".to_string())]);
        let created = json!({"action": "Create", "targetSystem": {"name": "customappsso"}, "provisioningSteps": [
            {"name": "EntryImport", "type": "Import", "status": "Success"},
            {"name": "EntryExportAdd", "type": "Export", "status": "Success"}]});
        let o = outcome(&json!({"key": "{}", "value": created.to_string()}), "User");
        let titles: Vec<&str> = o.cards.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, ["Import user", "Match user between source and target", "Perform action"]);
        assert!(o.cards[1].description.contains("customappsso"));
        assert_eq!(card_title("TestConnection", "Import", "User").0, "Test connection");
        assert_eq!(card_title("EntryExportMember", "Export", "Group").0, "Provision group member");
    }
}
