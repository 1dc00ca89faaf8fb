//! What the provisioning commands fail with: Graph's own answer (its code and message), a server that could not be
//! reached, or a mistake on the command line or in a file, each saying what to fix. The token never appears in one.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request: Graph's error code and message, as it sent them.
    #[error("{message} ({code}, HTTP {status}{})", request_id.as_deref().map(|r| format!(", request-id {r}")).unwrap_or_default())]
    Graph { status: u16, code: String, message: String, request_id: Option<String> },
    /// The server answered with something that is not Graph's JSON (a proxy's page, another service).
    #[error(
        "{method} {url} answered HTTP {status} with a body that is not Microsoft Graph's JSON ({snippet}); check that \
         --url (or IDPLANE_URL) is the idplane server's origin"
    )]
    Unexpected { method: String, url: String, status: u16, snippet: String },
    /// No answer at all.
    #[error("could not reach {url}: {reason}. Check --url (or IDPLANE_URL), and that the server runs")]
    Unreachable { url: String, reason: String },
    #[error(
        "no token: give --token or set IDPLANE_TOKEN (the admin token `idplane serve` printed at its first start, or \
         a tenant token from `idplane tenant token create`)"
    )]
    NoToken,
    #[error("--url {url:?} is not an http:// or https:// URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("--ca-bundle {}: {reason}", path.display())]
    CaBundle { path: PathBuf, reason: String },
    /// A name that matched nothing, or more than one thing.
    #[error("{0}")]
    Lookup(String),
    /// A value on the command line that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// A file that cannot be read or written, or is not in the expected format.
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    /// A bulk import that did not create every row: the summary was printed; this is the exit status.
    #[error("{0}")]
    Incomplete(String),
}

impl ClientError {
    /// The HTTP status the server answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Graph { status, .. } | ClientError::Unexpected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The reason of a failure as one short line, for a bulk import's errors file.
    pub fn reason(&self) -> String {
        match self {
            ClientError::Graph { code, message, .. } => format!("{message} ({code})"),
            other => other.to_string(),
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
