//! One module per endpoint family; each owns its request and response types.

pub mod agents;
pub mod auth;
pub mod badge;
pub mod compliance;
pub mod docs;
pub mod executions;
pub mod github_webhook;
pub mod glass_box;
pub mod health;
pub mod ownership;
pub mod presets;
pub mod release_evidence;
pub mod releases;
pub mod settings;
pub mod tasks;
pub mod tokens;
pub mod trust;
pub mod users;
pub mod workflows;
pub mod ws;
