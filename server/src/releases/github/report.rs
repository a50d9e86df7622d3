//! Judging a pull-request head and reporting the decision back to GitHub (spec/RELEASES.md
//! §7.3–§7.4). The webhook only queues this work: it runs in its own task, never delays the
//! webhook's answer, and a failure only ever costs the report.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use certior::release::DecisionStatus;
use serde_json::{json, Value};

use super::comment::{self, Blocker, MARKER};
use super::retry::{self, Failure};
use crate::clock::now;
use crate::releases::decision;
use crate::state::AppState;
use crate::store::{IngestIssue, PrHead};

/// What the webhook answers for a judged pull request.
#[derive(Debug, Clone)]
pub struct Judged {
    pub status: DecisionStatus,
    pub blockers: Vec<Blocker>,
}

/// Report jobs keyed by `(repo, commit)`: a newer job makes older ones stop before their next
/// request, so only the latest decision is posted.
#[derive(Default)]
pub struct ReportQueue {
    generations: Mutex<HashMap<(String, String), u64>>,
}

impl ReportQueue {
    fn begin(&self, key: &(String, String)) -> u64 {
        let mut map = self
            .generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = map.get(key).copied().unwrap_or(0) + 1;
        map.insert(key.clone(), next);
        next
    }

    fn current(&self, key: &(String, String), generation: u64) -> bool {
        let map = self
            .generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key) == Some(&generation)
    }
}

/// Evaluates `repo@commit` without a digest, sends the result on `answer`, then reports it to
/// every recorded pull request with that head (when a token is configured).
pub fn spawn(
    state: &AppState,
    repo_id: String,
    repo_key: String,
    commit: String,
    answer: Option<tokio::sync::oneshot::Sender<Option<Judged>>>,
) {
    let state = state.clone();
    tokio::spawn(async move {
        let judged = match decision::evaluate(&state, &repo_key, Some(&commit), None, now()).await {
            Ok(evaluation) => Some(Judged {
                status: evaluation.status,
                blockers: evaluation
                    .blocking()
                    .map(|i| Blocker {
                        component: i.owner_subsystem.clone(),
                        reason: i.message.clone(),
                        remediation: i.remediation_steps.join(", "),
                    })
                    .collect(),
            }),
            Err(error) => {
                tracing::error!(%repo_key, %commit, error = format!("{error:#}"), "release decision failed");
                None
            }
        };
        if let Some(answer) = answer {
            let _ = answer.send(judged.clone());
        }
        let Some(token) = state.settings.releases.github_token.clone().filter(|t| !t.is_empty()) else {
            return;
        };
        let heads = match state.store.pr_heads(&repo_id, &commit).await {
            Ok(heads) => heads,
            Err(error) => {
                tracing::error!(%error, "reading pull-request heads failed");
                return;
            }
        };
        if heads.is_empty() {
            return;
        }
        let key = (repo_key.clone(), commit.clone());
        let generation = state.releases.reports.begin(&key);
        let reporter = Reporter {
            state: &state,
            token: &token,
            repo_key: &repo_key,
            commit: &commit,
        };
        let mut attempt = 1;
        loop {
            if !state.releases.reports.current(&key, generation) {
                return;
            }
            match reporter.report(&heads, judged.as_ref()).await {
                Ok(()) => return,
                Err(Failure::Retry { cause, hint }) if attempt < retry::MAX_ATTEMPTS => {
                    tracing::warn!(%repo_key, %commit, attempt, %cause, "reporting to GitHub failed; retrying");
                    tokio::time::sleep(retry::wait(attempt, hint)).await;
                    attempt += 1;
                }
                Err(Failure::Retry { cause, .. } | Failure::Final(cause)) => {
                    tracing::error!(%repo_key, %commit, attempt, %cause, "reporting to GitHub failed");
                    reporter.record_failure(attempt, &cause).await;
                    return;
                }
            }
        }
    });
}

struct Reporter<'a> {
    state: &'a AppState,
    token: &'a str,
    repo_key: &'a str,
    commit: &'a str,
}

impl Reporter<'_> {
    fn api(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.state.settings.releases.github_api_url.trim_end_matches('/')
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, Failure> {
        let mut request = self
            .state
            .http
            .request(method, url)
            .header("Accept", "application/vnd.github+json")
            .header("Authorization", format!("Bearer {}", self.token))
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "certior-server")
            .timeout(Duration::from_secs(10));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|err| Failure::Retry {
            cause: format!("request failed: {err}"),
            hint: None,
        })?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        match retry::classify(
            response.status().as_u16(),
            header("x-ratelimit-remaining"),
            header("retry-after"),
            header("x-ratelimit-reset"),
            now() as u64,
        ) {
            None => Ok(response),
            Some(failure) => Err(failure),
        }
    }

    async fn report(&self, heads: &[PrHead], judged: Option<&Judged>) -> Result<(), Failure> {
        let (state, description) = comment::status(judged.map(|j| (j.status, j.blockers.len())));
        let mut status = json!({"state": state, "context": "certior/release", "description": description});
        if let Some(public) = &self.state.settings.runs.public_url {
            status["target_url"] = json!(format!(
                "{}/api/v1/trust/badge?repo={}&commit={}",
                public.trim_end_matches('/'),
                self.repo_key,
                self.commit
            ));
        }
        let mut targets: Vec<&str> = heads.iter().map(|h| h.full_name.as_str()).collect();
        targets.sort();
        targets.dedup();
        for full_name in targets {
            let url = self.api(&format!("/repos/{full_name}/statuses/{}", self.commit));
            self.send(reqwest::Method::POST, url, Some(&status)).await?;
        }
        if self.state.settings.releases.github_pr_comments {
            if let Some(judged) = judged {
                let body = json!({"body": comment::body(self.repo_key, self.commit, judged.status, &judged.blockers)});
                for head in heads {
                    self.upsert_comment(head, &body).await?;
                }
            }
        }
        Ok(())
    }

    /// Edits the comment holding the marker, or adds one.
    async fn upsert_comment(&self, head: &PrHead, body: &Value) -> Result<(), Failure> {
        let base = format!("/repos/{}/issues", head.full_name);
        for page in 1..=10 {
            let url = self.api(&format!("{base}/{}/comments?per_page=100&page={page}", head.number));
            let response = self.send(reqwest::Method::GET, url, None).await?;
            let comments: Vec<Value> = response.json().await.unwrap_or_default();
            if let Some(id) = comments
                .iter()
                .find(|c| c["body"].as_str().is_some_and(|b| b.contains(MARKER)))
                .and_then(|c| c["id"].as_i64())
            {
                let url = self.api(&format!("{base}/comments/{id}"));
                self.send(reqwest::Method::PATCH, url, Some(body)).await?;
                return Ok(());
            }
            if comments.len() < 100 {
                break;
            }
        }
        let url = self.api(&format!("{base}/{}/comments", head.number));
        self.send(reqwest::Method::POST, url, Some(body)).await?;
        Ok(())
    }

    async fn record_failure(&self, attempts: usize, cause: &str) {
        let snapshot = match self.state.store.find_repo(self.repo_key).await {
            Ok(Some(repo)) => self
                .state
                .store
                .snapshot(&repo.id, Some(self.commit))
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let Some(snapshot) = snapshot else { return };
        let issue = IngestIssue {
            code: "github_report_failed".into(),
            severity: "warning".into(),
            detail: format!("Reporting to GitHub failed after {attempts} attempts: {cause}"),
            recorded_at: now(),
        };
        if let Err(error) = self.state.store.add_ingest_issue(&snapshot.id, &issue).await {
            tracing::error!(%error, "recording github_report_failed failed");
        }
    }
}
