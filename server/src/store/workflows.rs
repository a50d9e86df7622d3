//! What the store keeps of workflows (spec §4.5, §10): the workflow, its ordered stages, and the
//! workflow's own event chain. Stage executions are ordinary executions (see `executions`).

use async_trait::async_trait;
use serde_json::Value;

use super::{EventDraft, NewExecution, NewToken, Page, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl WorkflowStatus {
    pub const ALL: [WorkflowStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Blocked,
    Cancelled,
}

impl StageStatus {
    pub const ALL: [StageStatus; 6] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Blocked,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Blocked => "blocked",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct NewWorkflow {
    pub id: String,
    pub user_id: String,
    /// The owner's role at creation; stages resolve permissions with it.
    pub user_role: String,
    pub name: String,
    pub description: String,
    pub created_at: f64,
}

#[derive(Debug, Clone)]
pub struct NewStage {
    pub id: String,
    pub name: String,
    pub task: String,
    pub compliance_policy: String,
    /// The canonical key and version the stage is pinned to at creation (spec §5.3).
    pub preset_key: String,
    pub preset_version: u32,
    pub budget_cents: i64,
    pub stage_role: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Kept until the workflow is terminal; never returned.
    pub api_key: Option<String>,
    pub permissions: Vec<String>,
    pub upstream_stage_ids: Vec<String>,
    pub plan: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct StageRecord {
    pub index: i64,
    pub id: String,
    pub name: String,
    pub task: String,
    pub compliance_policy: String,
    /// The pinned `(key, version)`; `None` for stages stored before presets were pinned.
    pub preset: Option<(String, u32)>,
    pub budget_cents: i64,
    pub stage_role: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub permissions: Vec<String>,
    pub upstream_stage_ids: Vec<String>,
    pub plan: Option<Value>,
    pub status: StageStatus,
    pub execution_id: Option<String>,
    pub started_at: Option<f64>,
    pub completed_at: Option<f64>,
    pub error: String,
    pub output_summary: Option<String>,
}

#[derive(Debug, Clone)]
pub struct WorkflowRecord {
    pub id: String,
    pub user_id: String,
    pub user_role: String,
    pub name: String,
    pub description: String,
    pub status: WorkflowStatus,
    pub created_at: f64,
    pub updated_at: f64,
    pub completed_at: Option<f64>,
    pub current_stage_index: i64,
    pub error: String,
    /// In stage order.
    pub stages: Vec<StageRecord>,
}

/// How a running stage ended.
#[derive(Debug, Clone)]
pub enum StageOutcome {
    Completed { output_summary: Option<String> },
    Failed { error: String },
}

/// The rows of a stage's execution, as `submission::mint` makes them.
pub struct StageExecution<'a> {
    pub token: &'a NewToken,
    pub execution: &'a NewExecution,
    pub created: &'a EventDraft,
    pub api_key: Option<&'a str>,
}

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// The workflow, its stages (all `pending`) and `workflow.created`, in one transaction.
    async fn create_workflow(
        &self,
        workflow: &NewWorkflow,
        stages: &[NewStage],
        created: &EventDraft,
    ) -> StoreResult<()>;
    async fn workflow(&self, id: &str) -> StoreResult<Option<WorkflowRecord>>;
    /// Newest first; `owner` `None` lists everyone's.
    async fn list_workflows(
        &self,
        owner: Option<&str>,
        status: Option<WorkflowStatus>,
        page: Page,
    ) -> StoreResult<Vec<WorkflowRecord>>;
    /// Ids of workflows that are `queued` or `running`.
    async fn live_workflow_ids(&self) -> StoreResult<Vec<String>>;
    /// Starts pending stage `index` of a live workflow: the workflow `running` (with
    /// `workflow.started` when given), the stage `running` with its execution, which is created
    /// and queued, and `workflow.stage.started`. `false` when the stage was not pending or the
    /// workflow is terminal.
    async fn start_stage(
        &self,
        workflow_id: &str,
        index: i64,
        execution: &StageExecution<'_>,
        started: Option<&EventDraft>,
        stage_started: &EventDraft,
    ) -> StoreResult<bool>;
    /// Ends stage `index` (pending or running) of a live workflow. Completed: the stage and its
    /// summary, `workflow.stage.completed`, and after the last stage the workflow `completed`.
    /// Failed: the stage, later pending stages `blocked`, the workflow `failed`,
    /// `workflow.failed`. Terminal workflows lose their stage keys. `false` when nothing changed.
    async fn finish_stage(&self, workflow_id: &str, index: i64, outcome: &StageOutcome, now: f64) -> StoreResult<bool>;
    /// Cancels a live workflow and its pending and running stages (spec §10.5) and appends
    /// `events`. Returns the status after the call, `None` for an unknown id.
    async fn cancel_workflow(&self, workflow_id: &str, events: &[EventDraft]) -> StoreResult<Option<WorkflowStatus>>;
}
