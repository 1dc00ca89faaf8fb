//! Any input: parsing never panics; what parses prints to a filter that parses back to the same tree (when the
//! printing fits the length limit), and evaluates and validates without panicking.

#![no_main]

use idplane_scim::filter::{Filter, MAX_FILTER_LEN};
use idplane_scim::schema::{GROUP_TYPE, USER_TYPE};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fn resource() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223",
        "externalId": "AbC",
        "userName": "bjensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "title": "",
        "active": true,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "", "type": "home"}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m1", "employeeNumber": "7"},
        "members": [{"value": "1"}]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let Ok(filter) = Filter::parse(input) else { return };
    let printed = filter.to_string();
    if printed.len() <= MAX_FILTER_LEN {
        assert_eq!(Filter::parse(&printed).as_ref(), Ok(&filter), "{input:?} printed as {printed:?}");
    }
    let resource = resource();
    let _ = filter.matches(&resource, &USER_TYPE);
    let _ = filter.matches(&resource, &GROUP_TYPE);
    let _ = filter.validate(&USER_TYPE);
    let _ = filter.attr_paths();
});
