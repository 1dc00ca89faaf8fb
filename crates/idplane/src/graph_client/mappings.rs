//! `idplane app mappings` and `idplane app scoping`: the provisioning job's schema as an admin reads it, one
//! attribute mapping per line (`displayName <- Join(" ", [givenName], [surname])   only on create`), and the
//! scoping filters as clauses (`department EQUALS "Sales"`). Every change is what the SDK does: GET the schema,
//! change it, PATCH it whole, so that the server's validation answers (its message is printed on refusal); the
//! expression text is sent as written and the server builds its tree.

use std::path::PathBuf;

use clap::Subcommand;
use idplane_provisioning::scoping::Operator;
use serde_json::{Value, json};

use super::apps::{find_app, find_job};
use super::error::{ClientError, Result};
use super::http::Graph;
use super::output::{Output, text};

#[derive(Subcommand)]
pub enum MappingsCommand {
    /// Show the object mappings and their attribute mappings.
    Show {
        app: String,
        /// Only the mapping of this source object (User, Group).
        #[arg(long)]
        object: Option<String>,
    },
    /// Add or change an attribute mapping: 'TARGET <- EXPRESSION' ([attribute], "constant", or a function).
    Set {
        app: String,
        #[arg(long)]
        object: String,
        /// 'TARGET <- EXPRESSION', e.g. 'displayName <- Join(" ", [givenName], [surname])'; 'TARGET <-' with
        /// --default for a default value only.
        mapping: String,
        /// Match objects on this attribute, with this precedence (1 first; 0: not a matching attribute).
        #[arg(long)]
        matching: Option<i32>,
        /// Apply this mapping only when the object is created.
        #[arg(long, conflicts_with = "always")]
        only_on_create: bool,
        /// Apply this mapping always (create and update): undoes --only-on-create.
        #[arg(long)]
        always: bool,
        /// The value used when the expression gives none.
        #[arg(long, conflicts_with = "no_default")]
        default: Option<String>,
        /// Remove the default value.
        #[arg(long)]
        no_default: bool,
    },
    /// Remove an attribute mapping.
    Remove {
        app: String,
        #[arg(long)]
        object: String,
        /// The target attribute.
        target: String,
    },
    /// Enable an object mapping (provision these objects).
    Enable {
        app: String,
        #[arg(long)]
        object: String,
    },
    /// Disable an object mapping.
    Disable {
        app: String,
        #[arg(long)]
        object: String,
    },
    /// Print the whole schema as JSON (to edit and import).
    Export { app: String },
    /// Replace the schema with a JSON file (as exported).
    Import { app: String, file: PathBuf },
    /// Replace the schema with the application's synchronization template's.
    RestoreDefaults { app: String },
}

#[derive(Subcommand)]
pub enum ScopingCommand {
    /// Show the scoping filters (clauses of a group AND, groups OR).
    Show {
        app: String,
        #[arg(long)]
        object: Option<String>,
    },
    /// Add a clause: 'ATTRIBUTE OPERATOR [VALUE]', e.g. 'department EQUALS Sales', 'manager IS NOT NULL'.
    Add {
        app: String,
        #[arg(long)]
        object: String,
        /// The scoping filter (group of clauses) to add to; created when it does not exist.
        #[arg(long, default_value = "Scoping filter 1")]
        group: String,
        clause: String,
    },
    /// Remove every scoping filter, or one with --group.
    Clear {
        app: String,
        #[arg(long)]
        object: String,
        #[arg(long)]
        group: Option<String>,
    },
}

/// Where an application's schema is.
struct SchemaAt {
    sp: Value,
    job: Value,
}

impl SchemaAt {
    async fn find(g: &Graph, app: &str) -> Result<SchemaAt> {
        let sp = find_app(g, app).await?;
        let job = find_job(g, &sp).await?;
        Ok(SchemaAt { sp, job })
    }

    fn url(&self, g: &Graph) -> url::Url {
        g.url(&[
            "servicePrincipals",
            &text(&self.sp, "id"),
            "synchronization",
            "jobs",
            &text(&self.job, "id"),
            "schema",
        ])
    }

    async fn get(&self, g: &Graph) -> Result<Value> {
        let mut schema = g.get(self.url(g)).await?;
        if let Some(m) = schema.as_object_mut() {
            m.retain(|k, _| !k.starts_with("@odata"));
        }
        Ok(schema)
    }

    /// GET, change, PATCH; the schema as the server then has it.
    async fn change(&self, g: &Graph, change: impl FnOnce(&mut Value) -> Result<()>) -> Result<Value> {
        let mut schema = self.get(g).await?;
        change(&mut schema)?;
        g.patch(self.url(g), &schema).await?;
        self.get(g).await
    }
}

/// Every object mapping of a schema, across its rules.
fn object_mappings(schema: &Value) -> Vec<&Value> {
    schema["synchronizationRules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["objectMappings"].as_array().into_iter().flatten())
        .collect()
}

/// The object mapping whose source object is `object` (any case).
fn object_mapping<'a>(schema: &'a mut Value, object: &str) -> Result<&'a mut Value> {
    let known: Vec<String> = object_mappings(schema).iter().map(|m| text(m, "sourceObjectName")).collect();
    schema["synchronizationRules"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .flat_map(|r| r["objectMappings"].as_array_mut().into_iter().flatten())
        .find(|m| text(m, "sourceObjectName").eq_ignore_ascii_case(object.trim()))
        .ok_or_else(|| ClientError::Usage(format!("--object {object}: the schema maps {}", known.join(", "))))
}

/// Entra's names of an object mapping's target actions (`flowTypes` "Add, Update, Delete").
fn target_actions(m: &Value) -> String {
    let flows = match m.get("flowTypes") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        _ => "Add, Update, Delete".into(),
    };
    let actions: Vec<&str> = flows
        .split(',')
        .map(str::trim)
        .filter_map(|f| match f.to_ascii_lowercase().as_str() {
            "add" => Some("Create"),
            "update" => Some("Update"),
            "delete" => Some("Delete"),
            _ => None,
        })
        .collect();
    if actions.is_empty() { "none".into() } else { actions.join(", ") }
}

/// The expression of a mapping's source, as the portal shows it.
fn source_text(source: &Value) -> String {
    match (source.get("expression").and_then(Value::as_str), source.get("name").and_then(Value::as_str)) {
        (Some(e), _) if !e.is_empty() => e.to_string(),
        (_, Some(n)) if text(source, "type") == "Attribute" => format!("[{n}]"),
        (_, Some(n)) if text(source, "type") == "Constant" => format!("\"{}\"", n.replace('"', "\\\"")),
        _ => String::new(),
    }
}

/// One attribute mapping on one line: `target <- expression   matching 1   only on create   default "x"`.
pub fn mapping_line(am: &Value) -> String {
    let target = text(am, "targetAttributeName");
    let expression = match am.get("source").filter(|s| !s.is_null()) {
        Some(s) => source_text(s),
        None => "(none)".into(),
    };
    let mut notes = Vec::new();
    if let Some(n) = am.get("matchingPriority").and_then(Value::as_i64).filter(|n| *n > 0) {
        notes.push(format!("matching {n}"));
    }
    if text(am, "flowType") == "ObjectAddOnly" {
        notes.push("only on create".into());
    }
    if let Some(d) = am.get("defaultValue").and_then(Value::as_str) {
        notes.push(format!("default \"{d}\""));
    }
    if notes.is_empty() {
        format!("{target:<19} <- {expression}")
    } else {
        format!("{target:<19} <- {expression:<26}   {}", notes.join("   "))
    }
}

/// An object mapping: its name, state, objects and actions, then its attribute mappings.
pub fn render_object_mapping(m: &Value) -> String {
    let mut lines = vec![
        format!("{} ({})", text(m, "name"), if m["enabled"] == true { "enabled" } else { "disabled" }),
        format!(
            "  source object {} -> target object {}; target object actions: {}",
            text(m, "sourceObjectName"),
            text(m, "targetObjectName"),
            target_actions(m)
        ),
    ];
    lines.extend(m["attributeMappings"].as_array().into_iter().flatten().map(|am| format!("  {}", mapping_line(am))));
    lines.join("\n")
}

/// A mapping as `set` takes it: the target attribute, and the source (`None`: a default value only).
pub fn parse_mapping(s: &str) -> Result<(String, Option<Value>)> {
    let Some((target, expression)) = s.split_once("<-") else {
        return Err(ClientError::Usage(format!(
            "{s:?}: write 'TARGET <- EXPRESSION', e.g. 'displayName <- Join(\" \", [givenName], [surname])'"
        )));
    };
    let target = target.trim();
    if target.is_empty() || target.contains(char::is_whitespace) {
        return Err(ClientError::Usage(format!("{s:?}: the target attribute before '<-' is one name")));
    }
    let expression = expression.trim();
    let inner = expression.strip_prefix('[').and_then(|e| e.strip_suffix(']'));
    let source = match inner {
        _ if expression.is_empty() => None,
        Some(name) if !name.contains(['[', ']']) => {
            Some(json!({"type": "Attribute", "name": name, "expression": expression, "parameters": []}))
        }
        _ if expression.starts_with('"') => {
            Some(json!({"type": "Constant", "expression": expression, "parameters": []}))
        }
        _ => Some(json!({"type": "Function", "expression": expression, "parameters": []})),
    };
    Ok((target.to_string(), source))
}

/// What `set` changes besides the source; `None` keeps what the mapping has.
#[derive(Default)]
pub struct MappingFlags {
    pub matching: Option<i32>,
    pub only_on_create: Option<bool>,
    pub default: Option<Option<String>>,
}

/// Sets (or adds) the mapping of `target` in an object mapping.
pub fn set_mapping(object: &mut Value, target: &str, source: Option<Value>, flags: &MappingFlags) -> Result<()> {
    if source.is_none() && !matches!(flags.default, Some(Some(_))) {
        return Err(ClientError::Usage(format!("'{target} <-' maps nothing: give an expression, or --default VALUE")));
    }
    if !object["attributeMappings"].is_array() {
        object["attributeMappings"] = json!([]);
    }
    let list =
        object["attributeMappings"].as_array_mut().ok_or_else(|| ClientError::Usage("no attribute mappings".into()))?;
    let at = match list.iter().position(|m| text(m, "targetAttributeName").eq_ignore_ascii_case(target)) {
        Some(i) => i,
        None => {
            list.push(json!({"targetAttributeName": target, "defaultValue": null, "exportMissingReferences": false,
                             "flowBehavior": "FlowWhenChanged", "flowType": "Always", "matchingPriority": 0}));
            list.len() - 1
        }
    };
    let m = &mut list[at];
    m["source"] = source.unwrap_or(Value::Null);
    if let Some(n) = flags.matching {
        m["matchingPriority"] = json!(n);
    }
    if let Some(once) = flags.only_on_create {
        m["flowType"] = json!(if once { "ObjectAddOnly" } else { "Always" });
    }
    if let Some(d) = &flags.default {
        m["defaultValue"] = json!(d);
    }
    Ok(())
}

/// The operator of a clause as Entra's portal writes it.
fn operator_label(op: Operator) -> &'static str {
    match op {
        Operator::ContainedIn => "&",
        Operator::NotContainedIn => "!&",
        Operator::EndsWith => "ENDS_WITH",
        Operator::Equals => "EQUALS",
        Operator::GreaterThan => "Greater_Than",
        Operator::GreaterThanOrEquals => "Greater_Than_OR_EQUALS",
        Operator::Includes => "Includes",
        Operator::IsFalse => "IS FALSE",
        Operator::IsNotNull => "IS NOT NULL",
        Operator::IsNull => "IS NULL",
        Operator::IsTrue => "IS TRUE",
        Operator::NotEquals => "NOT EQUALS",
        Operator::NotRegexMatch => "NOT REGEX MATCH",
        Operator::RegexMatch => "REGEX MATCH",
    }
}

/// A clause as `add` takes it, `ATTRIBUTE OPERATOR [VALUE]`, as Graph's `filterClause`.
pub fn parse_clause(s: &str) -> Result<Value> {
    let s = s.trim();
    let usage = |why: &str| {
        ClientError::Usage(format!(
            "{s:?}: {why}; write 'ATTRIBUTE OPERATOR [VALUE]', e.g. 'department EQUALS Sales' (operators: {})",
            Operator::ALL.iter().map(|o| operator_label(*o)).collect::<Vec<_>>().join(", ")
        ))
    };
    let (attribute, rest) = s.split_once(char::is_whitespace).ok_or_else(|| usage("no operator"))?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    // The longest run of words that names an operator: "NOT REGEX MATCH" before a value.
    let (op, used) = (1..=words.len().min(4))
        .rev()
        .find_map(|n| Operator::parse(&words[..n].join(" ")).map(|op| (op, n)))
        .ok_or_else(|| usage("no operator Entra knows"))?;
    let mut value = rest.trim_start();
    for w in &words[..used] {
        value = value.trim_start().strip_prefix(w).unwrap_or(value);
    }
    let value = value.trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    let unary = matches!(op, Operator::IsNull | Operator::IsNotNull | Operator::IsTrue | Operator::IsFalse);
    let values: Vec<&str> = match (unary, value.is_empty()) {
        (true, true) => vec![],
        (true, false) => return Err(usage(&format!("{} takes no value", operator_label(op)))),
        (false, true) => return Err(usage(&format!("{} needs a value", operator_label(op)))),
        (false, false) => vec![value],
    };
    Ok(json!({"operatorName": op.name(), "sourceOperandName": attribute, "targetOperand": {"values": values}}))
}

/// A clause as the portal shows it.
pub fn clause_text(c: &Value) -> String {
    let name = text(c, "operatorName");
    let op = Operator::parse(&name).map_or_else(|| name.clone(), |o| operator_label(o).to_string());
    let values: Vec<String> = c["targetOperand"]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|v| format!("\"{v}\""))
        .collect();
    [text(c, "sourceOperandName"), op.to_string(), values.join(", ")]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An object mapping's scoping filters, one group per line.
pub fn render_scope(m: &Value) -> String {
    let groups = m["scope"]["groups"].as_array().cloned().unwrap_or_default();
    let head = format!("{} (source object {})", text(m, "name"), text(m, "sourceObjectName"));
    if groups.is_empty() {
        return format!("{head}: no scoping filter, every object in scope");
    }
    let mut lines = vec![format!("{head}: in scope when any filter holds (clauses of a filter AND)")];
    for (i, gr) in groups.iter().enumerate() {
        let clauses: Vec<String> = gr["clauses"].as_array().into_iter().flatten().map(clause_text).collect();
        lines.push(format!("  {}{}: {}", if i > 0 { "OR " } else { "" }, text(gr, "name"), clauses.join("  AND  ")));
    }
    lines.join("\n")
}

/// Adds a clause to the group `group` of an object mapping's scope (the group is created if missing).
pub fn add_clause(m: &mut Value, group: &str, clause: Value) {
    if !m["scope"].is_object() {
        m["scope"] = json!({"groups": []});
    }
    if !m["scope"]["groups"].is_array() {
        m["scope"]["groups"] = json!([]);
    }
    let Some(groups) = m["scope"]["groups"].as_array_mut() else { return };
    match groups.iter_mut().find(|g| text(g, "name") == group) {
        Some(g) => match g["clauses"].as_array_mut() {
            Some(c) => c.push(clause),
            None => g["clauses"] = json!([clause]),
        },
        None => groups.push(json!({"name": group, "clauses": [clause]})),
    }
}

/// The schema, with the object mappings of `object` (all without it) rendered.
async fn show(g: &Graph, app: &str, object: Option<&str>, render: fn(&Value) -> String) -> Result<Output> {
    let schema = SchemaAt::find(g, app).await?.get(g).await?;
    let text = shown(&schema, object, render)?;
    Ok(Output::new(schema, text))
}

fn shown(schema: &Value, object: Option<&str>, render: fn(&Value) -> String) -> Result<String> {
    let maps = object_mappings(schema);
    let chosen: Vec<&&Value> = maps
        .iter()
        .filter(|m| object.is_none_or(|o| text(m, "sourceObjectName").eq_ignore_ascii_case(o.trim())))
        .collect();
    if chosen.is_empty() {
        let known: Vec<String> = maps.iter().map(|m| text(m, "sourceObjectName")).collect();
        return Err(ClientError::Usage(format!(
            "--object {}: the schema maps {}",
            object.unwrap_or_default(),
            known.join(", ")
        )));
    }
    Ok(chosen.iter().map(|m| render(m)).collect::<Vec<_>>().join("\n\n"))
}

pub async fn mappings(g: &Graph, command: MappingsCommand) -> Result<Output> {
    match command {
        MappingsCommand::Show { app, object } => show(g, &app, object.as_deref(), render_object_mapping).await,
        MappingsCommand::Set { app, object, mapping, matching, only_on_create, always, default, no_default } => {
            let (target, source) = parse_mapping(&mapping)?;
            let flags = MappingFlags {
                matching,
                only_on_create: (only_on_create || always).then_some(only_on_create),
                default: if no_default { Some(None) } else { default.map(Some) },
            };
            let at = SchemaAt::find(g, &app).await?;
            let schema = at.change(g, |s| set_mapping(object_mapping(s, &object)?, &target, source, &flags)).await?;
            let mut schema = schema;
            let m = object_mapping(&mut schema, &object)?;
            let line = m["attributeMappings"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|am| text(am, "targetAttributeName").eq_ignore_ascii_case(&target))
                .map(mapping_line)
                .unwrap_or_default();
            Ok(Output::new(schema.clone(), format!("set {line}")))
        }
        MappingsCommand::Remove { app, object, target } => {
            let at = SchemaAt::find(g, &app).await?;
            let schema = at
                .change(g, |s| {
                    let m = object_mapping(s, &object)?;
                    let list = m["attributeMappings"].as_array_mut();
                    let Some(list) = list else { return Err(ClientError::Usage("no attribute mappings".into())) };
                    let before = list.len();
                    list.retain(|am| !text(am, "targetAttributeName").eq_ignore_ascii_case(target.trim()));
                    if list.len() == before {
                        return Err(ClientError::Usage(format!("{object} has no mapping of {target}")));
                    }
                    Ok(())
                })
                .await?;
            Ok(Output::new(schema, format!("removed the mapping of {target} from {object}")))
        }
        MappingsCommand::Enable { app, object } => enable(g, &app, &object, true).await,
        MappingsCommand::Disable { app, object } => enable(g, &app, &object, false).await,
        MappingsCommand::Export { app } => {
            let at = SchemaAt::find(g, &app).await?;
            let schema = at.get(g).await?;
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            Ok(Output::new(schema, text))
        }
        MappingsCommand::Import { app, file } => {
            let bytes =
                std::fs::read(&file).map_err(|e| ClientError::File { path: file.clone(), reason: e.to_string() })?;
            let mut schema: Value = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::File { path: file.clone(), reason: format!("not JSON: {e}") })?;
            if let Some(m) = schema.as_object_mut() {
                m.retain(|k, _| !k.starts_with("@odata"));
            }
            let at = SchemaAt::find(g, &app).await?;
            g.patch(at.url(g), &schema).await?;
            let saved = at.get(g).await?;
            let text = format!(
                "imported {} as the schema of job {} (version {})",
                file.display(),
                text(&at.job, "id"),
                text(&saved, "version")
            );
            Ok(Output::new(saved, text))
        }
        MappingsCommand::RestoreDefaults { app } => {
            let at = SchemaAt::find(g, &app).await?;
            let sp_id = text(&at.sp, "id");
            let template_id = text(&at.job, "templateId");
            let templates = g.get(g.url(&["servicePrincipals", &sp_id, "synchronization", "templates"])).await?;
            let template =
                templates["value"].as_array().into_iter().flatten().find(|t| text(t, "id") == template_id).ok_or_else(
                    || ClientError::Lookup(format!("the application has no synchronization template {template_id}")),
                )?;
            g.patch(at.url(g), &template["schema"]).await?;
            let saved = at.get(g).await?;
            Ok(Output::new(saved, format!("restored the mappings of template {template_id}")))
        }
    }
}

async fn enable(g: &Graph, app: &str, object: &str, on: bool) -> Result<Output> {
    let at = SchemaAt::find(g, app).await?;
    let mut schema = at
        .change(g, |s| {
            object_mapping(s, object)?["enabled"] = json!(on);
            Ok(())
        })
        .await?;
    let m = object_mapping(&mut schema, object)?;
    let text = format!("{} is {}", text(m, "name"), if on { "enabled" } else { "disabled" });
    Ok(Output::new(schema, text))
}

pub async fn scoping(g: &Graph, command: ScopingCommand) -> Result<Output> {
    match command {
        ScopingCommand::Show { app, object } => show(g, &app, object.as_deref(), render_scope).await,
        ScopingCommand::Add { app, object, group, clause } => {
            let clause = parse_clause(&clause)?;
            let at = SchemaAt::find(g, &app).await?;
            let mut schema = at
                .change(g, |s| {
                    add_clause(object_mapping(s, &object)?, &group, clause);
                    Ok(())
                })
                .await?;
            let text = render_scope(object_mapping(&mut schema, &object)?);
            Ok(Output::new(schema, text))
        }
        ScopingCommand::Clear { app, object, group } => {
            let at = SchemaAt::find(g, &app).await?;
            let mut schema = at
                .change(g, |s| {
                    let m = object_mapping(s, &object)?;
                    match &group {
                        None => m["scope"] = Value::Null,
                        Some(name) => {
                            let groups = m["scope"]["groups"].as_array_mut();
                            let Some(groups) = groups.filter(|gs| gs.iter().any(|g| text(g, "name") == *name)) else {
                                return Err(ClientError::Usage(format!("{object} has no scoping filter {name:?}")));
                            };
                            groups.retain(|g| text(g, "name") != *name);
                        }
                    }
                    Ok(())
                })
                .await?;
            let text = render_scope(object_mapping(&mut schema, &object)?);
            Ok(Output::new(schema, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_read_one_per_line_as_the_portal_shows_them() {
        let user_name = json!({"targetAttributeName": "userName", "matchingPriority": 1, "flowType": "Always",
            "source": {"type": "Attribute", "name": "userPrincipalName", "expression": "[userPrincipalName]"}});
        assert_eq!(mapping_line(&user_name), "userName            <- [userPrincipalName]          matching 1");
        let display = json!({"targetAttributeName": "displayName", "flowType": "ObjectAddOnly", "matchingPriority": 0,
            "source": {"type": "Function", "name": "Join", "expression": "Join(\" \", [givenName], [surname])"}});
        assert_eq!(
            mapping_line(&display),
            "displayName         <- Join(\" \", [givenName], [surname])   only on create"
        );
        let none = json!({"targetAttributeName": "locale", "source": null, "defaultValue": "en-US"});
        assert_eq!(mapping_line(&none), "locale              <- (none)                       default \"en-US\"");
        let om = json!({"name": "Provision Users", "enabled": true, "sourceObjectName": "User", "targetObjectName": "User",
            "flowTypes": "Add, Update", "attributeMappings": [user_name]});
        let text = render_object_mapping(&om);
        assert!(text.starts_with("Provision Users (enabled)\n  source object User -> target object User; target object actions: Create, Update\n  userName"), "{text}");
    }

    #[test]
    fn set_parses_targets_and_sources_and_keeps_what_it_is_not_told() -> Result<()> {
        assert_eq!(
            parse_mapping("mail <- [mail]")?.1,
            Some(json!({"type": "Attribute", "name": "mail", "expression": "[mail]", "parameters": []}))
        );
        assert_eq!(parse_mapping("x <- \"Sales\"")?.1.map(|s| s["type"].clone()), Some(json!("Constant")));
        assert_eq!(parse_mapping("x<-Join(\",\", [a], [b])")?.1.map(|s| s["type"].clone()), Some(json!("Function")));
        assert_eq!(parse_mapping("x <-")?, ("x".into(), None));
        assert!(parse_mapping("x = [y]").is_err());
        assert!(parse_mapping("a b <- [y]").is_err());

        let mut om = json!({"attributeMappings": [{"targetAttributeName": "userName", "matchingPriority": 1, "flowType": "Always",
            "source": {"type": "Attribute", "name": "userPrincipalName", "expression": "[userPrincipalName]"}}]});
        set_mapping(&mut om, "UserName", parse_mapping("userName <- [mail]")?.1, &MappingFlags::default())?;
        assert_eq!(om["attributeMappings"][0]["matchingPriority"], 1, "matching kept");
        assert_eq!(om["attributeMappings"][0]["source"]["name"], "mail");
        let flags = MappingFlags { only_on_create: Some(true), default: Some(Some("x".into())), ..Default::default() };
        set_mapping(&mut om, "nickName", parse_mapping("nickName <- [mailNickname]")?.1, &flags)?;
        assert_eq!(om["attributeMappings"][1]["flowType"], "ObjectAddOnly");
        assert_eq!(om["attributeMappings"][1]["defaultValue"], "x");
        assert!(set_mapping(&mut om, "locale", None, &MappingFlags::default()).is_err(), "nothing to map");
        Ok(())
    }

    #[test]
    fn clauses_take_entra_operator_names_with_spaces_and_values_with_spaces() -> Result<()> {
        assert_eq!(
            parse_clause("department EQUALS Sales")?,
            json!({"operatorName": "EQUALS", "sourceOperandName": "department", "targetOperand": {"values": ["Sales"]}})
        );
        assert_eq!(
            parse_clause("jobTitle NOT EQUALS \"Vice President\"")?["targetOperand"]["values"],
            json!(["Vice President"])
        );
        assert_eq!(parse_clause("jobTitle NOT EQUALS \"Vice President\"")?["operatorName"], "NOT_EQUALS");
        assert_eq!(parse_clause("mail REGEX MATCH .*@contoso\\.com$")?["operatorName"], "REGEX_MATCH");
        assert_eq!(
            parse_clause("manager IS NOT NULL")?,
            json!({"operatorName": "IS_NOT_NULL", "sourceOperandName": "manager", "targetOperand": {"values": []}})
        );
        assert_eq!(parse_clause("employeeId Greater_Than_OR_EQUALS 100")?["operatorName"], "GREATER_THAN_OR_EQUALS");
        assert!(matches!(parse_clause("department LIKE x"), Err(ClientError::Usage(m)) if m.contains("REGEX MATCH")));
        assert!(parse_clause("manager IS NULL x").is_err());
        assert!(parse_clause("department EQUALS").is_err());
        assert_eq!(clause_text(&parse_clause("jobTitle not_equals Boss")?), "jobTitle NOT EQUALS \"Boss\"");

        let mut om = json!({"name": "Users", "sourceObjectName": "User", "scope": null});
        assert!(render_scope(&om).contains("no scoping filter"));
        add_clause(&mut om, "Scoping filter 1", parse_clause("department EQUALS Sales")?);
        add_clause(&mut om, "Scoping filter 1", parse_clause("accountEnabled IS TRUE")?);
        add_clause(&mut om, "Managers", parse_clause("jobTitle Includes Manager")?);
        assert_eq!(
            render_scope(&om),
            "Users (source object User): in scope when any filter holds (clauses of a filter AND)\n  \
             Scoping filter 1: department EQUALS \"Sales\"  AND  accountEnabled IS TRUE\n  OR Managers: jobTitle Includes \"Manager\""
        );
        Ok(())
    }
}
