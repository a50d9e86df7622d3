//! Capability strings and lists (spec §7.1): validation never panics, every valid capability
//! covers itself, `*` covers everything, and a trailing-`*` entry covers what it prefixes.
#![no_main]

use certior::capability::{covered, entry_covers, is_subset, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(2, '\n');
    let capability = parts.next().unwrap_or_default();
    let entries: Vec<&str> = parts.next().unwrap_or_default().split(',').collect();
    let _ = validate(capability);
    for entry in &entries {
        let _ = validate(entry);
    }
    assert!(entry_covers(capability, capability));
    assert!(entry_covers("*", capability));
    assert!(covered(capability, &[format!("{capability}*")]));
    if covered(capability, &entries) {
        assert!(is_subset(&[capability], &entries));
    }
});
