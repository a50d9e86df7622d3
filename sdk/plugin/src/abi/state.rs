//! The plugin instance kept between `certior_init` and `certior_evaluate`.

use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use crate::abi::ABI_VERSION;
use crate::{Input, Plugin, Verdict};

/// `None` until built. Without pre-initialization the plugin is built from the first input's
/// `config`; `Err` keeps a rejected configuration's reason for every evaluation.
type Slot<P> = Option<Result<P, String>>;

/// The built plugin (or why it could not be built), behind a lock so it can live in a
/// `static`. Wasm instances are single-threaded, so the lock is never contended.
pub struct State<P> {
    slot: Mutex<Slot<P>>,
}

impl<P> State<P> {
    /// `const` so that `export_plugin!` can put the state in a `static`.
    pub const fn new() -> State<P> {
        State { slot: Mutex::new(None) }
    }
}

impl<P> Default for State<P> {
    fn default() -> State<P> {
        State::new()
    }
}

impl<P: Plugin> State<P> {
    /// Build the plugin from the configuration JSON, as `certior_init` does. The result, good
    /// or bad, is kept: pre-initialization snapshots it into the module.
    pub fn init(&self, config_json: &[u8]) {
        let slot = match serde_json::from_slice::<Value>(config_json) {
            Ok(config) => build(config),
            Err(error) => Err(format!("invalid configuration JSON: {error}")),
        };
        *self.lock() = Some(slot);
    }

    /// Answer one input with verdict JSON. Never fails: bad input, a bad configuration or an
    /// unsupported ABI version become a `plugin_error` denial.
    pub fn evaluate(&self, input_json: &[u8]) -> Vec<u8> {
        let verdict = self.verdict(input_json);
        serde_json::to_vec(&verdict).expect("a verdict always serializes")
    }

    fn verdict(&self, input_json: &[u8]) -> Verdict {
        let input: Input = match serde_json::from_slice(input_json) {
            Ok(input) => input,
            Err(error) => return Verdict::plugin_error(format!("invalid input: {error}")),
        };
        if i64::from(input.abi) != i64::from(ABI_VERSION) {
            return Verdict::plugin_error(format!("unsupported ABI version {} (this plugin speaks {ABI_VERSION})", input.abi));
        }
        let mut slot = self.lock();
        match slot.get_or_insert_with(|| build(input.config.value())) {
            Ok(plugin) => plugin.evaluate(&input),
            Err(message) => Verdict::plugin_error(message.clone()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot<P>> {
        // A panic aborts the module on wasm32, so a poisoned lock can only be seen natively,
        // where the slot is still consistent (it is replaced whole).
        self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn build<P: Plugin>(config: Value) -> Result<P, String> {
    // A preset without a `[plugins.config]` table passes null; treat it as the empty table.
    let config = if config.is_null() { Value::Object(Default::default()) } else { config };
    match serde_json::from_value::<P::Config>(config) {
        Ok(config) => P::new(config).map_err(|message| format!("invalid configuration: {message}")),
        Err(error) => Err(format!("invalid configuration: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::State;
    use crate::{Action, Category, Input, Plugin, Verdict, Violation};
    use serde::Deserialize;
    use serde_json::{json, Value};

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default = "default_word")]
        word: String,
    }

    fn default_word() -> String {
        "bad".into()
    }

    struct Word(String);

    impl Plugin for Word {
        type Config = Config;
        fn new(config: Config) -> Result<Self, String> {
            if config.word.is_empty() {
                return Err("`word` must not be empty".into());
            }
            Ok(Word(config.word))
        }
        fn evaluate(&self, input: &Input) -> Verdict {
            let found = input.content.contains(self.0.as_str());
            let violations = if found { vec![Violation::block("word", Category::Profanity, "found")] } else { vec![] };
            Verdict::from_violations(violations)
        }
    }

    fn input(content: &str, config: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"abi": 1, "hook": "content", "phase": "tool_output",
                                   "preset": "p", "config": config, "content": content}))
        .unwrap()
    }

    fn answer(state: &State<Word>, input: &[u8]) -> Verdict {
        serde_json::from_slice(&state.evaluate(input)).unwrap()
    }

    fn error_message(verdict: &Verdict) -> &str {
        assert_eq!(verdict.action, Action::Deny);
        assert_eq!(verdict.violations[0].code, "plugin_error");
        &verdict.violations[0].message
    }

    #[test]
    fn init_config_wins_over_input_config() {
        let state = State::<Word>::new();
        state.init(br#"{"word": "zap"}"#);
        assert_eq!(answer(&state, &input("zap", json!({"word": "other"}))).action, Action::Deny);
        assert_eq!(answer(&state, &input("bad", json!({}))).action, Action::Allow);
    }

    #[test]
    fn without_init_builds_from_input_config_and_null_means_defaults() {
        let state = State::<Word>::new();
        assert_eq!(answer(&state, &input("zap", json!({"word": "zap"}))).action, Action::Deny);
        let state = State::<Word>::new();
        assert_eq!(answer(&state, &input("bad", Value::Null)).action, Action::Deny);
    }

    #[test]
    fn bad_configuration_is_reported_on_every_call() {
        let state = State::<Word>::new();
        state.init(br#"{"wrd": "x"}"#);
        for _ in 0..2 {
            let verdict = answer(&state, &input("x", json!({})));
            assert!(error_message(&verdict).starts_with("invalid configuration: unknown field `wrd`"));
        }
        let state = State::<Word>::new();
        state.init(br#"{"word": ""}"#);
        assert_eq!(error_message(&answer(&state, &input("x", json!({})))), "invalid configuration: `word` must not be empty");
        let state = State::<Word>::new();
        state.init(b"{not json");
        assert!(error_message(&answer(&state, &input("x", json!({})))).starts_with("invalid configuration JSON"));
    }

    #[test]
    fn bad_input_and_abi_version_are_plugin_errors() {
        let state = State::<Word>::new();
        assert!(error_message(&answer(&state, b"garbage")).starts_with("invalid input"));
        let v2 = br#"{"abi":2,"hook":"content","phase":"tool_output","preset":"p","content":""}"#;
        assert_eq!(error_message(&answer(&state, v2)), "unsupported ABI version 2 (this plugin speaks 1)");
    }
}
