//! `idplane directory`: users and groups of the tenant, through `/v1.0/users` and `/v1.0/groups` (create, list,
//! show, change, delete and restore users, managers; groups, their members and nesting), and the bulk imports of
//! [`super::import`]. Objects are named as an admin knows them: a user by id or user principal name, a group by id or
//! display name, a member by any of those.

use clap::{Args, Subcommand};
use idplane_provisioning::directory::properties::{self, PropType};
use serde_json::{Map, Value, json};

use super::error::{ClientError, Result};
use super::http::{Graph, PAGE_SIZE, is_guid, odata_string};
use super::import::ImportCommand;
use super::output::{Output, properties as property_lines, table, text};

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Users: create, list, show, update, delete, restore, set-manager.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Groups: create, list, show, delete, members.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Bulk operations from Entra's CSV templates.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// The user principal name (sign-in name), e.g. ann@contoso.com.
        #[arg(long)]
        upn: String,
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        surname: Option<String>,
        #[arg(long)]
        mail: Option<String>,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        job_title: Option<String>,
        #[arg(long)]
        employee_id: Option<String>,
        /// Create the user with sign-in blocked (accountEnabled false).
        #[arg(long)]
        disabled: bool,
    },
    /// List users, every page (or the first --top), e.g. --filter "startsWith(userPrincipalName,'ann')".
    List(ListArgs),
    /// Show a user's properties.
    Show {
        /// Id or user principal name.
        user: String,
    },
    /// Change properties: --set department=Sales --set jobTitle= (empty: clear it).
    Update {
        /// Id or user principal name.
        user: String,
        /// PROPERTY=VALUE, Graph's property names; lists (businessPhones, otherMails) separated by ';'.
        #[arg(long = "set", value_name = "PROPERTY=VALUE", required = true)]
        set: Vec<String>,
    },
    /// Delete a user (it goes to the deleted items, from where it can be restored).
    Delete {
        /// Id or user principal name.
        user: String,
    },
    /// Restore a deleted user.
    Restore {
        /// Id or user principal name of the deleted user.
        user: String,
    },
    /// Set a user's manager (or remove it with --none).
    SetManager {
        /// Id or user principal name.
        user: String,
        /// The manager: id or user principal name.
        #[arg(required_unless_present = "none")]
        manager: Option<String>,
        /// Remove the user's manager.
        #[arg(long, conflicts_with = "manager")]
        none: bool,
    },
}

/// What a listing lists.
#[derive(Args)]
pub struct ListArgs {
    /// An OData $filter: eq, ne, startsWith, in, and, or on id, userPrincipalName, displayName, mail,
    /// mailNickname, employeeId, accountEnabled (users); id, displayName, mail, mailNickname, securityEnabled,
    /// mailEnabled (groups).
    #[arg(long)]
    filter: Option<String>,
    /// The most objects to list.
    #[arg(long)]
    top: Option<usize>,
}

impl ListArgs {
    /// The whole listing of `collection` (every page up to --top), with the extra query parameters.
    async fn list(&self, g: &Graph, collection: &str, extra: &[(&str, &str)]) -> Result<super::http::Listing> {
        let page = self.top.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE).to_string();
        let mut query = vec![("$top", page.as_str())];
        query.extend_from_slice(extra);
        if let Some(f) = &self.filter {
            query.push(("$filter", f));
        }
        g.list(g.url_with(&[collection], &query), self.top).await
    }
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a security group (or a Microsoft 365 group).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// A Microsoft 365 group (groupTypes Unified, mail-enabled) rather than a security group. Only security
        /// groups can be assigned to applications.
        #[arg(long)]
        microsoft_365: bool,
    },
    /// List groups, every page (or the first --top), e.g. --filter "startsWith(displayName,'Eng')".
    List(ListArgs),
    /// Show a group's properties.
    Show {
        /// Id or display name.
        group: String,
    },
    /// Delete a group.
    Delete {
        /// Id or display name.
        group: String,
    },
    /// Add a user or a group (nesting) to a group.
    AddMember {
        /// Id or display name.
        group: String,
        /// A user (id or user principal name) or a group (id or display name).
        member: String,
    },
    /// Remove a member from a group.
    RemoveMember { group: String, member: String },
    /// List a group's direct members.
    Members { group: String },
}

pub async fn run(g: &Graph, command: DirectoryCommand) -> Result<Output> {
    match command {
        DirectoryCommand::User { command } => user(g, command).await,
        DirectoryCommand::Group { command } => group(g, command).await,
        DirectoryCommand::Import { command } => super::import::run(g, command).await,
    }
}

/// The properties `user show` asks for: every one idplane keeps.
fn all_user_properties() -> String {
    properties::USER.iter().map(|p| p.name).collect::<Vec<_>>().join(",")
}

/// A user by id or user principal name (the API resolves both in the path), with `select`ed properties.
pub async fn find_user(g: &Graph, user: &str, select: &str) -> Result<Value> {
    g.get(g.url_with(&["users", user.trim()], &[("$select", select)])).await.map_err(|e| match e.status() {
        Some(404) => ClientError::Lookup(format!("no user '{user}' (give its id or user principal name)")),
        _ => e,
    })
}

/// The one object of a listing filtered on a name, or an error that says there is none or several (`list` is the
/// command that lists them).
pub async fn one_named(
    g: &Graph,
    collection: &str,
    filter: String,
    what: &str,
    name: &str,
    list: &str,
) -> Result<Value> {
    let url = g.url_with(&[collection], &[("$filter", &filter), ("$top", "2")]);
    let found = g.get(url).await?;
    let items = found.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    match items.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ClientError::Lookup(format!("no {what} named '{name}'"))),
        _ => Err(ClientError::Lookup(format!(
            "several {what}s are named '{name}': give the id of the one you mean (list them with `{list}`)"
        ))),
    }
}

/// An object of `collection` by id (a GUID) or display name; `what` names it in messages, `list` is the command
/// that lists them.
pub async fn by_id_or_name(g: &Graph, collection: &str, what: &str, name: &str, list: &str) -> Result<Value> {
    let name = name.trim();
    if is_guid(name) {
        return g.get(g.url(&[collection, name])).await.map_err(|e| match e.status() {
            Some(404) => ClientError::Lookup(format!("no {what} with id {name}")),
            _ => e,
        });
    }
    let filter = format!("displayName eq {}", odata_string(name));
    one_named(g, collection, filter, what, name, list).await
}

/// A group by id or display name.
pub async fn find_group(g: &Graph, group: &str) -> Result<Value> {
    by_id_or_name(g, "groups", "group", group, "idplane directory group list").await
}

/// The id of a user or group named by id, user principal name or group display name, and its kind (`user` or
/// `group`).
pub async fn find_principal(g: &Graph, name: &str) -> Result<(String, &'static str, String)> {
    let name = name.trim();
    let id_of = |v: &Value| text(v, "id");
    if name.contains('@') {
        let u = find_user(g, name, "id,displayName").await?;
        return Ok((id_of(&u), "user", text(&u, "displayName")));
    }
    if is_guid(name) {
        let o = g.get(g.url(&["directoryObjects", name])).await.map_err(|e| match e.status() {
            Some(404) => ClientError::Lookup(format!("no user or group with id {name}")),
            _ => e,
        })?;
        let kind = if text(&o, "@odata.type").ends_with("group") { "group" } else { "user" };
        return Ok((id_of(&o), kind, text(&o, "displayName")));
    }
    let group = find_group(g, name).await.map_err(|e| match e {
        ClientError::Lookup(m) => ClientError::Lookup(format!("{m}: a user is named by id or user principal name")),
        e => e,
    })?;
    Ok((id_of(&group), "group", text(&group, "displayName")))
}

/// A `--set name=value` as the property and its JSON value, typed by the directory's table of user properties.
pub fn user_setting(setting: &str) -> Result<(String, Value)> {
    let Some((name, value)) = setting.split_once('=') else {
        return Err(ClientError::Usage(format!("--set {setting:?}: write PROPERTY=VALUE, e.g. department=Sales")));
    };
    let name = name.trim();
    let writable: Vec<&str> = properties::USER.iter().filter(|p| p.writable).map(|p| p.name).collect();
    let Some(p) = properties::USER.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
        return Err(ClientError::Usage(format!(
            "--set: no user property {name:?}; the properties are {}",
            writable.join(", ")
        )));
    };
    if !p.writable {
        return Err(ClientError::Usage(format!("--set: {} is computed by the directory and cannot be set", p.name)));
    }
    let value = value.trim();
    let json = match (p.ty, value) {
        (_, "") => Value::Null,
        (PropType::Boolean, v) => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Value::Bool(true),
            "false" | "no" | "off" => Value::Bool(false),
            _ => return Err(ClientError::Usage(format!("--set: {} is true or false, not {v:?}", p.name))),
        },
        (PropType::Strings, v) => {
            Value::Array(v.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| json!(s)).collect())
        }
        (_, v) => json!(v),
    };
    Ok((p.name.to_string(), json))
}

fn user_row(u: &Value) -> Vec<String> {
    let state = if u.get("accountEnabled") == Some(&Value::Bool(false)) { "sign-in blocked" } else { "" };
    vec![text(u, "id"), text(u, "userPrincipalName"), text(u, "displayName"), state.to_string()]
}

async fn user(g: &Graph, command: UserCommand) -> Result<Output> {
    match command {
        UserCommand::Create {
            upn,
            display_name,
            given_name,
            surname,
            mail,
            department,
            job_title,
            employee_id,
            disabled,
        } => {
            let mut body = Map::new();
            body.insert("userPrincipalName".into(), json!(upn.trim()));
            body.insert("displayName".into(), json!(display_name));
            body.insert("accountEnabled".into(), json!(!disabled));
            for (k, v) in [
                ("givenName", given_name),
                ("surname", surname),
                ("mail", mail),
                ("department", department),
                ("jobTitle", job_title),
                ("employeeId", employee_id),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), json!(v));
                }
            }
            let created = g.post(g.url(&["users"]), &Value::Object(body)).await?;
            let text = format!("created user {} ({})", text(&created, "id"), text(&created, "userPrincipalName"));
            Ok(Output::new(created, text))
        }
        UserCommand::List(list) => {
            let select = [("$select", "id,userPrincipalName,displayName,accountEnabled")];
            let listing = list.list(g, "users", &select).await?;
            let rows: Vec<Vec<String>> = listing.items.iter().map(user_row).collect();
            Ok(Output::new(listing.to_json(), table(&rows)))
        }
        UserCommand::Show { user } => {
            let u = find_user(g, &user, &all_user_properties()).await?;
            let text = property_lines(&u);
            Ok(Output::new(u, text))
        }
        UserCommand::Update { user, set } => {
            let mut body = Map::new();
            for s in &set {
                let (k, v) = user_setting(s)?;
                body.insert(k, v);
            }
            let u = find_user(g, &user, "id,userPrincipalName").await?;
            g.patch(g.url(&["users", &text(&u, "id")]), &Value::Object(body.clone())).await?;
            let names: Vec<&str> = body.keys().map(String::as_str).collect();
            let text =
                format!("updated {} of user {} ({})", names.join(", "), text(&u, "id"), text(&u, "userPrincipalName"));
            Ok(Output::new(json!({"id": u["id"], "updated": body}), text))
        }
        UserCommand::Delete { user } => {
            let u = find_user(g, &user, "id,userPrincipalName").await?;
            g.delete(g.url(&["users", &text(&u, "id")])).await?;
            let text = format!(
                "deleted user {} ({}); `idplane directory user restore {}` brings it back",
                text(&u, "id"),
                text(&u, "userPrincipalName"),
                text(&u, "id")
            );
            Ok(Output::new(json!({"id": u["id"], "deleted": true}), text))
        }
        UserCommand::Restore { user } => {
            let id = if is_guid(user.trim()) {
                user.trim().to_string()
            } else {
                let filter = format!("userPrincipalName eq {}", odata_string(user.trim()));
                let found = g
                    .get(g.url_with(&["directory", "deletedItems", "microsoft.graph.user"], &[("$filter", &filter)]))
                    .await?;
                let ids: Vec<String> = found["value"].as_array().into_iter().flatten().map(|u| text(u, "id")).collect();
                match ids.as_slice() {
                    [one] => one.clone(),
                    [] => return Err(ClientError::Lookup(format!("no deleted user '{user}'"))),
                    _ => {
                        return Err(ClientError::Lookup(format!(
                            "several deleted users are named '{user}': give the id"
                        )));
                    }
                }
            };
            let restored = g.post(g.url(&["directory", "deletedItems", &id, "restore"]), &json!({})).await?;
            let text = format!("restored user {} ({})", text(&restored, "id"), text(&restored, "userPrincipalName"));
            Ok(Output::new(restored, text))
        }
        UserCommand::SetManager { user, manager, none } => {
            let u = find_user(g, &user, "id,userPrincipalName").await?;
            let id = text(&u, "id");
            match manager.filter(|_| !none) {
                Some(m) => {
                    let m = find_user(g, &m, "id,userPrincipalName").await?;
                    let reference = json!({"@odata.id": g.url(&["users", &text(&m, "id")]).to_string()});
                    g.put(g.url(&["users", &id, "manager", "$ref"]), &reference).await?;
                    let text =
                        format!("{}'s manager is now {}", text(&u, "userPrincipalName"), text(&m, "userPrincipalName"));
                    Ok(Output::new(json!({"id": id, "manager": m["id"]}), text))
                }
                None => {
                    g.delete(g.url(&["users", &id, "manager", "$ref"])).await?;
                    let text = format!("{} has no manager now", text(&u, "userPrincipalName"));
                    Ok(Output::new(json!({"id": id, "manager": null}), text))
                }
            }
        }
    }
}

/// The body of a new group: a security group, or a Microsoft 365 one.
pub fn new_group(name: &str, description: Option<&str>, microsoft_365: bool) -> Value {
    let mut body = json!({
        "displayName": name,
        "securityEnabled": !microsoft_365,
        "mailEnabled": microsoft_365,
        "groupTypes": if microsoft_365 { json!(["Unified"]) } else { json!([]) },
    });
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        body["description"] = json!(d);
    }
    body
}

fn group_kind(gr: &Value) -> &'static str {
    let unified = gr["groupTypes"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t.as_str().is_some_and(|s| s.eq_ignore_ascii_case("Unified"))));
    if unified { "Microsoft 365" } else { "Security" }
}

async fn group(g: &Graph, command: GroupCommand) -> Result<Output> {
    match command {
        GroupCommand::Create { name, description, microsoft_365 } => {
            let created = g.post(g.url(&["groups"]), &new_group(&name, description.as_deref(), microsoft_365)).await?;
            let text = format!(
                "created {} group {} ({})",
                group_kind(&created),
                text(&created, "id"),
                text(&created, "displayName")
            );
            Ok(Output::new(created, text))
        }
        GroupCommand::List(list) => {
            let listing = list.list(g, "groups", &[]).await?;
            let rows: Vec<Vec<String>> = listing
                .items
                .iter()
                .map(|gr| vec![text(gr, "id"), group_kind(gr).to_string(), text(gr, "displayName")])
                .collect();
            Ok(Output::new(listing.to_json(), table(&rows)))
        }
        GroupCommand::Show { group } => {
            let gr = find_group(g, &group).await?;
            let text = property_lines(&gr);
            Ok(Output::new(gr, text))
        }
        GroupCommand::Delete { group } => {
            let gr = find_group(g, &group).await?;
            g.delete(g.url(&["groups", &text(&gr, "id")])).await?;
            let text = format!("deleted group {} ({})", text(&gr, "id"), text(&gr, "displayName"));
            Ok(Output::new(json!({"id": gr["id"], "deleted": true}), text))
        }
        GroupCommand::AddMember { group, member } => {
            let gr = find_group(g, &group).await?;
            let (id, kind, name) = find_principal(g, &member).await?;
            g.post(g.url(&["groups", &text(&gr, "id"), "members", "$ref"]), &g.reference(&id)).await?;
            let text = format!("added {kind} {id} ({name}) to group {}", text(&gr, "displayName"));
            Ok(Output::new(json!({"group": gr["id"], "member": id, "memberType": kind}), text))
        }
        GroupCommand::RemoveMember { group, member } => {
            let gr = find_group(g, &group).await?;
            let (id, kind, name) = find_principal(g, &member).await?;
            g.delete(g.url(&["groups", &text(&gr, "id"), "members", &id, "$ref"])).await?;
            let text = format!("removed {kind} {id} ({name}) from group {}", text(&gr, "displayName"));
            Ok(Output::new(json!({"group": gr["id"], "member": id, "removed": true}), text))
        }
        GroupCommand::Members { group } => {
            let gr = find_group(g, &group).await?;
            let url = g.url_with(&["groups", &text(&gr, "id"), "members"], &[("$top", &PAGE_SIZE.to_string())]);
            let listing = g.list(url, None).await?;
            let rows: Vec<Vec<String>> = listing
                .items
                .iter()
                .map(|m| {
                    let kind = text(m, "@odata.type").trim_start_matches("#microsoft.graph.").to_string();
                    let name = if kind == "user" { text(m, "userPrincipalName") } else { text(m, "displayName") };
                    vec![kind, text(m, "id"), name]
                })
                .collect();
            Ok(Output::new(listing.to_json(), table(&rows)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_typed_by_the_directory_table() -> Result<()> {
        assert_eq!(user_setting("department=Sales")?, ("department".into(), json!("Sales")));
        assert_eq!(user_setting("JobTitle=")?, ("jobTitle".into(), Value::Null));
        assert_eq!(user_setting("accountEnabled=no")?, ("accountEnabled".into(), json!(false)));
        assert_eq!(
            user_setting("businessPhones=+1 555; +1 556")?,
            ("businessPhones".into(), json!(["+1 555", "+1 556"]))
        );
        assert!(matches!(user_setting("accountEnabled=maybe"), Err(ClientError::Usage(_))));
        assert!(matches!(user_setting("id=x"), Err(ClientError::Usage(m)) if m.contains("computed")));
        assert!(matches!(user_setting("nope=x"), Err(ClientError::Usage(m)) if m.contains("department")));
        assert!(matches!(user_setting("department"), Err(ClientError::Usage(_))));
        Ok(())
    }

    #[test]
    fn a_new_group_is_security_unless_microsoft_365() {
        assert_eq!(
            new_group("Eng", None, false),
            json!({"displayName": "Eng", "securityEnabled": true, "mailEnabled": false, "groupTypes": []})
        );
        let m = new_group("Team", Some("d"), true);
        assert_eq!(
            (m["groupTypes"].clone(), m["description"].clone(), group_kind(&m)),
            (json!(["Unified"]), json!("d"), "Microsoft 365")
        );
    }
}
