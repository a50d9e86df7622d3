//! Cedar `invoke` answers remembered across the calls of an execution and across executions.
//!
//! Within an execution everything an `invoke` request carries is fixed (principal, preset,
//! profile, token permissions) except the tool (name, capabilities, destination, approval
//! categories), the capability asked about, the call's cost and the remaining budget. When no
//! `invoke` policy of the preset mentions the cost or the budget, the answer depends on the tool
//! and the capability alone, and an agent calls the same few tools again and again: Cedar then
//! decides each (tool, capability) once (about 20 µs) and the answer is reused. Executions with
//! the same fixed part (an [`InvokeScope`]: the same agent set-up, run again and again) share
//! one cache through their preset.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::authz::{AuthzAnswer, Principal, ToolResource};
use crate::preset::Preset;

/// Answers kept per cache; past this the cache starts over (an agent using this many distinct
/// tool shapes gains little from it).
const MAX_ANSWERS: usize = 1024;

/// Scopes kept per preset; past this the caches start over.
const MAX_SCOPES: usize = 256;

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

/// What every `invoke` request of an execution carries besides its preset and its call: the
/// principal (`User` uid and `role`) and the context's profile and token attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct InvokeScope {
    pub user_id: String,
    pub role: String,
    pub task_class: String,
    pub stage_role: String,
    pub permissions: Vec<String>,
    pub required_approvals: Vec<String>,
}

/// A bounded map of remembered values, safe to share: past its capacity it starts over.
struct Memo<K, V> {
    entries: Mutex<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    fn new(capacity: usize) -> Self {
        Memo {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The value for `key`: remembered, or made and remembered. Made outside the lock: a
    /// concurrent call for the same key makes one too, harmlessly.
    fn get_or_make(&self, key: K, make: impl FnOnce() -> V) -> V {
        if let Some(value) = self.lock().get(&key) {
            return value.clone();
        }
        let value = make();
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, value.clone());
        value
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, V>> {
        // Entries are only ever inserted whole, so a poisoned lock still holds valid ones.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A preset's [`InvokeCache`]s by scope, shared by the preset's clones.
#[derive(Clone)]
pub(crate) struct ScopedInvokeCaches(Arc<Memo<InvokeScope, Arc<InvokeCache>>>);

impl Default for ScopedInvokeCaches {
    fn default() -> Self {
        ScopedInvokeCaches(Arc::new(Memo::new(MAX_SCOPES)))
    }
}

impl std::fmt::Debug for ScopedInvokeCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopedInvokeCaches({} scopes)", self.0.len())
    }
}

impl ScopedInvokeCaches {
    /// The cache of `scope` for `preset` (whose caches these are).
    pub(crate) fn get(&self, preset: &Preset, scope: InvokeScope) -> Arc<InvokeCache> {
        self.0.get_or_make(scope, || Arc::new(InvokeCache::for_preset(preset)))
    }
}

/// A preset's `request_permission` answers, shared by its clones. Such a request carries the
/// principal (uid and role) and the permission and nothing else, so the answer never changes
/// for the preset: a submission's permissions are resolved by Cedar once per user.
#[derive(Clone)]
pub(crate) struct PermissionAnswers(Arc<Memo<(String, String, String), AuthzAnswer>>);

impl Default for PermissionAnswers {
    fn default() -> Self {
        PermissionAnswers(Arc::new(Memo::new(MAX_ANSWERS)))
    }
}

impl std::fmt::Debug for PermissionAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PermissionAnswers({} answers)", self.0.len())
    }
}

impl PermissionAnswers {
    /// The answer for `principal` asking for `permission`: remembered, or `decide`d and remembered.
    pub(crate) fn answer(
        &self,
        principal: &Principal,
        permission: &str,
        decide: impl FnOnce() -> AuthzAnswer,
    ) -> AuthzAnswer {
        let key = (principal.user_id.clone(), principal.role.clone(), permission.to_owned());
        self.0.get_or_make(key, decide)
    }
}

pub(crate) struct InvokeCache {
    /// False when some `invoke` policy may read a per-call attribute: every call is decided anew.
    enabled: bool,
    answers: Memo<InvokeKey, AuthzAnswer>,
}

impl std::fmt::Debug for InvokeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InvokeCache(enabled: {}, {} answers)",
            self.enabled,
            self.answers.len()
        )
    }
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
            answers: Memo::new(MAX_ANSWERS),
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
        self.answers.get_or_make(key, decide)
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

    fn scope(user_id: &str, permissions: &[&str]) -> InvokeScope {
        InvokeScope {
            user_id: user_id.to_owned(),
            role: "operator".to_owned(),
            task_class: "general_analysis".to_owned(),
            stage_role: "single_agent".to_owned(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            required_approvals: vec![],
        }
    }

    #[test]
    fn executions_of_one_scope_share_answers_and_other_scopes_do_not() {
        let preset = PresetRegistry::builtin().get("hipaa").unwrap();
        let decided = Cell::new(0);
        let decide = || {
            decided.set(decided.get() + 1);
            allow()
        };
        let read = ["filesystem:read".to_owned()];
        let ask = |scope: InvokeScope| {
            preset
                .invoke_cache(scope)
                .answer(&tool("file_read", &read), Some("filesystem:read"), decide)
        };
        ask(scope("u1", &["filesystem:read"]));
        ask(scope("u1", &["filesystem:read"]));
        assert_eq!(
            decided.get(),
            1,
            "a second execution of the same set-up reuses the answer"
        );
        ask(scope("u2", &["filesystem:read"]));
        ask(scope("u1", &["filesystem:read", "network:http:read"]));
        assert_eq!(
            decided.get(),
            3,
            "another principal or other token permissions ask Cedar again"
        );
        let clone = (*preset).clone();
        clone.invoke_cache(scope("u1", &["filesystem:read"])).answer(
            &tool("file_read", &read),
            Some("filesystem:read"),
            decide,
        );
        assert_eq!(decided.get(), 3, "the preset's clones share its caches");
    }

    #[test]
    fn a_permission_is_decided_once_per_principal() {
        let answers = PermissionAnswers::default();
        let decided = Cell::new(0);
        let decide = || {
            decided.set(decided.get() + 1);
            allow()
        };
        let principal = |user_id: &str, role: &str| Principal {
            user_id: user_id.to_owned(),
            role: role.to_owned(),
        };
        answers.answer(&principal("u1", "operator"), "filesystem:read", decide);
        answers.answer(&principal("u1", "operator"), "filesystem:read", decide);
        assert_eq!(decided.get(), 1);
        answers.answer(&principal("u1", "admin"), "filesystem:read", decide);
        answers.answer(&principal("u2", "operator"), "filesystem:read", decide);
        answers.answer(&principal("u1", "operator"), "filesystem:write", decide);
        assert_eq!(decided.get(), 4, "another role, user or permission asks Cedar again");
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
