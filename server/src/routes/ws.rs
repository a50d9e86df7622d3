//! `GET /ws/executions/{id}`: the execution event stream (spec §4.11, §9.7).
//!
//! A socket learns that its chain grew from the store's event feed and then re-reads the chain,
//! sending what lies past the last `seq` it handled: a replay and the live events are one code
//! path, so a `seq` is never sent twice or skipped. Events written by another replica sharing the
//! database are not announced on this process's feed; a re-read every [`POLL_EVERY`] delivers
//! them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use crate::auth::{presented_key, ApiKey};
use crate::error::ApiError;
use crate::routes::executions::readable_execution;
use crate::routes::workflows::readable_workflow;
use crate::state::AppState;
use crate::store::{notice_concerns, StoreError, StoredEvent, User};

/// Concurrent sockets per client address (spec §1.11).
const MAX_SOCKETS_PER_IP: usize = 50;
/// Largest inbound message, and so frame, in bytes (spec §1.11).
const MAX_INBOUND_BYTES: usize = 4 * 1024;
/// How often a socket re-reads its chain without a notice, for events of other replicas.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long a closing socket waits for the client's answering close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// The close code after an invalid API key (spec §4.11).
const INVALID_KEY_CLOSE: u16 = 4401;
const INVALID_KEY: &str = "Invalid API key.";
const TOO_MANY_SOCKETS: &str = "Too many WebSocket connections from this address.";

/// Open sockets per client address, shared by every upgrade of this process.
#[derive(Clone, Default)]
pub struct SocketCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl SocketCounts {
    /// A slot for one more socket from `ip`, or `None` at the limit.
    fn acquire(&self, ip: IpAddr) -> Option<SocketSlot> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_default();
        if *count >= MAX_SOCKETS_PER_IP {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One counted socket; the count drops with it, however the socket ends (or if the upgrade
/// never completes).
struct SocketSlot {
    counts: SocketCounts,
    ip: IpAddr,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Stream an execution's events.
///
/// The upgrade is accepted for any id and any `Origin`. Optional key, first match wins:
/// `Authorization: Bearer`, `X-API-Key`, `?api_key=`, or a first text frame `{"api_key": "…"}`;
/// an invalid key gets `{"type": "error", "detail": "Invalid API key."}` and close code 4401.
/// A caller who may read the execution (owner, `admin`, `auditor`) gets every event of its chain
/// in `seq` order, replay then live: `{execution_id, status, data, timestamp, type, seq}`.
/// Anyone else gets the current status on connect and then each transition:
/// `{execution_id, status, data: {}, timestamp}`. The text `ping` is answered with
/// `{"type": "pong"}`. After a terminal status the server closes with 1000; an inbound message
/// over 4 KiB closes with 1009; an unknown id stays open and silent. At most 50 concurrent
/// sockets per client address.
#[utoipa::path(get, path = "/ws/executions/{id}", tag = "executions",
    security((), ("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Execution id"),
        ("api_key" = Option<String>, Query, description = "API key, when no header carries one")),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 429, description = "Too many WebSocket connections from this address.")))]
pub async fn stream_execution(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::status(
            rejection.status(),
            format!("Not a WebSocket upgrade: {}.", rejection.body_text()),
        )
    })?;
    let slot = state
        .websockets
        .acquire(client.ip().to_canonical())
        .ok_or_else(|| ApiError::status(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_SOCKETS))?;
    let key = presented_key(&headers)
        .map(str::to_owned)
        .or_else(|| query_key(query.as_deref()));
    Ok(upgrade
        .max_message_size(MAX_INBOUND_BYTES)
        .max_frame_size(MAX_INBOUND_BYTES)
        .on_upgrade(move |socket| async move {
            Session::new(socket, state, id, key.is_some()).run(key).await;
            drop(slot);
        }))
}

/// The first non-empty `api_key` of a query string.
fn query_key(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).unwrap_or_default();
    pairs
        .into_iter()
        .find(|(name, value)| name == "api_key" && !value.is_empty())
        .map(|(_, value)| value)
}

/// The status an event sets, for the event types that change an execution's status (spec
/// §9.2, §9.6) or a workflow's (§10.1); stage events do not change the workflow's.
fn status_set_by(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "execution.created" | "workflow.created" => "queued",
        "execution.planning" => "planning",
        "execution.executing" => "executing",
        "execution.verifying" => "verifying",
        "workflow.started" => "running",
        "execution.completed" | "workflow.completed" => "completed",
        "execution.failed" | "workflow.failed" => "failed",
        "execution.cancelled" | "workflow.cancelled" => "cancelled",
        _ => return None,
    })
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

/// A full-mode frame (spec §9.7), keys in contract order.
#[derive(Serialize)]
struct EventFrame<'a> {
    execution_id: &'a str,
    /// The suffix of `type` after its last `.`.
    status: &'a str,
    data: &'a Value,
    timestamp: f64,
    #[serde(rename = "type")]
    kind: &'a str,
    seq: i64,
}

/// A status-only frame (spec §9.7): never any event data.
#[derive(Serialize)]
struct StatusFrame<'a> {
    execution_id: &'a str,
    status: &'static str,
    data: Map<String, Value>,
    timestamp: f64,
}

#[derive(Serialize)]
struct TypedFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Every event of the chain (an entitled reader).
    Full,
    /// The current status, then one frame per transition.
    StatusOnly,
}

/// Why a session stops.
enum End {
    /// The client closed or the connection failed: nothing more can be sent.
    Gone,
    /// The server closes with this code and reason.
    Close(u16, &'static str),
}

impl From<StoreError> for End {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "execution stream: reading the store failed");
        End::Close(close_code::ERROR, "Internal server error")
    }
}

impl From<axum::Error> for End {
    /// A failed send: the client is gone.
    fn from(_: axum::Error) -> Self {
        End::Gone
    }
}

struct Session {
    socket: WebSocket,
    state: AppState,
    id: String,
    /// Whether `id` names an execution; an unknown id gets no frames at all.
    exists: bool,
    mode: Mode,
    /// The highest `seq` handled: sent (full), or looked at for a transition (status-only).
    last_seq: i64,
    /// Whether the client may still authenticate with its first text frame: only when the upgrade
    /// request carried no key, and only until that first text frame.
    frame_key_allowed: bool,
}

impl Session {
    fn new(socket: WebSocket, state: AppState, id: String, keyed_upgrade: bool) -> Self {
        Session {
            socket,
            state,
            id,
            exists: false,
            mode: Mode::StatusOnly,
            last_seq: 0,
            frame_key_allowed: !keyed_upgrade,
        }
    }

    async fn run(mut self, key: Option<String>) {
        if let Err(End::Close(code, reason)) = self.serve(key).await {
            self.close(code, reason).await;
        }
    }

    async fn serve(&mut self, key: Option<String>) -> Result<(), End> {
        // Subscribe before the first read, so no event falls between the read and the feed.
        let mut feed = self.state.store.subscribe_events();
        let user = match key {
            Some(key) => Some(self.authenticate(&key).await?),
            None => None,
        };
        self.exists = self.state.store.execution(&self.id).await?.is_some()
            || self.state.store.workflow(&self.id).await?.is_some();
        if let Some(user) = &user {
            self.mode = Self::mode_for(&self.state, &self.id, self.exists, user).await?;
        }
        if self.exists {
            self.catch_up().await?;
        }
        let mut poll = interval_at(Instant::now() + POLL_EVERY, POLL_EVERY);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut feed_open = true;
        loop {
            tokio::select! {
                message = self.socket.recv() => match message {
                    Some(Ok(message)) => self.on_message(message).await?,
                    Some(Err(err)) => return Err(read_failure(err)),
                    None => return Err(End::Gone),
                },
                notice = feed.recv(), if self.exists && feed_open => match notice {
                    Ok(notice) if !notice_concerns(&notice, &self.id) => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => self.catch_up().await?,
                    // The store is gone; polling goes on.
                    Err(RecvError::Closed) => feed_open = false,
                },
                _ = poll.tick(), if self.exists => self.catch_up().await?,
            }
        }
    }

    /// The key's user; an unknown or revoked key, or one of an inactive user, ends the session
    /// with the error frame and 4401.
    async fn authenticate(&mut self, key: &str) -> Result<User, End> {
        let owner = self.state.store.key_owner(&ApiKey::digest(key)).await?;
        match owner.filter(|owner| owner.user.is_active) {
            Some(owner) => Ok(owner.user),
            None => {
                let frame = TypedFrame {
                    kind: "error",
                    detail: Some(INVALID_KEY),
                };
                send(&mut self.socket, &frame).await?;
                Err(End::Close(INVALID_KEY_CLOSE, INVALID_KEY))
            }
        }
    }

    /// Full for a user who may read the execution (spec §2.3), status-only for anyone else.
    /// (Takes no `&self`: the socket inside is not `Sync`, and the future must be `Send`.)
    async fn mode_for(state: &AppState, id: &str, exists: bool, user: &User) -> Result<Mode, End> {
        if !exists {
            return Ok(Mode::StatusOnly);
        }
        let readable = match readable_execution(state, user, id).await {
            Err(ApiError::Plain {
                status: StatusCode::NOT_FOUND,
                ..
            }) => readable_workflow(state, user, id).await.map(|_| ()),
            other => other.map(|_| ()),
        };
        match readable {
            Ok(_) => Ok(Mode::Full),
            Err(ApiError::Plain {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(Mode::StatusOnly),
            Err(err) => {
                tracing::error!(error = ?err, "execution stream: checking the reader failed");
                Err(End::Close(close_code::ERROR, "Internal server error"))
            }
        }
    }

    async fn on_message(&mut self, message: Message) -> Result<(), End> {
        let text = match message {
            Message::Text(text) => text,
            // The protocol layer has already answered the client's close frame.
            Message::Close(_) => return Err(End::Gone),
            _ => return Ok(()),
        };
        let may_carry_key = std::mem::replace(&mut self.frame_key_allowed, false);
        if text.as_str() == "ping" {
            return send(
                &mut self.socket,
                &TypedFrame {
                    kind: "pong",
                    detail: None,
                },
            )
            .await;
        }
        if !may_carry_key {
            return Ok(());
        }
        let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(&text) else {
            return Ok(());
        };
        let Some(key) = frame.get("api_key") else {
            return Ok(());
        };
        // A key that is not a string is no valid key.
        let user = self.authenticate(key.as_str().unwrap_or_default()).await?;
        if self.mode == Mode::StatusOnly
            && Self::mode_for(&self.state, &self.id, self.exists, &user).await? == Mode::Full
        {
            self.mode = Mode::Full;
            self.last_seq = 0;
            self.catch_up().await?;
        }
        Ok(())
    }

    /// Sends what the chain holds past [`Self::last_seq`]. In status-only mode the first call
    /// sends only the current status, later calls every transition. Ends the session after a
    /// terminal event.
    async fn catch_up(&mut self) -> Result<(), End> {
        let events = self.state.store.events(&self.id).await?;
        let fresh: Vec<&StoredEvent> = events.iter().filter(|e| e.seq > self.last_seq).collect();
        let Some(newest) = fresh.last() else { return Ok(()) };
        let first_look = self.last_seq == 0;
        self.last_seq = newest.seq;
        let terminal = fresh.iter().any(|e| status_set_by(&e.kind).is_some_and(is_terminal));
        match self.mode {
            Mode::Full => {
                for event in &fresh {
                    let frame = EventFrame {
                        execution_id: &self.id,
                        status: event.kind.rsplit('.').next().unwrap_or_default(),
                        data: &event.data,
                        timestamp: event.timestamp,
                        kind: &event.kind,
                        seq: event.seq,
                    };
                    send(&mut self.socket, &frame).await?;
                }
            }
            Mode::StatusOnly => {
                let mut transitions: Vec<(&str, f64)> = fresh
                    .iter()
                    .filter_map(|e| status_set_by(&e.kind).map(|status| (status, e.timestamp)))
                    .collect();
                if first_look {
                    transitions.drain(..transitions.len().saturating_sub(1));
                }
                for (status, timestamp) in transitions {
                    let frame = StatusFrame {
                        execution_id: &self.id,
                        status,
                        data: Map::new(),
                        timestamp,
                    };
                    send(&mut self.socket, &frame).await?;
                }
            }
        }
        if terminal {
            return Err(End::Close(close_code::NORMAL, ""));
        }
        Ok(())
    }

    /// Sends the close frame and waits briefly for the client's answer, so the connection ends
    /// with a completed closing handshake rather than a reset.
    async fn close(mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
    }
}

async fn send(socket: &mut WebSocket, frame: &impl Serialize) -> Result<(), End> {
    let text = serde_json::to_string(frame).expect("frames always serialise");
    socket.send(Message::Text(text.into())).await?;
    Ok(())
}

/// How to end after a failed read: 1009 for a message over the limit (spec §1.11), 1007 for text
/// that is not UTF-8, 1002 for another protocol violation. A failed connection gets no close
/// frame. The cause is the WebSocket library's own error type inside axum's.
fn read_failure(err: axum::Error) -> End {
    let Ok(cause) = err.into_inner().downcast::<tungstenite::Error>() else {
        return End::Gone;
    };
    match *cause {
        tungstenite::Error::Capacity(_) => End::Close(close_code::SIZE, "Message exceeds 4 KiB."),
        tungstenite::Error::Utf8(_) => End::Close(close_code::INVALID, "Text is not valid UTF-8."),
        tungstenite::Error::Protocol(_) => End::Close(close_code::PROTOCOL, "Protocol violation."),
        _ => End::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_key_is_the_first_non_empty_api_key() {
        assert_eq!(query_key(Some("api_key=ck-a%2Bb&api_key=ck-c")), Some("ck-a+b".into()));
        assert_eq!(query_key(Some("api_key=&x=1")), None);
        assert_eq!(query_key(Some("x=1")), None);
        assert_eq!(query_key(None), None);
    }

    #[test]
    fn only_the_seven_lifecycle_events_change_the_status() {
        assert_eq!(status_set_by("execution.created"), Some("queued"));
        assert_eq!(status_set_by("execution.cancelled"), Some("cancelled"));
        assert_eq!(status_set_by("workflow.started"), Some("running"));
        assert_eq!(status_set_by("workflow.stage.completed"), None);
        for kind in [
            "execution.thinking",
            "execution.executing_tool",
            "execution.tool_completed",
            "execution.tool_denied",
            "workflow.stage.completed",
        ] {
            assert_eq!(status_set_by(kind), None, "{kind}");
        }
    }

    #[test]
    fn a_slot_is_returned_when_its_socket_ends() {
        let counts = SocketCounts::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let slots: Vec<SocketSlot> = (0..MAX_SOCKETS_PER_IP).map(|_| counts.acquire(ip).unwrap()).collect();
        assert!(counts.acquire(ip).is_none());
        assert!(
            counts.acquire("192.0.2.8".parse().unwrap()).is_some(),
            "other addresses are not limited"
        );
        drop(slots);
        assert!(counts.0.lock().unwrap().is_empty());
        assert!(counts.acquire(ip).is_some());
    }
}
