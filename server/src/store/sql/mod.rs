//! The SQL of every store table, written once for both backends and compiled once inside each
//! (`sqlite.rs` and `postgres.rs` mount this folder as their `sql` module). A backend supplies,
//! beside the `Db`, `DbRow` and `DbConn` types and its `SqlStore`:
//! - `begin` and `commit` (a write transaction whose statements go through
//!   [`Statements`], and its commit, which announces the chains that grew on the event feed),
//!   and `read_row`, one point read decoded through [`Columns`]: on SQLite these run on the
//!   caller's thread, without sqlx's hand-off to a connection thread;
//! - `write_tx`, `commit_announcing` and `write_conn`, the same on an sqlx connection, for the
//!   SQL still written against sqlx, and `read_conn` for its reads;
//! - `lock(tx, name)`, a named lock held until the transaction ends, and `session_lock(name)`,
//!   one held until its guard drops;
//! - the dialect fragments `FOR_UPDATE`, `SKIP_LOCKED` and `EVIDENCE_DIGEST`.
//!
//! Placeholders are `$1`, `$2`, … on both (sqlx and `Statements` bind SQLite's `$N` by number).

mod agents;
mod executions;
mod identity;
mod presets;
mod releases;
mod workflows;

use async_trait::async_trait;

use super::{lock, Db, DbConn, DbRow, SqlStore, BACKEND, EVIDENCE_DIGEST, FOR_UPDATE, SKIP_LOCKED};
use crate::store::columns::{Columns, Decode};
use crate::store::statements::{Arg, Statements};
use crate::store::StoreResult;
pub(super) use identity::classify;

impl Columns for DbRow {
    fn text(&self, name: &str) -> StoreResult<String> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn int(&self, name: &str) -> StoreResult<i64> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn float(&self, name: &str) -> StoreResult<f64> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn opt_float(&self, name: &str) -> StoreResult<Option<f64>> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
    fn boolean(&self, name: &str) -> StoreResult<bool> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

fn bind<'q>(sql: &'q str, args: &[Arg<'q>]) -> Query<'q> {
    args.iter().fold(sqlx::query(sql), |query, arg| match *arg {
        Arg::Text(value) => query.bind(value),
        Arg::OptText(value) => query.bind(value),
        Arg::Int(value) => query.bind(value),
        Arg::OptInt(value) => query.bind(value),
        Arg::Float(value) => query.bind(value),
        Arg::OptFloat(value) => query.bind(value),
        Arg::Bool(value) => query.bind(value),
    })
}

#[async_trait]
impl Statements for DbConn {
    async fn run(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let done = bind(sql, args).execute(&mut *self).await.map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn row<T: Send>(&mut self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Option<T>> {
        let row = bind(sql, args).fetch_optional(&mut *self).await.map_err(classify)?;
        row.as_ref().map(|row| decode(row)).transpose()
    }
}
