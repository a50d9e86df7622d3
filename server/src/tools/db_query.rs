//! `db_query` (spec §7.6): one SELECT against a SQLite file opened read-only.
//!
//! The tables a statement reads come from SQLite itself: an authorizer callback sees every
//! table read while the statement is *prepared* (before anything runs) and refuses every action
//! that is not a read, so writes, pragmas and ATTACH fail to prepare. The same check runs again
//! at run time, and the run has a 10 s time limit (a recursive query could otherwise run on).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use certior::tools::db_query_capabilities;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Batch, Connection, OpenFlags, Statement};
use serde_json::{json, Value};

use super::db_tables::{TableClass, TableMap};
use super::ToolOutput;

/// `db_query` returns at most this many rows.
pub const MAX_ROWS: usize = 1000;
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// `CERTIOR_DB_QUERY_PATH` and `CERTIOR_DB_QUERY_TABLES`.
#[derive(Debug, Clone)]
pub struct Database {
    path: PathBuf,
    tables: TableMap,
}

/// Why a statement was refused before it ran; each maps to a denial code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `sql_not_read_only`
    NotReadOnly(String),
    /// `invalid_arguments`
    Invalid(String),
    /// `db_not_configured`: the configured file cannot be opened.
    Unavailable(String),
}

/// What the authorizer saw while statements were prepared.
#[derive(Debug, Default)]
struct Access {
    tables: Vec<String>,
    refused: Option<String>,
}

impl Database {
    /// Checks that the file opens read-only as a SQLite database, so a wrong path stops start-up
    /// instead of failing every call.
    pub fn open(path: &Path, tables: TableMap) -> Result<Database, String> {
        let database = Database {
            path: path.to_owned(),
            tables,
        };
        let (conn, _) = database
            .connect()
            .map_err(|refusal| refusal_message(&refusal).to_owned())?;
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0))
            .map_err(|err| {
                format!(
                    "CERTIOR_DB_QUERY_PATH {} is not a readable SQLite database: {err}",
                    path.display()
                )
            })?;
        Ok(database)
    }

    /// `database:read:<tag>` per table read, and the labels of the labelled ones, de-duplicated.
    pub fn requirements(&self, tables: &[String]) -> (Vec<String>, Vec<String>) {
        let classes: Vec<TableClass> = tables.iter().map(|table| self.tables.classify(table)).collect();
        let tags: Vec<&str> = classes.iter().map(|class| class.tag.as_str()).collect();
        let mut labels: Vec<String> = Vec::new();
        for label in classes.iter().filter_map(|class| class.label.as_ref()) {
            if !labels.contains(label) {
                labels.push(label.clone());
            }
        }
        (db_query_capabilities(&tags), labels)
    }

    /// The tables the statement reads, found by preparing it (it does not run).
    pub fn inspect(&self, sql: &str, params: &[Value]) -> Result<Vec<String>, Refusal> {
        let (conn, access) = self.connect()?;
        check_statement(&conn, &access, sql, params.len()).map(|(_, tables)| tables)
    }

    /// Runs the statement. `checked_tables` are those found at prepare: if the schema changed
    /// so that the statement now reads another table, it does not run. Blocks.
    pub fn run(&self, sql: &str, params: &[Value], checked_tables: &[String]) -> ToolOutput {
        let (conn, access) = match self.connect() {
            Ok(connected) => connected,
            Err(refusal) => return ToolOutput::error(format!("Error: {}", refusal_message(&refusal))),
        };
        let (mut statement, tables) = match check_statement(&conn, &access, sql, params.len()) {
            Ok(checked) => checked,
            Err(refusal) => return ToolOutput::error(format!("Error: {}", refusal_message(&refusal))),
        };
        if let Some(table) = tables.iter().find(|table| !checked_tables.contains(table)) {
            return ToolOutput::error(format!(
                "Error: the statement now reads table '{table}', which was not checked; the database schema \
                 changed since the call was prepared, propose the call again"
            ));
        }
        let deadline = Instant::now() + TIME_LIMIT;
        conn.progress_handler(1000, Some(move || Instant::now() >= deadline));
        match read_rows(&mut statement, params) {
            Ok((columns, rows, truncated)) => {
                let metadata = json!({"tables": tables, "row_count": rows.len(), "truncated": truncated});
                let text = json!({"columns": columns, "rows": rows, "truncated": truncated}).to_string();
                ToolOutput::success(text, metadata)
            }
            Err(_) if Instant::now() >= deadline => {
                ToolOutput::error(format!("Error: the query ran longer than {} s", TIME_LIMIT.as_secs()))
            }
            Err(err) => ToolOutput::error(format!("Error: the query failed: {err}")),
        }
    }

    /// A read-only connection whose authorizer records table reads and refuses anything else.
    fn connect(&self) -> Result<(Connection, Arc<Mutex<Access>>), Refusal> {
        // No SQLITE_OPEN_URI: the path is a file name, never `file:…?mode=rw`.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|err| {
            Refusal::Unavailable(format!(
                "CERTIOR_DB_QUERY_PATH {} cannot be opened read-only: {err}",
                self.path.display()
            ))
        })?;
        let access = Arc::new(Mutex::new(Access::default()));
        let seen = Arc::clone(&access);
        conn.authorizer(Some(move |context: AuthContext<'_>| {
            let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
            match context.action {
                AuthAction::Select | AuthAction::Function { .. } | AuthAction::Recursive => Authorization::Allow,
                AuthAction::Read { table_name, .. } => {
                    if !seen.tables.iter().any(|table| table == table_name) {
                        seen.tables.push(table_name.to_owned());
                    }
                    Authorization::Allow
                }
                other => {
                    seen.refused.get_or_insert_with(|| describe(&other));
                    Authorization::Deny
                }
            }
        }));
        Ok((conn, access))
    }
}

pub fn refusal_message(refusal: &Refusal) -> &str {
    match refusal {
        Refusal::NotReadOnly(message) | Refusal::Invalid(message) | Refusal::Unavailable(message) => message,
    }
}

/// Prepares `sql` as exactly one read-only SELECT with `param_count` parameters; returns the
/// statement and the tables it reads.
fn check_statement<'c>(
    conn: &'c Connection,
    access: &Mutex<Access>,
    sql: &str,
    param_count: usize,
) -> Result<(Statement<'c>, Vec<String>), Refusal> {
    match first_keyword(sql).as_str() {
        "" => return Err(Refusal::Invalid("db_query: sql contains no statement".into())),
        "SELECT" | "WITH" => {}
        other => {
            return Err(Refusal::NotReadOnly(format!(
                "db_query runs one SELECT statement (WITH … SELECT included); this one starts with {other}"
            )))
        }
    }
    let refused = || access.lock().unwrap_or_else(PoisonError::into_inner).refused.take();
    let mut batch = Batch::new(conn, sql);
    let statement = match batch.next() {
        Ok(Some(statement)) => statement,
        Ok(None) => return Err(Refusal::Invalid("db_query: sql contains no statement".into())),
        Err(err) => {
            return Err(match refused() {
                Some(action) => Refusal::NotReadOnly(format!("db_query is read-only; this statement would {action}")),
                None => Refusal::Invalid(format!("db_query: the statement cannot be prepared: {err}")),
            })
        }
    };
    let tables = access.lock().unwrap_or_else(PoisonError::into_inner).tables.clone();
    if !matches!(batch.next(), Ok(None)) {
        return Err(Refusal::NotReadOnly(
            "db_query runs exactly one statement; remove everything after the first ';'".into(),
        ));
    }
    if !statement.readonly() {
        return Err(Refusal::NotReadOnly(
            "db_query is read-only; this statement writes".into(),
        ));
    }
    if statement.parameter_count() != param_count {
        return Err(Refusal::Invalid(format!(
            "db_query: the statement has {} parameter(s) but params has {param_count} value(s)",
            statement.parameter_count()
        )));
    }
    Ok((statement, tables))
}

/// The statement's first keyword, upper-cased, after whitespace and comments.
fn first_keyword(sql: &str) -> String {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn describe(action: &AuthAction<'_>) -> String {
    match action {
        AuthAction::Insert { table_name }
        | AuthAction::Delete { table_name }
        | AuthAction::Update { table_name, .. } => {
            format!("write to table '{table_name}'")
        }
        AuthAction::Pragma { pragma_name, .. } => format!("run PRAGMA {pragma_name}"),
        AuthAction::Attach { .. } => "ATTACH another database".into(),
        other => format!("perform {other:?}"),
    }
}

type Rows = (Vec<String>, Vec<Vec<Value>>, bool);

/// Binds `params` positionally and reads up to [`MAX_ROWS`] rows; the flag says more were left.
fn read_rows(statement: &mut Statement<'_>, params: &[Value]) -> rusqlite::Result<Rows> {
    let columns: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
    for (index, param) in params.iter().enumerate() {
        statement.raw_bind_parameter(index + 1, to_sql(param))?;
    }
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() == MAX_ROWS {
            return Ok((columns, out, true));
        }
        let cells = (0..columns.len())
            .map(|index| row.get_ref(index).map(to_json))
            .collect::<rusqlite::Result<Vec<Value>>>()?;
        out.push(cells);
    }
    Ok((columns, out, false))
}

/// Booleans bind as 0/1 (SQLite has no boolean type).
fn to_sql(param: &Value) -> SqlValue {
    match param {
        Value::Bool(flag) => SqlValue::Integer(i64::from(*flag)),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => SqlValue::Integer(integer),
            None => SqlValue::Real(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => SqlValue::Text(text.clone()),
        // Arrays and objects were refused with the arguments.
        _ => SqlValue::Null,
    }
}

/// Text that is not UTF-8 is shown lossily; blobs are base64 strings.
fn to_json(cell: ValueRef<'_>) -> Value {
    match cell {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(integer) => json!(integer),
        ValueRef::Real(real) => serde_json::Number::from_f64(real).map_or(Value::Null, Value::Number),
        ValueRef::Text(text) => Value::String(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(blob) => Value::String(base64::engine::general_purpose::STANDARD.encode(blob)),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A database with `patients`, `ledger` and `notes`; `patients` and `ledger` are classified.
    pub(crate) fn sample() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT, score REAL, photo BLOB);
             INSERT INTO patients VALUES (1, 'Ann', 1.5, x'0102'), (2, 'Bob', NULL, NULL);
             CREATE TABLE ledger (id INTEGER PRIMARY KEY, patient_id INTEGER, amount INTEGER);
             INSERT INTO ledger VALUES (1, 1, 100), (2, 2, 250);
             CREATE TABLE notes (body TEXT);",
        )
        .unwrap();
        (dir, path)
    }

    fn database(path: &Path) -> Database {
        let tables = TableMap::parse("patients=patient_data:PHI,ledger=financial_data:MNPI").unwrap();
        Database::open(path, tables).unwrap()
    }

    fn patient_count(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM patients", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn select_returns_columns_and_rows_as_compact_json() {
        let (_dir, path) = sample();
        let db = database(&path);
        let sql = "SELECT id, name, score, photo FROM patients ORDER BY id";
        let tables = db.inspect(sql, &[]).unwrap();
        assert_eq!(tables, vec!["patients"]);
        let output = db.run(sql, &[], &tables);
        assert!(!output.is_error, "{}", output.text);
        assert_eq!(
            output.text,
            r#"{"columns":["id","name","score","photo"],"rows":[[1,"Ann",1.5,"AQI="],[2,"Bob",null,null]],"truncated":false}"#
        );
        assert_eq!(
            output.metadata,
            Some(json!({"tables": ["patients"], "row_count": 2, "truncated": false}))
        );
    }

    #[test]
    fn params_bind_positionally() {
        let (_dir, path) = sample();
        let db = database(&path);
        let sql = "SELECT name FROM patients WHERE id = ? AND ? AND name <> ?";
        let params = [json!(2), json!(true), json!("Zed")];
        let tables = db.inspect(sql, &params).unwrap();
        assert_eq!(
            db.run(sql, &params, &tables).text,
            r#"{"columns":["name"],"rows":[["Bob"]],"truncated":false}"#
        );
        assert_eq!(
            db.inspect(sql, &params[..1]),
            Err(Refusal::Invalid(
                "db_query: the statement has 3 parameter(s) but params has 1 value(s)".into()
            ))
        );
    }

    #[test]
    fn tables_read_are_found_by_preparing() {
        let (_dir, path) = sample();
        let db = database(&path);
        let join = "SELECT p.name, l.amount FROM patients p JOIN ledger l ON l.patient_id = p.id";
        assert_eq!(db.inspect(join, &[]).unwrap(), vec!["patients", "ledger"]);
        assert_eq!(db.inspect("SELECT count(*) FROM notes", &[]).unwrap(), vec!["notes"]);
        assert_eq!(
            db.inspect("WITH n AS (SELECT body FROM notes) SELECT * FROM n, ledger", &[])
                .unwrap(),
            vec!["notes", "ledger"]
        );
        assert_eq!(db.inspect("SELECT 1", &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn anything_but_one_select_is_not_read_only() {
        let (_dir, path) = sample();
        let db = database(&path);
        let attach = format!("ATTACH DATABASE '{}' AS other", path.display());
        let refused = [
            "INSERT INTO patients (name) VALUES ('Eve')",
            "UPDATE patients SET name = 'Eve'",
            "DELETE FROM patients",
            "PRAGMA journal_mode = DELETE",
            "PRAGMA table_info(patients)",
            "SELECT 1; DELETE FROM patients",
            "SELECT 1; SELECT 2",
            attach.as_str(),
            "WITH x AS (SELECT 1) DELETE FROM patients",
            "WITH x AS (SELECT 1) INSERT INTO patients (name) SELECT * FROM x",
            "/* comment */ DROP TABLE patients",
            "EXPLAIN SELECT 1",
            "VALUES (1)",
            "BEGIN",
        ];
        for sql in refused {
            match db.inspect(sql, &[]) {
                Err(Refusal::NotReadOnly(_)) => {}
                other => panic!("{sql}: {other:?}"),
            }
            match db.run(sql, &[], &[]) {
                output if output.is_error => {}
                output => panic!("{sql} ran: {}", output.text),
            }
        }
        assert_eq!(patient_count(&path), 2);
        assert_eq!(
            db.inspect("WITH x AS (SELECT 1) DELETE FROM patients", &[]),
            Err(Refusal::NotReadOnly(
                "db_query is read-only; this statement would write to table 'patients'".into()
            ))
        );
        assert_eq!(
            db.inspect("-- why\nPRAGMA user_version", &[]),
            Err(Refusal::NotReadOnly(
                "db_query runs one SELECT statement (WITH … SELECT included); this one starts with PRAGMA".into()
            ))
        );
        assert!(db.inspect("SELECT 1; -- trailing comment", &[]).is_ok());
    }

    #[test]
    fn bad_sql_is_invalid_arguments() {
        let (_dir, path) = sample();
        let db = database(&path);
        for sql in ["SELECT * FROM missing_table", "SELECT FROM", "  -- nothing"] {
            assert!(matches!(db.inspect(sql, &[]), Err(Refusal::Invalid(_))), "{sql}");
        }
    }

    #[test]
    fn preparing_does_not_run_the_query() {
        let (_dir, path) = sample();
        let db = database(&path);
        // Overflows only when evaluated.
        let overflow = "SELECT abs(-9223372036854775808) FROM patients";
        let tables = db.inspect(overflow, &[]).unwrap();
        let output = db.run(overflow, &[], &tables);
        assert!(output.is_error);
        assert!(output.text.contains("integer overflow"), "{}", output.text);
        // Endless when run to completion: preparing returns at once, running stops at MAX_ROWS.
        let endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n";
        let started = Instant::now();
        db.inspect(endless, &[]).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        let output = db.run(endless, &[], &[]);
        let parsed: Value = serde_json::from_str(&output.text).unwrap();
        assert_eq!(parsed["rows"].as_array().unwrap().len(), MAX_ROWS);
        assert_eq!(parsed["truncated"], true);
        assert_eq!(output.metadata.unwrap()["row_count"], MAX_ROWS);
    }

    #[test]
    fn a_table_not_checked_at_prepare_is_not_read() {
        let (_dir, path) = sample();
        let db = database(&path);
        let output = db.run("SELECT * FROM ledger", &[], &["patients".to_owned()]);
        assert!(output.is_error);
        assert!(output.text.contains("now reads table 'ledger'"), "{}", output.text);
    }

    #[test]
    fn an_unreadable_file_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.db");
        assert!(Database::open(&missing, TableMap::default())
            .unwrap_err()
            .starts_with("CERTIOR_DB_QUERY_PATH"));
        let not_sqlite = dir.path().join("text.db");
        std::fs::write(&not_sqlite, "x".repeat(4096)).unwrap();
        assert!(Database::open(&not_sqlite, TableMap::default())
            .unwrap_err()
            .starts_with("CERTIOR_DB_QUERY_PATH"));
    }
}
