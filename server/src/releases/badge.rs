//! The public trust badge (spec/RELEASES.md §9): it reveals only the release state of a repo,
//! never why, so it can be embedded anywhere.

use certior::release::DecisionStatus;
use serde_json::{json, Value};

/// The three faces of the badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeState {
    Assured,
    Blocked,
    Unknown,
}

impl BadgeState {
    pub fn of(status: DecisionStatus) -> Self {
        match status {
            DecisionStatus::Attested => BadgeState::Assured,
            DecisionStatus::Blocked | DecisionStatus::Ready => BadgeState::Blocked,
            DecisionStatus::Unknown => BadgeState::Unknown,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            BadgeState::Assured => "Assured",
            BadgeState::Blocked => "Blocked",
            BadgeState::Unknown => "Unknown",
        }
    }

    pub fn color(self) -> &'static str {
        match self {
            BadgeState::Assured => "#4c1",
            BadgeState::Blocked => "#e05d44",
            BadgeState::Unknown => "#9f9f9f",
        }
    }
}

const TEMPLATE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="150" height="20">
  <linearGradient id="b" x2="0" y2="100%">
    <stop offset="0" stop-color="#bbb" stop-opacity=".1"/>
    <stop offset="1" stop-opacity=".1"/>
  </linearGradient>
  <mask id="a">
    <rect width="150" height="20" rx="3" fill="#fff"/>
  </mask>
  <g mask="url(#a)">
    <path fill="#555" d="M0 0h65v20H0z"/>
    <path fill="{COLOR}" d="M65 0h85v20H65z"/>
    <path fill="url(#b)" d="M0 0h150v20H0z"/>
  </g>
  <g fill="#fff" text-anchor="middle" font-family="DejaVu Sans,Verdana,Geneva,sans-serif" font-size="11">
    <text x="32.5" y="15" fill="#010101" fill-opacity=".3">Certior</text>
    <text x="32.5" y="14">Certior</text>
    <text x="106.5" y="15" fill="#010101" fill-opacity=".3">{STATUS}</text>
    <text x="106.5" y="14">{STATUS}</text>
  </g>
</svg>"##;

/// The SVG text of `state`, byte for byte as §9.1 prints it.
pub fn svg(state: BadgeState) -> String {
    TEMPLATE
        .replace("{COLOR}", state.color())
        .replace("{STATUS}", state.word())
}

/// The shields.io endpoint object of `state` (§9.2).
pub fn endpoint(state: BadgeState) -> Value {
    json!({"schemaVersion": 1, "label": "Certior", "message": state.word(), "color": state.color(),
           "labelColor": "#555", "cacheSeconds": 300})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_has_no_declaration_or_final_newline_and_fills_both_slots() {
        let text = svg(BadgeState::Assured);
        assert!(text.starts_with("<svg xmlns="));
        assert!(text.ends_with("</svg>"));
        assert!(!text.contains('\r') && !text.contains("{STATUS}") && !text.contains("{COLOR}"));
        assert_eq!(text.matches(">Assured</text>").count(), 2);
        assert!(text.contains(r##"<path fill="#4c1" d="M65 0h85v20H65z"/>"##));
        assert_eq!(BadgeState::of(DecisionStatus::Ready), BadgeState::Blocked);
        assert_eq!(endpoint(BadgeState::Unknown)["color"], "#9f9f9f");
    }
}
