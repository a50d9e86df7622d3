//! A preset bundle as an upload delivers it: `preset.toml`, `policy.cedar` and one module, split
//! on NUL bytes. Loading must answer `Ok` or a `PresetError`, never panic.
#![no_main]

use std::collections::BTreeMap;

use certior::preset::load_upload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let mut files = BTreeMap::new();
    files.insert("preset.toml".to_owned(), parts.next().unwrap_or_default().to_vec());
    if let Some(policy) = parts.next() {
        files.insert("policy.cedar".to_owned(), policy.to_vec());
    }
    if let Some(module) = parts.next() {
        files.insert("plugin.wasm".to_owned(), module.to_vec());
    }
    let _ = load_upload(files);
});
