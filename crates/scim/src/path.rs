//! The PATCH path language of RFC 7644 §3.5.2: abstract syntax, parser and printer. The lexer and the parser of
//! attribute paths and value filters are the filter module's.
//!
//! ```text
//! PATH = attrPath / valuePath [subAttr]
//! ```
//! Examples: `displayName`, `name.givenName`, `members[value eq "123"]`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`. Whitespace around the path is ignored.

use std::fmt;
use std::str::FromStr;

use crate::error::ScimError;
use crate::filter::{AttrPath, Filter, Language, Parser, check_value_path};
use crate::schema::{Attribute, AttributeType, ResourceType};

/// A PATCH operation's `path`.
///
/// Invariant (kept by the parser, assumed by the printer): when `filter` is `Some`, `attr.sub` is `None` and the
/// sub-attribute after the filter, if any, is in `sub`; when `filter` is `None`, `sub` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute: URN and name, and the sub-attribute when there is no filter (`name.givenName`).
    pub attr: AttrPath,
    /// The value filter selecting elements (`members[value eq "123"]`).
    pub filter: Option<Filter>,
    /// The sub-attribute after a filter (`emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path. Errors are 400 `invalidPath` with the 1-based character position and what was expected.
    pub fn parse(input: &str) -> Result<PatchPath, ScimError> {
        let mut parser = Parser::new(input, Language::Path)?;
        parser.skip_ws();
        let start = parser.position();
        let attr = parser.attr_path()?;
        parser.skip_ws();
        if parser.peek() != Some(b'[') {
            parser.finish("\"[\" or end of path")?;
            return Ok(PatchPath { attr, filter: None, sub: None });
        }
        let (filter, _) = parser.value_filter(&attr, start)?;
        let sub = if parser.peek() == Some(b'.') {
            parser.advance();
            Some(parser.sub_attr_name()?)
        } else {
            None
        };
        parser.finish(if sub.is_some() { "end of path" } else { "\".\" and a sub-attribute, or end of path" })?;
        Ok(PatchPath { attr, filter: Some(filter), sub })
    }

    /// The attribute the path ends at: `attr`'s sub-attribute or `sub`, else `attr`. For a definition in a schema,
    /// see [`PatchPath::validate`].
    pub fn sub_attribute(&self) -> Option<&str> {
        self.sub.as_deref().or(self.attr.sub.as_deref())
    }

    /// Checks the path against `resource_type`: 400 `invalidPath` when the attribute or sub-attribute is not
    /// defined, when a filter is applied to a non-complex attribute, or when the filter fails
    /// [`Filter::validate_element`]. Returns the attribute's definition and the sub-attribute's, if the path names
    /// one.
    pub fn validate(
        &self,
        resource_type: &ResourceType,
    ) -> Result<(&'static Attribute, Option<&'static Attribute>), ScimError> {
        let resolved = resource_type.resolve(self.attr.urn.as_deref(), &self.attr.name).ok_or_else(|| {
            ScimError::invalid_path(format!(
                "unknown attribute \"{}\": {} has no such attribute",
                self.attr, resource_type.name
            ))
        })?;
        let attribute = resolved.attribute;
        if let Some(filter) = &self.filter {
            check_value_path(&self.attr, attribute).map_err(ScimError::invalid_path)?;
            filter.check_element(attribute).map_err(ScimError::invalid_path)?;
        }
        let sub = match self.sub_attribute() {
            Some(name) => Some(attribute.sub_attribute(name).ok_or_else(|| {
                let why = if attribute.kind == AttributeType::Complex {
                    format!("\"{}\" has no sub-attribute \"{name}\"", attribute.name)
                } else {
                    format!("\"{}\" is not complex and has no sub-attributes", attribute.name)
                };
                ScimError::invalid_path(format!("unknown attribute in path \"{self}\": {why}"))
            })?),
            None => None,
        };
        Ok((attribute, sub))
    }
}

impl FromStr for PatchPath {
    type Err = ScimError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}
