//! What to do about a quarantine or a failed object: the troubleshooting advice a notice carries, per Graph
//! quarantine reason (`EncounteredQuarantineException`, `TooManyDeletes`, ...) and per provisioning error code
//! (`Unauthorized`, `EntryConflict`, ...; codes may carry an application prefix, as Entra's `ContosoEntryConflict`).

/// What a quarantine reason means, in a sentence.
pub fn reason_meaning(reason: &str) -> &'static str {
    match reason {
        "EncounteredQuarantineException" => "the target refused the job's credentials or is not usable as configured",
        "EncounteredEscrowProportionThreshold" => "too large a share of the objects failed to provision",
        "EncounteredBaseEscrowThreshold" | "EncounteredTotalEscrowThreshold" => "too many objects failed to provision",
        "TooManyDeletes" => "a cycle would delete or disable more objects than the accidental-deletion threshold",
        "QuarantinedOnDemand" => "an administrator put the job in quarantine",
        "IngestionInterrupted" => "reading the source directory was interrupted",
        _ => "the job cannot go on as configured",
    }
}

/// What to do about a quarantine with `reason`, given the error the job recorded.
pub fn for_quarantine(reason: &str, error: &str) -> &'static str {
    match reason {
        "EncounteredQuarantineException" => for_error_text(error),
        "EncounteredEscrowProportionThreshold"
        | "EncounteredBaseEscrowThreshold"
        | "EncounteredTotalEscrowThreshold" => {
            "Open the provisioning logs, filter on failures, and fix the most common error (often an attribute \
             mapping that produces a value the target refuses, or objects that already exist in the target). Then \
             restart the job: failed objects are tried again."
        }
        "TooManyDeletes" => {
            "The deletions and disables are held, not sent: the provisioning logs list them (action StagedDelete). \
             If they are intended (a large unassignment, a scoping filter change), allow them: restart the job with \
             ForceDeletes (Entra's \"Allow deletes\"; in Graph, the restart action with criteria.resetScope \
             ForceDeletes). If not, undo the change in the directory, the assignments or the scoping filters, then \
             restart the job."
        }
        "QuarantinedOnDemand" => "Ask the administrator who quarantined the job; a restart of the job clears it.",
        "IngestionInterrupted" => {
            "Reading the directory was interrupted (the server stopped, or the store failed). The next cycle starts \
             over from the last saved point; if quarantine persists, check the server's log."
        }
        _ => GENERIC,
    }
}

const GENERIC: &str = "Check the job's Admin Credentials with Test Connection and read the provisioning logs; a \
                       restart of the job clears the quarantine once the cause is fixed.";

const UNAUTHORIZED: &str = "The target refused the secret token (401 Unauthorized): it was revoked, expired, or \
     belongs to another account. Generate a new SCIM token in the target (for Azure Databricks: the account console, \
     Settings > User provisioning, Regenerate token), enter it as the Secret Token in the application's Admin \
     Credentials, run Test Connection, then restart the job.";

const FORBIDDEN: &str = "The target accepted the secret token but does not allow what the job sent (403 Forbidden): \
     give the token's user or service principal the admin role the target's SCIM API needs (for Azure Databricks: \
     an account admin's token), or a new token of such a principal in Admin Credentials.";

const UNREACHABLE: &str = "The target could not be reached: check the Tenant URL in Admin Credentials, that the \
     SCIM service runs, and the network and firewalls between idplane and it; Test Connection shows the exact \
     failure. Failed objects are retried on later cycles.";

const CERTIFICATE: &str = "The TLS handshake with the target failed: its certificate is not trusted, has expired or \
     does not name the Tenant URL's host. Fix the certificate, or trust its CA with --target-ca-bundle; Test \
     Connection shows the exact failure.";

/// Advice from the words of an error (a credential or connection failure carries no code of its own).
fn for_error_text(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |w: &str| words.contains(&w);
    if has("401") || lower.contains("unauthorized") || lower.contains("credentialvalidationfailure") {
        UNAUTHORIZED
    } else if has("403") || lower.contains("forbidden") || lower.contains("insufficientrights") {
        FORBIDDEN
    } else if lower.contains("certificate") || has("tls") {
        CERTIFICATE
    } else if lower.contains("refused")
        || lower.contains("unreachable")
        || lower.contains("timed out")
        || lower.contains("timeout")
        || lower.contains("dns")
        || lower.contains("credentialvalidationunavailable")
    {
        UNREACHABLE
    } else {
        GENERIC
    }
}

const DUPLICATES: &str = "Several target objects match the source object's matching attribute: remove the \
     duplicates in the target, or match on an attribute that is unique there.";

const CONFLICT: &str = "The target already has an object with the same unique value (userName, displayName) that \
     the job did not match: make the matching attributes agree with the target's, or remove the other object.";

const MISSING: &str = "A required target attribute has no value: fill it in the directory, or give its mapping a \
     default value.";

const REFUSED_VALUE: &str = "The target refused a value the job sent: the reason names it; fix the attribute \
     mapping or the source value.";

const NOT_SCIM: &str = "The target did not answer as a SCIM 2.0 service: check that the Tenant URL is the SCIM \
     base URL.";

const TARGET_FAILED: &str = "The target failed on its side (5xx): the object is retried on later cycles; the \
     target's logs say why.";

/// Advice per provisioning error code (base code, without an application prefix), most specific first: a code
/// matches the first entry it ends with.
const BY_CODE: &[(&str, &str)] = &[
    ("Unauthorized", UNAUTHORIZED),
    ("CredentialValidationFailure", UNAUTHORIZED),
    ("InsufficientRights", FORBIDDEN),
    ("NotPermitted", FORBIDDEN),
    ("CredentialValidationUnavailable", UNREACHABLE),
    ("Timeout", UNREACHABLE),
    (
        "TooManyRequests",
        "The target limited the request rate (429). Requests are retried after its Retry-After; if this persists, \
         lower the job's request rate or concurrency.",
    ),
    ("DuplicateTargetEntries", DUPLICATES),
    ("MultipleEntriesInResponse", DUPLICATES),
    ("EntryConflict", CONFLICT),
    ("Conflict", CONFLICT),
    (
        "SchemaAttributeNotFound",
        "An attribute mapping writes an attribute the target does not know: fix or remove that mapping.",
    ),
    ("MandatoryFieldsMissing", MISSING),
    ("MissingValues", MISSING),
    ("UnprocessableEntity", REFUSED_VALUE),
    ("SchemaPropertyCanOnlyAcceptValue", REFUSED_VALUE),
    ("ServiceIncompatible", NOT_SCIM),
    ("WebExceptionProtocolError", NOT_SCIM),
    ("InternalServerError", TARGET_FAILED),
    ("InternalError", TARGET_FAILED),
];

/// What to do about objects that failed with `code`, when there is something specific to say.
pub fn for_error_code(code: &str) -> Option<&'static str> {
    BY_CODE.iter().find(|(base, _)| code.ends_with(base)).map(|(_, advice)| *advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_token_says_regenerate_it() {
        for error in [
            "the target answered 401 Unauthorized: invalid token",
            "SystemForCrossDomainIdentityManagementCredentialValidationFailure: the token was refused",
            "HTTP 401",
        ] {
            let advice = for_quarantine("EncounteredQuarantineException", error);
            assert!(advice.contains("Regenerate token") && advice.contains("Admin Credentials"), "{error}: {advice}");
        }
        assert_eq!(for_error_code("AzureDatabricksUnauthorized"), Some(UNAUTHORIZED));
    }

    #[test]
    fn credential_errors_are_told_apart() {
        let q = |e| for_quarantine("EncounteredQuarantineException", e);
        assert_eq!(q("403 Forbidden: not an account admin"), FORBIDDEN);
        assert_eq!(q("connection refused (nothing accepts connections there)"), UNREACHABLE);
        assert_eq!(q("the request timed out while connecting"), UNREACHABLE);
        assert_eq!(q("the server's certificate is not issued by a trusted certificate authority"), CERTIFICATE);
        assert_eq!(q("something odd"), GENERIC);
        // A number that merely contains 401 is not a status.
        assert_eq!(q("user 14015 failed"), GENERIC);
    }

    #[test]
    fn reasons_have_their_own_advice() {
        assert!(for_quarantine("TooManyDeletes", "").contains("ForceDeletes"));
        assert!(for_quarantine("EncounteredEscrowProportionThreshold", "").contains("provisioning logs"));
        assert_eq!(for_quarantine("SomethingNew", "401"), GENERIC);
        assert!(reason_meaning("TooManyDeletes").contains("threshold"));
    }

    #[test]
    fn codes_match_the_most_specific_entry_and_an_application_prefix() {
        assert_eq!(for_error_code("ContosoEntryConflict"), Some(CONFLICT));
        assert!(for_error_code("SystemForCrossDomainIdentityManagementMultipleEntriesInResponse").is_some());
        assert_eq!(for_error_code("RedundantExport"), None);
        // Every entry is reachable: none is shadowed by an earlier one it ends with.
        for (i, (code, _)) in BY_CODE.iter().enumerate() {
            let first = BY_CODE.iter().position(|(base, _)| code.ends_with(base));
            assert_eq!(first, Some(i), "{code} is shadowed");
        }
    }
}
