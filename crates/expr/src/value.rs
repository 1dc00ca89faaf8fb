//! Values: what source attributes hold and what functions return, and how they convert to strings, numbers,
//! booleans and JSON the way Microsoft's engine shows them (booleans `True`/`False`, dates `M/d/yyyy h:mm:ss tt`).

use std::borrow::Cow;

use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use crate::dates;

/// A value of the language.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value: an absent attribute, an empty argument, a function's "nothing".
    Null,
    String(String),
    Boolean(bool),
    Integer(i64),
    /// A point in time, kept in UTC; as a string `M/d/yyyy h:mm:ss tt` (`3/16/2020 7:00:00 AM`).
    DateTime(OffsetDateTime),
    /// A multi-valued attribute's values (never nested).
    Multi(Vec<Value>),
    /// A complex value: an input object (an app role assignment) or what the role functions produce
    /// (`{"primary":false,"type":"WindowsAzureActiveDirectoryRole","display":"Admin","value":"Admin"}`).
    Object(Map<String, Json>),
}

impl Value {
    /// Null, or a multi-valued value without values.
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Multi(values) => values.is_empty(),
            _ => false,
        }
    }

    /// Null, an empty string, or a multi-valued value without values.
    pub fn is_null_or_empty(&self) -> bool {
        self.is_null() || matches!(self, Value::String(s) if s.is_empty())
    }

    /// The value as a string, as Microsoft's engine writes it: `True`/`False`, decimal integers, dates as
    /// `M/d/yyyy h:mm:ss tt`, an object's `value` member. `None` for null and for multi-valued values (which have no
    /// single string form).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Null | Value::Multi(_) => None,
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Boolean(true) => Some(Cow::Borrowed("True")),
            Value::Boolean(false) => Some(Cow::Borrowed("False")),
            Value::Integer(n) => Some(Cow::Owned(n.to_string())),
            Value::DateTime(t) => Some(Cow::Owned(dates::default_text(*t))),
            Value::Object(object) => match object.get("value") {
                Some(Json::String(s)) => Some(Cow::Borrowed(s)),
                Some(Json::Null) | None => None,
                Some(other) => Some(Cow::Owned(other.to_string())),
            },
        }
    }

    /// The strings of the value: none for null, one for a single value, one per value for a multi-valued value (the
    /// shape of Graph's `parseExpression` `evaluationResult`).
    pub fn texts(&self) -> Vec<String> {
        match self {
            Value::Multi(values) => values.iter().filter_map(|v| v.text().map(Cow::into_owned)).collect(),
            other => other.text().map(Cow::into_owned).into_iter().collect(),
        }
    }

    /// Reads a JSON value: strings, booleans, integers (other numbers as their text), arrays as multi-valued values
    /// (nested arrays flattened), objects as objects.
    pub fn from_json(json: Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Boolean(b),
            Json::Number(n) => n.as_i64().map(Value::Integer).unwrap_or_else(|| Value::String(n.to_string())),
            Json::String(s) => Value::String(s),
            Json::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match Value::from_json(item) {
                        Value::Multi(inner) => values.extend(inner),
                        value => values.push(value),
                    }
                }
                Value::Multi(values)
            }
            Json::Object(object) => Value::Object(object),
        }
    }

    /// The value as JSON: strings, booleans, numbers, dates as their string form, arrays, objects.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::String(s) => Json::String(s.clone()),
            Value::Boolean(b) => Json::Bool(*b),
            Value::Integer(n) => Json::from(*n),
            Value::DateTime(t) => Json::String(dates::default_text(*t)),
            Value::Multi(values) => Json::Array(values.iter().map(Value::to_json).collect()),
            Value::Object(object) => Json::Object(object.clone()),
        }
    }

    /// The size this value counts against [`crate::MAX_VALUE_LEN`]: a string's bytes, the sum over a multi-valued
    /// value's strings.
    pub(crate) fn byte_len(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::Multi(values) => values.iter().map(Value::byte_len).sum(),
            _ => 0,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

impl From<OffsetDateTime> for Value {
    fn from(t: OffsetDateTime) -> Value {
        // Near the ends of the calendar the UTC equivalent may not exist; keep the time as given then.
        Value::DateTime(t.checked_to_offset(time::UtcOffset::UTC).unwrap_or(t))
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(values: Vec<T>) -> Value {
        Value::Multi(values.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

/// Reads an integer the way VBA's `CLng` does: optional sign and decimal digits, or `&H` hexadecimal and `&O` octal
/// (`&HF7`), surrounding spaces ignored.
pub(crate) fn parse_integer(text: &str) -> Option<i64> {
    let text = text.trim();
    let (radix, digits) = match text.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("&H") => (16, &text[2..]),
        Some(prefix) if prefix.eq_ignore_ascii_case("&O") => (8, &text[2..]),
        _ => (10, text),
    };
    if radix == 10 {
        return digits.parse().ok();
    }
    // VBA reads &H literals as two's-complement bit patterns: &HFFFFFFFF is -1 in a Long. idplane keeps 64 bits.
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(|n| n as i64)
}

/// Reads a boolean: `True`/`False` in any case (as .NET's `bool.Parse`), or a number (non-zero is true).
pub(crate) fn parse_boolean(text: &str) -> Option<bool> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("true") {
        Some(true)
    } else if trimmed.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        parse_integer(trimmed).map(|n| n != 0)
    }
}
