//! Loader, digest, built-in data and registry tests.

use std::collections::BTreeMap;

use super::*;
use crate::canonical::sha256_hex;

const GOOD_TOML: &str = r#"
schema_version = 1
key = "acme"
name = "Acme"
retention_days = 30

[permissions]
default = ["filesystem:read"]
max = ["filesystem:read", "database:read:*"]
"#;

const GOOD_CEDAR: &str = r#"
@id("acme.no_interns")
forbid (principal, action == Action::"invoke", resource) when { principal.role == "intern" };
"#;

fn bundle(toml: &str, cedar: &str) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (MANIFEST_FILE.to_owned(), toml.as_bytes().to_vec()),
        (POLICY_FILE.to_owned(), cedar.as_bytes().to_vec()),
    ])
}

fn load(files: &BTreeMap<String, Vec<u8>>) -> Result<Preset, PresetError> {
    load_bundle(files, "up", PresetSource::Uploaded)
}

#[test]
fn builtins_carry_the_spec_data() {
    let registry = PresetRegistry::builtin();
    let keys: Vec<&str> = registry.list().iter().map(|p| p.key()).collect();
    assert_eq!(keys, ["hipaa", "sox", "legal_privilege", "default"]);

    let hipaa = registry.get("HIPAA").unwrap();
    let m = hipaa.manifest();
    assert_eq!(m.name, "HIPAA");
    assert_eq!(m.retention_days, 2190);
    assert_eq!(
        m.permissions.default,
        [
            "database:read:patient_data",
            "document:write:reports",
            "filesystem:read"
        ]
    );
    assert_eq!(m.permissions.max.len(), 7);
    assert_eq!(m.permissions.forbidden, ["network:smtp:send:external"]);
    assert_eq!(m.flow_rules.len(), 2);
    assert_eq!(m.flow_rules[1].forbidden_destinations, ["public", "external"]);
    assert!(m.audit.tamper_proof && !m.audit.segregation_of_duties);
    assert_eq!(m.metadata.get("jurisdiction").map(String::as_str), Some("US"));
    assert_eq!(m.content.warn_categories, ["unauthorized_advice"]);
    let names: Vec<&str> = m.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["pii", "keywords", "secrets"]);
    assert_eq!(m.plugins[0].config["mode"], "redact");
    assert_eq!(
        hipaa.module("keywords").unwrap().len(),
        include_bytes!("../../../../presets/hipaa/keywords.wasm").len()
    );

    let sox = registry.get("sox").unwrap();
    assert!(sox.manifest().audit.segregation_of_duties);
    assert_eq!(sox.manifest().retention_days, 2555);
    assert_eq!(
        sox.manifest().human_approvals,
        ["send_external_communication", "modify_financial_records"]
    );

    let legal = registry.get("  Legal ").unwrap();
    assert_eq!(legal.key(), "legal_privilege");
    assert_eq!(legal.name(), "Legal Privilege");
    assert_eq!(legal.manifest().retention_days, 3650);

    let default = registry.get("default").unwrap();
    assert_eq!(default.manifest().ceiling(), None);
    assert_eq!(
        default.manifest().content.blocked_categories,
        ["hate_bias_pii", "threats", "violence"]
    );
    assert!(registry.get("unknown").is_none());
}

#[test]
fn descriptor_has_the_listing_fields() {
    let registry = PresetRegistry::builtin();
    let d = serde_json::to_value(registry.get("legal").unwrap().descriptor()).unwrap();
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "name",
        "key",
        "required_proofs",
        "human_approvals",
        "retention_days",
        "description",
        "aliases",
        "source",
        "version",
        "digest",
        "permissions",
        "max_permissions",
        "forbidden_permissions",
        "flow_rules",
        "plugins",
        "created_at",
    ] {
        assert!(keys.contains(&k), "missing {k}");
    }
    assert_eq!(d["source"], "builtin");
    assert_eq!(d["version"], 1);
    assert_eq!(d["description"], "");
    assert_eq!(d["aliases"], serde_json::json!(["legal"]));
    assert!(d["created_at"].is_null());
    assert!(d["digest"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn digest_follows_the_formula_and_changes_with_any_input() {
    let files = bundle(GOOD_TOML, GOOD_CEDAR);
    let preset = load(&files).unwrap();
    let table: toml::Table = GOOD_TOML.parse().unwrap();
    let mut bytes = b"certior-preset-v1\n".to_vec();
    bytes.extend(crate::canonical::canonical_bytes(&table).unwrap());
    bytes.push(b'\n');
    bytes.extend(GOOD_CEDAR.as_bytes());
    bytes.push(b'\n');
    assert_eq!(preset.digest(), format!("sha256:{}", sha256_hex(&bytes)));

    let other_cedar = load(&bundle(GOOD_TOML, "// nothing\n")).unwrap();
    assert_ne!(other_cedar.digest(), preset.digest());
    let other_toml = load(&bundle(&GOOD_TOML.replace("30", "31"), GOOD_CEDAR)).unwrap();
    assert_ne!(other_toml.digest(), preset.digest());
    // Formatting alone does not change the digest: it covers the parsed manifest.
    let reformatted = load(&bundle(
        &GOOD_TOML.replace("retention_days = 30", "retention_days   =   30"),
        GOOD_CEDAR,
    ))
    .unwrap();
    assert_eq!(reformatted.digest(), preset.digest());
}

#[test]
fn toml_syntax_error() {
    let err = load(&bundle("key = \"acme\"\nname = ", GOOD_CEDAR)).unwrap_err();
    assert!(
        matches!(&err, PresetError::TomlSyntax { file, .. } if file == "up/preset.toml"),
        "{err}"
    );
}

#[test]
fn unknown_field_is_named_with_its_table() {
    let toml = GOOD_TOML.replace("max =", "maximum =");
    let err = load(&bundle(&toml, GOOD_CEDAR)).unwrap_err();
    match &err {
        PresetError::UnknownField { file, field, .. } => {
            assert_eq!(file, "up/preset.toml");
            assert_eq!(field, "permissions.maximum");
        }
        other => panic!("expected UnknownField, got {other}"),
    }
    assert!(err.to_string().contains("fix:"));
}

#[test]
fn missing_and_invalid_fields() {
    let err = load(&bundle(&GOOD_TOML.replace("retention_days = 30\n", ""), GOOD_CEDAR)).unwrap_err();
    assert!(
        matches!(&err, PresetError::InvalidField { field, .. } if field == "retention_days"),
        "{err}"
    );
    let err = load(&bundle(
        &GOOD_TOML.replace("retention_days = 30", "retention_days = \"x\""),
        GOOD_CEDAR,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, PresetError::InvalidField { field, .. } if field == "retention_days"),
        "{err}"
    );
    let err = load(&bundle(
        &GOOD_TOML.replace("key = \"acme\"", "key = \"Acme!\""),
        GOOD_CEDAR,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, PresetError::InvalidField { field, .. } if field == "key"),
        "{err}"
    );
    let err = load(&bundle(
        &GOOD_TOML.replace("\"filesystem:read\"]\nmax", "\"file system\"]\nmax"),
        GOOD_CEDAR,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, PresetError::InvalidField { field, .. } if field == "permissions.default[0]"),
        "{err}"
    );
}

#[test]
fn missing_policy_file() {
    let mut files = bundle(GOOD_TOML, GOOD_CEDAR);
    files.remove(POLICY_FILE);
    let err = load(&files).unwrap_err();
    assert!(
        matches!(&err, PresetError::MissingFile { file, .. } if file == "up/policy.cedar"),
        "{err}"
    );
}

#[test]
fn cedar_syntax_error() {
    let err = load(&bundle(
        GOOD_TOML,
        "@id(\"x\") permit (principal, action, resource) when {",
    ))
    .unwrap_err();
    assert!(
        matches!(&err, PresetError::CedarSyntax { file, .. } if file == "up/policy.cedar"),
        "{err}"
    );
}

#[test]
fn cedar_schema_violation() {
    let cedar = "@id(\"acme.bad\")\nforbid (principal, action == Action::\"invoke\", resource) when { resource.colour == \"red\" };";
    let err = load(&bundle(GOOD_TOML, cedar)).unwrap_err();
    assert!(
        matches!(&err, PresetError::CedarSchema { file, .. } if file == "up/policy.cedar"),
        "{err}"
    );
}

#[test]
fn cedar_ids_are_required_unique_and_not_reserved() {
    let no_id = "permit (principal, action, resource);";
    assert!(matches!(
        load(&bundle(GOOD_TOML, no_id)).unwrap_err(),
        PresetError::CedarPolicyId { .. }
    ));
    let dup = "@id(\"a\") permit (principal, action, resource);\n@id(\"a\") permit (principal, action, resource);";
    let err = load(&bundle(GOOD_TOML, dup)).unwrap_err();
    assert!(err.to_string().contains("used twice"), "{err}");
    for reserved in [
        "acme.ceiling",
        "acme.forbidden.0",
        "acme.flow.1",
        "acme.approval",
        "role.x",
        "stage.y",
    ] {
        let text = format!("@id(\"{reserved}\") permit (principal, action, resource);");
        let err = load(&bundle(GOOD_TOML, &text)).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{reserved}: {err}");
    }
}

fn with_plugin(module: &[u8], sha: &str) -> BTreeMap<String, Vec<u8>> {
    let toml = format!(
        "{GOOD_TOML}\n[[plugins]]\nname = \"scan\"\nfile = \"scan.wasm\"\nsha256 = \"{sha}\"\nhooks = [\"content\"]\nprovides = [\"pii\"]\n[plugins.config]\nmode = \"redact\"\n"
    );
    let mut files = bundle(&toml, GOOD_CEDAR);
    files.insert("scan.wasm".into(), module.to_vec());
    files
}

/// A module with the ABI v1 exports except those in `without`; it answers `allow`.
fn abi_module(without: &[&str]) -> Vec<u8> {
    let export = |name: &str| {
        if without.contains(&name) {
            String::new()
        } else {
            format!("(export \"{name}\")")
        }
    };
    wat::parse_str(format!(
        r#"(module (memory {} 1) (data (i32.const 1024) "{{\"action\":\"allow\"}}")
             (func {} (result i32) i32.const 1)
             (func {} (param i32) (result i32) i32.const 4096)
             (func {} (param i32 i32) (result i64) i64.const {}))"#,
        export("memory"),
        export("certior_abi_version"),
        export("certior_alloc"),
        export("certior_evaluate"),
        (1024u64 << 32) | 18
    ))
    .unwrap()
}

#[test]
fn plugins_are_parsed_and_pinned() {
    let module = abi_module(&[]);
    let preset = load(&with_plugin(&module, &sha256_hex(&module))).unwrap();
    let plugin = &preset.manifest().plugins[0];
    assert_eq!(plugin.hooks, [Hook::Content]);
    assert_eq!(plugin.config["mode"], "redact");
    assert_eq!(preset.module("scan").map(|m| &m[..]), Some(&module[..]));
    assert_eq!(preset.plugin_digests()["scan"], sha256_hex(&module));
    assert_eq!(preset.plugins_for(Hook::ToolCall).count(), 0);
}

#[test]
fn modules_must_meet_the_abi() {
    let module = abi_module(&["certior_evaluate"]);
    let err = load(&with_plugin(&module, &sha256_hex(&module))).unwrap_err();
    assert_eq!(
        err,
        PresetError::InvalidModule {
            file: "up/scan.wasm".into(),
            reason: "missing export `certior_evaluate`".into()
        }
    );
    assert!(err
        .to_string()
        .starts_with("up/scan.wasm: is not a usable plugin module: missing export `certior_evaluate`"));

    let importing = wat::parse_str(
        r#"(module (import "env" "clock" (func)) (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 0)
             (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    let err = load(&with_plugin(&importing, &sha256_hex(&importing))).unwrap_err();
    assert!(err.to_string().contains("forbidden import `env.clock`"), "{err}");

    let garbage = b"\0asm\x01\0\0\0garbage";
    let err = load(&with_plugin(garbage, &sha256_hex(garbage))).unwrap_err();
    assert!(
        matches!(&err, PresetError::InvalidModule { file, reason } if file == "up/scan.wasm" && reason.starts_with("invalid module")),
        "{err}"
    );
}

#[test]
fn digest_mismatch() {
    let err = load(&with_plugin(b"\0asm\x01\0\0\0", &"0".repeat(64))).unwrap_err();
    match &err {
        PresetError::DigestMismatch { file, index, .. } => {
            assert_eq!(file, "up/scan.wasm");
            assert_eq!(*index, 0);
        }
        other => panic!("expected DigestMismatch, got {other}"),
    }
}

#[test]
fn missing_module_and_unlisted_file() {
    let mut files = with_plugin(b"x", &sha256_hex(b"x"));
    files.remove("scan.wasm");
    assert!(matches!(load(&files).unwrap_err(), PresetError::MissingFile { file, .. } if file == "up/scan.wasm"));
    let mut files = bundle(GOOD_TOML, GOOD_CEDAR);
    files.insert("notes.txt".into(), b"hi".to_vec());
    assert!(matches!(load(&files).unwrap_err(), PresetError::UnlistedFile { file } if file == "up/notes.txt"));
}

#[test]
fn bad_hook_is_rejected() {
    let toml = format!(
        "{GOOD_TOML}\n[[plugins]]\nname = \"scan\"\nfile = \"scan.wasm\"\nsha256 = \"{}\"\nhooks = [\"network\"]\n",
        sha256_hex(b"x")
    );
    let mut files = bundle(&toml, GOOD_CEDAR);
    files.insert("scan.wasm".into(), b"x".to_vec());
    assert!(matches!(load(&files).unwrap_err(), PresetError::InvalidField { .. }));
}

#[test]
fn directory_presets_override_and_add() {
    let root = tempfile::tempdir().unwrap();
    let hipaa = root.path().join("hipaa");
    std::fs::create_dir(&hipaa).unwrap();
    // Without its plugins, so that the override needs no modules beside it.
    let builtin = include_str!("../../../../presets/hipaa/preset.toml");
    let toml = builtin[..builtin.find("[[plugins]]").unwrap()].replace("retention_days = 2190", "retention_days = 7");
    std::fs::write(hipaa.join(MANIFEST_FILE), toml).unwrap();
    std::fs::write(hipaa.join(POLICY_FILE), "").unwrap();
    let acme = root.path().join("acme");
    std::fs::create_dir(&acme).unwrap();
    std::fs::write(acme.join(MANIFEST_FILE), GOOD_TOML).unwrap();
    std::fs::write(acme.join(POLICY_FILE), GOOD_CEDAR).unwrap();
    std::fs::write(root.path().join("README.md"), "ignored").unwrap();

    let registry = PresetRegistry::builtin().with_directory(root.path()).unwrap();
    let hipaa = registry.get("hipaa").unwrap();
    assert_eq!(
        (hipaa.source(), hipaa.manifest().retention_days),
        (PresetSource::Directory, 7)
    );
    assert_eq!(registry.get("ACME").unwrap().source(), PresetSource::Directory);
    assert_eq!(registry.list().len(), 5);

    std::fs::remove_file(acme.join(POLICY_FILE)).unwrap();
    let err = PresetRegistry::builtin().with_directory(root.path()).unwrap_err();
    assert!(matches!(err, PresetError::MissingFile { .. }));
}

#[test]
fn uploads_cannot_take_builtin_names() {
    let mut registry = PresetRegistry::builtin();
    let legal = GOOD_TOML.replace("key = \"acme\"", "key = \"acme\"\naliases = [\"legal\"]");
    let err = registry
        .insert_uploaded(load(&bundle(&legal, GOOD_CEDAR)).unwrap())
        .unwrap_err();
    assert!(matches!(err, RegistryError::BuiltinName { .. }));
    let acme = registry
        .insert_uploaded(
            load(&bundle(GOOD_TOML, GOOD_CEDAR))
                .unwrap()
                .with_version(2, Some(5.0), None),
        )
        .unwrap();
    assert_eq!(acme.descriptor().version, 2);
    assert!(registry.get("acme").is_some());
}

#[test]
fn uploads_keep_every_version_and_deprecation_keeps_them_resolvable() {
    let mut registry = PresetRegistry::builtin();
    let first = load(&bundle(GOOD_TOML, GOOD_CEDAR))
        .unwrap()
        .with_version(1, Some(1.0), Some("u1".into()));
    let longer = GOOD_TOML.replace("retention_days = 30", "retention_days = 31");
    assert_ne!(longer, GOOD_TOML, "the fixture sets retention_days = 30");
    let second = load(&bundle(&longer, GOOD_CEDAR))
        .unwrap()
        .with_version(2, Some(2.0), Some("u2".into()));
    registry.insert_uploaded(first).unwrap();
    registry.insert_uploaded(second).unwrap();
    assert_eq!(
        registry.get("ACME").unwrap().version(),
        2,
        "the current version answers"
    );
    assert_eq!(registry.version("acme", 1).unwrap().manifest().retention_days, 30);
    assert_eq!(registry.version("acme", 1).unwrap().created_by(), Some("u1"));
    assert!(registry.version("acme", 3).is_none());
    let versions: Vec<u32> = registry.versions("acme").iter().map(|p| p.version()).collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(registry.list().len(), 5, "one entry per key");
    assert_eq!(registry.versions("hipaa").len(), 1);

    assert!(!registry.deprecate("hipaa"), "only uploads can be deprecated");
    assert!(registry.deprecate("acme"));
    assert!(registry.is_deprecated("acme"));
    let acme = registry.get("acme").unwrap();
    let listed = serde_json::to_value(registry.descriptor(&acme)).unwrap();
    assert_eq!(listed["deprecated"], true);
    let hipaa = serde_json::to_value(registry.descriptor(&registry.get("hipaa").unwrap())).unwrap();
    assert!(
        hipaa.get("deprecated").is_none(),
        "only deprecated presets carry the flag"
    );
    registry
        .insert_uploaded(
            load(&bundle(GOOD_TOML, GOOD_CEDAR))
                .unwrap()
                .with_version(3, None, None),
        )
        .unwrap();
    assert!(
        !registry.is_deprecated("acme"),
        "a new version makes the key current again"
    );
}

#[test]
fn uploads_name_bare_files_and_refuse_plugins_that_fail_their_trial() {
    let trap = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 1024)
             (func (export "certior_evaluate") (param i32 i32) (result i64) unreachable))"#,
    )
    .unwrap();
    let toml = format!(
        "{GOOD_TOML}\n[[plugins]]\nname = \"trap\"\nfile = \"trap.wasm\"\nsha256 = \"{}\"\nhooks = [\"content\"]\n",
        sha256_hex(&trap)
    );
    let files = BTreeMap::from([
        (MANIFEST_FILE.to_owned(), toml.into_bytes()),
        ("trap.wasm".to_owned(), trap),
    ]);
    let err = load_upload(files).unwrap_err();
    assert_eq!(err.file(), "trap.wasm");
    assert!(
        err.reason()
            .starts_with("trial evaluation failed in phase `tool_output`: plugin `trap`: trapped"),
        "{}",
        err.reason()
    );

    let err = load_upload(bundle(GOOD_TOML, "permit (")).unwrap_err();
    assert_eq!(err.file(), POLICY_FILE);
    assert!(err.reason().starts_with("Cedar syntax error: "), "{}", err.reason());
    assert!(!err.reason().contains("fix:"));

    let files = BTreeMap::from([(MANIFEST_FILE.to_owned(), GOOD_TOML.as_bytes().to_vec())]);
    assert_eq!(
        load_upload(files).unwrap().policy_text(),
        "",
        "a missing policy.cedar adds no rules"
    );
}
