//! [`Store`]'s identity part on either backend: users, API keys, rate-limit windows and
//! server settings, plus the error mapping every other `sql/` file uses.

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::{bind, listing, lock, DbConn, SqlStore, BACKEND};
use crate::auth::Role;
use crate::store::columns::Columns;
use crate::store::statements::Arg;
use crate::store::*;

const USER_COLUMNS: &str =
    "u.id, u.email, u.name, u.organization, u.role, u.password_hash, u.is_active, u.created_at, u.last_login_at";

fn user_from_row(row: &dyn Columns) -> StoreResult<User> {
    let role = row.text("role")?;
    Ok(User {
        id: row.text("id")?,
        email: row.text("email")?,
        name: row.text("name")?,
        organization: row.text("organization")?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role:?}").into()))?,
        password_hash: row.opt_text("password_hash")?,
        is_active: row.boolean("is_active")?,
        created_at: row.float("created_at")?,
        last_login_at: row.opt_float("last_login_at")?,
    })
}

fn user_with_keys_from_row(row: &dyn Columns) -> StoreResult<UserWithKeys> {
    Ok(UserWithKeys {
        user: user_from_row(row)?,
        active_key_count: row.int("active_key_count")?,
    })
}

fn key_owner_from_row(row: &dyn Columns) -> StoreResult<KeyOwner> {
    Ok(KeyOwner {
        key_id: row.text("key_id")?,
        user: user_from_row(row)?,
    })
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(in crate::store) fn classify(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(err),
        other => StoreError::Other(other),
    }
}

impl SqlStore {
    async fn find_user(&self, id: &str) -> StoreResult<Option<UserWithKeys>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) AS active_key_count \
             FROM users u WHERE u.id = $1"
        );
        self.read_row(&sql, &[Arg::Text(id)], user_with_keys_from_row).await
    }
}

/// Inserts a key and revokes the oldest live keys beyond the limit, inside `tx`.
async fn insert_key(tx: &mut DbConn, user_id: &str, key_sha256: &str, now: f64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO api_keys (id, user_id, key_sha256, created_at) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::new_v4().to_string())
        .bind(user_id)
        .bind(key_sha256)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id NOT IN ( \
           SELECT id FROM api_keys WHERE user_id = $2 AND revoked_at IS NULL \
           ORDER BY created_at DESC, rowid DESC LIMIT $3)",
    )
    .bind(now)
    .bind(user_id)
    .bind(MAX_LIVE_KEYS)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create_user(&self, user: NewUser, key_sha256: &str, now: f64) -> StoreResult<User> {
        let id = Uuid::new_v4().to_string();
        let mut tx = self.write_tx().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, name, organization, role, password_hash, is_active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7)",
        )
        .bind(&id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.organization)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(err) if is_unique_violation(&err) => return Err(StoreError::Conflict("email")),
            other => other.map_err(classify)?,
        };
        insert_key(&mut tx, &id, key_sha256, now).await?;
        tx.commit().await.map_err(classify)?;
        Ok(User {
            id,
            email: user.email,
            name: user.name,
            organization: user.organization,
            role: user.role,
            password_hash: user.password_hash,
            is_active: true,
            created_at: now,
            last_login_at: None,
        })
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        row.as_ref().map(|row| user_from_row(row)).transpose()
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserWithKeys>> {
        self.find_user(id).await
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Vec<UserWithKeys>> {
        let filters = [
            ("u.role", filter.role.map(|role| Arg::Text(role.as_str()))),
            ("u.is_active", filter.is_active.map(Arg::Bool)),
        ];
        let (rest, args) = listing(&filters, "u.created_at DESC, u.id DESC", page);
        let sql = format!(
            "SELECT {USER_COLUMNS}, (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) AS active_key_count \
             FROM users u{rest}"
        );
        let rows = bind(&sql, &args)
            .fetch_all(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        rows.iter().map(|row| user_with_keys_from_row(row)).collect()
    }

    async fn update_user(&self, id: &str, change: &UserChange, now: f64) -> StoreResult<UserUpdate> {
        let mut tx = self.write_tx().await?;
        // One guarded UPDATE: it applies only if the user stays an active admin, or another
        // active admin remains. Under the lock, two concurrent demotions cannot both pass.
        lock(&mut *tx, "users:admins").await?;
        let updated = sqlx::query(
            "UPDATE users SET role = COALESCE($2, role), is_active = COALESCE($3, is_active) \
             WHERE id = $1 AND ( \
               (COALESCE($2, role) = 'admin' AND COALESCE($3, is_active) = TRUE) \
               OR NOT (role = 'admin' AND is_active = TRUE) \
               OR EXISTS (SELECT 1 FROM users o WHERE o.id != $1 AND o.role = 'admin' AND o.is_active = TRUE))",
        )
        .bind(id)
        .bind(change.role.map(Role::as_str))
        .bind(change.is_active)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        if updated.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            return Ok(if exists.is_some() {
                UserUpdate::LastAdmin
            } else {
                UserUpdate::NotFound
            });
        }
        if change.is_active == Some(false) {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(match self.find_user(id).await? {
            Some(user) => UserUpdate::Updated(user),
            None => UserUpdate::NotFound,
        })
    }

    async fn record_login(&self, user_id: &str, now: f64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn add_key(&self, user_id: &str, key_sha256: &str, now: f64) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_key(&mut tx, user_id, key_sha256, now).await.map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    async fn key_owner(&self, key_sha256: &str) -> StoreResult<Option<KeyOwner>> {
        let sql = format!(
            "SELECT k.id AS key_id, {USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id \
             WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL"
        );
        self.read_row(&sql, &[Arg::Text(key_sha256)], key_owner_from_row).await
    }

    async fn revoke_key(&self, key_id: &str, now: f64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(key_id)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn replace_key(&self, user_id: &str, old_key_id: &str, new_key_sha256: &str, now: f64) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(old_key_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        insert_key(&mut tx, user_id, new_key_sha256, now)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    async fn count_events(&self, bucket: &str, since: f64) -> StoreResult<WindowCount> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(at) AS oldest FROM rate_events WHERE bucket = $1 AND at > $2")
            .bind(bucket)
            .bind(since)
            .fetch_one(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        Ok(WindowCount {
            count: row.try_get("n")?,
            oldest_at: row.try_get("oldest")?,
        })
    }

    async fn add_event(&self, bucket: &str, now: f64, expire_before: f64) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM rate_events WHERE bucket = $1 AND at < $2")
            .bind(bucket)
            .bind(expire_before)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("INSERT INTO rate_events (bucket, at) VALUES ($1, $2)")
            .bind(bucket)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    async fn clear_events(&self, bucket: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM rate_events WHERE bucket = $1")
            .bind(bucket)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.read_row(
            "SELECT value FROM server_settings WHERE key = $1",
            &[Arg::Text(key)],
            |row| row.text("value"),
        )
        .await
    }

    async fn put_setting(&self, key: &str, value: &str, now: f64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO server_settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(classify)?;
        Ok(())
    }
}
