//! The string work of `Replace`: plain and template replacement, and regular expressions with .NET's substitution
//! syntax (`${name}`, `$1`, `$$`, `$&`, `` $` ``, `$'`, `$+`, `$_`). Regular expressions run on the `regex` crate,
//! which matches in linear time (no catastrophic backtracking) and has no look-around or backreferences: a pattern
//! using those is refused with the crate's explanation. Every result is built under [`MAX_VALUE_LEN`] before it is
//! allocated.

use regex::{Captures, Regex, RegexBuilder};

use crate::MAX_VALUE_LEN;

/// Why a replacement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The result would exceed [`MAX_VALUE_LEN`].
    TooLarge,
    /// An argument is unusable; the message says why.
    Invalid(String),
}

/// Compiles a pattern within bounds on the compiled program's size.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(1 << 18)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| format!("`{pattern}` is not a regular expression idplane can run: {e}"))
}

/// A string being built, refusing to grow past [`MAX_VALUE_LEN`].
struct Bounded(String);

impl Bounded {
    fn push(&mut self, s: &str) -> Result<(), Failure> {
        if self.0.len() + s.len() > MAX_VALUE_LEN {
            return Err(Failure::TooLarge);
        }
        self.0.push_str(s);
        Ok(())
    }
}

/// Every `find` in `source` replaced by `replacement`. An empty `find` changes nothing.
pub(crate) fn plain(source: &str, find: &str, replacement: &str) -> Result<String, Failure> {
    if find.is_empty() {
        return Ok(source.to_string());
    }
    let count = source.matches(find).count();
    if source.len() - count * find.len() + count * replacement.len() > MAX_VALUE_LEN {
        return Err(Failure::TooLarge);
    }
    Ok(source.replace(find, replacement))
}

/// The index of the group `name` (a name, or a number) in `re`.
fn group_index(re: &Regex, name: &str) -> Option<usize> {
    match name.parse::<usize>() {
        Ok(n) => (n < re.captures_len()).then_some(n),
        Err(_) => re.capture_names().position(|n| n == Some(name)),
    }
}

/// One piece of a .NET substitution pattern.
enum Piece<'r> {
    Text(&'r str),
    Group(usize),
    Whole,
    Before,
    After,
    Input,
    LastGroup,
}

/// Reads a replacement pattern with .NET's substitutions; a `$` that starts none of them is itself, as is a group
/// reference to a group the pattern does not have.
fn pieces<'r>(re: &Regex, replacement: &'r str) -> Vec<Piece<'r>> {
    let mut pieces = Vec::new();
    let mut rest = replacement;
    while let Some(dollar) = rest.find('$') {
        pieces.push(Piece::Text(&rest[..dollar]));
        let after = &rest[dollar + 1..];
        let (piece, used) = match after.chars().next() {
            Some('$') => (Piece::Text("$"), 1),
            Some('&') => (Piece::Whole, 1),
            Some('`') => (Piece::Before, 1),
            Some('\'') => (Piece::After, 1),
            Some('+') => (Piece::LastGroup, 1),
            Some('_') => (Piece::Input, 1),
            Some('{') => match after.find('}').and_then(|end| group_index(re, &after[1..end]).map(|g| (g, end))) {
                Some((group, end)) => (Piece::Group(group), end + 1),
                None => (Piece::Text("$"), 0),
            },
            Some(c) if c.is_ascii_digit() => {
                let digits = after.chars().take_while(char::is_ascii_digit).count();
                // .NET takes the longest run of digits that names a group.
                match (1..=digits).rev().find_map(|n| group_index(re, &after[..n]).map(|g| (g, n))) {
                    Some((group, n)) => (Piece::Group(group), n),
                    None => (Piece::Text("$"), 0),
                }
            }
            _ => (Piece::Text("$"), 0),
        };
        pieces.push(piece);
        rest = &after[used..];
    }
    pieces.push(Piece::Text(rest));
    pieces
}

/// Every match of `re` in `source` replaced by `replacement`, its substitutions expanded.
pub(crate) fn regex(source: &str, re: &Regex, replacement: &str) -> Result<String, Failure> {
    let pieces = pieces(re, replacement);
    let mut out = Bounded(String::new());
    let mut last = 0;
    for caps in re.captures_iter(source) {
        let Some(whole) = caps.get(0) else { continue };
        out.push(&source[last..whole.start()])?;
        for piece in &pieces {
            out.push(match piece {
                Piece::Text(text) => text,
                Piece::Group(g) => caps.get(*g).map_or("", |m| m.as_str()),
                Piece::Whole => whole.as_str(),
                Piece::Before => &source[..whole.start()],
                Piece::After => &source[whole.end()..],
                Piece::Input => source,
                Piece::LastGroup => last_group(&caps),
            })?;
        }
        last = whole.end();
    }
    out.push(&source[last..])?;
    Ok(out.0)
}

fn last_group<'s>(caps: &Captures<'s>) -> &'s str {
    (1..caps.len()).rev().find_map(|g| caps.get(g)).map_or("", |m| m.as_str())
}

fn group(re: &Regex, name: &str) -> Result<usize, Failure> {
    group_index(re, name).ok_or_else(|| Failure::Invalid(format!("the regular expression has no group `{name}`")))
}

/// In every match of `re`, the text of group `name` replaced by `replacement` (literally).
pub(crate) fn group_replace(source: &str, re: &Regex, name: &str, replacement: &str) -> Result<String, Failure> {
    let g = group(re, name)?;
    let mut out = Bounded(String::new());
    let mut last = 0;
    for caps in re.captures_iter(source) {
        if let Some(m) = caps.get(g) {
            out.push(&source[last..m.start()])?;
            out.push(replacement)?;
            last = m.end();
        }
    }
    out.push(&source[last..])?;
    Ok(out.0)
}

/// The text of group `name` in the first match of `re` in `text`, if it matched.
pub(crate) fn group_value(text: &str, re: &Regex, name: &str) -> Result<Option<String>, Failure> {
    let g = group(re, name)?;
    Ok(re.captures(text).and_then(|caps| caps.get(g)).map(|m| m.as_str().to_string()))
}

/// `template` with every `find` replaced by `source`.
pub(crate) fn template(source: &str, find: &str, template: &str) -> Result<String, Failure> {
    plain(template, find, source)
}
