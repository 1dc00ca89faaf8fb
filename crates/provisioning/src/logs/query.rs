//! Which provisioning logs a listing asks for ([`LogQuery`]): clauses that must all hold ([`LogClause`]), an order
//! on the activity time, the cursor of the page to continue after, and a page size. The Graph API reads the query
//! from OData (`$filter`, `$orderby`); the command line writes it as OData ([`print_filter`]); the store translates
//! each clause to SQL over an indexed column.
//!
//! Grammar of the `$filter` served (keywords, function and property names case-insensitive; values as Graph
//! documents them, case-sensitive except the action and the status):
//! ```text
//! filter     = clause *( "and" clause )
//! clause     = "(" filter ")" / "contains(" name "," string ")" / "activityDateTime" timeop datetime
//!              / id "eq" string / "provisioningAction eq" string / "provisioningStatusInfo/status eq" string
//! timeop     = "eq" / "gt" / "ge" / "lt" / "le"
//! name       = "sourceIdentity/displayName" / "targetIdentity/displayName"
//! id         = "id" / "jobId" / "cycleId" / "changeId" / "sourceIdentity/id" / "targetIdentity/id"
//!              / "servicePrincipal/id"
//! datetime   = an RFC 3339 date and time (2026-12-06T10:00:00Z), bare as OData writes it, or quoted
//! string     = "'" *( char / "''" ) "'"
//! ```
//! `or`, `not`, other functions and other properties are refused with what is served: a client would otherwise get
//! an answer to another question. [`print_filter`] writes what [`parse_filter`] reads: `parse(print(q)) == q`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ProvisioningAction, ProvisioningLog, ProvisioningResult, graph_precision};
use crate::error::{ProvisioningError, Result};
use crate::odata::{Token, lex, quote as quoted};

/// The longest `$filter` accepted.
pub const MAX_FILTER: usize = 4096;
/// The most clauses one `$filter` may hold.
pub const MAX_CLAUSES: usize = 32;
/// The page size when the client names none.
pub const DEFAULT_TOP: usize = 100;
/// The largest page (`$top`), as idplane's other Graph listings take it.
pub const MAX_TOP: usize = 999;

/// A comparison of the activity time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl TimeOp {
    pub const ALL: [TimeOp; 5] = [TimeOp::Eq, TimeOp::Gt, TimeOp::Ge, TimeOp::Lt, TimeOp::Le];

    /// OData's name of the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeOp::Eq => "eq",
            TimeOp::Gt => "gt",
            TimeOp::Ge => "ge",
            TimeOp::Lt => "lt",
            TimeOp::Le => "le",
        }
    }

    /// SQL's spelling of the operator.
    pub fn sql(self) -> &'static str {
        match self {
            TimeOp::Eq => "=",
            TimeOp::Gt => ">",
            TimeOp::Ge => ">=",
            TimeOp::Lt => "<",
            TimeOp::Le => "<=",
        }
    }
}

/// A property of a record compared by equality with a text (an id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    Id,
    JobId,
    CycleId,
    ChangeId,
    SourceId,
    TargetId,
    ServicePrincipalId,
}

impl IdField {
    pub const ALL: [IdField; 7] = [
        IdField::Id,
        IdField::JobId,
        IdField::CycleId,
        IdField::ChangeId,
        IdField::SourceId,
        IdField::TargetId,
        IdField::ServicePrincipalId,
    ];

    /// Graph's name of the property, as `$filter` takes it.
    pub fn name(self) -> &'static str {
        match self {
            IdField::Id => "id",
            IdField::JobId => "jobId",
            IdField::CycleId => "cycleId",
            IdField::ChangeId => "changeId",
            IdField::SourceId => "sourceIdentity/id",
            IdField::TargetId => "targetIdentity/id",
            IdField::ServicePrincipalId => "servicePrincipal/id",
        }
    }

    /// The value of this property in a record.
    pub fn of(self, log: &ProvisioningLog) -> &str {
        match self {
            IdField::Id => &log.id,
            IdField::JobId => &log.job_id,
            IdField::CycleId => &log.cycle_id,
            IdField::ChangeId => &log.change_id,
            IdField::SourceId => &log.source.id,
            IdField::TargetId => &log.target.id,
            IdField::ServicePrincipalId => &log.service_principal_id,
        }
    }
}

/// The source or the target identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    /// Graph's path of the identity's display name.
    pub fn display_name(self) -> &'static str {
        match self {
            Side::Source => "sourceIdentity/displayName",
            Side::Target => "targetIdentity/displayName",
        }
    }
}

/// One condition a record must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogClause {
    /// `activityDateTime <op> <time>`, both times at Graph's precision ([`graph_precision`]: 100 ns).
    Activity(TimeOp, OffsetDateTime),
    /// `<id> eq '<value>'`, case-sensitive.
    Equals(IdField, String),
    /// `provisioningAction eq '<action>'`.
    Action(ProvisioningAction),
    /// `provisioningStatusInfo/status eq '<status>'`.
    Status(ProvisioningResult),
    /// `contains(<side>Identity/displayName, '<text>')`, case-sensitive as Graph's filters on these logs are.
    NameContains(Side, String),
}

impl LogClause {
    /// Whether a record meets this condition, as the store decides it (both times at [`graph_precision`]).
    pub fn matches(&self, log: &ProvisioningLog) -> bool {
        match self {
            LogClause::Activity(op, t) => {
                let (a, t) = (graph_precision(log.activity), graph_precision(*t));
                match op {
                    TimeOp::Eq => a == t,
                    TimeOp::Gt => a > t,
                    TimeOp::Ge => a >= t,
                    TimeOp::Lt => a < t,
                    TimeOp::Le => a <= t,
                }
            }
            LogClause::Equals(field, value) => field.of(log) == value,
            LogClause::Action(a) => log.action == *a,
            LogClause::Status(s) => log.status == *s,
            LogClause::NameContains(Side::Source, text) => log.source.display_name.contains(text.as_str()),
            LogClause::NameContains(Side::Target, text) => log.target.display_name.contains(text.as_str()),
        }
    }
}

/// The order of a listing, by activity time (then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogOrder {
    /// `activityDateTime desc`: Graph's order when none is asked.
    #[default]
    NewestFirst,
    /// `activityDateTime asc`.
    OldestFirst,
}

impl LogOrder {
    /// Reads `$orderby`: `activityDateTime`, optionally followed by `asc` or `desc` (the default, ascending, is
    /// OData's).
    pub fn parse(orderby: &str) -> Result<LogOrder> {
        let words: Vec<&str> = orderby.split_whitespace().collect();
        let unsupported = || {
            ProvisioningError::Unsupported(format!(
                "$orderby '{orderby}' is not supported: provisioning logs are ordered by 'activityDateTime asc' or \
                 'activityDateTime desc' (the default)"
            ))
        };
        match words.as_slice() {
            [p] if p.eq_ignore_ascii_case("activityDateTime") => Ok(LogOrder::OldestFirst),
            [p, d] if p.eq_ignore_ascii_case("activityDateTime") => match d.to_ascii_lowercase().as_str() {
                "asc" => Ok(LogOrder::OldestFirst),
                "desc" => Ok(LogOrder::NewestFirst),
                _ => Err(unsupported()),
            },
            _ => Err(unsupported()),
        }
    }

    /// OData's spelling.
    pub fn as_odata(self) -> &'static str {
        match self {
            LogOrder::NewestFirst => "activityDateTime desc",
            LogOrder::OldestFirst => "activityDateTime asc",
        }
    }

    fn tag(self) -> char {
        match self {
            LogOrder::NewestFirst => 'd',
            LogOrder::OldestFirst => 'a',
        }
    }
}

/// A position in a listing's order: the activity time (at [`graph_precision`]) and id of the last record of a page.
/// Paging by position keeps pages stable while records are added: a new record sorts before the first page of a
/// newest-first listing (and at the end of an oldest-first one), never into a page already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCursor {
    pub activity: OffsetDateTime,
    pub id: String,
}

impl LogCursor {
    /// The position of a record.
    pub fn after(log: &ProvisioningLog) -> LogCursor {
        LogCursor { activity: graph_precision(log.activity), id: log.id.clone() }
    }

    /// The cursor as text for a page token, with the order it belongs to.
    pub fn encode(&self, order: LogOrder) -> String {
        format!("{}.{}.{}", order.tag(), self.activity.unix_timestamp_nanos(), self.id)
    }

    /// Reads what [`LogCursor::encode`] wrote for a listing in `order`.
    pub fn decode(text: &str, order: LogOrder) -> Result<LogCursor> {
        let bad = |why: &str| {
            ProvisioningError::invalid_property(
                "$skiptoken",
                format!("the $skiptoken {why}; follow @odata.nextLink as given"),
            )
        };
        let mut parts = text.splitn(3, '.');
        let (tag, nanos, id) = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(n), Some(id)) => (t, n, id),
            _ => return Err(bad("is not one this server issued")),
        };
        if tag.len() != 1 || !tag.starts_with(order.tag()) {
            return Err(bad("belongs to a listing in another $orderby"));
        }
        let nanos: i128 = nanos.parse().map_err(|_| bad("is not one this server issued"))?;
        let activity =
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad("is not one this server issued"))?;
        Ok(LogCursor { activity, id: id.to_string() })
    }
}

/// One listing of a tenant's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// Conditions that must all hold.
    pub filter: Vec<LogClause>,
    pub order: LogOrder,
    /// Only records after this position in `order` (the cursor of the previous page).
    pub after: Option<LogCursor>,
    /// The page size, from 1 to [`MAX_TOP`].
    pub top: usize,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery { filter: Vec::new(), order: LogOrder::NewestFirst, after: None, top: DEFAULT_TOP }
    }
}

impl LogQuery {
    /// The query of a Graph request: its `$filter`, `$orderby`, the cursor text of its `$skiptoken` and its `$top`.
    pub fn from_odata(
        filter: Option<&str>,
        orderby: Option<&str>,
        cursor: Option<&str>,
        top: Option<usize>,
    ) -> Result<LogQuery> {
        let order = orderby.map(LogOrder::parse).transpose()?.unwrap_or_default();
        Ok(LogQuery {
            filter: filter.map(parse_filter).transpose()?.unwrap_or_default(),
            order,
            after: cursor.map(|c| LogCursor::decode(c, order)).transpose()?,
            top: top.unwrap_or(DEFAULT_TOP).clamp(1, MAX_TOP),
        })
    }

    /// Whether a record meets every clause.
    pub fn matches(&self, log: &ProvisioningLog) -> bool {
        self.filter.iter().all(|c| c.matches(log))
    }
}

/// A page of a listing, and the position to continue after when more records follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub items: Vec<ProvisioningLog>,
    pub next: Option<LogCursor>,
}

// ---- the OData text ----

/// The `$filter` text of clauses: each in its canonical form, joined by `and`. Empty for no clause.
pub fn print_filter(clauses: &[LogClause]) -> String {
    let printed: Vec<String> = clauses
        .iter()
        .map(|c| match c {
            LogClause::Activity(op, t) => {
                let t = t.checked_to_offset(time::UtcOffset::UTC).unwrap_or(*t);
                let text = t.format(&Rfc3339).unwrap_or_default();
                format!("activityDateTime {} {text}", op.as_str())
            }
            LogClause::Equals(field, value) => format!("{} eq {}", field.name(), quoted(value)),
            LogClause::Action(a) => format!("provisioningAction eq {}", quoted(a.as_str())),
            LogClause::Status(s) => format!("provisioningStatusInfo/status eq {}", quoted(s.as_str())),
            LogClause::NameContains(side, text) => format!("contains({}, {})", side.display_name(), quoted(text)),
        })
        .collect();
    printed.join(" and ")
}

const SERVED: &str = "idplane filters provisioning logs on activityDateTime (eq, gt, ge, lt, le), id, jobId, \
     cycleId, changeId, sourceIdentity/id, targetIdentity/id, servicePrincipal/id, provisioningAction and \
     provisioningStatusInfo/status (eq), and contains(sourceIdentity/displayName, '...') or \
     contains(targetIdentity/displayName, '...'), joined by 'and'";

fn invalid(detail: impl Into<String>) -> ProvisioningError {
    ProvisioningError::invalid_property("$filter", detail)
}

fn unsupported(detail: impl std::fmt::Display) -> ProvisioningError {
    ProvisioningError::Unsupported(format!("{detail}: {SERVED}"))
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    clauses: Vec<LogClause>,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> String {
        self.tokens.get(self.at).map_or_else(|| "the end".to_string(), |(p, _)| format!("position {p}"))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.peek().cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<()> {
        let at = self.position();
        if self.next() == Some(want) { Ok(()) } else { Err(invalid(format!("expected {what} at {at}"))) }
    }

    /// `clause *( "and" clause )`, into `self.clauses`.
    fn conjunction(&mut self) -> Result<()> {
        self.clause()?;
        loop {
            if self.keyword("and") {
                self.at += 1;
                self.clause()?;
            } else if self.keyword("or") {
                return Err(unsupported("'or' is not supported in $filter"));
            } else {
                return Ok(());
            }
        }
    }

    fn clause(&mut self) -> Result<()> {
        if self.clauses.len() >= MAX_CLAUSES {
            return Err(invalid(format!("a filter may hold at most {MAX_CLAUSES} clauses")));
        }
        let at = self.position();
        match self.next() {
            Some(Token::Open) => {
                self.depth += 1;
                if self.depth > 8 {
                    return Err(invalid("parentheses nest too deep"));
                }
                self.conjunction()?;
                self.expect(Token::Close, "')'")?;
                self.depth -= 1;
                Ok(())
            }
            Some(Token::Word(w)) if self.peek() == Some(&Token::Open) => self.function(&w),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") => {
                Err(unsupported("'not' is not supported in $filter"))
            }
            Some(Token::Word(property)) => self.comparison(&property),
            _ => Err(invalid(format!("expected a comparison at {at}"))),
        }
    }

    fn function(&mut self, name: &str) -> Result<()> {
        if !name.eq_ignore_ascii_case("contains") {
            return Err(unsupported(format!("the function '{name}' is not supported in $filter")));
        }
        self.at += 1;
        let at = self.position();
        let side = match self.next() {
            Some(Token::Word(p)) if p.eq_ignore_ascii_case(Side::Source.display_name()) => Side::Source,
            Some(Token::Word(p)) if p.eq_ignore_ascii_case(Side::Target.display_name()) => Side::Target,
            Some(Token::Word(p)) => return Err(unsupported(format!("contains() on '{p}' is not supported"))),
            _ => return Err(invalid(format!("expected a property at {at}"))),
        };
        self.expect(Token::Comma, "','")?;
        let at = self.position();
        let Some(Token::Text(text)) = self.next() else {
            return Err(invalid(format!("contains() takes a quoted string, at {at}")));
        };
        self.expect(Token::Close, "')'")?;
        self.clauses.push(LogClause::NameContains(side, text));
        Ok(())
    }

    fn comparison(&mut self, property: &str) -> Result<()> {
        let at = self.position();
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(invalid(format!("expected an operator after '{property}' at {at}"))),
        };
        let at = self.position();
        let value = self.next();
        let clause = if property.eq_ignore_ascii_case("activityDateTime") {
            let op = TimeOp::ALL.into_iter().find(|o| o.as_str() == op).ok_or_else(|| {
                unsupported(format!("the operator '{op}' is not supported on activityDateTime in $filter"))
            })?;
            let text = match value {
                Some(Token::Word(w) | Token::Text(w)) => w,
                _ => return Err(invalid(format!("expected a date and time at {at}"))),
            };
            let t = OffsetDateTime::parse(&text, &Rfc3339).map_err(|_| {
                invalid(format!(
                    "'{text}' at {at} is not a date and time: write it as RFC 3339 does, 2026-12-06T10:00:00Z"
                ))
            })?;
            LogClause::Activity(op, t)
        } else {
            let known = IdField::ALL.iter().map(|f| f.name()).chain([
                "provisioningAction",
                "provisioningStatusInfo/status",
                Side::Source.display_name(),
                Side::Target.display_name(),
            ]);
            let Some(name) = known.into_iter().find(|k| k.eq_ignore_ascii_case(property)) else {
                return Err(unsupported(format!("filtering on '{property}' is not supported")));
            };
            if op != "eq" {
                return Err(unsupported(format!("the operator '{op}' is not supported on {name} in $filter")));
            }
            let text = match value {
                Some(Token::Text(t)) => t,
                // Bare GUIDs, as some scripts write ids.
                Some(Token::Word(w)) if crate::ids::is_guid(&w) => w,
                _ => return Err(invalid(format!("{name} is compared with a quoted string, at {at}"))),
            };
            self.typed(name, text)?
        };
        self.clauses.push(clause);
        Ok(())
    }

    /// The clause of `name eq 'text'`.
    fn typed(&self, name: &str, text: String) -> Result<LogClause> {
        let listed = |all: &[&str]| all.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
        Ok(match name {
            "provisioningAction" => LogClause::Action(ProvisioningAction::parse(&text).ok_or_else(|| {
                let all: Vec<&str> = ProvisioningAction::ALL.iter().map(|a| a.as_str()).collect();
                invalid(format!("'{text}' is not a provisioningAction: use one of {}", listed(&all)))
            })?),
            "provisioningStatusInfo/status" => {
                LogClause::Status(ProvisioningResult::parse(&text).ok_or_else(|| {
                    let all: Vec<&str> = ProvisioningResult::ALL.iter().map(|s| s.as_str()).collect();
                    invalid(format!("'{text}' is not a provisioning status: use one of {}", listed(&all)))
                })?)
            }
            n if n == Side::Source.display_name() || n == Side::Target.display_name() => {
                return Err(unsupported(format!("'{n} eq' is not supported; use contains({n}, '...')")));
            }
            _ => match IdField::ALL.into_iter().find(|f| f.name() == name) {
                Some(field) => LogClause::Equals(field, text),
                None => return Err(unsupported(format!("filtering on '{name}' is not supported"))),
            },
        })
    }
}

/// Reads a `$filter` over provisioning logs: the clauses it joins with `and`, in the order written.
pub fn parse_filter(filter: &str) -> Result<Vec<LogClause>> {
    if filter.len() > MAX_FILTER {
        return Err(invalid(format!("$filter is longer than {MAX_FILTER} characters")));
    }
    let mut p = Parser { tokens: lex(filter)?, at: 0, depth: 0, clauses: Vec::new() };
    if p.tokens.is_empty() {
        return Err(invalid("$filter is empty"));
    }
    p.conjunction()?;
    if p.at < p.tokens.len() {
        return Err(invalid(format!("unexpected text at {}", p.position())));
    }
    Ok(p.clauses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn err(filter: &str) -> String {
        parse_filter(filter).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn filters_parse_as_graph_documents_them() -> Result<()> {
        let t = datetime!(2026-12-06 10:00 UTC);
        assert_eq!(
            parse_filter(
                "activityDateTime ge 2026-12-06T10:00:00Z and activityDateTime LT '2026-12-06T11:00:00+01:00' and \
                 jobId eq 'dataBricks.x.y' and provisioningAction eq 'Create' and \
                 provisioningStatusInfo/status eq 'failure' and (sourceIdentity/id eq 'a''b' and \
                 CONTAINS(targetIdentity/displayName, 'Ann'))"
            )?,
            vec![
                LogClause::Activity(TimeOp::Ge, t),
                LogClause::Activity(TimeOp::Lt, t),
                LogClause::Equals(IdField::JobId, "dataBricks.x.y".into()),
                LogClause::Action(ProvisioningAction::Create),
                LogClause::Status(ProvisioningResult::Failure),
                LogClause::Equals(IdField::SourceId, "a'b".into()),
                LogClause::NameContains(Side::Target, "Ann".into()),
            ]
        );
        let guid = "0190f0a4-0000-7000-8000-000000000001";
        assert_eq!(
            parse_filter(&format!("cycleId eq {guid}"))?,
            vec![LogClause::Equals(IdField::CycleId, guid.into())]
        );
        assert_eq!(
            parse_filter("servicePrincipal/id eq 'sp' and changeId eq 'c' and id eq 'i' and targetIdentity/id eq 't'")?
                .len(),
            4
        );
        Ok(())
    }

    #[test]
    fn what_is_not_served_is_refused_by_name() {
        for (filter, needle) in [
            ("jobId eq 'a' or jobId eq 'b'", "'or' is not supported"),
            ("not (jobId eq 'a')", "'not' is not supported"),
            ("startswith(jobId, 'a')", "the function 'startswith'"),
            ("tenantId eq 'x'", "filtering on 'tenantId'"),
            ("jobId ne 'a'", "the operator 'ne' is not supported on jobId"),
            ("activityDateTime ne 2026-12-06T10:00:00Z", "the operator 'ne'"),
            ("contains(jobId, 'a')", "contains() on 'jobId'"),
            ("sourceIdentity/displayName eq 'Ann'", "use contains(sourceIdentity/displayName"),
        ] {
            let e = parse_filter(filter).err();
            assert!(matches!(e, Some(ProvisioningError::Unsupported(_))), "{filter}: {e:?}");
            let text = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains(needle) && text.contains("idplane filters provisioning logs on"), "{filter}: {text}");
        }
    }

    #[test]
    fn mistakes_say_where_they_are() {
        for (filter, needle) in [
            ("", "empty"),
            ("jobId eq", "quoted string, at the end"),
            ("jobId eq 'a", "no closing quote"),
            ("jobId eq abc", "quoted string, at position 9"),
            ("activityDateTime ge yesterday", "'yesterday' at position 20 is not a date and time"),
            ("provisioningAction eq 'make'", "use one of 'create', 'update'"),
            ("provisioningStatusInfo/status eq 'ok'", "use one of 'success', 'failure'"),
            ("(jobId eq 'a'", "expected ')'"),
            ("jobId eq 'a' jobId eq 'b'", "unexpected text at position 13"),
            ("jobId eq 'a' and", "expected a comparison at the end"),
            ("jobId # 'a'", "unexpected '#'"),
        ] {
            let e = err(filter);
            assert!(e.contains(needle), "{filter}: {e}");
        }
        let long = vec!["jobId eq 'a'"; MAX_CLAUSES + 1].join(" and ");
        assert!(err(&long).contains("at most 32 clauses"));
        assert!(err(&"(".repeat(20)).contains("nest too deep"));
        assert!(err(&"x".repeat(MAX_FILTER + 1)).contains("longer than"));
    }

    #[test]
    fn the_order_and_the_cursor_go_together() -> Result<()> {
        assert_eq!(LogOrder::parse("activityDateTime")?, LogOrder::OldestFirst);
        assert_eq!(LogOrder::parse("ActivityDateTime  DESC")?, LogOrder::NewestFirst);
        assert_eq!(LogOrder::parse(LogOrder::OldestFirst.as_odata())?, LogOrder::OldestFirst);
        assert!(matches!(LogOrder::parse("jobId"), Err(ProvisioningError::Unsupported(_))));
        assert!(LogOrder::parse("activityDateTime sideways").is_err());
        let c = LogCursor { activity: datetime!(2026-12-06 10:00:00.1234567 UTC), id: "a.b".into() };
        assert_eq!(LogCursor::decode(&c.encode(LogOrder::NewestFirst), LogOrder::NewestFirst)?, c);
        let other = LogCursor::decode(&c.encode(LogOrder::NewestFirst), LogOrder::OldestFirst);
        assert!(other.err().map(|e| e.to_string()).unwrap_or_default().contains("another $orderby"));
        for bad in ["", "d.x.y", "d.1", "dd.1.x", "d.99999999999999999999999999.x"] {
            assert!(LogCursor::decode(bad, LogOrder::NewestFirst).is_err(), "{bad}");
        }
        let q = LogQuery::from_odata(
            None,
            Some("activityDateTime asc"),
            Some(&c.encode(LogOrder::OldestFirst)),
            Some(5000),
        )?;
        assert_eq!((q.order, q.after, q.top), (LogOrder::OldestFirst, Some(c), MAX_TOP));
        assert_eq!(LogQuery::from_odata(None, None, None, None)?, LogQuery::default());
        Ok(())
    }

    #[test]
    fn printing_writes_what_parsing_reads() -> Result<()> {
        let clauses = vec![
            LogClause::Activity(TimeOp::Le, datetime!(2026-12-06 10:00:00.5 +02:00)),
            LogClause::Equals(IdField::ServicePrincipalId, "it's".into()),
            LogClause::Action(ProvisioningAction::StagedDelete),
            LogClause::NameContains(Side::Source, "Ann (Sales), 'x'".into()),
        ];
        let text = print_filter(&clauses);
        assert_eq!(
            text,
            "activityDateTime le 2026-12-06T08:00:00.5Z and servicePrincipal/id eq 'it''s' and provisioningAction eq \
             'stagedDelete' and contains(sourceIdentity/displayName, 'Ann (Sales), ''x''')"
        );
        assert_eq!(parse_filter(&text)?, clauses);
        assert_eq!(print_filter(&[]), "");
        // A time UTC cannot hold (past the year 9999) keeps its offset.
        let edge = parse_filter("activityDateTime lt 9999-12-31T23:59:59-23:59")?;
        assert_eq!(print_filter(&edge), "activityDateTime lt 9999-12-31T23:59:59-23:59");
        Ok(())
    }
}
