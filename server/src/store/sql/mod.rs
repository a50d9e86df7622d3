//! The SQL of every store table, written once for both backends and compiled once inside each
//! (`sqlite.rs` and `postgres.rs` mount this folder as their `sql` module). A backend supplies,
//! beside the `DbRow` and `DbConn` types and its `SqlStore`:
//! - `write_tx` and `commit_announcing` (how a write transaction, a `WriteTx`, begins, and
//!   how its commit announces the chains that grew on the event feed), and `write_conn`, a
//!   connection for one write statement;
//! - `lock(tx, name)`, a named lock held until the transaction ends, and `session_lock(name)`,
//!   one held until its guard drops;
//! - the dialect fragments `FOR_UPDATE`, `SKIP_LOCKED` and `EVIDENCE_DIGEST`.
//!
//! Placeholders are `$1`, `$2`, … on both (sqlx binds SQLite's `$N` by number too).

mod agents;
mod executions;
mod identity;
mod presets;
mod releases;
mod workflows;

use super::{lock, DbConn, DbRow, SqlStore, WriteTx, BACKEND, EVIDENCE_DIGEST, FOR_UPDATE, SKIP_LOCKED};
pub(super) use identity::classify;
