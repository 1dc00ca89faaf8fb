//! Reading principals: the visibility predicate of a scope, the translation of SCIM filters and sorts into `WHERE`
//! and `ORDER BY` clauses over the `principals` table, the plan of a listing, and the batch reads of what a page
//! shows (groups, members, workspace values) for the whole page at once.
//!
//! Text comparisons assume byte-wise (code point) order, which is SQLite's default `BINARY` collation; the
//! PostgreSQL schema declares its key columns `COLLATE "C"` to match.
//!
//! What a listing costs (`plan`):
//! - A filter every disjunct of which an index narrows (`userName`, `externalId`, `displayName`, `applicationId`,
//!   `id`, `emails.value` equality or prefix; `members.value` equality) costs O(matches), for its page and its
//!   count.
//! - No filter: the page is O(`startIndex` + `count`) in id order (O(`count`) with a cursor), read from the index of
//!   the scope's principals in id order; the total is a count of the scope, which a listing may take from the store's
//!   count cache ([`Total::Recent`]). A federated workspace reads two homes (the account's principals, which it keeps
//!   when assigned, and its own groups) and sorts what it sees, and tests each account principal for an assignment:
//!   its pages cost O(the account's principals of the kind).
//! - Anything else (a filter on an attribute without an index, translated to SQL over the JSON document or
//!   evaluated in memory; a sort on anything but `id`) examines the rows of the scope: allowed when the scope holds
//!   at most `max_scan` principals of the kind (a bounded, index-only count checks it first), else
//!   [`Listing::TooMany`](idplane_core::store::Listing::TooMany). What SQL cannot evaluate exactly is evaluated in
//!   memory on the candidates SQL returns, at most `max_candidates` of them.

use idplane_core::principal::PrincipalKind;
use idplane_core::resource_types;
use idplane_core::store::{ListSpec, Sort, Total};
use idplane_core::tenancy::Scope;
use idplane_scim::filter::fold_case;
use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use idplane_scim::schema::{AttributeType, URN_ENTERPRISE_USER};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::tx::{Dialect, Sql};

/// The columns every principal query selects, in the order [`crate::codec::principal`] reads them.
pub(crate) const PRINCIPAL_COLUMNS: &str =
    "p.id, p.kind, p.account_id, p.home_workspace, p.doc, p.version, p.created, p.last_modified";

/// The display of a principal as [`idplane_core::principal::display_of`] computes it, from the indexed columns.
pub(crate) const DISPLAY: &str = "COALESCE(p.display_name, p.unique_value, '')";

/// The principals a batch read is about: one (an index probe with `= ?`), or a list (a JSON array, one statement text
/// whatever its length).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ids {
    One(i64),
    Many(String),
}

impl Ids {
    pub fn of(ids: &[i64]) -> Ids {
        match ids {
            [one] => Ids::One(*one),
            many => Ids::Many(crate::codec::id_array(many.iter().copied())),
        }
    }

    /// `column` is one of these ids.
    fn condition(&self, d: Dialect, column: &str) -> Sql {
        let mut s = Sql::new(column);
        match self {
            Ids::One(id) => {
                s.push(" = ").bind(*id);
            }
            Ids::Many(json) => {
                let mut list = Sql::new("");
                list.bind(json.clone());
                s.push(" IN (").push(&d.id_list(&list.text)).push(")");
                s.params.extend(list.params);
            }
        }
        s
    }
}

/// The condition (on table alias `p`) that a principal is visible in `scope`; see [`idplane_core::store`].
///
/// Every form starts with `account_id = ? AND home_workspace ...` so that the `(account_id, home_workspace, kind,
/// ...)` indexes serve it. A federated workspace reads both homes it can see with `IN (0, ?)`, then keeps the
/// account principals assigned to it directly or through a group: an upward walk of memberships per row, O(depth).
pub(crate) fn visible(scope: &Scope) -> Sql {
    let mut s = homes(scope);
    if let Scope::Workspace { workspace_id, federated: true, .. } = scope {
        let w = *workspace_id;
        s.push(" AND (p.home_workspace = ").bind(w);
        s.push(
            " OR EXISTS (WITH RECURSIVE up (id) AS (SELECT p.id \
             UNION SELECT m.group_id FROM memberships m JOIN up ON m.member_id = up.id) \
             SELECT 1 FROM up JOIN assignments a ON a.principal_id = up.id AND a.workspace_id = ",
        );
        s.bind(w).push("))");
    }
    s
}

/// The homes a scope reads principals from: `account_id = ? AND home_workspace ...`, the prefix of the indexes.
fn homes(scope: &Scope) -> Sql {
    let mut s = Sql::new("p.account_id = ");
    s.bind(scope.account_id());
    match scope {
        Scope::Account { .. } => {
            s.push(" AND p.home_workspace = 0");
        }
        Scope::Workspace { workspace_id, federated: false, .. } => {
            s.push(" AND p.home_workspace = ").bind(*workspace_id);
        }
        Scope::Workspace { workspace_id, federated: true, .. } => {
            s.push(" AND p.home_workspace IN (0, ").bind(*workspace_id).push(")");
        }
    }
    s
}

/// The rows of `kind` a scan of `scope` examines (visibility aside): the index prefix every listing reads.
fn scanned(scope: &Scope, kind: PrincipalKind) -> Sql {
    let mut s = homes(scope);
    s.push(" AND p.kind = ").bind(kind.code());
    s
}

/// The principal `id` if visible in `scope`, optionally of one kind.
pub(crate) fn select_principal(scope: &Scope, kind: Option<PrincipalKind>, id: i64) -> Sql {
    let mut s = Sql::new("SELECT ");
    s.push(PRINCIPAL_COLUMNS).push(" FROM principals p WHERE p.id = ").bind(id);
    s.push(" AND ").append(visible(scope));
    if let Some(kind) = kind {
        s.push(" AND p.kind = ").bind(kind.code());
    }
    s
}

/// The principals among `ids` that are visible in `scope`.
pub(crate) fn select_principals(d: Dialect, scope: &Scope, ids: &Ids) -> Sql {
    let mut s = Sql::new("SELECT ");
    s.push(PRINCIPAL_COLUMNS).push(" FROM principals p WHERE ").append(ids.condition(d, "p.id"));
    s.push(" AND ").append(visible(scope));
    s
}

/// The groups visible in `scope` that the principals `ids` belong to, directly or through nested groups: rows of
/// (principal id, group id, group display, direct), in principal then group id order. `UNION` (not `UNION ALL`)
/// makes the recursion stop on cycles: each (principal, group, direct) triple is produced once. The walk goes
/// through every group, visible or not, since membership is transitive whoever may see the middle group. The groups
/// are reduced to one row each before the join with `principals`: joined directly, SQLite (which cannot estimate the
/// size of a recursive result) may build a Bloom filter over every principal of the scope.
pub(crate) fn select_groups_of(d: Dialect, scope: &Scope, ids: &Ids) -> Sql {
    let mut s = Sql::new(
        "WITH RECURSIVE g (origin, id, direct) AS (SELECT m.member_id, m.group_id, 1 FROM memberships m WHERE ",
    );
    s.append(ids.condition(d, "m.member_id"));
    s.push(
        " UNION SELECT g.origin, m.group_id, 0 FROM memberships m JOIN g ON m.member_id = g.id), \
         d (origin, id, direct) AS (SELECT origin, id, MAX(direct) FROM g GROUP BY origin, id) \
         SELECT d.origin, p.id, ",
    );
    s.push(DISPLAY);
    s.push(", d.direct FROM d JOIN principals p ON p.id = d.id WHERE p.id <> d.origin AND ");
    s.append(visible(scope));
    s.push(" ORDER BY d.origin, p.id");
    s
}

/// The direct members of the groups `ids`, with their kind and display: rows of (group id, member id, kind, display,
/// given `$ref`, given display), in group then member id order (the primary key's order).
pub(crate) fn select_members_of(d: Dialect, ids: &Ids) -> Sql {
    let mut s = Sql::new("SELECT m.group_id, p.id, p.kind, ");
    s.push(DISPLAY).push(", m.ref, m.display FROM memberships m JOIN principals p ON p.id = m.member_id WHERE ");
    s.append(ids.condition(d, "m.group_id"));
    s.push(" ORDER BY m.group_id, m.member_id");
    s
}

/// The values in one workspace of the principals `ids`: rows of (principal id, attribute, value), ordered.
pub(crate) fn select_values_of(d: Dialect, workspace_id: i64, ids: &Ids) -> Sql {
    let mut s = Sql::new("SELECT principal_id, attribute, value FROM workspace_values WHERE workspace_id = ");
    s.bind(workspace_id).push(" AND ").append(ids.condition(d, "principal_id"));
    s.push(" ORDER BY principal_id, attribute, value");
    s
}

// ---- listing ----

/// The statements that answer a listing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListPlan {
    /// When the plan examines the rows of the scope without an index: counts them, up to `max_scan + 1`, so that a
    /// scope too large is refused before the scan.
    pub scan_check: Option<Sql>,
    pub read: ListRead,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListRead {
    /// The filter and sort translated entirely: count every match (`count_cacheable` when it is the count of the
    /// whole scope, which a recent cached count may answer), then read the page.
    Page { count: Sql, count_cacheable: bool, items: Sql },
    /// Part of the filter or the sort did not translate: read a superset of the matches in id order, at most
    /// `max_candidates + 1` of them.
    Candidates(Sql),
}

/// Builds the statements for `list_principals`.
pub(crate) fn plan(d: Dialect, scope: &Scope, kind: PrincipalKind, spec: &ListSpec<'_>) -> ListPlan {
    let condition = match spec.filter {
        None => Translation::Exact(Cond { sql: Sql::always(), indexed: true }),
        Some(f) => Translator::new(d, kind).translate(f, false),
    };
    let mut base = Sql::new(" FROM principals p WHERE ");
    base.append(visible(scope)).push(" AND p.kind = ").bind(kind.code());
    let order = match spec.sort {
        None => Some("p.id".to_string()),
        Some(sort) => order_by(kind, &sort),
    };
    let indexed = match &condition {
        Translation::Exact(c) | Translation::Superset(c) => c.indexed,
        Translation::Any => false,
    };
    // A sort other than by id sorts every match: fine for the few matches of an indexed filter, a scan otherwise.
    let scans = !indexed || (spec.sort.is_some() && spec.filter.is_none());
    let scan_check = scans.then(|| {
        let mut s = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM principals p WHERE ");
        s.append(scanned(scope, kind)).push(" LIMIT ").bind(clamp(spec.max_scan.saturating_add(1))).push(") AS s");
        s
    });
    let read = match (condition, order) {
        (Translation::Exact(cond), Some(order)) => {
            let count_cacheable = spec.filter.is_none() && spec.total == Total::Recent;
            base.push(" AND ").append(cond.sql);
            let mut count = Sql::new("SELECT COUNT(*)");
            count.append(base.clone());
            let mut items = Sql::new("SELECT ");
            items.push(PRINCIPAL_COLUMNS).append(base);
            if let (None, Some(after)) = (spec.sort, spec.after_id) {
                items.push(" AND p.id > ").bind(after);
            }
            items.push(" ORDER BY ").push(&order);
            items.push(" LIMIT ").bind(clamp(spec.limit));
            items.push(" OFFSET ").bind(clamp(spec.offset));
            ListRead::Page { count, count_cacheable, items }
        }
        (condition, _) => {
            if let Translation::Exact(cond) | Translation::Superset(cond) = condition {
                base.push(" AND ").append(cond.sql);
            }
            let mut items = Sql::new("SELECT ");
            items.push(PRINCIPAL_COLUMNS).append(base).push(" ORDER BY p.id LIMIT ");
            items.bind(clamp(spec.max_candidates.saturating_add(1)));
            ListRead::Candidates(items)
        }
    };
    ListPlan { scan_check, read }
}

fn clamp(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `ORDER BY` for a sort on a column the table has, ids breaking ties; `None` for any other attribute. Absent
/// values sort last ascending and first descending (RFC 7644 §3.4.2.3), whatever the dialect's default for NULL.
fn order_by(kind: PrincipalKind, sort: &Sort<'_>) -> Option<String> {
    let dir = if sort.descending { " DESC" } else { "" };
    let (column, nullable) = match resolve(kind, sort.by)? {
        Target::Id => return Some(format!("p.id{dir}")),
        // Instants the client sees as equal tie, and fall back to id order like any other tie.
        Target::Time(column) => return Some(format!("{column} / {TIMESTAMP_PRECISION}{dir}, p.id")),
        Target::Text { column, .. } => (column, true),
        Target::Active => ("p.active", true),
        Target::MemberValue | Target::Members | Target::Email | Target::Json { .. } => return None,
    };
    Some(if nullable {
        format!("CASE WHEN {column} IS NULL THEN 1 ELSE 0 END{dir}, {column}{dir}, p.id")
    } else {
        format!("{column}{dir}, p.id")
    })
}

// ---- filters ----

/// What an attribute path of a filter stands for in the `principals` table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// `id`: an integer column; filters compare it with the decimal string form.
    Id,
    /// A text column. `lowercase`: the attribute is case-insensitive and the column holds the Unicode lowercase, so
    /// the comparison value is lowercased in Rust (SQL's `lower()` only folds ASCII in SQLite). `key`: a lowercase
    /// indexed column whose equality narrows a case-exact comparison to an index lookup. `indexed`: the column leads
    /// an index after the scope's prefix.
    Text {
        column: &'static str,
        lowercase: bool,
        key: Option<&'static str>,
        indexed: bool,
    },
    Active,
    /// `meta.created` or `meta.lastModified`: unix nanoseconds, compared at [`TIMESTAMP_PRECISION`].
    Time(&'static str),
    /// `members.value` of a group.
    MemberValue,
    /// `members` itself, for `pr` and value paths.
    Members,
    /// `emails.value` (or `emails` compared as a whole): the `principal_emails` index of case-folded addresses.
    Email,
    /// A single-valued string or boolean attribute inside the document, at a path of object keys.
    Json {
        path: [&'static str; 3],
        len: usize,
        kind: JsonKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum JsonKind {
    Text { case_exact: bool },
    Bool,
}

/// Resolves a filter's attribute path to a column, through the resource type's schema (so names match
/// case-insensitively and may carry the schema URN). Anything without a column or a JSON path: None.
fn resolve(kind: PrincipalKind, path: &AttrPath) -> Option<Target> {
    let rt = resource_types::of(kind);
    let resolved = rt.resolve(path.urn.as_deref(), &path.name)?;
    let attr = resolved.attribute;
    let sub = path.sub.as_deref();
    let is = |want: &str| sub.is_some_and(|s| s.eq_ignore_ascii_case(want));
    if !std::ptr::eq(resolved.schema, rt.schema) {
        // An extension attribute: only the enterprise extension's live in the document under its URN.
        if resolved.schema.id != URN_ENTERPRISE_USER {
            return None;
        }
        return json_target([URN_ENTERPRISE_USER, attr.name, ""], 2, attr, sub);
    }
    let target = match (attr.name, sub) {
        ("id", None) => Target::Id,
        ("meta", Some(_)) if is("created") => Target::Time("p.created"),
        ("meta", Some(_)) if is("lastModified") => Target::Time("p.last_modified"),
        ("members", None) if kind == PrincipalKind::Group => Target::Members,
        ("members", Some(_)) if kind == PrincipalKind::Group && is("value") => Target::MemberValue,
        ("emails", None) if kind == PrincipalKind::User => Target::Email,
        ("emails", Some(_)) if kind == PrincipalKind::User && is("value") => Target::Email,
        (name, None) if name == kind.unique_attribute() => {
            if attr.case_exact {
                Target::Text { column: "p.unique_value", lowercase: false, key: Some("p.unique_key"), indexed: true }
            } else {
                Target::Text { column: "p.unique_key", lowercase: true, key: None, indexed: true }
            }
        }
        ("externalId", None) if attr.case_exact => {
            Target::Text { column: "p.external_id", lowercase: false, key: None, indexed: true }
        }
        ("displayName", None) => {
            if attr.case_exact {
                Target::Text { column: "p.display_name", lowercase: false, key: None, indexed: false }
            } else {
                Target::Text { column: "p.display_key", lowercase: true, key: None, indexed: true }
            }
        }
        ("active", None) if attr.kind == AttributeType::Boolean => Target::Active,
        (_, _) => return json_target([attr.name, "", ""], 1, attr, sub),
    };
    Some(target)
}

/// A path into the document for a single-valued string or boolean attribute (or a sub-attribute of a single-valued
/// complex one); None for anything else (multi-valued, references, numbers, dates, computed attributes).
fn json_target(
    mut path: [&'static str; 3],
    mut len: usize,
    attr: &'static idplane_scim::schema::Attribute,
    sub: Option<&str>,
) -> Option<Target> {
    if attr.multi_valued || matches!(attr.name, "groups" | "meta" | "members" | "entitlements" | "roles") {
        return None;
    }
    let leaf = match (attr.kind, sub) {
        (AttributeType::Complex, Some(sub)) => {
            let s = attr.sub_attributes.iter().find(|s| s.name.eq_ignore_ascii_case(sub))?;
            path[len] = s.name;
            len += 1;
            s
        }
        (AttributeType::Complex, None) | (_, Some(_)) => return None,
        (_, None) => attr,
    };
    let kind = match leaf.kind {
        AttributeType::String => JsonKind::Text { case_exact: leaf.case_exact },
        AttributeType::Boolean => JsonKind::Bool,
        _ => return None,
    };
    Some(Target::Json { path, len, kind })
}

/// A translated condition, and whether an index narrows it (so that its cost is O(matches), not a scan).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cond {
    pub sql: Sql,
    pub indexed: bool,
}

/// The SQL for a filter, or for part of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Translation {
    /// Selects exactly the matching rows.
    Exact(Cond),
    /// Selects every matching row and maybe others.
    Superset(Cond),
    /// Nothing translated: no constraint.
    Any,
}

impl Translation {
    fn and(a: Translation, b: Translation) -> Translation {
        use Translation::*;
        let join = |a: Cond, b: Cond| Cond { indexed: a.indexed || b.indexed, sql: Sql::join(a.sql, " AND ", b.sql) };
        match (a, b) {
            (Exact(a), Exact(b)) => Exact(join(a, b)),
            (Any, Any) => Any,
            (Any, Exact(s) | Superset(s)) | (Exact(s) | Superset(s), Any) => Superset(s),
            (Exact(a) | Superset(a), Exact(b) | Superset(b)) => Superset(join(a, b)),
        }
    }

    fn or(a: Translation, b: Translation) -> Translation {
        use Translation::*;
        let join = |a: Cond, b: Cond| Cond { indexed: a.indexed && b.indexed, sql: Sql::join(a.sql, " OR ", b.sql) };
        match (a, b) {
            (Any, _) | (_, Any) => Any,
            (Exact(a), Exact(b)) => Exact(join(a, b)),
            (Exact(a) | Superset(a), Exact(b) | Superset(b)) => Superset(join(a, b)),
        }
    }
}

/// A translated comparison, presence test or value path. `nullable` names the column (or expression) that may be
/// NULL (absent attribute), which the negation must treat as "does not match", i.e. negated true. `exact`: false
/// when the SQL selects a superset of the matches (the rest is checked in memory), which cannot be negated.
struct Atom {
    sql: Sql,
    nullable: Option<String>,
    indexed: bool,
    exact: bool,
}

impl Atom {
    fn exact(sql: Sql, nullable: Option<String>, indexed: bool) -> Atom {
        Atom { sql, nullable, indexed, exact: true }
    }
}

/// Translates filters on one kind of principal.
///
/// Negation is pushed down to the comparisons (De Morgan), so that positive comparisons keep their index-friendly
/// form and SQL's three-valued logic never leaks: a comparison on an absent attribute is false, its negation true,
/// as in the in-memory evaluator. `ne` is the negation of `eq`.
pub(crate) struct Translator {
    dialect: Dialect,
    kind: PrincipalKind,
}

impl Translator {
    pub fn new(dialect: Dialect, kind: PrincipalKind) -> Self {
        Translator { dialect, kind }
    }

    /// The translation of `filter`, or of `not (filter)` when `negate`.
    pub fn translate(&self, filter: &Filter, negate: bool) -> Translation {
        match filter {
            Filter::Not(inner) => self.translate(inner, !negate),
            Filter::And(a, b) | Filter::Or(a, b) => {
                let (ta, tb) = (self.translate(a, negate), self.translate(b, negate));
                if matches!(filter, Filter::And(..)) != negate {
                    Translation::and(ta, tb)
                } else {
                    Translation::or(ta, tb)
                }
            }
            Filter::Compare(path, CompareOp::Ne, value) => {
                self.translate(&Filter::Compare(path.clone(), CompareOp::Eq, value.clone()), !negate)
            }
            _ => match self.atom(filter) {
                None => Translation::Any,
                // A superset cannot be negated: its complement would leave matches out.
                Some(Atom { exact: false, .. }) if negate => Translation::Any,
                Some(Atom { sql, indexed, exact: false, .. }) => Translation::Superset(Cond { sql, indexed }),
                Some(Atom { sql, nullable, .. }) if negate => {
                    let sql = match nullable {
                        Some(column) => {
                            let mut s = Sql::new("(");
                            s.push(&column).push(" IS NULL OR ").append(sql.negated()).push(")");
                            s
                        }
                        None => sql.negated(),
                    };
                    Translation::Exact(Cond { sql, indexed: false })
                }
                Some(Atom { sql, indexed, .. }) => Translation::Exact(Cond { sql, indexed }),
            },
        }
    }

    /// A comparison, presence test or value path, translated positively; None when it does not translate.
    fn atom(&self, filter: &Filter) -> Option<Atom> {
        match filter {
            Filter::Present(path) => self.present(resolve(self.kind, path)?),
            Filter::Compare(path, op, value) => self.compare(resolve(self.kind, path)?, *op, value),
            Filter::ValuePath(path, inner) => match resolve(self.kind, path)? {
                Target::Members => Some(Atom::exact(member_values(inner)?, None, true)),
                // Some address equals (or starts with) the value: a superset of `emails[type eq "work" and value eq
                // "x"]`, whose other conditions the evaluator checks on the few candidates.
                Target::Email => {
                    let mut atom = self.email(email_value(inner)?)?;
                    atom.exact = false;
                    Some(atom)
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn present(&self, target: Target) -> Option<Atom> {
        Some(match target {
            Target::Id | Target::Time(_) => Atom::exact(Sql::always(), None, false),
            Target::Text { column, .. } => {
                let mut s = Sql::new("(");
                s.push(column).push(" IS NOT NULL AND ").push(column).push(" <> '')");
                Atom::exact(s, None, false)
            }
            Target::Active => Atom::exact(Sql::new("p.active IS NOT NULL"), None, false),
            Target::Members | Target::MemberValue => {
                Atom::exact(Sql::new("EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = p.id)"), None, false)
            }
            // An element without an address is present too, and has no row in the index: left to the evaluator.
            Target::Email => return None,
            Target::Json { path, len, kind } => {
                let expr = self.json(path, len, kind);
                let mut s = Sql::new("(");
                match kind {
                    JsonKind::Text { .. } => s.push(&expr).push(" IS NOT NULL AND ").push(&expr).push(" <> '')"),
                    JsonKind::Bool => s.push(&expr).push(" IS NOT NULL)"),
                };
                Atom::exact(s, None, false)
            }
        })
    }

    fn json(&self, path: [&'static str; 3], len: usize, kind: JsonKind) -> String {
        match kind {
            JsonKind::Text { .. } => self.dialect.json_text("p.doc", &path[..len]),
            JsonKind::Bool => self.dialect.json_bool("p.doc", &path[..len]),
        }
    }

    /// Operands are converted as the in-memory evaluator converts them (a number compared with a string attribute is
    /// its decimal text; `"true"` compared with a boolean is true), so that both agree on every filter.
    fn compare(&self, target: Target, op: CompareOp, value: &CompValue) -> Option<Atom> {
        match target {
            Target::Id => match (op, text_operand(value)?) {
                (CompareOp::Eq, v) => Some(Atom::exact(id_equals("p.id = ", &v), None, true)),
                _ => None,
            },
            // `members eq "x"` compares the members' `value`, as for any complex attribute.
            Target::MemberValue | Target::Members => match (op, text_operand(value)?) {
                (CompareOp::Eq, v) => Some(Atom::exact(member_value_eq(&v), None, true)),
                _ => None,
            },
            Target::Email => match (op, text_operand(value)?) {
                (CompareOp::Eq | CompareOp::Sw, v) => self.email((op, v)),
                _ => None,
            },
            Target::Active => {
                let b = bool_operand(value)?;
                if op != CompareOp::Eq {
                    return None;
                }
                let mut s = Sql::new("p.active = ");
                s.bind(b);
                Some(Atom::exact(s, Some("p.active".into()), false))
            }
            Target::Time(column) => {
                let CompValue::String(v) = value else { return None };
                let nanos = i64::try_from(parse_date_time(v)?.unix_timestamp_nanos()).ok()?;
                Some(Atom::exact(time_range(column, op, nanos)?, None, false))
            }
            Target::Text { column, lowercase, key, indexed } => {
                let v = text_operand(value)?;
                let v = if lowercase { fold_case(&v) } else { v };
                let sql = self.text(column, key, op, v)?;
                let indexed = indexed && matches!(op, CompareOp::Eq | CompareOp::Sw);
                Some(Atom::exact(sql, Some(column.into()), indexed))
            }
            Target::Json { path, len, kind: kind @ JsonKind::Bool } => {
                let b = bool_operand(value)?;
                if op != CompareOp::Eq {
                    return None;
                }
                let expr = self.json(path, len, kind);
                let mut s = Sql::new(&expr);
                s.push(" = ").bind(b);
                Some(Atom::exact(s, Some(expr), false))
            }
            Target::Json { path, len, kind: kind @ JsonKind::Text { case_exact: true } } => {
                let expr = self.json(path, len, kind);
                let sql = self.text_expr(&expr, op, text_operand(value)?)?;
                Some(Atom::exact(sql, Some(expr), false))
            }
            Target::Json { path, len, kind: kind @ JsonKind::Text { case_exact: false } } => {
                // Case-insensitive: SQL narrows by ASCII case folding, which agrees with the evaluator's Unicode
                // folding on ASCII text; values with other characters are passed on to the evaluator.
                let v = text_operand(value)?;
                if !v.is_ascii() || !matches!(op, CompareOp::Eq | CompareOp::Sw | CompareOp::Ew | CompareOp::Co) {
                    return None;
                }
                let expr = self.json(path, len, kind);
                let lowered = self.dialect.ascii_lower(&expr);
                let mut s = Sql::new("(");
                s.append(self.text_expr(&lowered, op, v.to_ascii_lowercase())?);
                s.push(" OR ").push(&self.dialect.non_ascii(&expr)).push(")");
                Some(Atom { sql: s, nullable: Some(expr), indexed: false, exact: false })
            }
        }
    }

    /// Principals with an address equal to (or starting with) the operand, case-insensitively: a probe of the
    /// `principal_emails` index.
    fn email(&self, (op, v): (CompareOp, String)) -> Option<Atom> {
        let key = fold_case(&v);
        let mut s = Sql::new("p.id IN (SELECT e.principal_id FROM principal_emails e WHERE ");
        match op {
            CompareOp::Eq => {
                s.push("e.value_key = ").bind(key);
            }
            CompareOp::Sw => {
                s.push("e.value_key >= ").bind(key.clone());
                if let Some(hi) = prefix_successor(&key) {
                    s.push(" AND e.value_key < ").bind(hi);
                }
            }
            _ => return None,
        }
        s.push(")");
        Some(Atom::exact(s, None, true))
    }

    fn text(&self, column: &'static str, key: Option<&'static str>, op: CompareOp, v: String) -> Option<Sql> {
        match (op, key) {
            (CompareOp::Eq, Some(key)) => {
                let mut s = Sql::new("(");
                s.push(key).push(" = ").bind(fold_case(&v)).push(" AND ");
                s.push(column).push(" = ").bind(v).push(")");
                Some(s)
            }
            _ => self.text_expr(column, op, v),
        }
    }

    /// `expr op v` on text, byte-wise.
    fn text_expr(&self, expr: &str, op: CompareOp, v: String) -> Option<Sql> {
        let mut s = Sql::new("");
        match op {
            CompareOp::Eq => {
                s.push(expr).push(" = ").bind(v);
            }
            // A prefix is a range in code point order, which an index can serve.
            CompareOp::Sw => {
                s.push("(").push(expr).push(" >= ").bind(v.clone());
                match prefix_successor(&v) {
                    Some(hi) => s.push(" AND ").push(expr).push(" < ").bind(hi).push(")"),
                    None => s.push(")"),
                };
            }
            // A shorter value yields a shorter substring, which cannot equal `v`: no length check needed.
            CompareOp::Ew => {
                let n = i64::try_from(v.chars().count()).ok()?;
                // The cast: `length(...) - ?` is a BIGINT in PostgreSQL, whose `substr` takes an INTEGER.
                s.push("substr(").push(expr).push(", CAST(length(").push(expr).push(") - ").bind(n);
                s.push(" + 1 AS INTEGER)) = ").bind(v);
            }
            CompareOp::Co => {
                let mut needle = Sql::new("");
                needle.bind(v);
                s.push(&self.dialect.contains(expr, &needle.text));
                s.params.extend(needle.params);
            }
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                s.push(expr).push(ordering_symbol(op)?).bind(v);
            }
            CompareOp::Ne => return None,
        }
        Some(s)
    }
}

/// The `value eq`/`value sw` comparison inside an `emails[...]` value path (alone, or in a conjunction with
/// conditions on other sub-attributes), which narrows the addresses through the index.
fn email_value(filter: &Filter) -> Option<(CompareOp, String)> {
    match filter {
        Filter::Compare(path, op @ (CompareOp::Eq | CompareOp::Sw), value)
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some((*op, text_operand(value)?))
        }
        Filter::And(a, b) => email_value(a).or_else(|| email_value(b)),
        _ => None,
    }
}

/// The precision, in nanoseconds, at which clients see `meta.created` and `meta.lastModified` (milliseconds, as
/// `idplane_core::identities::timestamp` renders them). Filters and sorts compare what clients see: a stored
/// instant `n` stands for `t = n - n mod P`.
pub(crate) const TIMESTAMP_PRECISION: i64 = 1_000_000;

/// `t op v` on the shown instant `t`, as a range of the stored nanoseconds (so an index on the column could serve
/// it); None for operators that do not apply to instants.
fn time_range(column: &str, op: CompareOp, v: i64) -> Option<Sql> {
    const P: i64 = TIMESTAMP_PRECISION;
    // The least shown instant >= v, and the least > v.
    let floor = v.div_euclid(P) * P;
    let ceil = if floor == v { v } else { floor.checked_add(P)? };
    let above = floor.checked_add(P)?;
    let mut s = Sql::new(column);
    match op {
        CompareOp::Eq if floor != v => return Some(Sql::never()),
        CompareOp::Eq => {
            s.push(" >= ").bind(v).push(" AND ").push(column).push(" < ").bind(above);
            let mut grouped = Sql::new("(");
            grouped.append(s).push(")");
            return Some(grouped);
        }
        CompareOp::Gt => s.push(" >= ").bind(above),
        CompareOp::Ge => s.push(" >= ").bind(ceil),
        CompareOp::Lt => s.push(" < ").bind(ceil),
        CompareOp::Le => s.push(" < ").bind(above),
        _ => return None,
    };
    Some(s)
}

/// A comparison operand as text, the way the evaluator reads it for a string attribute; None for `null`.
fn text_operand(value: &CompValue) -> Option<String> {
    match value {
        CompValue::String(s) => Some(s.clone()),
        CompValue::Number(n) => Some(n.to_string()),
        CompValue::Bool(b) => Some(b.to_string()),
        CompValue::Null => None,
    }
}

/// A comparison operand as a boolean, the way the evaluator reads it for a boolean attribute.
fn bool_operand(value: &CompValue) -> Option<bool> {
    match value {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        CompValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// RFC 3339, or an `xsd:dateTime` without offset read as UTC (RFC 7643 §2.3.5), as the evaluator reads them.
fn parse_date_time(s: &str) -> Option<OffsetDateTime> {
    const LOCAL: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .or_else(|| time::PrimitiveDateTime::parse(s, LOCAL).ok().map(time::PrimitiveDateTime::assume_utc))
}

fn ordering_symbol(op: CompareOp) -> Option<&'static str> {
    Some(match op {
        CompareOp::Eq => " = ",
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        _ => return None,
    })
}

/// Ids are compared as the strings SCIM shows: only the canonical decimal form of an id equals it.
fn canonical_id(v: &str) -> Option<i64> {
    v.parse::<i64>().ok().filter(|n| n.to_string() == v)
}

fn id_equals(prefix: &str, v: &str) -> Sql {
    match canonical_id(v) {
        Some(n) => {
            let mut s = Sql::new(prefix);
            s.bind(n);
            s
        }
        None => Sql::never(),
    }
}

/// Groups having member `v`: a probe of the `(member_id, group_id)` index.
fn member_value_eq(v: &str) -> Sql {
    match canonical_id(v) {
        Some(n) => {
            let mut s = Sql::new("p.id IN (SELECT m.group_id FROM memberships m WHERE m.member_id = ");
            s.bind(n).push(")");
            s
        }
        None => Sql::never(),
    }
}

/// The filter of a `members[...]` value path: disjunctions of `value eq "..."` translate (some member is one of
/// them); anything else (a conjunction about one element, `type`, `display`) does not.
fn member_values(filter: &Filter) -> Option<Sql> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, CompValue::String(v))
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(member_value_eq(v))
        }
        Filter::Or(a, b) => Some(Sql::join(member_values(a)?, " OR ", member_values(b)?)),
        _ => None,
    }
}

/// The least string greater than every string that starts with `prefix`, in code point order; None when there is
/// none (an empty prefix, or one made only of U+10FFFF).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::Param;

    fn path(name: &str) -> AttrPath {
        AttrPath { urn: None, name: name.into(), sub: None }
    }

    fn eq(name: &str, v: &str) -> Filter {
        Filter::Compare(path(name), CompareOp::Eq, CompValue::String(v.into()))
    }

    fn tr(kind: PrincipalKind, f: &Filter) -> Translation {
        Translator::new(Dialect::Sqlite, kind).translate(f, false)
    }

    fn exact(kind: PrincipalKind, f: &Filter) -> anyhow::Result<Cond> {
        match tr(kind, f) {
            Translation::Exact(s) => Ok(s),
            other => anyhow::bail!("not exact: {other:?}"),
        }
    }

    #[test]
    fn prefix_successors() {
        assert_eq!(prefix_successor("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
    }

    #[test]
    fn unique_attribute_compares_the_lowercase_key() -> anyhow::Result<()> {
        let c = exact(PrincipalKind::User, &eq("USERNAME", "Alice@X.com"))?;
        assert_eq!(c.sql.text, "p.unique_key = ?");
        assert_eq!(c.sql.params, vec![Param::Text("alice@x.com".into())]);
        assert!(c.indexed);
        Ok(())
    }

    #[test]
    fn case_exact_unique_attribute_narrows_through_the_key() -> anyhow::Result<()> {
        let c = exact(PrincipalKind::ServicePrincipal, &eq("applicationId", "AbC"))?;
        assert_eq!(c.sql.text, "(p.unique_key = ? AND p.unique_value = ?)");
        assert_eq!(c.sql.params, vec![Param::Text("abc".into()), Param::Text("AbC".into())]);
        Ok(())
    }

    #[test]
    fn negation_treats_absent_as_not_matching() -> anyhow::Result<()> {
        let f = Filter::Not(Box::new(eq("externalId", "x")));
        let c = exact(PrincipalKind::User, &f)?;
        assert_eq!(c.sql.text, "(p.external_id IS NULL OR NOT (p.external_id = ?))");
        assert!(!c.indexed, "a negation is no index lookup");
        let ne = Filter::Compare(path("externalId"), CompareOp::Ne, CompValue::String("x".into()));
        assert_eq!(tr(PrincipalKind::User, &ne), tr(PrincipalKind::User, &f));
        Ok(())
    }

    #[test]
    fn partial_conjunctions_are_supersets() {
        // `x509Certificates` has no column and no JSON path (multi-valued): evaluated in memory.
        let certs = eq("x509Certificates", "a");
        let f = Filter::And(Box::new(eq("userName", "a")), Box::new(certs.clone()));
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Superset(Cond { indexed: true, .. })));
        let f = Filter::Or(Box::new(eq("userName", "a")), Box::new(certs.clone()));
        assert_eq!(tr(PrincipalKind::User, &f), Translation::Any);
        // not (a and certs) = not a or not certs: nothing to narrow by.
        let f = Filter::Not(Box::new(Filter::And(Box::new(eq("userName", "a")), Box::new(certs.clone()))));
        assert_eq!(tr(PrincipalKind::User, &f), Translation::Any);
        // not (a or certs) = not a and not certs: narrowed by not a.
        let f = Filter::Not(Box::new(Filter::Or(Box::new(eq("userName", "a")), Box::new(certs))));
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Superset(Cond { indexed: false, .. })));
    }

    #[test]
    fn emails_are_an_index_probe() -> anyhow::Result<()> {
        let c = exact(PrincipalKind::User, &Filter::parse("emails.value eq \"Jane@Example.COM\"")?)?;
        assert!(c.indexed);
        assert_eq!(c.sql.params, vec![Param::Text("jane@example.com".into())]);
        // Entra's `emails[type eq "work"].value eq "x"`: the index narrows, the evaluator checks the type.
        let f = Filter::parse("emails[type eq \"work\"].value eq \"Jane@Example.com\"")?;
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Superset(Cond { indexed: true, .. })));
        Ok(())
    }

    #[test]
    fn single_valued_attributes_translate_to_json() -> anyhow::Result<()> {
        // A case-exact string compares exactly; a case-insensitive one narrows by ASCII folding.
        let f = Filter::parse("name.familyName eq \"Doe\"")?;
        match tr(PrincipalKind::User, &f) {
            Translation::Superset(c) => {
                assert!(!c.indexed);
                assert!(c.sql.text.contains("lower("), "{}", c.sql.text);
            }
            other => anyhow::bail!("{other:?}"),
        }
        let f = Filter::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"R&D\"")?;
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Superset(_)));
        // Non-ASCII operands are left to the evaluator.
        assert_eq!(tr(PrincipalKind::User, &Filter::parse("title eq \"Ärztin\"")?), Translation::Any);
        Ok(())
    }

    #[test]
    fn attributes_resolve_through_the_schema() {
        let urn = AttrPath {
            urn: Some("URN:ietf:params:scim:schemas:core:2.0:User".into()),
            name: "username".into(),
            sub: None,
        };
        let f = Filter::Compare(urn, CompareOp::Eq, CompValue::String("a".into()));
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Exact(_)));
        // Groups have no `active`; users have no `members`.
        assert_eq!(tr(PrincipalKind::Group, &Filter::Present(path("active"))), Translation::Any);
        let members = AttrPath { urn: None, name: "members".into(), sub: Some("value".into()) };
        let f = Filter::Compare(members, CompareOp::Eq, CompValue::String("1".into()));
        assert_eq!(tr(PrincipalKind::User, &f), Translation::Any);
    }

    #[test]
    fn ids_compare_as_canonical_strings() -> anyhow::Result<()> {
        assert_eq!(exact(PrincipalKind::User, &eq("id", "0012"))?.sql.text, "1 = 0");
        assert_eq!(exact(PrincipalKind::User, &eq("id", "12"))?.sql.params, vec![Param::Int(12)]);
        Ok(())
    }
}
