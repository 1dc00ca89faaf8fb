//! The SQL every backend can share: statement texts, the visibility predicate of a scope, and the translation of SCIM
//! filters and sorts into `WHERE` and `ORDER BY` clauses over the `principals` table.
//!
//! Statements use `?` placeholders and bind every value (nothing from a request is ever spliced into SQL text), so a
//! backend whose driver wants `$1, $2, ...` renumbers them. The few expressions the dialects spell differently go
//! through [`Dialect`]. Text comparisons assume byte-wise (code point) order, which is SQLite's default `BINARY`
//! collation; a PostgreSQL schema declares its key columns `COLLATE "C"` to match.

use idplane_core::audit::AuditQuery;
use idplane_core::principal::PrincipalKind;
use idplane_core::resource_types;
use idplane_core::store::{ListSpec, Sort, TokenFilter};
use idplane_core::tenancy::Scope;
use idplane_scim::filter::fold_case;
use idplane_scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use idplane_scim::schema::AttributeType;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The expressions whose spelling differs between SQL dialects.
pub(crate) trait Dialect {
    /// True when the text `needle` occurs in the text `haystack` (both SQL expressions).
    fn contains(haystack: &str, needle: &str) -> String;
}

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A fragment of SQL with the values of its placeholders, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_string(), params: Vec::new() }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: Param) -> &mut Self {
        self.text.push('?');
        self.params.push(value);
        self
    }

    pub fn append(&mut self, other: Sql) -> &mut Self {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
        self
    }

    fn join(a: Sql, op: &str, b: Sql) -> Sql {
        let mut s = Sql::new("(");
        s.append(a).push(op).append(b).push(")");
        s
    }

    fn negated(self) -> Sql {
        let mut s = Sql::new("NOT (");
        s.append(self).push(")");
        s
    }

    fn never() -> Sql {
        Sql::new("1 = 0")
    }

    fn always() -> Sql {
        Sql::new("1 = 1")
    }
}

// ---- statements ----

/// The columns [`PRINCIPAL_COLUMNS`] selects, in order; a backend reads rows by these positions.
pub(crate) const PRINCIPAL_COLUMNS: &str =
    "p.id, p.kind, p.account_id, p.home_workspace, p.doc, p.version, p.created, p.last_modified";

pub(crate) const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, created) VALUES (?, ?, ?)";
pub(crate) const SELECT_ACCOUNT: &str = "SELECT id, name, created FROM accounts WHERE id = ?";
pub(crate) const SELECT_ACCOUNTS: &str = "SELECT id, name, created FROM accounts ORDER BY id";

pub(crate) const INSERT_WORKSPACE: &str =
    "INSERT INTO workspaces (id, account_id, name, identity_federation, created) VALUES (?, ?, ?, ?, ?)";
pub(crate) const SELECT_WORKSPACE: &str =
    "SELECT id, account_id, name, identity_federation, created FROM workspaces WHERE id = ?";
pub(crate) const SELECT_WORKSPACES: &str =
    "SELECT id, account_id, name, identity_federation, created FROM workspaces WHERE account_id = ? ORDER BY id";
pub(crate) const WORKSPACE_IN_ACCOUNT: &str = "SELECT 1 FROM workspaces WHERE id = ? AND account_id = ?";

pub(crate) const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = ?";
pub(crate) const INSERT_SETTING_IF_ABSENT: &str =
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING";
pub(crate) const UPSERT_SETTING: &str =
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";

pub(crate) const INSERT_TOKEN: &str = "INSERT INTO tokens \
     (id, hash, account_id, workspace_id, principal_id, comment, created, expires, kind) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// The columns every token query reads, in the order the row mapper expects.
pub(crate) const TOKEN_COLUMNS: &str =
    "id, hash, account_id, workspace_id, principal_id, comment, created, expires, kind";
pub(crate) const SELECT_TOKEN_BY_HASH: &str = "SELECT id, hash, account_id, workspace_id, principal_id, comment, \
     created, expires, kind FROM tokens WHERE hash = ?";
pub(crate) const SELECT_TOKEN_BY_ID: &str = "SELECT id, hash, account_id, workspace_id, principal_id, comment, \
     created, expires, kind FROM tokens WHERE id = ?";
pub(crate) const UPDATE_TOKEN_EXPIRY: &str = "UPDATE tokens SET expires = ? WHERE id = ?";
pub(crate) const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE id = ?";

/// The tokens of an account that pass `filter`, in creation order.
pub(crate) fn select_tokens(account_id: &str, filter: &TokenFilter) -> Sql {
    let mut s = Sql::new("SELECT ");
    s.push(TOKEN_COLUMNS).push(" FROM tokens WHERE account_id = ").bind(Param::Text(account_id.into()));
    if let Some(kind) = filter.kind {
        s.push(" AND kind = ").bind(Param::Text(kind.code().into()));
    }
    match filter.workspace_id {
        None => {}
        Some(None) => {
            s.push(" AND workspace_id IS NULL");
        }
        Some(Some(w)) => {
            s.push(" AND workspace_id = ").bind(Param::Int(w));
        }
    }
    if let Some(p) = filter.principal_id {
        s.push(" AND principal_id = ").bind(Param::Int(p));
    }
    s.push(" ORDER BY created, id");
    s
}

pub(crate) const INSERT_PRINCIPAL: &str = "INSERT INTO principals (id, kind, account_id, home_workspace, \
     unique_value, unique_key, external_id, display_name, display_key, active, doc, version, created, last_modified) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// What an update needs to know before it writes: the kind (for the indexed fields), account and version.
pub(crate) const SELECT_FOR_UPDATE: &str = "SELECT kind, account_id, version FROM principals WHERE id = ?";
pub(crate) const UPDATE_PRINCIPAL_DOC: &str = "UPDATE principals SET unique_value = ?, unique_key = ?, \
     external_id = ?, display_name = ?, display_key = ?, active = ?, doc = ? WHERE id = ?";
pub(crate) const BUMP_VERSION: &str = "UPDATE principals SET version = ?, last_modified = ? WHERE id = ?";
pub(crate) const DELETE_PRINCIPAL: &str = "DELETE FROM principals WHERE id = ?";
pub(crate) const PRINCIPAL_IN_ACCOUNT: &str = "SELECT 1 FROM principals WHERE id = ? AND account_id = ?";

/// Adding a member that already is one is not an error: the primary key absorbs it, and no other member is read.
pub(crate) const INSERT_MEMBERSHIP: &str = "INSERT INTO memberships (group_id, member_id, ref, display) \
     VALUES (?, ?, ?, ?) ON CONFLICT (group_id, member_id) DO UPDATE SET ref = excluded.ref, display = excluded.display";
pub(crate) const DELETE_MEMBERSHIP: &str = "DELETE FROM memberships WHERE group_id = ? AND member_id = ?";
pub(crate) const DELETE_MEMBERSHIPS: &str = "DELETE FROM memberships WHERE group_id = ?";
/// The display of a principal as [`idplane_core::principal::display_of`] computes it, from the indexed columns.
const DISPLAY: &str = "COALESCE(p.display_name, p.unique_value, '')";
/// The direct members of a group with their kind and display, in id order (the primary key's order).
pub(crate) const COUNT_MEMBERS: &str =
    "SELECT count(*) FROM (SELECT 1 FROM memberships WHERE group_id = ? LIMIT ?) AS capped";
pub(crate) const SELECT_MEMBERS: &str = "SELECT p.id, p.kind, COALESCE(p.display_name, p.unique_value, ''), \
     m.ref, m.display FROM memberships m JOIN principals p ON p.id = m.member_id WHERE m.group_id = ? \
     ORDER BY m.member_id";

pub(crate) const INSERT_WORKSPACE_VALUE: &str = "INSERT INTO workspace_values (workspace_id, principal_id, attribute, value) VALUES (?, ?, ?, ?) \
     ON CONFLICT DO NOTHING";
pub(crate) const DELETE_WORKSPACE_VALUE: &str =
    "DELETE FROM workspace_values WHERE workspace_id = ? AND principal_id = ? AND attribute = ? AND value = ?";
pub(crate) const CLEAR_WORKSPACE_VALUES: &str =
    "DELETE FROM workspace_values WHERE workspace_id = ? AND principal_id = ? AND attribute = ?";
pub(crate) const SELECT_WORKSPACE_VALUES: &str = "SELECT attribute, value FROM workspace_values \
     WHERE workspace_id = ? AND principal_id = ? ORDER BY attribute, value";
pub(crate) const DELETE_WORKSPACE_TOKENS: &str = "DELETE FROM tokens WHERE workspace_id = ?";
pub(crate) const DELETE_WORKSPACE_PRINCIPALS: &str = "DELETE FROM principals WHERE home_workspace = ?";
pub(crate) const DELETE_WORKSPACE: &str = "DELETE FROM workspaces WHERE id = ?";
pub(crate) const UPSERT_ASSIGNMENT: &str = "INSERT INTO assignments (workspace_id, principal_id, permissions) \
     VALUES (?, ?, ?) ON CONFLICT (workspace_id, principal_id) DO UPDATE SET permissions = excluded.permissions";
pub(crate) const DELETE_ASSIGNMENT: &str = "DELETE FROM assignments WHERE workspace_id = ? AND principal_id = ?";
/// The permissions a principal holds on a workspace through itself and every group above it. `UNION` ends the walk
/// on cycles.
pub(crate) const SELECT_EFFECTIVE_PERMISSIONS: &str = "WITH RECURSIVE up (id) AS (SELECT ? \
     UNION SELECT m.group_id FROM memberships m JOIN up ON m.member_id = up.id) \
     SELECT a.permissions FROM up JOIN assignments a ON a.principal_id = up.id AND a.workspace_id = ?";

// ---- audit log ----

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (occurred_at, account_id, workspace_id, actor_kind, \
     actor_token_id, actor_principal_id, request_id, resource_type, resource_id, operation, changes) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// The columns every audit query reads, in the order the row mapper expects.
pub(crate) const AUDIT_COLUMNS: &str = "id, occurred_at, account_id, workspace_id, actor_kind, actor_token_id, \
     actor_principal_id, request_id, resource_type, resource_id, operation, changes";
/// One batch of a purge: the oldest entries first, so that an interrupted purge has removed the oldest.
pub(crate) const PURGE_AUDIT: &str = "DELETE FROM audit_log WHERE id IN \
     (SELECT id FROM audit_log WHERE occurred_at < ? ORDER BY occurred_at LIMIT ?)";
/// Entries deleted per purge transaction.
pub(crate) const PURGE_BATCH: i64 = 10_000;

/// The entries matching `q`, newest first: `(occurred_at, id)` descending, which the `(account_id, ..., occurred_at,
/// id)` indexes serve. Times are unix nanoseconds, as stored.
pub(crate) fn select_audit(q: &AuditQuery) -> Result<Sql, idplane_core::error::StoreError> {
    use crate::codec::nanos_bound as nanos;
    let mut s = Sql::new("SELECT ");
    s.push(AUDIT_COLUMNS).push(" FROM audit_log WHERE 1 = 1");
    if let Some(a) = &q.account_id {
        s.push(" AND account_id = ").bind(Param::Text(a.clone()));
    }
    if let Some(w) = q.workspace_id {
        s.push(" AND workspace_id = ").bind(Param::Int(w));
    }
    if let Some(t) = q.since {
        s.push(" AND occurred_at >= ").bind(Param::Int(nanos(t)));
    }
    if let Some(t) = q.until {
        s.push(" AND occurred_at < ").bind(Param::Int(nanos(t)));
    }
    if let Some(p) = q.principal_id {
        s.push(" AND actor_principal_id = ").bind(Param::Int(p));
    }
    if let Some(t) = &q.token_id {
        s.push(" AND actor_token_id = ").bind(Param::Text(t.clone()));
    }
    if let Some(r) = &q.request_id {
        s.push(" AND request_id = ").bind(Param::Text(r.clone()));
    }
    if let Some(t) = q.resource_type {
        s.push(" AND resource_type = ").bind(Param::Text(t.name().into()));
    }
    if let Some(r) = &q.resource_id {
        s.push(" AND resource_id = ").bind(Param::Text(r.clone()));
    }
    if let Some(o) = q.operation {
        s.push(" AND operation = ").bind(Param::Text(o.code().into()));
    }
    if let Some(c) = q.before {
        // A row-value comparison, which the index serves as one range (an OR of two conditions would make SQLite
        // gather both and sort them).
        s.push(" AND (occurred_at, id) < (").bind(Param::Int(nanos(c.time))).push(", ").bind(Param::Int(c.id));
        s.push(")");
    }
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    s.push(" ORDER BY occurred_at DESC, id DESC LIMIT ").bind(Param::Int(limit));
    Ok(s)
}

/// The principals assigned directly to a workspace, with their permission, in id order.
pub(crate) fn select_assignments(workspace_id: i64) -> Sql {
    let mut s = Sql::new("SELECT ");
    s.push(PRINCIPAL_COLUMNS).push(", a.permissions FROM assignments a JOIN principals p ON p.id = a.principal_id");
    s.push(" WHERE a.workspace_id = ").bind(Param::Int(workspace_id)).push(" ORDER BY p.id");
    s
}

/// Assigns a principal to a workspace of its own account (nothing happens for a workspace of another account).
pub(crate) const INSERT_ASSIGNMENT: &str = "INSERT INTO assignments (workspace_id, principal_id, permissions) \
     SELECT id, ?, 'USER' FROM workspaces WHERE id = ? AND account_id = ?";

/// The principal `id` if visible in `scope`, optionally of one kind.
pub(crate) fn select_principal(scope: &Scope, kind: Option<PrincipalKind>, id: i64) -> Sql {
    let mut s = Sql::new("SELECT ");
    s.push(PRINCIPAL_COLUMNS).push(" FROM principals p WHERE p.id = ").bind(Param::Int(id));
    s.push(" AND ").append(visible(scope));
    if let Some(kind) = kind {
        s.push(" AND p.kind = ").bind(Param::Text(kind.code().into()));
    }
    s
}

/// The groups visible in `scope` that `principal_id` belongs to, directly or through nested groups, in id order.
/// `UNION` (not `UNION ALL`) makes the recursion stop on cycles: each (group, direct) pair is produced once. The
/// walk goes through every group, visible or not, since membership is transitive whoever may see the middle group.
/// The groups are reduced to one row each before the join with `principals`: joined directly, SQLite (which cannot
/// estimate the size of a recursive result) may build a Bloom filter over every principal of the scope.
pub(crate) fn select_groups_of(scope: &Scope, principal_id: i64) -> Sql {
    let mut s = Sql::new(
        "WITH RECURSIVE g (id, direct) AS (\
         SELECT group_id, 1 FROM memberships WHERE member_id = ",
    );
    s.bind(Param::Int(principal_id));
    s.push(
        " UNION SELECT m.group_id, 0 FROM memberships m JOIN g ON m.member_id = g.id), \
         d (id, direct) AS (SELECT id, MAX(direct) FROM g GROUP BY id) \
         SELECT p.id, ",
    );
    s.push(DISPLAY);
    s.push(", d.direct FROM d JOIN principals p ON p.id = d.id WHERE p.id <> ").bind(Param::Int(principal_id));
    s.push(" AND ").append(visible(scope));
    s.push(" ORDER BY p.id");
    s
}

/// The condition (on table alias `p`) that a principal is visible in `scope`; see [`idplane_core::store`].
///
/// Every form starts with `account_id = ? AND home_workspace ...` so that the `(account_id, home_workspace, kind,
/// ...)` indexes serve it. A federated workspace reads both homes it can see with `IN (0, ?)`, then keeps the
/// account principals assigned to it directly or through a group: an upward walk of memberships per row.
pub(crate) fn visible(scope: &Scope) -> Sql {
    let mut s = Sql::new("p.account_id = ");
    s.bind(Param::Text(scope.account_id().into()));
    match scope {
        Scope::Account { .. } => {
            s.push(" AND p.home_workspace = 0");
        }
        Scope::Workspace { workspace_id, federated: false, .. } => {
            s.push(" AND p.home_workspace = ").bind(Param::Int(*workspace_id));
        }
        Scope::Workspace { workspace_id, federated: true, .. } => {
            let w = Param::Int(*workspace_id);
            s.push(" AND p.home_workspace IN (0, ").bind(w.clone()).push(")");
            s.push(" AND (p.home_workspace = ").bind(w.clone());
            // Assigned directly, or through a group (transitively): walk up from the principal, O(depth).
            s.push(
                " OR EXISTS (WITH RECURSIVE up (id) AS (SELECT p.id \
                 UNION SELECT m.group_id FROM memberships m JOIN up ON m.member_id = up.id) \
                 SELECT 1 FROM up JOIN assignments a ON a.principal_id = up.id AND a.workspace_id = ",
            );
            s.bind(w).push("))");
        }
    }
    s
}

// ---- listing ----

/// The statements that answer a listing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ListQuery {
    /// The filter and sort translated entirely: count every match, then read the page.
    Page { count: Sql, items: Sql },
    /// Part of the filter or the sort did not translate: read a superset of the matches in id order.
    Candidates(Sql),
}

/// Builds the statements for `list_principals`.
pub(crate) fn list_query<D: Dialect>(scope: &Scope, kind: PrincipalKind, spec: &ListSpec<'_>) -> ListQuery {
    let condition = match spec.filter {
        None => Translation::Exact(Sql::always()),
        Some(f) => Translator::<D>::new(kind).translate(f, false),
    };
    let mut base = Sql::new(" FROM principals p WHERE ");
    base.append(visible(scope)).push(" AND p.kind = ").bind(Param::Text(kind.code().into()));
    let order = match spec.sort {
        None => Some("p.id".to_string()),
        Some(sort) => order_by(kind, &sort),
    };
    match (condition, order) {
        (Translation::Exact(cond), Some(order)) => {
            base.push(" AND ").append(cond);
            let mut count = Sql::new("SELECT COUNT(*)");
            count.append(base.clone());
            let mut items = Sql::new("SELECT ");
            items.push(PRINCIPAL_COLUMNS).append(base);
            if let (None, Some(after)) = (spec.sort, spec.after_id) {
                items.push(" AND p.id > ").bind(Param::Int(after));
            }
            items.push(" ORDER BY ").push(&order);
            items.push(" LIMIT ").bind(Param::Int(clamp(spec.limit)));
            items.push(" OFFSET ").bind(Param::Int(clamp(spec.offset)));
            ListQuery::Page { count, items }
        }
        (condition, _) => {
            if let Translation::Exact(cond) | Translation::Superset(cond) = condition {
                base.push(" AND ").append(cond);
            }
            let mut items = Sql::new("SELECT ");
            items.push(PRINCIPAL_COLUMNS).append(base).push(" ORDER BY p.id");
            ListQuery::Candidates(items)
        }
    }
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
        Target::MemberValue | Target::Members => return None,
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
    /// indexed column whose equality narrows a case-exact comparison to an index lookup.
    Text {
        column: &'static str,
        lowercase: bool,
        key: Option<&'static str>,
    },
    Active,
    /// `meta.created` or `meta.lastModified`: unix nanoseconds, compared at [`TIMESTAMP_PRECISION`].
    Time(&'static str),
    /// `members.value` of a group.
    MemberValue,
    /// `members` itself, for `pr` and value paths.
    Members,
}

/// Resolves a filter's attribute path to a column, through the resource type's schema (so names match
/// case-insensitively and may carry the core schema URN). Extension attributes and anything without a column: None.
fn resolve(kind: PrincipalKind, path: &AttrPath) -> Option<Target> {
    let rt = resource_types::of(kind);
    let resolved = rt.resolve(path.urn.as_deref(), &path.name)?;
    if !std::ptr::eq(resolved.schema, rt.schema) {
        return None;
    }
    let attr = resolved.attribute;
    let sub = path.sub.as_deref();
    let is = |want: &str| sub.is_some_and(|s| s.eq_ignore_ascii_case(want));
    let target = match (attr.name, sub) {
        ("id", None) => Target::Id,
        ("meta", Some(_)) if is("created") => Target::Time("p.created"),
        ("meta", Some(_)) if is("lastModified") => Target::Time("p.last_modified"),
        ("members", None) if kind == PrincipalKind::Group => Target::Members,
        ("members", Some(_)) if kind == PrincipalKind::Group && is("value") => Target::MemberValue,
        (_, Some(_)) => return None,
        (name, None) if name == kind.unique_attribute() => {
            if attr.case_exact {
                Target::Text { column: "p.unique_value", lowercase: false, key: Some("p.unique_key") }
            } else {
                Target::Text { column: "p.unique_key", lowercase: true, key: None }
            }
        }
        ("externalId", None) if attr.case_exact => {
            Target::Text { column: "p.external_id", lowercase: false, key: None }
        }
        ("displayName", None) => {
            if attr.case_exact {
                Target::Text { column: "p.display_name", lowercase: false, key: None }
            } else {
                Target::Text { column: "p.display_key", lowercase: true, key: None }
            }
        }
        ("active", None) if attr.kind == AttributeType::Boolean => Target::Active,
        _ => return None,
    };
    Some(target)
}

/// The SQL for a filter, or for part of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Translation {
    /// Selects exactly the matching rows.
    Exact(Sql),
    /// Selects every matching row and maybe others.
    Superset(Sql),
    /// Nothing translated: no constraint.
    Any,
}

impl Translation {
    fn and(a: Translation, b: Translation) -> Translation {
        use Translation::*;
        match (a, b) {
            (Exact(a), Exact(b)) => Exact(Sql::join(a, " AND ", b)),
            (Any, Any) => Any,
            (Any, Exact(s) | Superset(s)) | (Exact(s) | Superset(s), Any) => Superset(s),
            (Exact(a) | Superset(a), Exact(b) | Superset(b)) => Superset(Sql::join(a, " AND ", b)),
        }
    }

    fn or(a: Translation, b: Translation) -> Translation {
        use Translation::*;
        match (a, b) {
            (Any, _) | (_, Any) => Any,
            (Exact(a), Exact(b)) => Exact(Sql::join(a, " OR ", b)),
            (Exact(a) | Superset(a), Exact(b) | Superset(b)) => Superset(Sql::join(a, " OR ", b)),
        }
    }
}

/// Translates filters on one kind of principal.
///
/// Negation is pushed down to the comparisons (De Morgan), so that positive comparisons keep their index-friendly
/// form and SQL's three-valued logic never leaks: a comparison on an absent attribute is false, its negation true,
/// as in the in-memory evaluator. `ne` is the negation of `eq`.
pub(crate) struct Translator<D> {
    kind: PrincipalKind,
    dialect: std::marker::PhantomData<D>,
}

impl<D: Dialect> Translator<D> {
    pub fn new(kind: PrincipalKind) -> Self {
        Translator { kind, dialect: std::marker::PhantomData }
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
                Some(Atom { sql, nullable }) if negate => Translation::Exact(match nullable {
                    Some(column) => {
                        let mut s = Sql::new("(");
                        s.push(column).push(" IS NULL OR ").append(sql.negated()).push(")");
                        s
                    }
                    None => sql.negated(),
                }),
                Some(Atom { sql, .. }) => Translation::Exact(sql),
            },
        }
    }

    /// A comparison, presence test or value path, translated positively; None when it does not translate.
    fn atom(&self, filter: &Filter) -> Option<Atom> {
        match filter {
            Filter::Present(path) => self.present(resolve(self.kind, path)?),
            Filter::Compare(path, op, value) => self.compare(resolve(self.kind, path)?, *op, value),
            Filter::ValuePath(path, inner) if resolve(self.kind, path)? == Target::Members => {
                Some(Atom { sql: member_values(inner)?, nullable: None })
            }
            _ => None,
        }
    }

    fn present(&self, target: Target) -> Option<Atom> {
        Some(match target {
            Target::Id | Target::Time(_) => Atom { sql: Sql::always(), nullable: None },
            Target::Text { column, .. } => {
                let mut s = Sql::new("(");
                s.push(column).push(" IS NOT NULL AND ").push(column).push(" <> '')");
                Atom { sql: s, nullable: None }
            }
            Target::Active => Atom { sql: Sql::new("p.active IS NOT NULL"), nullable: None },
            Target::Members | Target::MemberValue => {
                Atom { sql: Sql::new("EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = p.id)"), nullable: None }
            }
        })
    }

    /// Operands are converted as the in-memory evaluator converts them (a number compared with a string attribute is
    /// its decimal text; `"true"` compared with a boolean is true), so that both agree on every filter.
    fn compare(&self, target: Target, op: CompareOp, value: &CompValue) -> Option<Atom> {
        match target {
            Target::Id => match (op, text_operand(value)?) {
                (CompareOp::Eq, v) => Some(Atom { sql: id_equals("p.id = ", &v), nullable: None }),
                _ => None,
            },
            // `members eq "x"` compares the members' `value`, as for any complex attribute.
            Target::MemberValue | Target::Members => match (op, text_operand(value)?) {
                (CompareOp::Eq, v) => Some(Atom { sql: member_value_eq(&v), nullable: None }),
                _ => None,
            },
            Target::Active => {
                let b = match value {
                    CompValue::Bool(b) => *b,
                    CompValue::String(s) if s.eq_ignore_ascii_case("true") => true,
                    CompValue::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return None,
                };
                if op != CompareOp::Eq {
                    return None;
                }
                let mut s = Sql::new("p.active = ");
                s.bind(Param::Bool(b));
                Some(Atom { sql: s, nullable: Some("p.active") })
            }
            Target::Time(column) => {
                let CompValue::String(v) = value else { return None };
                let nanos = i64::try_from(parse_date_time(v)?.unix_timestamp_nanos()).ok()?;
                Some(Atom { sql: time_range(column, op, nanos)?, nullable: None })
            }
            Target::Text { column, lowercase, key } => {
                let v = text_operand(value)?;
                let v = if lowercase { fold_case(&v) } else { v };
                let sql = self.text(column, key, op, v)?;
                Some(Atom { sql, nullable: Some(column) })
            }
        }
    }

    fn text(&self, column: &'static str, key: Option<&'static str>, op: CompareOp, v: String) -> Option<Sql> {
        let mut s = Sql::new("");
        match op {
            CompareOp::Eq => {
                if let Some(key) = key {
                    s.push("(").push(key).push(" = ").bind(Param::Text(fold_case(&v))).push(" AND ");
                    s.push(column).push(" = ").bind(Param::Text(v)).push(")");
                } else {
                    s.push(column).push(" = ").bind(Param::Text(v));
                }
            }
            // A prefix is a range in code point order, which an index can serve.
            CompareOp::Sw => {
                s.push("(").push(column).push(" >= ").bind(Param::Text(v.clone()));
                match prefix_successor(&v) {
                    Some(hi) => s.push(" AND ").push(column).push(" < ").bind(Param::Text(hi)).push(")"),
                    None => s.push(")"),
                };
            }
            // A shorter column yields a shorter substring, which cannot equal `v`: no length check needed.
            CompareOp::Ew => {
                let n = Param::Int(i64::try_from(v.chars().count()).ok()?);
                // The cast: `length(...) - ?` is a BIGINT in PostgreSQL, whose `substr` takes an INTEGER.
                s.push("substr(").push(column).push(", CAST(length(").push(column).push(") - ").bind(n);
                s.push(" + 1 AS INTEGER)) = ").bind(Param::Text(v));
            }
            CompareOp::Co => {
                let mut needle = Sql::new("");
                needle.bind(Param::Text(v));
                s.push(&D::contains(column, &needle.text));
                s.params.extend(needle.params);
            }
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                s.push(column).push(ordering_symbol(op)?).bind(Param::Text(v));
            }
            CompareOp::Ne => return None,
        }
        Some(s)
    }
}

/// A translated comparison. `nullable` names the column that may be NULL (absent attribute), which the negation
/// must treat as "does not match", i.e. negated true.
struct Atom {
    sql: Sql,
    nullable: Option<&'static str>,
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
            s.push(" >= ").bind(Param::Int(v)).push(" AND ").push(column).push(" < ").bind(Param::Int(above));
            let mut grouped = Sql::new("(");
            grouped.append(s).push(")");
            return Some(grouped);
        }
        CompareOp::Gt => s.push(" >= ").bind(Param::Int(above)),
        CompareOp::Ge => s.push(" >= ").bind(Param::Int(ceil)),
        CompareOp::Lt => s.push(" < ").bind(Param::Int(ceil)),
        CompareOp::Le => s.push(" < ").bind(Param::Int(above)),
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
            s.bind(Param::Int(n));
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
            s.bind(Param::Int(n)).push(")");
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

    struct Plain;
    impl Dialect for Plain {
        fn contains(haystack: &str, needle: &str) -> String {
            format!("contains({haystack}, {needle})")
        }
    }

    fn path(name: &str) -> AttrPath {
        AttrPath { urn: None, name: name.into(), sub: None }
    }

    fn eq(name: &str, v: &str) -> Filter {
        Filter::Compare(path(name), CompareOp::Eq, CompValue::String(v.into()))
    }

    fn tr(kind: PrincipalKind, f: &Filter) -> Translation {
        Translator::<Plain>::new(kind).translate(f, false)
    }

    fn exact(kind: PrincipalKind, f: &Filter) -> anyhow::Result<Sql> {
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
        let s = exact(PrincipalKind::User, &eq("USERNAME", "Alice@X.com"))?;
        assert_eq!(s.text, "p.unique_key = ?");
        assert_eq!(s.params, vec![Param::Text("alice@x.com".into())]);
        Ok(())
    }

    #[test]
    fn case_exact_unique_attribute_narrows_through_the_key() -> anyhow::Result<()> {
        let s = exact(PrincipalKind::ServicePrincipal, &eq("applicationId", "AbC"))?;
        assert_eq!(s.text, "(p.unique_key = ? AND p.unique_value = ?)");
        assert_eq!(s.params, vec![Param::Text("abc".into()), Param::Text("AbC".into())]);
        Ok(())
    }

    #[test]
    fn negation_treats_absent_as_not_matching() -> anyhow::Result<()> {
        let f = Filter::Not(Box::new(eq("externalId", "x")));
        let s = exact(PrincipalKind::User, &f)?;
        assert_eq!(s.text, "(p.external_id IS NULL OR NOT (p.external_id = ?))");
        let ne = Filter::Compare(path("externalId"), CompareOp::Ne, CompValue::String("x".into()));
        assert_eq!(tr(PrincipalKind::User, &ne), tr(PrincipalKind::User, &f));
        Ok(())
    }

    #[test]
    fn partial_conjunctions_are_supersets() {
        let emails = eq("emails", "a@b.c");
        let f = Filter::And(Box::new(eq("userName", "a")), Box::new(emails.clone()));
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Superset(_)));
        let f = Filter::Or(Box::new(eq("userName", "a")), Box::new(emails.clone()));
        assert_eq!(tr(PrincipalKind::User, &f), Translation::Any);
        // not (a and emails) = not a or not emails: nothing to narrow by.
        let f = Filter::Not(Box::new(Filter::And(Box::new(eq("userName", "a")), Box::new(emails.clone()))));
        assert_eq!(tr(PrincipalKind::User, &f), Translation::Any);
        // not (a or emails) = not a and not emails: narrowed by not a.
        let f = Filter::Not(Box::new(Filter::Or(Box::new(eq("userName", "a")), Box::new(emails))));
        assert!(matches!(tr(PrincipalKind::User, &f), Translation::Superset(_)));
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
        // Groups have no `active`; users have no `members`; extension attributes have no column.
        assert_eq!(tr(PrincipalKind::Group, &Filter::Present(path("active"))), Translation::Any);
        let members = AttrPath { urn: None, name: "members".into(), sub: Some("value".into()) };
        let f = Filter::Compare(members, CompareOp::Eq, CompValue::String("1".into()));
        assert_eq!(tr(PrincipalKind::User, &f), Translation::Any);
        let ext = AttrPath {
            urn: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
            name: "department".into(),
            sub: None,
        };
        assert_eq!(tr(PrincipalKind::User, &Filter::Present(ext)), Translation::Any);
    }

    #[test]
    fn ids_compare_as_canonical_strings() -> anyhow::Result<()> {
        assert_eq!(exact(PrincipalKind::User, &eq("id", "0012"))?.text, "1 = 0");
        assert_eq!(exact(PrincipalKind::User, &eq("id", "12"))?.params, vec![Param::Int(12)]);
        Ok(())
    }
}
