//! How Graph's JSON is read and written: the enums Graph spells one way and clients spell several
//! (`"String"`, `"string"`), and the tolerant readers for the places where real clients are sloppy (nulls where a
//! list or a flag is expected, numbers where Graph has strings). Writing always produces Graph's own spelling.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;

/// An enum of Graph's that is written in its canonical spelling and read case-insensitively; `null` or a missing
/// value reads as the default Graph documents for it.
macro_rules! graph_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
        default $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in Graph's documented order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Graph's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Reads Graph's spelling in any case, surrounding spaces ignored.
            pub fn parse(text: &str) -> Option<Self> {
                let text = text.trim();
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(text))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match Option::<String>::deserialize(deserializer)? {
                    None => Ok($name::$default),
                    Some(text) => $name::parse(&text).ok_or_else(|| {
                        let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        serde::de::Error::custom(format!(
                            "unknown {} '{}': use one of {}",
                            stringify!($name),
                            text,
                            known.join(", ")
                        ))
                    }),
                }
            }
        }
    };
}

pub(crate) use graph_enum;

/// A value whose `null` means the same as its absence: the type's default (an empty list, `false`, 0, "").
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A flag that is on unless the client says otherwise (`objectMapping.enabled`).
pub(crate) fn true_unless_false<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

pub(crate) fn yes() -> bool {
    true
}

/// A string Graph types as a string that some clients send as a number or a boolean; `null` reads as "".
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Value::deserialize(deserializer)?;
    scalar_text(&value).ok_or_else(|| de::Error::custom(format!("expected a string, found {value}")))
}

/// A list of strings that some clients send as one string, as numbers, or as `null`.
pub(crate) fn lenient_strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .iter()
            .map(|item| scalar_text(item).ok_or_else(|| de::Error::custom(format!("expected a string, found {item}"))))
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => scalar_text(&other)
            .map(|text| vec![text])
            .ok_or_else(|| de::Error::custom(format!("expected a list of strings, found {other}"))),
    }
}

/// A flags enum kept as Graph spells it (`"AttributeNames, AttributeDataTypes"`), also read from a list of names.
pub(crate) fn lenient_flags<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(flags) => Ok(Some(flags)),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(|| de::Error::custom(format!("{item} is not a flag name"))))
            .collect::<Result<Vec<_>, _>>()
            .map(|names| Some(names.join(", "))),
        other => Err(de::Error::custom(format!("expected flags such as \"A, B\", found {other}"))),
    }
}

/// Graph's `matchingPriority` and `priority`: an integer, read from a number or a numeric string.
pub(crate) fn lenient_i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    let value = Value::deserialize(deserializer)?;
    let parsed = match &value {
        Value::Null => Some(0),
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| de::Error::custom(format!("expected an integer, found {value}")))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        Value::Number(n) => Some(n.to_string()),
        // .NET's spelling, which is what Graph would have stored for a boolean written as text.
        Value::Bool(true) => Some("True".to_owned()),
        Value::Bool(false) => Some("False".to_owned()),
        Value::Array(_) | Value::Object(_) => None,
    }
}
