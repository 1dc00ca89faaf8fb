//! The secret token (Entra's "Secret Token"): held so that it cannot be printed by accident.

use std::fmt;

use crate::error::Error;

/// A bearer token for the target's SCIM API, sent as `Authorization: Bearer <token>`.
///
/// It has no `Display`, its `Debug` is redacted, and nothing in this crate logs it or puts it in an error: the
/// only way to read it is [`SecretToken::expose`], which the transport calls to write the header.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// The token as the admin pasted it, without surrounding whitespace (copied tokens often end with a newline).
    /// It must be non-empty visible ASCII, as a bearer token is; the error never repeats it.
    pub fn new(token: impl Into<String>) -> Result<SecretToken, Error> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return Err(Error::Token("the secret token is empty: paste the target's SCIM token".into()));
        }
        if let Some(position) = trimmed.chars().position(|c| !c.is_ascii_graphic()) {
            return Err(Error::Token(format!(
                "the secret token has a space, control or non-ASCII character at position {}: paste the token alone, \
                 as the target issued it",
                position + 1
            )));
        }
        Ok(SecretToken(trimmed.to_string()))
    }

    /// The token itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = SecretToken::new("dapi-very-secret").unwrap();
        assert_eq!(format!("{token:?}"), "SecretToken(<redacted>)");
        assert_eq!(format!("{:?}", Some(token.clone())), "Some(SecretToken(<redacted>))");
        assert_eq!(token.expose(), "dapi-very-secret");
    }

    #[test]
    fn pasted_tokens_are_trimmed_and_checked() {
        assert_eq!(SecretToken::new("  abc.def-ghi_\n").unwrap().expose(), "abc.def-ghi_");
        for bad in ["", "   \n", "abc def", "abc\u{7f}", "tökén"] {
            let err = SecretToken::new(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid secret token"), "{bad:?}: {err}");
            assert!(!bad.trim().is_empty() || err.contains("empty"), "{err}");
            // The message never echoes the token.
            if bad.trim().len() > 2 {
                assert!(!err.contains(bad.trim()), "{err}");
            }
        }
        assert!(SecretToken::new("abc def").unwrap_err().to_string().contains("position 4"));
    }
}
