//! Runs queued tasks (spec §9). Workers lease jobs from the store and drive each execution
//! through its provider; every tool call passes the Guard, and every attempt is recorded before
//! the next one starts, so a run survives the death of its worker and resumes from its last
//! recorded step.

mod admission;
mod agentic;
mod final_output;
mod gate;
mod plan;
mod proofs;
mod run;
mod tally;
mod worker;

pub use admission::{admit_stage, Refused};
pub use worker::spawn_workers;

use crate::state::AppState;
use crate::store::ExecutionRecord;
use crate::{webhooks, workflows};

/// What follows an execution's terminal status (`event` is its type): the completion webhook,
/// and for a workflow stage, the workflow's next step.
pub fn finished(state: &AppState, execution: &ExecutionRecord, event: &str) {
    webhooks::announce(state, execution, event);
    if let Some(workflow_id) = &execution.workflow_id {
        workflows::kick(state, workflow_id);
    }
}
