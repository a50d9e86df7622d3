//! The `pii` plugin: personal data of spec/API.md §6.3 (SSN, MRN, card numbers with Luhn,
//! phone, email, IPv4 address, date of birth, street address).
//!
//! Configured by `mode`: `redact` (the `hipaa` preset) replaces each match in tool and final
//! outputs with `[REDACTED-<ENTITY>]` and denies tool inputs, stages and releases; `block` (the
//! `default` preset) denies on any match. Every match is a `pii_detected` violation in category
//! `hate_bias_pii` and labels the data `PHI`.

pub mod config;
pub mod detector;
pub mod entity;
pub mod rules;
pub mod scan;

use certior_plugin::{export_plugin, redact, Category, Finding, Input, Plugin, Verdict, Violation};

use crate::config::{Config, Mode};
use crate::detector::{Detector, Found};

/// The `pii` plugin.
pub struct Pii {
    mode: Mode,
    detector: Detector,
}

impl Plugin for Pii {
    type Config = Config;

    fn new(config: Config) -> Result<Pii, String> {
        Ok(Pii { mode: config.mode, detector: Detector::new()? })
    }

    fn evaluate(&self, input: &Input) -> Verdict {
        let found = self.detector.scan(&input.content);
        if found.is_empty() {
            return Verdict::allow();
        }
        let violations = found.iter().map(violation).collect();
        let verdict = if self.mode == Mode::Redact && input.phase.allows_redaction() {
            let findings: Vec<Finding<'_>> = found
                .iter()
                .map(|f| Finding { span: f.span, entity: f.entity.name(), rank: f.entity.rank() })
                .collect();
            Verdict::redact(redact(&input.content, &findings), violations)
        } else {
            Verdict::from_violations(violations)
        };
        verdict.with_label("PHI")
    }
}

fn violation(found: &Found) -> Violation {
    Violation::block("pii_detected", Category::HateBiasPii, found.entity.message())
        .at(found.span)
        .entity(found.entity.name())
}

export_plugin!(Pii);
