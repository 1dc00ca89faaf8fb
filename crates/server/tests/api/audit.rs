//! The audit log through the API: an entry for every kind of change, with the token, principal and request id of the
//! change; none for a change that failed or for a read; never a secret; the filters, pages and errors of the admin
//! API; who may read it; and the retention purge, with "now" passed in.

use anyhow::{Context, Result, ensure};
use axum::http::{Method, StatusCode};
use idplane_core::audit::{self, Actor, Retention};
use idplane_core::token::{Secret, Token, TokenScope};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{App, Reply, TOKEN, WS, app, assert_databricks_error};

/// What these tests ask of an app besides the test kit's requests.
trait Audited {
    fn audit_url(&self, query: &str) -> String;
    async fn audit(&self, query: &str) -> Result<Vec<Value>>;
    async fn recorded(&self, request_id: &str) -> Result<Vec<Value>>;
    async fn rotate_scim(&self) -> Result<(Secret, Token)>;
    async fn traced(&self, method: Method, uri: &str, body: Option<Value>, request_id: &str) -> Result<Reply>;
}

impl Audited for App {
    fn audit_url(&self, query: &str) -> String {
        format!("/api/2.0/accounts/{}/audit?{query}", self.account)
    }

    /// Every entry of the account that `query` selects, newest first, read page by page.
    async fn audit(&self, query: &str) -> Result<Vec<Value>> {
        let mut entries = Vec::new();
        let mut url = self.audit_url(&format!("{query}&limit=1000"));
        loop {
            let r = self.get(&url).await?;
            ensure!(r.status == StatusCode::OK, "{url}: {}", r.body);
            entries.extend(r.body["entries"].as_array().cloned().unwrap_or_default());
            match r.body["next_page_token"].as_str() {
                Some(next) => url = self.audit_url(&format!("{query}&limit=1000&page_token={next}")),
                None => return Ok(entries),
            }
        }
    }

    /// The entries recorded for the request `request_id`, oldest first.
    async fn recorded(&self, request_id: &str) -> Result<Vec<Value>> {
        let mut entries = self.audit(&format!("request_id={request_id}")).await?;
        entries.reverse();
        Ok(entries)
    }

    /// A new account SCIM token, as `idplane token rotate-scim` makes it (a one-hour grace for the earlier ones).
    async fn rotate_scim(&self) -> Result<(Secret, Token)> {
        let grace = time::Duration::hours(1);
        Ok(idplane_core::token::rotate_scim_token(self.store.as_ref(), &self.account, grace, now(), &Actor::cli())
            .await?)
    }

    /// Sends a request as the admin with `X-Request-Id: request_id`.
    async fn traced(&self, method: Method, uri: &str, body: Option<Value>, request_id: &str) -> Result<Reply> {
        self.send(method, uri, body, &[("x-request-id", request_id)]).await
    }
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// The public id of a token value.
fn token_id(secret: &str) -> String {
    Token::new(&Secret::new(secret.into()), TokenScope::Account { account_id: String::new() }, None, "", now(), None).id
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The one change to `attribute` in an entry.
fn change<'a>(entry: &'a Value, attribute: &str) -> Option<&'a Value> {
    entry["changes"].as_array()?.iter().find(|c| c["attribute"] == attribute)
}

/// Asserts the shape of an entry made by the bootstrap admin in request `request_id`.
fn assert_entry(e: &Value, resource_type: &str, resource_id: &str, operation: &str, request_id: &str, admin: &Admin) {
    assert_eq!(e["resource_type"], resource_type, "{e}");
    assert_eq!(e["resource_id"], resource_id, "{e}");
    assert_eq!(e["operation"], operation, "{e}");
    assert_eq!(e["request_id"], request_id, "{e}");
    assert_eq!(e["actor"]["kind"], "token", "{e}");
    assert_eq!(e["actor"]["token_id"], admin.token_id.as_str(), "{e}");
    assert_eq!(e["actor"]["principal_id"], admin.principal_id, "{e}");
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    assert!(e["id"].is_i64(), "{e}");
}

struct Admin {
    token_id: String,
    principal_id: i64,
}

async fn admin(app: &App) -> Result<Admin> {
    let me = app.get(&format!("{WS}/Me")).await?;
    Ok(Admin { token_id: token_id(TOKEN), principal_id: me.body["id"].as_str().unwrap_or_default().parse()? })
}

fn id_of(r: &Reply) -> String {
    r.body["id"].as_str().map(str::to_string).unwrap_or_default()
}

#[tokio::test]
async fn every_kind_of_change_is_recorded_with_its_token_principal_and_request() -> Result<()> {
    let app = app().await?;
    let admin = admin(&app).await?;
    let acct = app.acct();
    let ws = app.workspace.to_string();

    // Users: create, replace, patch.
    let r = app
        .traced(
            Method::POST,
            &format!("{acct}/Users"),
            Some(json!({"userName": "audit@x.com", "displayName": "A", "password": "hunter2-not-kept"})),
            "user-create",
        )
        .await?;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let u = id_of(&r);
    let e = app.recorded("user-create").await?;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_entry(&e[0], "User", &u, "create", "user-create", &admin);
    assert_eq!(e[0]["workspace_id"], Value::Null);
    assert_eq!(change(&e[0], "userName").map(|c| c["new"].clone()), Some(json!("audit@x.com")));
    assert!(change(&e[0], "password").is_none(), "the password is not kept, nor recorded: {}", e[0]);

    let body = json!({"userName": "audit@x.com", "displayName": "B", "active": true});
    let r = app.traced(Method::PUT, &format!("{acct}/Users/{u}"), Some(body), "user-replace").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("user-replace").await?;
    assert_entry(&e[0], "User", &u, "replace", "user-replace", &admin);
    let display = change(&e[0], "displayName").context("displayName change")?;
    assert_eq!((&display["old"], &display["new"]), (&json!("A"), &json!("B")));

    let ops = patch_body(json!([{"op": "replace", "path": "active", "value": false}]));
    let r = app.traced(Method::PATCH, &format!("{acct}/Users/{u}"), Some(ops), "user-patch").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("user-patch").await?;
    assert_entry(&e[0], "User", &u, "patch", "user-patch", &admin);
    let active = change(&e[0], "active").context("active change")?;
    assert_eq!((&active["old"], &active["new"]), (&json!(true), &json!(false)));
    let ops = patch_body(json!([{"op": "replace", "path": "active", "value": true}]));
    app.traced(Method::PATCH, &format!("{acct}/Users/{u}"), Some(ops), "user-reactivate").await?;

    // Groups: create with a member, members added and removed, delete.
    let v = app.user(&acct, "other@x.com").await?;
    let body = json!({"displayName": "auditors", "members": [{"value": u}]});
    let r = app.traced(Method::POST, &format!("{acct}/Groups"), Some(body), "group-create").await?;
    let g = id_of(&r);
    let e = app.recorded("group-create").await?;
    assert_entry(&e[0], "Group", &g, "create", "group-create", &admin);
    assert_eq!(change(&e[0], "members").map(|c| c["added"].clone()), Some(json!([u])));
    let ops = patch_body(json!([{"op": "add", "path": "members", "value": [{"value": v}]}]));
    app.traced(Method::PATCH, &format!("{acct}/Groups/{g}"), Some(ops), "group-add").await?;
    let e = app.recorded("group-add").await?;
    assert_entry(&e[0], "Group", &g, "patch", "group-add", &admin);
    assert_eq!(change(&e[0], "members").map(|c| c["added"].clone()), Some(json!([v])));
    let ops = patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]));
    app.traced(Method::PATCH, &format!("{acct}/Groups/{g}"), Some(ops), "group-remove").await?;
    let e = app.recorded("group-remove").await?;
    assert_eq!(change(&e[0], "members").map(|c| c["removed"].clone()), Some(json!([u])));

    // A service principal.
    let body = json!({"applicationId": "11111111-2222-3333-4444-555555555555", "displayName": "robot"});
    let r = app.traced(Method::POST, &format!("{acct}/ServicePrincipals"), Some(body), "sp-create").await?;
    let sp = id_of(&r);
    let e = app.recorded("sp-create").await?;
    assert_entry(&e[0], "ServicePrincipal", &sp, "create", "sp-create", &admin);

    // Assignment through the account API, then an entitlement in the workspace, then unassignment.
    let assignments = format!("/api/2.0/accounts/{}/workspaces/{ws}/permissionassignments/principals", app.account);
    let body = json!({"permissions": ["USER"]});
    let r = app.traced(Method::PUT, &format!("{assignments}/{u}"), Some(body), "assign").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("assign").await?;
    assert_entry(&e[0], "Assignment", &u, "assign", "assign", &admin);
    assert_eq!(e[0]["workspace_id"], app.workspace);
    assert_eq!(change(&e[0], "permissions").map(|c| c["new"].clone()), Some(json!("USER")));

    let ops = patch_body(json!([{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]));
    let r = app.traced(Method::PATCH, &format!("{WS}/Users/{u}"), Some(ops), "entitle").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("entitle").await?;
    assert_entry(&e[0], "User", &u, "patch", "entitle", &admin);
    assert_eq!(e[0]["workspace_id"], app.workspace, "entitlements are a workspace's");
    let entitlements = change(&e[0], "entitlements").context("entitlements change")?;
    assert_eq!(entitlements["added"], json!(["allow-cluster-create"]));

    let r = app.traced(Method::DELETE, &format!("{assignments}/{u}"), None, "unassign").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("unassign").await?;
    assert_entry(&e[0], "Assignment", &u, "unassign", "unassign", &admin);

    // Assignment through the workspace API.
    let ws_assign = "/api/2.0/preview/permissionassignments/principals";
    let body = json!({"permissions": ["ADMIN"]});
    let r = app.traced(Method::PUT, &format!("{ws_assign}/{g}"), Some(body), "ws-assign").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("ws-assign").await?;
    assert_entry(&e[0], "Assignment", &g, "assign", "ws-assign", &admin);
    assert_eq!(change(&e[0], "permissions").map(|c| c["new"].clone()), Some(json!("ADMIN")));
    app.traced(Method::DELETE, &format!("{ws_assign}/{g}"), None, "ws-unassign").await?;
    assert_entry(&app.recorded("ws-unassign").await?[0], "Assignment", &g, "unassign", "ws-unassign", &admin);

    // Workspaces: a create records the workspace and its two built-in groups; a delete, the workspace.
    let workspaces = format!("/api/2.0/accounts/{}/workspaces", app.account);
    let body = json!({"workspace_name": "audited", "identity_federation": true});
    let r = app.traced(Method::POST, &workspaces, Some(body), "ws-create").await?;
    let w_id = r.body["workspace_id"].as_i64().unwrap_or_default();
    let w = w_id.to_string();
    let e = app.recorded("ws-create").await?;
    assert_eq!(e.len(), 3, "{e:?}");
    assert_entry(&e[0], "Workspace", &w, "create", "ws-create", &admin);
    assert_eq!(change(&e[0], "workspace_name").map(|c| c["new"].clone()), Some(json!("audited")));
    assert!(e[1..].iter().all(|g| g["resource_type"] == "Group" && g["workspace_id"] == w_id), "{e:?}");
    let r = app.traced(Method::DELETE, &format!("{workspaces}/{w}"), None, "ws-delete").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_entry(&app.recorded("ws-delete").await?[0], "Workspace", &w, "delete", "ws-delete", &admin);

    // Tokens: a personal token, one on behalf of a service principal in the workspace, revoked by token management.
    let body = json!({"lifetime_seconds": 3600, "comment": "ci"});
    let r = app.traced(Method::POST, "/api/2.0/token/create", Some(body), "pat-create").await?;
    let pat = r.body["token_info"]["token_id"].as_str().unwrap_or_default().to_string();
    let e = app.recorded("pat-create").await?;
    assert_entry(&e[0], "Token", &pat, "create", "pat-create", &admin);
    assert_eq!(change(&e[0], "kind").map(|c| c["new"].clone()), Some(json!("personal")));
    assert_eq!(change(&e[0], "comment").map(|c| c["new"].clone()), Some(json!("ci")));
    let body = json!({"applicationId": "99999999-2222-3333-4444-555555555555", "displayName": "etl"});
    let r = app.post(&format!("{WS}/ServicePrincipals"), body).await?;
    let etl: i64 = id_of(&r).parse()?;
    let body = json!({"application_id": "99999999-2222-3333-4444-555555555555"});
    let r = app.traced(Method::POST, "/api/2.0/token-management/on-behalf-of/tokens", Some(body), "obo").await?;
    let obo = r.body["token_info"]["token_id"].as_str().unwrap_or_default().to_string();
    let e = app.recorded("obo").await?;
    assert_entry(&e[0], "Token", &obo, "create", "obo", &admin);
    assert_eq!(change(&e[0], "principal_id").map(|c| c["new"].clone()), Some(json!(etl)), "the owner");
    let uri = format!("/api/2.0/token-management/tokens/{obo}");
    let r = app.traced(Method::DELETE, &uri, None, "token-revoke").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_entry(&app.recorded("token-revoke").await?[0], "Token", &obo, "delete", "token-revoke", &admin);
    let r = app.traced(Method::POST, "/api/2.0/token/delete", Some(json!({"token_id": pat})), "pat-delete").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_entry(&app.recorded("pat-delete").await?[0], "Token", &pat, "delete", "pat-delete", &admin);

    // An account SCIM token rotation (the command line's): the earlier token's expiry, then the new token.
    let (_, first) = app.rotate_scim().await?;
    let (_, second) = app.rotate_scim().await?;
    let rotated = app.audit("resource_type=Token&operation=rotate").await?;
    let rotated: Vec<&Value> = rotated.iter().map(|e| &e["resource_id"]).collect();
    assert_eq!(rotated, [&json!(second.id), &json!(first.id)]);
    let expired = app.audit(&format!("resource_id={}&operation=expire", first.id)).await?;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["actor"], json!({"kind": "cli", "token_id": null, "principal_id": null}));
    assert_eq!(expired[0]["request_id"], Value::Null);

    // Bulk: one entry per operation, each with the bulk request's id.
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "b1", "data": {"userName": "bulk@x.com"}},
            {"method": "PATCH", "path": "/Users/bulkId:b1", "data": patch_body(json!([{"op": "replace", "path": "displayName", "value": "Bulk"}]))},
            {"method": "DELETE", "path": format!("/Users/{v}")},
        ]
    });
    let r = app.traced(Method::POST, &format!("{acct}/Bulk"), Some(bulk), "bulk").await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app.recorded("bulk").await?;
    let ops: Vec<&Value> = e.iter().map(|e| &e["operation"]).collect();
    assert_eq!(ops, [&json!("create"), &json!("patch"), &json!("delete")], "{e:?}");
    assert!(e.iter().all(|e| e["request_id"] == "bulk" && e["actor"]["token_id"] == admin.token_id.as_str()));
    assert_eq!(e[2]["resource_id"], v.as_str());
    assert_eq!(change(&e[2], "userName").map(|c| c["old"].clone()), Some(json!("other@x.com")), "who was deleted");

    // Deletes of a user and a group.
    let r = app.traced(Method::DELETE, &format!("{acct}/Users/{u}"), None, "user-delete").await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_entry(&app.recorded("user-delete").await?[0], "User", &u, "delete", "user-delete", &admin);
    let r = app.traced(Method::DELETE, &format!("{acct}/Groups/{g}"), None, "group-delete").await?;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_entry(&app.recorded("group-delete").await?[0], "Group", &g, "delete", "group-delete", &admin);

    // The first start recorded itself: the account, workspace and groups, the admin, its assignment and token.
    let system = app.audit("").await?;
    let system: Vec<(&Value, &Value)> = system
        .iter()
        .filter(|e| e["actor"]["kind"] == "system")
        .map(|e| (&e["resource_type"], &e["operation"]))
        .collect();
    assert_eq!(system.len(), 7, "{system:?}");
    Ok(())
}

#[tokio::test]
async fn failed_changes_and_reads_record_nothing_and_no_secret_is_recorded() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let u = app.user(&acct, "taken@x.com").await?;
    let before = app.audit("").await?.len();

    let failures = [
        (Method::POST, format!("{acct}/Users"), Some(json!({"displayName": "no userName"})), 400),
        (Method::POST, format!("{acct}/Users"), Some(json!({"userName": "TAKEN@x.com"})), 409),
        (Method::POST, format!("{acct}/Groups"), Some(json!({"displayName": "g", "members": [{"value": "1"}]})), 400),
        (Method::PATCH, format!("{acct}/Users/{u}"), Some(patch_body(json!([{"op": "bogus"}]))), 400),
        (Method::DELETE, format!("{acct}/Users/1234567890123456"), None, 404),
        (Method::POST, "/api/2.0/token/create".into(), Some(json!({"lifetime_seconds": -5})), 400),
        (Method::POST, "/api/2.0/token/delete".into(), Some(json!({"token_id": "nope"})), 404),
        (Method::POST, format!("/api/2.0/accounts/{}/workspaces", app.account), Some(json!({})), 400),
    ];
    for (i, (method, uri, body, status)) in failures.into_iter().enumerate() {
        let r = app.traced(method, &uri, body, &format!("fail-{i}")).await?;
        assert_eq!(r.status.as_u16(), status, "{uri}: {}", r.body);
    }
    // 412: If-Match names an old version.
    let r = app
        .send(
            Method::PATCH,
            &format!("{acct}/Users/{u}"),
            Some(patch_body(json!([{"op": "replace", "path": "active", "value": false}]))),
            &[("if-match", "W/\"999\""), ("x-request-id", "fail-412")],
        )
        .await?;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // A PATCH that changes nothing changes nothing.
    let same = patch_body(json!([{"op": "replace", "path": "active", "value": true}]));
    assert_eq!(
        app.traced(Method::PATCH, &format!("{acct}/Users/{u}"), Some(same), "noop").await?.status,
        StatusCode::OK
    );
    // Reads.
    for uri in [format!("{acct}/Users"), format!("{acct}/Users/{u}"), format!("{WS}/Me"), app.audit_url("")] {
        assert_eq!(app.traced(Method::GET, &uri, None, "read").await?.status, StatusCode::OK, "{uri}");
    }
    assert_eq!(app.audit("").await?.len(), before);

    // Secrets: a password sent, a personal token, an account SCIM token, the bootstrap token.
    let r = app.post(&format!("{acct}/Users"), json!({"userName": "pw@x.com", "password": "S3cret-Passw0rd"})).await?;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.post("/api/2.0/token/create", json!({"comment": "mine"})).await?;
    let pat = r.body["token_value"].as_str().unwrap_or_default().to_string();
    let (scim, _) = app.rotate_scim().await?;
    let log = serde_json::to_string(&app.audit("").await?)?;
    for secret in ["S3cret-Passw0rd", pat.as_str(), scim.expose(), TOKEN] {
        assert!(!log.contains(secret), "a secret is in the audit log");
        assert!(!log.contains(&hex(&Secret::new(secret.into()).hash().0)), "a token hash is in the audit log");
    }
    Ok(())
}

fn time_of(entry: &Value) -> Result<OffsetDateTime> {
    let text = entry["time"].as_str().context("an entry has a time")?;
    Ok(OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_admin_api_filters_pages_and_explains_bad_input() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    // A second account admin, whose changes are told apart by principal.
    let r = app
        .post(&format!("{acct}/Users"), json!({"userName": "second@x.com", "roles": [{"value": "account_admin"}]}))
        .await?;
    let second: i64 = id_of(&r).parse()?;
    let token = app.token_for(TokenScope::Account { account_id: app.account.clone() }, Some(second)).await?;
    let auth = format!("Bearer {token}");
    let mut theirs = Vec::new();
    for i in 0..5 {
        let body = json!({"userName": format!("by-second-{i}@x.com")});
        let r = app.send(Method::POST, &format!("{acct}/Users"), Some(body), &[("authorization", &auth)]).await?;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        theirs.push(id_of(&r));
    }
    let mine = app.user(&acct, "by-admin@x.com").await?;

    let by_second = app.audit(&format!("principal_id={second}")).await?;
    let ids: Vec<String> =
        by_second.iter().map(|e| e["resource_id"].as_str().unwrap_or_default().to_string()).collect();
    let mut want = theirs.clone();
    want.reverse();
    assert_eq!(ids, want, "newest first, only the second admin's");
    assert!(by_second.iter().all(|e| e["actor"]["token_id"] == token_id(&token).as_str()));
    let by_token = app.audit(&format!("token_id={}", token_id(&token))).await?;
    assert_eq!(by_token.len(), 5);

    let about = app.audit(&format!("resource_id={mine}")).await?;
    assert_eq!(about.len(), 1);
    assert_eq!(app.audit("resource_type=user&operation=create").await?.len(), 8, "admin + second + 5 + 1");
    assert_eq!(app.audit("resource_type=Workspace").await?.len(), 1, "the first start's");

    // Time windows, in RFC 3339 and in epoch milliseconds.
    let all = app.audit("").await?;
    let newest_text = all[0]["time"].as_str().unwrap_or_default().to_string();
    let newest = time_of(&all[0])?;
    let newest_ms = newest.unix_timestamp_nanos() / 1_000_000;
    let since = app.audit(&format!("start_time={}", newest_text.replace(':', "%3A"))).await?;
    ensure!(!since.is_empty());
    for e in &since {
        ensure!(time_of(e)? >= newest, "{e}");
    }
    let until = app.audit(&format!("end_time={newest_ms}")).await?;
    for e in &until {
        ensure!(time_of(e)? < newest, "{e}");
    }
    assert_eq!(since.len() + until.len(), all.len(), "the windows split the log");

    // Pages of two cover the log once, newest first.
    let mut seen = Vec::new();
    let mut url = app.audit_url("limit=2");
    loop {
        let r = app.get(&url).await?;
        let page = r.body["entries"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|e| e["id"].clone()));
        match r.body["next_page_token"].as_str() {
            Some(next) => url = app.audit_url(&format!("limit=2&page_token={next}")),
            None => break,
        }
    }
    let want: Vec<Value> = all.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, want);

    // Times beyond what the store counts in nanoseconds are bounds, not errors.
    let far = app.audit("start_time=0001-01-01T00:00:00Z&end_time=9999-12-31T23:59:59Z").await?;
    assert_eq!(far.len(), all.len());
    let year_9999 = audit::AuditCursor {
        time: OffsetDateTime::parse("9999-12-31T23:59:59Z", &time::format_description::well_known::Rfc3339)?,
        id: 1,
    };
    let r = app.get(&app.audit_url(&format!("page_token={}", year_9999.encode()))).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["entries"].as_array().map(Vec::len), Some(all.len().min(100)));

    // Bad input: a 400 that names the parameter.
    for (query, named) in [
        ("start_time=yesterday", "start_time"),
        ("end_time=2026-02-30T00:00:00Z", "end_time"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("principal_id=me", "principal_id"),
        ("resource_type=Robot", "resource_type"),
        ("operation=rename", "operation"),
        ("page_token=not-a-token", "page_token"),
        ("who=me", "who"),
        ("start_time=2000&end_time=1000", "start_time"),
    ] {
        let r = app.get(&app.audit_url(query)).await?;
        assert_databricks_error(&r, 400, "INVALID_PARAMETER_VALUE");
        assert!(r.body["message"].as_str().is_some_and(|m| m.contains(named)), "{query}: {}", r.body);
    }
    Ok(())
}

#[tokio::test]
async fn only_admins_read_the_log_and_workspace_admins_only_their_workspace() -> Result<()> {
    let app = app().await?;
    let acct = app.acct();
    let account_scope = TokenScope::Account { account_id: app.account.clone() };
    let plain: i64 = app.user(&acct, "plain@x.com").await?.parse()?;
    let plain_token = app.token_for(account_scope.clone(), Some(plain)).await?;
    assert_databricks_error(&app.get_as(&app.audit_url(""), &plain_token).await?, 403, "PERMISSION_DENIED");
    let (scim, _) = app.rotate_scim().await?;
    assert_databricks_error(&app.get_as(&app.audit_url(""), scim.expose()).await?, 403, "PERMISSION_DENIED");
    let ws_token = app
        .token_for(TokenScope::Workspace { account_id: app.account.clone(), workspace_id: app.workspace }, None)
        .await?;
    assert_databricks_error(&app.get_as(&app.audit_url(""), &ws_token).await?, 403, "PERMISSION_DENIED");
    let other = "/api/2.0/accounts/another-account/audit";
    assert_databricks_error(&app.get(other).await?, 403, "PERMISSION_DENIED");

    // A workspace user is refused the workspace log; its admin reads the workspace's entries only.
    let assign = format!(
        "/api/2.0/accounts/{}/workspaces/{}/permissionassignments/principals/{plain}",
        app.account, app.workspace
    );
    app.send(Method::PUT, &assign, Some(json!({"permissions": ["USER"]})), &[]).await?;
    assert_databricks_error(&app.get_as("/api/2.0/audit", &plain_token).await?, 403, "PERMISSION_DENIED");
    app.send(Method::PUT, &assign, Some(json!({"permissions": ["ADMIN"]})), &[]).await?;
    let r = app.get_as("/api/2.0/audit?limit=1000", &plain_token).await?;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entries = r.body["entries"].as_array().cloned().unwrap_or_default();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["workspace_id"] == app.workspace), "{entries:?}");
    let r = app.get_as(&format!("/api/2.0/audit?workspace_id={}", app.workspace), &plain_token).await?;
    assert_databricks_error(&r, 400, "INVALID_PARAMETER_VALUE");
    Ok(())
}

#[tokio::test]
async fn entries_past_their_retention_are_purged_at_the_time_given() -> Result<()> {
    let app = app().await?;
    app.user(&app.acct(), "kept@x.com").await?;
    let store = app.store.as_ref();
    let total = app.audit("").await?.len();
    assert!(total > 0);
    let month = Retention { days: 30 };
    assert_eq!(audit::purge(store, month, now() + time::Duration::days(29)).await?, 0, "not yet 30 days old");
    assert_eq!(audit::purge(store, Retention { days: 0 }, now() + time::Duration::days(10_000)).await?, 0, "forever");
    assert_eq!(app.audit("").await?.len(), total);
    assert_eq!(audit::purge(store, month, now() + time::Duration::days(31)).await?, total as u64);
    assert_eq!(app.audit("").await?.len(), 0);
    Ok(())
}
