//! What the store keeps of tasks: execution tokens, executions, the durable job queue, tool-call
//! records, certificates and the per-subject event chains (spec §9, §11).
//!
//! Every status change is a conditional update from a non-terminal status, so a terminal status
//! is never overwritten, and the event that announces a change is appended in the same
//! transaction as the change itself.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{Page, StoreResult, StoredJson};

/// Execution statuses (spec §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStatus {
    Queued,
    Planning,
    Executing,
    Verifying,
    Completed,
    Failed,
    Cancelled,
}

impl ExecStatus {
    pub const ALL: [ExecStatus; 7] = [
        Self::Queued,
        Self::Planning,
        Self::Executing,
        Self::Verifying,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];
    /// The statuses `DELETE` may cancel.
    pub const LIVE: [ExecStatus; 4] = [Self::Queued, Self::Planning, Self::Executing, Self::Verifying];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Planning => "planning",
            Self::Executing => "executing",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// The root capability token `POST /tasks` creates (spec §11.4).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub user_id: String,
    pub agent_id: String,
    /// A child token reserves its budget from this parent (spec §11.4).
    pub parent_id: Option<String>,
    pub permissions: Vec<String>,
    pub budget_cents: i64,
    pub compliance_policy: String,
    pub metadata: Value,
    pub jws: String,
    pub created_at: f64,
    pub expires_at: Option<f64>,
}

/// What [`ExecutionStore::begin_step`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStart {
    Stopped,
    /// The step may run; a token revoked since the run started makes the call fail its token
    /// check (spec §4.8.3).
    Started {
        token_revoked: bool,
    },
}

/// A step to mark in flight, with its `execution.executing_tool` event.
#[derive(Debug, Clone)]
pub struct StepBegin {
    pub step_index: i64,
    pub attempt: i64,
    pub event: EventDraft,
}

/// What the write that records a step does next, for a run that already knows (a plan).
#[derive(Debug, Clone)]
pub enum StepThen {
    /// Begins the next step, as [`ExecutionStore::begin_step`] would.
    Begin(StepBegin),
    /// Moves the execution to `verifying`, with this event.
    Verify(EventDraft),
}

/// What [`ExecutionStore::record_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRecorded {
    /// The lease passed to another worker: nothing was written.
    LeaseLost,
    /// The attempt is recorded. `then` is whether the [`StepThen`] asked for was done too: not
    /// when the execution had left `executing` (cancelled). `token_revoked` as in [`StepStart`].
    Recorded { then: bool, token_revoked: bool },
}

#[derive(Debug, Clone)]
pub struct NewExecution {
    pub id: String,
    pub user_id: String,
    pub task: String,
    pub llm_provider: Option<String>,
    pub llm_model: Option<String>,
    pub compliance_policy: String,
    pub verification_profile: Value,
    pub preset_key: String,
    /// The version of `preset_key` the execution is pinned to (spec §5.3).
    pub preset_version: u32,
    pub preset_digest: String,
    pub token_id: String,
    /// What the worker needs to run it: the plan and the webhook URL.
    pub run_spec: Value,
    pub workflow_id: Option<String>,
    pub workflow_stage_id: Option<String>,
    pub created_at: f64,
}

/// An execution row joined with its token's permissions and budget.
#[derive(Debug, Clone)]
pub struct ExecutionRecord {
    pub id: String,
    pub user_id: String,
    pub task: String,
    pub status: ExecStatus,
    pub current_step: i64,
    pub error: String,
    pub created_at: f64,
    pub updated_at: f64,
    pub started_at: Option<f64>,
    pub completed_at: Option<f64>,
    pub cost_cents: i64,
    pub llm_provider: Option<String>,
    pub llm_model: Option<String>,
    pub compliance_policy: String,
    pub proof_properties: Vec<String>,
    pub certificate_ids: Vec<String>,
    pub output: Option<String>,
    pub verification_summary: Option<StoredJson>,
    pub verification_profile: StoredJson,
    pub preset_key: String,
    /// The version of `preset_key` the execution is pinned to (spec §5.3).
    pub preset_version: u32,
    pub preset_digest: String,
    pub token_id: String,
    pub workflow_id: Option<String>,
    pub workflow_stage_id: Option<String>,
    pub run_spec: StoredJson,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Final-output violations and holds (spec §9.4).
    pub final_violations: Option<StoredJson>,
    pub final_scan: Option<StoredJson>,
    /// A reviewer stage's approved artifact (spec §9.4 step 2).
    pub artifact: Option<StoredJson>,
    pub release_binding: Option<StoredJson>,
    pub permissions: Vec<String>,
    pub budget_cents: i64,
    pub spent_cents: i64,
    pub token_expires_at: Option<f64>,
    pub token_revoked: bool,
}

/// An event before the store places it in its chain.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub kind: String,
    pub data: Value,
    pub timestamp: f64,
}

/// An event as chained (spec §9.6, §11.5).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub kind: String,
    pub data: Value,
    pub timestamp: f64,
    pub prev_hash: String,
    pub hash: String,
}

/// A job a worker has just leased.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub execution_id: String,
    /// Claims so far, this one included.
    pub attempts: i64,
    pub api_key: Option<String>,
    /// The step a lost worker had started without recording it, and that attempt's number.
    pub inflight: Option<(i64, i64)>,
    /// The saved transcript of an LLM run.
    pub conversation: Option<Value>,
}

/// The durable effects of one recorded tool-call attempt.
#[derive(Debug, Clone)]
pub struct StepWrite {
    pub step_index: i64,
    /// The `ToolCallRecord` (spec §9.5).
    pub record: Value,
    /// The full effective output, when the tool ran and its output was not withheld.
    pub output: Option<String>,
    /// `(id, signed document as JSON text)` when a certificate was issued.
    pub certificate: Option<(String, String)>,
    /// The execution's totals after this step.
    pub cost_cents: i64,
    pub current_step: i64,
    pub certificate_ids: Vec<String>,
    pub proof_properties: Vec<String>,
    /// The token's spent cents after this step.
    pub spent_cents: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// A recorded step as a resumed run reloads it.
#[derive(Debug, Clone)]
pub struct StoredStep {
    pub record: Value,
    pub output: Option<String>,
}

/// A status change and what is written with it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub to: ExecStatus,
    pub event: EventDraft,
    /// A status passed through on the way to `to`, in the same commit, with its event (appended
    /// before `event`): a run that needs nothing between `planning` and `executing` takes both
    /// steps in one write.
    pub through: Option<(ExecStatus, EventDraft)>,
    /// A step to begin in the same commit (its event appended after `event`), fenced on the
    /// lease of the worker named first: a plan's first step.
    pub begin: Option<(String, StepBegin)>,
    pub error: Option<String>,
    pub output: Option<String>,
    pub verification_summary: Option<Value>,
    pub final_violations: Option<Value>,
    /// `{action, violation_count, pii_count, secrets_count}` of the final-output content phase.
    pub final_scan: Option<Value>,
    pub artifact: Option<Value>,
    pub release_binding: Option<Value>,
    /// The profile with what admission bound into it (spec §10.4).
    pub verification_profile: Option<Value>,
    /// The final-output certificate, with the totals that include it.
    pub certificate: Option<(String, String)>,
    pub certificate_ids: Option<Vec<String>>,
    pub proof_properties: Option<Vec<String>>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
}

impl Transition {
    pub fn to(to: ExecStatus, event: EventDraft) -> Self {
        Self {
            to,
            event,
            through: None,
            begin: None,
            error: None,
            output: None,
            verification_summary: None,
            final_violations: None,
            final_scan: None,
            artifact: None,
            release_binding: None,
            verification_profile: None,
            certificate: None,
            certificate_ids: None,
            proof_properties: None,
            input_tokens: None,
            output_tokens: None,
        }
    }

    /// When the change starts the run (enters `planning`, directly or on the way).
    pub fn started_at(&self) -> Option<f64> {
        match &self.through {
            Some((ExecStatus::Planning, event)) => Some(event.timestamp),
            _ => (self.to == ExecStatus::Planning).then_some(self.event.timestamp),
        }
    }
}

/// One outbound webhook delivery after its last attempt (spec §9.8).
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `wh_<12 hex>`, also sent as `X-Certior-Delivery`.
    pub id: String,
    pub execution_id: String,
    pub url: String,
    pub event: String,
    pub attempts: i64,
    pub status_code: Option<i64>,
    pub delivered: bool,
    /// Why the last attempt failed, or why none was made.
    pub error: String,
    pub created_at: f64,
}

/// Announced on the event feed when a job was queued, so idle workers of every replica claim it
/// at once instead of at their next poll.
pub const JOB_QUEUED: &str = "jobs";

/// Announced on the event feed when notices may have been missed (the database connection that
/// carries them was lost): every listener re-reads.
pub const FEED_RESET: &str = "*";

/// Whether a notice from the event feed concerns `subject`: its own notice, or a reset.
pub fn notice_concerns(notice: &str, subject: &str) -> bool {
    notice == subject || notice == FEED_RESET
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// Token, execution, its `execution.created` event and its job, in one transaction.
    async fn create_task(
        &self,
        token: &NewToken,
        execution: &NewExecution,
        created: &EventDraft,
        api_key: Option<&str>,
    ) -> StoreResult<()>;
    async fn execution(&self, id: &str) -> StoreResult<Option<ExecutionRecord>>;
    /// Newest first; `owner` `None` lists everyone's.
    async fn list_executions(
        &self,
        owner: Option<&str>,
        status: Option<ExecStatus>,
        page: Page,
    ) -> StoreResult<Vec<ExecutionRecord>>;
    /// Cancels a live execution (withdrawing its job if no worker holds it, erasing the per-run
    /// key either way) and appends the event. Returns the status after the call, or `None` for an
    /// unknown id.
    async fn cancel_execution(&self, id: &str, cancelled: &EventDraft) -> StoreResult<Option<ExecStatus>>;
    /// In `step_index` order.
    async fn steps(&self, execution_id: &str) -> StoreResult<Vec<StoredStep>>;
    async fn events(&self, subject_id: &str) -> StoreResult<Vec<StoredEvent>>;
    /// The signed certificates issued for an execution, in issue order.
    async fn certificates(&self, execution_id: &str) -> StoreResult<Vec<Value>>;
    /// Announces, after each commit that appended events, the subject id of that chain, so a
    /// stream re-reads [`Self::events`] only when its chain grew. On PostgreSQL every replica's
    /// commits are announced; on SQLite this process's. Notices can still be missed (`Lagged`,
    /// or [`FEED_RESET`] after a lost connection), so a listener also re-reads now and then.
    fn subscribe_events(&self) -> broadcast::Receiver<Arc<str>>;

    /// Leases the oldest job that is unleased or whose lease expired before `now`.
    async fn claim_job(&self, worker: &str, now: f64, lease_until: f64) -> StoreResult<Option<ClaimedJob>>;
    /// Extends a lease this worker still holds; `false` when it was lost or the job is gone.
    async fn renew_lease(&self, execution_id: &str, worker: &str, lease_until: f64) -> StoreResult<bool>;
    /// Removes a job (and the per-run key with it).
    async fn finish_job(&self, execution_id: &str) -> StoreResult<()>;
    /// Marks a step in flight and appends its `execution.executing_tool` event, if the execution
    /// is still `executing` and `worker` still holds the job's lease; `Stopped` means nothing may
    /// run (cancelled, or the lease passed to another worker after a stall).
    async fn begin_step(&self, execution_id: &str, worker: &str, step: &StepBegin) -> StoreResult<StepStart>;
    /// Records a finished attempt, its certificate and the execution's totals, clears the
    /// in-flight mark and appends the event (an in-flight call is recorded even if the execution
    /// was cancelled meanwhile). With `then`, the same write goes on to what the run does next,
    /// if the execution is still `executing`: one transaction instead of two. Fenced like
    /// [`Self::begin_step`]: a worker that lost the lease records nothing; the new holder re-runs
    /// the step as its next attempt.
    async fn record_step(
        &self,
        execution_id: &str,
        worker: &str,
        step: &StepWrite,
        event: &EventDraft,
        then: Option<&StepThen>,
    ) -> StoreResult<StepRecorded>;
    /// Saves an LLM run's transcript and token counts, so a reclaimed job resumes where it stopped.
    async fn save_conversation(
        &self,
        execution_id: &str,
        conversation: &Value,
        input_tokens: i64,
        output_tokens: i64,
    ) -> StoreResult<()>;
    /// Applies the change if the status is one of `from`; `false` when it is not (e.g. cancelled),
    /// or when the change begins a step and its worker no longer holds the lease. A terminal
    /// change also removes the job.
    async fn transition(&self, execution_id: &str, from: &[ExecStatus], change: &Transition) -> StoreResult<bool>;
    async fn record_delivery(&self, delivery: &NewDelivery) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, timestamp: f64) -> EventDraft {
        EventDraft {
            kind: kind.into(),
            data: Value::Null,
            timestamp,
        }
    }

    #[test]
    fn a_run_starts_when_it_enters_planning_even_on_the_way_to_executing() {
        let planning = Transition::to(ExecStatus::Planning, event("execution.planning", 1.0));
        assert_eq!(planning.started_at(), Some(1.0));

        let mut both = Transition::to(ExecStatus::Executing, event("execution.executing", 2.0));
        assert_eq!(both.started_at(), None, "planning → executing does not restart the run");
        both.through = Some((ExecStatus::Planning, event("execution.planning", 1.5)));
        assert_eq!(
            both.started_at(),
            Some(1.5),
            "the planning event's time, not the executing one's"
        );
    }
}
