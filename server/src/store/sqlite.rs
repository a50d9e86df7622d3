//! The embedded default store: one SQLite file in WAL mode with foreign keys on. The SQL is
//! shared with PostgreSQL (`sql/`); this file holds what only SQLite does: the connection set-up,
//! the one writer that serialises every write (`sqlite_writer.rs`), direct readers on the
//! caller's thread, and an in-process event feed.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool::unmanaged::{Object, Pool};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Executor, SqliteConnection};
use tokio::sync::broadcast;

use super::columns::{all_rows, first_row, Decode};
use super::sqlite_writer::{DirectTx, SharedWriter, Writer};
use super::statements::{Arg, Statements};
use super::{Backend, StoreError, StoreResult};

#[path = "sql/mod.rs"]
mod sql;

use sql::classify;

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type DbConn = sqlx::SqliteConnection;
type SqlStore = SqliteStore;
const BACKEND: Backend = Backend::Sqlite;
/// What `write_tx` hands out: the sqlx connection inside `BEGIN IMMEDIATE`.
type WriteTx = Writer;

// Row locks need no syntax here: every write transaction holds the database's one write lock.
const FOR_UPDATE: &str = "";
const SKIP_LOCKED: &str = "";
/// The `digest` member of an evidence row's JSON `data`.
const EVIDENCE_DIGEST: &str = "json_extract(data, '$.digest')";
/// Nothing to set: in WAL mode a transaction's reads all see the snapshot its first read took.
const SNAPSHOT: Option<&str> = None;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Notices a slow listener may fall behind by before it is told it lagged (and re-reads).
const EVENT_FEED_CAPACITY: usize = 1024;
/// Reader connections, each with its own thread.
const READERS: usize = 8;
/// Direct readers: one per thread that may read at once (the runtime's workers, and a spare).
const DIRECT_READERS: usize = 4;

pub struct SqliteStore {
    /// Readers: WAL lets them run beside the writer. Not an sqlx pool, which pings every
    /// connection handed back (a round trip to its thread, from a spawned task) although a
    /// local file cannot go stale, and a dropped query is reset by the connection itself.
    readers: Pool<SqliteConnection>,
    /// Readers called on the caller's own thread, for the point reads every request or job
    /// makes ([`SqliteStore::read_row`]). An sqlx connection runs each statement on a thread of
    /// its own: two thread wake-ups per statement, which cost more than the read itself.
    direct_readers: Pool<rusqlite::Connection>,
    /// The writer every write of this process goes through (an sqlx and a direct connection).
    /// Writers queue here, in FIFO order on an async mutex, instead of inside SQLite, whose
    /// busy handler backs off by sleeping for up to 100 ms per retry; other processes sharing
    /// the file still meet the busy timeout. Not a one-connection pool: a pool pings the
    /// connection on every release and hands it back through a spawned task.
    writer: SharedWriter,
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
        let direct = open_direct(options.get_filename())?;
        // Group commit nests each writer in a savepoint, whose sub-journal SQLite spills to a
        // temporary file past 64 KiB: a write and a read of a file per statement. In memory,
        // it costs a copy of each page (at most a group's worth).
        direct.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;")?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(options.connect().await?);
        }
        let mut direct_readers = Vec::with_capacity(DIRECT_READERS);
        for _ in 0..DIRECT_READERS {
            direct_readers.push(open_direct(options.get_filename())?);
        }
        let (event_feed, _) = broadcast::channel(EVENT_FEED_CAPACITY);
        Ok(Self {
            readers: Pool::from(readers),
            direct_readers: Pool::from(direct_readers),
            writer: SharedWriter::new(writer, direct),
            event_feed,
        })
    }

    /// A reader connection, for reads only.
    async fn read_conn(&self) -> StoreResult<Object<SqliteConnection>> {
        self.readers.get().await.map_err(pool_closed)
    }

    /// Runs `sql` (one `SELECT`) with `args` bound to `$1`, `$2`, … on a direct reader and
    /// decodes its first row. The read blocks this thread for as long as SQLite takes: a point
    /// lookup by key in a local file, tens of microseconds.
    async fn read_row<T: Send>(&self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        let reader = self.direct_readers.get().await.map_err(pool_closed)?;
        first_row(&reader, sql, args, decode)
    }

    /// [`Self::read_row`] for every row: the few rows of one execution or chain.
    async fn read_rows<T: Send>(&self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        let reader = self.direct_readers.get().await.map_err(pool_closed)?;
        all_rows(&reader, sql, args, decode)
    }

    /// The writer's sqlx connection, for one statement in its own (implicit) transaction.
    async fn write_conn(&self) -> StoreResult<Writer> {
        self.writer.sqlx_conn().await
    }

    /// A write transaction on the writer's sqlx connection. `BEGIN IMMEDIATE` takes the write
    /// lock up front: a deferred transaction that upgrades after another connection wrote fails
    /// at once with `SQLITE_BUSY` instead of waiting for the busy timeout.
    async fn write_tx(&self) -> StoreResult<WriteTx> {
        let mut writer = self.write_conn().await?;
        writer.execute("BEGIN IMMEDIATE").await.map_err(classify)?;
        writer.began();
        Ok(writer)
    }

    /// Commits, then announces the chains that grew. After the commit, never before: a listener
    /// that wakes re-reads the chain and must find the new events there.
    async fn commit_announcing(&self, tx: WriteTx, subjects: &[&str]) -> StoreResult<()> {
        tx.commit().await.map_err(classify)?;
        self.announce(subjects);
        Ok(())
    }

    fn announce(&self, subjects: &[&str]) {
        for subject in subjects {
            // An error only means nobody is listening right now.
            let _ = self.event_feed.send((*subject).into());
        }
    }

    /// A write transaction on the writer's direct connection (see `sqlite_writer.rs`).
    async fn begin(&self) -> StoreResult<DirectTx> {
        self.writer.begin().await
    }

    /// Commits a [`Self::begin`] transaction, then announces the chains that grew.
    async fn commit(&self, tx: DirectTx, subjects: &[&str]) -> StoreResult<()> {
        self.writer.commit(tx).await?;
        self.announce(subjects);
        Ok(())
    }
}

/// A reader pool's `get` fails only once the pool is closed, which this store never does.
fn pool_closed<E>(_: E) -> StoreError {
    StoreError::Other(sqlx::Error::PoolClosed)
}

/// Turns SQLite's memory statistics off for the process: while they are on, every allocation
/// and free inside SQLite takes a process-wide mutex, and nothing here reads them. SQLite takes
/// this setting only before it is first used, from a thread while no other uses it: call it
/// first thing in `main`. Later, it changes nothing.
pub fn without_memory_statistics() {
    // SAFETY: `SQLITE_CONFIG_MEMSTATUS` takes one `int`, and the caller runs before any other
    // use of SQLite. Once SQLite is initialised the call only returns `SQLITE_MISUSE`.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int);
    }
}

/// A direct connection to the database file the sqlx connections opened (and migrated).
fn open_direct(file: &std::path::Path) -> anyhow::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    if file.to_string_lossy().starts_with("file:sqlx-in-memory") {
        anyhow::bail!("the SQLite store needs a database file; an in-memory database is not supported");
    }
    let connection = rusqlite::Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // Room for every statement of the execution pipeline, so none is prepared twice.
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// Named locks are free for the same reason as row locks: the write transaction already
/// excludes every other writer.
async fn lock(_tx: &mut (impl Statements + ?Sized), _name: &str) -> StoreResult<()> {
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
    use tokio::task::JoinHandle;

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

    async fn insert_user(writer: &mut (impl Statements + ?Sized), id: &str) {
        let email = format!("{id}@example.com");
        writer
            .run(
                "INSERT INTO users (id, email, name, role, created_at) VALUES ($1, $2, 'n', 'USER', 0)",
                &[Arg::Text(id), Arg::Text(&email)],
            )
            .await
            .unwrap();
    }

    async fn user_exists(store: &SqliteStore, id: &str) -> bool {
        let args = [Arg::Text(id)];
        let found = store.read_row("SELECT id FROM users WHERE id = $1", &args, |row| row.text("id"));
        found.await.unwrap().is_some()
    }

    /// Commits `tx` from a task of its own; the writer's queue decides when it returns.
    fn commit_in_background(store: &Arc<SqliteStore>, tx: DirectTx) -> JoinHandle<StoreResult<()>> {
        let store = store.clone();
        tokio::spawn(async move { store.commit(tx, &[]).await })
    }

    /// A transaction that inserted `u1`, with a second writer queued behind it, so that its
    /// commit joins a group. The second inserts `u2` and then drops its transaction, or with
    /// `hang` never ends (until aborted).
    async fn first_with_second_queued(store: &Arc<SqliteStore>, hang: bool) -> (DirectTx, JoinHandle<()>) {
        let mut first = store.begin().await.unwrap();
        insert_user(&mut *first, "u1").await;
        let second = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                insert_user(&mut *tx, "u2").await;
                if hang {
                    std::future::pending::<()>().await;
                }
            })
        };
        while store.writer.queued() == 0 {
            tokio::task::yield_now().await;
        }
        (first, second)
    }

    /// The first writer's rows are visible once its commit returns; the second's never are.
    async fn only_the_first_committed(store: &SqliteStore) {
        assert!(
            user_exists(store, "u1").await,
            "a commit returns once its rows are visible"
        );
        assert!(
            !user_exists(store, "u2").await,
            "a dropped member leaves nothing behind"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_commits_its_members_and_not_a_dropped_one() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let (first, second) = first_with_second_queued(&store, false).await;
        let committed = commit_in_background(&store, first);
        second.await.unwrap();
        committed.await.unwrap().unwrap();
        only_the_first_committed(&store).await;
    }

    fn event(kind: &str, timestamp: f64) -> crate::store::EventDraft {
        crate::store::EventDraft {
            kind: kind.into(),
            data: serde_json::json!({"status": kind}),
            timestamp,
        }
    }

    fn step(step_index: i64) -> crate::store::StepWrite {
        crate::store::StepWrite {
            step_index,
            record: serde_json::json!({"step": step_index}),
            output: Some("ok".into()),
            certificate: None,
            cost_cents: 1,
            current_step: step_index + 1,
            certificate_ids: Vec::new(),
            proof_properties: Vec::new(),
            spent_cents: 1,
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    fn begin(step_index: i64, timestamp: f64) -> crate::store::StepBegin {
        crate::store::StepBegin {
            step_index,
            attempt: 1,
            event: event("execution.executing_tool", timestamp),
        }
    }

    /// A queued execution `e1` of user `u1`, claimed by worker `a` until t = 3.
    async fn claimed_execution(store: &SqliteStore) {
        use crate::store::{ExecutionStore, NewExecution, NewToken};
        let mut tx = store.begin().await.unwrap();
        insert_user(&mut *tx, "u1").await;
        store.commit(tx, &[]).await.unwrap();
        let token = NewToken {
            id: "t1".into(),
            user_id: "u1".into(),
            agent_id: "agent".into(),
            parent_id: None,
            permissions: vec!["filesystem:read".into()],
            budget_cents: 100,
            compliance_policy: "general".into(),
            metadata: serde_json::json!({}),
            jws: "jws".into(),
            created_at: 1.0,
            expires_at: None,
        };
        let execution = NewExecution {
            id: "e1".into(),
            user_id: "u1".into(),
            task: "task".into(),
            llm_provider: Some("plan".into()),
            llm_model: None,
            compliance_policy: "general".into(),
            verification_profile: serde_json::json!({}),
            preset_key: "general".into(),
            preset_version: 1,
            preset_digest: "sha256:0".into(),
            token_id: "t1".into(),
            run_spec: serde_json::json!({}),
            workflow_id: None,
            workflow_stage_id: None,
            created_at: 1.0,
        };
        let created = event("execution.created", 1.0);
        store.create_task(&token, &execution, &created, None).await.unwrap();
        let job = store
            .claim_job("a", 2.0, 3.0)
            .await
            .unwrap()
            .expect("the job is claimable");
        assert_eq!(job.execution_id, "e1");
    }

    #[tokio::test]
    async fn a_worker_whose_lease_passed_on_writes_nothing_more() {
        use crate::store::{ExecStatus, ExecutionStore, StepRecorded, StepStart, StepThen, Transition};
        let (_dir, store) = store().await;
        claimed_execution(&store).await;
        // Worker `a` stalls past its lease; `b` claims the job.
        let job = store
            .claim_job("b", 4.0, 10.0)
            .await
            .unwrap()
            .expect("the lease expired");
        assert_eq!(job.attempts, 2);

        let mut executing = Transition::to(ExecStatus::Executing, event("execution.executing", 5.0));
        executing.begin = Some(("a".into(), begin(0, 5.0)));
        let moved = store.transition("e1", &[ExecStatus::Queued], &executing).await.unwrap();
        assert!(!moved, "a transition that begins a step is fenced on the lease");
        assert_eq!(store.execution("e1").await.unwrap().unwrap().status, ExecStatus::Queued);

        executing.begin = Some(("b".into(), begin(0, 5.0)));
        assert!(store.transition("e1", &[ExecStatus::Queued], &executing).await.unwrap());
        assert_eq!(
            store.begin_step("e1", "a", &begin(0, 6.0)).await.unwrap(),
            StepStart::Stopped
        );
        let then = StepThen::Begin(begin(1, 7.0));
        let lost = store
            .record_step("e1", "a", &step(0), &event("execution.tool_result", 7.0), Some(&then))
            .await
            .unwrap();
        assert!(matches!(lost, StepRecorded::LeaseLost));
        assert!(
            store.steps("e1").await.unwrap().is_empty(),
            "the stalled worker recorded nothing"
        );
        let execution = store.execution("e1").await.unwrap().unwrap();
        assert_eq!((execution.current_step, execution.spent_cents), (0, 0));
        let kinds: Vec<String> = store.events("e1").await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            ["execution.created", "execution.executing", "execution.executing_tool"],
            "only the lease holder's writes are in the chain"
        );

        let recorded = store
            .record_step("e1", "b", &step(0), &event("execution.tool_result", 8.0), Some(&then))
            .await
            .unwrap();
        assert!(matches!(
            recorded,
            StepRecorded::Recorded {
                then: true,
                token_revoked: false
            }
        ));
        assert_eq!(store.steps("e1").await.unwrap().len(), 1);
    }

    /// On one thread, so that the order is fixed: the first writer's commit counts on the
    /// queued second one, which is cancelled before it runs again and never commits.
    #[tokio::test]
    async fn a_member_commits_its_group_when_the_writer_it_waited_for_goes_away() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let (first, second) = first_with_second_queued(&store, true).await;
        let started = std::time::Instant::now();
        let committed = commit_in_background(&store, first);
        second.abort();
        let outcome = tokio::time::timeout(Duration::from_secs(10), committed).await;
        outcome.expect("the member commits its group").unwrap().unwrap();
        assert!(
            started.elapsed() >= super::super::sqlite_writer::STALLED_GROUP,
            "the member waited for the writer it counted on before committing itself"
        );
        assert!(second.await.unwrap_err().is_cancelled());
        only_the_first_committed(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_sqlx_writer_commits_the_open_group_first() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let mut tx = store.begin().await.unwrap();
        insert_user(&mut *tx, "u1").await;
        let sqlx_writer = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut single = store.write_conn().await.unwrap();
                insert_user(&mut *single, "u2").await;
            })
        };
        while store.writer.queued() == 0 {
            tokio::task::yield_now().await;
        }
        commit_in_background(&store, tx).await.unwrap().unwrap();
        sqlx_writer.await.unwrap();
        assert_eq!(user_count(&store).await, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_each_see_their_commit() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        let writers: Vec<_> = (0..64)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let id = format!("u{n}");
                    let mut tx = store.begin().await.unwrap();
                    insert_user(&mut *tx, &id).await;
                    store.commit(tx, &[]).await.unwrap();
                    assert!(user_exists(&store, &id).await);
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        assert_eq!(user_count(&store).await, 64);
    }

    #[tokio::test]
    async fn a_dropped_transaction_is_rolled_back_before_the_next_writer() {
        let (_dir, store) = store().await;
        let mut tx = store.write_tx().await.unwrap();
        insert_user(&mut *tx, "u1").await;
        drop(tx);
        // The next writer waits for the rollback, then has the connection to itself.
        let mut tx = store.write_tx().await.unwrap();
        insert_user(&mut *tx, "u2").await;
        tx.commit().await.unwrap();
        assert_eq!(user_count(&store).await, 1);
        let mut single = store.write_conn().await.unwrap();
        insert_user(&mut *single, "u3").await;
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
                    insert_user(&mut *tx, &format!("u{n}")).await;
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
