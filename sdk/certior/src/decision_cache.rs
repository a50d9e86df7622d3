//! Cedar `invoke` answers remembered within one Guard.
//!
//! Within an execution everything an `invoke` request carries is fixed (principal, preset,
//! profile, token permissions) except the tool (name, capabilities, destination, approval
//! categories), the capability asked about, the call's cost and the remaining budget. When no
//! `invoke` policy of the preset mentions the cost or the budget, the answer depends on the tool
//! and the capability alone, and an agent calls the same few tools again and again: Cedar then
//! decides each (tool, capability) once per execution (about 20 µs) and the answer is reused.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::authz::{AuthzAnswer, ToolResource};
use crate::preset::Preset;

/// Answers kept per Guard; past this the cache starts over (an agent using this many distinct
/// tool shapes gains little from it).
const MAX_ANSWERS: usize = 1024;

/// The context attributes whose values change from call to call.
const PER_CALL_ATTRIBUTES: [&str; 2] = ["cost_cents", "budget_remaining_cents"];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct InvokeKey {
    tool: String,
    capabilities: Vec<String>,
    destination: Option<String>,
    approval_categories: Vec<String>,
    capability: Option<String>,
}

#[derive(Debug)]
pub(crate) struct InvokeCache {
    /// False when some `invoke` policy may read a per-call attribute: every call is decided anew.
    enabled: bool,
    answers: Mutex<HashMap<InvokeKey, AuthzAnswer>>,
}

impl InvokeCache {
    pub(crate) fn for_preset(preset: &Preset) -> InvokeCache {
        // Cedar reads attributes only by literal name, so a policy whose text does not contain
        // the name cannot depend on the attribute.
        let reads_per_call = preset.policies_for("invoke").policies().any(|policy| {
            let text = policy.to_string();
            PER_CALL_ATTRIBUTES.iter().any(|attribute| text.contains(attribute))
        });
        InvokeCache {
            enabled: !reads_per_call,
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `tool` and `capability`: remembered, or `decide`d and remembered.
    pub(crate) fn answer(
        &self,
        tool: &ToolResource<'_>,
        capability: Option<&str>,
        decide: impl FnOnce() -> AuthzAnswer,
    ) -> AuthzAnswer {
        if !self.enabled {
            return decide();
        }
        let key = InvokeKey {
            tool: tool.name.to_owned(),
            capabilities: tool.capabilities.to_vec(),
            destination: tool.destination.map(str::to_owned),
            approval_categories: tool.approval_categories.to_vec(),
            capability: capability.map(str::to_owned),
        };
        if let Some(answer) = self.lock().get(&key) {
            return answer.clone();
        }
        // Decided outside the lock: a concurrent call for the same key decides too, harmlessly.
        let answer = decide();
        let mut answers = self.lock();
        if answers.len() >= MAX_ANSWERS {
            answers.clear();
        }
        answers.insert(key, answer.clone());
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InvokeKey, AuthzAnswer>> {
        // The map is only ever replaced whole per entry, so a poisoned lock still holds valid answers.
        self.answers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::{load_bundle, PresetRegistry, PresetSource};
    use std::cell::Cell;
    use std::collections::BTreeMap;

    fn tool<'a>(name: &'a str, capabilities: &'a [String]) -> ToolResource<'a> {
        ToolResource {
            name,
            capabilities,
            destination: None,
            approval_categories: &[],
        }
    }

    fn allow() -> AuthzAnswer {
        AuthzAnswer {
            allowed: true,
            policy_ids: vec![],
        }
    }

    #[test]
    fn the_same_tool_and_capability_are_decided_once() {
        let cache = InvokeCache::for_preset(&PresetRegistry::builtin().get("hipaa").unwrap());
        let decided = Cell::new(0);
        let decide = || {
            decided.set(decided.get() + 1);
            allow()
        };
        let read = ["filesystem:read".to_owned()];
        cache.answer(&tool("file_read", &read), Some("filesystem:read"), decide);
        cache.answer(&tool("file_read", &read), Some("filesystem:read"), decide);
        assert_eq!(decided.get(), 1);
        cache.answer(&tool("file_read", &read), None, decide);
        cache.answer(&tool("file_list", &read), Some("filesystem:read"), decide);
        let other = ToolResource {
            destination: Some("external"),
            ..tool("file_read", &read)
        };
        cache.answer(&other, Some("filesystem:read"), decide);
        assert_eq!(
            decided.get(),
            4,
            "any other tool attribute or capability is a new question"
        );
    }

    #[test]
    fn a_preset_whose_policies_read_the_budget_is_never_cached() {
        let toml = "schema_version = 1\nkey = \"budgeted\"\nname = \"Budgeted\"\nretention_days = 1\n\
                    [permissions]\ndefault = [\"filesystem:read\"]\nmax = [\"filesystem:read\"]\nforbidden = []\n";
        let cedar = "@id(\"budgeted.cap\")\nforbid (principal, action == Action::\"invoke\", resource)\n\
                     when { context.budget_remaining_cents < 100 };";
        let files = BTreeMap::from([
            ("preset.toml".to_owned(), toml.as_bytes().to_vec()),
            ("policy.cedar".to_owned(), cedar.as_bytes().to_vec()),
        ]);
        let preset = load_bundle(&files, "budgeted", PresetSource::Uploaded).unwrap();
        let cache = InvokeCache::for_preset(&preset);
        let decided = Cell::new(0);
        let read = ["filesystem:read".to_owned()];
        for _ in 0..2 {
            cache.answer(&tool("file_read", &read), None, || {
                decided.set(decided.get() + 1);
                allow()
            });
        }
        assert_eq!(decided.get(), 2);
    }
}
