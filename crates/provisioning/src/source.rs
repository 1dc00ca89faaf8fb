//! The source object: a directory object (user or group) as the provisioning engine reads it, under the
//! synchronization-schema names that attribute mappings, expressions and scoping filters use (`objectId`,
//! `telephoneNumber`, `IsSoftDeleted`, ...), not Graph v1.0's (`id`, `businessPhones`, ...).
//!
//! Values are JSON values, kept simple: strings, booleans, arrays of strings for multi-valued attributes, the
//! referenced object's id (a string) for a reference, an array of ids for a multi-valued reference. An attribute
//! with no value is absent. The expression language reads these through an adapter of its own.
//!
//! [`crate::templates::source_object_from_graph`] builds one from a Graph user or group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the computed attribute that says a source object must be deprovisioned (disabled) in the target.
pub const IS_SOFT_DELETED: &str = "IsSoftDeleted";

/// One user or group of the source directory, under sync-schema attribute names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceObject {
    /// The object's name in the schema's source directory: `User` or `Group`.
    pub object_type: String,
    /// The directory object's id (also its `objectId` attribute).
    pub id: String,
    pub attributes: BTreeMap<String, Value>,
}

impl SourceObject {
    pub fn new(object_type: &str, id: &str) -> Self {
        SourceObject { object_type: object_type.to_owned(), id: id.to_owned(), attributes: BTreeMap::new() }
    }

    /// The attribute's value; `None` when it has none. Names are exact, as in expressions.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name).filter(|v| !v.is_null())
    }

    /// Sets the attribute; a `null` value removes it, since an attribute without a value is absent.
    pub fn set(&mut self, name: &str, value: Value) {
        if value.is_null() {
            self.attributes.remove(name);
        } else {
            self.attributes.insert(name.to_owned(), value);
        }
    }

    /// The same object with that attribute set.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set(name, value.into());
        self
    }

    /// Whether the object is to be deprovisioned: `IsSoftDeleted` is true.
    pub fn is_soft_deleted(&self) -> bool {
        self.get(IS_SOFT_DELETED).and_then(Value::as_bool).unwrap_or(false)
    }

    /// Records that the object failed the scoping filters: Entra then treats it as soft-deleted, so that the
    /// `active` mapping (`Switch([IsSoftDeleted], ...)`) disables it in the target.
    pub fn mark_out_of_scope(&mut self) {
        self.set(IS_SOFT_DELETED, Value::Bool(true));
    }
}
