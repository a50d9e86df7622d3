//! RFC 8785 canonical JSON of any parsable document: rendering never panics, its output parses
//! back to the same value, and rendering that again gives the same bytes.
#![no_main]

use certior::canonical::canonical_bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(bytes) = canonical_bytes(&value) else {
        return;
    };
    let reparsed: Value = serde_json::from_slice(&bytes).expect("canonical JSON parses");
    assert_eq!(
        canonical_bytes(&reparsed).expect("renders again"),
        bytes,
        "canonical form is stable"
    );
});
