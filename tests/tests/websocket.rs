//! `GET /ws/executions/{id}` end to end (spec §4.11, §9.7, §1.11): full and status-only streams,
//! the four ways to present a key, ping, the inbound size limit and the per-address socket cap.

use std::time::{Duration, Instant};

use certior_e2e::{server_with_admin, Client, Server, SlowPeer};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An id no execution has.
const UNKNOWN_ID: &str = "00000000-0000-4000-8000-000000000000";

/// A task whose plan fetches `/slow/step-1` … `/slow/step-<steps>` of `peer` in order.
fn peer_task(peer: &SlowPeer, text: &str, steps: usize) -> Value {
    let plan: Vec<Value> = (1..=steps)
        .map(|n| json!({"tool": "http_get", "args": {"url": format!("http://{}/slow/step-{n}", peer.address)}}))
        .collect();
    json!({"task": text, "permissions": ["network:http:read"], "plan": plan})
}

async fn slow_server(delay: Duration) -> (SlowPeer, Server) {
    let peer = SlowPeer::start(delay).await;
    let server = Server::start_with(&[("CERTIOR_HTTP_ALLOWED_HOSTS", &peer.address)]).await;
    (peer, server)
}

/// A plan that finishes at once.
fn quick_task() -> Value {
    json!({"task": "List files", "plan": [{"tool": "file_list"}]})
}

/// The stored chain, as `GET /events` returns it.
async fn stored_events(api: &Client, key: &str, id: &str) -> Vec<Value> {
    let reply = api.get(&format!("/api/v1/executions/{id}/events"), Some(key)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["events"].as_array().unwrap().clone()
}

/// How a socket presents its key at the upgrade.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    Bearer(&'a str),
    XApiKey(&'a str),
    Query(&'a str),
}

async fn try_open(server: &Server, id: &str, auth: Auth<'_>) -> Result<Ws, tungstenite::Error> {
    let mut url = format!("{}/ws/executions/{id}", server.base_url.replacen("http://", "ws://", 1));
    if let Auth::Query(key) = auth {
        url.push_str(&format!("?api_key={key}"));
    }
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    // Certior Studio connects from its own origin (spec §15 item 6).
    headers.insert("origin", "https://studio.example".parse().unwrap());
    match auth {
        Auth::Bearer(key) => {
            headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
        }
        Auth::XApiKey(key) => {
            headers.insert("x-api-key", key.parse().unwrap());
        }
        Auth::Anonymous | Auth::Query(_) => {}
    }
    connect_async(request).await.map(|(ws, _)| ws)
}

async fn open(server: &Server, id: &str, auth: Auth<'_>) -> Ws {
    try_open(server, id, auth).await.expect("upgrade accepted")
}

/// What the server sent next: a JSON text frame, or its close code.
#[derive(Debug, PartialEq)]
enum Incoming {
    Frame(Value),
    Closed(u16),
}

async fn next(ws: &mut Ws) -> Incoming {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the server sent something within 30 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Incoming::Frame(serde_json::from_str(&text).expect("frames are JSON"))
            }
            Some(Ok(Message::Close(frame))) => {
                return Incoming::Closed(frame.map(|f| u16::from(f.code)).unwrap_or(1005))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("unexpected from the server: {other:?}"),
        }
    }
}

/// Every frame until the server closes, with their arrival times, and the close code.
async fn until_close(ws: &mut Ws) -> (Vec<(Value, Instant)>, u16) {
    let mut frames = Vec::new();
    loop {
        match next(ws).await {
            Incoming::Frame(frame) => frames.push((frame, Instant::now())),
            Incoming::Closed(code) => return (frames, code),
        }
    }
}

async fn frames_until_close(ws: &mut Ws) -> (Vec<Value>, u16) {
    let (frames, code) = until_close(ws).await;
    (frames.into_iter().map(|(frame, _)| frame).collect(), code)
}

async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("frame sent");
}

fn keys(frame: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = frame.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// Asserts that full-mode `frames` are exactly the stored chain, as §9.7 shapes them.
fn assert_full_stream(frames: &[Value], chain: &[Value], id: &str) {
    assert!(!chain.is_empty());
    assert_eq!(frames.len(), chain.len(), "one frame per stored event: {frames:#?}");
    for (n, (frame, event)) in frames.iter().zip(chain).enumerate() {
        assert_eq!(
            keys(frame),
            ["data", "execution_id", "seq", "status", "timestamp", "type"],
            "{frame}"
        );
        assert_eq!(frame["seq"], n + 1, "every seq once, in order: {frame}");
        assert_eq!(frame["execution_id"], id);
        for field in ["seq", "type", "data", "timestamp"] {
            assert_eq!(frame[field], event[field], "{field} of {frame}");
        }
        let kind = frame["type"].as_str().unwrap();
        assert_eq!(frame["status"], kind.rsplit('.').next().unwrap(), "{frame}");
    }
}

const LIFECYCLE: [&str; 5] = ["queued", "planning", "executing", "verifying", "completed"];

/// The status an `execution.*` event sets, if it sets one.
fn status_set_by(kind: &str) -> Option<&'static str> {
    match kind {
        "execution.created" => Some("queued"),
        other => LIFECYCLE
            .iter()
            .chain(&["failed", "cancelled"])
            .find(|status| other == format!("execution.{status}"))
            .copied(),
    }
}

#[tokio::test]
async fn the_owner_gets_every_event_once_in_order_as_it_happens_then_a_normal_close() {
    let (peer, server) = slow_server(Duration::from_millis(700)).await;
    let api = server.client();
    let key = api.operator("owner@example.com").await;
    let id = api.submit(&key, peer_task(&peer, "Fetch three pages", 3)).await;
    let mut ws = open(&server, &id, Auth::Bearer(&key)).await;

    let (received, code) = until_close(&mut ws).await;
    assert_eq!(code, 1000, "closed normally after the terminal event");
    let frames: Vec<Value> = received.iter().map(|(frame, _)| frame.clone()).collect();
    assert_full_stream(&frames, &stored_events(&api, &key, &id).await, &id);
    assert_eq!(frames.last().unwrap()["type"], "execution.completed");
    assert_eq!(frames[0]["type"], "execution.created");
    assert_eq!(frames[0]["data"]["task"], "Fetch three pages");

    // Live, not polled: each step's result reaches the socket well within the 1 s re-read.
    for (frame, arrived) in received.iter().filter(|(f, _)| f["type"] == "execution.tool_completed") {
        let step = frame["data"]["step"].as_u64().unwrap();
        let answered = peer.answered_at(&format!("step-{step}"));
        let latency = arrived.duration_since(answered);
        assert!(
            latency < Duration::from_millis(200),
            "step {step} arrived {latency:?} after the peer answered"
        );
    }
}

#[tokio::test]
async fn a_late_subscriber_gets_the_whole_replay_then_the_close() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("owner@example.com").await;
    let id = api.submit(&key, quick_task()).await;
    api.wait_terminal(&id, &key).await;
    let chain = stored_events(&api, &key, &id).await;

    for auth in [Auth::Query(&key), Auth::XApiKey(&key)] {
        let mut ws = open(&server, &id, auth).await;
        let (frames, code) = frames_until_close(&mut ws).await;
        assert_eq!(code, 1000);
        assert_full_stream(&frames, &chain, &id);
        assert_eq!(frames.last().unwrap()["type"], "execution.completed");
    }
}

#[tokio::test]
async fn an_anonymous_client_gets_the_current_status_then_each_transition_and_nothing_else() {
    let (peer, server) = slow_server(Duration::from_millis(500)).await;
    let api = server.client();
    let key = api.operator("owner@example.com").await;
    let id = api
        .submit(&key, peer_task(&peer, "Summarise the confidential merger memo", 2))
        .await;
    let mut ws = open(&server, &id, Auth::Anonymous).await;

    let (frames, code) = frames_until_close(&mut ws).await;
    assert_eq!(code, 1000);
    let chain = stored_events(&api, &key, &id).await;
    let statuses: Vec<&str> = frames.iter().map(|f| f["status"].as_str().unwrap()).collect();
    let first = LIFECYCLE.iter().position(|s| *s == statuses[0]).unwrap();
    assert!(first <= 2, "connected while the first step ran, got {statuses:?}");
    assert_eq!(
        statuses,
        LIFECYCLE[first..],
        "the current status, then every transition once"
    );
    for frame in &frames {
        assert_eq!(keys(frame), ["data", "execution_id", "status", "timestamp"], "{frame}");
        assert_eq!(frame["execution_id"], id);
        assert_eq!(frame["data"], json!({}));
        let text = frame.to_string();
        for secret in ["merger", "http_get", "payload", "step"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let setter = chain
            .iter()
            .rev()
            .find(|e| status_set_by(e["type"].as_str().unwrap()) == frame["status"].as_str())
            .unwrap();
        assert_eq!(frame["timestamp"], setter["timestamp"], "the transition's own time");
    }

    // A finished execution: its terminal status, then the close.
    let mut late = open(&server, &id, Auth::Anonymous).await;
    let (frames, code) = frames_until_close(&mut late).await;
    assert_eq!(code, 1000);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["status"], "completed");
    assert_eq!(frames[0]["data"], json!({}));
}

#[tokio::test]
async fn another_users_key_gets_status_only_and_an_auditor_gets_everything() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let alice = api.operator("alice@example.com").await;
    let bob = api.operator("bob@example.com").await;
    let auditor = api
        .register(
            &json!({"email": "audit@example.com", "password": "password-1", "role": "auditor"}),
            Some(&admin),
        )
        .await;
    let id = api.submit(&alice, quick_task()).await;
    api.wait_terminal(&id, &alice).await;

    let mut ws = open(&server, &id, Auth::XApiKey(&bob)).await;
    let (frames, code) = frames_until_close(&mut ws).await;
    assert_eq!(code, 1000);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(keys(&frames[0]), ["data", "execution_id", "status", "timestamp"]);
    assert_eq!(
        (&frames[0]["status"], &frames[0]["data"]),
        (&json!("completed"), &json!({}))
    );

    let chain = stored_events(&api, &alice, &id).await;
    for reader in [&auditor, &admin] {
        let mut ws = open(&server, &id, Auth::Bearer(reader)).await;
        let (frames, code) = frames_until_close(&mut ws).await;
        assert_eq!(code, 1000);
        assert_full_stream(&frames, &chain, &id);
    }
}

#[tokio::test]
async fn an_invalid_key_on_any_channel_gets_an_error_frame_and_close_4401() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("owner@example.com").await;
    let id = api.submit(&key, quick_task()).await;
    let logged_out = api
        .post(
            "/api/v1/auth/login",
            &json!({"email": "owner@example.com", "password": "password-1"}),
            None,
        )
        .await
        .body["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.post("/api/v1/auth/logout", &json!({}), Some(&logged_out))
            .await
            .status,
        200
    );
    let bogus = "ck-0000000000000000000000000000000000000000000";
    let error = Incoming::Frame(json!({"type": "error", "detail": "Invalid API key."}));

    for (name, target, auth) in [
        ("bearer", id.as_str(), Auth::Bearer(bogus)),
        ("x-api-key", id.as_str(), Auth::XApiKey(bogus)),
        ("query", id.as_str(), Auth::Query(bogus)),
        ("revoked key", id.as_str(), Auth::Bearer(&logged_out)),
        ("unknown id", UNKNOWN_ID, Auth::Query(bogus)),
    ] {
        let mut ws = open(&server, target, auth).await;
        assert_eq!(next(&mut ws).await, error, "{name}");
        assert_eq!(next(&mut ws).await, Incoming::Closed(4401), "{name}");
    }
    for first_frame in [json!({"api_key": bogus}), json!({"api_key": 42})] {
        let mut ws = open(&server, UNKNOWN_ID, Auth::Anonymous).await;
        send_text(&mut ws, &first_frame.to_string()).await;
        assert_eq!(next(&mut ws).await, error, "{first_frame}");
        assert_eq!(next(&mut ws).await, Incoming::Closed(4401), "{first_frame}");
    }
}

#[tokio::test]
async fn a_first_frame_key_switches_an_entitled_reader_to_full_mode_with_a_replay() {
    let (peer, server) = slow_server(Duration::from_millis(600)).await;
    let api = server.client();
    let alice = api.operator("alice@example.com").await;
    let bob = api.operator("bob@example.com").await;
    let id = api.submit(&alice, peer_task(&peer, "Fetch two pages", 2)).await;
    let mut owner = open(&server, &id, Auth::Anonymous).await;
    let mut stranger = open(&server, &id, Auth::Anonymous).await;
    for (ws, key) in [(&mut owner, &alice), (&mut stranger, &bob)] {
        let Incoming::Frame(first) = next(ws).await else {
            panic!("no status frame")
        };
        assert!(first.get("seq").is_none(), "status-only before the key: {first}");
        send_text(ws, &json!({"api_key": key}).to_string()).await;
    }

    let (frames, code) = frames_until_close(&mut owner).await;
    assert_eq!(code, 1000);
    let switch = frames
        .iter()
        .position(|f| f.get("seq").is_some())
        .expect("full frames after the key");
    assert!(frames[..switch].iter().all(|f| f["data"] == json!({})), "{frames:#?}");
    assert_full_stream(&frames[switch..], &stored_events(&api, &alice, &id).await, &id);

    let (frames, code) = frames_until_close(&mut stranger).await;
    assert_eq!(code, 1000);
    assert!(!frames.is_empty());
    for frame in &frames {
        assert_eq!(keys(frame), ["data", "execution_id", "status", "timestamp"], "{frame}");
    }
    assert_eq!(frames.last().unwrap()["status"], "completed");
}

#[tokio::test]
async fn an_unknown_id_stays_open_and_silent() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("owner@example.com").await;
    for auth in [Auth::Anonymous, Auth::Bearer(&key)] {
        let mut ws = open(&server, UNKNOWN_ID, auth).await;
        let silence = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
        assert!(silence.is_err(), "expected no frame, got {silence:?}");
        send_text(&mut ws, "ping").await;
        assert_eq!(
            next(&mut ws).await,
            Incoming::Frame(json!({"type": "pong"})),
            "still open"
        );
    }
}

#[tokio::test]
async fn ping_gets_pong_other_text_is_ignored_and_a_frame_over_4_kib_closes_with_1009() {
    let server = Server::start().await;
    let mut ws = open(&server, UNKNOWN_ID, Auth::Anonymous).await;
    send_text(&mut ws, "hello").await;
    send_text(&mut ws, r#"{"type": "subscribe"}"#).await;
    send_text(&mut ws, "ping").await;
    assert_eq!(next(&mut ws).await, Incoming::Frame(json!({"type": "pong"})));

    send_text(&mut ws, &"x".repeat(4096)).await;
    send_text(&mut ws, "ping").await;
    assert_eq!(
        next(&mut ws).await,
        Incoming::Frame(json!({"type": "pong"})),
        "exactly 4 KiB is allowed"
    );

    send_text(&mut ws, &"x".repeat(5 * 1024)).await;
    assert_eq!(next(&mut ws).await, Incoming::Closed(1009));
}

#[tokio::test]
async fn the_51st_socket_from_one_address_is_refused_with_429() {
    let server = Server::start().await;
    let mut sockets = Vec::new();
    for _ in 0..50 {
        sockets.push(open(&server, UNKNOWN_ID, Auth::Anonymous).await);
    }
    match try_open(&server, UNKNOWN_ID, Auth::Anonymous).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).expect("a JSON error body");
            assert_eq!(
                body,
                json!({"detail": "Too many WebSocket connections from this address."})
            );
        }
        other => panic!("expected 429, got {:?}", other.map(|_| "an open socket")),
    }

    // A closed socket frees its place.
    let mut closed = sockets.pop().unwrap();
    closed.close(None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match try_open(&server, UNKNOWN_ID, Auth::Anonymous).await {
            Ok(_) => break,
            Err(err) => assert!(Instant::now() < deadline, "no place freed: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
