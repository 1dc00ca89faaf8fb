//! OData query options as Microsoft Graph's directory takes them: `$filter` (a subset: `eq`, `ne`, `in`,
//! `startsWith`, `and`, `or`, parentheses), `$select`, `$top`, `$skiptoken`, `$count`; and the paging links.
//!
//! Grammar of `$filter` (keywords and function names case-insensitive, as OData's are):
//! ```text
//! filter     = or
//! or         = and *( "or" and )
//! and        = primary *( "and" primary )
//! primary    = "(" filter ")" / "startsWith(" property "," string ")" / property ( ("eq" / "ne") literal
//!              / "in" "(" literal *( "," literal ) ")" )
//! literal    = string / "true" / "false" / "null"
//! string     = "'" *( char / "''" ) "'"
//! ```
//! What is parsed is then either translated for the store (directory listings: only indexed properties, see
//! [`idplane_provisioning::directory::query`]) or evaluated in memory over a short list (templates, service
//! principals). Anything else (`endsWith`, `any`, `ge`, `not`, ...) is refused with the list of what is served.

use base64::Engine;
use idplane_provisioning::ProvisioningError;
use idplane_provisioning::directory::ObjectKind;
use idplane_provisioning::directory::query::{Field, Literal, MAX_IN, ObjectFilter};
use idplane_provisioning::odata::{Token, lex};

/// The longest `$filter` accepted.
const MAX_FILTER: usize = 4096;
/// The most comparisons one `$filter` may hold.
const MAX_TERMS: usize = 64;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
}

/// A literal of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lit {
    Text(String),
    Bool(bool),
    Null,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Cmp(String, Op, Lit),
    In(String, Vec<Lit>),
    StartsWith(String, String),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

fn unsupported(detail: impl Into<String>) -> ProvisioningError {
    ProvisioningError::Unsupported(detail.into())
}

fn invalid(detail: impl Into<String>) -> ProvisioningError {
    ProvisioningError::invalid_property("$filter", detail)
}

const SERVED: &str = "idplane serves eq, ne, in, startsWith, and, or and parentheses";

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    terms: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(usize::MAX, |(p, _)| *p)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), ProvisioningError> {
        let pos = self.position();
        match self.next() {
            Some(t) if t == want => Ok(()),
            _ => Err(invalid(format!("expected {what} at position {}", shown(pos)))),
        }
    }

    fn or(&mut self) -> Result<Expr, ProvisioningError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ProvisioningError> {
        let mut left = self.primary()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.primary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, ProvisioningError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(invalid(format!("a filter may hold at most {MAX_TERMS} comparisons")));
        }
        let pos = self.position();
        match self.next() {
            Some(Token::Open) => {
                self.depth += 1;
                if self.depth > 16 {
                    return Err(invalid("parentheses nest too deep"));
                }
                let e = self.or()?;
                self.expect(Token::Close, "')'")?;
                self.depth -= 1;
                Ok(e)
            }
            Some(Token::Word(w)) if self.peek() == Some(&Token::Open) => {
                if !w.eq_ignore_ascii_case("startswith") {
                    return Err(unsupported(format!("the function '{w}' is not supported in $filter: {SERVED}")));
                }
                self.at += 1;
                let property = self.property()?;
                self.expect(Token::Comma, "','")?;
                let pos = self.position();
                let Some(Token::Text(prefix)) = self.next() else {
                    return Err(invalid(format!("startsWith takes a quoted string, at position {}", shown(pos))));
                };
                self.expect(Token::Close, "')'")?;
                Ok(Expr::StartsWith(property, prefix))
            }
            Some(Token::Word(property)) => {
                let pos = self.position();
                let op = match self.next() {
                    Some(Token::Word(op)) => op.to_ascii_lowercase(),
                    _ => {
                        return Err(invalid(format!(
                            "expected an operator after '{property}' at position {}",
                            shown(pos)
                        )));
                    }
                };
                match op.as_str() {
                    "eq" => Ok(Expr::Cmp(property, Op::Eq, self.literal()?)),
                    "ne" => Ok(Expr::Cmp(property, Op::Ne, self.literal()?)),
                    "in" => {
                        self.expect(Token::Open, "'('")?;
                        let mut values = vec![self.literal()?];
                        while self.peek() == Some(&Token::Comma) {
                            self.at += 1;
                            values.push(self.literal()?);
                            if values.len() > MAX_IN {
                                return Err(invalid(format!("'in' may list at most {MAX_IN} values")));
                            }
                        }
                        self.expect(Token::Close, "')'")?;
                        Ok(Expr::In(property, values))
                    }
                    "gt" | "ge" | "lt" | "le" | "has" => {
                        Err(unsupported(format!("the operator '{op}' is not supported in $filter: {SERVED}")))
                    }
                    _ => Err(invalid(format!("'{op}' at position {} is not an operator", shown(pos)))),
                }
            }
            _ => Err(invalid(format!("expected a comparison at position {}", shown(pos)))),
        }
    }

    fn property(&mut self) -> Result<String, ProvisioningError> {
        let pos = self.position();
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            _ => Err(invalid(format!("expected a property at position {}", shown(pos)))),
        }
    }

    fn literal(&mut self) -> Result<Lit, ProvisioningError> {
        let pos = self.position();
        match self.next() {
            Some(Token::Text(s)) => Ok(Lit::Text(s)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Lit::Null),
            // Unquoted GUIDs, as some scripts write ids.
            Some(Token::Word(w)) if idplane_provisioning::ids::is_guid(&w) => Ok(Lit::Text(w)),
            _ => Err(invalid(format!(
                "expected a value (a 'quoted string', true, false or null) at position {}",
                shown(pos)
            ))),
        }
    }
}

fn shown(pos: usize) -> String {
    if pos == usize::MAX { "the end".into() } else { pos.to_string() }
}

/// Parses a `$filter`.
pub fn parse(filter: &str) -> Result<Expr, ProvisioningError> {
    if filter.len() > MAX_FILTER {
        return Err(invalid(format!("$filter is longer than {MAX_FILTER} characters")));
    }
    let mut p = Parser { tokens: lex(filter)?, at: 0, terms: 0, depth: 0 };
    if p.tokens.is_empty() {
        return Err(invalid("$filter is empty"));
    }
    let e = p.or()?;
    if p.at < p.tokens.len() {
        return Err(invalid(format!("unexpected text at position {}", shown(p.position()))));
    }
    Ok(e)
}

/// A filter for a directory listing of `kind` (`None`: the deleted items of every kind), over the properties the
/// store indexes.
pub fn object_filter(kind: Option<ObjectKind>, e: &Expr) -> Result<ObjectFilter, ProvisioningError> {
    let field = |name: &str| {
        Field::named(kind, name).ok_or_else(|| {
            let served: Vec<&str> = Field::of(kind).iter().map(|f| f.name()).collect();
            unsupported(format!(
                "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}': idplane filters on {}.",
                kind.map_or("directoryObject", ObjectKind::title),
                served.join(", ")
            ))
        })
    };
    let literal = |f: Field, l: &Lit| -> Result<Literal, ProvisioningError> {
        match (f.is_boolean(), l) {
            (true, Lit::Bool(b)) => Ok(Literal::Bool(*b)),
            (false, Lit::Text(s)) => Ok(Literal::Text(s.clone())),
            (_, Lit::Null) => Err(unsupported(format!("comparing '{}' with null is not supported", f.name()))),
            (true, _) => Err(invalid(format!("'{}' is compared with true or false", f.name()))),
            (false, _) => Err(invalid(format!("'{}' is compared with a quoted string", f.name()))),
        }
    };
    Ok(match e {
        Expr::Cmp(p, op, l) => {
            let f = field(p)?;
            let l = literal(f, l)?;
            match op {
                Op::Eq => ObjectFilter::Eq(f, l),
                Op::Ne => ObjectFilter::Ne(f, l),
            }
        }
        Expr::In(p, values) => {
            let f = field(p)?;
            ObjectFilter::In(f, values.iter().map(|l| literal(f, l)).collect::<Result<_, _>>()?)
        }
        Expr::StartsWith(p, prefix) => {
            let f = field(p)?;
            if f.is_boolean() {
                return Err(invalid(format!("startsWith needs a string property, not '{}'", f.name())));
            }
            ObjectFilter::StartsWith(f, prefix.clone())
        }
        Expr::And(a, b) => ObjectFilter::And(Box::new(object_filter(kind, a)?), Box::new(object_filter(kind, b)?)),
        Expr::Or(a, b) => ObjectFilter::Or(Box::new(object_filter(kind, a)?), Box::new(object_filter(kind, b)?)),
    })
}

/// Evaluates a filter over one JSON object in memory (short lists: templates, service principals), comparing
/// strings case-insensitively as Graph does. `known` lists the properties it may test.
pub fn matches(
    e: &Expr,
    item: &serde_json::Map<String, serde_json::Value>,
    known: &[&str],
) -> Result<bool, ProvisioningError> {
    use serde_json::Value;
    let get = |p: &str| -> Result<Option<&Value>, ProvisioningError> {
        let name = known.iter().find(|k| k.eq_ignore_ascii_case(p)).ok_or_else(|| {
            unsupported(format!("filtering on '{p}' is not supported here: idplane filters on {}", known.join(", ")))
        })?;
        Ok(item.get(*name).filter(|v| !v.is_null()))
    };
    let same = |v: Option<&Value>, l: &Lit| match (v, l) {
        (None, Lit::Null) => true,
        (Some(Value::String(s)), Lit::Text(t)) => s.to_lowercase() == t.to_lowercase(),
        (Some(Value::Bool(b)), Lit::Bool(c)) => b == c,
        _ => false,
    };
    Ok(match e {
        Expr::Cmp(p, Op::Eq, l) => same(get(p)?, l),
        Expr::Cmp(p, Op::Ne, l) => !same(get(p)?, l),
        Expr::In(p, values) => {
            let v = get(p)?;
            values.iter().any(|l| same(v, l))
        }
        Expr::StartsWith(p, prefix) => {
            get(p)?.and_then(Value::as_str).is_some_and(|s| s.to_lowercase().starts_with(&prefix.to_lowercase()))
        }
        Expr::And(a, b) => matches(a, item, known)? && matches(b, item, known)?,
        Expr::Or(a, b) => matches(a, item, known)? || matches(b, item, known)?,
    })
}

/// The query options of a request, as given (names case-insensitive, with or without the `$`).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub filter: Option<String>,
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skip_token: Option<String>,
    pub count: bool,
    /// `$orderby`, as given: only for listings that order ([`Options::parse_ordered`]).
    pub orderby: Option<String>,
    /// The raw pairs, to rebuild a next link.
    pub pairs: Vec<(String, String)>,
}

impl Options {
    /// Reads the query string. Options idplane does not serve (`$orderby`, `$search`, `$expand`, `$skip`) are
    /// refused with a message saying so, rather than ignored: a client would otherwise get an answer to another
    /// question.
    pub fn parse(query: Option<&str>) -> Result<Options, ProvisioningError> {
        Self::read(query, false)
    }

    /// [`Options::parse`] for a listing that orders (the provisioning logs): `$orderby` is kept for it to read.
    pub fn parse_ordered(query: Option<&str>) -> Result<Options, ProvisioningError> {
        Self::read(query, true)
    }

    fn read(query: Option<&str>, ordered: bool) -> Result<Options, ProvisioningError> {
        let mut o = Options::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            let name = k.trim_start_matches('$').to_ascii_lowercase();
            match name.as_str() {
                "filter" => o.filter = Some(v.clone()),
                "select" => {
                    o.select = Some(v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect());
                }
                "top" => {
                    let n: usize = v.trim().parse().map_err(|_| {
                        ProvisioningError::invalid_property(
                            "$top",
                            format!("Invalid $top value '{v}': a whole number from 1 to 999."),
                        )
                    })?;
                    if !(1..=999).contains(&n) {
                        return Err(ProvisioningError::invalid_property(
                            "$top",
                            format!("Invalid page size specified: '{n}'. Must be between 1 and 999 inclusive."),
                        ));
                    }
                    o.top = Some(n);
                }
                "skiptoken" => o.skip_token = Some(v.clone()),
                "count" => {
                    o.count = match v.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ProvisioningError::invalid_property("$count", "$count is true or false")),
                    }
                }
                "orderby" if ordered => o.orderby = Some(v.clone()),
                "orderby" | "search" | "expand" | "skip" | "apply" | "compute" => {
                    return Err(unsupported(format!(
                        "the query option '${name}' is not supported by idplane: use $filter, $select, $top, $count and the @odata.nextLink"
                    )));
                }
                "format" if v.eq_ignore_ascii_case("json") => {}
                _ => {}
            }
            o.pairs.push((k, v));
        }
        Ok(o)
    }

    /// The properties of `$select`, as strings.
    pub fn selected(&self) -> Option<Vec<&str>> {
        self.select.as_ref().map(|s| s.iter().map(String::as_str).collect())
    }

    /// The cursor a `$skiptoken` carries (the last id of the previous page), if any.
    pub fn cursor(&self) -> Result<Option<String>, ProvisioningError> {
        let Some(t) = &self.skip_token else { return Ok(None) };
        let bad = || {
            ProvisioningError::invalid_property(
                "$skiptoken",
                "the $skiptoken is not one this server issued; follow @odata.nextLink as given",
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let id = text.strip_prefix("after:").ok_or_else(bad)?;
        Ok(Some(id.to_string()))
    }

    /// The absolute link to the page after `last` (an id): this request's URL with every option but the skip token
    /// as given, and a skip token naming `last`.
    pub fn next_link(&self, url: &str, last: &str) -> String {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{last}"));
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            if !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken") {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", &token);
        format!("{url}?{}", q.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Lit {
        Lit::Text(s.into())
    }

    #[test]
    fn filters_parse_as_graph_clients_write_them() -> Result<(), ProvisioningError> {
        assert_eq!(
            parse("userPrincipalName eq 'o''neil@x.com'")?,
            Expr::Cmp("userPrincipalName".into(), Op::Eq, text("o'neil@x.com"))
        );
        assert_eq!(parse("startswith(displayName,'A')")?, Expr::StartsWith("displayName".into(), "A".into()));
        assert_eq!(
            parse("id in ('a', 'b') or (accountEnabled eq false AND startsWith(mail, 'x'))")?,
            Expr::Or(
                Box::new(Expr::In("id".into(), vec![text("a"), text("b")])),
                Box::new(Expr::And(
                    Box::new(Expr::Cmp("accountEnabled".into(), Op::Eq, Lit::Bool(false))),
                    Box::new(Expr::StartsWith("mail".into(), "x".into()))
                ))
            )
        );
        for (bad, needle) in [
            ("displayName eq", "expected a value"),
            ("displayName eq 'x", "no closing quote"),
            ("endswith(mail,'x')", "not supported"),
            ("x ge 'a'", "not supported"),
            ("(displayName eq 'a'", "expected ')'"),
            ("displayName eq 'a' extra", "unexpected text"),
            ("", "empty"),
        ] {
            let e = parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        Ok(())
    }

    #[test]
    fn directory_filters_take_indexed_properties_of_the_right_type() -> Result<(), ProvisioningError> {
        let users = Some(ObjectKind::User);
        let f = object_filter(users, &parse("accountEnabled eq true and mail eq 'a@x.com'")?)?;
        assert_eq!(
            f,
            ObjectFilter::And(
                Box::new(ObjectFilter::Eq(Field::AccountEnabled, Literal::Bool(true))),
                Box::new(ObjectFilter::Eq(Field::Mail, Literal::Text("a@x.com".into())))
            )
        );
        for bad in
            ["department eq 'x'", "accountEnabled eq 'true'", "mail eq true", "securityEnabled eq true", "mail eq null"]
        {
            assert!(object_filter(users, &parse(bad)?).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn options_refuse_what_is_not_served_and_links_carry_the_rest() -> Result<(), ProvisioningError> {
        let o = Options::parse(Some("$filter=displayName%20eq%20'a'&$top=5&$select=id,displayName&$count=true"))?;
        assert_eq!(o.top, Some(5));
        assert_eq!(o.selected(), Some(vec!["id", "displayName"]));
        let link = o.next_link("http://h/v1.0/users", "abc");
        assert!(link.starts_with("http://h/v1.0/users?%24filter=displayName+eq+%27a%27&%24top=5"), "{link}");
        let again = Options::parse(link.split_once('?').map(|(_, q)| q))?;
        assert_eq!(again.cursor()?, Some("abc".into()));
        assert_eq!(again.filter, o.filter);
        for bad in ["$orderby=displayName", "$top=0", "$top=1000", "$count=maybe", "$search=%22a%22"] {
            assert!(Options::parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(Options::parse(Some("$skiptoken=nope"))?.cursor().is_err());
        let ordered = Options::parse_ordered(Some("$orderby=activityDateTime%20asc&$top=2"))?;
        assert_eq!(ordered.orderby.as_deref(), Some("activityDateTime asc"));
        assert!(ordered.next_link("http://h/v1.0/x", "c").contains("%24orderby=activityDateTime+asc"));
        Ok(())
    }
}
