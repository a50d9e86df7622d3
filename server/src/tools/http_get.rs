//! `http_get` (spec §7.6): one GET to an allow-listed host, 10 s in all, at most 3 redirects
//! (each re-checked against the allow-list), the body cut at 1 MiB.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use reqwest::redirect::{Attempt, Policy};
use reqwest::{Client, Url};
use serde_json::json;

use super::arguments::MAX_FILE_BYTES;
use super::hosts::{host_of, HostAllowList};
use super::ToolOutput;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;
/// Longest body kept: 1 MiB, like the file tools.
const MAX_BODY_BYTES: usize = MAX_FILE_BYTES;

/// The tool's own client. Environment proxies are ignored: the allow-list decides where the
/// request goes, and a proxy would make the connection's real peer something else.
pub fn client(allowed: Arc<HostAllowList>) -> reqwest::Result<Client> {
    Client::builder()
        .timeout(TIMEOUT)
        .redirect(Policy::custom(move |attempt| follow_if_allowed(&allowed, attempt)))
        .no_proxy()
        .user_agent(concat!("Certior-http_get/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn follow_if_allowed(allowed: &HostAllowList, attempt: Attempt<'_>) -> reqwest::redirect::Action {
    // `previous` starts with the original URL, so it holds one more entry than redirects taken.
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
    }
    if !allowed.allows(attempt.url()) {
        let host = host_of(attempt.url());
        return attempt.error(format!(
            "the redirect to {host} is not allowed by CERTIOR_HTTP_ALLOWED_HOSTS"
        ));
    }
    attempt.follow()
}

/// Sends the GET; the URL was allow-listed at prepare. `host` is `host[:port]` for metadata.
pub async fn fetch(client: &Client, url: &Url, host: &str) -> ToolOutput {
    let mut response = match client.get(url.clone()).send().await {
        Ok(response) => response,
        Err(err) => return ToolOutput::error(format!("Error: GET {host} failed: {}", chain(&err))),
    };
    let status = response.status().as_u16();
    if !response.status().is_success() {
        let mut output = ToolOutput::error(format!("Error: HTTP {status}"));
        output.metadata = Some(json!({"host": host, "status_code": status, "bytes": 0, "truncated": false}));
        return output;
    }
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY_BYTES - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(err) => {
                return ToolOutput::error(format!("Error: reading the answer of {host} failed: {}", chain(&err)))
            }
        }
    }
    let metadata = json!({"host": host, "status_code": status, "bytes": body.len(), "truncated": truncated});
    ToolOutput::success(String::from_utf8_lossy(&body).into_owned(), metadata)
}

/// An error with its causes (`reqwest` keeps the useful part, e.g. a refused redirect, inside).
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use axum::extract::Path;
    use axum::response::Redirect;
    use axum::routing::get;
    use axum::Router;

    use super::*;

    /// A stand-in web server on 127.0.0.1; returns its `host:port`.
    async fn serve() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let other = format!("http://localhost:{}/ok", address.port());
        let app = Router::new()
            .route("/ok", get(|| async { "hello" }))
            .route(
                "/missing",
                get(|| async { (axum::http::StatusCode::NOT_FOUND, "gone") }),
            )
            .route("/big", get(|| async { "b".repeat(MAX_BODY_BYTES + 10) }))
            .route(
                "/hops/{n}",
                get(|Path(n): Path<u32>| async move {
                    match n {
                        0 => Redirect::temporary("/ok"),
                        n => Redirect::temporary(&format!("/hops/{}", n - 1)),
                    }
                }),
            )
            .route("/elsewhere", get(move || async move { Redirect::temporary(&other) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        address.to_string()
    }

    async fn get_path(allow: &str, host: &str, path: &str) -> ToolOutput {
        let client = client(Arc::new(HostAllowList::parse(allow).unwrap())).unwrap();
        fetch(&client, &Url::parse(&format!("http://{host}{path}")).unwrap(), host).await
    }

    #[tokio::test]
    async fn body_status_and_truncation() {
        let host = serve().await;
        let ok = get_path(&host, &host, "/ok").await;
        assert!(!ok.is_error);
        assert_eq!(ok.text, "hello");
        assert_eq!(
            ok.metadata,
            Some(json!({"host": host, "status_code": 200, "bytes": 5, "truncated": false}))
        );

        let missing = get_path(&host, &host, "/missing").await;
        assert_eq!((missing.is_error, missing.text.as_str()), (true, "Error: HTTP 404"));
        assert_eq!(missing.metadata.unwrap()["status_code"], 404);

        let big = get_path(&host, &host, "/big").await;
        assert!(!big.is_error);
        assert_eq!(big.text.len(), MAX_BODY_BYTES);
        assert_eq!(big.metadata.unwrap()["truncated"], true);
    }

    #[tokio::test]
    async fn redirects_are_limited_and_rechecked() {
        let host = serve().await;
        // Three redirects: /hops/2 -> /hops/1 -> /hops/0 -> /ok.
        let three = get_path(&host, &host, "/hops/2").await;
        assert_eq!((three.is_error, three.text.as_str()), (false, "hello"));

        let four = get_path(&host, &host, "/hops/3").await;
        assert!(four.is_error);
        assert!(four.text.contains("more than 3 redirects"), "{}", four.text);

        // Same server under another name: localhost is not on the list.
        let elsewhere = get_path(&host, &host, "/elsewhere").await;
        assert!(elsewhere.is_error);
        let port = host.rsplit_once(':').unwrap().1;
        assert!(
            elsewhere.text.contains(&format!(
                "the redirect to localhost:{port} is not allowed by CERTIOR_HTTP_ALLOWED_HOSTS"
            )),
            "{}",
            elsewhere.text
        );
        let listed = format!("{host},localhost:{port}");
        assert_eq!(get_path(&listed, &host, "/elsewhere").await.text, "hello");
    }

    #[tokio::test]
    async fn connection_failures_are_tool_errors() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        drop(listener);
        let failed = get_path(&host, &host, "/ok").await;
        assert!(failed.is_error);
        assert!(
            failed.text.starts_with(&format!("Error: GET {host} failed")),
            "{}",
            failed.text
        );
    }
}
