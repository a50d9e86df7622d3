//! SQLite's one writer, shared by every write of the process: an sqlx connection for the SQL
//! not yet moved to [`Statements`], and a direct (rusqlite) connection to the same file, whose
//! statements run on the caller's thread. Writers queue for both on one FIFO async mutex, so
//! the two connections never wait on each other inside SQLite.
//!
//! Transactions on the direct connection are committed in groups: a writer that finishes
//! while others are queued releases its savepoint, hands the still open SQLite transaction on,
//! and waits until a later writer commits it: the last of the writers queued when the group
//! first deferred, or an earlier one that finds nobody queued. One commit writes the pages
//! that a dozen separate commits would each write again to the WAL. No task of its own does
//! the commit: each hand-off of the writer between tasks costs tens of microseconds of
//! scheduling while the writer sits idle, so the commit goes with a writer that holds it anyway.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Executor, SqliteConnection};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use super::columns::{all_rows, bind_direct, first_row, Decode};
use super::statements::{Arg, Statements};
use super::{StoreError, StoreResult};

/// Transactions one commit takes at most: bounds how long the first of them waits.
const MAX_GROUP: usize = 64;
/// How long a member waits for a later writer to commit its group before it queues for the
/// writer and commits whatever group is open itself, for when the writers it counted on went
/// away while queued (cancelled). Well above the time a full group takes (`MAX_GROUP`
/// transactions of ~0.1 ms), so that it never fires while the group is still filling.
pub(super) const STALLED_GROUP: Duration = Duration::from_millis(50);

/// The writer and the count of writers queued for it.
pub(super) struct SharedWriter {
    conn: Arc<Mutex<WriterConn>>,
    queued: Arc<AtomicUsize>,
}

struct WriterConn {
    /// Declared first, so it closes first.
    direct: Direct,
    connection: SqliteConnection,
    /// Set between `BEGIN` and a successful `COMMIT` on `connection`.
    open_transaction: bool,
    /// The direct connection's open transaction, shared by the writers that wait for its commit.
    group: Option<Group>,
    /// The writers queued (shared with [`SharedWriter`]).
    queued: Arc<AtomicUsize>,
}

struct Group {
    /// Writers that released their savepoint into this transaction.
    members: usize,
    /// The member count at which the group commits: set when its first member defers, to
    /// that member plus the writers queued behind it then.
    commit_at: Option<usize>,
    /// The outcome of its commit, for the members waiting on it.
    outcome: watch::Sender<Option<Result<(), Arc<str>>>>,
}

impl WriterConn {
    /// Commits the direct connection's open group, if any, and tells its members how it went.
    fn commit_group(&mut self) -> StoreResult<()> {
        let Some(group) = self.group.take() else { return Ok(()) };
        let direct = &self.direct.0;
        let result: Result<(), Arc<str>> = if direct.is_autocommit() {
            Err("SQLite rolled the transaction back after an error".into())
        } else {
            direct.execute_batch("COMMIT").map_err(|err| err.to_string().into())
        };
        if result.is_err() && !direct.is_autocommit() {
            let _ = direct.execute_batch("ROLLBACK");
        }
        group.outcome.send_replace(Some(result.clone()));
        result.map_err(StoreError::Commit)
    }

    /// Rolls back an sqlx transaction whose rollback on drop failed, before anything else.
    async fn roll_back_dropped(&mut self) -> StoreResult<()> {
        if self.open_transaction {
            self.connection.execute("ROLLBACK").await.map_err(StoreError::Other)?;
            self.open_transaction = false;
        }
        Ok(())
    }
}

impl SharedWriter {
    pub(super) fn new(connection: SqliteConnection, direct: rusqlite::Connection) -> Self {
        let queued = Arc::new(AtomicUsize::new(0));
        SharedWriter {
            conn: Arc::new(Mutex::new(WriterConn {
                direct: Direct(direct),
                connection,
                open_transaction: false,
                group: None,
                queued: queued.clone(),
            })),
            queued,
        }
    }

    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// The writer, after every writer queued before this one (FIFO).
    async fn lock(&self) -> OwnedMutexGuard<WriterConn> {
        struct Queued<'a>(&'a AtomicUsize);
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.queued.fetch_add(1, Ordering::SeqCst);
        let _queued = Queued(&self.queued);
        self.conn.clone().lock_owned().await
    }

    /// The sqlx connection, for one statement in its own (implicit) transaction; a
    /// transaction's `BEGIN` is the caller's. A group still open on the direct connection is
    /// committed first: it holds SQLite's write lock.
    pub(super) async fn sqlx_conn(&self) -> StoreResult<Writer> {
        let mut writer = self.lock().await;
        // Its members learn the outcome; this caller goes on either way.
        let _ = writer.commit_group();
        writer.roll_back_dropped().await?;
        Ok(Writer(Some(writer)))
    }

    /// A write transaction on the direct connection: a savepoint inside the open group, or
    /// inside a new one (`BEGIN IMMEDIATE`, which takes SQLite's write lock up front).
    pub(super) async fn begin(&self) -> StoreResult<DirectTx> {
        let mut writer = self.lock().await;
        writer.roll_back_dropped().await?;
        if writer.group.is_none() {
            writer.direct.0.execute_batch("BEGIN IMMEDIATE")?;
            writer.group = Some(Group {
                members: 0,
                commit_at: None,
                outcome: watch::Sender::new(None),
            });
        }
        writer.direct.0.execute_batch("SAVEPOINT write")?;
        Ok(DirectTx(Some(writer)))
    }

    /// Commits a [`Self::begin`] transaction with its group: at once when nobody is queued,
    /// the group is full, or this writer is the last one it waits for; otherwise a later writer
    /// commits it.
    pub(super) async fn commit(&self, mut tx: DirectTx) -> StoreResult<()> {
        Deref::deref(&tx).0.execute_batch("RELEASE write")?;
        let mut writer = tx.0.take().expect("present until committed or dropped");
        let queued = self.queued.load(Ordering::SeqCst);
        let group = writer.group.as_mut().expect("a savepoint is open inside a group");
        group.members += 1;
        let commit_at = *group.commit_at.get_or_insert(group.members + queued);
        if queued == 0 || group.members >= commit_at.min(MAX_GROUP) {
            return writer.commit_group();
        }
        let mut outcome = group.outcome.subscribe();
        drop(writer);
        let committed =
            |outcome: Option<Result<(), Arc<str>>>| outcome.expect("waited for Some").map_err(StoreError::Commit);
        let closed = |_| StoreError::Commit("the writer closed before the commit".into());
        let waited = tokio::time::timeout(STALLED_GROUP, outcome.wait_for(Option::is_some))
            .await
            .map(|waited| waited.map(|outcome| outcome.clone()));
        if let Ok(waited) = waited {
            return committed(waited.map_err(closed)?);
        }
        // The writers counted on went away: commit whatever group is open, this member's or a
        // later one (which may have counted on this member too), then read this member's outcome.
        let _ = self.lock().await.commit_group();
        let waited = outcome.wait_for(Option::is_some).await.map_err(closed)?.clone();
        committed(waited)
    }
}

/// A transaction on the writer's direct connection. Dropped before its commit (its owner hit
/// an error), it rolls back to its savepoint at once, on this thread; the group goes on.
pub(super) struct DirectTx(Option<OwnedMutexGuard<WriterConn>>);

impl Drop for DirectTx {
    fn drop(&mut self) {
        let Some(mut writer) = self.0.take() else { return };
        let rolled_back = writer
            .direct
            .0
            .execute_batch("ROLLBACK TO write; RELEASE write")
            .is_ok();
        let members = writer.group.as_ref().map_or(0, |group| group.members);
        // With nobody queued, no later writer would commit the members' group.
        if !rolled_back || members == 0 || writer.queued.load(Ordering::SeqCst) == 0 {
            // Nothing of the group is left to commit, the savepoint went with the whole
            // transaction (its members learn that it failed), or no writer queued would
            // commit the group: end it.
            if members == 0 && !writer.direct.0.is_autocommit() {
                let _ = writer.direct.0.execute_batch("ROLLBACK");
            }
            let _ = writer.commit_group();
        }
    }
}

impl Deref for DirectTx {
    type Target = Direct;
    fn deref(&self) -> &Direct {
        &self.0.as_ref().expect("present until committed or dropped").direct
    }
}

impl DerefMut for DirectTx {
    fn deref_mut(&mut self) -> &mut Direct {
        &mut self.0.as_mut().expect("present until committed or dropped").direct
    }
}

/// The writer's direct connection.
pub(super) struct Direct(rusqlite::Connection);

#[async_trait]
impl Statements for Direct {
    async fn run(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let mut statement = self.0.prepare_cached(sql)?;
        bind_direct(&mut statement, args)?;
        // Stepped to the end, so a statement with `RETURNING` runs whole as well.
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
        Ok(self.0.changes())
    }

    async fn row<T: Send>(&mut self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        first_row(&self.0, sql, args, decode)
    }

    async fn rows<T: Send>(&mut self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        all_rows(&self.0, sql, args, decode)
    }
}

/// Exclusive use of the sqlx connection: for one statement ([`SharedWriter::sqlx_conn`]) or
/// a transaction (`BEGIN IMMEDIATE`, open until [`Writer::commit`]).
pub(super) struct Writer(Option<OwnedMutexGuard<WriterConn>>);

impl Writer {
    /// Marks the transaction the caller began as open, so that a drop rolls it back.
    pub(super) fn began(&mut self) {
        self.0.as_mut().expect("present until dropped").open_transaction = true;
    }

    pub(super) async fn commit(mut self) -> Result<(), sqlx::Error> {
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
