//! Release gating (spec/RELEASES.md): repo keys, evidence, the per-repo policy, the decision
//! over the presets' release gates, health, the badge and the GitHub integration. The pure
//! engine (facts, Cedar gates, items, classification) is `certior::release`.

pub mod attestation;
pub mod badge;
pub mod baseline;
pub mod decision;
pub mod evidence;
pub mod facts;
pub mod fields;
pub mod freshness;
pub mod github;
pub mod health;
pub mod plugins;
pub mod policy;
pub mod repo_key;
pub mod runtime;
pub mod sha;
pub mod workflow_evidence;
