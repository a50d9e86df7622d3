//! The embedded default store: one SQLite file in WAL mode with foreign keys on. The SQL is
//! shared with PostgreSQL (`sql/`); this file holds what only SQLite does: the connection set-up,
//! one writer connection that serialises every write, and an in-process event feed.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, Transaction};
use tokio::sync::broadcast;

use super::{Backend, StoreResult};

#[path = "sql/mod.rs"]
mod sql;

use sql::classify;

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type DbConn = sqlx::SqliteConnection;
type SqlStore = SqliteStore;
const BACKEND: Backend = Backend::Sqlite;

// Row locks need no syntax here: every write transaction holds the database's one write lock.
const FOR_UPDATE: &str = "";
const SKIP_LOCKED: &str = "";
/// The `digest` member of an evidence row's JSON `data`.
const EVIDENCE_DIGEST: &str = "json_extract(data, '$.digest')";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Notices a slow listener may fall behind by before it is told it lagged (and re-reads).
const EVENT_FEED_CAPACITY: usize = 1024;

pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer.
    pool: SqlitePool,
    /// The one connection every write of this process goes through. Writers queue here, on an
    /// async semaphore, instead of inside SQLite, whose busy handler backs off by sleeping for up
    /// to 100 ms per retry; other processes sharing the file still meet the busy timeout.
    writer: SqlitePool,
    /// Subject ids of chains that just grew (see [`super::ExecutionStore::subscribe_events`]).
    event_feed: broadcast::Sender<Arc<str>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let (event_feed, _) = broadcast::channel(EVENT_FEED_CAPACITY);
        Ok(Self {
            pool,
            writer,
            event_feed,
        })
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front: a deferred
    /// transaction that upgrades after another connection wrote fails at once with `SQLITE_BUSY`
    /// instead of waiting for the busy timeout.
    async fn write_tx(&self) -> StoreResult<Transaction<'static, Db>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(classify)
    }

    /// Commits, then announces the chains that grew. After the commit, never before: a listener
    /// that wakes re-reads the chain and must find the new events there.
    async fn commit_announcing(&self, tx: Transaction<'static, Db>, subjects: &[&str]) -> StoreResult<()> {
        tx.commit().await.map_err(classify)?;
        for subject in subjects {
            // An error only means nobody is listening right now.
            let _ = self.event_feed.send((*subject).into());
        }
        Ok(())
    }
}

/// Named locks are free for the same reason as row locks: the write transaction already
/// excludes every other writer.
async fn lock(_tx: &mut DbConn, _name: &str) -> StoreResult<()> {
    Ok(())
}

impl SqliteStore {
    /// A lock held across several statements: nothing to take, because one process serves a
    /// SQLite file and its callers already take such turns in-process.
    async fn session_lock(&self, _name: &str) -> StoreResult<Box<dyn Send>> {
        Ok(Box::new(()))
    }
}
