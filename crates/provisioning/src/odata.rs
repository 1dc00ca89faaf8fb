//! The lexical syntax of OData's `$filter` as Graph's clients write it, shared by every filter the Graph API reads
//! (the directory's, in the server, and the provisioning logs', [`crate::logs::query`]) and by the command line
//! that writes them: words (names, paths, operators, bare values such as dates and GUIDs), strings in single quotes
//! with a quote written twice, parentheses and commas.

use crate::error::{ProvisioningError, Result};

/// A token of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A name, path, keyword, operator or bare value (`activityDateTime`, `sourceIdentity/id`, `eq`,
    /// `2026-12-06T10:00:00+01:00`).
    Word(String),
    /// A quoted string, its doubled quotes undone.
    Text(String),
    Open,
    Close,
    Comma,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '$' | '@' | '-' | ':' | '+')
}

/// The tokens of a filter, each with the position (in characters) where it starts. A mistake is an invalid
/// `$filter` that says where it is.
pub fn lex(s: &str) -> Result<Vec<(usize, Token)>> {
    let invalid = |detail: String| ProvisioningError::invalid_property("$filter", detail);
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        i += 1;
        let token = match c {
            c if c.is_whitespace() => continue,
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '\'' => {
                let mut text = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(invalid(format!(
                                "the string starting at position {start} has no closing quote"
                            )));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                Token::Text(text)
            }
            c if is_word_char(c) => {
                while chars.get(i).is_some_and(|c| is_word_char(*c)) {
                    i += 1;
                }
                Token::Word(chars[start..i].iter().collect())
            }
            other => return Err(invalid(format!("unexpected '{other}' at position {start}"))),
        };
        out.push((start, token));
    }
    Ok(out)
}

/// A string as an OData literal: in single quotes, its quotes doubled.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_positions_and_strings_undo_doubled_quotes() -> Result<()> {
        let word = |s: &str| Token::Word(s.into());
        assert_eq!(
            lex("contains(a/b, 'O''Neil, (x)') and t ge 2026-12-06T10:00:00+01:00")?,
            vec![
                (0, word("contains")),
                (8, Token::Open),
                (9, word("a/b")),
                (12, Token::Comma),
                (14, Token::Text("O'Neil, (x)".into())),
                (28, Token::Close),
                (30, word("and")),
                (34, word("t")),
                (36, word("ge")),
                (39, word("2026-12-06T10:00:00+01:00")),
            ]
        );
        assert_eq!(lex("'é' ''")?, vec![(0, Token::Text("é".into())), (4, Token::Text(String::new()))]);
        let e = |s: &str| lex(s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e("x eq 'a").contains("starting at position 5 has no closing quote"));
        assert!(e("x # 'a'").contains("unexpected '#' at position 2"));
        assert_eq!(quote("it's"), "'it''s'");
        Ok(())
    }
}
