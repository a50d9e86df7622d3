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
//! - the dialect fragments `FOR_UPDATE`, `SKIP_LOCKED`, `EVIDENCE_DIGEST` and `SNAPSHOT`.
//!
//! Placeholders are `$1`, `$2`, … on both (sqlx and `Statements` bind SQLite's `$N` by number).

mod agents;
mod executions;
mod identity;
mod presets;
mod releases;
mod workflows;

use async_trait::async_trait;

use super::{lock, Db, DbConn, DbRow, SqlStore, BACKEND, EVIDENCE_DIGEST, FOR_UPDATE, SKIP_LOCKED, SNAPSHOT};
use crate::store::columns::{Columns, Decode};
use crate::store::statements::{Arg, Statements};
use crate::store::{Page, StoreResult};
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

/// A list query's `WHERE` over the filters that are set, `$N` numbered from 1, then its
/// `ORDER BY` and paging, with the arguments in order. An unset filter is left out of the SQL
/// rather than written `($1 IS NULL OR column = $1)`, which no planner serves from an index.
fn listing<'a>(filters: &[(&str, Option<Arg<'a>>)], order_by: &str, page: Page) -> (String, Vec<Arg<'a>>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    for (column, value) in filters {
        if let Some(value) = value {
            args.push(*value);
            let joiner = if args.len() == 1 { " WHERE" } else { " AND" };
            sql.push_str(&format!("{joiner} {column} = ${}", args.len()));
        }
    }
    sql.push_str(&format!(
        " ORDER BY {order_by} LIMIT ${} OFFSET ${}",
        args.len() + 1,
        args.len() + 2
    ));
    args.extend([Arg::Int(page.limit), Arg::Int(page.offset)]);
    (sql, args)
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

    async fn rows<T: Send>(&mut self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Vec<T>> {
        let rows = bind(sql, args).fetch_all(&mut *self).await.map_err(classify)?;
        rows.iter().map(|row| decode(row)).collect()
    }
}
