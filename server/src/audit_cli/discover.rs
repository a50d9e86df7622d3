//! Finding and reading declarations (spec/RELEASES.md §8.2): `SKILL.md` frontmatter and
//! `certior.toml` agents, in byte order, without following symlinks.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

/// Directories never entered.
const SKIPPED: [&str; 8] = [
    ".git",
    "node_modules",
    "target",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
];
/// Files above this size are not read.
const MAX_FILE: u64 = 1024 * 1024;

/// A capability with the line it was declared on.
#[derive(Debug, Clone)]
pub struct Declared {
    pub capability: String,
    pub line: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Skill {
    pub file: String,
    pub name: String,
    /// `None`: no `metadata.certior.capabilities`.
    pub capabilities: Option<Vec<Declared>>,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub file: String,
    pub name: String,
    /// The line of the `capabilities` key, where findings without a list item point.
    pub capabilities_line: Option<usize>,
    pub preset: Option<String>,
    pub parent: Option<String>,
    pub capabilities: Vec<Declared>,
    pub budget_cents: Option<i64>,
    pub skills: Vec<(String, Option<usize>)>,
}

/// A file that could not be read as a declaration.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub file: String,
    pub subject: String,
    pub is_skill: bool,
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Discovered {
    pub skills: Vec<Skill>,
    /// Agents by file, in file order.
    pub agents: Vec<Vec<Agent>>,
    pub invalid: Vec<Invalid>,
}

/// Every `SKILL.md` and `certior.toml` below `root`, in byte order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name().into_encoded_bytes());
    for entry in entries {
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if kind.is_symlink() {
            continue;
        }
        if kind.is_dir() {
            if !SKIPPED.iter().any(|s| name == *s) {
                walk(&entry.path(), out)?;
            }
        } else if kind.is_file() && (name == "SKILL.md" || name == "certior.toml") {
            out.push(entry.path());
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn parent_name(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The frontmatter of a SKILL.md and the line it starts on (its first content line), or `None`
/// when the file does not open with `---`.
fn frontmatter(text: &str) -> Option<(&str, usize)> {
    let rest = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']) == "---" {
            return Some((&rest[..offset], 2));
        }
        offset += line.len();
    }
    Some((rest, 2))
}

/// Lines of the `capabilities` key and of each listed capability, found in the frontmatter text.
fn skill_lines(front: &str, first_line: usize, caps: &[String]) -> (Option<usize>, Vec<Option<usize>>) {
    let lines: Vec<&str> = front.lines().collect();
    // Block style (`capabilities:`), flow style and the JSON-string form all name the key.
    let key = lines.iter().position(|l| l.contains("capabilities"));
    let Some(key) = key else {
        return (None, vec![None; caps.len()]);
    };
    let mut from = key;
    let found = caps
        .iter()
        .map(|cap| {
            let hit = (from..lines.len()).find(|i| lines[*i].contains(cap.as_str()));
            if let Some(i) = hit {
                from = i;
            }
            hit.map(|i| i + first_line)
        })
        .collect();
    (Some(key + first_line), found)
}

pub(crate) fn read_skill(root: &Path, path: &Path, text: &str) -> Result<Skill, Invalid> {
    let file = relative(root, path);
    let fallback = parent_name(path);
    let invalid = |message: String, line: Option<usize>| Invalid {
        file: file.clone(),
        subject: fallback.clone(),
        is_skill: true,
        line,
        message,
    };
    let Some((front, first)) = frontmatter(text) else {
        return Ok(Skill {
            file: file.clone(),
            name: fallback.clone(),
            capabilities: None,
        });
    };
    let value: Value = if front.trim().is_empty() {
        Value::Null
    } else {
        serde_norway::from_str(front).map_err(|e| {
            let line = e.location().map(|l| l.line() + first - 1);
            invalid(format!("the frontmatter is not valid YAML: {e}"), line)
        })?
    };
    let name = value["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map_or(fallback.clone(), str::to_owned);
    let metadata = match &value["metadata"] {
        Value::String(json) => serde_json::from_str::<Value>(json)
            .map_err(|e| invalid(format!("metadata is a string but not a JSON object: {e}"), None))?,
        other => other.clone(),
    };
    let caps = &metadata["certior"]["capabilities"];
    let capabilities = match caps {
        Value::Null => None,
        Value::Array(items) => {
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                let Some(cap) = item.as_str() else {
                    return Err(invalid("metadata.certior.capabilities must list strings".into(), None));
                };
                list.push(cap.to_owned());
            }
            let (key, lines) = skill_lines(front, first, &list);
            Some(
                list.into_iter()
                    .zip(lines)
                    .map(|(capability, line)| Declared {
                        capability,
                        line: line.or(key),
                    })
                    .collect(),
            )
        }
        _ => {
            let (key, _) = skill_lines(front, first, &[]);
            return Err(invalid(
                "metadata.certior.capabilities must be a list of strings".into(),
                key,
            ));
        }
    };
    Ok(Skill {
        file,
        name,
        capabilities,
    })
}

#[derive(Deserialize)]
struct AgentsFile {
    #[serde(default)]
    agent: Vec<Spanned<AgentEntry>>,
}

#[derive(Deserialize)]
struct AgentEntry {
    name: Spanned<String>,
    preset: Option<String>,
    parent: Option<String>,
    capabilities: Option<Spanned<Vec<Spanned<String>>>>,
    budget_cents: Option<i64>,
    skills: Option<Vec<Spanned<String>>>,
}

fn valid_agent_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

pub(crate) fn read_agents(root: &Path, path: &Path, text: &str) -> Result<Vec<Agent>, Invalid> {
    let file = relative(root, path);
    let invalid = |subject: String, message: String, line: Option<usize>| Invalid {
        file: file.clone(),
        subject,
        is_skill: false,
        line,
        message,
    };
    let parsed: AgentsFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        invalid(
            parent_name(path),
            format!("certior.toml cannot be read: {}", e.message()),
            line,
        )
    })?;
    let mut agents: Vec<Agent> = Vec::new();
    for entry in parsed.agent {
        let agent_line = line_of(text, entry.span().start);
        let entry = entry.into_inner();
        let capabilities_line = entry.capabilities.as_ref().map(|c| line_of(text, c.span().start));
        let name_line = line_of(text, entry.name.span().start);
        let name = entry.name.into_inner();
        if !valid_agent_name(&name) {
            return Err(invalid(
                name,
                "agent names are 1-100 characters of A-Z a-z 0-9 _ . -".into(),
                Some(name_line),
            ));
        }
        if agents.iter().any(|a| a.name == name) {
            return Err(invalid(
                name,
                "agent names must be unique in the file".into(),
                Some(name_line),
            ));
        }
        if entry.budget_cents.is_some_and(|b| b < 0) {
            return Err(invalid(
                name,
                "budget_cents must be an integer >= 0".into(),
                Some(agent_line),
            ));
        }
        let capabilities = entry
            .capabilities
            .map(|list| {
                list.into_inner()
                    .into_iter()
                    .map(|c| Declared {
                        line: Some(line_of(text, c.span().start)),
                        capability: c.into_inner(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        agents.push(Agent {
            file: file.clone(),
            name,
            capabilities_line,
            preset: entry.preset,
            parent: entry.parent,
            capabilities,
            budget_cents: entry.budget_cents,
            skills: entry
                .skills
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s.get_ref().clone(), Some(line_of(text, s.span().start))))
                .collect(),
        });
    }
    Ok(agents)
}

/// Reads every declaration below `root`.
pub fn discover(root: &Path) -> std::io::Result<Discovered> {
    let mut paths = Vec::new();
    walk(root, &mut paths)?;
    let mut out = Discovered::default();
    for path in paths {
        let is_skill = path.file_name().is_some_and(|n| n == "SKILL.md");
        let file = relative(root, &path);
        let oversized = std::fs::metadata(&path).map(|m| m.len() > MAX_FILE).unwrap_or(false);
        let text = if oversized {
            None
        } else {
            std::fs::read(&path).ok().and_then(|b| String::from_utf8(b).ok())
        };
        let Some(text) = text else {
            out.invalid.push(Invalid {
                file,
                subject: parent_name(&path),
                is_skill,
                line: None,
                message: if oversized {
                    "the file is larger than 1 MiB".into()
                } else {
                    "the file cannot be read as UTF-8 text".into()
                },
            });
            continue;
        };
        if is_skill {
            match read_skill(root, &path, &text) {
                Ok(skill) => out.skills.push(skill),
                Err(invalid) => out.invalid.push(invalid),
            }
        } else {
            match read_agents(root, &path, &text) {
                Ok(agents) => out.agents.push(agents),
                Err(invalid) => out.invalid.push(invalid),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontmatter_runs_to_the_closing_line() {
        assert_eq!(frontmatter("---\nname: x\n---\nbody"), Some(("name: x\n", 2)));
        assert_eq!(frontmatter("---\r\nname: x\r\n---\r\n"), Some(("name: x\r\n", 2)));
        assert_eq!(frontmatter("---\nname: x\n"), Some(("name: x\n", 2)));
        assert_eq!(frontmatter("# Title\n---\n"), None);
    }

    #[test]
    fn capability_lines_are_found_after_the_key() {
        let front = "name: r\nmetadata:\n  certior:\n    capabilities:\n      - filesystem:read\n      - network:*\n";
        let (key, lines) = skill_lines(front, 2, &["filesystem:read".into(), "network:*".into()]);
        assert_eq!(key, Some(5));
        assert_eq!(lines, [Some(6), Some(7)]);
    }
}
