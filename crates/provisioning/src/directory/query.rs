//! What a directory listing may ask: a filter over the indexed properties (Graph's `$filter` with `eq`, `ne`,
//! `startsWith`, `in`, `and`, `or`), paging by a cursor (`$top`, `$skiptoken`), and whether to count. The Graph API
//! parses OData into this; the store translates it to SQL over its indexed columns, so every filter an index serves
//! is an index lookup, and nothing is evaluated in memory.

use crate::directory::ObjectKind;

/// A property a filter may test: the ones the store indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    UserPrincipalName,
    DisplayName,
    Mail,
    MailNickname,
    EmployeeId,
    AccountEnabled,
    SecurityEnabled,
    MailEnabled,
}

impl Field {
    /// Graph's name of the property.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::UserPrincipalName => "userPrincipalName",
            Field::DisplayName => "displayName",
            Field::Mail => "mail",
            Field::MailNickname => "mailNickname",
            Field::EmployeeId => "employeeId",
            Field::AccountEnabled => "accountEnabled",
            Field::SecurityEnabled => "securityEnabled",
            Field::MailEnabled => "mailEnabled",
        }
    }

    /// The fields a listing of `kind` (or of every kind: the deleted items) may filter on.
    pub fn of(kind: Option<ObjectKind>) -> &'static [Field] {
        match kind {
            Some(ObjectKind::User) => &[
                Field::Id,
                Field::UserPrincipalName,
                Field::DisplayName,
                Field::Mail,
                Field::MailNickname,
                Field::EmployeeId,
                Field::AccountEnabled,
            ],
            Some(ObjectKind::Group) => &[
                Field::Id,
                Field::DisplayName,
                Field::Mail,
                Field::MailNickname,
                Field::SecurityEnabled,
                Field::MailEnabled,
            ],
            None => &[Field::Id, Field::DisplayName],
        }
    }

    /// The field a property name (case-insensitive) means for `kind`.
    pub fn named(kind: Option<ObjectKind>, name: &str) -> Option<Field> {
        Field::of(kind).iter().copied().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    pub fn is_boolean(self) -> bool {
        matches!(self, Field::AccountEnabled | Field::SecurityEnabled | Field::MailEnabled)
    }
}

/// A literal a filter compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Text(String),
    Bool(bool),
}

/// A filter. String comparisons are case-insensitive, as Graph's are on these properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectFilter {
    Eq(Field, Literal),
    Ne(Field, Literal),
    StartsWith(Field, String),
    In(Field, Vec<Literal>),
    And(Box<ObjectFilter>, Box<ObjectFilter>),
    Or(Box<ObjectFilter>, Box<ObjectFilter>),
}

/// The most values one `in` may list.
pub const MAX_IN: usize = 100;

/// The largest page a listing returns (`$top`), as Graph's directory limits it.
pub const MAX_TOP: usize = 999;
/// The page size when the client names none.
pub const DEFAULT_TOP: usize = 100;

/// One listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectQuery {
    /// Objects of this kind, or users and groups both.
    pub kind: Option<ObjectKind>,
    pub filter: Option<ObjectFilter>,
    /// The deleted items instead of the live objects.
    pub deleted: bool,
    /// Only objects after this id (the cursor of the previous page); objects come in id order.
    pub after: Option<String>,
    pub top: usize,
    /// Count every match too (`$count=true`).
    pub count: bool,
}

impl ObjectQuery {
    pub fn of(kind: ObjectKind) -> Self {
        ObjectQuery { kind: Some(kind), filter: None, deleted: false, after: None, top: DEFAULT_TOP, count: false }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPage {
    pub items: Vec<super::DirectoryObject>,
    /// Every match, when the query asked to count.
    pub count: Option<u64>,
    /// More objects follow: the next page starts after the last item.
    pub more: bool,
}
