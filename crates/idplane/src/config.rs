//! Settings: every `serve` setting comes from a flag, an `IDPLANE_*` environment variable, or a TOML file named by
//! `--config` (or `IDPLANE_CONFIG`), in that order of precedence; else its default. A file's keys are the flags'
//! names (`rate_limit_per_second = 500` or `rate-limit-per-second = 500`). An unknown key in the file is an error; an
//! unknown `IDPLANE_*` variable is reported on standard error. `idplane config` prints the effective settings and
//! where each comes from, secrets masked.

use std::collections::BTreeSet;
use std::ffi::OsString;

use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// The subcommands that take the `serve` settings.
const LAYERED: [&str; 2] = ["serve", "config"];

/// Variables idplane reads directly rather than through a flag.
const DIRECT_VARIABLES: [&str; 4] =
    ["IDPLANE_BOOTSTRAP_TOKEN", "IDPLANE_LOG", "IDPLANE_CONFIG", crate::mail::PASSWORD_VARIABLE];
/// Variables the project's own test scripts set.
const TEST_VARIABLES: [&str; 8] = [
    "IDPLANE_BIN",
    "IDPLANE_TEST_DATABASE_URL",
    "IDPLANE_TEST_PYTHON",
    "IDPLANE_REQUIRE_POSTGRES",
    "IDPLANE_REQUIRE_SMTP",
    "IDPLANE_REQUIRE_NETNS",
    "IDPLANE_REQUIRE_BROWSER",
    "IDPLANE_CHROMIUM",
];

/// The command line with the config file's settings added where no flag or variable gave one, and the names of the
/// flags the file supplied.
pub fn layered(cmd: &Command, argv: Vec<OsString>) -> Result<(Vec<OsString>, BTreeSet<String>)> {
    report_unknown_variables(cmd);
    let Ok(matches) = cmd.clone().try_get_matches_from(argv.clone()) else {
        // Let the real parse report the mistake.
        return Ok((argv, BTreeSet::new()));
    };
    let Some((name, sub)) = matches.subcommand().filter(|(name, _)| LAYERED.contains(name)) else {
        return Ok((argv, BTreeSet::new()));
    };
    let Some(file) = sub.get_one::<std::path::PathBuf>("config") else { return Ok((argv, BTreeSet::new())) };
    let text = std::fs::read_to_string(file).with_context(|| format!("reading the config file {}", file.display()))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let Some(subcommand) = cmd.find_subcommand(name) else { return Ok((argv, BTreeSet::new())) };
    let mut argv = argv;
    let mut from_file = BTreeSet::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let Some(arg) = subcommand.get_arguments().find(|a| a.get_long() == Some(long.as_str()) && long != "config")
        else {
            let known: Vec<String> = settings(subcommand).into_iter().map(|(long, _)| long.replace('-', "_")).collect();
            bail!("unknown setting `{key}` in {}; the settings are: {}", file.display(), known.join(", "));
        };
        let id = arg.get_id().as_str();
        if !matches!(sub.value_source(id), None | Some(ValueSource::DefaultValue)) {
            continue;
        }
        let flag = format!("--{long}");
        match value {
            toml::Value::Boolean(true) => argv.push(flag.into()),
            toml::Value::Boolean(false) => continue,
            toml::Value::String(s) => argv.extend([flag.into(), s.into()]),
            toml::Value::Integer(n) => argv.extend([flag.into(), n.to_string().into()]),
            toml::Value::Float(f) => argv.extend([flag.into(), f.to_string().into()]),
            other => bail!("setting `{key}` in {} must be a string, number or boolean, not {other}", file.display()),
        }
        from_file.insert(long);
    }
    Ok((argv, from_file))
}

/// The settings of a subcommand: flag name and environment variable.
fn settings(subcommand: &Command) -> Vec<(String, Option<String>)> {
    subcommand
        .get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            // `config` names the file and `json` is the config command's own switch: neither is a setting.
            (!matches!(long, "config" | "json"))
                .then(|| (long.to_string(), a.get_env().map(|e| e.to_string_lossy().into_owned())))
        })
        .collect()
}

fn report_unknown_variables(cmd: &Command) {
    let mut known: BTreeSet<String> = DIRECT_VARIABLES.iter().chain(&TEST_VARIABLES).map(|s| s.to_string()).collect();
    let mut stack = vec![cmd];
    while let Some(c) = stack.pop() {
        known.extend(c.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()));
        stack.extend(c.get_subcommands());
    }
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("IDPLANE_") && !known.contains(name.as_ref()) {
            eprintln!("idplane: unknown environment variable {name} (ignored)");
        }
    }
}

/// The effective settings of `config` (or `serve`) and their sources, one per line, or as JSON.
pub fn describe(cmd: &Command, matches: &ArgMatches, from_file: &BTreeSet<String>, json: bool) -> String {
    let Some((name, sub)) = matches.subcommand() else { return String::new() };
    let Some(subcommand) = cmd.find_subcommand(name) else { return String::new() };
    let mut rows = Vec::new();
    for (long, env) in settings(subcommand) {
        let Some(arg) = subcommand.get_arguments().find(|a| a.get_long() == Some(long.as_str())) else { continue };
        let id = arg.get_id().as_str();
        let value: Vec<String> =
            sub.get_raw(id).map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect()).unwrap_or_default();
        let source = match sub.value_source(id) {
            Some(ValueSource::CommandLine) if from_file.contains(&long) => "file",
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue) => "default",
            _ => "unset",
        };
        rows.push((long, mask(&value.join(",")), source, env.unwrap_or_default()));
    }
    // Secrets that only a variable gives: whether they are set, never their value.
    for (setting, variable) in
        [("bootstrap-token", "IDPLANE_BOOTSTRAP_TOKEN"), ("smtp-password", crate::mail::PASSWORD_VARIABLE)]
    {
        let set = std::env::var_os(variable).is_some();
        rows.push((
            setting.into(),
            if set { "***".into() } else { String::new() },
            if set { "environment" } else { "unset" },
            variable.into(),
        ));
    }
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, v, s, e)| serde_json::json!({"setting": k, "value": v, "source": s, "variable": e}))
            .collect();
        return serde_json::Value::Array(items).to_string();
    }
    rows.iter().map(|(k, v, s, e)| format!("{k:26} {v:40} {s:12} {e}")).collect::<Vec<_>>().join("\n")
}

/// Hides a password in a URL (`postgres://user:secret@host` → `postgres://user:***@host`).
fn mask(value: &str) -> String {
    if let Some((scheme, rest)) = value.split_once("://")
        && let Some((credentials, host)) = rest.split_once('@')
        && let Some((user, _password)) = credentials.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(mask("postgres://app:s3cret@db:5432/idplane"), "postgres://app:***@db:5432/idplane");
        assert_eq!(mask("postgres://app@db/idplane"), "postgres://app@db/idplane");
        assert_eq!(mask("127.0.0.1:8080"), "127.0.0.1:8080");
    }
}
