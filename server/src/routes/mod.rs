//! One module per endpoint family; each owns its request and response types.

pub mod auth;
pub mod compliance;
pub mod docs;
pub mod health;
pub mod settings;
pub mod trust;
pub mod users;
