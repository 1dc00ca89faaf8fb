//! Any input: parsing a PATCH path never panics, and what parses prints to a path that parses back to the same
//! value (when the printing fits the length limit).

#![no_main]

use idplane_scim::filter::MAX_FILTER_LEN;
use idplane_scim::path::PatchPath;
use idplane_scim::schema::{GROUP_TYPE, USER_TYPE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let Ok(path) = PatchPath::parse(input) else { return };
    let printed = path.to_string();
    if printed.len() <= MAX_FILTER_LEN {
        assert_eq!(PatchPath::parse(&printed).as_ref(), Ok(&path), "{input:?} printed as {printed:?}");
    }
    let _ = path.validate(&USER_TYPE);
    let _ = path.validate(&GROUP_TYPE);
});
