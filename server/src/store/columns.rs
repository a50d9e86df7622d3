//! Reading a result row by column name, whichever driver produced it: sqlx's rows on both
//! backends, and rusqlite's on SQLite's direct readers (`sqlite.rs`). Row decoding is written
//! once against this trait.

use std::cell::Cell;

use super::statements::Arg;
use super::{StoreError, StoreResult};

/// The column types the store's tables use. Object-safe, so a decoder is one plain function.
pub trait Columns {
    fn text(&self, name: &str) -> StoreResult<String>;
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>>;
    fn int(&self, name: &str) -> StoreResult<i64>;
    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>>;
    fn float(&self, name: &str) -> StoreResult<f64>;
    fn opt_float(&self, name: &str) -> StoreResult<Option<f64>>;
    fn boolean(&self, name: &str) -> StoreResult<bool>;
}

/// A row decoder: one plain function, so that both drivers can call it.
pub type Decode<T> = for<'r> fn(&'r (dyn Columns + 'r)) -> StoreResult<T>;

/// A rusqlite row whose columns are looked up by name. rusqlite compares a name against every
/// column's from the start; decoders ask in about `SELECT` order, so the search starts just
/// after the column found last, and most names match at the first try.
pub struct NamedRow<'a> {
    row: &'a rusqlite::Row<'a>,
    next: Cell<usize>,
}

impl<'a> NamedRow<'a> {
    pub fn new(row: &'a rusqlite::Row<'a>) -> Self {
        NamedRow {
            row,
            next: Cell::new(0),
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> StoreResult<T> {
        let statement = self.row.as_ref();
        let count = statement.column_count();
        let start = self.next.get();
        let index = (start..count)
            .chain(0..start)
            .find(|&i| statement.column_name(i).is_ok_and(|column| column == name))
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))?;
        self.next.set(index + 1);
        Ok(self.row.get(index)?)
    }
}

impl Columns for NamedRow<'_> {
    fn text(&self, name: &str) -> StoreResult<String> {
        self.get(name)
    }
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        self.get(name)
    }
    fn int(&self, name: &str) -> StoreResult<i64> {
        self.get(name)
    }
    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        self.get(name)
    }
    fn float(&self, name: &str) -> StoreResult<f64> {
        self.get(name)
    }
    fn opt_float(&self, name: &str) -> StoreResult<Option<f64>> {
        self.get(name)
    }
    fn boolean(&self, name: &str) -> StoreResult<bool> {
        self.get(name)
    }
}

/// Binds `args` to a rusqlite statement's `$1`, `$2`, … by number, as sqlx does.
pub fn bind_direct(statement: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let arg = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .and_then(|number| args.get(number.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        match *arg {
            Arg::Text(value) => statement.raw_bind_parameter(index, value)?,
            Arg::OptText(value) => statement.raw_bind_parameter(index, value)?,
            Arg::Int(value) => statement.raw_bind_parameter(index, value)?,
            Arg::OptInt(value) => statement.raw_bind_parameter(index, value)?,
            Arg::Float(value) => statement.raw_bind_parameter(index, value)?,
            Arg::OptFloat(value) => statement.raw_bind_parameter(index, value)?,
            Arg::Bool(value) => statement.raw_bind_parameter(index, value)?,
        }
    }
    Ok(())
}

/// Runs `sql` with `args` on `connection` and decodes its first row.
pub fn first_row<T>(
    connection: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
    decode: Decode<T>,
) -> StoreResult<Option<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    bind_direct(&mut statement, args)?;
    let mut rows = statement.raw_query();
    match rows.next()? {
        Some(row) => decode(&NamedRow::new(row)).map(Some),
        None => Ok(None),
    }
}

/// Runs `sql` with `args` on `connection` and decodes every row it returns.
pub fn all_rows<T>(
    connection: &rusqlite::Connection,
    sql: &str,
    args: &[Arg<'_>],
    decode: Decode<T>,
) -> StoreResult<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    bind_direct(&mut statement, args)?;
    let mut rows = statement.raw_query();
    let mut decoded = Vec::new();
    while let Some(row) = rows.next()? {
        decoded.push(decode(&NamedRow::new(row))?);
    }
    Ok(decoded)
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Direct(err)
    }
}
