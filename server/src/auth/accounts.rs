//! Account creation shared by registration, `certior user create` and the bootstrap admin.

use super::{hash_password, ApiKey, Role};
use crate::clock::now;
use crate::store::{NewUser, Store, StoreResult, User};

pub struct AccountRequest {
    /// Already trimmed and lower-cased.
    pub email: String,
    pub name: String,
    pub organization: String,
    pub role: Role,
    pub password: Option<String>,
}

/// Lower-case, trimmed: the one form emails are stored and looked up in.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Creates the user with its first API key; an empty name falls back to the email.
pub async fn create_account(store: &dyn Store, request: AccountRequest) -> anyhow::Result<StoreResult<(User, ApiKey)>> {
    let password_hash = match request.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let name = if request.name.is_empty() {
        request.email.clone()
    } else {
        request.name
    };
    let key = ApiKey::generate();
    let new_user = NewUser {
        email: request.email,
        name,
        organization: request.organization,
        role: request.role,
        password_hash,
    };
    Ok(store
        .create_user(new_user, &key.sha256, now())
        .await
        .map(|user| (user, key)))
}

/// Creates the administrator named by `CERTIOR_BOOTSTRAP_ADMIN_*` unless that email exists.
pub async fn bootstrap_admin(store: &dyn Store, email: &str, password: &str) -> anyhow::Result<()> {
    let email = normalize_email(email);
    if store.user_by_email(&email).await?.is_some() {
        tracing::info!(%email, "bootstrap administrator already exists; left unchanged");
        return Ok(());
    }
    let request = AccountRequest {
        email: email.clone(),
        name: String::new(),
        organization: String::new(),
        role: Role::Admin,
        password: Some(password.to_owned()),
    };
    match create_account(store, request).await? {
        Ok(_) => tracing::info!(%email, "created bootstrap administrator"),
        Err(crate::store::StoreError::Conflict(_)) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(())
}
