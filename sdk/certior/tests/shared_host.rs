//! The process-wide plugin host configured by the embedder (own test binary: the host is global).

use std::collections::BTreeMap;

use certior::plugin_host::{self, PluginLimits};
use certior::preset::{load_bundle, PresetSource};

#[test]
fn init_shared_configures_the_host_presets_load_through_once() {
    let cache = tempfile::tempdir().unwrap();
    let limits = PluginLimits {
        max_instances: 4,
        cache_dir: Some(cache.path().to_path_buf()),
        ..PluginLimits::default()
    };
    assert_eq!(plugin_host::init_shared(limits.clone()).unwrap().limits(), &limits);

    let module = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
             (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    let toml = format!(
        "schema_version = 1\nkey = \"cached\"\nname = \"Cached\"\nretention_days = 1\n\
         [permissions]\ndefault = [\"filesystem:read\"]\n\
         [[plugins]]\nname = \"p\"\nfile = \"p.wasm\"\nsha256 = \"{}\"\nhooks = [\"content\"]\n",
        certior::canonical::sha256_hex(&module)
    );
    let files = BTreeMap::from([
        ("preset.toml".to_owned(), toml.into_bytes()),
        ("policy.cedar".to_owned(), Vec::new()),
        ("p.wasm".to_owned(), module),
    ]);
    load_bundle(&files, "cached", PresetSource::Uploaded).unwrap();
    let entries = std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(entries, 1, "the preset's module was compiled into the configured cache");

    let again = plugin_host::init_shared(PluginLimits::default()).err().unwrap();
    assert!(again.to_string().contains("already running"), "{again}");
}
