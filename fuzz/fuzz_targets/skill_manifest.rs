//! What `certior audit` reads from a repository: SKILL.md frontmatter and `certior.toml` agent
//! chains. Any text gives declarations or an `Invalid` finding, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../server/src/audit_cli/discover.rs"]
mod discover;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let root = Path::new("repo");
    let _ = discover::read_skill(root, &root.join("skills/fuzz/SKILL.md"), text);
    let _ = discover::read_agents(root, &root.join("certior.toml"), text);
});
