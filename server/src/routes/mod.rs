//! One module per endpoint family; each owns its request and response types.

pub mod auth;
pub mod compliance;
pub mod docs;
pub mod executions;
pub mod health;
pub mod settings;
pub mod tasks;
pub mod trust;
pub mod users;
pub mod workflows;
pub mod ws;
