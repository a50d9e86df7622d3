//! Identity: roles, API keys, passwords, the authenticated caller and login/registration limits.

mod accounts;
mod api_key;
mod caller;
mod password;
mod rate_limit;
mod role;

pub use accounts::{bootstrap_admin, create_account, normalize_email, AccountRequest};
pub use api_key::{presented_key, ApiKey};
pub use caller::{
    AdminOnly, Caller, EvidenceRecorders, GlassBoxReader, MaybeAdmin, PresetAuthors, ReleaseApprovers, TaskCreators,
    WorkflowCreators, Writers,
};
pub use password::{hash_password, verify_password};
pub use rate_limit::{RateLimiter, LOGIN_PER_EMAIL, LOGIN_PER_IP, REGISTER_PER_IP, VALIDATE_PER_USER};
pub use role::Role;
