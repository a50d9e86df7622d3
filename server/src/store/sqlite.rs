//! The embedded default store: one SQLite file in WAL mode with foreign keys on. The SQL is
//! shared with PostgreSQL (`sql/`); this file holds what only SQLite does: the connection set-up,
//! one writer connection that serialises every write, and an in-process event feed.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool::unmanaged::{Object, Pool};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Executor, SqliteConnection};
use tokio::sync::{broadcast, Mutex, OwnedMutexGuard};

use super::{Backend, StoreError, StoreResult};

#[path = "sql/mod.rs"]
mod sql;

use sql::classify;

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
/// Reader connections, each with its own thread.
const READERS: usize = 8;

pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer. Not an sqlx pool, which pings every
    /// connection handed back (a round trip to its thread, from a spawned task) although a
    /// local file cannot go stale, and a dropped query is reset by the connection itself.
    readers: Pool<SqliteConnection>,
    /// The one connection every write of this process goes through. Writers queue here, in
    /// FIFO order on an async mutex, instead of inside SQLite, whose busy handler backs off by
    /// sleeping for up to 100 ms per retry; other processes sharing the file still meet the
    /// busy timeout. Not a one-connection pool: a pool pings the connection on every release
    /// and hands it back through a spawned task, two round trips and a task switch per write
    /// on the path every other writer is waiting on.
    writer: Arc<Mutex<WriterConn>>,
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
        let mut writer = options.connect().await?;
        MIGRATOR.run(&mut writer).await?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(options.connect().await?);
        }
        let (event_feed, _) = broadcast::channel(EVENT_FEED_CAPACITY);
        Ok(Self {
            readers: Pool::from(readers),
            writer: Arc::new(Mutex::new(WriterConn {
                connection: writer,
                open_transaction: false,
            })),
            event_feed,
        })
    }

    /// A reader connection, for reads only.
    async fn read_conn(&self) -> StoreResult<Object<SqliteConnection>> {
        // `get` fails only once the pool is closed, which this store never does.
        self.readers
            .get()
            .await
            .map_err(|_| StoreError::Other(sqlx::Error::PoolClosed))
    }

    /// The writer connection, for one statement in its own (implicit) transaction.
    async fn write_conn(&self) -> StoreResult<Writer> {
        let mut writer = self.writer.clone().lock_owned().await;
        if writer.open_transaction {
            // The rollback of a dropped transaction failed; try again before anything else.
            writer.connection.execute("ROLLBACK").await.map_err(classify)?;
            writer.open_transaction = false;
        }
        Ok(Writer(Some(writer)))
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front: a deferred
    /// transaction that upgrades after another connection wrote fails at once with `SQLITE_BUSY`
    /// instead of waiting for the busy timeout.
    async fn write_tx(&self) -> StoreResult<WriteTx> {
        let mut writer = self.write_conn().await?;
        writer.execute("BEGIN IMMEDIATE").await.map_err(classify)?;
        writer.0.as_mut().expect("present until dropped").open_transaction = true;
        Ok(writer)
    }

    /// Commits, then announces the chains that grew. After the commit, never before: a listener
    /// that wakes re-reads the chain and must find the new events there.
    async fn commit_announcing(&self, tx: WriteTx, subjects: &[&str]) -> StoreResult<()> {
        tx.commit().await.map_err(classify)?;
        for subject in subjects {
            // An error only means nobody is listening right now.
            let _ = self.event_feed.send((*subject).into());
        }
        Ok(())
    }
}

struct WriterConn {
    connection: SqliteConnection,
    /// Set between `BEGIN` and a successful `COMMIT`.
    open_transaction: bool,
}

/// Exclusive use of the writer connection: for one statement ([`SqliteStore::write_conn`]) or
/// a transaction ([`SqliteStore::write_tx`], open until [`Writer::commit`]).
struct Writer(Option<OwnedMutexGuard<WriterConn>>);

/// What `write_tx` hands out: the writer inside `BEGIN IMMEDIATE`.
type WriteTx = Writer;

impl Writer {
    async fn commit(mut self) -> Result<(), sqlx::Error> {
        let writer = self.0.as_mut().expect("present until dropped");
        writer.connection.execute("COMMIT").await?;
        writer.open_transaction = false;
        Ok(())
    }
}

/// A transaction dropped before its commit (its owner hit an error) is rolled back before
/// the connection serves anyone else: the guard moves into the task that rolls back.
impl Drop for Writer {
    fn drop(&mut self) {
        let Some(mut writer) = self.0.take() else { return };
        if !writer.open_transaction {
            return;
        }
        tokio::spawn(async move {
            if writer.connection.execute("ROLLBACK").await.is_ok() {
                writer.open_transaction = false;
            }
        });
    }
}

impl Deref for Writer {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.0.as_ref().expect("present until dropped").connection
    }
}

impl DerefMut for Writer {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.0.as_mut().expect("present until dropped").connection
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("certior.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        (dir, store)
    }

    async fn user_count(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *store.read_conn().await.unwrap())
            .await
            .unwrap()
    }

    async fn insert_user(writer: &mut SqliteConnection, id: &str) {
        sqlx::query("INSERT INTO users (id, email, name, role, created_at) VALUES ($1, $2, 'n', 'USER', 0)")
            .bind(id)
            .bind(format!("{id}@example.com"))
            .execute(writer)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_dropped_transaction_is_rolled_back_before_the_next_writer() {
        let (_dir, store) = store().await;
        let mut tx = store.write_tx().await.unwrap();
        insert_user(&mut tx, "u1").await;
        drop(tx);
        // The next writer waits for the rollback, then has the connection to itself.
        let mut tx = store.write_tx().await.unwrap();
        insert_user(&mut tx, "u2").await;
        tx.commit().await.unwrap();
        assert_eq!(user_count(&store).await, 1);
        let mut single = store.write_conn().await.unwrap();
        insert_user(&mut single, "u3").await;
        drop(single);
        assert_eq!(user_count(&store).await, 2);
    }

    #[tokio::test]
    async fn writers_take_turns() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let writers: Vec<_> = (0..16)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut tx = store.write_tx().await.unwrap();
                    insert_user(&mut tx, &format!("u{n}")).await;
                    tokio::task::yield_now().await;
                    store.commit_announcing(tx, &[]).await.unwrap();
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(user_count(&store).await, 16);
    }
}
