//! PostgreSQL, for any number of replicas on one database: the database is the coordination
//! engine. The SQL is shared with SQLite (`sql/`); this file holds what only PostgreSQL does:
//! row locks (`FOR UPDATE`, `SKIP LOCKED` for the job queue), named transaction-scoped advisory
//! locks, and event announcements through `NOTIFY`, which every replica `LISTEN`s to.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Transaction};
use tokio::sync::broadcast;

use super::columns::Decode;
use super::statements::{Arg, Statements};
use super::{Backend, StoreResult, FEED_RESET};

#[path = "sql/mod.rs"]
mod sql;

use sql::classify;

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;
type DbConn = sqlx::PgConnection;
type SqlStore = PostgresStore;
const BACKEND: Backend = Backend::Postgres;

const FOR_UPDATE: &str = " FOR UPDATE";
/// A job row another replica is claiming is passed over, not waited for.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
/// The `digest` member of an evidence row's JSON `data`.
const EVIDENCE_DIGEST: &str = "(data::jsonb ->> 'digest')";
/// Run first in a transaction whose reads must all see one snapshot (the default, read
/// committed, takes a new snapshot per statement).
const SNAPSHOT: Option<&str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The `NOTIFY` channel; each payload is the id of a chain that grew.
const EVENT_CHANNEL: &str = "certior_events";
/// Notices a slow listener may fall behind by before it is told it lagged (and re-reads).
const EVENT_FEED_CAPACITY: usize = 1024;
/// Connections per replica; the listener holds one more.
const MAX_CONNECTIONS: u32 = 16;

/// PostgreSQL runs writers concurrently: a write transaction is a pooled one.
type WriteTx = Transaction<'static, Db>;

pub struct PostgresStore {
    pool: PgPool,
    /// Subject ids of chains that just grew, on any replica (forwarded from `LISTEN`).
    event_feed: broadcast::Sender<Arc<str>>,
}

impl PostgresStore {
    /// Connects, applies pending migrations (sqlx holds an advisory lock meanwhile, so replicas
    /// starting together migrate once) and starts listening for other replicas' events.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("cannot connect to PostgreSQL at DATABASE_URL")?;
        MIGRATOR.run(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(EVENT_CHANNEL).await?;
        let (event_feed, _) = broadcast::channel(EVENT_FEED_CAPACITY);
        tokio::spawn(forward_notifications(listener, event_feed.clone()));
        Ok(Self { pool, event_feed })
    }

    async fn write_tx(&self) -> StoreResult<WriteTx> {
        self.pool.begin().await.map_err(classify)
    }

    /// Any pooled connection.
    async fn read_conn(&self) -> StoreResult<PoolConnection<Db>> {
        self.pool.acquire().await.map_err(classify)
    }

    /// Runs `sql` (one `SELECT`) with `args` bound to `$1`, `$2`, … and decodes its first row.
    async fn read_row<T: Send>(&self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        self.read_conn().await?.row(sql, args, decode).await
    }

    /// [`Self::read_row`] for every row.
    async fn read_rows<T: Send>(&self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        self.read_conn().await?.rows(sql, args, decode).await
    }

    /// Any pooled connection: writes need no queue of their own.
    async fn write_conn(&self) -> StoreResult<PoolConnection<Db>> {
        self.read_conn().await
    }

    /// Commits with a notice per chain that grew, all sent by one statement. `NOTIFY` is
    /// transactional: listeners hear of the events only once they are committed, and never of a
    /// rolled-back append.
    async fn commit_announcing(&self, mut tx: WriteTx, subjects: &[&str]) -> StoreResult<()> {
        if !subjects.is_empty() {
            sqlx::query("SELECT pg_notify($1, subject) FROM unnest($2::text[]) AS subject")
                .bind(EVENT_CHANNEL)
                .bind(subjects)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    /// PostgreSQL has one kind of connection: the statements of `sql/` that SQLite runs on its
    /// direct connection run in an ordinary transaction here.
    async fn begin(&self) -> StoreResult<WriteTx> {
        self.write_tx().await
    }

    async fn commit(&self, tx: WriteTx, subjects: &[&str]) -> StoreResult<()> {
        self.commit_announcing(tx, subjects).await
    }

    /// The named lock, held across several statements and transactions until the returned
    /// guard drops: a session-level advisory lock on a connection the guard keeps from the pool.
    async fn session_lock(&self, name: &str) -> StoreResult<Box<dyn Send>> {
        let mut connection = self.pool.acquire().await.map_err(classify)?;
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
            .bind(name)
            .execute(&mut *connection)
            .await
            .map_err(classify)?;
        Ok(Box::new(SessionLock(Some(connection))))
    }
}

/// Releases its connection's advisory locks when dropped, before the connection goes back to
/// the pool; a connection that cannot unlock is closed instead, which releases them too.
struct SessionLock(Option<PoolConnection<Db>>);

impl Drop for SessionLock {
    fn drop(&mut self) {
        let Some(mut connection) = self.0.take() else { return };
        tokio::spawn(async move {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut *connection)
                .await;
            if unlocked.is_err() {
                connection.close_on_drop();
            }
        });
    }
}

/// Takes the named lock until `tx` ends: writers of one chain, workflow or preset key take turns.
async fn lock(tx: &mut (impl Statements + ?Sized), name: &str) -> StoreResult<()> {
    tx.run(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[Arg::Text(name)],
    )
    .await?;
    Ok(())
}

/// Hands every notice to this replica's subscribers. When the connection drops, `PgListener`
/// reconnects and notices sent meanwhile are lost: [`FEED_RESET`] then tells every subscriber
/// to re-read.
async fn forward_notifications(mut listener: PgListener, feed: broadcast::Sender<Arc<str>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => {
                let _ = feed.send(notice.payload().into());
            }
            Ok(None) => {
                tracing::warn!("event listener lost its PostgreSQL connection; reconnecting");
                let _ = feed.send(FEED_RESET.into());
            }
            Err(err) => {
                tracing::warn!(error = %err, "event listener lost PostgreSQL; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
