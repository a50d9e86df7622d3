//! [`WorkflowStore`] on either backend. Every change is one transaction that locks the workflow and checks
//! the workflow is still live before it writes, so concurrent advances and a cancellation never
//! interleave.

use async_trait::async_trait;
use sqlx::Row;

use super::executions::{
    append_event, insert_execution, optional_json_column, preset_version, ready, strings_column, to_json,
};
use super::identity::classify;
use super::{bind, listing, Db, DbConn, DbRow, SqlStore, FOR_UPDATE, SNAPSHOT};
use crate::store::statements::Arg;
use crate::store::workflows::*;
use crate::store::{decode_error, EventDraft, Page, StoreResult, JOB_QUEUED};

const WORKFLOW_COLUMNS: &str = "id, user_id, user_role, name, description, status, created_at, updated_at, \
     completed_at, current_stage_index, error";

fn stage_from_row(row: &DbRow) -> StoreResult<StageRecord> {
    let status: String = row.try_get("status")?;
    Ok(StageRecord {
        index: row.try_get("stage_index")?,
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        task: row.try_get("task")?,
        compliance_policy: row.try_get("compliance_policy")?,
        preset: match (
            row.try_get("preset_key")?,
            row.try_get::<Option<i64>, _>("preset_version")?,
        ) {
            (Some(key), Some(version)) => Some((key, preset_version(version)?)),
            _ => None,
        },
        budget_cents: row.try_get("budget_cents")?,
        stage_role: row.try_get("stage_role")?,
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        api_key: row.try_get("api_key")?,
        permissions: strings_column(row, "permissions")?,
        upstream_stage_ids: strings_column(row, "upstream_stage_ids")?,
        plan: optional_json_column(row, "plan")?,
        status: StageStatus::parse(&status).ok_or_else(|| decode_error("stage status", &status))?,
        execution_id: row.try_get("execution_id")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        error: row.try_get("error")?,
        output_summary: row.try_get("output_summary")?,
    })
}

fn workflow_from_row(row: &DbRow, stages: Vec<StageRecord>) -> StoreResult<WorkflowRecord> {
    let status: String = row.try_get("status")?;
    Ok(WorkflowRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        user_role: row.try_get("user_role")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        status: WorkflowStatus::parse(&status).ok_or_else(|| decode_error("workflow status", &status))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
        current_stage_index: row.try_get("current_stage_index")?,
        error: row.try_get("error")?,
        stages,
    })
}

async fn stages_of(conn: &mut DbConn, workflow_id: &str) -> StoreResult<Vec<StageRecord>> {
    let rows = sqlx::query("SELECT * FROM workflow_stages WHERE workflow_id = $1 ORDER BY stage_index")
        .bind(workflow_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(classify)?;
    rows.iter().map(stage_from_row).collect()
}

/// A read transaction in one snapshot, for a workflow and its stages together: a stage start
/// or finish committing between two separate reads would show a running stage in a workflow
/// still `queued`.
async fn snapshot(conn: &mut DbConn) -> StoreResult<sqlx::Transaction<'_, Db>> {
    let mut tx = sqlx::Connection::begin(conn).await.map_err(classify)?;
    if let Some(set) = SNAPSHOT {
        sqlx::query(set).execute(&mut *tx).await.map_err(classify)?;
    }
    Ok(tx)
}

/// The workflow's status inside `tx`, if it exists; the row stays locked until the commit.
async fn status_of(tx: &mut DbConn, workflow_id: &str) -> StoreResult<Option<WorkflowStatus>> {
    let status: Option<String> = sqlx::query_scalar(&format!("SELECT status FROM workflows WHERE id = $1{FOR_UPDATE}"))
        .bind(workflow_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    status
        .map(|s| WorkflowStatus::parse(&s).ok_or_else(|| decode_error("workflow status", &s)))
        .transpose()
}

/// Makes the workflow terminal and erases its stage keys.
async fn close_workflow(
    tx: &mut DbConn,
    workflow_id: &str,
    status: WorkflowStatus,
    error: &str,
    now: f64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE workflows SET status = $1, error = CASE WHEN error = '' THEN $2 ELSE error END, \
         completed_at = COALESCE(completed_at, $3), updated_at = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(now)
    .bind(workflow_id)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    sqlx::query("UPDATE workflow_stages SET api_key = NULL WHERE workflow_id = $1")
        .bind(workflow_id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(())
}

fn event_at(kind: &str, data: serde_json::Value, timestamp: f64) -> EventDraft {
    EventDraft {
        kind: kind.into(),
        data,
        timestamp,
    }
}

#[async_trait]
impl WorkflowStore for SqlStore {
    async fn create_workflow(
        &self,
        workflow: &NewWorkflow,
        stages: &[NewStage],
        created: &EventDraft,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO workflows (id, user_id, user_role, name, description, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7)",
        )
        .bind(&workflow.id)
        .bind(&workflow.user_id)
        .bind(&workflow.user_role)
        .bind(&workflow.name)
        .bind(&workflow.description)
        .bind(workflow.created_at)
        .bind(workflow.created_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        for (index, stage) in stages.iter().enumerate() {
            sqlx::query(
                "INSERT INTO workflow_stages (workflow_id, stage_index, id, name, task, compliance_policy, \
                 preset_key, preset_version, budget_cents, stage_role, provider, model, api_key, permissions, \
                 upstream_stage_ids, plan, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'pending')",
            )
            .bind(&workflow.id)
            .bind(index as i64)
            .bind(&stage.id)
            .bind(&stage.name)
            .bind(&stage.task)
            .bind(&stage.compliance_policy)
            .bind(&stage.preset_key)
            .bind(i64::from(stage.preset_version))
            .bind(stage.budget_cents)
            .bind(&stage.stage_role)
            .bind(&stage.provider)
            .bind(&stage.model)
            .bind(&stage.api_key)
            .bind(to_json(&stage.permissions))
            .bind(to_json(&stage.upstream_stage_ids))
            .bind(stage.plan.as_ref().map(to_json))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        append_event(&mut *tx, &workflow.id, created).await?;
        self.commit_announcing(tx, &[&workflow.id]).await
    }

    async fn workflow(&self, id: &str) -> StoreResult<Option<WorkflowRecord>> {
        let mut conn = self.read_conn().await?;
        let mut tx = snapshot(&mut conn).await?;
        let row = sqlx::query(&format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        let Some(row) = row else { return Ok(None) };
        let stages = stages_of(&mut tx, id).await?;
        tx.commit().await.map_err(classify)?;
        workflow_from_row(&row, stages).map(Some)
    }

    async fn list_workflows(
        &self,
        owner: Option<&str>,
        status: Option<WorkflowStatus>,
        page: Page,
    ) -> StoreResult<Vec<WorkflowRecord>> {
        let mut conn = self.read_conn().await?;
        let mut tx = snapshot(&mut conn).await?;
        let filters = [
            ("user_id", owner.map(Arg::Text)),
            ("status", status.map(|status| Arg::Text(status.as_str()))),
        ];
        let (rest, args) = listing(&filters, "created_at DESC, id DESC", page);
        let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM workflows{rest}");
        let rows = bind(&sql, &args).fetch_all(&mut *tx).await.map_err(classify)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let stages = stages_of(&mut tx, &id).await?;
            out.push(workflow_from_row(row, stages)?);
        }
        tx.commit().await.map_err(classify)?;
        Ok(out)
    }

    async fn live_workflow_ids(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM workflows WHERE status IN ('queued', 'running') ORDER BY created_at")
            .fetch_all(&mut *self.read_conn().await?)
            .await
            .map_err(classify)
    }

    async fn start_stage(
        &self,
        workflow_id: &str,
        index: i64,
        execution: &StageExecution<'_>,
        started: Option<&EventDraft>,
        stage_started: &EventDraft,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        if !status_of(&mut tx, workflow_id).await?.is_some_and(|s| !s.is_terminal()) {
            return Ok(false);
        }
        let now = stage_started.timestamp;
        let stage_status: Option<String> =
            sqlx::query_scalar("SELECT status FROM workflow_stages WHERE workflow_id = $1 AND stage_index = $2")
                .bind(workflow_id)
                .bind(index)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
        if stage_status.as_deref() != Some(StageStatus::Pending.as_str()) {
            return Ok(false);
        }
        // The execution first: the stage row references it.
        insert_execution(
            &mut *tx,
            execution.token,
            execution.execution,
            &ready(&execution.execution.id, execution.created)?,
            execution.api_key,
        )
        .await?;
        sqlx::query(
            "UPDATE workflow_stages SET status = 'running', started_at = $1, error = '', execution_id = $2 \
             WHERE workflow_id = $3 AND stage_index = $4",
        )
        .bind(now)
        .bind(&execution.execution.id)
        .bind(workflow_id)
        .bind(index)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        if let Some(started) = started {
            sqlx::query("UPDATE workflows SET error = '' WHERE id = $1")
                .bind(workflow_id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            append_event(&mut *tx, workflow_id, started).await?;
        }
        sqlx::query("UPDATE workflows SET status = 'running', current_stage_index = $1, updated_at = $2 WHERE id = $3")
            .bind(index)
            .bind(now)
            .bind(workflow_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        append_event(&mut *tx, workflow_id, stage_started).await?;
        self.commit_announcing(tx, &[workflow_id, &execution.execution.id, JOB_QUEUED])
            .await?;
        Ok(true)
    }

    async fn finish_stage(&self, workflow_id: &str, index: i64, outcome: &StageOutcome, now: f64) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        if !status_of(&mut tx, workflow_id).await?.is_some_and(|s| !s.is_terminal()) {
            return Ok(false);
        }
        let stages = stages_of(&mut tx, workflow_id).await?;
        let Some(stage) = stages
            .iter()
            .find(|s| s.index == index && matches!(s.status, StageStatus::Pending | StageStatus::Running))
        else {
            return Ok(false);
        };
        let (status, error, summary) = match outcome {
            StageOutcome::Completed { output_summary } => ("completed", "", output_summary.as_deref()),
            StageOutcome::Failed { error } => ("failed", error.as_str(), None),
        };
        sqlx::query(
            "UPDATE workflow_stages SET status = $1, error = $2, output_summary = $3, completed_at = $4 \
             WHERE workflow_id = $5 AND stage_index = $6",
        )
        .bind(status)
        .bind(error)
        .bind(summary)
        .bind(now)
        .bind(workflow_id)
        .bind(index)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        sqlx::query("UPDATE workflows SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(workflow_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        let execution_id = stage.execution_id.clone();
        match outcome {
            StageOutcome::Completed { .. } => {
                let data =
                    serde_json::json!({"stage_id": stage.id, "stage_name": stage.name, "execution_id": execution_id});
                append_event(&mut *tx, workflow_id, &event_at("workflow.stage.completed", data, now)).await?;
                if index + 1 == stages.len() as i64 {
                    close_workflow(&mut tx, workflow_id, WorkflowStatus::Completed, "", now).await?;
                    let data = serde_json::json!({"stage_count": stages.len()});
                    append_event(&mut *tx, workflow_id, &event_at("workflow.completed", data, now)).await?;
                }
            }
            StageOutcome::Failed { error } => {
                sqlx::query(
                    "UPDATE workflow_stages SET status = 'blocked', error = $1, completed_at = $2 \
                     WHERE workflow_id = $3 AND stage_index > $4 AND status = 'pending'",
                )
                .bind(format!("Blocked by failure of stage '{}'", stage.name))
                .bind(now)
                .bind(workflow_id)
                .bind(index)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                close_workflow(&mut tx, workflow_id, WorkflowStatus::Failed, error, now).await?;
                let data = serde_json::json!({"stage_id": stage.id, "stage_name": stage.name, "error": error});
                append_event(&mut *tx, workflow_id, &event_at("workflow.failed", data, now)).await?;
            }
        }
        self.commit_announcing(tx, &[workflow_id]).await?;
        Ok(true)
    }

    async fn cancel_workflow(&self, workflow_id: &str, events: &[EventDraft]) -> StoreResult<Option<WorkflowStatus>> {
        let mut tx = self.write_tx().await?;
        let Some(status) = status_of(&mut tx, workflow_id).await? else {
            return Ok(None);
        };
        if status.is_terminal() {
            return Ok(Some(status));
        }
        let now = events.first().map_or(0.0, |e| e.timestamp);
        const CANCELLED: &str = "Workflow cancelled by operator";
        sqlx::query(
            "UPDATE workflow_stages SET status = 'cancelled', completed_at = $1, \
             error = CASE WHEN error = '' THEN $2 ELSE error END \
             WHERE workflow_id = $3 AND status IN ('pending', 'running')",
        )
        .bind(now)
        .bind(CANCELLED)
        .bind(workflow_id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        close_workflow(&mut tx, workflow_id, WorkflowStatus::Cancelled, CANCELLED, now).await?;
        for event in events {
            append_event(&mut *tx, workflow_id, event).await?;
        }
        self.commit_announcing(tx, &[workflow_id]).await?;
        Ok(Some(WorkflowStatus::Cancelled))
    }
}
