//! Evaluating filters against resources: RFC 7644's examples, attribute characteristics, and the choices the
//! filter module documents.

use idplane_scim::filter::Filter;
use idplane_scim::schema::{
    Attribute, AttributeType, GROUP_TYPE, ResourceType, Schema, URN_ENTERPRISE_USER, USER_TYPE,
};
use idplane_scim::{ScimError, ScimType};
use serde_json::{Value, json};

use crate::filter_parse::rfc_examples;
use crate::support::*;

/// The names of the sample users `filter` selects.
fn selected(filter: &str) -> Vec<&'static str> {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    users().into_iter().filter(|(_, u)| f.matches(u, &USER_TYPE)).map(|(name, _)| name).collect()
}

fn matches(filter: &str, resource: &Value) -> bool {
    Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}")).matches(resource, &USER_TYPE)
}

#[test]
fn rfc_examples_select_the_expected_users() {
    let expected: [&[&str]; 17] = [
        &["bjensen"],            // userName eq "bjensen"
        &["omalley"],            // name.familyName co "O'Malley"
        &["jsmith", "omalley"],  // userName sw "J": userName is not caseExact
        &["jsmith", "omalley"],  // the same, URN-qualified
        &["bjensen"],            // title pr: "" is not present
        &["jsmith"],             // meta.lastModified gt
        &["bjensen", "jsmith"],  // ge
        &["omalley"],            // lt
        &["bjensen", "omalley"], // le
        &["bjensen"],            // title pr and userType eq "Employee"
        &["bjensen", "jsmith"],  // title pr or userType eq "Intern"
        &["bjensen"],            // schemas eq enterprise
        &["bjensen"],            // Employee and (emails co example.com or ...)
        &["omalley"],            // ne Employee and not (...)
        &["bjensen"],            // Employee and (emails.type eq "work")
        &["bjensen"],            // Employee and emails[...]
        &["bjensen", "jsmith"],  // emails[...] or ims[...]
    ];
    let examples = rfc_examples();
    assert_eq!(examples.len(), expected.len());
    for ((filter, _), expected) in examples.into_iter().zip(expected) {
        assert_eq!(selected(filter), expected, "{filter}");
        assert_eq!(Filter::parse(filter).unwrap().validate(&USER_TYPE), Ok(()), "{filter}");
    }
}

#[test]
fn client_filters_select_the_expected_users() {
    for (filter, expected) in [
        (r#"userName eq "7d420df3-9995-4831-a406-ecf8166f5f6a""#, &[][..]),
        (r#"externalId eq "701984""#, &["bjensen"]),
        (r#"emails[type eq "work"].value eq "bjensen@example.com""#, &["bjensen"]),
        (r#"emails[type eq "work"].value eq "babs@jensen.org""#, &[]),
        (r#"emails[type eq "home"].value eq "BABS@jensen.org""#, &["bjensen"]),
        ("userName eq BJENSEN", &["bjensen"]),
        (r#"USERNAME EQ "jsmith""#, &["jsmith"]),
        (r#"userName eq "jsmith" and active eq true"#, &[]),
        (r#"userName eq "jsmith" and active eq false"#, &["jsmith"]),
        ("displayName sw babs", &["bjensen"]),
        (r#"displayName co "ø""#, &["omalley"]),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, &["jsmith"]),
        (
            r#"active eq true and (meta.lastModified ge "0001-01-03T00:00:00.0000000Z" and meta.lastModified le "2011-05-13T04:42:34.0000000Z")"#,
            &["bjensen", "omalley"],
        ),
        (r#"meta.lastModified le "2011-05-13T04:42:34.9999999Z""#, &["bjensen", "omalley"]),
        // Legacy Entra reference check: `manager eq <id>` compares the manager's value.
        (
            r#"id eq "2819c223-7f76-453a-919d-413861904646" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            &["bjensen"],
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            &["bjensen"],
        ),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, &["bjensen"]),
        (r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER pr"#, &["bjensen"]),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "barbara""#, &["bjensen"]),
        // Unqualified extension attributes are not core attributes (RFC 7644 §3.10).
        (r#"employeeNumber eq "701984""#, &[]),
    ] {
        assert_eq!(selected(filter), expected, "{filter}");
    }
}

#[test]
fn groups_filter_on_display_name_and_members() {
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g1",
        "displayName": "Sales",
        "members": [{"value": "2819c223", "display": "Babs"}, {"value": "abc", "type": "User"}]
    });
    for (filter, expected) in [
        (r#"displayName eq "Sales""#, true),
        (r#"displayName eq "sales""#, true),
        (r#"displayName eq "Sales2""#, false),
        (r#"members[value eq "abc"]"#, true),
        // members.value is caseExact.
        (r#"members[value eq "ABC"]"#, false),
        (r#"members.value eq "2819c223""#, true),
        (r#"members eq "abc""#, true),
        ("members pr", true),
        (r#"members.type eq "user""#, true),
        ("members.type pr and members.display pr", true),
        (r#"members[type eq "User" and display pr]"#, false),
    ] {
        let f = Filter::parse(filter).unwrap();
        assert_eq!(f.matches(&group, &GROUP_TYPE), expected, "{filter}");
    }
    assert!(!Filter::parse("members pr").unwrap().matches(&json!({"members": []}), &GROUP_TYPE));
}

#[test]
fn strings_honour_case_exact() {
    let u = jsmith();
    // id and externalId are caseExact; userName and emails are not.
    assert!(matches(r#"id eq "26118915-6090-4610-87e4-49d8ca9f808d""#, &u));
    assert!(!matches(r#"id eq "26118915-6090-4610-87E4-49D8CA9F808D""#, &u));
    assert!(matches(r#"externalId eq "AbC-1""#, &u));
    assert!(!matches(r#"externalId eq "abc-1""#, &u));
    assert!(!matches(r#"externalId sw "ab""#, &u));
    assert!(matches(r#"externalId sw "Ab""#, &u));
    assert!(matches(r#"externalId ne "abc-1""#, &u));
    assert!(matches(r#"userName eq "JSMITH""#, &u));
    assert!(matches(r#"emails.value ew "@EXAMPLE.ORG""#, &u));
    assert!(matches(r#"emails co "SMITH@""#, &u));
    // Unicode lower case, in every operator.
    let o = omalley();
    for filter in [
        r#"displayName eq "ÆRØSKØBING ØLSTUE""#,
        r#"displayName sw "ærø""#,
        r#"displayName ew "ØLSTUE""#,
        r#"displayName co "KØB""#,
        r#"displayName gt "ærøskøbing""#,
        r#"displayName lt "ÆRØSKØBING ØLSTUF""#,
        r#"displayName ge "ÆRØSKØBING ØLSTUE""#,
        r#"displayName le "ærøskøbing ølstue""#,
    ] {
        assert!(matches(filter, &o), "{filter}");
    }
    assert!(!matches(r#"displayName sw "ØLSTUE""#, &o));
    assert!(!matches(r#"displayName ew "ærø""#, &o));
    // Lexicographic order on strings.
    assert!(matches(r#"userName gt "b""#, &u));
    assert!(!matches(r#"userName lt "b""#, &u));
    assert!(matches(r#"id ge "26118915""#, &u));
}

/// A resource type with every attribute type, for typed comparisons.
static TYPED_SCHEMA: Schema = Schema {
    id: "urn:example:Typed",
    name: "Typed",
    description: "",
    attributes: &[
        Attribute::new("logins", AttributeType::Integer, ""),
        Attribute::new("score", AttributeType::Decimal, ""),
        Attribute::new("lucky", AttributeType::Integer, "").multi(),
        Attribute::new("blob", AttributeType::Binary, ""),
        Attribute::boolean("verified", ""),
        Attribute::date_time("seen", ""),
        Attribute::string("tags", "").multi(),
    ],
};

static TYPED: ResourceType = ResourceType {
    id: "Typed",
    name: "Typed",
    endpoint: "/Typed",
    description: "",
    schema: &TYPED_SCHEMA,
    extensions: &[],
};

#[test]
fn typed_comparisons() {
    let r = json!({
        "logins": 42, "score": 2.5, "lucky": [7, 13, -1], "blob": "AAEC", "verified": false,
        "seen": "2024-02-29T23:30:00-01:00", "tags": ["Red", "green"]
    });
    for (filter, expected) in [
        ("logins eq 42", true),
        ("logins eq 42.0", true),
        ("logins gt 41", true),
        ("logins ge 42", true),
        ("logins lt 42", false),
        ("logins le 42.5", true),
        ("logins gt 9007199254740993", false),
        (r#"logins eq "42""#, true),
        ("logins co 4", false),
        ("logins sw 4", false),
        ("score gt 2", true),
        ("score lt 2.500001", true),
        ("score eq 2.5", true),
        ("score eq 25e-1", true),
        ("lucky eq 13", true),
        ("lucky lt 0", true),
        ("lucky gt 13", false),
        ("lucky ne 13", false),
        ("lucky ne 14", true),
        ("verified eq false", true),
        ("verified eq true", false),
        ("verified ne true", true),
        (r#"verified eq "False""#, true),
        ("verified gt true", false),
        ("verified lt true", false),
        ("verified co false", false),
        // Chronological, across offsets and fractions.
        (r#"seen eq "2024-03-01T00:30:00Z""#, true),
        (r#"seen eq "2024-03-01T01:30:00.0000000+01:00""#, true),
        (r#"seen gt "2024-03-01T00:29:59.9999999Z""#, true),
        (r#"seen lt "2024-03-01T00:30:00.0000001Z""#, true),
        (r#"seen ge "2024-03-01T00:30:00""#, true),
        (r#"seen le "0001-01-01T00:00:00Z""#, false),
        (r#"seen gt "not a date""#, false),
        (r#"seen ne "not a date""#, true),
        (r#"seen sw "2024""#, false),
        (r#"blob eq "AAEC""#, true),
        (r#"blob gt "A""#, true),
        (r#"tags eq "red""#, true),
        (r#"tags eq "blue""#, false),
        (r#"tags ne "green""#, false),
        (r#"tags co "ree""#, true),
    ] {
        let f = Filter::parse(filter).unwrap();
        assert_eq!(f.matches(&r, &TYPED), expected, "{filter}");
    }
    // Integers compare exactly beyond f64's precision.
    let big = json!({"logins": 9007199254740993_i64});
    assert!(!Filter::parse("logins eq 9007199254740992").unwrap().matches(&big, &TYPED));
    assert!(Filter::parse("logins gt 9007199254740992").unwrap().matches(&big, &TYPED));
}

#[test]
fn presence_null_and_missing_attributes() {
    let r = json!({
        "userName": "x", "title": "", "nickName": null, "emails": [], "name": {}, "phoneNumbers": [{"value": ""}],
        "ims": [{"value": "", "type": "aim"}], "addresses": [{"formatted": "1 Main St"}]
    });
    for (filter, expected) in [
        ("userName pr", true),
        ("title pr", false),
        ("nickName pr", false),
        ("displayName pr", false),
        ("emails pr", false),
        ("name pr", false),
        ("phoneNumbers pr", false),
        ("phoneNumbers.value pr", false),
        ("ims pr", true),
        ("ims.value pr", false),
        ("ims.type pr", true),
        ("addresses.formatted pr", true),
        ("addresses.locality pr", false),
        // eq null means not present, ne null means present.
        ("title eq null", true),
        ("displayName eq null", true),
        ("userName eq null", false),
        ("userName ne null", true),
        ("userName gt null", false),
        ("emails eq null", true),
        // ne is the negation of eq: true for a missing attribute.
        (r#"displayName ne "x""#, true),
        (r#"displayName eq "x""#, false),
        (r#"emails.value ne "a@b""#, true),
        (r#"not (displayName eq "x")"#, true),
        // Unknown attributes make every comparison false, ne included.
        (r#"foo eq "x""#, false),
        (r#"foo ne "x""#, false),
        ("foo pr", false),
        ("name.foo pr", false),
        ("userName.foo pr", false),
        (r#"not (foo eq "x")"#, true),
        // A complex attribute without `value` does not compare as a whole.
        (r#"name eq "x""#, false),
        (r#"name ne "x""#, false),
        // Keys are looked up case-insensitively.
        (r#"USERNAME eq "X""#, true),
    ] {
        let f = Filter::parse(filter).unwrap();
        assert_eq!(f.matches(&r, &USER_TYPE), expected, "{filter}");
    }
    let shouting = json!({"USERNAME": "x", "EMAILS": [{"VALUE": "a@b", "TYPE": "work"}]});
    assert!(matches(r#"userName eq "x" and emails[type eq "work" and value eq "a@b"]"#, &shouting));
}

#[test]
fn value_paths_match_one_element_with_all_conditions() {
    let u = json!({"emails": [
        {"value": "a@work.com", "type": "home"},
        {"value": "b@home.com", "type": "work", "primary": true}
    ]});
    // Each condition holds on some element, but no single element satisfies both.
    assert!(!matches(r#"emails[type eq "work" and value co "@work.com"]"#, &u));
    assert!(matches(r#"emails.type eq "work" and emails.value co "@work.com""#, &u));
    assert!(matches(r#"emails[type eq "work" and primary eq true]"#, &u));
    assert!(matches(r#"emails[not (type eq "work")]"#, &u));
    assert!(!matches(r#"emails[foo eq "x"]"#, &u));
    assert!(!matches(r#"userName[value eq "x"]"#, &json!({"userName": "x"})));
    // A single-valued complex attribute is its own element (Entra removes `manager[value eq "id"]`).
    let manager = format!(r#"{URN_ENTERPRISE_USER}:manager[value eq "26118915-6090-4610-87e4-49d8ca9f808d"]"#);
    assert!(matches(&manager, &bjensen()));
    assert!(matches(r#"name[givenName sw "bar"]"#, &bjensen()));
    // Entra also stores the manager as a bare id.
    let bare = json!({URN_ENTERPRISE_USER: {"manager": "m-1"}});
    assert!(matches(&format!(r#"{URN_ENTERPRISE_USER}:manager eq "m-1""#), &bare));
    assert!(!matches(&format!(r#"{URN_ENTERPRISE_USER}:manager.value eq "m-1""#), &bare));
    // Elements alone, as a PATCH path filter uses them.
    let emails = USER_TYPE.resolve(None, "emails").unwrap().attribute;
    let f = Filter::parse(r#"type eq "WORK" and primary eq true"#).unwrap();
    assert!(f.matches_element(&u["emails"][1], emails));
    assert!(!f.matches_element(&u["emails"][0], emails));
}

#[test]
fn unquoted_numbers_and_booleans_compare_as_text_with_strings() {
    let r = json!({"id": "12345", "externalId": "true", "userName": "1.5"});
    assert!(matches("id eq 12345", &r));
    assert!(matches("externalId eq true", &r));
    assert!(matches("userName eq 1.5", &r));
    assert!(!matches("id gt 2", &r));
}

fn invalid(filter: &str, rt: &ResourceType) -> String {
    match Filter::parse(filter).unwrap().validate(rt) {
        Err(ScimError { status: 400, scim_type: Some(ScimType::InvalidFilter), detail }) => detail,
        other => panic!("{filter}: expected invalidFilter, got {other:?}"),
    }
}

#[test]
fn validate_names_what_is_wrong() {
    for (filter, detail) in [
        (r#"applicationId eq "x""#, "unknown attribute \"applicationId\": User has no such attribute"),
        (r#"name.foo eq "x""#, "unknown attribute \"name.foo\": \"name\" has no sub-attribute \"foo\""),
        (
            "userName.foo pr",
            "unknown attribute \"userName.foo\": \"userName\" is not complex and has no sub-attributes",
        ),
        (
            r#"employeeNumber eq "1""#,
            "unknown attribute \"employeeNumber\": User has no such attribute; the extension attribute is \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\"",
        ),
        (r#"urn:x:y:userName eq "1""#, "unknown attribute \"urn:x:y:userName\": User has no schema \"urn:x:y\""),
        (r#"emails[foo eq "x"]"#, "unknown attribute \"foo\": \"emails\" has no sub-attribute \"foo\""),
        (
            r#"emails[value.x eq "x"]"#,
            "unknown attribute \"value.x\" inside \"emails[...]\": write a sub-attribute name alone, such as \"value\"",
        ),
        (
            r#"userName[value eq "x"]"#,
            "\"userName\" is a string, not a complex attribute: a value filter [...] applies to attributes such as emails",
        ),
        (
            r#"name eq "x""#,
            "\"name\" is a complex attribute: compare one of its sub-attributes, such as \"name.formatted\"",
        ),
        ("active gt true", "\"active\" is a boolean: gt does not apply to it (RFC 7644 §3.4.2.2)"),
        (r#"active eq "maybe""#, "\"active\" is a boolean: expected true or false, found \"maybe\""),
        (
            r#"meta.lastModified gt "yesterday""#,
            "\"meta.lastModified\" is a dateTime: expected an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\", found \"yesterday\"",
        ),
    ] {
        assert_eq!(invalid(filter, &USER_TYPE), detail, "{filter}");
    }
    assert_eq!(
        invalid(r#"userName eq "x""#, &GROUP_TYPE),
        "unknown attribute \"userName\": Group has no such attribute"
    );
    assert_eq!(invalid("logins eq true", &TYPED), "\"logins\" is an integer: expected a number, found true");
    for ok in [
        r#"members[value eq "x"]"#,
        r#"members.$ref pr"#,
        r#"displayName eq "Sales" and externalId eq null"#,
        r#"meta.lastModified ge "0001-01-03T00:00:00.0000000Z""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#,
        "id eq 42",
    ] {
        assert_eq!(Filter::parse(ok).unwrap().validate(&GROUP_TYPE), Ok(()), "{ok}");
    }
    let emails = USER_TYPE.resolve(None, "emails").unwrap().attribute;
    assert!(Filter::parse(r#"type eq "work""#).unwrap().validate_element(emails).is_ok());
    assert!(Filter::parse(r#"kind eq "work""#).unwrap().validate_element(emails).is_err());
}
