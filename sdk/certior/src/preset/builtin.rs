//! The four built-in presets, embedded so `certior serve` works from any directory.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::{load_bundle, Preset, PresetSource, MANIFEST_FILE, POLICY_FILE};

/// `(file name, bytes)` of one embedded file.
type EmbeddedFile = (&'static str, &'static [u8]);

/// `(key, files)`. A plugin module joins its preset here with `include_bytes!`.
const BUILTIN_FILES: [(&str, &[EmbeddedFile]); 4] = [
    (
        "hipaa",
        &[
            (MANIFEST_FILE, include_bytes!("../../../../presets/hipaa/preset.toml")),
            (POLICY_FILE, include_bytes!("../../../../presets/hipaa/policy.cedar")),
            ("pii.wasm", include_bytes!("../../../../presets/hipaa/pii.wasm")),
            (
                "keywords.wasm",
                include_bytes!("../../../../presets/hipaa/keywords.wasm"),
            ),
            ("secrets.wasm", include_bytes!("../../../../presets/hipaa/secrets.wasm")),
        ],
    ),
    (
        "sox",
        &[
            (MANIFEST_FILE, include_bytes!("../../../../presets/sox/preset.toml")),
            (POLICY_FILE, include_bytes!("../../../../presets/sox/policy.cedar")),
            ("keywords.wasm", include_bytes!("../../../../presets/sox/keywords.wasm")),
            ("secrets.wasm", include_bytes!("../../../../presets/sox/secrets.wasm")),
        ],
    ),
    (
        "legal_privilege",
        &[
            (
                MANIFEST_FILE,
                include_bytes!("../../../../presets/legal_privilege/preset.toml"),
            ),
            (
                POLICY_FILE,
                include_bytes!("../../../../presets/legal_privilege/policy.cedar"),
            ),
            (
                "keywords.wasm",
                include_bytes!("../../../../presets/legal_privilege/keywords.wasm"),
            ),
        ],
    ),
    (
        "default",
        &[
            (MANIFEST_FILE, include_bytes!("../../../../presets/default/preset.toml")),
            (POLICY_FILE, include_bytes!("../../../../presets/default/policy.cedar")),
            ("pii.wasm", include_bytes!("../../../../presets/default/pii.wasm")),
            (
                "secrets.wasm",
                include_bytes!("../../../../presets/default/secrets.wasm"),
            ),
        ],
    ),
];

/// The embedded built-in presets in lookup order (`hipaa`, `sox`, `legal_privilege`,
/// `default`). They are part of the binary, so a failure here is a build defect: the tests load
/// them on every run. They are loaded once per process and handed out as clones, which share
/// their loaded plugins: a built-in's modules are pre-initialized at most once per process.
pub fn builtin_presets() -> Vec<Preset> {
    static LOADED: OnceLock<Vec<Preset>> = OnceLock::new();
    LOADED.get_or_init(load_builtins).clone()
}

fn load_builtins() -> Vec<Preset> {
    BUILTIN_FILES
        .iter()
        .map(|(key, files)| {
            let files: BTreeMap<String, Vec<u8>> = files.iter().map(|(n, b)| ((*n).to_owned(), b.to_vec())).collect();
            load_bundle(&files, &format!("presets/{key}"), PresetSource::Builtin)
                .unwrap_or_else(|e| panic!("built-in preset `{key}` is invalid: {e}"))
        })
        .collect()
}
