//! The protocol's one error type: what makes a message unusable.

/// Why a message could not be encoded or decoded. Every one of them is a protocol error: the receiver closes the
/// session (the peer is broken or speaks another protocol), it never skips the message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error(
        "the message has {size} bytes, over the limit of {limit} (the header and a body of at most maxBodyBytes): \
         the peer must not send larger bodies"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("the body has {size} bytes, over the session's maxBodyBytes of {limit}")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("the message has {size} bytes, too short for the 4-byte header length")]
    Truncated { size: usize },
    #[error("the header length {declared} exceeds the {available} bytes after it")]
    HeaderOverrun { declared: usize, available: usize },
    #[error("the header has {size} bytes, over the limit of {limit}")]
    HeaderTooLarge { size: usize, limit: usize },
    #[error("the header is not a valid frame: {0}")]
    Header(String),
    #[error("a {frame} frame carries no body, but {bytes} bytes follow its header")]
    UnexpectedBody { frame: &'static str, bytes: usize },
}
