//! PATCH paths (RFC 7644 §3.5.2): the shapes Entra, Databricks and the RFC use, printing, errors and validation.

use idplane_scim::filter::AttrPath;
use idplane_scim::path::PatchPath;
use idplane_scim::schema::{GROUP_TYPE, URN_ENTERPRISE_USER, URN_USER, USER_TYPE};
use idplane_scim::{ScimError, ScimType};

use crate::support::*;

fn plain(attr: AttrPath) -> PatchPath {
    PatchPath { attr, filter: None, sub: None }
}

#[test]
fn client_paths_parse_and_print_back() {
    for (input, expected) in [
        ("displayName", plain(attr("displayName"))),
        ("name.familyName", plain(sub("name", "familyName"))),
        ("members", plain(attr("members"))),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            plain(qualified(URN_ENTERPRISE_USER, "manager", None)),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            plain(qualified(URN_ENTERPRISE_USER, "manager", Some("value"))),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            plain(qualified(URN_ENTERPRISE_USER, "employeeNumber", None)),
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            plain(qualified(URN_USER, "name", Some("givenName"))),
        ),
        (
            r#"members[value eq "123"]"#,
            PatchPath { attr: attr("members"), filter: Some(eq(attr("value"), "123")), sub: None },
        ),
        (
            r#"emails[type eq "work"].value"#,
            PatchPath { attr: attr("emails"), filter: Some(eq(attr("type"), "work")), sub: Some("value".into()) },
        ),
        (
            r#"addresses[type eq "work"].formatted"#,
            PatchPath {
                attr: attr("addresses"),
                filter: Some(eq(attr("type"), "work")),
                sub: Some("formatted".into()),
            },
        ),
        (
            r#"entitlements[value eq "allow-cluster-create"]"#,
            PatchPath {
                attr: attr("entitlements"),
                filter: Some(eq(attr("value"), "allow-cluster-create")),
                sub: None,
            },
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "m1"]"#,
            PatchPath {
                attr: qualified(URN_ENTERPRISE_USER, "manager", None),
                filter: Some(eq(attr("value"), "m1")),
                sub: None,
            },
        ),
        (
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646" or value eq "902c246b"]"#,
            PatchPath {
                attr: attr("members"),
                filter: Some(or(
                    eq(attr("value"), "2819c223-7f76-453a-919d-413861904646"),
                    eq(attr("value"), "902c246b"),
                )),
                sub: None,
            },
        ),
    ] {
        let parsed = PatchPath::parse(input);
        assert_eq!(parsed.as_ref(), Ok(&expected), "{input}");
        assert_eq!(expected.to_string(), input);
        assert_eq!(input.parse::<PatchPath>(), Ok(expected));
    }
    // Tolerated spellings print canonically.
    let loose = PatchPath::parse(r#"  emails [TYPE EQ "work" AND primary EQ TRUE].value "#).unwrap();
    assert_eq!(loose.to_string(), r#"emails[TYPE eq "work" and primary eq true].value"#);
    assert_eq!(loose.sub_attribute(), Some("value"));
    assert_eq!(PatchPath::parse("name.givenName").unwrap().sub_attribute(), Some("givenName"));
}

fn path_error(input: &str) -> String {
    match PatchPath::parse(input) {
        Err(ScimError { status: 400, scim_type: Some(ScimType::InvalidPath), detail }) => detail,
        other => panic!("{input:?}: expected invalidPath, got {other:?}"),
    }
}

#[test]
fn path_errors_say_where_and_what_was_expected() {
    for (input, detail) in [
        (
            "",
            "at character 1: expected an attribute path (such as userName, name.givenName or urn:ietf:params:scim:schemas:core:2.0:User:userName), found end of path",
        ),
        ("emails eq", "at character 8: expected \"[\" or end of path, found \"eq\""),
        (r#"emails[type eq "work""#, "at character 22: expected \"and\", \"or\" or \"]\", found end of path"),
        (
            r#"emails[type eq "work"]value"#,
            "at character 23: expected \".\" and a sub-attribute, or end of path, found \"value\"",
        ),
        (
            r#"emails[type eq "work"].value.display"#,
            "at character 24: expected an attribute name (a letter, then letters, digits, \"-\", \"_\" or \"$\"), found \"value.display\"",
        ),
        (r#"emails[type eq "work"].value eq "x""#, "at character 30: expected end of path, found \"eq\""),
        (
            r#"emails[type eq "work"]."#,
            "at character 24: expected an attribute name (a letter, then letters, digits, \"-\", \"_\" or \"$\") after \".\", found end of path",
        ),
        (
            r#"emails.value[type eq "work"]"#,
            "at character 13: expected a comparison operator or end after the sub-attribute \"emails.value\", found \"[\"; a value filter follows the attribute (write emails[...].value)",
        ),
        (
            r#"emails[value[type eq "x"] pr]"#,
            "at character 13: expected a comparison operator after \"value\", found \"[\"; value filters cannot be nested",
        ),
        (
            "members[]",
            "at character 9: expected an attribute path (such as userName, name.givenName or urn:ietf:params:scim:schemas:core:2.0:User:userName), found \"]\"",
        ),
        (
            r#"members[value eq "1"] x"#,
            "at character 23: expected \".\" and a sub-attribute, or end of path, found \"x\"",
        ),
    ] {
        assert_eq!(path_error(input), format!("invalid path {detail}"), "{input}");
    }
    let long = "a".repeat(9000);
    assert_eq!(path_error(&long), "invalid path at character 8193: expected at most 8192 bytes, found 9000 bytes");
}

#[test]
fn validate_resolves_paths_against_the_resource_type() {
    let resolved =
        |input: &str| PatchPath::parse(input).unwrap().validate(&USER_TYPE).map(|(a, s)| (a.name, s.map(|s| s.name)));
    assert_eq!(resolved("userName"), Ok(("userName", None)));
    assert_eq!(resolved("NAME.GIVENNAME"), Ok(("name", Some("givenName"))));
    assert_eq!(resolved(r#"emails[type eq "work"].value"#), Ok(("emails", Some("value"))));
    assert_eq!(
        resolved("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
        Ok(("manager", Some("value")))
    );
    assert_eq!(
        resolved(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq "x"]"#),
        Ok(("manager", None))
    );
    let detail = |input: &str, rt| match PatchPath::parse(input).unwrap().validate(rt) {
        Err(ScimError { status: 400, scim_type: Some(ScimType::InvalidPath), detail }) => detail,
        other => panic!("{input}: expected invalidPath, got {other:?}"),
    };
    assert_eq!(detail("nope", &USER_TYPE), "unknown attribute \"nope\": User has no such attribute");
    assert_eq!(detail("members", &USER_TYPE), "unknown attribute \"members\": User has no such attribute");
    assert_eq!(
        detail("name.nope", &USER_TYPE),
        "unknown attribute in path \"name.nope\": \"name\" has no sub-attribute \"nope\""
    );
    assert_eq!(
        detail(r#"emails[type eq "work"].nope"#, &USER_TYPE),
        "unknown attribute in path \"emails[type eq \"work\"].nope\": \"emails\" has no sub-attribute \"nope\""
    );
    assert_eq!(
        detail(r#"userName[value eq "x"]"#, &USER_TYPE),
        "\"userName\" is a string, not a complex attribute: a value filter [...] applies to attributes such as emails"
    );
    assert_eq!(
        detail(r#"members[nope eq "x"]"#, &GROUP_TYPE),
        "unknown attribute \"nope\": \"members\" has no sub-attribute \"nope\""
    );
    assert!(PatchPath::parse(r#"members[value eq "x"]"#).unwrap().validate(&GROUP_TYPE).is_ok());
}
