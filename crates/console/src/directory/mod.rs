//! The directory (Entra's Users and Groups): "All users", "Deleted users", "New user", a user's page (Overview,
//! Edit properties, Disable/Enable, Delete, its groups, application assignments and manager), "Bulk create" from a
//! CSV file with live progress; the same for groups with their members (users and nested groups), "Add members" and
//! "Member of". Every page calls Graph (`/v1.0/users`, `/v1.0/groups`, `/v1.0/directory/deletedItems/...`) with the
//! signed-in token; long lists are paged with `$top` and the API's `@odata.nextLink`, and searched with its
//! `$filter` (`startsWith` on the indexed names), never loaded whole.

mod groups;
mod import;
mod objects;
mod paging;
mod users;

use axum::Router;
use serde_json::Value;

use crate::Console;
use crate::api::ApiFailure;

/// The directory's routes.
pub fn routes() -> Router<Console> {
    Router::new().merge(objects::routes()).merge(users::routes()).merge(groups::routes()).merge(import::routes())
}

/// How many rows a page of a list shows.
pub const PAGE_SIZE: usize = 50;

/// A string property of a Graph object ("" when absent or null).
pub fn text(object: &Value, name: &str) -> String {
    match &object[name] {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// The `$filter` that finds the objects whose listed properties start with `term` (Graph's quoting: `'` doubled).
pub fn starts_with_filter(properties: &[&str], term: &str) -> String {
    let quoted = crate::api::odata_string(term);
    properties.iter().map(|p| format!("startsWith({p},{quoted})")).collect::<Vec<_>>().join(" or ")
}

/// The query of a listing's page: `$top`, the search's `$filter` on `property`, the skip token.
pub fn listing_query(property: &str, search: &str, after: &str) -> String {
    let mut q = vec![("$top".to_string(), PAGE_SIZE.to_string())];
    if !search.trim().is_empty() {
        q.push(("$filter".into(), starts_with_filter(&[property], search.trim())));
    }
    if !after.is_empty() {
        q.push(("$skiptoken".into(), after.to_string()));
    }
    serde_urlencoded::to_string(q).unwrap_or_default()
}

/// The rows of a Graph collection and the skip token of its next page.
pub fn collection(answer: &Value) -> (Vec<Value>, Option<String>) {
    let rows = answer["value"].as_array().cloned().unwrap_or_default();
    let next = answer["@odata.nextLink"].as_str().and_then(paging::skip_token_of);
    (rows, next)
}

/// The API's message for a form: which field it names (Graph's `error.target`) and what to fix.
#[derive(Debug, Clone, Default)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn of(failure: &ApiFailure) -> FieldError {
        FieldError {
            field: failure.body["error"]["target"].as_str().unwrap_or_default().to_string(),
            message: failure.message.clone(),
        }
    }

    /// The message, when it is about `field`: the API named it as the target, or (no target) its message names it.
    pub fn on(&self, field: &str) -> Option<&str> {
        let named =
            if self.field.is_empty() { self.message.contains(field) } else { self.field.eq_ignore_ascii_case(field) };
        named.then_some(self.message.as_str())
    }
}

/// A small random id (hex).
pub fn random_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        return format!("{:x}", nanos.as_nanos());
    }
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_a_quoted_starts_with_on_each_property() {
        assert_eq!(
            starts_with_filter(&["displayName", "userPrincipalName"], "O'Brien"),
            "startsWith(displayName,'O''Brien') or startsWith(userPrincipalName,'O''Brien')"
        );
        let q = listing_query("displayName", " ada ", "");
        assert_eq!(q, "%24top=50&%24filter=startsWith%28displayName%2C%27ada%27%29");
        assert_eq!(listing_query("displayName", "", "abc"), "%24top=50&%24skiptoken=abc");
    }
}
