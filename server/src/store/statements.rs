//! Statements written once for sqlx's connections (both backends) and for SQLite's direct
//! connections (`sqlite.rs`), which run on the caller's thread. The execution pipeline's writes
//! go through this trait, so that on SQLite each costs SQLite's own time and no thread hand-off.

use async_trait::async_trait;

use super::columns::Decode;
use super::StoreResult;

/// A parameter, bound to `$N` by its position in the argument list.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    OptInt(Option<i64>),
    Float(f64),
    OptFloat(Option<f64>),
    Bool(bool),
}

/// A connection or transaction that runs one statement at a time.
#[async_trait]
pub trait Statements: Send {
    /// Runs `sql` to its end; the number of rows it inserted, updated or deleted.
    async fn run(&mut self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64>;

    /// Runs `sql` and decodes the first row it returns.
    async fn row<T: Send>(&mut self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Option<T>>;

    /// Runs `sql` and decodes every row it returns.
    async fn rows<T: Send>(&mut self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> StoreResult<Vec<T>>;
}
