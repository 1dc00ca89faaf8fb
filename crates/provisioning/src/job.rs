//! Provisioning jobs (Graph's `synchronizationJob`): one per service principal and synchronization template, with a
//! schedule, a status, the job's schema (its attribute mappings and scoping; the template's until customised) and
//! settings. This module owns their shapes and the configuration rules; running them is the worker's.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::{ProvisioningError, Result};
use crate::ids;

/// The interval of a job that has never been started, as Graph shows it (.NET's `TimeSpan.MaxValue`).
pub const NEVER: &str = "P10675199DT2H48M5.4775807S";
/// The interval a job runs at once started, unless set otherwise: Entra's 40 minutes.
pub const DEFAULT_INTERVAL: &str = "PT40M";

/// `synchronizationSchedule.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleState {
    Active,
    Disabled,
    Paused,
}

impl ScheduleState {
    pub fn code(self) -> &'static str {
        match self {
            ScheduleState::Active => "Active",
            ScheduleState::Disabled => "Disabled",
            ScheduleState::Paused => "Paused",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [ScheduleState::Active, ScheduleState::Disabled, ScheduleState::Paused]
            .into_iter()
            .find(|s| s.code().eq_ignore_ascii_case(code))
    }
}

/// When a job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// An ISO 8601 duration (`PT40M`).
    pub interval: String,
    pub state: ScheduleState,
    pub expiration: Option<OffsetDateTime>,
}

/// A provisioning job.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncJob {
    /// `<templateId>.<tenant id without dashes>.<guid>`, as Entra shapes job ids.
    pub id: String,
    pub tenant_id: String,
    pub service_principal_id: String,
    pub template_id: String,
    pub schedule: Schedule,
    /// Graph's `synchronizationStatus`, as the job last reported it.
    pub status: Value,
    /// The job's schema when customised (`synchronizationSchema` JSON); `None` means the template's.
    pub schema: Option<Value>,
    /// `synchronizationJobSettings`: name and value pairs.
    pub settings: Vec<(String, String)>,
    pub version: i64,
    pub created: OffsetDateTime,
    pub last_modified: OffsetDateTime,
}

/// The status of a job that has never run.
pub fn initial_status() -> Value {
    json!({
        "code": "NotConfigured",
        "countSuccessiveCompleteFailures": 0,
        "escrowsPruned": false,
        "lastExecution": null,
        "lastSuccessfulExecution": null,
        "lastSuccessfulExecutionWithExports": null,
        "progress": [],
        "quarantine": null,
        "steadyStateFirstAchievedTime": "0001-01-01T00:00:00Z",
        "steadyStateLastAchievedTime": "0001-01-01T00:00:00Z",
        "synchronizedEntryCountByType": [],
        "troubleshootingUrl": null,
    })
}

/// A new job of `template_id` for a service principal.
pub fn new(tenant_id: &str, service_principal_id: &str, template_id: &str, now: OffsetDateTime) -> Result<SyncJob> {
    let id = format!("{template_id}.{}.{}", tenant_id.replace('-', ""), ids::new_guid(now)?);
    Ok(SyncJob {
        id,
        tenant_id: tenant_id.to_string(),
        service_principal_id: service_principal_id.to_string(),
        template_id: template_id.to_string(),
        schedule: Schedule { interval: NEVER.into(), state: ScheduleState::Disabled, expiration: None },
        status: initial_status(),
        schema: None,
        settings: Vec::new(),
        version: 1,
        created: now,
        last_modified: now,
    })
}

impl SyncJob {
    /// Graph's `synchronizationJob` (without its schema, which has its own endpoint).
    pub fn render(&self) -> Map<String, Value> {
        let settings: Vec<Value> = self.settings.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
        let v = json!({
            "id": self.id,
            "templateId": self.template_id,
            "schedule": {
                "expiration": self.schedule.expiration.map(crate::directory::rfc3339),
                "interval": self.schedule.interval,
                "state": self.schedule.state.code(),
            },
            "status": self.status,
            "synchronizationJobSettings": settings,
        });
        v.as_object().cloned().unwrap_or_default()
    }
}

/// The most seconds an interval may have: the never-run interval's, about 29,000 years.
const MAX_SECONDS: f64 = 10_675_199.0 * 86_400.0 + 2.0 * 3600.0 + 48.0 * 60.0 + 5.4775807;

/// The seconds in an ISO 8601 duration of days, hours, minutes and seconds (`P1D`, `PT40M`, `PT0.5S`,
/// `P10675199DT2H48M5.4775807S`), the form Graph's intervals take.
pub fn parse_duration(s: &str) -> Option<f64> {
    let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
    let (date, time) = match rest.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        let mut last = 0usize;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let i = units.iter().position(|(u, _)| u.eq_ignore_ascii_case(&c))?;
            if i < last || number.is_empty() {
                return None;
            }
            last = i + 1;
            let n: f64 = number.parse().ok()?;
            total += n * units[i].1;
            number.clear();
            any = true;
        }
        number.is_empty().then_some(())
    };
    take(date, &[('W', 7.0 * 86_400.0), ('D', 86_400.0)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        take(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    (any && total <= MAX_SECONDS + 1.0).then_some(total)
}

/// An interval as a client wrote it, as the ISO 8601 duration that is stored and shown, with its seconds: ISO 8601 as
/// given (`PT40M`), or a clock form converted (`0:40:00` → `PT40M`). msgraph-sdk for Python writes a `timedelta`
/// as Python prints it (`0:20:00`, `1 day, 0:20:00`, `0:00:01.500000`), and .NET prints a `TimeSpan` as
/// `1.00:20:00`: a script that sets `interval=timedelta(minutes=20)` sends the first.
pub fn interval(s: &str) -> Option<(String, f64)> {
    if let Some(seconds) = parse_duration(s) {
        return Some((s.to_string(), seconds));
    }
    let s = s.trim();
    // Days: Python's "N day, " or "N days, ", .NET's "N." before the clock.
    let (days, clock) = match s.split_once(", ") {
        Some((d, clock)) => (d.strip_suffix(" days").or_else(|| d.strip_suffix(" day"))?, clock),
        None => match s.split_once(':').and_then(|(h, _)| h.split_once('.')) {
            Some((d, _)) => (d, &s[d.len() + 1..]),
            None => ("0", s),
        },
    };
    let number = |t: &str| (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<u64>().ok())?;
    let mut parts = clock.split(':');
    let (Some(h), Some(m), Some(sec), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let (whole, fraction) = sec.split_once('.').unwrap_or((sec, ""));
    let (days, hours, minutes, whole) = (number(days)?, number(h)?, number(m)?, number(whole)?);
    if minutes >= 60 || whole >= 60 || m.len() != 2 || sec.len() < 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    let mut iso = String::from("P");
    if days > 0 {
        iso.push_str(&format!("{days}D"));
    }
    let mut time = String::new();
    for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
        if n > 0 {
            time.push_str(&format!("{n}{unit}"));
        }
    }
    if whole > 0 || !fraction.is_empty() {
        time.push_str(&whole.to_string());
        if !fraction.is_empty() {
            time.push('.');
            time.push_str(fraction);
        }
        time.push('S');
    }
    if !time.is_empty() || days == 0 {
        iso.push('T');
        iso.push_str(if time.is_empty() { "0S" } else { &time });
    }
    let seconds = parse_duration(&iso)?;
    Some((iso, seconds))
}

/// Applies Graph's `PATCH jobs/{id}` body: `schedule.interval` and `schedule.expiration` may change (the state
/// changes through `start` and `pause`); `synchronizationJobSettings` replaces the settings.
pub fn patch(job: &mut SyncJob, body: &Value) -> Result<()> {
    let Some(fields) = body.as_object() else {
        return Err(ProvisioningError::invalid("The request body must be a JSON object."));
    };
    for (name, value) in fields {
        match name.as_str() {
            n if n.starts_with('@') => {}
            "id" | "templateId" | "status" => {
                if value.is_null() || Some(value) == job.render().get(name.as_str()) {
                    continue;
                }
                return Err(ProvisioningError::invalid_property(name, format!("'{name}' of a job cannot be changed")));
            }
            "schedule" => patch_schedule(job, value)?,
            "synchronizationJobSettings" => {
                let Some(items) = value.as_array() else {
                    return Err(ProvisioningError::invalid_property(
                        name,
                        "synchronizationJobSettings must be an array",
                    ));
                };
                let mut settings = Vec::new();
                for item in items {
                    let (Some(n), Some(v)) =
                        (item.get("name").and_then(Value::as_str), item.get("value").and_then(Value::as_str))
                    else {
                        return Err(ProvisioningError::invalid_property(
                            name,
                            "each of synchronizationJobSettings is {\"name\": \"...\", \"value\": \"...\"}",
                        ));
                    };
                    settings.push((n.to_string(), v.to_string()));
                }
                job.settings = settings;
                // Limits on the target are settings too: refuse one that a cycle could not use.
                TargetLimits::of(job, "")?;
            }
            other => {
                return Err(ProvisioningError::invalid_property(
                    other,
                    format!("Property '{other}' cannot be changed on a synchronizationJob"),
                ));
            }
        }
    }
    Ok(())
}

fn patch_schedule(job: &mut SyncJob, value: &Value) -> Result<()> {
    let Some(fields) = value.as_object() else {
        return Err(ProvisioningError::invalid_property("schedule", "schedule must be an object"));
    };
    for (name, v) in fields {
        match name.as_str() {
            n if n.starts_with('@') => {}
            "interval" => {
                let Some(s) = v.as_str() else {
                    return Err(ProvisioningError::invalid_property("schedule.interval", "interval must be a string"));
                };
                match interval(s) {
                    Some((iso, secs)) if secs >= 1.0 => job.schedule.interval = iso,
                    _ => {
                        return Err(ProvisioningError::invalid_property(
                            "schedule.interval",
                            format!(
                                "interval '{s}' is not a duration of at least one second: ISO 8601 (PT40M) or a clock (0:40:00)"
                            ),
                        ));
                    }
                }
            }
            "expiration" => {
                job.schedule.expiration = match v {
                    Value::Null => None,
                    Value::String(s) => Some(
                        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
                            ProvisioningError::invalid_property(
                                "schedule.expiration",
                                format!("'{s}' is not an RFC 3339 time"),
                            )
                        })?,
                    ),
                    _ => {
                        return Err(ProvisioningError::invalid_property(
                            "schedule.expiration",
                            "expiration must be a time",
                        ));
                    }
                }
            }
            "state" => {
                let same = v.as_str().and_then(ScheduleState::from_code) == Some(job.schedule.state);
                if !same && !v.is_null() {
                    return Err(ProvisioningError::invalid_property(
                        "schedule.state",
                        "the schedule's state changes through the job's start and pause actions",
                    ));
                }
            }
            other => {
                return Err(ProvisioningError::invalid_property(other, format!("'{other}' is not part of a schedule")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_graph_writes_them() {
        assert_eq!(parse_duration("PT40M"), Some(2400.0));
        assert_eq!(parse_duration("P1DT1S"), Some(86_401.0));
        assert_eq!(parse_duration("PT0.5S"), Some(0.5));
        assert!(parse_duration(NEVER).is_some_and(|s| s > 9.2e11));
        for bad in ["", "P", "PT", "40M", "PT40", "PM40", "P1H", "PT1M1H", "P99999999D"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn intervals_are_taken_as_iso_or_as_the_clocks_sdks_print_and_kept_as_iso() {
        for (given, iso, seconds) in [
            ("PT40M", "PT40M", 2400.0),
            ("0:20:00", "PT20M", 1200.0),
            ("1 day, 0:20:00", "P1DT20M", 87_600.0),
            ("2 days, 0:00:00", "P2D", 172_800.0),
            ("0:00:01.500000", "PT1.5S", 1.5),
            ("1.02:03:04", "P1DT2H3M4S", 93_784.0),
            ("3 days, 1:00:00.250000", "P3DT1H0.25S", 262_800.25),
            ("0:00:00", "PT0S", 0.0),
        ] {
            assert_eq!(interval(given), Some((iso.to_string(), seconds)), "{given}");
        }
        // The never-run interval, as the SDK reads it back and writes it again.
        let never = interval("10675199 days, 2:48:05.477580").map(|(iso, _)| iso);
        assert_eq!(never.as_deref(), Some("P10675199DT2H48M5.47758S"));
        for bad in ["soon", "20:00", "0:60:00", "0:5:00", "1 week, 0:00:00", "-0:20:00", "1.2.03:04:05", "0:00:0x"] {
            assert_eq!(interval(bad), None, "{bad}");
        }
    }

    #[test]
    fn patches_change_the_interval_and_refuse_the_rest() -> Result<()> {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut job = new("8a6e2c53-1b1c-4a3f-9f57-0d8a7d3b2c10", "sp", "scim", now)?;
        assert!(job.id.starts_with("scim.8a6e2c531b1c4a3f9f570d8a7d3b2c10."), "{}", job.id);
        patch(&mut job, &json!({"schedule": {"interval": "PT20M", "state": "Disabled"}}))?;
        assert_eq!(job.schedule.interval, "PT20M");
        patch(&mut job, &json!({"schedule": {"interval": "0:30:00"}}))?;
        assert_eq!(job.schedule.interval, "PT30M");
        for body in [
            json!({"schedule": {"interval": "soon"}}),
            json!({"schedule": {"state": "Active"}}),
            json!({"templateId": "other"}),
            json!({"nope": 1}),
        ] {
            assert!(patch(&mut job, &body).is_err(), "{body}");
        }
        Ok(())
    }
}

/// What a restart resets (`synchronizationJobRestartScope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResetScope {
    None,
    ConnectorDataStore,
    Escrows,
    Watermark,
    QuarantineState,
    /// Everything, the links between source and target objects too.
    Full,
    /// Approves the deletions held by the accidental-deletion threshold.
    ForceDeletes,
}

impl ResetScope {
    const ALL: [ResetScope; 7] = [
        ResetScope::None,
        ResetScope::ConnectorDataStore,
        ResetScope::Escrows,
        ResetScope::Watermark,
        ResetScope::QuarantineState,
        ResetScope::Full,
        ResetScope::ForceDeletes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ResetScope::None => "None",
            ResetScope::ConnectorDataStore => "ConnectorDataStore",
            ResetScope::Escrows => "Escrows",
            ResetScope::Watermark => "Watermark",
            ResetScope::QuarantineState => "QuarantineState",
            ResetScope::Full => "Full",
            ResetScope::ForceDeletes => "ForceDeletes",
        }
    }
}

/// Reads a restart's body: `{"criteria": {"resetScope": ...}}` with the scope as a comma-separated string (any
/// case, spaces optional) or a JSON array of names; no body, no criteria or an empty scope is the portal's
/// "Restart provisioning": Watermark, Escrows and QuarantineState.
pub fn reset_scope(body: &Value) -> Result<Vec<ResetScope>> {
    let scope = body.get("criteria").and_then(|c| c.get("resetScope"));
    let names: Vec<String> = match scope {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect(),
        Some(Value::Array(items)) => {
            let mut names = Vec::new();
            for i in items {
                let Some(n) = i.as_str() else {
                    return Err(ProvisioningError::invalid_property(
                        "resetScope",
                        "resetScope lists names, as strings",
                    ));
                };
                names.push(n.trim().to_owned());
            }
            names
        }
        Some(_) => {
            return Err(ProvisioningError::invalid_property(
                "resetScope",
                "resetScope is a comma-separated string such as \"Watermark, Escrows\", or an array of names",
            ));
        }
    };
    if names.is_empty() {
        return Ok(vec![ResetScope::Escrows, ResetScope::Watermark, ResetScope::QuarantineState]);
    }
    let mut out = Vec::new();
    for n in names {
        let Some(s) = ResetScope::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(&n)) else {
            let known: Vec<&str> = ResetScope::ALL.iter().map(|s| s.name()).collect();
            return Err(ProvisioningError::invalid_property(
                "resetScope",
                format!("'{n}' is not a restart scope: use {}", known.join(", ")),
            ));
        };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod reset_tests {
    use super::*;

    #[test]
    fn restart_scopes_are_read_in_every_spelling_clients_send() {
        let default = vec![ResetScope::Escrows, ResetScope::Watermark, ResetScope::QuarantineState];
        assert_eq!(reset_scope(&json!({})).ok(), Some(default.clone()));
        assert_eq!(reset_scope(&json!({"criteria": {}})).ok(), Some(default.clone()));
        assert_eq!(reset_scope(&json!({"criteria": {"resetScope": ""}})).ok(), Some(default));
        assert_eq!(
            reset_scope(&json!({"criteria": {"resetScope": "watermark,FULL"}})).ok(),
            Some(vec![ResetScope::Watermark, ResetScope::Full])
        );
        assert_eq!(
            reset_scope(&json!({"criteria": {"resetScope": ["ForceDeletes"]}})).ok(),
            Some(vec![ResetScope::ForceDeletes])
        );
        assert!(reset_scope(&json!({"criteria": {"resetScope": "Everything"}})).is_err());
        assert!(reset_scope(&json!({"criteria": {"resetScope": 3}})).is_err());
    }
}

/// How hard a job may press its target: requests per second by HTTP method (`None`: no limit) and requests in
/// flight at once. A job's `synchronizationJobSettings` may set them (idplane's own names:
/// `TargetRequestsPerSecond.GET`, `.POST`, `.PUT`, `.PATCH`, `.DELETE` and `TargetConcurrency`; `0` lifts a limit);
/// otherwise a job of the `dataBricks` template provisioning into Azure Databricks keeps to Databricks' documented
/// account SCIM limits ([`TargetLimits::DATABRICKS`]), and any other job to [`TargetLimits::DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetLimits {
    pub get: Option<f64>,
    pub post: Option<f64>,
    pub put: Option<f64>,
    pub patch: Option<f64>,
    pub delete: Option<f64>,
    pub concurrency: usize,
}

impl TargetLimits {
    /// No rate limit; eight requests at once.
    pub const DEFAULT: TargetLimits =
        TargetLimits { get: None, post: None, put: None, patch: None, delete: None, concurrency: 8 };
    /// Databricks' account SCIM API: GET 20, POST/PUT/DELETE 5, PATCH 2 requests per second.
    pub const DATABRICKS: TargetLimits = TargetLimits {
        get: Some(20.0),
        post: Some(5.0),
        put: Some(5.0),
        patch: Some(2.0),
        delete: Some(5.0),
        concurrency: 4,
    };

    /// The limits of a job of `template_id` provisioning to `host`, with the job's own settings over them.
    pub fn of(job: &SyncJob, host: &str) -> Result<TargetLimits> {
        let host = host.to_ascii_lowercase();
        let databricks = ["azuredatabricks.net", "cloud.databricks.com", "gcp.databricks.com"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")));
        let mut limits = if job.template_id.eq_ignore_ascii_case("dataBricks") && databricks {
            TargetLimits::DATABRICKS
        } else {
            TargetLimits::DEFAULT
        };
        for (name, value) in &job.settings {
            let bad = || {
                ProvisioningError::invalid_property(
                    "synchronizationJobSettings",
                    format!("{name} is a number, 0 (no limit) or at least 0.01, not {value:?}"),
                )
            };
            let rate = || -> Result<Option<f64>> {
                let n: f64 = value.trim().parse().map_err(|_| bad())?;
                // 0 lifts the limit; otherwise at least one request every 100 seconds.
                if !n.is_finite() || n < 0.0 || (n > 0.0 && n < 0.01) {
                    return Err(bad());
                }
                Ok((n > 0.0).then_some(n))
            };
            match name.to_ascii_lowercase().as_str() {
                "targetrequestspersecond.get" => limits.get = rate()?,
                "targetrequestspersecond.post" => limits.post = rate()?,
                "targetrequestspersecond.put" => limits.put = rate()?,
                "targetrequestspersecond.patch" => limits.patch = rate()?,
                "targetrequestspersecond.delete" => limits.delete = rate()?,
                "targetconcurrency" => {
                    let n: usize = value.trim().parse().map_err(|_| bad())?;
                    limits.concurrency = if n == 0 { 64 } else { n.min(64) };
                }
                _ => {}
            }
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    #[test]
    fn databricks_hosts_get_databricks_limits_and_settings_override_them() -> Result<()> {
        let mut j = new("t", "sp", "dataBricks", OffsetDateTime::UNIX_EPOCH)?;
        assert_eq!(TargetLimits::of(&j, "accounts.azuredatabricks.net")?, TargetLimits::DATABRICKS);
        assert_eq!(TargetLimits::of(&j, "adb-1.2.azuredatabricks.net")?, TargetLimits::DATABRICKS);
        assert_eq!(TargetLimits::of(&j, "127.0.0.1")?, TargetLimits::DEFAULT, "an emulator needs no protection");
        j.settings =
            vec![("TargetRequestsPerSecond.PATCH".into(), "0".into()), ("TargetConcurrency".into(), "2".into())];
        let l = TargetLimits::of(&j, "accounts.azuredatabricks.net")?;
        assert_eq!((l.patch, l.post, l.concurrency), (None, Some(5.0), 2));
        j.settings = vec![("TargetRequestsPerSecond.GET".into(), "fast".into())];
        assert!(TargetLimits::of(&j, "x").is_err());
        j.settings = vec![("TargetRequestsPerSecond.GET".into(), "1e-300".into())];
        assert!(TargetLimits::of(&j, "x").is_err(), "a rate no wait can represent");
        let mut saved = new("t", "sp", "scim", OffsetDateTime::UNIX_EPOCH)?;
        let refused =
            patch(&mut saved, &json!({"synchronizationJobSettings": [{"name": "TargetConcurrency", "value": "many"}]}));
        assert!(refused.is_err(), "a PATCH with a limit a cycle could not use is refused");
        let scim = new("t", "sp", "scim", OffsetDateTime::UNIX_EPOCH)?;
        assert_eq!(TargetLimits::of(&scim, "accounts.azuredatabricks.net")?, TargetLimits::DEFAULT);
        Ok(())
    }
}
