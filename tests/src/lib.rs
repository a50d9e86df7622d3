//! Harness for the end-to-end tests: starts the real `certior serve` binary on a free port with
//! a temporary data directory and talks to it over HTTP, as clients do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Seconds since the Unix epoch, as the server's timestamps are.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// The `certior` binary next to the test executable (`target/<profile>/certior`), unless
/// `CERTIOR_BIN` names another. `scripts/test` builds it first.
pub fn certior_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CERTIOR_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let bin = profile_dir.join(format!("certior{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with scripts/test (it builds the binary first)",
        bin.display()
    );
    bin
}

/// Where the server under test keeps its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `$CERTIOR_DATA_DIR/certior.db` (no `DATABASE_URL`).
    Sqlite,
    /// A PostgreSQL schema named by `DATABASE_URL`.
    Postgres,
}

/// The PostgreSQL base URL the suite runs against (`CERTIOR_TEST_POSTGRES`, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`), or `None` for SQLite.
pub fn test_postgres() -> Option<String> {
    std::env::var("CERTIOR_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

// PostgreSQL is reached with the `psql` command rather than a client crate: no new dependency, and
// it is synchronous, so `Drop` can use it and tests need no second runtime.

/// Runs `psql` on `url` with one SQL statement and returns its rows, each a list of text values
/// (NULL is ""); panics with psql's message on any error.
fn psql(url: &str, statement: &str) -> Vec<Vec<String>> {
    let output = std::process::Command::new("psql")
        .args([url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-F", "\u{1f}", "-R", "\u{1e}", "-c", statement])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running psql (the PostgreSQL client must be installed): {e}"));
    assert!(
        output.status.success(),
        "psql {statement:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("psql output is UTF-8");
    let text = text.strip_suffix('\n').unwrap_or(&text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split('\u{1e}')
        .map(|row| row.split('\u{1f}').map(str::to_owned).collect())
        .collect()
}

/// `base` with `search_path` set to `schema` through libpq's `options` parameter.
fn schema_url(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

/// A PostgreSQL schema made for one test; dropped (best effort, in the background) with it.
struct Schema {
    base_url: String,
    name: String,
}

impl Schema {
    /// A new, empty schema with a random name, so concurrent runs and tests never share tables.
    fn create(base_url: &str) -> Schema {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        hasher.write_u32(std::process::id());
        let name = format!("certior_t_{:016x}", hasher.finish());
        psql(base_url, &format!("CREATE SCHEMA {name}"));
        Schema {
            base_url: base_url.to_owned(),
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Not waited for: the killed server's sessions may hold locks for a moment, and a
        // leftover schema only costs space.
        let _ = std::process::Command::new("psql")
            .args([self.base_url.as_str(), "-X", "-q", "-c"])
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    /// The schema this server made (not a replica's); after `child` so it is dropped after the
    /// kill.
    schema: Option<Schema>,
}

impl Server {
    /// A server with a fresh temporary data directory.
    pub async fn start() -> Server {
        Self::start_with(&[]).await
    }

    /// A server with more environment variables, on SQLite, or on a fresh PostgreSQL schema
    /// when `CERTIOR_TEST_POSTGRES` is set (and `env` has no `DATABASE_URL` of its own).
    pub async fn start_with(env: &[(&str, &str)]) -> Server {
        match test_postgres() {
            Some(base) if !env.iter().any(|(k, _)| *k == "DATABASE_URL") => Self::start_postgres(&base, env).await,
            _ => Self::start_in(env, None).await,
        }
    }

    /// A server on a fresh schema of the PostgreSQL database at `base_url`, whatever
    /// `CERTIOR_TEST_POSTGRES` says.
    pub async fn start_postgres(base_url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_in(env, Some(Schema::create(base_url))).await
    }

    async fn start_in(env: &[(&str, &str)], schema: Option<Schema>) -> Server {
        let temp = tempfile::tempdir().expect("temporary data dir");
        let data_dir = temp.path().to_path_buf();
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(schema) = &schema {
            env.push(("DATABASE_URL".into(), schema_url(&schema.base_url, &schema.name)));
        }
        let mut server = Self::spawn(data_dir, env).await;
        server._temp = Some(temp);
        server.schema = schema;
        server
    }

    /// The `DATABASE_URL` the server was given, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.as_str())
    }

    pub fn backend(&self) -> Backend {
        match self.database_url() {
            Some(url) if url.starts_with("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Runs one SQL statement on the server's store, whichever backend it is, and returns the
    /// rows it yields (use `RETURNING` to see what an UPDATE touched), each value as text: NULL
    /// is "", booleans are `t`/`f` on PostgreSQL but `1`/`0` on SQLite. For tests that tamper
    /// with or inspect rows behind the API.
    pub fn sql(&self, statement: &str) -> Vec<Vec<String>> {
        if let Some(url) = self.database_url().filter(|_| self.is_postgres()) {
            return psql(url, statement);
        }
        use rusqlite::types::ValueRef;
        let db = rusqlite::Connection::open(self.data_dir.join("certior.db")).expect("open certior.db");
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut prepared = db.prepare(statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
        let columns = prepared.column_count();
        let mut rows = prepared.query([]).unwrap_or_else(|e| panic!("{statement}: {e}"));
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{statement}: {e}")) {
            let values = (0..columns)
                .map(|n| match row.get_ref(n).unwrap() {
                    ValueRef::Null => String::new(),
                    ValueRef::Integer(i) => i.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                })
                .collect();
            out.push(values);
        }
        out
    }

    /// Another `certior serve` on the same database and the same data directory (signing keys
    /// and workspace are shared by replicas), on its own port. Only PostgreSQL is shared by
    /// replicas; the schema stays owned by `self`.
    pub async fn start_replica(&self) -> Server {
        assert!(self.is_postgres(), "replicas need a PostgreSQL store");
        Self::spawn(self.data_dir.clone(), self.env.clone()).await
    }

    async fn spawn(data_dir: PathBuf, env: Vec<(String, String)>) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("server log file");
        let mut command = Command::new(certior_bin());
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CERTIOR_PORT", "0")
            .env("CERTIOR_HOST", "127.0.0.1")
            .env("CERTIOR_DATA_DIR", &data_dir)
            .env("CERTIOR_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start certior serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("server printed its address within 60 s")
            .expect("reading server stdout");
        let Some(line) = first else {
            let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
            panic!("server exited before listening; its log:\n{log}");
        };
        let base_url = line.rsplit(' ').next().expect("address").to_string();
        Server {
            child,
            base_url,
            data_dir,
            _temp: None,
            env,
            schema: None,
        }
    }

    /// Stops the server with SIGTERM and starts it again on the same data directory (and
    /// database).
    pub async fn restart(mut self) -> Server {
        self.terminate().await;
        self.respawn().await
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and starts it again on the same
    /// data directory (and database): what a crashed replica's restart looks like.
    pub async fn crash_and_restart(mut self) -> Server {
        self.kill().await;
        self.respawn().await
    }

    /// SIGKILL, and waits for the process to be gone: a crash. The data directory and schema
    /// live on until the `Server` is dropped.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL the server");
        self.child.wait().await.expect("wait for the killed server");
    }

    /// A new process on this one's data directory, environment and schema.
    async fn respawn(mut self) -> Server {
        let mut server = Self::spawn(self.data_dir.clone(), self.env.clone()).await;
        server._temp = self._temp.take();
        server.schema = self.schema.take();
        server
    }

    /// Graceful stop (SIGTERM); returns the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("server stopped within 20 s of SIGTERM")
            .expect("wait for server")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base_url: self.base_url.clone(),
        }
    }

    /// Runs another `certior` subcommand against this server's data directory and database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(certior_bin())
            .args(args)
            .env_clear()
            .env("CERTIOR_DATA_DIR", &self.data_dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run certior")
    }
}

/// A response: status, headers and the JSON body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    base_url: String,
}

impl Client {
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{}", self.base_url, path))
    }

    pub async fn send(builder: reqwest::RequestBuilder) -> Reply {
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        Self::send(with_key(self.request(reqwest::Method::GET, path), key)).await
    }

    pub async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Reply {
        Self::send(with_key(self.request(reqwest::Method::POST, path).json(body), key)).await
    }

    pub async fn patch(&self, path: &str, body: &Value, key: Option<&str>) -> Reply {
        Self::send(with_key(self.request(reqwest::Method::PATCH, path).json(body), key)).await
    }

    pub async fn delete(&self, path: &str, key: Option<&str>) -> Reply {
        Self::send(with_key(self.request(reqwest::Method::DELETE, path), key)).await
    }

    /// Registers an `operator` (what self-registration creates) and returns its key.
    pub async fn operator(&self, email: &str) -> String {
        self.register(&serde_json::json!({"email": email, "password": "password-1"}), None)
            .await
    }

    /// Submits a task (expecting 201) and returns its execution id.
    pub async fn submit(&self, key: &str, body: Value) -> String {
        let reply = self.post("/api/v1/tasks", &body, Some(key)).await;
        assert_eq!(reply.status, 201, "submit {body}: {}", reply.text);
        reply.body["execution_id"].as_str().expect("execution_id").to_owned()
    }

    /// Polls `GET /executions/{id}` until the execution is `completed`, `failed` or `cancelled`.
    pub async fn wait_terminal(&self, execution_id: &str, key: &str) -> Reply {
        let path = format!("/api/v1/executions/{execution_id}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let reply = self.get(&path, Some(key)).await;
            assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
            if matches!(
                reply.body["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            ) {
                return reply;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "execution {execution_id} still {} after 120 s",
                reply.body["status"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers a user and returns its first API key.
    pub async fn register(&self, body: &Value, key: Option<&str>) -> String {
        let reply = self.post("/api/v1/auth/register", body, key).await;
        assert_eq!(reply.status, 201, "register {body}: {}", reply.text);
        reply.body["api_key"].as_str().expect("api_key").to_string()
    }
}

fn with_key(builder: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    match key {
        Some(key) => builder.bearer_auth(key),
        None => builder,
    }
}

/// Starts a server whose bootstrap administrator exists and returns it with that admin's key.
pub async fn server_with_admin() -> (Server, String) {
    server_with_admin_and(&[]).await
}

/// [`server_with_admin`] with more environment variables.
pub async fn server_with_admin_and(env: &[(&str, &str)]) -> (Server, String) {
    let mut all = vec![
        ("CERTIOR_BOOTSTRAP_ADMIN_EMAIL", "Root@Example.com"),
        ("CERTIOR_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-secret"),
    ];
    all.extend_from_slice(env);
    let server = Server::start_with(&all).await;
    let reply = server
        .client()
        .post(
            "/api/v1/auth/login",
            &serde_json::json!({"email": "root@example.com", "password": "bootstrap-secret"}),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "bootstrap admin login: {}", reply.text);
    let key = reply.body["api_key"].as_str().expect("api_key").to_string();
    (server, key)
}

/// A local HTTP peer for `http_get` steps: `/slow/{name}` answers `payload of <name>` after a
/// delay, counting the requests for each name and remembering when it answered.
pub struct SlowPeer {
    /// `localhost:<port>`, not an IP literal: the `default` preset's PII plugin blocks IP
    /// addresses in tool inputs.
    pub address: String,
    seen: std::sync::Arc<std::sync::Mutex<PeerLog>>,
}

#[derive(Default)]
struct PeerLog {
    hits: std::collections::HashMap<String, usize>,
    answered: std::collections::HashMap<String, std::time::Instant>,
}

impl SlowPeer {
    pub async fn start(delay: Duration) -> SlowPeer {
        use axum::extract::{Path, State};
        type Shared = (std::sync::Arc<std::sync::Mutex<PeerLog>>, Duration);
        let seen: std::sync::Arc<std::sync::Mutex<PeerLog>> = Default::default();
        let app = axum::Router::new()
            .route(
                "/slow/{name}",
                axum::routing::get(
                    |State((seen, delay)): State<Shared>, Path(name): Path<String>| async move {
                        *seen.lock().unwrap().hits.entry(name.clone()).or_default() += 1;
                        tokio::time::sleep(delay).await;
                        seen.lock()
                            .unwrap()
                            .answered
                            .insert(name.clone(), std::time::Instant::now());
                        format!("payload of {name}")
                    },
                ),
            )
            .with_state((seen.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("localhost:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SlowPeer { address, seen }
    }

    /// How many requests for `name` arrived.
    pub fn hits(&self, name: &str) -> usize {
        self.seen.lock().unwrap().hits.get(name).copied().unwrap_or(0)
    }

    /// When the answer for `name` was sent; panics if it was not.
    pub fn answered_at(&self, name: &str) -> std::time::Instant {
        self.seen.lock().unwrap().answered[name]
    }
}
