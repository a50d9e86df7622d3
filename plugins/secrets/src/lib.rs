//! The `secrets` plugin: credentials in text (spec/API.md §6.4) — AWS keys, GitHub, Slack and
//! JSON Web Tokens, API keys and passwords in assignments, private key headers.
//!
//! Every match denies, in every phase, with a `secret_detected` violation naming only the type:
//! no part of a secret is ever put in a message, so nothing downstream can store or echo it.
//! The data is labelled `sensitive`. There is nothing to configure.

pub mod detector;
pub mod rules;

use certior_plugin::{export_plugin, Category, Input, Plugin, Verdict, Violation};
use serde::Deserialize;

use crate::detector::Detector;

/// The plugin takes no options; unknown keys are rejected so a misplaced setting is noticed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// The `secrets` plugin.
pub struct Secrets {
    detector: Detector,
}

impl Plugin for Secrets {
    type Config = Config;

    fn new(_config: Config) -> Result<Secrets, String> {
        Ok(Secrets { detector: Detector::new()? })
    }

    fn evaluate(&self, input: &Input) -> Verdict {
        let violations = self
            .detector
            .scan(&input.content)
            .into_iter()
            .map(|found| {
                Violation::block("secret_detected", Category::HateBiasPii, format!("Secret detected: {}", found.kind))
                    .at(found.span)
                    .entity(found.kind)
            })
            .collect();
        Verdict::from_violations(violations).with_label("sensitive")
    }
}

export_plugin!(Secrets);
