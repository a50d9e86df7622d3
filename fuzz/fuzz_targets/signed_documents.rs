//! What `POST /trust/verify` parses from outside: compact tokens and signed JSON documents.
//! Verification answers a reason for anything, and never calls forged input valid.
#![no_main]

use certior::certificate::{verify_document, TrustedKeys};
use certior::signing::SigningKeyring;
use certior::verify_token;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let ring = SigningKeyring::from_seed([7u8; 32], 0.0);
    let keys = TrustedKeys::from_entries(ring.public_keys()).expect("own keys are valid");
    if let Ok(text) = std::str::from_utf8(data) {
        let (verdict, _) = verify_token(text, &keys, 1.0e9);
        assert!(!verdict.valid || verdict.signature_valid);
    }
    if let Ok(document) = serde_json::from_slice::<Value>(data) {
        let verdict = verify_document(&document, &keys, 1.0e9);
        assert!(!verdict.valid || verdict.signature_valid);
        let _ = TrustedKeys::from_json(&document);
    }
});
