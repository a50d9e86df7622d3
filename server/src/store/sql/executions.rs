//! [`ExecutionStore`] on either backend. Every write transaction on one execution first takes
//! that execution's named [`lock`] (the one its event chain is appended under), so concurrent
//! workers, cancellations and replicas take turns per execution and always meet the row locks
//! after it, in one order: they never interleave and never deadlock.

use std::sync::Arc;

use async_trait::async_trait;
use certior::audit::{chain_hash, ChainEvent, GENESIS_HASH};
use serde_json::Value;
use sqlx::Row;
use tokio::sync::broadcast;

use super::agents::insert_token;
use super::identity::classify;
use super::{lock, DbConn, DbRow, SqlStore, WriteTx, FOR_UPDATE, SKIP_LOCKED};
use crate::store::executions::*;
use crate::store::{Page, StoreError, StoreResult};

const EXECUTION_COLUMNS: &str = "e.id, e.user_id, e.task, e.status, e.current_step, e.error, e.created_at, \
     e.updated_at, e.started_at, e.completed_at, e.cost_cents, e.llm_provider, e.llm_model, e.compliance_policy, \
     e.proof_properties, e.certificate_ids, e.output, e.verification_summary, e.verification_profile, \
     e.preset_key, e.preset_version, e.preset_digest, e.token_id, e.workflow_id, e.workflow_stage_id, e.run_spec, \
     e.input_tokens, e.output_tokens, e.final_violations, e.final_scan, e.artifact, e.release_binding, t.permissions, t.budget_cents, t.spent_cents, \
     t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at";

pub(in crate::store) fn decode_error(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Other(sqlx::Error::Decode(format!("{what}: {err}").into()))
}

pub(in crate::store) fn json_column(row: &DbRow, name: &str) -> StoreResult<Value> {
    let text: String = row.try_get(name)?;
    serde_json::from_str(&text).map_err(|err| decode_error(name, err))
}

pub(in crate::store) fn optional_json_column(row: &DbRow, name: &str) -> StoreResult<Option<Value>> {
    let text: Option<String> = row.try_get(name)?;
    text.map(|t| serde_json::from_str(&t).map_err(|err| decode_error(name, err)))
        .transpose()
}

pub(in crate::store) fn strings_column(row: &DbRow, name: &str) -> StoreResult<Vec<String>> {
    serde_json::from_value(json_column(row, name)?).map_err(|err| decode_error(name, err))
}

/// A preset version: `u32` to the engine, BIGINT in the tables (PostgreSQL has no unsigned types).
pub(in crate::store) fn preset_version(stored: i64) -> StoreResult<u32> {
    u32::try_from(stored).map_err(|err| decode_error("preset version", err))
}

pub(in crate::store) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values always serialise")
}

fn execution_from_row(row: &DbRow) -> StoreResult<ExecutionRecord> {
    let status: String = row.try_get("status")?;
    let revoked_at: Option<f64> = row.try_get("token_revoked_at")?;
    Ok(ExecutionRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        task: row.try_get("task")?,
        status: ExecStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        current_step: row.try_get("current_step")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        cost_cents: row.try_get("cost_cents")?,
        llm_provider: row.try_get("llm_provider")?,
        llm_model: row.try_get("llm_model")?,
        compliance_policy: row.try_get("compliance_policy")?,
        proof_properties: strings_column(row, "proof_properties")?,
        certificate_ids: strings_column(row, "certificate_ids")?,
        output: row.try_get("output")?,
        verification_summary: optional_json_column(row, "verification_summary")?,
        verification_profile: json_column(row, "verification_profile")?,
        preset_key: row.try_get("preset_key")?,
        preset_version: preset_version(row.try_get("preset_version")?)?,
        preset_digest: row.try_get("preset_digest")?,
        token_id: row.try_get("token_id")?,
        workflow_id: row.try_get("workflow_id")?,
        workflow_stage_id: row.try_get("workflow_stage_id")?,
        run_spec: json_column(row, "run_spec")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        final_violations: optional_json_column(row, "final_violations")?,
        final_scan: optional_json_column(row, "final_scan")?,
        artifact: optional_json_column(row, "artifact")?,
        release_binding: optional_json_column(row, "release_binding")?,
        permissions: strings_column(row, "permissions")?,
        budget_cents: row.try_get("budget_cents")?,
        spent_cents: row.try_get("spent_cents")?,
        token_expires_at: row.try_get("token_expires_at")?,
        token_revoked: revoked_at.is_some(),
    })
}

/// Appends `draft` to `subject_id`'s chain inside `tx`, holding the chain's lock until the
/// commit. The transaction is then committed with [`SqlStore::commit_appended`], which announces it.
pub(in crate::store) async fn append_event(
    tx: &mut DbConn,
    subject_id: &str,
    draft: &EventDraft,
) -> StoreResult<StoredEvent> {
    lock(&mut *tx, subject_id).await?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM events WHERE subject_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(subject_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_owned()));
    let seq = prev_seq + 1;
    let chained = ChainEvent {
        seq: seq as u64,
        subject_id: subject_id.to_owned(),
        kind: draft.kind.clone(),
        data: draft.data.clone(),
        timestamp: draft.timestamp,
    };
    let hash = chain_hash(&prev_hash, &chained).map_err(|err| decode_error("event data", err))?;
    sqlx::query(
        "INSERT INTO events (subject_id, seq, type, data, timestamp, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(subject_id)
    .bind(seq)
    .bind(&draft.kind)
    .bind(to_json(&draft.data))
    .bind(draft.timestamp)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    Ok(StoredEvent {
        seq,
        kind: draft.kind.clone(),
        data: draft.data.clone(),
        timestamp: draft.timestamp,
        prev_hash,
        hash,
    })
}

/// Writes a new execution with its token, `execution.created` event and queued job, inside `tx`.
pub(in crate::store) async fn insert_execution(
    tx: &mut DbConn,
    token: &NewToken,
    execution: &NewExecution,
    created: &EventDraft,
    api_key: Option<&str>,
) -> StoreResult<()> {
    insert_token(&mut *tx, token).await?;
    sqlx::query(
        "INSERT INTO executions (id, user_id, task, status, created_at, updated_at, llm_provider, llm_model, \
         compliance_policy, verification_profile, preset_key, preset_version, preset_digest, token_id, run_spec, \
         workflow_id, workflow_stage_id) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&execution.id)
    .bind(&execution.user_id)
    .bind(&execution.task)
    .bind(execution.created_at)
    .bind(execution.created_at)
    .bind(&execution.llm_provider)
    .bind(&execution.llm_model)
    .bind(&execution.compliance_policy)
    .bind(to_json(&execution.verification_profile))
    .bind(&execution.preset_key)
    .bind(i64::from(execution.preset_version))
    .bind(&execution.preset_digest)
    .bind(&execution.token_id)
    .bind(to_json(&execution.run_spec))
    .bind(&execution.workflow_id)
    .bind(&execution.workflow_stage_id)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    append_event(tx, &execution.id, created).await?;
    sqlx::query("INSERT INTO jobs (execution_id, created_at, api_key) VALUES ($1, $2, $3)")
        .bind(&execution.id)
        .bind(execution.created_at)
        .bind(api_key)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(())
}

async fn insert_certificate(
    tx: &mut DbConn,
    execution_id: &str,
    (id, document): &(String, Value),
    issued_at: f64,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO certificates (id, execution_id, document, issued_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(execution_id)
        .bind(to_json(document))
        .bind(issued_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(())
}

/// Whether `worker` holds the job's lease, inside `tx`; the job row stays locked until the commit,
/// so no other worker can claim it meanwhile.
async fn holds_lease(tx: &mut DbConn, execution_id: &str, worker: &str) -> StoreResult<bool> {
    let sql = format!("SELECT lease_owner FROM jobs WHERE execution_id = $1{FOR_UPDATE}");
    let owner: Option<Option<String>> = sqlx::query_scalar(&sql)
        .bind(execution_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(owner.flatten().as_deref() == Some(worker))
}

/// `$first, $first+1, …`: `n` numbered parameters for an `IN (…)` list.
pub(in crate::store) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    /// Commits a transaction that appended to `subject_id`'s chain, then announces the chain.
    pub(super) async fn commit_appended(&self, tx: WriteTx, subject_id: &str) -> StoreResult<()> {
        self.commit_announcing(tx, &[subject_id]).await
    }
}

#[async_trait]
impl ExecutionStore for SqlStore {
    async fn create_task(
        &self,
        token: &NewToken,
        execution: &NewExecution,
        created: &EventDraft,
        api_key: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_execution(&mut tx, token, execution, created, api_key).await?;
        self.commit_announcing(tx, &[&execution.id, JOB_QUEUED]).await
    }

    async fn execution(&self, id: &str) -> StoreResult<Option<ExecutionRecord>> {
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e JOIN capability_tokens t ON t.id = e.token_id WHERE e.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        row.as_ref().map(execution_from_row).transpose()
    }

    async fn list_executions(
        &self,
        owner: Option<&str>,
        status: Option<ExecStatus>,
        page: Page,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e JOIN capability_tokens t ON t.id = e.token_id \
             WHERE ($1 IS NULL OR e.user_id = $1) AND ($2 IS NULL OR e.status = $2) \
             ORDER BY e.created_at DESC, e.id DESC LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(status.map(ExecStatus::as_str))
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        rows.iter().map(execution_from_row).collect()
    }

    async fn cancel_execution(&self, id: &str, cancelled: &EventDraft) -> StoreResult<Option<ExecStatus>> {
        let mut tx = self.write_tx().await?;
        lock(&mut tx, id).await?;
        let status: Option<String> =
            sqlx::query_scalar(&format!("SELECT status FROM executions WHERE id = $1{FOR_UPDATE}"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
        let Some(status) = status else { return Ok(None) };
        let status = ExecStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?;
        if status.is_terminal() {
            return Ok(Some(status));
        }
        sqlx::query("UPDATE executions SET status = 'cancelled', completed_at = $1, updated_at = $1 WHERE id = $2")
            .bind(cancelled.timestamp)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        // A queued job is withdrawn; a leased one stays for its worker to notice and finish.
        sqlx::query("DELETE FROM jobs WHERE execution_id = $1 AND lease_owner IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("UPDATE jobs SET api_key = NULL WHERE execution_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        append_event(&mut tx, id, cancelled).await?;
        self.commit_appended(tx, id).await?;
        Ok(Some(ExecStatus::Cancelled))
    }

    async fn steps(&self, execution_id: &str) -> StoreResult<Vec<StoredStep>> {
        let rows =
            sqlx::query("SELECT record, output FROM execution_steps WHERE execution_id = $1 ORDER BY step_index")
                .bind(execution_id)
                .fetch_all(&mut *self.read_conn().await?)
                .await
                .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(StoredStep {
                    record: json_column(row, "record")?,
                    output: row.try_get("output")?,
                })
            })
            .collect()
    }

    async fn events(&self, subject_id: &str) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT seq, type, data, timestamp, prev_hash, hash FROM events WHERE subject_id = $1 ORDER BY seq",
        )
        .bind(subject_id)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    seq: row.try_get("seq")?,
                    kind: row.try_get("type")?,
                    data: json_column(row, "data")?,
                    timestamp: row.try_get("timestamp")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }

    async fn certificates(&self, execution_id: &str) -> StoreResult<Vec<Value>> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT document FROM certificates WHERE execution_id = $1 ORDER BY issued_at, rowid")
                .bind(execution_id)
                .fetch_all(&mut *self.read_conn().await?)
                .await
                .map_err(classify)?;
        rows.iter()
            .map(|text| serde_json::from_str(text).map_err(|err| decode_error("certificate", err)))
            .collect()
    }

    fn subscribe_events(&self) -> broadcast::Receiver<Arc<str>> {
        self.event_feed.subscribe()
    }

    async fn claim_job(&self, worker: &str, now: f64, lease_until: f64) -> StoreResult<Option<ClaimedJob>> {
        // One statement: the choice and the lease are atomic without an explicit transaction;
        // on PostgreSQL, rows another replica is claiming are skipped rather than waited for.
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE execution_id = (SELECT execution_id FROM jobs WHERE lease_until IS NULL OR lease_until < $3 \
                                   ORDER BY created_at, execution_id LIMIT 1{SKIP_LOCKED}) \
             RETURNING execution_id, attempts, api_key, inflight_step, inflight_attempt, conversation"
        );
        let row = sqlx::query(&sql)
            .bind(worker)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&mut *self.write_conn().await?)
            .await
            .map_err(classify)?;
        let Some(row) = row else { return Ok(None) };
        let inflight_step: Option<i64> = row.try_get("inflight_step")?;
        let inflight_attempt: Option<i64> = row.try_get("inflight_attempt")?;
        Ok(Some(ClaimedJob {
            execution_id: row.try_get("execution_id")?,
            attempts: row.try_get("attempts")?,
            api_key: row.try_get("api_key")?,
            inflight: inflight_step.zip(inflight_attempt),
            conversation: optional_json_column(&row, "conversation")?,
        }))
    }

    async fn renew_lease(&self, execution_id: &str, worker: &str, lease_until: f64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE jobs SET lease_until = $1 WHERE execution_id = $2 AND lease_owner = $3")
            .bind(lease_until)
            .bind(execution_id)
            .bind(worker)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_job(&self, execution_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM jobs WHERE execution_id = $1")
            .bind(execution_id)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn begin_step(
        &self,
        execution_id: &str,
        worker: &str,
        step_index: i64,
        attempt: i64,
        event: &EventDraft,
    ) -> StoreResult<StepStart> {
        let mut tx = self.write_tx().await?;
        lock(&mut tx, execution_id).await?;
        if !holds_lease(&mut tx, execution_id, worker).await? {
            return Ok(StepStart::Stopped);
        }
        let live = sqlx::query(
            "UPDATE executions SET updated_at = $1 WHERE id = $2 AND status = 'executing' \
             RETURNING (SELECT t.revoked_at IS NOT NULL FROM capability_tokens t WHERE t.id = executions.token_id)",
        )
        .bind(event.timestamp)
        .bind(execution_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some(live) = live else {
            return Ok(StepStart::Stopped);
        };
        let token_revoked: bool = live.try_get(0)?;
        sqlx::query("UPDATE jobs SET inflight_step = $1, inflight_attempt = $2 WHERE execution_id = $3")
            .bind(step_index)
            .bind(attempt)
            .bind(execution_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        append_event(&mut tx, execution_id, event).await?;
        self.commit_appended(tx, execution_id).await?;
        Ok(StepStart::Started { token_revoked })
    }

    async fn record_step(
        &self,
        execution_id: &str,
        worker: &str,
        step: &StepWrite,
        event: &EventDraft,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        lock(&mut tx, execution_id).await?;
        if !holds_lease(&mut tx, execution_id, worker).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO execution_steps (execution_id, step_index, record, output) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (execution_id, step_index) DO UPDATE SET record = excluded.record, output = excluded.output",
        )
        .bind(execution_id)
        .bind(step.step_index)
        .bind(to_json(&step.record))
        .bind(&step.output)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        if let Some(certificate) = &step.certificate {
            insert_certificate(&mut tx, execution_id, certificate, event.timestamp).await?;
        }
        let token_id: String = sqlx::query_scalar(
            "UPDATE executions SET current_step = $1, cost_cents = $2, certificate_ids = $3, proof_properties = $4, \
             input_tokens = $5, output_tokens = $6, updated_at = $7 WHERE id = $8 RETURNING token_id",
        )
        .bind(step.current_step)
        .bind(step.cost_cents)
        .bind(to_json(&step.certificate_ids))
        .bind(to_json(&step.proof_properties))
        .bind(step.input_tokens)
        .bind(step.output_tokens)
        .bind(event.timestamp)
        .bind(execution_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        sqlx::query("UPDATE capability_tokens SET spent_cents = $1 WHERE id = $2")
            .bind(step.spent_cents)
            .bind(&token_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("UPDATE jobs SET inflight_step = NULL, inflight_attempt = NULL WHERE execution_id = $1")
            .bind(execution_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        append_event(&mut tx, execution_id, event).await?;
        self.commit_appended(tx, execution_id).await?;
        Ok(true)
    }

    async fn save_conversation(
        &self,
        execution_id: &str,
        conversation: &Value,
        input_tokens: i64,
        output_tokens: i64,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        lock(&mut tx, execution_id).await?;
        sqlx::query("UPDATE jobs SET conversation = $1 WHERE execution_id = $2")
            .bind(to_json(conversation))
            .bind(execution_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        sqlx::query("UPDATE executions SET input_tokens = $1, output_tokens = $2 WHERE id = $3")
            .bind(input_tokens)
            .bind(output_tokens)
            .bind(execution_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    async fn transition(&self, execution_id: &str, from: &[ExecStatus], change: &Transition) -> StoreResult<bool> {
        let now = change.event.timestamp;
        let sql = format!(
            "UPDATE executions SET status = $1, updated_at = $2, \
               started_at = CASE WHEN $3 THEN COALESCE(started_at, $4) ELSE started_at END, \
               completed_at = CASE WHEN $5 THEN $6 ELSE completed_at END, \
               error = COALESCE($7, error), output = COALESCE($8, output), \
               verification_summary = COALESCE($9, verification_summary), \
               final_violations = COALESCE($10, final_violations), final_scan = COALESCE($11, final_scan), \
               artifact = COALESCE($12, artifact), release_binding = COALESCE($13, release_binding), \
               verification_profile = COALESCE($14, verification_profile), \
               certificate_ids = COALESCE($15, certificate_ids), proof_properties = COALESCE($16, proof_properties), \
               input_tokens = COALESCE($17, input_tokens), output_tokens = COALESCE($18, output_tokens) \
             WHERE id = $19 AND status IN ({})",
            // The statuses follow the 19 fixed parameters.
            placeholders(20, from.len())
        );
        let mut tx = self.write_tx().await?;
        lock(&mut tx, execution_id).await?;
        let mut query = sqlx::query(&sql)
            .bind(change.to.as_str())
            .bind(now)
            .bind(change.to == ExecStatus::Planning)
            .bind(now)
            .bind(change.to.is_terminal())
            .bind(now)
            .bind(&change.error)
            .bind(&change.output)
            .bind(change.verification_summary.as_ref().map(to_json))
            .bind(change.final_violations.as_ref().map(to_json))
            .bind(change.final_scan.as_ref().map(to_json))
            .bind(change.artifact.as_ref().map(to_json))
            .bind(change.release_binding.as_ref().map(to_json))
            .bind(change.verification_profile.as_ref().map(to_json))
            .bind(change.certificate_ids.as_ref().map(to_json))
            .bind(change.proof_properties.as_ref().map(to_json))
            .bind(change.input_tokens)
            .bind(change.output_tokens)
            .bind(execution_id);
        for status in from {
            query = query.bind(status.as_str());
        }
        let applied = query.execute(&mut *tx).await.map_err(classify)?.rows_affected() == 1;
        if !applied {
            return Ok(false);
        }
        if let Some(certificate) = &change.certificate {
            insert_certificate(&mut tx, execution_id, certificate, now).await?;
        }
        if change.to.is_terminal() {
            sqlx::query("DELETE FROM jobs WHERE execution_id = $1")
                .bind(execution_id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        append_event(&mut tx, execution_id, &change.event).await?;
        self.commit_appended(tx, execution_id).await?;
        Ok(true)
    }

    async fn record_delivery(&self, delivery: &NewDelivery) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, execution_id, url, event, attempts, status_code, delivered, error, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&delivery.id)
        .bind(&delivery.execution_id)
        .bind(&delivery.url)
        .bind(&delivery.event)
        .bind(delivery.attempts)
        .bind(delivery.status_code)
        .bind(delivery.delivered)
        .bind(&delivery.error)
        .bind(delivery.created_at)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(classify)?;
        Ok(())
    }
}
