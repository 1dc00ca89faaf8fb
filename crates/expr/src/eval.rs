//! Evaluation: an expression over a source object ([`Input`]) in an [`Environment`] that supplies everything
//! non-deterministic (the time, randomness, the tenant's default domain), giving a value and the flags the engine acts
//! on ([`Evaluation`]). Arguments are evaluated lazily, as the functions need them: `IIF` and `Switch` evaluate only
//! the branch they return, `Coalesce` stops at the first value, so a `Guid()` in a branch not taken draws nothing.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

use base64::Engine as _;
use serde_json::{Map, Value as Json, json};
use time::{OffsetDateTime, UtcOffset};

use crate::ast::{CompareOp, Expr};
use crate::catalogue::{self, Function, Parameter, ReplaceMode, Support};
use crate::dates::{self, Format, Interval, Styles};
use crate::error::ExprError;
use crate::random::{self, RandomSource};
use crate::replace::{self, Failure};
use crate::text::{self, Culture};
use crate::value::{Value, parse_boolean, parse_integer};
use crate::{MAX_DEPTH, MAX_NODES, MAX_VALUE_LEN, MAX_VALUES};

/// The source object: an attribute's value by name, [`Value::Null`] when the object does not have it.
pub trait Input {
    fn attribute(&self, name: &str) -> Value;
}

impl<S: BuildHasher> Input for HashMap<String, Value, S> {
    fn attribute(&self, name: &str) -> Value {
        self.get(name).cloned().unwrap_or(Value::Null)
    }
}

impl Input for BTreeMap<String, Value> {
    fn attribute(&self, name: &str) -> Value {
        self.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// A JSON object as the source object (see [`Value::from_json`]).
impl Input for Map<String, Json> {
    fn attribute(&self, name: &str) -> Value {
        self.get(name).cloned().map_or(Value::Null, Value::from_json)
    }
}

/// A function from names to values as the source object.
impl<F: Fn(&str) -> Option<Value>> Input for F {
    fn attribute(&self, name: &str) -> Value {
        self(name).unwrap_or(Value::Null)
    }
}

/// Everything evaluation may not take from the machine.
pub struct Environment<'a> {
    /// The current time (`Now()`, and the date `FormatDateTime` gives a time without one).
    pub now: OffsetDateTime,
    /// The tenant's default domain (`DefaultDomain()`).
    pub default_domain: Option<&'a str>,
    /// Randomness for `Guid()` and `RandomString(...)`: a cryptographic source in servers, a seeded one in tests.
    pub random: &'a mut dyn RandomSource,
}

/// The role type Microsoft's role functions give every role.
pub const ROLE_TYPE: &str = "WindowsAzureActiveDirectoryRole";

/// What an expression evaluated to, and what the engine must do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub value: Value,
    /// An `IgnoreFlowIfNullOrEmpty(...)` found its argument null or empty: leave the target attribute out of the
    /// export.
    pub ignore_flow: bool,
    /// `Redact(...)` was applied: logs show `[Redact]` instead of the value.
    pub redact: bool,
    /// `AssertiveAppRoleAssignmentsComplex(...)` produced the value: replace the target's values with it (removing
    /// roles the source no longer has) instead of adding to them.
    pub assertive: bool,
}

impl Evaluation {
    /// The value as provisioning logs may show it: `"[Redact]"` when redacted.
    pub fn logged(&self) -> Json {
        if self.redact { Json::String("[Redact]".to_string()) } else { self.value.to_json() }
    }
}

impl Expr {
    /// Evaluates the expression for one source object. The tree's functions are checked first (known, supported,
    /// arguments that fit); attributes are not (an unknown one is null). Errors are typed, never panics: a date
    /// that is not one, a bad regular expression, an index out of range, a value beyond [`MAX_VALUE_LEN`].
    pub fn evaluate(&self, input: &dyn Input, env: &mut Environment<'_>) -> Result<Evaluation, ExprError> {
        if self.node_count() > MAX_NODES {
            return Err(ExprError::TooManyNodes { max: MAX_NODES });
        }
        if self.depth() > MAX_DEPTH {
            return Err(ExprError::TooDeep { position: self.position(), max: MAX_DEPTH });
        }
        self.check_functions()?;
        let mut evaluator = Evaluator { input, env, ignore_flow: false, redact: false, assertive: false };
        let value = evaluator.eval(self)?;
        Ok(Evaluation {
            value,
            ignore_flow: evaluator.ignore_flow,
            redact: evaluator.redact,
            assertive: evaluator.assertive,
        })
    }

    /// The first function that is unknown, unsupported or called with arguments that do not fit.
    pub(crate) fn check_functions(&self) -> Result<(), ExprError> {
        match self {
            Expr::Attribute { .. } | Expr::Constant { .. } => Ok(()),
            Expr::Compare { left, right, .. } => {
                left.check_functions()?;
                right.check_functions()
            }
            Expr::Call { function, args, at } => {
                let f = known(function, at.0)?;
                if let Support::NotForScim(reason) = f.support {
                    return Err(ExprError::Unsupported { function: f.name.to_string(), position: at.0, reason });
                }
                f.check_args(args, at.0)?;
                args.iter().flatten().try_for_each(Expr::check_functions)
            }
        }
    }
}

/// The catalogue's function `name`, or the error that names the nearest one.
pub(crate) fn known(name: &str, position: Option<usize>) -> Result<&'static Function, ExprError> {
    catalogue::function(name).ok_or_else(|| ExprError::UnknownFunction {
        name: name.to_string(),
        position,
        suggestion: catalogue::nearest(name),
    })
}

/// A call being evaluated: its function, argument slots and their parameters.
struct Call<'x> {
    function: &'static Function,
    args: &'x [Option<Expr>],
    parameters: Vec<&'static Parameter>,
    at: Option<usize>,
}

impl Call<'_> {
    fn arg(&self, i: usize) -> Option<&Expr> {
        self.args.get(i).and_then(Option::as_ref)
    }

    fn has(&self, i: usize) -> bool {
        self.arg(i).is_some()
    }

    fn invalid(&self, i: usize, detail: impl Into<String>) -> ExprError {
        ExprError::InvalidArgument {
            function: self.function.name.to_string(),
            parameter: self.parameters.get(i).map_or("?", |p| p.name).to_string(),
            position: self.arg(i).and_then(Expr::position).or(self.at),
            detail: detail.into(),
        }
    }

    fn too_large(&self) -> ExprError {
        ExprError::ValueTooLarge {
            function: self.function.name.to_string(),
            position: self.at,
            max: format!("{MAX_VALUE_LEN} bytes or {MAX_VALUES} values"),
        }
    }

    fn failure(&self, i: usize, failure: Failure) -> ExprError {
        match failure {
            Failure::TooLarge => self.too_large(),
            Failure::Invalid(detail) => self.invalid(i, detail),
        }
    }

    /// The index of the parameter `name` among the slots (a present slot; `None` when absent or empty).
    fn slot(&self, name: &str) -> Option<usize> {
        self.parameters.iter().enumerate().position(|(i, p)| p.name == name && self.has(i))
    }
}

struct Evaluator<'e, 'a> {
    input: &'e dyn Input,
    env: &'e mut Environment<'a>,
    ignore_flow: bool,
    redact: bool,
    assertive: bool,
}

/// The text of a value that is known to be single.
fn text_of(value: &Value) -> Option<String> {
    value.text().map(Cow::into_owned)
}

impl Evaluator<'_, '_> {
    fn eval(&mut self, expr: &Expr) -> Result<Value, ExprError> {
        match expr {
            Expr::Attribute { name, .. } => Ok(self.input.attribute(name)),
            Expr::Constant { value, .. } => Ok(Value::String(value.clone())),
            Expr::Compare { op, left, right, at } => self.compare(*op, left, right, at.0),
            Expr::Call { function, args, at } => {
                let function = known(function, at.0)?;
                let parameters = function.check_args(args, at.0)?;
                let call = Call { function, args, parameters, at: at.0 };
                let value = self.call(&call)?;
                let count = if let Value::Multi(values) = &value { values.len() } else { 1 };
                if value.byte_len() > MAX_VALUE_LEN || count > MAX_VALUES {
                    return Err(call.too_large());
                }
                Ok(value)
            }
        }
    }

    /// The environment's time in UTC (as given, near the ends of the calendar where UTC has no equivalent).
    fn now(&self) -> OffsetDateTime {
        self.env.now.checked_to_offset(UtcOffset::UTC).unwrap_or(self.env.now)
    }

    /// Slot `i`'s value; null when the slot is empty.
    fn value(&mut self, call: &Call<'_>, i: usize) -> Result<Value, ExprError> {
        match call.arg(i) {
            Some(arg) => self.eval(arg),
            None => Ok(Value::Null),
        }
    }

    /// Slot `i`'s single value: a multi-valued value with one value is that value, with none null; with more it is
    /// an error.
    fn single(&mut self, call: &Call<'_>, i: usize) -> Result<Value, ExprError> {
        match self.value(call, i)? {
            Value::Multi(mut values) if values.len() <= 1 => Ok(values.pop().unwrap_or(Value::Null)),
            Value::Multi(values) => Err(call.invalid(
                i,
                format!(
                    "has {} values where one is needed: pick one with Item or combine them with Join",
                    values.len()
                ),
            )),
            value => Ok(value),
        }
    }

    /// Slot `i` as a string; `None` when null.
    fn string(&mut self, call: &Call<'_>, i: usize) -> Result<Option<String>, ExprError> {
        Ok(text_of(&self.single(call, i)?))
    }

    /// Slot `i` as a string that must be there.
    fn required_string(&mut self, call: &Call<'_>, i: usize) -> Result<String, ExprError> {
        self.string(call, i)?.ok_or_else(|| call.invalid(i, "is null; it needs a value"))
    }

    /// Slot `i` converted: `None` when null, `direct` for a value already of the type, else its text parsed.
    fn convert<T>(
        &mut self,
        call: &Call<'_>,
        i: usize,
        direct: fn(&Value) -> Option<T>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ExprError> {
        let value = self.single(call, i)?;
        if value == Value::Null {
            return Ok(None);
        }
        if let Some(converted) = direct(&value) {
            return Ok(Some(converted));
        }
        parse(&text_of(&value).unwrap_or_default()).map(Some).map_err(|e| call.invalid(i, e))
    }

    /// Slot `i` as an integer; `None` when null.
    fn integer(&mut self, call: &Call<'_>, i: usize) -> Result<Option<i64>, ExprError> {
        let direct = |v: &Value| if let Value::Integer(n) = v { Some(*n) } else { None };
        let parse = |text: &str| parse_integer(text).ok_or_else(|| format!("`{text}` is not a whole number"));
        self.convert(call, i, direct, parse)
    }

    /// Slot `i` as an integer that must be there.
    fn required_integer(&mut self, call: &Call<'_>, i: usize) -> Result<i64, ExprError> {
        self.integer(call, i)?.ok_or_else(|| call.invalid(i, "is null; it needs a whole number"))
    }

    /// Slot `i` as a date; `None` when null. Strings are read as `CDate` reads them.
    fn date(&mut self, call: &Call<'_>, i: usize) -> Result<Option<OffsetDateTime>, ExprError> {
        let direct = |v: &Value| if let Value::DateTime(t) = v { Some(*t) } else { None };
        self.convert(call, i, direct, dates::parse_loose)
    }

    fn culture(&mut self, call: &Call<'_>, i: usize) -> Result<Culture, ExprError> {
        match self.string(call, i)? {
            Some(name) => Culture::parse(&name).map_err(|e| call.invalid(i, e)),
            None => Ok(Culture::Invariant),
        }
    }

    /// Applies `f` to slot 0's string, null giving null.
    fn map_source(&mut self, call: &Call<'_>, f: impl FnOnce(&str) -> String) -> Result<Value, ExprError> {
        Ok(self.string(call, 0)?.map_or(Value::Null, |s| Value::String(f(&s))))
    }

    fn call(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        match call.function.name {
            "Append" => self.concat(call, 0),
            "Prepend" => self.concat(call, 1),
            "AppRoleAssignmentsComplex" => Ok(Value::Multi(self.roles(call)?.into_iter().map(Value::Object).collect())),
            "AssertiveAppRoleAssignmentsComplex" => {
                self.assertive = true;
                Ok(Value::Multi(self.roles(call)?.into_iter().map(Value::Object).collect()))
            }
            "SingleAppRoleAssignment" => Ok(self.roles(call)?.into_iter().next().map_or(Value::Null, |mut role| {
                role.insert("primary".to_string(), Json::Bool(true));
                Value::Object(role)
            })),
            "BitAnd" => match (self.integer(call, 0)?, self.integer(call, 1)?) {
                (Some(a), Some(b)) => Ok(Value::Integer(a & b)),
                _ => Ok(Value::Null),
            },
            "CBool" => match self.single(call, 0)? {
                Value::Null => Ok(Value::Null),
                Value::Boolean(b) => Ok(Value::Boolean(b)),
                Value::Integer(n) => Ok(Value::Boolean(n != 0)),
                value => {
                    let text = text_of(&value).unwrap_or_default();
                    parse_boolean(&text)
                        .map(Value::Boolean)
                        .ok_or_else(|| call.invalid(0, format!("`{text}` is neither True, False nor a number")))
                }
            },
            "CDate" => Ok(self.date(call, 0)?.map_or(Value::Null, Value::DateTime)),
            "Coalesce" => {
                for i in 0..call.args.len() {
                    let value = self.value(call, i)?;
                    if !value.is_null() {
                        return Ok(value);
                    }
                }
                Ok(Value::Null)
            }
            "ConvertToBase64" => {
                let Some(s) = self.string(call, 0)? else { return Ok(Value::Null) };
                let bytes: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
                if bytes.len().div_ceil(3) * 4 > MAX_VALUE_LEN {
                    return Err(call.too_large());
                }
                Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
            }
            "ConvertToUTF8Hex" => {
                let Some(s) = self.string(call, 0)? else { return Ok(Value::Null) };
                if s.len() * 2 > MAX_VALUE_LEN {
                    return Err(call.too_large());
                }
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                let mut hex = String::with_capacity(s.len() * 2);
                for b in s.bytes() {
                    hex.push(char::from(HEX[usize::from(b >> 4)]));
                    hex.push(char::from(HEX[usize::from(b & 0xf)]));
                }
                Ok(Value::String(hex))
            }
            "Count" => Ok(Value::Integer(match self.value(call, 0)? {
                Value::Null => 0,
                Value::Multi(values) => values.len() as i64,
                _ => 1,
            })),
            "CStr" => Ok(self.string(call, 0)?.map_or(Value::Null, Value::String)),
            "DateAdd" => {
                let interval = self.interval(call, 0)?;
                let (Some(n), Some(t)) = (self.integer(call, 1)?, self.date(call, 2)?) else { return Ok(Value::Null) };
                dates::add(interval, n, t).map(Value::DateTime).map_err(|e| call.invalid(1, e))
            }
            "DateDiff" => {
                let interval = self.interval(call, 0)?;
                let (Some(a), Some(b)) = (self.date(call, 1)?, self.date(call, 2)?) else { return Ok(Value::Null) };
                Ok(Value::Integer(dates::diff(interval, a, b)))
            }
            "DateFromNum" => match self.integer(call, 0)? {
                Some(n) => dates::from_filetime(n).map(Value::DateTime).map_err(|e| call.invalid(0, e)),
                None => Ok(Value::Null),
            },
            "NumFromDate" => match self.date(call, 0)? {
                Some(t) => dates::to_filetime(t).map(Value::Integer).map_err(|e| call.invalid(0, e)),
                None => Ok(Value::Null),
            },
            "DefaultDomain" => match self.env.default_domain {
                Some(domain) => Ok(Value::String(domain.to_string())),
                None => Err(ExprError::NoDefaultDomain { position: call.at }),
            },
            "FormatDateTime" => self.format_date_time(call),
            "Guid" => Ok(Value::String(random::guid(self.env.random))),
            "Now" => Ok(Value::DateTime(self.now())),
            "IgnoreFlowIfNullOrEmpty" => {
                let value = self.value(call, 0)?;
                if value.is_null_or_empty() {
                    self.ignore_flow = true;
                    return Ok(Value::Null);
                }
                Ok(value)
            }
            "Redact" => {
                self.redact = true;
                self.value(call, 0)
            }
            "IIF" => self.iif(call),
            "InStr" => self.instr(call),
            "IsNull" => Ok(Value::Boolean(self.value(call, 0)?.is_null())),
            "IsNullOrEmpty" => Ok(Value::Boolean(self.value(call, 0)?.is_null_or_empty())),
            "IsPresent" => Ok(Value::Boolean(!self.value(call, 0)?.is_null_or_empty())),
            "IsString" => Ok(Value::Boolean(matches!(self.value(call, 0)?, Value::String(_)))),
            "Item" => {
                let values = match self.value(call, 0)? {
                    Value::Null => return Ok(Value::Null),
                    Value::Multi(values) => values,
                    value => vec![value],
                };
                let index = self.required_integer(call, 1)?;
                usize::try_from(index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| values.get(i).cloned())
                    .ok_or_else(|| {
                        call.invalid(1, format!("{index} is outside the {} values (the first is 1)", values.len()))
                    })
            }
            "Join" => self.join(call),
            "Left" => {
                let s = self.string(call, 0)?.unwrap_or_default();
                let n = self.required_integer(call, 1)?;
                Ok(Value::String(if n < 0 {
                    s
                } else {
                    s.chars().take(usize::try_from(n).unwrap_or(usize::MAX)).collect()
                }))
            }
            "Mid" => {
                let Some(s) = self.string(call, 0)? else { return Ok(Value::Null) };
                let start = self.required_integer(call, 1)?;
                let length = self.required_integer(call, 2)?;
                let start = usize::try_from(start)
                    .ok()
                    .filter(|s| *s >= 1)
                    .ok_or_else(|| call.invalid(1, format!("{start} is not a position: the first character is 1")))?;
                let length = usize::try_from(length).map_err(|_| call.invalid(2, format!("{length} is negative")))?;
                Ok(Value::String(s.chars().skip(start - 1).take(length).collect()))
            }
            "NormalizeDiacritics" => self.map_source(call, text::normalize_diacritics),
            "Not" => Ok(match self.single(call, 0)? {
                Value::Null => Value::Null,
                Value::Boolean(b) => Value::Boolean(!b),
                value => Value::Boolean(!text_of(&value).is_some_and(|t| t.trim().eq_ignore_ascii_case("true"))),
            }),
            "PCase" => {
                let separators = self.string(call, 1)?;
                let separators = if call.has(1) { Some(separators.unwrap_or_default()) } else { None };
                self.map_source(call, |s| text::proper_case(s, separators.as_deref()))
            }
            "RandomString" => self.random_string(call),
            "RemoveDuplicates" => {
                let values = match self.value(call, 0)? {
                    Value::Null => return Ok(Value::Null),
                    Value::Multi(values) => values,
                    value => vec![value],
                };
                let mut seen = HashSet::new();
                Ok(Value::Multi(values.into_iter().filter(|v| seen.insert(v.to_json().to_string())).collect()))
            }
            "Replace" => self.replace(call),
            "Split" => {
                let Some(s) = self.string(call, 0)? else { return Ok(Value::Null) };
                let delimiter = self.string(call, 1)?.unwrap_or_default();
                let pieces: Vec<Value> = if delimiter.is_empty() {
                    vec![Value::String(s)]
                } else {
                    s.split(delimiter.as_str()).map(str::trim).filter(|p| !p.is_empty()).map(Value::from).collect()
                };
                Ok(Value::Multi(pieces))
            }
            "StripSpaces" => self.map_source(call, |s| s.replace(' ', "")),
            "Switch" => self.switch(call),
            "ToLower" => {
                let culture = self.culture(call, 1)?;
                self.map_source(call, |s| text::to_lower(s, culture))
            }
            "ToUpper" => {
                let culture = self.culture(call, 1)?;
                self.map_source(call, |s| text::to_upper(s, culture))
            }
            "Word" => {
                let s = self.string(call, 0)?.unwrap_or_default();
                let number = self.required_integer(call, 1)?;
                let delimiters = self.string(call, 2)?.unwrap_or_default();
                Ok(Value::String(text::word(&s, number, &delimiters)))
            }
            // check_functions refuses unsupported functions before evaluation starts.
            name => Err(ExprError::Unsupported {
                function: name.to_string(),
                position: call.at,
                reason: "idplane does not evaluate it",
            }),
        }
    }

    /// `Append`/`Prepend`: the text of slot 0 then of slot 1; null when the source (slot `source`) is null.
    fn concat(&mut self, call: &Call<'_>, source: usize) -> Result<Value, ExprError> {
        let parts = [self.string(call, 0)?, self.string(call, 1)?];
        if parts[source].is_none() {
            return Ok(Value::Null);
        }
        let [a, b] = parts.map(Option::unwrap_or_default);
        if a.len() + b.len() > MAX_VALUE_LEN {
            return Err(call.too_large());
        }
        Ok(Value::String(a + &b))
    }

    fn interval(&mut self, call: &Call<'_>, i: usize) -> Result<Interval, ExprError> {
        let text = self.required_string(call, i)?;
        Interval::parse(&text).map_err(|e| call.invalid(i, e))
    }

    /// The app role assignments of slot 0 as role objects: strings are role values (and display names); objects
    /// give `value` and `displayName` (or `display`).
    fn roles(&mut self, call: &Call<'_>) -> Result<Vec<Map<String, Json>>, ExprError> {
        let assignments = match self.value(call, 0)? {
            Value::Null => Vec::new(),
            Value::Multi(values) => values,
            value => vec![value],
        };
        Ok(assignments
            .iter()
            .filter_map(|assignment| {
                let (value, display) = match assignment {
                    Value::Object(object) => {
                        let value = object.get("value").cloned().unwrap_or(Json::Null);
                        let display = object.get("displayName").or_else(|| object.get("display")).cloned();
                        (value.clone(), display.unwrap_or(value))
                    }
                    other => {
                        let text = Json::String(text_of(other)?);
                        (text.clone(), text)
                    }
                };
                let role = json!({"primary": false, "type": ROLE_TYPE, "display": display, "value": value});
                role.as_object().cloned()
            })
            .collect())
    }

    fn format_date_time(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let (styles_slot, input_slot, output_slot) = match call.parameters.iter().map(|p| p.name).collect::<Vec<_>>()[..]
        {
            [_, "inputFormat", _] => (None, 1, 2),
            _ => (Some(1), 2, 3),
        };
        let source = self.single(call, 0)?;
        let styles = match styles_slot.filter(|&i| call.has(i)) {
            Some(i) => match self.string(call, i)? {
                Some(text) => Styles::parse(&text).map_err(|e| call.invalid(i, e))?,
                None => Styles::DEFAULT,
            },
            None => Styles::DEFAULT,
        };
        let input_format = self.required_string(call, input_slot)?;
        let output_format = self.required_string(call, output_slot)?;
        let output = Format::parse(&output_format).map_err(|e| call.invalid(output_slot, e))?;
        let t = match source {
            Value::Null => return Ok(Value::Null),
            Value::DateTime(t) => t,
            value => {
                let text = text_of(&value).unwrap_or_default();
                let input = Format::parse(&input_format).map_err(|e| call.invalid(input_slot, e))?;
                input.read(&text, styles, self.now().date()).map_err(|e| call.invalid(0, e))?
            }
        };
        Ok(Value::String(output.write(t)))
    }

    /// `IIF`: null when an attribute its condition reads is null or empty (Microsoft documents that the condition
    /// check then fails), else the argument the condition chooses.
    fn iif(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let Some(condition) = call.arg(0) else { return Ok(Value::Null) };
        if condition.attributes().iter().any(|name| self.input.attribute(name).is_null_or_empty()) {
            return Ok(Value::Null);
        }
        let chosen = match self.single(call, 0)? {
            Value::Null => return Ok(Value::Null),
            Value::Boolean(b) => b,
            Value::Integer(n) => n != 0,
            value => {
                let text = text_of(&value).unwrap_or_default();
                parse_boolean(&text).ok_or_else(|| {
                    call.invalid(0, format!("`{text}` is not a condition: compare with = <> > >= < <="))
                })?
            }
        };
        self.value(call, if chosen { 1 } else { 2 })
    }

    fn instr(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let (Some(haystack), Some(needle)) = (self.string(call, 0)?, self.string(call, 1)?) else {
            return Ok(Value::Null);
        };
        let start = self.integer(call, 2)?.unwrap_or(1);
        let start = usize::try_from(start)
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| call.invalid(2, format!("{start} is not a position: the first character is 1")))?;
        let ignore_case = match self.string(call, 3)? {
            None => false,
            Some(kind) => text::ignores_case(&kind).map_err(|e| call.invalid(3, e))?,
        };
        Ok(Value::Integer(text::find(&haystack, &needle, start, ignore_case)))
    }

    /// `Join`: every value of every source (multi-valued sources expanded), nulls and empty strings skipped, with
    /// the separator between; null when every source is null.
    fn join(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let separator = self.string(call, 0)?.unwrap_or_default();
        let mut parts = Vec::new();
        let mut any = false;
        for i in 1..call.args.len() {
            let values = match self.value(call, i)? {
                Value::Multi(values) => values,
                value => vec![value],
            };
            for value in values {
                any |= !value.is_null();
                if let Some(text) = text_of(&value).filter(|t| !t.is_empty()) {
                    parts.push(text);
                }
            }
        }
        if !any {
            return Ok(Value::Null);
        }
        let length: usize =
            parts.iter().map(String::len).sum::<usize>() + separator.len() * parts.len().saturating_sub(1);
        if length > MAX_VALUE_LEN {
            return Err(call.too_large());
        }
        Ok(Value::String(parts.join(&separator)))
    }

    fn random_string(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let mut numbers = [0i64; 5];
        for (i, n) in numbers.iter_mut().enumerate() {
            *n = self.required_integer(call, i)?;
        }
        let avoid = self.string(call, 5)?.unwrap_or_default();
        let [length, digits, special, capital, lower] = numbers;
        let request = random::Request { length, numbers: digits, special, capital, lower, avoid: &avoid };
        random::random_string(request, self.env.random).map(Value::String).map_err(|e| call.invalid(0, e))
    }

    fn replace(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let present: Vec<&str> =
            call.parameters.iter().enumerate().filter(|(i, _)| call.has(*i)).map(|(_, p)| p.name).collect();
        let mode = catalogue::replace_mode(&present).map_err(|detail| ExprError::Arguments {
            function: call.function.name.to_string(),
            position: call.at,
            detail,
        })?;
        // The slots are in the catalogue's order: source, Find, RegularExpression, RegularExpressionGroupName,
        // Replacement, ReplacementPropertyName, Template.
        let slot = |name: &str| call.slot(name).unwrap_or(0);
        let source = self.string(call, 0)?;
        let text = |evaluator: &mut Self, name: &str| -> Result<String, ExprError> {
            Ok(evaluator.string(call, slot(name))?.unwrap_or_default())
        };
        let result = match mode {
            ReplaceMode::Plain | ReplaceMode::Template => {
                let Some(source) = source else { return Ok(Value::Null) };
                let find = text(self, "Find")?;
                if mode == ReplaceMode::Plain {
                    replace::plain(&source, &find, &text(self, "Replacement")?)
                } else {
                    replace::template(&source, &find, &text(self, "Template")?)
                }
                .map_err(|f| call.failure(0, f))?
            }
            ReplaceMode::GroupFromAttribute => {
                if let Some(source) = source.filter(|s| !s.is_empty()) {
                    return Ok(Value::String(source));
                }
                let i = slot("ReplacementPropertyName");
                // A constant names the attribute; anything else is the attribute's value itself.
                let other = match call.arg(i) {
                    Some(Expr::Constant { value, .. }) => text_of(&self.input.attribute(value)),
                    _ => self.string(call, i)?,
                };
                let Some(other) = other else { return Ok(Value::Null) };
                let re = self.regex(call, slot("RegularExpression"))?;
                let group = text(self, "RegularExpressionGroupName")?;
                let found = replace::group_value(&other, &re, &group)
                    .map_err(|f| call.failure(slot("RegularExpressionGroupName"), f))?;
                return Ok(found.map_or(Value::Null, Value::String));
            }
            ReplaceMode::Group | ReplaceMode::Regex => {
                let Some(source) = source else { return Ok(Value::Null) };
                let re = self.regex(call, slot("RegularExpression"))?;
                let replacement = text(self, "Replacement")?;
                if mode == ReplaceMode::Group {
                    let group = text(self, "RegularExpressionGroupName")?;
                    replace::group_replace(&source, &re, &group, &replacement)
                        .map_err(|f| call.failure(slot("RegularExpressionGroupName"), f))?
                } else {
                    replace::regex(&source, &re, &replacement).map_err(|f| call.failure(0, f))?
                }
            }
        };
        Ok(Value::String(result))
    }

    fn regex(&mut self, call: &Call<'_>, i: usize) -> Result<regex::Regex, ExprError> {
        let pattern = self.required_string(call, i)?;
        replace::compile(&pattern).map_err(|e| call.invalid(i, e))
    }

    /// `Switch`: the value paired with the first key equal to the source (case-sensitive; a null source equals
    /// `""`), else the default.
    fn switch(&mut self, call: &Call<'_>) -> Result<Value, ExprError> {
        let source = self.string(call, 0)?.unwrap_or_default();
        for key in (2..call.args.len()).step_by(2) {
            if self.string(call, key)?.unwrap_or_default() == source {
                return self.value(call, key + 1);
            }
        }
        self.value(call, 1)
    }

    /// A comparison: null when either side is null; numbers compare as numbers, dates as dates, booleans as
    /// booleans, anything else as case-sensitive strings.
    fn compare(&mut self, op: CompareOp, left: &Expr, right: &Expr, at: Option<usize>) -> Result<Value, ExprError> {
        let mut side = |expr: &Expr| -> Result<Value, ExprError> {
            match self.eval(expr)? {
                Value::Multi(mut values) if values.len() <= 1 => Ok(values.pop().unwrap_or(Value::Null)),
                Value::Multi(values) => Err(ExprError::InvalidArgument {
                    function: format!("the comparison `{}`", op.symbol()),
                    parameter: expr.to_string(),
                    position: expr.position().or(at),
                    detail: format!("has {} values where one is needed", values.len()),
                }),
                value => Ok(value),
            }
        };
        let (left, right) = (side(left)?, side(right)?);
        let Some(ordering) = order(&left, &right) else { return Ok(Value::Null) };
        Ok(Value::Boolean(match op {
            CompareOp::Eq => ordering.is_eq(),
            CompareOp::Ne => ordering.is_ne(),
            CompareOp::Gt => ordering.is_gt(),
            CompareOp::Ge => ordering.is_ge(),
            CompareOp::Lt => ordering.is_lt(),
            CompareOp::Le => ordering.is_le(),
        }))
    }
}

/// How two single values compare; `None` when either is null.
fn order(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    let (l, r) = (text_of(left)?, text_of(right)?);
    let number = |v: &Value, t: &str| match v {
        Value::Integer(n) => Some(*n),
        Value::String(_) => t.trim().parse::<i64>().ok(),
        _ => None,
    };
    if let (Some(a), Some(b)) = (number(left, &l), number(right, &r)) {
        return Some(a.cmp(&b));
    }
    let date = |v: &Value, t: &str| match v {
        Value::DateTime(d) => Some(*d),
        _ => dates::parse_loose(t).ok(),
    };
    if (matches!(left, Value::DateTime(_)) || matches!(right, Value::DateTime(_)))
        && let (Some(a), Some(b)) = (date(left, &l), date(right, &r))
    {
        return Some(a.cmp(&b));
    }
    let boolean = |t: &str| match t.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    if (matches!(left, Value::Boolean(_)) || matches!(right, Value::Boolean(_)))
        && let (Some(a), Some(b)) = (boolean(&l), boolean(&r))
    {
        return Some(a.cmp(&b));
    }
    Some(l.as_str().cmp(r.as_str()))
}
