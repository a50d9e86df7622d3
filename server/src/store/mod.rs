//! Persistence behind one interface, so routes never see SQL. Two backends implement [`Store`]
//! with one body of SQL (`sql/`, compiled once per backend): SQLite, the embedded default, and
//! PostgreSQL, which several replicas share.

mod agents;
mod columns;
mod executions;
mod postgres;
mod presets;
mod releases;
mod sqlite;
mod sqlite_writer;
mod statements;
mod stored_json;
mod workflows;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::Role;

pub use agents::{AgentStore, DelegationRecord, DelegationStatus, GlassBoxRecord, TokenRecord};
pub use executions::{
    notice_concerns, ClaimedJob, EventDraft, ExecStatus, ExecutionRecord, ExecutionStore, NewDelivery, NewExecution,
    NewToken, StepBegin, StepRecorded, StepStart, StepThen, StepWrite, StoredEvent, StoredStep, Transition, FEED_RESET,
    JOB_QUEUED,
};
pub use postgres::PostgresStore;
pub use presets::{NewPresetVersion, PresetStore, StoredPresetVersion, PRESETS_CHANGED};
pub use releases::{
    Delivery, DeliveryEffect, DeliveryRecorded, EvidenceBatch, EvidenceWrite, IngestIssue, NewPromotion, PolicyPut,
    PolicyWrite, PrHead, PromotionRecord, ReleaseStore, RepoRecord, SnapshotRecord, StoredEvidence,
    StoredReleasePolicy,
};
pub use sqlite::{without_memory_statistics, SqliteStore};
pub use stored_json::StoredJson;
pub use workflows::{
    NewStage, NewWorkflow, StageExecution, StageOutcome, StageRecord, StageStatus, WorkflowRecord, WorkflowStatus,
    WorkflowStore,
};

/// Which database answers; reported by `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the email is taken).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The database could not be reached at all (503 to clients).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[from] sqlx::Error),
    /// From SQLite's direct connections (see `sqlite.rs`).
    #[error("database error: {0}")]
    Direct(#[source] rusqlite::Error),
    /// The commit of a group of SQLite transactions failed (see `sqlite_writer.rs`).
    #[error("database error: commit failed: {0}")]
    Commit(Arc<str>),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stored value that does not decode, named by `what` (a column, usually).
fn decode_error(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Other(sqlx::Error::Decode(format!("{what}: {err}").into()))
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub organization: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub created_at: f64,
    pub last_login_at: Option<f64>,
}

/// A user as an administrator sees it: the row plus its live key count.
#[derive(Debug, Clone)]
pub struct UserWithKeys {
    pub user: User,
    pub active_key_count: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub organization: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

/// Outcome of [`Store::update_user`].
#[derive(Debug)]
pub enum UserUpdate {
    Updated(UserWithKeys),
    NotFound,
    /// The change would leave no active administrator.
    LastAdmin,
}

/// `limit`/`offset` of a list endpoint (spec §1.10).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// A live API key, found by the SHA-256 digest of the presented key.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub key_id: String,
    pub user: User,
}

/// A sliding-window counter: how many events a bucket holds within the window.
#[derive(Debug, Clone, Copy)]
pub struct WindowCount {
    pub count: i64,
    /// Time of the oldest event still inside the window, to compute `Retry-After`.
    pub oldest_at: Option<f64>,
}

/// At most this many live keys per user; issuing another revokes the oldest (spec §1.11).
pub const MAX_LIVE_KEYS: i64 = 20;

#[async_trait]
pub trait Store: ExecutionStore + WorkflowStore + AgentStore + PresetStore + ReleaseStore + Send + Sync {
    fn backend(&self) -> Backend;
    /// Answers only when the database does; `/health` reports the result.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates the user with its first key in one transaction; a taken email is `Conflict`.
    async fn create_user(&self, user: NewUser, key_sha256: &str, now: f64) -> StoreResult<User>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserWithKeys>>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<Vec<UserWithKeys>>;
    async fn update_user(&self, id: &str, change: &UserChange, now: f64) -> StoreResult<UserUpdate>;
    async fn record_login(&self, user_id: &str, now: f64) -> StoreResult<()>;

    /// Adds a key and revokes the oldest live keys beyond [`MAX_LIVE_KEYS`].
    async fn add_key(&self, user_id: &str, key_sha256: &str, now: f64) -> StoreResult<()>;
    async fn key_owner(&self, key_sha256: &str) -> StoreResult<Option<KeyOwner>>;
    async fn revoke_key(&self, key_id: &str, now: f64) -> StoreResult<()>;
    /// Revokes `old_key_id` and adds the new key atomically.
    async fn replace_key(&self, user_id: &str, old_key_id: &str, new_key_sha256: &str, now: f64) -> StoreResult<()>;

    async fn count_events(&self, bucket: &str, since: f64) -> StoreResult<WindowCount>;
    /// Records an event and drops the bucket's events older than `expire_before`.
    async fn add_event(&self, bucket: &str, now: f64, expire_before: f64) -> StoreResult<()>;
    async fn clear_events(&self, bucket: &str) -> StoreResult<()>;

    /// A server-wide setting (a JSON text), if one was stored.
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores a server-wide setting, replacing any earlier value.
    async fn put_setting(&self, key: &str, value: &str, now: f64) -> StoreResult<()>;
}

/// Opens the store the settings select: `DATABASE_URL` when set, else SQLite in the data dir.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PostgresStore::connect(url).await?))
        }
        Some(url) if url.starts_with("sqlite:") => Ok(Arc::new(SqliteStore::connect(url).await?)),
        Some(url) => anyhow::bail!(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite:, got {:?}",
            url.split(':').next().unwrap_or_default()
        ),
        None => {
            std::fs::create_dir_all(data_dir)?;
            let path = data_dir.join("certior.db");
            Ok(Arc::new(
                SqliteStore::connect(&format!("sqlite://{}", path.display())).await?,
            ))
        }
    }
}
