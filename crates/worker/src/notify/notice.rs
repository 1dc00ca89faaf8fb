//! A notice: what a job tells its notification recipients, and how it reads as an email (a subject and a plain-text
//! body; pure, so that every wording is tested without a relay).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::notify::advice;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The job entered quarantine (or its quarantine reason changed): Graph's quarantine reason code
    /// (EncounteredQuarantineException, EncounteredEscrowProportionThreshold, TooManyDeletes, ...), the error text.
    Quarantine { reason: String, error: String },
    /// A cycle ended with failures: how many objects failed, and the first few (identity, error code, reason).
    CycleFailures { failed: u64, first_errors: Vec<FailedObject> },
}

/// An object a cycle failed to provision, as its provisioning log entry has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedObject {
    /// The source object as people know it (a user's userPrincipalName, a group's displayName).
    pub identity: String,
    /// The provisioning log's `errorCode` (`EntryConflict`, `Unauthorized`, ...).
    pub error_code: String,
    /// The provisioning log's `reason`.
    pub reason: String,
}

/// A notification about one provisioning job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub tenant_id: String,
    /// The application's display name.
    pub application: String,
    pub service_principal_id: String,
    pub job_id: String,
    /// When it happened: the job entered quarantine, or the cycle ended.
    pub at: OffsetDateTime,
    pub kind: NoticeKind,
    /// Where to look: the Graph provisioning-logs URL filtered to the job or cycle ([`logs_url`]).
    pub logs_url: Option<String>,
}

/// The most failed objects a body lists; the logs have the rest.
pub const MAX_LISTED: usize = 10;

/// The longest free text (an error, a reason, a name) a notice shows, in characters; a target's error body can be
/// long, and the logs have it whole.
const MAX_TEXT: usize = 1000;

/// The width the body's prose is wrapped at.
const WIDTH: usize = 76;

impl Notice {
    /// The reason this notice is sent for: `quarantine:<reason>`, or `failures`. "Once per reason": the engine keeps
    /// the last key sent per job and sends again only when it changes. The key holds no count, identity or error
    /// text, so that the same trouble cycle after cycle sends nothing new; failures have one key (a persistent
    /// failure with a changing mix of errors mails once), until the engine forgets it after a healthy cycle.
    pub fn reason_key(&self) -> String {
        match &self.kind {
            NoticeKind::Quarantine { reason, .. } => format!("quarantine:{reason}"),
            NoticeKind::CycleFailures { .. } => "failures".to_string(),
        }
    }

    /// The subject (one line) and the plain-text body.
    pub fn render(&self) -> (String, String) {
        let app = match one_line(&self.application, 200) {
            name if name.is_empty() => "(unnamed application)".to_string(),
            name => name,
        };
        let mut body = String::new();
        let subject = match &self.kind {
            NoticeKind::Quarantine { reason, error } => {
                let reason = one_line(reason, 100);
                para(&mut body, &format!("The provisioning job of the application \"{app}\" is in quarantine."));
                body.push('\n');
                body.push_str(&format!("Reason:  {reason}\n"));
                wrap_into(&mut body, advice::reason_meaning(&reason), "         ");
                body.push_str(&format!("Error:   {}\n", one_line(error, MAX_TEXT)));
                body.push_str(&format!("Since:   {}\n\n", timestamp(self.at)));
                body.push_str("What to do:\n");
                wrap_into(&mut body, advice::for_quarantine(&reason, error), "  ");
                body.push('\n');
                para(
                    &mut body,
                    "While the job is in quarantine its cycles run less often, down to once a day. The first \
                     healthy cycle, or a restart of the job, ends the quarantine.",
                );
                format!("[idplane] Provisioning of \"{app}\" is in quarantine: {reason}")
            }
            NoticeKind::CycleFailures { failed, first_errors } => {
                let objects = if *failed == 1 { "1 object".to_string() } else { format!("{failed} objects") };
                para(
                    &mut body,
                    &format!(
                        "A provisioning cycle of the application \"{app}\" ended at {} with {objects} that could \
                         not be provisioned.",
                        timestamp(self.at)
                    ),
                );
                body.push('\n');
                failures(&mut body, *failed, first_errors);
                format!("[idplane] Provisioning of \"{app}\": {objects} failed")
            }
        };
        body.push_str("\nWhere to look:\n");
        match &self.logs_url {
            Some(url) => body.push_str(&format!("  Provisioning logs: {}\n", one_line(url, 2 * MAX_TEXT))),
            None => body.push_str(&format!(
                "  The provisioning logs of the job: GET /v1.0/auditLogs/provisioning?$filter=jobId eq '{}'\n",
                one_line(&self.job_id, 200)
            )),
        }
        body.push('\n');
        body.push_str(&format!("Application:        {app}\n"));
        body.push_str(&format!("Service principal:  {}\n", one_line(&self.service_principal_id, 200)));
        body.push_str(&format!("Provisioning job:   {}\n", one_line(&self.job_id, 200)));
        body.push_str(&format!("Tenant:             {}\n", one_line(&self.tenant_id, 200)));
        body.push_str("\n-- \n");
        para(
            &mut body,
            "idplane sends this email once per reason, as Entra ID does. You receive it because your address is in \
             the notification email settings of the application's provisioning.",
        );
        (one_line(&subject, 300), body)
    }
}

/// The list of failed objects and the advice for their error codes.
fn failures(body: &mut String, failed: u64, first_errors: &[FailedObject]) {
    let listed = &first_errors[..first_errors.len().min(MAX_LISTED)];
    if !listed.is_empty() {
        let of = if listed.len() as u64 == failed { String::new() } else { format!(" ({} of {failed})", listed.len()) };
        body.push_str(&format!("First errors{of}:\n"));
        for (i, object) in listed.iter().enumerate() {
            body.push_str(&format!("  {}. {}\n", i + 1, one_line(&object.identity, 200)));
            body.push_str(&format!(
                "     {}: {}\n",
                one_line(&object.error_code, 200),
                one_line(&object.reason, MAX_TEXT)
            ));
        }
        let more = failed.saturating_sub(listed.len() as u64);
        if more > 0 {
            body.push_str(&format!("  ... and {more} more: the provisioning logs list them all.\n"));
        }
        body.push('\n');
    }
    body.push_str("What to do:\n");
    let mut seen: Vec<&str> = Vec::new();
    for object in listed {
        let code = object.error_code.as_str();
        if seen.contains(&code) {
            continue;
        }
        seen.push(code);
        if let Some(advice) = advice::for_error_code(code) {
            wrap_into(body, &format!("{}: {advice}", one_line(code, 200)), "  ");
            body.push('\n');
        }
    }
    wrap_into(
        body,
        "Failed objects are tried again on later cycles, less and less often. Once the cause is fixed, a restart of \
         the job tries them at once.",
        "  ",
    );
}

/// The Graph provisioning-logs URL of a job (and of one of its cycles): `graph_base` is the Graph API's base
/// (`https://idp.example.com/v1.0`).
pub fn logs_url(graph_base: &str, job_id: &str, cycle_id: Option<&str>) -> String {
    let mut filter = format!("jobId eq '{}'", job_id.replace('\'', "''"));
    if let Some(cycle) = cycle_id {
        filter.push_str(&format!(" and cycleId eq '{}'", cycle.replace('\'', "''")));
    }
    format!("{}/auditLogs/provisioning?$filter={}", graph_base.trim_end_matches('/'), percent_encode(&filter))
}

/// Percent-encodes a query value, keeping what reads well and needs no escaping in a query (RFC 3986 unreserved
/// characters and the quote OData strings use).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'\'') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text on one line (control characters, line breaks included, become spaces; a header cannot be split by a
/// name), cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    match clean.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", clean[..cut].trim_end()),
        None => clean.to_string(),
    }
}

fn timestamp(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(&Rfc3339).unwrap_or_else(|_| format!("{} seconds since 1970 (UTC)", utc.unix_timestamp()))
}

/// A paragraph, wrapped, followed by a line break.
fn para(body: &mut String, text: &str) {
    wrap_into(body, text, "");
}

/// `text` wrapped at [`WIDTH`] columns, each line starting with `indent`.
fn wrap_into(body: &mut String, text: &str, indent: &str) {
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > WIDTH {
            body.push_str(&line);
            body.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > indent.len() {
        body.push_str(&line);
        body.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            tenant_id: "6f1a2b3c-0000-4000-8000-000000000001".into(),
            application: "Azure Databricks SCIM Provisioning Connector".into(),
            service_principal_id: "sp-1".into(),
            job_id: "dataBricks.6f1a.0001".into(),
            at: datetime!(2026-11-22 19:30:00 +01:00),
            kind,
            logs_url: Some(logs_url("https://idp.example.com/v1.0/", "dataBricks.6f1a.0001", None)),
        }
    }

    fn quarantine(reason: &str, error: &str) -> Notice {
        notice(NoticeKind::Quarantine { reason: reason.into(), error: error.into() })
    }

    /// The body with its line breaks and indentation as single spaces: prose reads the same however it wraps.
    fn flat(body: &str) -> String {
        body.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn failed(identity: &str, code: &str, reason: &str) -> FailedObject {
        FailedObject { identity: identity.into(), error_code: code.into(), reason: reason.into() }
    }

    #[test]
    fn a_revoked_token_quarantine_reads_as_such() {
        let n = quarantine("EncounteredQuarantineException", "The target answered 401 Unauthorized: invalid token");
        let (subject, body) = n.render();
        assert_eq!(
            subject,
            "[idplane] Provisioning of \"Azure Databricks SCIM Provisioning Connector\" is in quarantine: \
             EncounteredQuarantineException"
        );
        for part in [
            "Reason:  EncounteredQuarantineException\n",
            "Error:   The target answered 401 Unauthorized: invalid token\n",
            "Since:   2026-11-22T18:30:00Z\n",
            "\n  Provisioning logs: https://idp.example.com/v1.0/auditLogs/provisioning?$filter=jobId%20eq%20'dataBricks.6f1a.0001'\n",
            "\nProvisioning job:   dataBricks.6f1a.0001\n",
            "\nTenant:             6f1a2b3c-0000-4000-8000-000000000001\n",
            "\nService principal:  sp-1\n",
        ] {
            assert!(body.contains(part), "missing {part:?} in:\n{body}");
        }
        let prose = flat(&body);
        for part in [
            "The provisioning job of the application \"Azure Databricks SCIM Provisioning Connector\" is in quarantine.",
            "the target refused the job's credentials",
            "What to do: The target refused the secret token (401 Unauthorized)",
            "Regenerate token), enter it as the Secret Token in the application's Admin Credentials",
        ] {
            assert!(prose.contains(part), "missing {part:?} in:\n{body}");
        }
        assert!(body.lines().all(|l| l.len() <= WIDTH || l.contains("https://")), "wrapped:\n{body}");
    }

    #[test]
    fn too_many_deletes_says_how_to_allow_them() {
        let (subject, body) =
            quarantine("TooManyDeletes", "The cycle would delete or disable 812 objects; the threshold is 500")
                .render();
        assert!(subject.ends_with("is in quarantine: TooManyDeletes"), "{subject}");
        let prose = flat(&body);
        assert!(prose.contains("more objects than the accidental-deletion threshold"), "{body}");
        assert!(prose.contains("restart the job with ForceDeletes"), "{body}");
        assert!(
            body.contains("Error:   The cycle would delete or disable 812 objects; the threshold is 500\n"),
            "{body}"
        );
    }

    #[test]
    fn cycle_failures_list_the_first_errors_and_their_advice() {
        let mut errors = vec![
            failed("alice@contoso.com", "AzureDatabricksEntryConflict", "userName alice@contoso.com exists"),
            failed("bob@contoso.com", "SchemaAttributeNotFound", "no attribute 'costCenter'"),
            failed("carol@contoso.com", "AzureDatabricksEntryConflict", "userName carol@contoso.com exists"),
        ];
        let (subject, body) = notice(NoticeKind::CycleFailures { failed: 3, first_errors: errors.clone() }).render();
        assert_eq!(
            subject,
            "[idplane] Provisioning of \"Azure Databricks SCIM Provisioning Connector\": 3 objects failed"
        );
        assert!(flat(&body).contains(
            "A provisioning cycle of the application \"Azure Databricks SCIM Provisioning Connector\" ended at \
             2026-11-22T18:30:00Z with 3 objects that could not be provisioned."
        ));
        for part in [
            "First errors:\n  1. alice@contoso.com\n     AzureDatabricksEntryConflict: userName alice@contoso.com exists\n",
            "  2. bob@contoso.com\n     SchemaAttributeNotFound: no attribute 'costCenter'\n",
            "  3. carol@contoso.com\n",
            "  AzureDatabricksEntryConflict: The target already has an object",
            "  SchemaAttributeNotFound: An attribute mapping writes an attribute",
        ] {
            assert!(body.contains(part), "missing {part:?} in:\n{body}");
        }
        assert_eq!(body.matches("The target already has an object").count(), 1, "advice once per code:\n{body}");
        assert!(!body.contains("more:"), "{body}");

        errors.extend((0..20).map(|i| failed(&format!("u{i}@contoso.com"), "Timeout", "timed out")));
        let (subject, body) = notice(NoticeKind::CycleFailures { failed: 1234, first_errors: errors }).render();
        assert!(subject.ends_with(": 1234 objects failed"), "{subject}");
        assert!(body.contains("First errors (10 of 1234):"), "{body}");
        assert!(body.contains("  10. u6@contoso.com\n") && !body.contains("u7@contoso.com"), "{body}");
        assert!(body.contains("... and 1224 more: the provisioning logs list them all."), "{body}");
        assert!(flat(&body).contains("Timeout: The target could not be reached"), "{body}");

        let (subject, _) = notice(NoticeKind::CycleFailures { failed: 1, first_errors: vec![] }).render();
        assert!(subject.ends_with(": 1 object failed"), "{subject}");
    }

    #[test]
    fn names_cannot_break_the_subject_or_flood_the_body() {
        let mut n = quarantine("Unknown", &"x".repeat(5000));
        n.application = "Evil\r\nBcc: victim@example.com".into();
        n.logs_url = None;
        let (subject, body) = n.render();
        assert!(!subject.contains('\n') && !subject.contains('\r'), "{subject:?}");
        assert!(subject.contains("\"Evil  Bcc: victim@example.com\""), "{subject}");
        let error_line = body.lines().find(|l| l.starts_with("Error:")).unwrap_or_default();
        assert_eq!(error_line.len(), "Error:   ".len() + MAX_TEXT + "...".len(), "{error_line}");
        assert!(body.contains("GET /v1.0/auditLogs/provisioning?$filter=jobId eq 'dataBricks.6f1a.0001'"), "{body}");
        n.application = "  ".into();
        assert!(n.render().0.contains("\"(unnamed application)\""));
    }

    #[test]
    fn reason_keys_change_with_the_reason_only() {
        let a = quarantine("EncounteredQuarantineException", "401 at 10:00");
        let mut b = quarantine("EncounteredQuarantineException", "401 at 10:40");
        b.at += time::Duration::minutes(40);
        assert_eq!(a.reason_key(), "quarantine:EncounteredQuarantineException");
        assert_eq!(a.reason_key(), b.reason_key(), "the same reason again sends nothing new");
        assert_ne!(a.reason_key(), quarantine("TooManyDeletes", "").reason_key());
        let f1 = notice(NoticeKind::CycleFailures { failed: 1, first_errors: vec![failed("a", "Timeout", "t")] });
        let f2 = notice(NoticeKind::CycleFailures { failed: 9, first_errors: vec![failed("b", "Conflict", "c")] });
        assert_eq!(f1.reason_key(), "failures");
        assert_eq!(f1.reason_key(), f2.reason_key());
        assert_ne!(f1.reason_key(), a.reason_key());
    }

    #[test]
    fn logs_urls_filter_on_the_job_and_cycle() {
        assert_eq!(
            logs_url("https://idp.example.com/v1.0", "scim.t.1", Some("c'1")),
            "https://idp.example.com/v1.0/auditLogs/provisioning?$filter=jobId%20eq%20'scim.t.1'%20and%20cycleId%20eq%20'c''1'"
        );
    }
}
