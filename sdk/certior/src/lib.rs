//! Certior's embeddable policy engine. No HTTP, no database.
//!
//! The server builds a [`PresetRegistry`], resolves a task's permissions with
//! [`resolve_permissions`] under a composed [`VerificationProfile`], and runs every tool call
//! through a [`Guard`]; allowed calls come back with a [`Certificate`] signed by the
//! [`SigningKeyring`], and events are chained with [`chain_hash`] / [`verify_chain`].

pub mod audit;
pub mod authz;
pub mod budget;
pub mod canonical;
pub mod capability;
pub mod cedar;
pub mod certificate;
pub mod content;
mod decision_cache;
pub mod guard;
pub mod lattice;
pub mod plugin_host;
pub mod preset;
pub mod profile;
pub mod release;
pub mod resolve;
pub mod signing;
pub mod token;
pub mod tools;
pub mod violation;
pub mod wasm_gate;

pub use audit::{chain_hash, verify_chain, ChainEvent, ChainVerification, GENESIS_HASH};
pub use authz::{AuthzAnswer, Principal};
pub use budget::{BudgetExceeded, BudgetLedger};
pub use capability::{attenuate, covered, DelegationDenial, Grant};
pub use certificate::{
    verify_document, Certificate, CertificateContent, DocumentVerification, InvalidReason, TrustedKeys,
};
pub use content::{ContentAction, ContentGate, ContentRequest, ContentSubject, ContentVerdict};
pub use guard::{Admission, Guard, GuardConfig, GuardDecision, OutputDecision, TokenGrant, ToolCall};
pub use preset::{Preset, PresetDescriptor, PresetError, PresetRegistry, PresetSource};
pub use profile::{build_profile, compose_with_preset, ProfileRequest, StageRole, TaskClass, VerificationProfile};
pub use resolve::{
    resolve_permissions, DenialReason, PermissionDenial, PermissionResolution, ResolutionRequest, RoleNotPermitted,
};
pub use signing::{KeyStatus, PublicKeyEntry, SigningKeyError, SigningKeyring};
pub use token::{verify_token, TokenClaims};
pub use violation::{Phase, Severity, Violation};
pub use wasm_gate::WasmGate;
