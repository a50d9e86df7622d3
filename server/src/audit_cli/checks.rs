//! The checks of spec/RELEASES.md §8.3: each declared capability against each package's
//! ceiling and forbidden list, and each agent against its parent and the skills it loads.

use std::sync::Arc;

use certior::capability::{covered, validate};
use certior::Preset;

use super::discover::{Agent, Declared, Discovered, Skill};
use super::finding::{Finding, Kind, Level};

/// The audit of one repository: findings and per-declaration pass/fail.
#[derive(Debug, Default)]
pub struct Audit {
    pub findings: Vec<Finding>,
    pub declarations: usize,
    pub failed: usize,
}

struct Subject<'a> {
    file: &'a str,
    kind: Kind,
    name: &'a str,
}

impl Subject<'_> {
    fn finding(
        &self,
        line: Option<usize>,
        package: Option<&str>,
        code: &'static str,
        capability: Option<&str>,
        message: String,
    ) -> Finding {
        Finding {
            file: self.file.to_owned(),
            line,
            kind: self.kind,
            subject: self.name.to_owned(),
            package: package.map(str::to_owned),
            code,
            level: Level::Error,
            capability: capability.map(str::to_owned),
            message,
        }
    }
}

/// The first finding of §8.3 for `c` under `preset`, if any.
pub fn package_check(c: &str, preset: &Preset) -> Option<(&'static str, String)> {
    let manifest = preset.manifest();
    let ceiling = manifest.max_or_default();
    let key = preset.key();
    if c == "*" && !(ceiling.len() == 1 && ceiling[0] == "*") {
        return Some((
            "wildcard_denied_under_compliance",
            format!("`*` is denied under preset {key}; declare the capabilities the component needs"),
        ));
    }
    let forbidden = manifest.permissions.forbidden.iter().any(|f| {
        f == c
            || f.strip_suffix('*').is_some_and(|p| c.starts_with(p))
            || c.strip_suffix('*').is_some_and(|p| f.starts_with(p))
    });
    if forbidden {
        return Some(("forbidden_by_policy", format!("`{c}` is forbidden by preset {key}")));
    }
    if !covered(c, ceiling) {
        return Some((
            "capability_not_in_policy",
            format!("`{c}` is not within the ceiling of preset {key}"),
        ));
    }
    None
}

/// Checks each capability's syntax, then each package; returns the valid capabilities.
fn check_capabilities<'d>(
    subject: &Subject<'_>,
    declared: &'d [Declared],
    packages: &[Arc<Preset>],
    out: &mut Vec<Finding>,
) -> Vec<&'d Declared> {
    let mut valid = Vec::new();
    for d in declared {
        if let Err(err) = validate(&d.capability) {
            out.push(subject.finding(
                d.line,
                None,
                "invalid_declaration",
                Some(&d.capability),
                err.to_string(),
            ));
            continue;
        }
        valid.push(d);
        for preset in packages {
            if let Some((code, message)) = package_check(&d.capability, preset) {
                out.push(subject.finding(d.line, Some(preset.key()), code, Some(&d.capability), message));
            }
        }
    }
    valid
}

fn check_skill(skill: &Skill, packages: &[Arc<Preset>], allow_undeclared: bool, out: &mut Vec<Finding>) {
    let subject = Subject {
        file: &skill.file,
        kind: Kind::Skill,
        name: &skill.name,
    };
    match &skill.capabilities {
        None => {
            let mut f = subject.finding(
                None,
                None,
                "undeclared",
                None,
                format!("skill {} declares no metadata.certior.capabilities", skill.name),
            );
            if allow_undeclared {
                f.level = Level::Warning;
            }
            out.push(f);
        }
        Some(declared) => {
            check_capabilities(&subject, declared, packages, out);
        }
    }
}

/// Whether following parents from `start` returns to it.
fn in_cycle(agents: &[Agent], start: &str) -> bool {
    let mut current = start;
    for _ in 0..=agents.len() {
        let Some(parent) = agents
            .iter()
            .find(|a| a.name == current)
            .and_then(|a| a.parent.as_deref())
        else {
            return false;
        };
        if parent == start {
            return true;
        }
        current = parent;
    }
    false
}

fn check_agents(
    agents: &[Agent],
    skills: &[Skill],
    packages: &[Arc<Preset>],
    registry: &certior::PresetRegistry,
    out: &mut Vec<Finding>,
) {
    for agent in agents {
        let subject = Subject {
            file: &agent.file,
            kind: Kind::Agent,
            name: &agent.name,
        };
        let mut own = packages.to_vec();
        if let Some(name) = &agent.preset {
            match registry.get(name) {
                Some(p) if !own.iter().any(|o| o.key() == p.key()) => own.push(p),
                Some(_) => {}
                None => out.push(subject.finding(
                    agent.capabilities_line,
                    None,
                    "invalid_declaration",
                    None,
                    format!("agent {} names unknown preset {name}", agent.name),
                )),
            }
        }
        let valid = check_capabilities(&subject, &agent.capabilities, &own, out);
        let caps: Vec<&str> = valid.iter().map(|d| d.capability.as_str()).collect();
        if let Some(parent_name) = &agent.parent {
            match agents.iter().find(|a| &a.name == parent_name) {
                None => out.push(subject.finding(
                    agent.capabilities_line,
                    None,
                    "unknown_parent",
                    None,
                    format!(
                        "agent {} names parent {parent_name}, which is not declared in this file",
                        agent.name
                    ),
                )),
                Some(_) if in_cycle(agents, &agent.name) => out.push(subject.finding(
                    agent.capabilities_line,
                    None,
                    "delegation_cycle",
                    None,
                    format!("the parent chain of agent {} loops back to it", agent.name),
                )),
                Some(parent) => {
                    let parent_caps: Vec<&str> = parent.capabilities.iter().map(|d| d.capability.as_str()).collect();
                    for d in &valid {
                        if !covered(&d.capability, &parent_caps) {
                            out.push(subject.finding(
                                d.line,
                                None,
                                "permissions_not_subset",
                                Some(&d.capability),
                                format!(
                                    "`{}` is not among the capabilities of parent {}",
                                    d.capability, parent.name
                                ),
                            ));
                        }
                    }
                    let exceeds = match (agent.budget_cents, parent.budget_cents) {
                        (Some(own), Some(theirs)) => own > theirs,
                        (None, Some(_)) => true,
                        _ => false,
                    };
                    if exceeds {
                        out.push(subject.finding(
                            agent.capabilities_line,
                            None,
                            "budget_exceeds_parent",
                            None,
                            format!("agent {} may spend more than its parent {}", agent.name, parent.name),
                        ));
                    }
                }
            }
        }
        for (skill_name, line) in &agent.skills {
            let Some(skill) = skills.iter().find(|s| &s.name == skill_name) else {
                out.push(subject.finding(
                    *line,
                    None,
                    "unknown_skill",
                    None,
                    format!("agent {} loads skill {skill_name}, which is not declared", agent.name),
                ));
                continue;
            };
            for d in skill.capabilities.iter().flatten() {
                if validate(&d.capability).is_ok() && !covered(&d.capability, &caps) {
                    out.push(subject.finding(
                        *line,
                        None,
                        "skill_not_in_agent",
                        Some(&d.capability),
                        format!(
                            "skill {skill_name} declares `{}`, which agent {} does not have",
                            d.capability, agent.name
                        ),
                    ));
                }
            }
        }
    }
}

/// Audits what was discovered under `packages`.
pub fn audit(
    found: &Discovered,
    packages: &[Arc<Preset>],
    registry: &certior::PresetRegistry,
    allow_undeclared: bool,
) -> Audit {
    let mut result = Audit::default();
    let tally = |findings: Vec<Finding>, result: &mut Audit| {
        result.declarations += 1;
        if findings.iter().any(|f| f.level == Level::Error) {
            result.failed += 1;
        }
        result.findings.extend(findings);
    };
    for skill in &found.skills {
        let mut out = Vec::new();
        check_skill(skill, packages, allow_undeclared, &mut out);
        tally(out, &mut result);
    }
    for agents in &found.agents {
        let mut out = Vec::new();
        check_agents(agents, &found.skills, packages, registry, &mut out);
        for agent in agents {
            let mine: Vec<Finding> = out.iter().filter(|f| f.subject == agent.name).cloned().collect();
            tally(mine, &mut result);
        }
    }
    for invalid in &found.invalid {
        let subject = Subject {
            file: &invalid.file,
            kind: if invalid.is_skill { Kind::Skill } else { Kind::Agent },
            name: &invalid.subject,
        };
        tally(
            vec![subject.finding(invalid.line, None, "invalid_declaration", None, invalid.message.clone())],
            &mut result,
        );
    }
    super::finding::sort(&mut result.findings);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(preset: &str, caps: &[&str]) -> Vec<Option<&'static str>> {
        let registry = certior::PresetRegistry::builtin();
        let preset = registry.get(preset).unwrap();
        caps.iter()
            .map(|c| package_check(c, &preset).map(|(code, _)| code))
            .collect()
    }

    #[test]
    fn the_spec_examples_under_hipaa_sox_and_default() {
        assert_eq!(
            codes("hipaa", &["filesystem:read", "compute:python:eval"]),
            [None, None]
        );
        assert_eq!(
            codes(
                "hipaa",
                &[
                    "network:http:read",
                    "network:smtp:send:external",
                    "network:*",
                    "filesystem:*",
                    "*"
                ]
            ),
            [
                Some("capability_not_in_policy"),
                Some("forbidden_by_policy"),
                Some("forbidden_by_policy"),
                Some("capability_not_in_policy"),
                Some("wildcard_denied_under_compliance")
            ]
        );
        assert_eq!(
            codes("sox", &["database:read:patient_data"]),
            [Some("capability_not_in_policy")]
        );
        assert_eq!(
            codes("default", &["*", "network:*", "anything:at:all"]),
            [None, None, None]
        );
    }
}
