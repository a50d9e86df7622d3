//! The prepare stage as the gate sees it: denial codes, capabilities and labels, and prepared
//! calls running through `Tools::run`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use serde_json::json;

use super::*;

const TABLES: &str = "patients=patient_data:PHI,ledger=financial_data:MNPI";

struct Fixture {
    tools: Tools,
    workspace: PathBuf,
    /// Holds the temporary directories.
    _dirs: Vec<tempfile::TempDir>,
}

fn settings() -> ToolSettings {
    ToolSettings {
        workspace: None,
        http_allowed_hosts: String::new(),
        db_query_path: None,
        db_query_tables: String::new(),
    }
}

fn fixture(mut settings: ToolSettings) -> Fixture {
    let data = tempfile::tempdir().unwrap();
    let (db_dir, db_path) = db_query::tests::sample();
    if settings.db_query_path.is_some() {
        settings.db_query_path = Some(db_path);
    }
    let tools = Tools::new(&settings, data.path()).unwrap();
    Fixture {
        workspace: fs::canonicalize(data.path().join("workspace")).unwrap(),
        tools,
        _dirs: vec![data, db_dir],
    }
}

fn with_database() -> Fixture {
    fixture(ToolSettings {
        db_query_path: Some(PathBuf::new()),
        db_query_tables: TABLES.into(),
        ..settings()
    })
}

#[allow(clippy::result_large_err, reason = "mirrors Tools::prepare")]
impl Fixture {
    fn prepare(&self, tool: &str, args: serde_json::Value) -> Result<PreparedCall, Violation> {
        self.tools.prepare(tool, &args, "standard")
    }

    fn denied(&self, tool: &str, args: serde_json::Value) -> String {
        let violation = self.prepare(tool, args).unwrap_err();
        assert_eq!(violation.phase, Phase::Prepare);
        assert_eq!(violation.severity, certior::Severity::Block);
        violation.code
    }

    async fn call(&self, tool: &str, args: serde_json::Value) -> ToolOutput {
        let prepared = self.prepare(tool, args).unwrap();
        self.tools.run(&prepared).await
    }
}

#[test]
fn check_arguments_is_the_schema_only() {
    assert_eq!(
        Tools::check_arguments("web_fetch", &json!({"url": "https://anywhere.example"})),
        Ok(BuiltinTool::HttpGet)
    );
    // Paths are checked at prepare, not here.
    assert_eq!(
        Tools::check_arguments("file_read", &json!({"path": "../x"})),
        Ok(BuiltinTool::FileRead)
    );
    assert_eq!(
        Tools::check_arguments("file_write", &json!({"path": "a"})),
        Err("file_write: argument 'content' (a string) is required".into())
    );
    assert!(Tools::check_arguments("exec", &json!({}))
        .unwrap_err()
        .starts_with("unknown tool 'exec'"));
}

#[test]
fn unknown_tools_and_bad_arguments_have_their_codes() {
    let f = fixture(settings());
    assert_eq!(f.denied("exec", json!({})), "unknown_tool");
    assert_eq!(f.denied("file_read", json!({"path": 1})), "invalid_arguments");
    assert_eq!(f.denied("file_read", json!({"path": "./"})), "invalid_arguments");
    assert_eq!(
        f.denied("file_write", json!({"path": "a", "content": "x", "mode": 1})),
        "invalid_arguments"
    );
    let message = f
        .prepare("http_get", json!({"url": "ftp://x.example/"}))
        .unwrap_err()
        .message;
    assert_eq!(
        message,
        "http_get: 'ftp://x.example/' is not an absolute http or https URL"
    );
}

#[test]
fn workspace_defaults_under_the_data_dir_and_settings_errors_name_the_variable() {
    let f = fixture(settings());
    assert!(f.workspace.ends_with("workspace") && f.workspace.is_dir());

    let data = tempfile::tempdir().unwrap();
    let error = |settings: ToolSettings| format!("{:#}", Tools::new(&settings, data.path()).unwrap_err());
    assert!(error(ToolSettings {
        http_allowed_hosts: "ok.example, bad host".into(),
        ..settings()
    })
    .starts_with("CERTIOR_HTTP_ALLOWED_HOSTS: 'bad host' is not a host"));
    assert!(error(ToolSettings {
        db_query_tables: "patients".into(),
        ..settings()
    })
    .starts_with("CERTIOR_DB_QUERY_TABLES: 'patients' is not table=tag"));
    assert!(error(ToolSettings {
        db_query_path: Some(data.path().join("missing.db")),
        ..settings()
    })
    .starts_with("CERTIOR_DB_QUERY_PATH"));
    fs::write(data.path().join("file"), "").unwrap();
    assert!(error(ToolSettings {
        workspace: Some(data.path().join("file/ws")),
        ..settings()
    })
    .starts_with("CERTIOR_WORKSPACE: cannot create or open"));
}

#[test]
fn paths_leaving_the_workspace_are_denied_for_every_file_tool() {
    let f = fixture(settings());
    for path in [
        "../x",
        "/etc/passwd",
        "a/../../x",
        "a/../b",
        "a\0b",
        "reports/../../etc/passwd",
    ] {
        assert_eq!(
            f.denied("file_read", json!({"path": path})),
            "path_outside_workspace",
            "{path:?}"
        );
        assert_eq!(
            f.denied("file_list", json!({"path": path})),
            "path_outside_workspace",
            "{path:?}"
        );
        assert_eq!(
            f.denied("file_write", json!({"path": path, "content": "x"})),
            "path_outside_workspace",
            "{path:?}"
        );
    }
}

#[test]
fn symlinks_out_of_the_workspace_are_denied() {
    let f = fixture(settings());
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    symlink(outside.path(), f.workspace.join("out")).unwrap();
    symlink(outside.path().join("secret.txt"), f.workspace.join("secret.txt")).unwrap();
    fs::create_dir(f.workspace.join("inside")).unwrap();
    symlink(f.workspace.join("inside"), f.workspace.join("alias")).unwrap();

    for (tool, args) in [
        ("file_read", json!({"path": "out/secret.txt"})),
        ("file_read", json!({"path": "secret.txt"})),
        ("file_list", json!({"path": "out"})),
        ("file_list", json!({"path": "out/"})),
        ("file_write", json!({"path": "out/new.txt", "content": "x"})),
        ("file_write", json!({"path": "out/sub/new.txt", "content": "x"})),
        ("file_write", json!({"path": "secret.txt", "content": "x"})),
    ] {
        let violation = f.prepare(tool, args.clone()).unwrap_err();
        assert_eq!(violation.code, "path_outside_workspace", "{tool} {args}");
        assert!(violation.message.contains("symbolic link"), "{}", violation.message);
    }
    assert!(f.prepare("file_list", json!({"path": "alias"})).is_ok());
    assert!(f
        .prepare("file_write", json!({"path": "alias/x.txt", "content": "x"}))
        .is_ok());
}

#[test]
fn required_capabilities_follow_the_spec_table() {
    let f = fixture(settings());
    let capabilities = |tool: &str, args: serde_json::Value| f.prepare(tool, args).unwrap().capabilities;
    assert_eq!(
        capabilities("file_write", json!({"path": "reports/q3.txt", "content": ""})),
        vec!["filesystem:write:reports"]
    );
    assert_eq!(
        capabilities("file_write", json!({"path": "./reports//2024/q3.txt", "content": ""})),
        vec!["filesystem:write:reports"]
    );
    assert_eq!(
        capabilities("file_write", json!({"path": "q3.txt", "content": ""})),
        vec!["filesystem:write:workspace"]
    );
    assert_eq!(
        capabilities("file_read", json!({"path": "q3.txt"})),
        vec!["filesystem:read"]
    );
    assert_eq!(capabilities("file_list", json!({})), vec!["filesystem:read"]);
    let prepared = f.prepare("file_read", json!({"path": "x"})).unwrap();
    assert_eq!(prepared.tool, BuiltinTool::FileRead);
    assert!(prepared.labels.is_empty());
}

#[tokio::test]
async fn prepared_file_calls_run() {
    let f = fixture(settings());
    let wrote = f
        .call("file_write", json!({"path": "notes/a.txt", "content": "one\n"}))
        .await;
    assert_eq!(
        (wrote.is_error, wrote.text.as_str()),
        (false, "Wrote 4 bytes to notes/a.txt")
    );
    f.call(
        "file_write",
        json!({"path": "notes/a.txt", "content": "two\n", "append": true}),
    )
    .await;
    assert_eq!(
        f.call("file_read", json!({"path": "notes/a.txt"})).await.text,
        "one\ntwo\n"
    );
    assert_eq!(f.call("file_list", json!({})).await.text, "notes/");
    assert_eq!(f.call("file_list", json!({"path": "notes"})).await.text, "a.txt");
    let missing = f.call("file_read", json!({"path": "nope.txt"})).await;
    assert!(missing.is_error && missing.text.starts_with("Error: "));
}

#[test]
fn http_get_needs_a_network_and_an_allowed_host() {
    let f = fixture(ToolSettings {
        http_allowed_hosts: "api.example.com,*.example.org,internal.example.net:8080".into(),
        ..settings()
    });
    let url = |url: &str| json!({"url": url});
    for profile in ["phi_release_attested", "release_attested", "reviewer_restricted"] {
        let violation = f
            .tools
            .prepare("http_get", &url("https://api.example.com/"), profile)
            .unwrap_err();
        assert_eq!(violation.code, "network_disabled");
        assert_eq!(
            violation.message,
            format!("http_get is disabled under the '{profile}' sandbox profile")
        );
    }
    let prepared = f.prepare("web_fetch", url("https://api.example.com/v1?q=1")).unwrap();
    assert_eq!(prepared.tool, BuiltinTool::HttpGet);
    assert_eq!(prepared.capabilities, vec!["network:http:read"]);
    assert!(f.prepare("http_get", url("http://docs.example.org/")).is_ok());
    assert!(f.prepare("http_get", url("http://internal.example.net:8080/")).is_ok());
    for denied in [
        "https://example.org/",
        "https://evil.example.com/",
        "https://api.example.com:8443/",
        "http://internal.example.net/",
    ] {
        assert_eq!(f.denied("http_get", url(denied)), "host_not_allowed", "{denied}");
    }
    let message = f
        .prepare("http_get", url("https://evil.example.com/"))
        .unwrap_err()
        .message;
    assert_eq!(
        message,
        "http_get: host 'evil.example.com' is not in CERTIOR_HTTP_ALLOWED_HOSTS"
    );

    let closed = fixture(settings());
    assert_eq!(
        closed.denied("http_get", url("https://api.example.com/")),
        "host_not_allowed"
    );
}

#[tokio::test]
async fn prepared_http_get_runs_against_a_local_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "stand-in" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let f = fixture(ToolSettings {
        http_allowed_hosts: host.clone(),
        ..settings()
    });
    let output = f.call("http_get", json!({"url": format!("http://{host}/")})).await;
    assert_eq!((output.is_error, output.text.as_str()), (false, "stand-in"));
    assert_eq!(
        output.metadata,
        Some(json!({"host": host, "status_code": 200, "bytes": 8, "truncated": false}))
    );
}

#[test]
fn db_query_without_a_database_is_not_configured() {
    let f = fixture(settings());
    let violation = f.prepare("db_query", json!({"sql": "SELECT 1"})).unwrap_err();
    assert_eq!(violation.code, "db_not_configured");
    assert!(violation.message.contains("CERTIOR_DB_QUERY_PATH"));
}

#[test]
fn db_query_capabilities_and_labels_come_from_the_tables_read() {
    let f = with_database();
    let join = "SELECT p.name, l.amount FROM patients p JOIN ledger l ON l.patient_id = p.id";
    let prepared = f.prepare("db_query", json!({"sql": join})).unwrap();
    assert_eq!(
        prepared.capabilities,
        vec!["database:read:patient_data", "database:read:financial_data"]
    );
    assert_eq!(prepared.labels, vec!["PHI", "MNPI"]);

    let twice = "SELECT a.name FROM patients a, patients b";
    let prepared = f.prepare("db_query", json!({"sql": twice})).unwrap();
    assert_eq!(
        (prepared.capabilities, prepared.labels),
        (vec!["database:read:patient_data".to_owned()], vec!["PHI".to_owned()])
    );

    let unmapped = f.prepare("db_query", json!({"sql": "SELECT body FROM notes"})).unwrap();
    assert_eq!(
        (unmapped.capabilities, unmapped.labels),
        (vec!["database:read:notes".to_owned()], vec![])
    );
}

#[test]
fn db_query_denial_codes() {
    let f = with_database();
    for sql in [
        "UPDATE patients SET name = 'x'",
        "PRAGMA user_version = 3",
        "SELECT 1; DELETE FROM ledger",
    ] {
        assert_eq!(f.denied("db_query", json!({"sql": sql})), "sql_not_read_only", "{sql}");
    }
    assert_eq!(
        f.denied("db_query", json!({"sql": "SELECT * FROM nowhere"})),
        "invalid_arguments"
    );
    assert_eq!(
        f.denied("db_query", json!({"sql": "SELECT ?", "params": []})),
        "invalid_arguments"
    );
}

#[tokio::test]
async fn prepared_db_query_runs() {
    let f = with_database();
    let output = f
        .call(
            "db_query",
            json!({"sql": "SELECT amount FROM ledger WHERE patient_id = ?", "params": [2]}),
        )
        .await;
    assert_eq!(
        output.text,
        r#"{"columns":["amount"],"rows":[[250]],"truncated":false}"#
    );
    assert_eq!(
        output.metadata,
        Some(json!({"tables": ["ledger"], "row_count": 1, "truncated": false}))
    );
}
