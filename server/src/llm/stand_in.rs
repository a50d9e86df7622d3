//! A local stand-in for a model provider in tests: it records every request (path, headers,
//! JSON body) and answers with the next scripted reply, so a test can check both what was sent
//! and what `complete` made of the answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One scripted answer.
pub struct Reply {
    status: u16,
    body: Value,
    retry_after: Option<&'static str>,
    delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }

    pub fn with_retry_after(mut self, seconds: &'static str) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Answers only after `delay`, to exceed a client's time limit.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the stand-in received it.
#[derive(Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

pub struct StandIn {
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl StandIn {
    /// Serves `replies` in order on a free local port; a request beyond the script gets a 418.
    pub async fn start(replies: Vec<Reply>) -> StandIn {
        let script = Arc::new(Mutex::new(VecDeque::from(replies)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let script = script.clone();
            let recorder = recorder.clone();
            async move {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                recorder.lock().unwrap().push(Received {
                    path: uri.path().to_owned(),
                    headers,
                    body,
                });
                let next = script.lock().unwrap().pop_front();
                answer(next).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        StandIn {
            base_url: format!("http://{address}"),
            received,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn answer(reply: Option<Reply>) -> Response {
    let Some(reply) = reply else {
        return (StatusCode::IM_A_TEAPOT, "the test script has no further reply").into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), axum::Json(reply.body)).into_response();
    if let Some(seconds) = reply.retry_after {
        response.headers_mut().insert("retry-after", seconds.parse().unwrap());
    }
    response
}
