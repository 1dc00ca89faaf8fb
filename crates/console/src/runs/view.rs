//! What the provisioning pages show, computed from the APIs' JSON: a job's status as the Overview reads it, recent
//! cycles grouped from the provisioning logs, the chart of those cycles (geometry only: the template draws it, so
//! that every value is escaped), times and durations.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use crate::api::segment as seg;

/// A string field of a JSON object ("" when absent or not a string).
pub fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time as `<time datetime>` takes it, to the second (Graph writes up to seven fraction digits); `None`
/// for what is not a time.
pub fn rfc3339(s: &str) -> Option<String> {
    parse_time(s).map(idplane_provisioning::directory::rfc3339)
}

/// A JSON value as one line of text: a string as it is, nothing for `null`, anything else as JSON.
pub fn flat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub use crate::api::odata_string as quoted;

/// The `details` of a provisioning step, as pairs.
pub fn details_of(step: &Value) -> Vec<(String, String)> {
    step["details"].as_object().map(|d| d.iter().map(|(k, v)| (k.clone(), flat(v))).collect()).unwrap_or_default()
}

/// The `modifiedProperties` of a provisioning event: name, old value, new value.
pub fn modified_of(event: &Value) -> Vec<(String, String, String)> {
    event["modifiedProperties"]
        .as_array()
        .map(|m| m.iter().map(|p| (text(p, "displayName"), flat(&p["oldValue"]), flat(&p["newValue"]))).collect())
        .unwrap_or_default()
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Milliseconds between two RFC 3339 times (0 when either is not one or they are reversed).
pub fn millis_between(began: &str, ended: &str) -> u64 {
    match (parse_time(began), parse_time(ended)) {
        (Some(b), Some(e)) if e >= b => (e - b).whole_milliseconds().min(u64::MAX as i128) as u64,
        _ => 0,
    }
}

/// A duration for people: "850 ms", "12.3 s", "4 min 5 s", "2 h 3 min".
pub fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A job's status as the Overview shows it.
#[derive(Debug, Clone, Default)]
pub struct JobView {
    pub id: String,
    /// Graph's status code: NotConfigured, NotRun, Active, Paused, Quarantine.
    pub code: String,
    /// Whether the job is started (its schedule is active).
    pub started: bool,
    /// Whether a cycle is running now.
    pub running: bool,
    /// The cycle running (or due) now: "Initial cycle" until one has succeeded, then "Incremental cycle".
    pub cycle_kind: &'static str,
    /// The last cycle: "Initial cycle" while only one has succeeded, then "Incremental cycle".
    pub last_kind: &'static str,
    /// Units done and in all, of the cycle running now.
    pub completed: u64,
    pub total: u64,
    pub percent: u64,
    pub units: String,
    /// Objects in the target by type ("User to User": 12).
    pub counts: Vec<(String, u64)>,
    /// The last cycle: its activity id, state, times, duration and counts.
    pub last: Option<Execution>,
    pub quarantine: Option<QuarantineView>,
    /// Objects whose export failed and are retried (escrowed).
    pub escrowed: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Execution {
    pub activity: String,
    pub state: String,
    pub ended: String,
    pub duration: String,
    pub exported: u64,
    pub imported: u64,
    pub error: String,
}

#[derive(Debug, Clone, Default)]
pub struct QuarantineView {
    pub reason: String,
    pub message: String,
    pub since: String,
    pub next_attempt: String,
    /// Deletions held back by the accidental-deletion threshold: approve them with ForceDeletes.
    pub held_deletions: bool,
    /// What to do about it.
    pub advice: &'static str,
}

fn num(v: &Value) -> u64 {
    v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)).unwrap_or(0)
}

impl JobView {
    /// Reads a job as `GET .../synchronization/jobs/{job}` answers it.
    pub fn of(job: &Value) -> JobView {
        let status = &job["status"];
        let schedule = text(&job["schedule"], "state");
        let progress = status["progress"].as_array().and_then(|p| p.first()).cloned();
        let (completed, total, units) = match &progress {
            Some(p) => (num(&p["completedUnits"]), num(&p["totalUnits"]), text(p, "units")),
            None => (0, 0, String::new()),
        };
        let last = execution(&status["lastExecution"]);
        let succeeded_once = !status["lastSuccessfulExecution"].is_null()
            || last.as_ref().is_some_and(|l| l.state == "Succeeded" || l.state == "EntryLevelErrors");
        let quarantine = status["quarantine"].as_object().map(|_| {
            let q = &status["quarantine"];
            let reason = text(q, "reason");
            let held = reason == "TooManyDeletes";
            QuarantineView {
                message: text(&q["error"], "message"),
                since: rfc3339(&text(q, "currentBegan")).unwrap_or_default(),
                next_attempt: rfc3339(&text(q, "nextAttempt")).unwrap_or_default(),
                held_deletions: held,
                advice: advice(&reason),
                reason,
            }
        });
        let counts = status["synchronizedEntryCountByType"]
            .as_array()
            .map(|a| a.iter().map(|kv| (text(kv, "key"), num(&kv["value"]))).collect())
            .unwrap_or_default();
        JobView {
            id: text(job, "id"),
            started: schedule == "Active",
            code: text(status, "code"),
            running: progress.is_some(),
            cycle_kind: if succeeded_once { "Incremental cycle" } else { "Initial cycle" },
            last_kind: match (&status["steadyStateFirstAchievedTime"], &status["steadyStateLastAchievedTime"]) {
                (Value::String(first), Value::String(last)) if first != last => "Incremental cycle",
                (Value::String(_), _) => "Initial cycle",
                _ if succeeded_once => "Incremental cycle",
                _ => "Initial cycle",
            },
            percent: (completed.min(total) * 100).checked_div(total).unwrap_or(0),
            completed,
            total,
            units,
            counts,
            last,
            quarantine,
            escrowed: num(&status["countEscrowed"]),
        }
    }

    /// Whether the job is started and no cycle has ended since: its first cycle is about to begin.
    pub fn starting(&self) -> bool {
        self.started && !self.running && self.last.is_none() && self.quarantine.is_none()
    }

    /// Seconds between refreshes of the status fragment: 2 while a cycle runs or is about to, 10 while the job is
    /// started (the next cycle will come), none otherwise.
    pub fn refresh_every(&self) -> Option<u32> {
        if self.running || self.starting() {
            Some(2)
        } else if self.started {
            Some(10)
        } else {
            None
        }
    }

    /// The users and the groups provisioned to date.
    pub fn count_of(&self, kind: &str) -> u64 {
        self.counts.iter().filter(|(k, _)| k.to_lowercase().starts_with(&kind.to_lowercase())).map(|(_, n)| n).sum()
    }
}

fn advice(reason: &str) -> &'static str {
    match reason {
        "TooManyDeletes" => {
            "The cycle would have disabled or deleted more objects than the accidental-deletion threshold allows, and \
             did none of them. Review them in the provisioning logs (Action: StagedDelete). If they are intended, \
             approve the deletions; if not, undo what caused them (assignments, scoping filters, deleted users) and \
             let the next cycle run."
        }
        "EncounteredQuarantineException" => {
            "The target refused the job's requests or could not be reached. Open Edit provisioning, check the tenant \
             URL and secret token with Test Connection, save, then restart provisioning."
        }
        _ => {
            "Look at the error below and the provisioning logs, fix the cause (often the admin credentials in Edit \
             provisioning), then restart provisioning."
        }
    }
}

fn execution(v: &Value) -> Option<Execution> {
    v.as_object()?;
    let began = text(v, "timeBegan");
    let ended = text(v, "timeEnded");
    let ms = millis_between(&began, &ended);
    Some(Execution {
        activity: text(v, "activityIdentifier"),
        state: text(v, "state"),
        duration: duration(ms),
        ended: rfc3339(&ended).unwrap_or_default(),
        exported: num(&v["countExported"]),
        imported: num(&v["countImported"]),
        error: text(&v["error"], "message"),
    })
}

/// One recent cycle, as `GET .../jobs/{job}/cycles` (idplane's own) sums it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub id: String,
    /// "Initial" or "Incremental".
    pub kind: &'static str,
    pub began: String,
    pub ended: String,
    pub duration_ms: u64,
    /// Objects exported (created, updated, disabled, deleted).
    pub exported: u64,
    /// Objects that failed (escrowed for a retry).
    pub failed: u64,
    /// "Success", "Warning" (some objects failed) or "Failure" (the cycle failed as a whole).
    pub outcome: &'static str,
    /// Why the cycle failed, when it did.
    pub error: String,
}

impl Cycle {
    /// Its duration, for people.
    pub fn duration(&self) -> String {
        duration(self.duration_ms)
    }
}

/// The cycles of the API's list (newest first), at most `limit`.
pub fn cycles(list: &[Value], limit: usize) -> Vec<Cycle> {
    list.iter()
        .take(limit)
        .map(|c| {
            let (began, ended) = (text(c, "timeBegan"), text(c, "timeEnded"));
            Cycle {
                id: text(c, "activityIdentifier"),
                kind: if c["initial"].as_bool().unwrap_or(false) { "Initial" } else { "Incremental" },
                duration_ms: millis_between(&began, &ended),
                began: rfc3339(&began).unwrap_or_default(),
                ended: rfc3339(&ended).unwrap_or_default(),
                exported: num(&c["countExported"]),
                failed: num(&c["countEscrowed"]),
                outcome: match text(c, "state").as_str() {
                    "Succeeded" => "Success",
                    "EntryLevelErrors" => "Warning",
                    _ => "Failure",
                },
                error: text(c, "error"),
            }
        })
        .collect()
}

/// The chart of recent cycles: one bar a cycle, oldest on the left, its height the objects exported, its class the
/// outcome.
#[derive(Debug, Clone)]
pub struct Chart {
    pub width: u32,
    pub height: u32,
    /// The top of the scale.
    pub max: u64,
    /// The baseline's y.
    pub base: u32,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone)]
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// The x of the bar's middle, for its labels.
    pub mid: u32,
    pub class: &'static str,
    pub exported: u64,
    /// The label under the bar: its cycle's end time (hh:mm).
    pub label: String,
    /// What the bar says, for its `<title>`.
    pub title: String,
}

/// Lays out `cycles` (newest first) as bars.
pub fn chart(cycles: &[Cycle]) -> Chart {
    const WIDTH: u32 = 640;
    const HEIGHT: u32 = 200;
    const TOP: u32 = 16;
    const BASE: u32 = 170;
    const LEFT: u32 = 40;
    let max = cycles.iter().map(|c| c.exported).max().unwrap_or(0).max(1);
    let n = cycles.len().max(1) as u32;
    let slot = (WIDTH - LEFT) / n.max(12);
    let width = (slot * 3 / 5).max(4);
    let bars = cycles
        .iter()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let height = ((c.exported as f64 / max as f64) * f64::from(BASE - TOP)).round() as u32;
            let height = if c.exported > 0 { height.max(2) } else { 1 };
            let x = LEFT + i as u32 * slot + (slot - width) / 2;
            Bar {
                x,
                y: BASE - height,
                width,
                height,
                mid: x + width / 2,
                class: match c.outcome {
                    "Failure" => "bar-bad",
                    "Warning" => "bar-warn",
                    _ if c.exported == 0 => "bar-none",
                    _ => "bar-ok",
                },
                exported: c.exported,
                label: c.ended.get(11..16).unwrap_or_default().to_string(),
                title: format!(
                    "{} cycle {}: {} exported, {} failed, {}, {} (ended {})",
                    c.kind,
                    c.id,
                    c.exported,
                    c.failed,
                    c.outcome,
                    duration(c.duration_ms),
                    c.ended
                ),
            }
        })
        .collect();
    Chart { width: WIDTH, height: HEIGHT, max, base: BASE, bars }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cycles_read_the_apis_summaries_newest_first() {
        let list = vec![
            json!({"activityIdentifier": "b", "state": "Failed", "initial": false, "error": "unreachable",
                   "timeBegan": "2026-12-06T10:05:00.25Z", "timeEnded": "2026-12-06T10:05:03.5Z"}),
            json!({"activityIdentifier": "a", "state": "EntryLevelErrors", "initial": true, "countExported": 7,
                   "countEscrowed": 2, "timeBegan": "2026-12-06T10:00:00Z", "timeEnded": "2026-12-06T10:00:10Z"}),
        ];
        let c = cycles(&list, 10);
        assert_eq!(
            (c[0].id.as_str(), c[0].kind, c[0].outcome, c[0].duration_ms),
            ("b", "Incremental", "Failure", 3250)
        );
        assert_eq!(c[0].error, "unreachable");
        assert_eq!((c[1].kind, c[1].outcome, c[1].exported, c[1].failed), ("Initial", "Warning", 7, 2));
        assert_eq!(c[1].ended, "2026-12-06T10:00:10Z");
        assert_eq!(cycles(&list, 1).len(), 1);
    }

    #[test]
    fn the_chart_scales_bars_to_the_largest_cycle_oldest_first() {
        let cycle = |id: &str, exported, failed, outcome| Cycle {
            id: id.into(),
            kind: "Incremental",
            began: "2026-12-06T10:00:00Z".into(),
            ended: "2026-12-06T10:02:00Z".into(),
            duration_ms: 120_000,
            exported,
            failed,
            outcome,
            error: String::new(),
        };
        let c = chart(&[cycle("new", 10, 0, "Success"), cycle("old", 5, 1, "Failure"), cycle("idle", 0, 0, "Success")]);
        assert_eq!(c.bars.len(), 3);
        assert_eq!(c.bars[0].class, "bar-none", "oldest on the left");
        assert_eq!(c.bars[0].height, 1);
        assert_eq!(c.bars[1].class, "bar-bad");
        assert_eq!(c.bars[2].height, 154, "the largest reaches the top");
        assert_eq!(c.bars[1].height, 77);
        assert!(c.bars[1].x < c.bars[2].x);
        assert_eq!(c.bars[2].y + c.bars[2].height, c.base);
        assert_eq!(c.bars[2].label, "10:02");
        assert!(c.bars[2].title.contains("10 exported") && c.bars[2].title.contains("2 min 0 s"));
        assert!(chart(&[]).bars.is_empty());
    }

    #[test]
    fn a_job_status_reads_as_the_overview_shows_it() {
        let job = json!({"id": "dataBricks.1.2", "schedule": {"state": "Active"}, "status": {
            "code": "Active", "progress": [{"completedUnits": 3, "totalUnits": 12, "units": "objects"}],
            "lastExecution": null, "lastSuccessfulExecution": null, "quarantine": null,
            "synchronizedEntryCountByType": [{"key": "User to User", "value": 7}, {"key": "Group to Group", "value": 2}]}});
        let v = JobView::of(&job);
        assert!(v.running && v.started);
        assert_eq!((v.completed, v.total, v.percent), (3, 12, 25));
        assert_eq!(v.cycle_kind, "Initial cycle");
        assert_eq!((v.count_of("User"), v.count_of("Group")), (7, 2));
        assert_eq!(v.refresh_every(), Some(2));
        let held = json!({"id": "j", "schedule": {"state": "Active"}, "status": {"code": "Quarantine",
            "progress": [], "countEscrowed": 4,
            "lastExecution": {"state": "Succeeded", "timeBegan": "2026-12-06T10:00:00Z",
                              "timeEnded": "2026-12-06T10:00:01.5Z", "countExported": 3},
            "quarantine": {"reason": "TooManyDeletes", "error": {"message": "12 deprovisionings"},
                           "currentBegan": "2026-12-06T10:00:01Z", "nextAttempt": "2026-12-06T10:10:00Z"}}});
        let v = JobView::of(&held);
        assert!(!v.running);
        assert_eq!(v.cycle_kind, "Incremental cycle");
        assert_eq!(v.last_kind, "Incremental cycle");
        assert_eq!(v.escrowed, 4);
        let q = v.quarantine.as_ref().expect("quarantined");
        assert!(q.held_deletions && q.message.contains("12"));
        assert_eq!(v.last.as_ref().map(|l| l.duration.as_str()), Some("1.5 s"));
        assert_eq!(v.refresh_every(), Some(10));
    }

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(rfc3339("2026-12-06T10:05:03.1234567Z").as_deref(), Some("2026-12-06T10:05:03Z"));
        assert_eq!(rfc3339("2026-12-06T11:05:03+01:00").as_deref(), Some("2026-12-06T10:05:03Z"));
        assert_eq!(rfc3339("yesterday"), None);
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 5 s");
        assert_eq!(duration(7_380_000), "2 h 3 min");
        assert_eq!(seg("a/b?c d"), "a%2Fb%3Fc%20d");
    }
}
