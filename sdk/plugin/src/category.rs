//! The closed set of violation categories of spec/API.md §6.2.

use serde::{Deserialize, Serialize};

/// A violation's category. The host applies the preset's category policy (always-block set,
/// `blocked_categories`, `warn_categories`) to it, so a plugin cannot invent new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    ControlledSubstances,
    CriminalPlanning,
    Weapons,
    Harassment,
    HateBiasPii,
    Profanity,
    SexualContent,
    Threats,
    UnauthorizedAdvice,
    Violence,
    PromptInjection,
    PhiExposure,
    MnpiLeak,
    PrivilegeWaiver,
    ItarControlled,
}

#[cfg(test)]
mod tests {
    use super::Category;

    #[test]
    fn wire_names_are_the_spec_names() {
        let all = [
            (Category::ControlledSubstances, "controlled_substances"),
            (Category::CriminalPlanning, "criminal_planning"),
            (Category::Weapons, "weapons"),
            (Category::Harassment, "harassment"),
            (Category::HateBiasPii, "hate_bias_pii"),
            (Category::Profanity, "profanity"),
            (Category::SexualContent, "sexual_content"),
            (Category::Threats, "threats"),
            (Category::UnauthorizedAdvice, "unauthorized_advice"),
            (Category::Violence, "violence"),
            (Category::PromptInjection, "prompt_injection"),
            (Category::PhiExposure, "phi_exposure"),
            (Category::MnpiLeak, "mnpi_leak"),
            (Category::PrivilegeWaiver, "privilege_waiver"),
            (Category::ItarControlled, "itar_controlled"),
        ];
        for (category, name) in all {
            assert_eq!(serde_json::to_value(category).unwrap(), name);
            let back: Category = serde_json::from_value(name.into()).unwrap();
            assert_eq!(back, category);
        }
        assert!(serde_json::from_str::<Category>("\"pii\"").is_err());
    }
}
