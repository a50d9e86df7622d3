//! Two replicas of `certior serve` on one PostgreSQL schema (issue 10): an execution submitted to
//! one streams on the other's WebSocket; the executions of a replica killed with SIGKILL mid-run
//! are finished by the other once their leases expire, each exactly once; rate-limit windows
//! are shared; a preset uploaded or deprecated through one applies on the other; promotions of
//! one snapshot through both take turns.
//!
//! Always on PostgreSQL (`CERTIOR_TEST_POSTGRES`, else the local default), never skipped: the
//! SQLite store is not shared by replicas.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use certior_e2e::{now, test_postgres, Client, Server, SlowPeer};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The job lease of the kill test: short, so a dead replica's jobs are claimable again within
/// seconds, yet long enough that a live replica starved of CPU (CI runs the tests two at a
/// time on two cores) still renews before it lapses; at 2 s a run once used up its attempts.
const LEASE_SECONDS: u64 = 5;

fn postgres() -> String {
    test_postgres().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Replica A on a fresh schema, with `workers` workers and a job lease of `lease` seconds;
/// start B with [`Server::start_replica`].
async fn replica_a(peer: &SlowPeer, workers: &str, lease: &str) -> Server {
    let env = [
        ("CERTIOR_HTTP_ALLOWED_HOSTS", peer.address.as_str()),
        ("CERTIOR_WORKERS", workers),
        ("CERTIOR_JOB_LEASE_SECONDS", lease),
    ];
    let server = Server::start_postgres(&postgres(), &env).await;
    assert!(server.is_postgres());
    server
}

/// A task whose plan fetches `/slow/<tag>-1` … `/slow/<tag>-<steps>` of `peer` in order (the
/// number is the 1-based `step` of the events).
fn peer_task(peer: &SlowPeer, tag: &str, steps: usize) -> Value {
    let plan: Vec<Value> = (1..=steps)
        .map(|n| json!({"tool": "http_get", "args": {"url": format!("http://{}/slow/{tag}-{n}", peer.address)}}))
        .collect();
    json!({"task": format!("Fetch {tag}"), "permissions": ["network:http:read"], "plan": plan})
}

async fn get_ok(api: &Client, key: &str, path: &str) -> Value {
    let reply = api.get(path, Some(key)).await;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
    reply.body
}

async fn steps(api: &Client, key: &str, id: &str) -> Vec<Value> {
    let body = get_ok(api, key, &format!("/api/v1/executions/{id}/steps")).await;
    body["steps"].as_array().unwrap().clone()
}

async fn events(api: &Client, key: &str, id: &str) -> Value {
    get_ok(api, key, &format!("/api/v1/executions/{id}/events")).await
}

fn is_terminal(kind: &str) -> bool {
    matches!(kind, "execution.completed" | "execution.failed" | "execution.cancelled")
}

/// Polls until `ready` holds for the execution view, for at most 30 s.
async fn wait_view(api: &Client, key: &str, id: &str, what: &str, ready: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = get_ok(api, key, &format!("/api/v1/executions/{id}")).await;
        if ready(&view) {
            return;
        }
        assert!(Instant::now() < deadline, "{id}: not {what} after 30 s: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn open(server: &Server, id: &str, key: &str) -> Ws {
    let url = format!("{}/ws/executions/{id}", server.base_url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    connect_async(request).await.expect("upgrade accepted").0
}

/// Every frame until the server closes, with their arrival times, and the close code.
async fn until_close(ws: &mut Ws) -> (Vec<(Value, Instant)>, u16) {
    let mut frames = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the server sent something within 30 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                frames.push((serde_json::from_str(&text).expect("frames are JSON"), Instant::now()))
            }
            Some(Ok(Message::Close(frame))) => return (frames, frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("unexpected from the server: {other:?}"),
        }
    }
}

/// Asserts the frames are the stored chain, each event once, in order, ending with exactly one
/// terminal event.
fn assert_whole_chain(frames: &[Value], chain: &Value, id: &str) {
    let chain = chain["events"].as_array().unwrap();
    assert_eq!(frames.len(), chain.len(), "one frame per stored event: {frames:#?}");
    for (n, (frame, event)) in frames.iter().zip(chain).enumerate() {
        assert_eq!(frame["seq"], n + 1, "every seq once, in order: {frame}");
        assert_eq!(frame["execution_id"], id);
        for field in ["type", "data", "timestamp"] {
            assert_eq!(frame[field], event[field], "{field} of {frame}");
        }
    }
    let terminal = frames
        .iter()
        .filter(|f| is_terminal(f["type"].as_str().unwrap()))
        .count();
    assert_eq!(terminal, 1, "{frames:#?}");
    assert!(is_terminal(frames.last().unwrap()["type"].as_str().unwrap()));
}

#[tokio::test]
async fn a_task_submitted_to_one_replica_streams_live_on_the_other() {
    let peer = SlowPeer::start(Duration::from_millis(1000)).await;
    // The default lease: nothing here should move between replicas.
    let a = replica_a(&peer, "2", "60").await;
    let api_a = a.client();
    let key = api_a.operator("ops@example.com").await;
    let id = api_a.submit(&key, peer_task(&peer, "stream", 4)).await;
    // Claimed by A (it renews the lease) before B exists: B only ever reads this run.
    wait_view(&api_a, &key, &id, "claimed", |v| v["status"] != "queued").await;
    let b = a.start_replica().await;

    let opened = Instant::now();
    let mut ws = open(&b, &id, &key).await;
    let (received, code) = until_close(&mut ws).await;
    assert_eq!(code, 1000, "closed normally after the terminal event");
    let frames: Vec<Value> = received.iter().map(|(frame, _)| frame.clone()).collect();
    assert_whole_chain(&frames, &events(&b.client(), &key, &id).await, &id);
    assert_eq!(frames.last().unwrap()["type"], "execution.completed");
    assert_eq!(frames[0]["type"], "execution.created");

    // Live, not a replay at the end: a step A finished after B's socket opened reached it before
    // A's last step was answered.
    let last_answer = peer.answered_at("stream-4");
    let live = received.iter().find(|(frame, _)| {
        frame["type"] == "execution.tool_completed"
            && frame["data"]["step"]
                .as_u64()
                .is_some_and(|step| step < 4 && peer.answered_at(&format!("stream-{step}")) > opened)
    });
    let (frame, arrived) = live.expect("a step finished while B's socket was open");
    assert!(
        *arrived < last_answer,
        "{frame} reached B only after the run's last step"
    );
    for n in 1..=4 {
        assert_eq!(peer.hits(&format!("stream-{n}")), 1, "step {n} ran once");
    }
}

/// Steps of each run in the kill test: enough that no run finishes before every run has
/// recorded a step, even when a loaded machine runs them unevenly (with 6, a CI run on two busy
/// cores once finished a run 2.6 s before the slowest had recorded its first step).
const STEPS: usize = 12;

#[tokio::test]
async fn a_killed_replicas_executions_are_finished_by_the_other_exactly_once() {
    let peer = SlowPeer::start(Duration::from_millis(500)).await;
    let mut a = replica_a(&peer, "4", &LEASE_SECONDS.to_string()).await;
    let api_a = a.client();
    let key = api_a.operator("ops@example.com").await;
    let tags: Vec<String> = (0..4).map(|n| format!("run{n}")).collect();
    let mut ids = Vec::new();
    for tag in &tags {
        ids.push(api_a.submit(&key, peer_task(&peer, tag, STEPS)).await);
    }
    // A's four workers hold all four runs before B starts, so every run is A's.
    for id in &ids {
        wait_view(&api_a, &key, id, "claimed", |v| v["status"] != "queued").await;
    }
    let b = a.start_replica().await;
    let api_b = b.client();
    let mut sockets = Vec::new();
    for id in &ids {
        sockets.push(open(&b, id, &key).await);
    }

    // Kill -9 A once every run has a recorded step.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut recorded_before: HashMap<String, Vec<Value>> = HashMap::new();
    loop {
        for id in &ids {
            recorded_before.insert(id.clone(), steps(&api_a, &key, id).await);
        }
        if recorded_before.values().all(|records| !records.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "A recorded no step in some run within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.kill().await;
    let killed_at = now();
    // How often each step A had recorded was run, as of the kill.
    let hits_at_kill: HashMap<String, usize> = ids
        .iter()
        .zip(&tags)
        .flat_map(|(id, tag)| {
            recorded_before[id]
                .iter()
                .map(move |record| format!("{tag}-{}", record["step_index"].as_u64().unwrap() + 1))
        })
        .map(|name| (name.clone(), peer.hits(&name)))
        .collect();

    let mut resumed_steps = 0;
    for (id, tag) in ids.iter().zip(&tags) {
        let view = api_b.wait_terminal(id, &key).await.body;
        assert_eq!(view["status"], "completed", "{view}");
        // Unfinished at the kill, and B could only claim the run once A's lease (renewed every
        // third of it) ran out.
        let completed_at = view["completed_at"].as_f64().unwrap();
        assert!(
            completed_at > killed_at + LEASE_SECONDS as f64 / 2.0,
            "{id} completed {:.2} s after the kill, within the lease",
            completed_at - killed_at
        );

        let records = steps(&api_b, &key, id).await;
        let indexes: Vec<u64> = records.iter().map(|r| r["step_index"].as_u64().unwrap()).collect();
        let expected: Vec<u64> = (0..STEPS as u64).collect();
        assert_eq!(indexes, expected, "every step recorded exactly once: {records:#?}");
        for record in &records {
            let step = record["step_index"].as_u64().unwrap();
            let hits = peer.hits(&format!("{tag}-{}", step + 1));
            match record["attempt"].as_u64().unwrap() {
                1 => assert_eq!(hits, 1, "a recorded step never runs twice ({tag} step {step})"),
                // Re-run after its worker was lost: each attempt ran at most once.
                attempt => {
                    assert!(
                        (1..=attempt as usize).contains(&hits),
                        "{tag} step {step}: {hits} runs, {record}"
                    );
                    resumed_steps += 1;
                }
            }
        }
        // What A had recorded is kept as it was, and B did not run it again.
        for before in &recorded_before[id] {
            let step = before["step_index"].as_u64().unwrap() as usize;
            assert_eq!(&records[step], before, "{id}: a step recorded by A changed");
            let name = format!("{tag}-{}", step + 1);
            assert_eq!(
                peer.hits(&name),
                hits_at_kill[&name],
                "{name}, recorded by A, ran again"
            );
        }

        let chain = events(&api_b, &key, id).await;
        assert_eq!(chain["chain"]["verified"], true, "{chain}");
        let chain_events = chain["events"].as_array().unwrap();
        let types: Vec<&str> = chain_events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types.iter().filter(|t| is_terminal(t)).count(), 1, "{types:?}");
        assert_eq!(types.last(), Some(&"execution.completed"));
        for step in 1..=STEPS {
            let completed = chain_events
                .iter()
                .filter(|e| e["type"] == "execution.tool_completed" && e["data"]["step"] == step)
                .count();
            assert_eq!(completed, 1, "{id}: step {step} completed once: {types:?}");
        }
    }
    // With A's four workers mid-step at the kill, some step was in flight and ran again on B.
    assert!(resumed_steps >= 1, "expected at least one in-flight step to be re-run");

    // B's sockets, opened before the kill, saw each run through to its one terminal event.
    for (socket, id) in sockets.iter_mut().zip(&ids) {
        let (received, code) = until_close(socket).await;
        assert_eq!(code, 1000);
        let frames: Vec<Value> = received.into_iter().map(|(frame, _)| frame).collect();
        assert_whole_chain(&frames, &events(&api_b, &key, id).await, id);
    }
}

#[tokio::test]
async fn rate_limit_windows_are_shared_by_the_replicas() {
    let a = Server::start_postgres(&postgres(), &[]).await;
    let b = a.start_replica().await;
    let (on_a, on_b) = (a.client(), b.client());
    on_a.register(&json!({"email": "dave@example.com", "password": "password-1"}), None)
        .await;
    let attempt = json!({"email": "dave@example.com", "password": "not-the-password"});
    // Ten failures, alternating replicas: the eleventh attempt is refused by either.
    for n in 0..10 {
        let api = if n % 2 == 0 { &on_a } else { &on_b };
        assert_eq!(api.post("/api/v1/auth/login", &attempt, None).await.status, 401);
    }
    for api in [&on_a, &on_b] {
        let limited = api.post("/api/v1/auth/login", &attempt, None).await;
        assert_eq!(
            (limited.status, limited.detail()),
            (429, "Too many login attempts. Try again later.")
        );
    }
}

/// A preset with a Cedar policy and no plugin: the smallest valid upload.
async fn upload_preset(api: &Client, key: &str, preset: &str) {
    let manifest = format!(
        "schema_version = 1\nkey = \"{preset}\"\nname = \"Team\"\nretention_days = 30\n\
         [permissions]\ndefault = [\"filesystem:read\"]\n"
    );
    let policy = "@id(\"team.no_viewers\")\nforbid (principal, action == Action::\"invoke\", resource) \
                  when { principal.role == \"viewer\" };\n";
    let mut form = reqwest::multipart::Form::new();
    for (name, text) in [("preset.toml", manifest.as_str()), ("policy.cedar", policy)] {
        form = form.part(name, reqwest::multipart::Part::text(text.to_owned()).file_name(name));
    }
    let request = api
        .request(reqwest::Method::POST, "/api/v1/compliance/presets")
        .multipart(form)
        .bearer_auth(key);
    let reply = Client::send(request).await;
    assert_eq!(reply.status, 201, "upload: {}", reply.text);
}

/// Submits a one-step plan task under `preset`; returns the status code.
async fn submit_under(api: &Client, key: &str, preset: &str) -> u16 {
    let task = json!({"task": "List the workspace", "compliance_policy": preset,
                      "permissions": ["filesystem:read"],
                      "plan": [{"tool": "file_list", "args": {"path": "."}}]});
    api.post("/api/v1/tasks", &task, Some(key)).await.status
}

/// Polls `check` for at most 10 s until it holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replicas A and B on a fresh schema, their clients, and an administrator's key.
async fn replicas_with_admin() -> (Server, Server, Client, Client, String) {
    let env = [
        ("CERTIOR_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("CERTIOR_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap-secret"),
    ];
    let a = Server::start_postgres(&postgres(), &env).await;
    let b = a.start_replica().await;
    let (on_a, on_b) = (a.client(), b.client());
    let login = json!({"email": "root@example.com", "password": "bootstrap-secret"});
    let admin = on_a.post("/api/v1/auth/login", &login, None).await.body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    (a, b, on_a, on_b, admin)
}

#[tokio::test]
async fn a_preset_uploaded_or_deprecated_through_one_replica_applies_on_the_other() {
    let (_a, _b, on_a, on_b, admin) = replicas_with_admin().await;
    // B has loaded its catalogue before the upload: it learns of it from the store's notice.
    assert_eq!(submit_under(&on_b, &admin, "team_rules").await, 400);
    upload_preset(&on_a, &admin, "team_rules").await;
    eventually("B serves the uploaded preset", async || {
        on_b.get("/api/v1/compliance/presets/team_rules", None).await.status == 200
    })
    .await;
    assert_eq!(submit_under(&on_b, &admin, "team_rules").await, 201);

    let deprecated = on_a.delete("/api/v1/compliance/presets/team_rules", Some(&admin)).await;
    assert_eq!(deprecated.status, 200, "{}", deprecated.text);
    eventually("B refuses the deprecated preset", async || {
        submit_under(&on_b, &admin, "team_rules").await == 400
    })
    .await;
}

#[tokio::test]
async fn concurrent_promotions_through_two_replicas_take_turns() {
    let (_a, _b, on_a, on_b, admin) = replicas_with_admin().await;
    let (repo, commit, digest) = ("acme/widget", "b".repeat(40), "d".repeat(64));
    let evidence = json!({"repo_root": repo, "commit_sha": commit,
        "check_runs": [{"workflow": "CI", "name": "build", "conclusion": "success", "completed_at": now()}],
        "artifacts": [{"name": "widget.tgz", "digest": format!("sha256:{digest}")}]});
    let recorded = on_a.post("/api/v1/releases/evidence", &evidence, Some(&admin)).await;
    assert_eq!(recorded.status, 200, "{}", recorded.text);
    let attest = json!({"repo_root": repo, "commit_sha": commit, "reason": "QA", "bound_artifact_digest": digest});
    let revoke = json!({"repo_root": repo, "commit_sha": commit, "status": "revoked", "reason": "CVE"});
    // Each round: one attestation, then two revocations of it at once, one through each
    // replica. The checks and inserts take turns, so exactly one finds something to revoke.
    for round in 0..8 {
        let attested = on_a.post("/api/v1/releases/promote", &attest, Some(&admin)).await;
        assert_eq!(attested.status, 200, "round {round}: {}", attested.text);
        let (first, second) = tokio::join!(
            on_a.post("/api/v1/releases/promote", &revoke, Some(&admin)),
            on_b.post("/api/v1/releases/promote", &revoke, Some(&admin)),
        );
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "round {round}: {} / {}", first.text, second.text);
    }
    let promotions = on_b
        .get(
            &format!("/api/v1/releases/promotions?repo_root={repo}&limit=100"),
            Some(&admin),
        )
        .await;
    assert_eq!(promotions.body["promotions"].as_array().unwrap().len(), 16);
}
