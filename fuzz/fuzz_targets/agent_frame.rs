//! Any input: decoding an agent protocol message never panics, and a frame that decodes encodes to a message that
//! decodes back to the same frame.

#![no_main]

use idplane_agent_protocol::{Decoded, decode, encode};
use libfuzzer_sys::fuzz_target;

const MAX_BODY: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(Decoded::Frame(frame)) = decode(data, MAX_BODY) else { return };
    let Ok(bytes) = encode(&frame) else { return };
    assert_eq!(decode(&bytes, MAX_BODY), Ok(Decoded::Frame(frame)));
});
