//! The pull-request comment and commit status texts (spec/RELEASES.md §7.4). Everything taken
//! from evidence is made inert first: no markdown code breaks, no HTML, no mentions.

use certior::release::DecisionStatus;

pub const MARKER: &str = "<!-- certior-release-gate -->";
/// GitHub's limit on a comment body.
const BODY_LIMIT: usize = 65_536;
/// At most this many blocker bullets.
const MAX_BULLETS: usize = 20;
/// Each interpolated value is cut to this many characters.
const VALUE_LIMIT: usize = 300;

/// One blocker as the comment lists it.
#[derive(Debug, Clone)]
pub struct Blocker {
    pub component: String,
    pub reason: String,
    pub remediation: String,
}

/// Makes `value` safe to interpolate.
pub fn inert(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '`' => out.push('\''),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' | '\n' => out.push(' '),
            '@' => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
    out.chars().take(VALUE_LIMIT).collect()
}

/// The commit status `(state, description)` of a decision status; `None` is an evaluation error.
pub fn status(decision: Option<(DecisionStatus, usize)>) -> (&'static str, String) {
    let (state, description) = match decision {
        Some((DecisionStatus::Attested, _)) => ("success", "SHIP: cleared for release".to_owned()),
        Some((DecisionStatus::Ready, _)) => ("pending", "NO_SHIP: awaiting human attestation".to_owned()),
        Some((DecisionStatus::Blocked, n)) => ("failure", format!("NO_SHIP: {n} blocker(s)")),
        Some((DecisionStatus::Unknown, _)) => {
            ("pending", "NO_SHIP: no release evidence for this commit yet".to_owned())
        }
        None => ("error", "Certior could not evaluate this commit".to_owned()),
    };
    (state, description.chars().take(140).collect())
}

/// The comment body for a decision.
pub fn body(repo: &str, commit: &str, status: DecisionStatus, blockers: &[Blocker]) -> String {
    let (repo, commit) = (inert(repo), inert(commit));
    let mut text = if status == DecisionStatus::Attested {
        format!(
            "{MARKER}\n✅ **Certior release gate: SHIP**\n\nCommit `{commit}` of `{repo}` is cleared for release (decision_status `attested`).\n"
        )
    } else {
        format!(
            "{MARKER}\n❌ **Certior release gate: NO_SHIP**\n\nCommit `{commit}` of `{repo}` cannot ship yet (decision_status `{}`).\n",
            status.as_str()
        )
    };
    if !blockers.is_empty() {
        text.push('\n');
    }
    for blocker in blockers.iter().take(MAX_BULLETS) {
        let mut line = format!("- **{}**: {}.", inert(&blocker.component), inert(&blocker.reason));
        if !blocker.remediation.is_empty() {
            line.push_str(&format!(" Fix: {}", inert(&blocker.remediation)));
        }
        line.push('\n');
        if text.len() + line.len() > BODY_LIMIT - 64 {
            break;
        }
        text.push_str(&line);
    }
    if blockers.len() > MAX_BULLETS {
        text.push_str(&format!("- … and {} more\n", blockers.len() - MAX_BULLETS));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_text_is_inert() {
        assert_eq!(inert("`rm` <b>@team\nx"), "'rm' &lt;b&gt;@\u{200B}team x");
        assert_eq!(inert(&"x".repeat(400)).chars().count(), 300);
    }

    #[test]
    fn blockers_are_bulleted_and_capped() {
        let blockers: Vec<Blocker> = (0..22)
            .map(|i| Blocker {
                component: "ci".into(),
                reason: format!("Required check c{i} has not reported"),
                remediation: if i == 0 { String::new() } else { "Run it".into() },
            })
            .collect();
        let text = body("acme/widget", "abc", DecisionStatus::Blocked, &blockers);
        assert!(text.starts_with(MARKER));
        assert!(text.contains("- **ci**: Required check c0 has not reported.\n"));
        assert!(text.contains("- **ci**: Required check c1 has not reported. Fix: Run it\n"));
        assert!(text.ends_with("- … and 2 more\n"));
        assert_eq!(
            status(Some((DecisionStatus::Blocked, 3))),
            ("failure", "NO_SHIP: 3 blocker(s)".into())
        );
        assert_eq!(status(None).0, "error");
    }
}
