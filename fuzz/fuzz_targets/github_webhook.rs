//! A GitHub delivery as the webhook receives it: the event name on the first line, the body
//! after it. The signature check and the event dispatch answer for any input, never panic.
#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sha2::Sha256;

#[allow(dead_code)]
#[path = "../../server/src/releases/github/events.rs"]
mod events;
#[allow(dead_code)]
#[path = "../../server/src/releases/repo_key.rs"]
pub mod repo_key;
#[allow(dead_code)]
#[path = "../../server/src/releases/github/signature.rs"]
mod signature;
#[allow(dead_code)]
#[path = "../../server/src/releases/sha.rs"]
pub mod sha;

/// Where `events.rs` finds its siblings inside the server.
mod releases {
    pub use super::{repo_key, sha};
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (event, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").expect("any key length");
    mac.update(body);
    let genuine = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert!(signature::verify(b"secret", body, [genuine.as_bytes()].into_iter()));
    assert!(!signature::verify(b"other", body, [genuine.as_bytes()].into_iter()));
    let Ok(event) = std::str::from_utf8(event) else {
        return;
    };
    if let Ok(payload) = serde_json::from_slice::<Map<String, Value>>(body) {
        let _ = events::dispatch(event, &payload, 1.0e9).outcome();
    }
});
