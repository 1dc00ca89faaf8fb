//! Every lifecycle event of a directory, each followed by a cycle and checked in the target through its SCIM API:
//! create, update, rename (display name and user name), manager set, changed and removed, disable and re-enable,
//! member removed and added, unassign, scope out by a scoping filter, soft delete and restore, hard delete; group
//! create, rename, unassign and delete; and a restart that finds nothing to send. Run with the generic SCIM
//! application at the account level and with the Databricks connector at the workspace level, in both PATCH
//! dialects; [`scim2_server`](super::scim2_server) runs it against an independent server.
//!
//! What differs by template: the generic application maps the enterprise `manager`, applies a group's new name,
//! and takes `externalId` from `mailNickname`; the Databricks connector maps no manager, applies a group's name on
//! creation only, and takes `externalId` from the object id.

use super::*;

/// The scoping filter of the user mapping: users whose surname is `Out` are out of scope.
const OUT: &str = "Out";

impl Setup {
    /// Sets a user's manager (`PUT /users/{id}/manager/$ref`), or removes it.
    pub(super) async fn manager(&self, user: &str, manager: Option<&str>) -> Result<()> {
        let uri = format!("/v1.0/users/{user}/manager/$ref");
        let r = match manager {
            Some(m) => {
                let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{m}")});
                self.app.send(Method::PUT, &uri, Some(body), &[]).await?
            }
            None => self.app.send(Method::DELETE, &uri, None, &[]).await?,
        };
        ensure!(r.status == StatusCode::NO_CONTENT, "{uri}: {} {}", r.status, r.body);
        Ok(())
    }

    /// Graph's `DELETE` or `POST` on a directory path that answers 204 (or 200 for a restore).
    pub(super) async fn directory(&self, method: Method, uri: &str) -> Result<()> {
        let r = self.app.send(method.clone(), uri, None, &[]).await?;
        ensure!(r.status.is_success(), "{method} {uri}: {} {}", r.status, r.body);
        Ok(())
    }

    /// Adds a scoping filter to the job's user mapping: users whose surname is [`OUT`] are out of scope.
    async fn scope_users(&self) -> Result<()> {
        let uri = format!("{}/jobs/{}/schema", self.sync, self.job);
        let mut schema = graph(&self.app, Method::GET, &uri, None).await?;
        let mappings = schema["synchronizationRules"][0]["objectMappings"].as_array_mut().context("mappings")?;
        let users = mappings.iter_mut().find(|m| m["sourceObjectName"] == "User").context("user mapping")?;
        users["scope"] = json!({"groups": [{"name": "Not out", "clauses": [{"operatorName": "NOT_EQUALS",
            "sourceOperandName": "surname", "targetOperand": {"values": [OUT]}}]}]});
        graph(&self.app, Method::PUT, &uri, Some(schema)).await?;
        Ok(())
    }

    /// The target's user of `user_name`, which must exist.
    pub(super) async fn must_user(&self, user_name: &str) -> Result<Value> {
        self.target_user(user_name).await?.with_context(|| format!("{user_name} is not in the target"))
    }

    /// The target's group of `name`, which must exist.
    pub(super) async fn must_group(&self, name: &str) -> Result<Value> {
        self.target_group(name).await?.with_context(|| format!("group {name} is not in the target"))
    }
}

/// The target id of a SCIM resource.
pub(super) fn id(resource: &Value) -> String {
    resource["id"].as_str().unwrap_or_default().to_string()
}

/// The id a user's enterprise `manager` points to, if any.
fn manager_of(user: &Value) -> Option<String> {
    let m = &user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"];
    m["value"].as_str().or(m.as_str()).filter(|v| !v.is_empty()).map(str::to_owned)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Runs the lifecycle through `s`'s job (of `template`).
pub(super) async fn lifecycle(s: &Setup, template: Template) -> Result<()> {
    let generic = template == Template::Scim;
    let app = &s.app;
    let ann = user(app, "ann@contoso.com", "Ann", "Lee").await?;
    let bob = user(app, "bob@contoso.com", "Bob", "Stone").await?;
    let cat = user(app, "cat@contoso.com", "Cat", "Moss").await?;
    let dan = user(app, "dan@contoso.com", "Dan", "Ray").await?;
    let eve = user(app, "eve@contoso.com", "Eve", "Park").await?;
    let _zed = user(app, "zed@contoso.com", "Zed", "Nobody").await?;
    let sales = group(app, "Sales", &[&ann, &bob]).await?;
    let ops = group(app, "Ops", &[&cat]).await?;
    let temp = group(app, "Temp", &[&dan]).await?;
    for g in [&sales, &ops, &temp] {
        s.assign(g).await?;
    }
    s.assign(&dan).await?;
    let eve_assignment = s.assign(&eve).await?;
    s.manager(&ann, Some(&eve)).await?;
    s.scope_users().await?;
    graph(app, Method::POST, &format!("{}/jobs/{}/start", s.sync, s.job), None).await?;

    // Create: the assigned users (directly or as direct members of an assigned group), the groups, their members,
    // and (generic) the manager.
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    let t_ann = s.must_user("ann@contoso.com").await?;
    assert_eq!((&t_ann["displayName"], &t_ann["active"]), (&json!("Ann Lee"), &json!(true)), "{t_ann}");
    assert_eq!(t_ann["externalId"], if generic { json!("Ann") } else { json!(ann) }, "{t_ann}");
    let work_email = t_ann["emails"].as_array().into_iter().flatten().find(|e| e["value"] == "ann@contoso.com");
    assert!(work_email.is_some(), "the work email: {t_ann}");
    if generic {
        assert_eq!(t_ann["name"]["familyName"], "Lee", "{t_ann}");
    }
    let mut ids = std::collections::HashMap::new();
    for name in ["ann", "bob", "cat", "dan", "eve"] {
        ids.insert(name, id(&s.must_user(&format!("{name}@contoso.com")).await?));
    }
    assert!(s.target_user("zed@contoso.com").await?.is_none(), "not assigned: not provisioned");
    let t_eve = &ids["eve"];
    assert_eq!(manager_of(&t_ann), generic.then(|| t_eve.clone()), "the manager, with the generic app only");
    assert_eq!(member_ids(&s.must_group("Sales").await?), sorted(vec![ids["ann"].clone(), ids["bob"].clone()]));
    assert_eq!(member_ids(&s.must_group("Ops").await?), vec![ids["cat"].clone()]);
    assert_eq!(member_ids(&s.must_group("Temp").await?), vec![ids["dan"].clone()]);
    assert_eq!(s.must_group("Sales").await?["externalId"], sales.as_str());

    // Nothing changed: nothing is sent (the target returns what it stored, in a shape the engine compares equal).
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["countExported"], 0, "{status}");

    // Update and rename: a new display name and a new user name (same target object); a manager changed and one
    // removed.
    let change = json!({"displayName": "Ann Lee-Park", "userPrincipalName": "ann.park@contoso.com"});
    graph(app, Method::PATCH, &format!("/v1.0/users/{ann}"), Some(change)).await?;
    s.manager(&ann, None).await?;
    s.manager(&bob, Some(&dan)).await?;
    s.cycle().await?;
    assert!(s.target_user("ann@contoso.com").await?.is_none(), "renamed");
    let t_ann = s.must_user("ann.park@contoso.com").await?;
    assert_eq!((id(&t_ann), &t_ann["displayName"]), (ids["ann"].clone(), &json!("Ann Lee-Park")), "{t_ann}");
    assert_eq!(manager_of(&t_ann), None, "removed: {t_ann}");
    let t_bob = s.must_user("bob@contoso.com").await?;
    assert_eq!(manager_of(&t_bob), generic.then(|| ids["dan"].clone()), "set: {t_bob}");

    // Disable in the directory, then enable again.
    graph(app, Method::PATCH, &format!("/v1.0/users/{ann}"), Some(json!({"accountEnabled": false}))).await?;
    s.cycle().await?;
    assert_eq!(s.must_user("ann.park@contoso.com").await?["active"], false, "disabled");
    graph(app, Method::PATCH, &format!("/v1.0/users/{ann}"), Some(json!({"accountEnabled": true}))).await?;
    s.cycle().await?;
    assert_eq!(s.must_user("ann.park@contoso.com").await?["active"], true, "enabled again");

    // A member removed (out of scope with it: disabled) and one added.
    s.directory(Method::DELETE, &format!("/v1.0/groups/{sales}/members/{bob}/$ref")).await?;
    let body = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{cat}")});
    graph(app, Method::POST, &format!("/v1.0/groups/{sales}/members/$ref"), Some(body)).await?;
    s.cycle().await?;
    assert_eq!(s.must_user("bob@contoso.com").await?["active"], false, "no longer a member of an assigned group");
    assert_eq!(member_ids(&s.must_group("Sales").await?), sorted(vec![ids["ann"].clone(), ids["cat"].clone()]));

    // Unassigned; scoped out by the scoping filter.
    let uri = format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{eve_assignment}", s.sp);
    s.directory(Method::DELETE, &uri).await?;
    graph(app, Method::PATCH, &format!("/v1.0/users/{dan}"), Some(json!({"surname": OUT}))).await?;
    s.cycle().await?;
    assert_eq!(s.must_user("eve@contoso.com").await?["active"], false, "unassigned");
    assert_eq!(s.must_user("dan@contoso.com").await?["active"], false, "out of the scoping filter's scope");

    // A group renamed: the generic app renames it; the Databricks connector keeps the name it created it with.
    graph(app, Method::PATCH, &format!("/v1.0/groups/{ops}"), Some(json!({"displayName": "Operations"}))).await?;
    s.cycle().await?;
    let (now, was) = if generic { ("Operations", "Ops") } else { ("Ops", "Operations") };
    assert_eq!(member_ids(&s.must_group(now).await?), vec![ids["cat"].clone()]);
    assert!(s.target_group(was).await?.is_none());

    // Soft delete (disabled), restore (enabled again).
    s.directory(Method::DELETE, &format!("/v1.0/users/{cat}")).await?;
    s.cycle().await?;
    assert_eq!(s.must_user("cat@contoso.com").await?["active"], false, "soft-deleted");
    s.directory(Method::POST, &format!("/v1.0/directory/deletedItems/{cat}/restore")).await?;
    s.cycle().await?;
    assert_eq!(s.must_user("cat@contoso.com").await?["active"], true, "restored");

    // Hard delete: deleted in the target.
    s.directory(Method::DELETE, &format!("/v1.0/users/{bob}")).await?;
    s.directory(Method::DELETE, &format!("/v1.0/directory/deletedItems/{bob}")).await?;
    s.cycle().await?;
    assert!(s.target_user("bob@contoso.com").await?.is_none(), "deleted for good, in the target too");

    // A group unassigned, another deleted: both deleted in the target; their members stay as they were.
    let assignments = graph(app, Method::GET, &format!("/v1.0/groups/{ops}/appRoleAssignments"), None).await?;
    let ops_assignment = assignments["value"][0]["id"].as_str().context("the group's assignment")?.to_string();
    s.directory(Method::DELETE, &format!("/v1.0/servicePrincipals/{}/appRoleAssignedTo/{ops_assignment}", s.sp))
        .await?;
    s.directory(Method::DELETE, &format!("/v1.0/groups/{temp}")).await?;
    s.cycle().await?;
    assert!(s.target_group(now).await?.is_none(), "unassigned group deleted");
    assert!(s.target_group("Temp").await?.is_none(), "deleted group deleted");
    assert_eq!(s.must_user("cat@contoso.com").await?["active"], true, "still a member of Sales");

    // A restart runs an initial cycle over everything: the target already matches.
    let restart = format!("{}/jobs/{}/restart", s.sync, s.job);
    graph(app, Method::POST, &restart, Some(json!({"criteria": {"resetScope": "Watermark"}}))).await?;
    let status = s.cycle().await?;
    assert_eq!(status["lastExecution"]["state"], "Succeeded", "{status}");
    assert_eq!(status["lastExecution"]["countExported"], 0, "{status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_scim_app_provisions_the_account_through_every_lifecycle_event() -> Result<()> {
    lifecycle(&Setup::build(Template::Scim, Where::Account, "").await?, Template::Scim).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_scim_app_in_the_aad_opt_scim_062020_dialect() -> Result<()> {
    lifecycle(&Setup::build(Template::Scim, Where::Account, "?aadOptscim062020").await?, Template::Scim).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_databricks_app_provisions_the_workspace_level_through_every_lifecycle_event() -> Result<()> {
    lifecycle(&Setup::build(Template::Databricks, Where::Workspace, "").await?, Template::Databricks).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_databricks_app_at_the_workspace_level_in_the_aad_opt_scim_062020_dialect() -> Result<()> {
    let s = Setup::build(Template::Databricks, Where::Workspace, "?aadOptscim062020").await?;
    lifecycle(&s, Template::Databricks).await
}
