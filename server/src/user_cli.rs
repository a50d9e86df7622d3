//! `certior user create|key`: manage users straight in the store, for bootstrap and recovery.

use crate::auth::{create_account, normalize_email, AccountRequest, ApiKey, Role};
use crate::cli::UserCommand;
use crate::clock::now;
use crate::store::{self, StoreError};

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            email,
            role,
            name,
            password,
            store: settings,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("invalid role {role:?}; choose from: {}", Role::quoted_list(&Role::ALL))
            })?;
            if password
                .as_ref()
                .is_some_and(|p| !(8..=1024).contains(&p.chars().count()))
            {
                anyhow::bail!("--password must have 8 to 1024 characters");
            }
            let store = store::open(settings.database_url.as_deref(), &settings.data_dir).await?;
            let request = AccountRequest {
                email: normalize_email(&email),
                name,
                organization: String::new(),
                role,
                password,
            };
            match create_account(store.as_ref(), request).await? {
                Ok((user, key)) => {
                    eprintln!(
                        "created user {} ({}) with role {}; the API key is shown once:",
                        user.id,
                        user.email,
                        user.role.as_str()
                    );
                    println!("{}", key.plain);
                    Ok(())
                }
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("a user with email {} already exists", normalize_email(&email))
                }
                Err(err) => Err(err.into()),
            }
        }
        UserCommand::Key { email, store: settings } => {
            let store = store::open(settings.database_url.as_deref(), &settings.data_dir).await?;
            let email = normalize_email(&email);
            let user = store
                .user_by_email(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user with email {email}"))?;
            if !user.is_active {
                anyhow::bail!(
                    "user {email} is deactivated; reactivate it first (PATCH /api/v1/auth/users/{})",
                    user.id
                );
            }
            let key = ApiKey::generate();
            store.add_key(&user.id, &key.sha256, now()).await?;
            eprintln!("issued a new API key for {email}; it is shown once:");
            println!("{}", key.plain);
            Ok(())
        }
    }
}
