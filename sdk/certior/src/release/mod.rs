//! Release gating (spec/RELEASES.md §3): the facts of a `ship` request, the Cedar release gates
//! of a preset, the remediation items they produce, their order and the classification.
//! Storage, evidence and HTTP live in the server; this module is pure.

pub mod catalogue;
pub mod classify;
pub mod facts;
pub mod gates;
pub mod item;

pub use classify::{classify, DecisionStatus};
pub use facts::{
    ArtifactFacts, AttestationFacts, CheckFacts, ElementDetail, EvidenceFacts, ItemContext, PolicyFacts, PropertyFacts,
    ReleaseFacts, WorkflowFacts, EACH_PATHS,
};
pub use gates::{check_annotations, evaluate, GateOutcome};
pub use item::{order_and_dedupe, render, ItemSeverity, RemediationItem, Vars};
