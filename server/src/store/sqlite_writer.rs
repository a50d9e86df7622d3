//! SQLite's one writer, shared by every write of the process: an sqlx connection for the SQL
//! not yet moved to [`Statements`], and a direct (rusqlite) connection to the same file, whose
//! statements run on the caller's thread. Writers queue for both on one FIFO async mutex, so
//! the two connections never wait on each other inside SQLite.
//!
//! Transactions on the direct connection are committed in groups: a writer that finishes
//! while others are queued releases its savepoint, hands the still open SQLite transaction on,
//! and waits until a later writer, or the committer queued behind them, commits it. One commit
//! writes the pages that a dozen separate commits would each write again to the WAL.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Executor, SqliteConnection};
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use super::columns::{all_rows, bind_direct, first_row, Decode};
use super::statements::{Arg, Statements};
use super::{StoreError, StoreResult};

/// Transactions one commit takes at most: bounds how long the first of them waits.
const MAX_GROUP: usize = 64;

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
}

struct Group {
    /// Writers that released their savepoint into this transaction.
    members: usize,
    committer_queued: bool,
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
        SharedWriter {
            conn: Arc::new(Mutex::new(WriterConn {
                direct: Direct(direct),
                connection,
                open_transaction: false,
                group: None,
            })),
            queued: Arc::new(AtomicUsize::new(0)),
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
                committer_queued: false,
                outcome: watch::Sender::new(None),
            });
        }
        writer.direct.0.execute_batch("SAVEPOINT write")?;
        Ok(DirectTx(Some(writer)))
    }

    /// Commits a [`Self::begin`] transaction: at once when nobody is queued (or the group is
    /// full), otherwise with the group, after the writers queued now.
    pub(super) async fn commit(&self, mut tx: DirectTx) -> StoreResult<()> {
        Deref::deref(&tx).0.execute_batch("RELEASE write")?;
        let mut writer = tx.0.take().expect("present until committed or dropped");
        let group = writer.group.as_mut().expect("a savepoint is open inside a group");
        group.members += 1;
        if self.queued.load(Ordering::SeqCst) == 0 || group.members >= MAX_GROUP {
            return writer.commit_group();
        }
        let mut outcome = group.outcome.subscribe();
        if !group.committer_queued {
            group.committer_queued = true;
            // Queues behind the writers waiting now, and commits what they leave open.
            let conn = self.conn.clone();
            tokio::spawn(async move {
                let _ = conn.lock_owned().await.commit_group();
            });
        }
        drop(writer);
        let result = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Commit("the writer closed before the commit".into()))?
            .clone()
            .expect("waited for Some");
        result.map_err(StoreError::Commit)
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
        if !rolled_back || members == 0 {
            // Nothing of the group is left to commit, or the savepoint went with the whole
            // transaction: end it (its members, if any, learn that it failed).
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
