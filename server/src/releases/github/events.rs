//! What a GitHub delivery asks of the server (spec/RELEASES.md §7.3): the event and action
//! select the effect, and the payload's fields are checked before anything is recorded.

use serde_json::{Map, Value};

use crate::releases::{repo_key, sha};

/// A check result carried by `check_run`, `check_suite` or `workflow_run`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub commit_sha: String,
    pub workflow: String,
    pub name: String,
    pub conclusion: String,
    pub url: Option<String>,
    pub completed_at: f64,
}

/// A pull request head to record and judge.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    pub number: i64,
    pub head_sha: String,
    pub full_name: String,
}

/// The dispatch of one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Dispatch {
    Pong,
    Ignored(String),
    Error(String),
    Check { names: Vec<String>, check: CheckResult },
    PullRequest { names: Vec<String>, pr: PullRequest },
}

impl Dispatch {
    /// The stored outcome word.
    pub fn outcome(&self) -> &'static str {
        match self {
            Dispatch::Pong => "pong",
            Dispatch::Ignored(_) => "ignored",
            Dispatch::Error(_) => "error",
            Dispatch::Check { .. } => "recorded",
            Dispatch::PullRequest { .. } => "processed",
        }
    }
}

const MISSING: &str = "Missing commit SHA or repo URL";

/// `2026-01-01T00:00:00Z` as epoch seconds; `None` when missing or unparseable.
pub fn parse_time(value: Option<&Value>) -> Option<f64> {
    let text = value?.as_str()?;
    let dt = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(dt.unix_timestamp_nanos() as f64 / 1e9)
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

/// The repository names to resolve (keys of `full_name`, then `html_url`), or the error reason.
fn repository(payload: &Value) -> Result<(Vec<String>, String), String> {
    let full_name = text(payload, &["repository", "full_name"]).ok_or(MISSING)?;
    let full_key = repo_key::normalise(full_name).map_err(|_| MISSING.to_owned())?;
    let html_url = text(payload, &["repository", "html_url"]).ok_or(MISSING)?;
    let mut names = vec![full_key];
    if let Ok(key) = repo_key::normalise(html_url) {
        if !names.contains(&key) {
            names.push(key);
        }
    }
    Ok((names, full_name.to_owned()))
}

fn head_sha(value: Option<&str>) -> Result<String, String> {
    match value.map(sha::commit) {
        Some(Ok(Some(commit))) => Ok(commit),
        _ => Err(MISSING.to_owned()),
    }
}

fn check(event: &str, payload: &Value, received_at: f64) -> Result<Dispatch, String> {
    let (names, _) = repository(payload)?;
    let invalid = |field: &str| format!("invalid {event} payload: {field}");
    let required = |path: &[&str]| {
        text(payload, path)
            .map(str::to_owned)
            .ok_or_else(|| invalid(&path.join(".")))
    };
    let check = match event {
        "check_run" => {
            let run = &payload["check_run"];
            let workflow = text(run, &["app", "name"])
                .or_else(|| text(run, &["check_suite", "app", "name"]))
                .unwrap_or("github");
            CheckResult {
                commit_sha: head_sha(text(run, &["head_sha"]))?,
                workflow: workflow.to_owned(),
                name: required(&["check_run", "name"])?,
                conclusion: required(&["check_run", "conclusion"])?,
                url: text(run, &["html_url"]).map(str::to_owned),
                completed_at: parse_time(run.get("completed_at")).unwrap_or(received_at),
            }
        }
        "check_suite" => {
            let suite = &payload["check_suite"];
            let app = text(suite, &["app", "name"]).unwrap_or("github").to_owned();
            CheckResult {
                commit_sha: head_sha(text(suite, &["head_sha"]))?,
                workflow: app.clone(),
                name: app,
                conclusion: required(&["check_suite", "conclusion"])?,
                url: None,
                completed_at: parse_time(suite.get("updated_at")).unwrap_or(received_at),
            }
        }
        _ => {
            let run = &payload["workflow_run"];
            let name = required(&["workflow_run", "name"])?;
            CheckResult {
                commit_sha: head_sha(text(run, &["head_sha"]))?,
                workflow: name.clone(),
                name,
                conclusion: required(&["workflow_run", "conclusion"])?,
                url: text(run, &["html_url"]).map(str::to_owned),
                completed_at: parse_time(run.get("updated_at")).unwrap_or(received_at),
            }
        }
    };
    for (field, value) in [("name", &check.name), ("workflow", &check.workflow)] {
        if value.is_empty() || value.chars().count() > 200 {
            return Err(invalid(field));
        }
    }
    Ok(Dispatch::Check { names, check })
}

fn pull_request(payload: &Value) -> Result<Dispatch, String> {
    let head = head_sha(text(payload, &["pull_request", "head", "sha"]))?;
    let (names, full_name) = repository(payload)?;
    let number = payload["pull_request"]["number"]
        .as_i64()
        .filter(|n| *n > 0)
        .ok_or("invalid pull request number")?;
    Ok(Dispatch::PullRequest {
        names,
        pr: PullRequest {
            number,
            head_sha: head,
            full_name,
        },
    })
}

/// What `event` with `payload` asks for.
pub fn dispatch(event: &str, payload: &Map<String, Value>, received_at: f64) -> Dispatch {
    let payload = Value::Object(payload.clone());
    let action = payload["action"].as_str().unwrap_or("");
    let handled = match event {
        "ping" => return Dispatch::Pong,
        "check_run" | "check_suite" | "workflow_run" => action == "completed",
        "pull_request" => matches!(action, "opened" | "synchronize" | "reopened"),
        other => return Dispatch::Ignored(format!("event {other} not handled")),
    };
    if !handled {
        return Dispatch::Ignored(format!("action {action} not handled"));
    }
    let result = if event == "pull_request" {
        pull_request(&payload)
    } else {
        check(event, &payload, received_at)
    };
    result.unwrap_or_else(Dispatch::Error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(event: &str, payload: Value) -> Dispatch {
        dispatch(event, payload.as_object().unwrap(), 100.0)
    }

    fn repo() -> Value {
        json!({"full_name": "Acme/Widget", "html_url": "https://github.com/Acme/Widget"})
    }

    #[test]
    fn check_runs_name_their_app_and_parse_times() {
        let sha = "a".repeat(40);
        let got = run(
            "check_run",
            json!({"action": "completed", "repository": repo(), "check_run": {
            "name": "build", "conclusion": "success", "head_sha": sha, "html_url": "https://x/1",
            "completed_at": "2026-01-01T00:00:10Z", "check_suite": {"app": {"name": "GitHub Actions"}}}}),
        );
        let Dispatch::Check { names, check } = got else {
            panic!("{got:?}")
        };
        assert_eq!(names, ["acme/widget"]);
        assert_eq!(check.workflow, "GitHub Actions");
        assert_eq!(check.completed_at, 1_767_225_610.0);
    }

    #[test]
    fn unhandled_and_invalid_deliveries_say_why() {
        assert_eq!(
            run("push", json!({})),
            Dispatch::Ignored("event push not handled".into())
        );
        assert_eq!(
            run("pull_request", json!({"action": "closed"})),
            Dispatch::Ignored("action closed not handled".into())
        );
        assert_eq!(
            run(
                "pull_request",
                json!({"action": "opened", "repository": repo(), "pull_request": {"number": 1, "head": {"sha": "abc"}}})
            ),
            Dispatch::Error(MISSING.into())
        );
        let sha = "b".repeat(40);
        assert_eq!(
            run(
                "pull_request",
                json!({"action": "opened", "repository": repo(), "pull_request": {"number": 0, "head": {"sha": sha}}})
            ),
            Dispatch::Error("invalid pull request number".into())
        );
        assert_eq!(
            run(
                "workflow_run",
                json!({"action": "completed", "repository": repo(), "workflow_run": {"head_sha": sha, "conclusion": "success"}})
            ),
            Dispatch::Error("invalid workflow_run payload: workflow_run.name".into())
        );
        assert_eq!(run("ping", json!({"zen": "x"})), Dispatch::Pong);
    }
}
