//! Custom presets end to end (spec §4.6.2–§4.6.3a, §5.3–§5.6): uploads that tasks use at once,
//! bundles refused with the file and the reason before anything is stored, size limits, the
//! role gate, versions that pinned executions keep, restarts, deprecation, and the authoring
//! CLI from `certior preset new` to a task blocked by the scaffold's plugin.

use std::path::Path;
use std::time::Duration;

use certior_e2e::{certior_bin, server_with_admin, server_with_admin_and, Client, Reply, Server, SlowPeer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The built-in `keywords` module: a real plugin that blocks the patterns its configuration
/// lists, so a preset can block a custom pattern without a toolchain in the loop.
const KEYWORDS_WASM: &[u8] = include_bytes!("../../presets/sox/keywords.wasm");

const GOOD_CEDAR: &str = r#"@id("tickets.no_viewers")
forbid (principal, action == Action::"invoke", resource) when { principal.role == "viewer" };
"#;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `preset.toml` of a preset `key` whose plugin `tickets` (file `tickets.wasm`, pinned to
/// `module`) blocks `TICKET-<digits>`; `top` adds top-level keys.
fn manifest(key: &str, top: &str, module: &[u8]) -> String {
    format!(
        r#"schema_version = 1
key = "{key}"
name = "Tickets"
retention_days = 30
{top}
[permissions]
default = ["filesystem:read", "filesystem:write:notes", "network:http:read"]

[[plugins]]
name = "tickets"
file = "tickets.wasm"
sha256 = "{}"
hooks = ["tool_call", "content"]
provides = ["tickets"]
[plugins.config]
category = "prompt_injection"
label = "TICKET"
pattern_code = "ticket_id"
patterns = ['\bTICKET-\d{{4,}}\b']
"#,
        sha256_hex(module)
    )
}

type Files = Vec<(String, Vec<u8>)>;

fn files(manifest: &str, cedar: &str, module: &[u8]) -> Files {
    vec![
        ("preset.toml".into(), manifest.as_bytes().to_vec()),
        ("policy.cedar".into(), cedar.as_bytes().to_vec()),
        ("tickets.wasm".into(), module.to_vec()),
    ]
}

fn good_bundle() -> Files {
    files(&manifest("tickets", "", KEYWORDS_WASM), GOOD_CEDAR, KEYWORDS_WASM)
}

/// A module with the ABI exports whose evaluation does `body`; `exports` is the list of
/// function exports to include.
fn wat_module(evaluate: &str, with_evaluate: bool) -> Vec<u8> {
    let evaluate = if with_evaluate {
        format!(r#"(func (export "certior_evaluate") (param i32 i32) (result i64) {evaluate})"#)
    } else {
        String::new()
    };
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 1024)
             {evaluate})"#
    ))
    .unwrap()
}

async fn upload(api: &Client, key: Option<&str>, files: &Files) -> Reply {
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in files {
        form = form.part(
            name.clone(),
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
        );
    }
    let mut request = api
        .request(reqwest::Method::POST, "/api/v1/compliance/presets")
        .multipart(form);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    Client::send(request).await
}

async fn user(api: &Client, admin: &str, role: &str) -> String {
    api.register(
        &json!({"email": format!("{role}@example.com"), "password": "password-1", "role": role}),
        Some(admin),
    )
    .await
}

/// How many preset versions and modules the database holds.
fn stored(server: &Server) -> (i64, i64) {
    let count = |table: &str| {
        let rows = server.sql(&format!("SELECT COUNT(*) FROM {table}"));
        rows[0][0].parse().unwrap()
    };
    (count("preset_versions"), count("preset_modules"))
}

fn note_task(policy: &str, content: &str) -> Value {
    json!({
        "task": "Write a note",
        "compliance_policy": policy,
        "plan": [{"tool": "file_write", "args": {"path": "notes/a.txt", "content": content}}]
    })
}

async fn steps(api: &Client, key: &str, id: &str) -> Vec<Value> {
    let reply = api.get(&format!("/api/v1/executions/{id}/steps"), Some(key)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["steps"].as_array().unwrap().clone()
}

/// Runs `body` to a terminal status and returns the execution view.
async fn run(api: &Client, key: &str, body: Value) -> Value {
    let id = api.submit(key, body).await;
    api.wait_terminal(&id, key).await.body
}

#[tokio::test]
async fn an_accepted_preset_is_used_by_tasks_at_once() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let author = user(&api, &admin, "policy_author").await;
    let author_id = api.get("/api/v1/auth/me", Some(&author)).await.body["id"].clone();

    let reply = upload(&api, Some(&author), &good_bundle()).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let descriptor = reply.body;
    assert_eq!(descriptor["key"], "tickets");
    assert_eq!(descriptor["name"], "Tickets");
    assert_eq!(descriptor["source"], "uploaded");
    assert_eq!(descriptor["version"], 1);
    assert_eq!(descriptor["retention_days"], 30);
    assert!(descriptor["created_at"].is_number());
    assert!(descriptor.get("deprecated").is_none());
    let digest = descriptor["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(
        descriptor["plugins"],
        json!([{"name": "tickets", "sha256": sha256_hex(KEYWORDS_WASM),
                "hooks": ["tool_call", "content"], "provides": ["tickets"]}])
    );
    assert_eq!(stored(&server), (1, 1));

    // Listed after the built-ins; one preset with its one version.
    let listed = api.get("/api/v1/compliance/presets", None).await.body;
    let keys: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["hipaa", "sox", "legal_privilege", "default", "tickets"]);
    let one = api.get("/api/v1/compliance/presets/TICKETS", None).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["digest"], digest.as_str());
    assert_eq!(
        one.body["versions"],
        json!([{"version": 1, "digest": digest, "source": "uploaded",
                "created_at": descriptor["created_at"], "created_by": author_id}])
    );
    let builtin = api.get("/api/v1/compliance/presets/legal", None).await.body;
    assert_eq!(builtin["key"], "legal_privilege");
    assert_eq!(builtin["versions"][0]["source"], "builtin");
    assert_eq!(builtin["versions"][0]["created_by"], Value::Null);
    for missing in [
        "/api/v1/compliance/presets/nope",
        "/api/v1/compliance/presets/tickets?version=2",
    ] {
        let reply = api.get(missing, None).await;
        assert_eq!((reply.status, reply.detail()), (404, "Preset not found"), "{missing}");
    }
    let reply = api.get("/api/v1/compliance/presets/tickets?version=0", None).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let reply = Client::send(api.request(reqwest::Method::PUT, "/api/v1/compliance/presets/tickets")).await;
    assert_eq!((reply.status, reply.detail()), (405, "Method Not Allowed"));

    // The OpenAPI document describes the four operations.
    let doc = api.get("/openapi.json", None).await.body;
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/api/v1/compliance/presets", ["get", "post"]),
        ("/api/v1/compliance/presets/{key}", ["get", "delete"]),
    ] {
        for method in methods {
            assert!(paths[path].get(method).is_some(), "{method} {path} in /openapi.json");
        }
    }
    assert!(paths["/api/v1/compliance/presets"]["post"]["requestBody"]["content"]
        .get("multipart/form-data")
        .is_some());

    // A task whose tool input carries the pattern is blocked by the plugin.
    let operator = api.operator("ops@example.com").await;
    let view = run(&api, &operator, note_task("tickets", "escalated as TICKET-20417")).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["preset_key"], "tickets");
    assert_eq!(view["preset_digest"], digest.as_str());
    let records = steps(&api, &operator, view["id"].as_str().unwrap()).await;
    assert_eq!(records[0]["decision"], "denied", "{}", records[0]);
    assert_eq!(records[0]["violations"][0]["code"], "ticket_id");
    assert_eq!(records[0]["violations"][0]["plugin"], "tickets");
    assert!(!server.data_dir.join("workspace/notes/a.txt").exists());

    // Other text passes, under the preset's own Cedar rules and ceiling.
    let view = run(&api, &operator, note_task("Tickets", "escalated to the on-call team")).await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["compliance_policy"], "Tickets");
}

#[tokio::test]
async fn refused_bundles_name_the_file_and_the_reason_and_store_nothing() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let author = user(&api, &admin, "policy_author").await;

    let garbage = b"this is not a wasm module".to_vec();
    let no_evaluate = wat_module("", false);
    let traps = wat_module("unreachable", true);
    let schema_violation = r#"@id("tickets.odd")
forbid (principal, action == Action::"invoke", resource) when { principal.shoe_size == 42 };
"#;
    let mut duplicate = good_bundle();
    duplicate.push(("tickets.wasm".into(), KEYWORDS_WASM.to_vec()));
    let mut unlisted = good_bundle();
    unlisted.push(("notes.txt".into(), b"hello".to_vec()));
    let cases: Vec<(&str, Files, &str, String)> = vec![
        (
            "bad wasm",
            files(&manifest("tickets", "", &garbage), GOOD_CEDAR, &garbage),
            "tickets.wasm",
            "Preset rejected: tickets.wasm: is not a usable plugin module: invalid module: ".into(),
        ),
        (
            "missing export",
            files(&manifest("tickets", "", &no_evaluate), GOOD_CEDAR, &no_evaluate),
            "tickets.wasm",
            "Preset rejected: tickets.wasm: is not a usable plugin module: missing export `certior_evaluate`.".into(),
        ),
        (
            "Cedar syntax error",
            files(&manifest("tickets", "", KEYWORDS_WASM), "permit (", KEYWORDS_WASM),
            "policy.cedar",
            "Preset rejected: policy.cedar: Cedar syntax error: ".into(),
        ),
        (
            "Cedar schema violation",
            files(&manifest("tickets", "", KEYWORDS_WASM), schema_violation, KEYWORDS_WASM),
            "policy.cedar",
            "Preset rejected: policy.cedar: the policies do not validate against certior.cedarschema (strict): ".into(),
        ),
        (
            "digest mismatch",
            files(&manifest("tickets", "", &garbage), GOOD_CEDAR, KEYWORDS_WASM),
            "tickets.wasm",
            format!(
                "Preset rejected: tickets.wasm: SHA-256 of the module is {} but preset.toml field `plugins[0].sha256` says {}.",
                sha256_hex(KEYWORDS_WASM),
                sha256_hex(&garbage)
            ),
        ),
        (
            "trial evaluation",
            files(&manifest("tickets", "", &traps), GOOD_CEDAR, &traps),
            "tickets.wasm",
            "Preset rejected: tickets.wasm: trial evaluation failed in phase `tool_input`: plugin `tickets`: trapped: ".into(),
        ),
        (
            "manifest field",
            files(&manifest("tickets", "retention_days_typo = 1", KEYWORDS_WASM), GOOD_CEDAR, KEYWORDS_WASM),
            "preset.toml",
            "Preset rejected: preset.toml: unknown field `retention_days_typo`".into(),
        ),
        (
            "missing module",
            files(&manifest("tickets", "", KEYWORDS_WASM), GOOD_CEDAR, KEYWORDS_WASM)[..2].to_vec(),
            "tickets.wasm",
            "Preset rejected: tickets.wasm: is missing; preset.toml `plugins[0].file` names it for plugin `tickets`.".into(),
        ),
        (
            "duplicate file",
            duplicate,
            "tickets.wasm",
            "Preset rejected: tickets.wasm: appears more than once in the upload.".into(),
        ),
        (
            "unlisted file",
            unlisted,
            "notes.txt",
            "Preset rejected: notes.txt: is not listed in preset.toml.".into(),
        ),
    ];
    for (case, bundle, file, detail) in cases {
        let reply = upload(&api, Some(&author), &bundle).await;
        assert_eq!(reply.status, 422, "{case}: {}", reply.text);
        let error = &reply.body["errors"][0];
        assert_eq!(error["type"], "preset_invalid", "{case}");
        assert_eq!(error["loc"][0], "body", "{case}");
        assert_eq!(error["loc"][1], file, "{case}");
        let text = reply.detail();
        if detail.ends_with('.') {
            assert_eq!(text, detail, "{case}");
        } else {
            assert!(text.starts_with(&detail) && text.ends_with('.'), "{case}: {text}");
        }
        assert_eq!(
            text,
            format!("Preset rejected: {file}: {}.", error["msg"].as_str().unwrap()),
            "{case}: detail and msg agree"
        );
        assert!(!text.contains('\n'), "{case}: one line");
    }
    assert_eq!(stored(&server), (0, 0), "nothing was stored");
    assert_eq!(
        api.get("/api/v1/compliance/presets", None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(api.get("/api/v1/compliance/presets/tickets", None).await.status, 404);

    // Not multipart.
    let reply = api
        .post(
            "/api/v1/compliance/presets",
            &json!({"preset.toml": "x"}),
            Some(&author),
        )
        .await;
    assert_eq!(
        (reply.status, reply.detail()),
        (415, "Preset upload must be multipart/form-data.")
    );

    // Names of built-ins and of other uploads (409), checked after validation.
    let reply = upload(
        &api,
        Some(&author),
        &files(&manifest("hipaa", "", KEYWORDS_WASM), "", KEYWORDS_WASM),
    )
    .await;
    assert_eq!(
        (reply.status, reply.detail()),
        (409, "Preset key 'hipaa' is reserved by a built-in preset")
    );
    let aliased = manifest("tickets", r#"aliases = ["legal"]"#, KEYWORDS_WASM);
    let reply = upload(&api, Some(&author), &files(&aliased, "", KEYWORDS_WASM)).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (409, "Preset key 'legal' is reserved by a built-in preset")
    );
    let aliased = manifest("tickets", r#"aliases = ["tix"]"#, KEYWORDS_WASM);
    assert_eq!(
        upload(&api, Some(&author), &files(&aliased, "", KEYWORDS_WASM))
            .await
            .status,
        201
    );
    let other = manifest("other_tickets", r#"aliases = ["tix"]"#, KEYWORDS_WASM);
    let reply = upload(&api, Some(&author), &files(&other, "", KEYWORDS_WASM)).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (409, "Alias 'tix' is already used by preset 'tickets'")
    );
    assert_eq!(stored(&server), (1, 1), "only the accepted upload was stored");
}

#[tokio::test]
async fn oversize_bundles_are_413_and_store_nothing() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let author = user(&api, &admin, "policy_author").await;
    let big = vec![0u8; 9 * 1024 * 1024];
    let mut whole = good_bundle();
    whole.push(("a.wasm".into(), big.clone()));
    whole.push(("b.wasm".into(), big.clone()));
    let module = files(&manifest("tickets", "", &big), GOOD_CEDAR, &big);
    for (case, bundle) in [("whole body", whole), ("one module", module)] {
        let reply = upload(&api, Some(&author), &bundle).await;
        assert_eq!(
            (reply.status, reply.detail()),
            (413, "Preset bundle exceeds 16 MiB."),
            "{case}"
        );
    }
    assert_eq!(stored(&server), (0, 0));
    // The connection stays usable: a good bundle goes through afterwards.
    assert_eq!(upload(&api, Some(&author), &good_bundle()).await.status, 201);
}

#[tokio::test]
async fn only_administrators_and_policy_authors_manage_presets() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    for role in ["operator", "viewer", "auditor", "approver"] {
        let key = user(&api, &admin, role).await;
        let reply = upload(&api, Some(&key), &good_bundle()).await;
        assert_eq!(
            (reply.status, reply.detail()),
            (403, "Requires one of: ['admin', 'policy_author']"),
            "{role} uploads"
        );
        let reply = api.delete("/api/v1/compliance/presets/tickets", Some(&key)).await;
        assert_eq!(reply.status, 403, "{role} deprecates");
    }
    let reply = upload(&api, None, &good_bundle()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(stored(&server), (0, 0));
    let reply = upload(&api, Some(&admin), &good_bundle()).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// Versions: a new upload of a key is its next version; an execution keeps the version it was
/// submitted with, through a crash and restart in the middle of its run; every version
/// survives the restart.
#[tokio::test]
async fn executions_keep_their_version_across_new_uploads_and_restarts() {
    let peer = SlowPeer::start(Duration::from_millis(4000)).await;
    let env = [
        ("CERTIOR_HTTP_ALLOWED_HOSTS", peer.address.as_str()),
        ("CERTIOR_JOB_LEASE_SECONDS", "2"),
    ];
    let (server, admin) = server_with_admin_and(&env).await;
    let api = server.client();
    let first = upload(&api, Some(&admin), &good_bundle()).await.body;
    let v1 = first["digest"].as_str().unwrap().to_owned();

    // A run under version 1 with a slow first step.
    let operator = api.operator("ops@example.com").await;
    let id = api
        .submit(
            &operator,
            json!({"task": "Fetch then write", "compliance_policy": "tickets",
                   "plan": [{"tool": "http_get", "args": {"url": format!("http://{}/slow/first", peer.address)}},
                            {"tool": "file_write", "args": {"path": "notes/b.txt", "content": "fetched"}}]}),
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while peer.hits("first") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the first step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Version 2 while it runs.
    let longer = manifest("tickets", "", KEYWORDS_WASM).replace("retention_days = 30", "retention_days = 60");
    let second = upload(&api, Some(&admin), &files(&longer, GOOD_CEDAR, KEYWORDS_WASM)).await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.body["version"], 2);
    let v2 = second.body["digest"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);

    // The run resumes after a crash under the version it started with.
    let server = server.crash_and_restart().await;
    let api = server.client();
    let view = api.wait_terminal(&id, &operator).await.body;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["preset_digest"], v1.as_str());
    let pinned = server.sql(&format!("SELECT preset_version FROM executions WHERE id = '{id}'"));
    assert_eq!(pinned, [["1"]]);
    let records = steps(&api, &operator, &id).await;
    let certified: Vec<&str> = records
        .iter()
        .filter_map(|r| r["certificate_id"].as_str())
        .filter(|c| !c.is_empty())
        .collect();
    assert!(certified.len() >= 2, "both steps were certified: {records:?}");
    for certificate in certified {
        let rows = server.sql(&format!("SELECT document FROM certificates WHERE id = '{certificate}'"));
        assert_eq!(rows.len(), 1, "certificate {certificate}");
        let document: Value = serde_json::from_str(&rows[0][0]).unwrap();
        assert_eq!(document["preset_digest"], v1.as_str(), "{document}");
    }

    // Its export attests under version 1, also when asked for the preset by key.
    for query in ["", "?preset=tickets"] {
        let package = api
            .get(&format!("/api/v1/compliance/{id}/export{query}"), Some(&operator))
            .await;
        assert_eq!(package.status, 200, "{}", package.text);
        assert_eq!(package.body["attestation"]["preset_digest"], v1.as_str(), "{query}");
        assert_eq!(package.body["attestation"]["retention_days"], 30, "{query}");
    }

    // Both versions came back; new tasks take version 2.
    let one = api.get("/api/v1/compliance/presets/tickets", None).await.body;
    assert_eq!((one["version"].clone(), one["digest"].clone()), (json!(2), json!(v2)));
    let versions: Vec<&Value> = one["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["digest"])
        .collect();
    assert_eq!(versions, [&json!(v1), &json!(v2)]);
    let old = api.get("/api/v1/compliance/presets/tickets?version=1", None).await.body;
    assert_eq!(
        (old["version"].clone(), old["retention_days"].clone()),
        (json!(1), json!(30))
    );
    let view = run(&api, &operator, note_task("tickets", "TICKET-1234 is still blocked")).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["preset_digest"], v2.as_str());
}

#[tokio::test]
async fn a_deprecated_preset_refuses_new_work_and_keeps_its_history() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let author = user(&api, &admin, "policy_author").await;
    assert_eq!(upload(&api, Some(&author), &good_bundle()).await.status, 201);
    let operator = api.operator("ops@example.com").await;
    let earlier = run(&api, &operator, note_task("tickets", "before deprecation")).await;
    assert_eq!(earlier["status"], "completed", "{earlier}");

    let reply = api.delete("/api/v1/compliance/presets/hipaa", Some(&author)).await;
    assert_eq!(
        (reply.status, reply.detail()),
        (409, "Built-in preset 'hipaa' cannot be deprecated")
    );
    let reply = api.delete("/api/v1/compliance/presets/legal", Some(&author)).await;
    assert_eq!(reply.detail(), "Built-in preset 'legal_privilege' cannot be deprecated");
    let reply = api.delete("/api/v1/compliance/presets/nope", Some(&author)).await;
    assert_eq!((reply.status, reply.detail()), (404, "Preset not found"));
    for _ in 0..2 {
        let reply = api.delete("/api/v1/compliance/presets/tickets", Some(&author)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["key"], "tickets");
        assert_eq!(reply.body["deprecated"], true);
    }

    let refused = |reply: Reply| {
        assert_eq!(
            (reply.status, reply.detail()),
            (400, "Preset 'tickets' is deprecated."),
            "{}",
            reply.text
        );
    };
    refused(
        api.post("/api/v1/tasks", &note_task("TICKETS", "after"), Some(&operator))
            .await,
    );
    let workflow = json!({"name": "w", "stages": [{"name": "s", "task": "t", "compliance_policy": "tickets",
                          "plan": [{"tool": "file_list"}]}]});
    refused(api.post("/api/v1/workflows", &workflow, Some(&operator)).await);
    let unknown = api
        .post("/api/v1/tasks", &note_task("nope", "x"), Some(&operator))
        .await;
    assert_eq!(
        unknown.detail(),
        "Unknown compliance preset: nope. Available: ['hipaa', 'sox', 'legal', 'legal_privilege', 'default']",
        "a deprecated preset is not offered"
    );

    // History and exports are unaffected, and the deprecation survives a restart.
    let id = earlier["id"].as_str().unwrap();
    let export = api
        .get(&format!("/api/v1/compliance/{id}/export"), Some(&operator))
        .await;
    assert_eq!(export.status, 200, "{}", export.text);
    let server = server.restart().await;
    let api = server.client();
    let listed = api.get("/api/v1/compliance/presets", None).await.body;
    let tickets = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "tickets")
        .unwrap();
    assert_eq!(tickets["deprecated"], true);
    assert!(listed[0].get("deprecated").is_none());
    assert_eq!(
        api.get("/api/v1/compliance/presets/tickets", None).await.body["deprecated"],
        true
    );
    refused(
        api.post("/api/v1/tasks", &note_task("tickets", "after"), Some(&operator))
            .await,
    );
    assert_eq!(stored(&server), (1, 1), "nothing is deleted");
}

/// Runs `certior` with `args` in `dir`, with a clean environment, and returns its output.
fn certior(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(certior_bin())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("run certior")
}

fn succeeded(what: &str, output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The documented authoring path: scaffold, build with Debian's pinned toolchain (build.sh),
/// test and check locally, push with an API key, and a task under the preset is blocked by
/// the scaffold's plugin.
#[tokio::test]
async fn a_scaffolded_plugin_builds_pushes_and_blocks_its_pattern() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    succeeded("preset new", &certior(dir, &["preset", "new", "acme_tickets"], &[]));
    let root = dir.join("acme_tickets");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let build = std::process::Command::new(root.join("build.sh"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .output()
        .expect("run build.sh");
    let built = succeeded("build.sh", &build);
    assert!(built.contains("preset/acme_tickets.wasm  sha256 "), "{built}");

    let tested = succeeded(
        "preset test",
        &certior(
            &root,
            &[
                "preset",
                "test",
                "preset",
                "--input",
                "inputs/blocked.txt",
                "--input",
                "inputs/clean.txt",
            ],
            &[],
        ),
    );
    let (blocked, clean) = tested.split_once("inputs/clean.txt").unwrap();
    assert!(
        blocked.contains("tool_input    deny") && blocked.contains("acme_tickets_match"),
        "{tested}"
    );
    assert!(
        clean.contains("tool_input    allow") && !clean.contains("deny"),
        "{tested}"
    );
    let packed = succeeded("preset pack", &certior(&root, &["preset", "pack", "preset"], &[]));
    assert!(
        packed.contains("acme_tickets.wasm") && packed.contains("digest sha256:"),
        "{packed}"
    );

    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let author = user(&api, &admin, "policy_author").await;
    let pushed = certior(
        &root,
        &["preset", "push", "preset", "--server", &server.base_url],
        &[("CERTIOR_API_KEY", &author)],
    );
    let pushed = succeeded("preset push", &pushed);
    assert!(pushed.contains("uploaded preset acme_tickets version 1"), "{pushed}");
    let operator = api.operator("ops@example.com").await;
    let view = run(&api, &operator, note_task("acme_tickets", "see TICKET-20417")).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["error"], "Plan step 0 (file_write) denied: acme_tickets_match");
    let records = steps(&api, &operator, view["id"].as_str().unwrap()).await;
    assert_eq!(records[0]["violations"][0]["code"], "acme_tickets_match");
    let view = run(&api, &operator, note_task("acme_tickets", "see the ticket")).await;
    assert_eq!(view["status"], "completed", "{view}");

    // A key without the role is refused by the server, and the CLI says why.
    let refused = certior(
        &root,
        &[
            "preset",
            "push",
            "preset",
            "--server",
            &server.base_url,
            "--api-key",
            &operator,
        ],
        &[],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Requires one of: ['admin', 'policy_author']"));
}
