//! `certior preset new NAME`: a folder from which an author builds, tests and uploads a preset
//! with one Wasm plugin (templates under `server/scaffold/`).
//!
//! The guest SDK (`sdk/plugin`) is copied into the folder from the binary, so the scaffold
//! builds anywhere, offline, with the toolchain the built-in plugins use, and matches the ABI of
//! the server that made it.

use std::path::{Path, PathBuf};

use certior::preset::is_valid_key;

/// `(path in the scaffold, template)`; `{{name}}` becomes the preset key.
const TEMPLATES: [(&str, &str); 10] = [
    ("Cargo.toml", include_str!("../scaffold/Cargo.toml")),
    ("README.md", include_str!("../scaffold/README.md")),
    ("build.sh", include_str!("../scaffold/build.sh")),
    ("plugin/Cargo.toml", include_str!("../scaffold/plugin/Cargo.toml")),
    ("plugin/src/lib.rs", include_str!("../scaffold/plugin/src/lib.rs")),
    ("preset/preset.toml", include_str!("../scaffold/preset/preset.toml")),
    ("preset/policy.cedar", include_str!("../scaffold/preset/policy.cedar")),
    ("inputs/blocked.txt", include_str!("../scaffold/inputs/blocked.txt")),
    ("inputs/clean.txt", include_str!("../scaffold/inputs/clean.txt")),
    (".gitignore", "/target\n/Cargo.lock\n"),
];

/// The guest SDK's files, `(path under sdk/plugin, contents)`.
const SDK_FILES: [(&str, &str); 18] = [
    ("Cargo.toml", include_str!("../../sdk/plugin/Cargo.toml")),
    ("src/abi/mod.rs", include_str!("../../sdk/plugin/src/abi/mod.rs")),
    ("src/abi/state.rs", include_str!("../../sdk/plugin/src/abi/state.rs")),
    ("src/abi/wasm.rs", include_str!("../../sdk/plugin/src/abi/wasm.rs")),
    ("src/category.rs", include_str!("../../sdk/plugin/src/category.rs")),
    ("src/export.rs", include_str!("../../sdk/plugin/src/export.rs")),
    ("src/input.rs", include_str!("../../sdk/plugin/src/input.rs")),
    ("src/lib.rs", include_str!("../../sdk/plugin/src/lib.rs")),
    ("src/luhn.rs", include_str!("../../sdk/plugin/src/luhn.rs")),
    ("src/normalize.rs", include_str!("../../sdk/plugin/src/normalize.rs")),
    (
        "src/pattern_set.rs",
        include_str!("../../sdk/plugin/src/pattern_set.rs"),
    ),
    ("src/plugin.rs", include_str!("../../sdk/plugin/src/plugin.rs")),
    ("src/recombine.rs", include_str!("../../sdk/plugin/src/recombine.rs")),
    ("src/redact.rs", include_str!("../../sdk/plugin/src/redact.rs")),
    ("src/screen.rs", include_str!("../../sdk/plugin/src/screen.rs")),
    ("src/span.rs", include_str!("../../sdk/plugin/src/span.rs")),
    ("src/verdict.rs", include_str!("../../sdk/plugin/src/verdict.rs")),
    ("src/warm_up.txt", include_str!("../../sdk/plugin/src/warm_up.txt")),
];

/// In the repository the SDK is a member of the `plugins/` workspace; the copy stands alone.
const SDK_WORKSPACE_LINES: &str =
    "# Built and tested inside the plugins workspace, which owns the Cargo.lock pinning its crates.\n\
                                   workspace = \"../../plugins\"\n";

/// Writes the scaffold for preset `name` into the new directory `parent/name` and returns it.
pub fn create(parent: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if !is_valid_key(name) {
        anyhow::bail!(
            "invalid preset name {name:?}: use 2..40 lower-case letters, digits or `_`, starting with a letter \
             (it becomes the preset key, the plugin name and the crate name)"
        );
    }
    let root = parent.join(name);
    if root.exists() {
        anyhow::bail!("{} already exists; choose another name or directory", root.display());
    }
    for (path, template) in TEMPLATES {
        write(&root.join(path), &template.replace("{{name}}", name))?;
    }
    for (path, contents) in SDK_FILES {
        let contents = if path == "Cargo.toml" {
            contents.replace(SDK_WORKSPACE_LINES, "")
        } else {
            contents.to_owned()
        };
        write(&root.join("certior-plugin").join(path), &contents)?;
    }
    make_executable(&root.join("build.sh"))?;
    Ok(root)
}

fn write(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| anyhow::anyhow!("cannot create {}: {err}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|err| anyhow::anyhow!("cannot make {} executable: {err}", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `sdk/plugin` is copied, so an SDK change cannot leave scaffolds behind.
    #[test]
    fn the_sdk_copy_is_complete() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/plugin");
        let mut found = Vec::new();
        let mut dirs = vec![sdk.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    found.push(path.strip_prefix(&sdk).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        let copied: Vec<&str> = SDK_FILES.iter().map(|(path, _)| *path).collect();
        assert_eq!(found, copied);
        assert!(SDK_FILES[0].1.contains(SDK_WORKSPACE_LINES));
    }

    /// Manifest and Cedar rules pass the upload checks; only the module is left to build.
    #[test]
    fn scaffolds_a_preset_folder_that_needs_only_its_module() {
        let dir = tempfile::tempdir().unwrap();
        let root = create(dir.path(), "acme_tickets").unwrap();
        let files = certior::preset::bundle_files(&root.join("preset")).unwrap();
        let err = certior::preset::load_upload(files).unwrap_err();
        assert_eq!(err.file(), "acme_tickets.wasm");
        assert!(err.reason().starts_with("is missing"), "{}", err.reason());
        let sdk = std::fs::read_to_string(root.join("certior-plugin/Cargo.toml")).unwrap();
        assert!(!sdk.contains("workspace"));
        assert!(
            create(dir.path(), "acme_tickets").is_err(),
            "an existing folder is kept"
        );
        assert!(create(dir.path(), "Bad-Name").is_err());
    }
}
