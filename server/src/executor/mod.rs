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

pub use worker::spawn_workers;
