//! [`ExecutionStore`] on either backend. Every write transaction on one execution first takes
//! that execution's named [`lock`] (the one its event chain is appended under), so concurrent
//! workers, cancellations and replicas take turns per execution and always meet the row locks
//! after it, in one order: they never interleave and never deadlock.

use std::sync::Arc;

use async_trait::async_trait;
use certior::audit::{PreparedEvent, GENESIS_HASH};
use serde_json::Value;
use tokio::sync::broadcast;

use super::agents::insert_token;
use super::identity::classify;
use super::{bind, listing, lock, SqlStore, FOR_UPDATE, SKIP_LOCKED};
use crate::store::columns::Columns;
use crate::store::executions::*;
use crate::store::statements::{Arg, Statements};
use crate::store::{decode_error, Page, StoreResult, StoredJson};

const EXECUTION_COLUMNS: &str = "e.id, e.user_id, e.task, e.status, e.current_step, e.error, e.created_at, \
     e.updated_at, e.started_at, e.completed_at, e.cost_cents, e.llm_provider, e.llm_model, e.compliance_policy, \
     e.proof_properties, e.certificate_ids, e.output, e.verification_summary, e.verification_profile, \
     e.preset_key, e.preset_version, e.preset_digest, e.token_id, e.workflow_id, e.workflow_stage_id, e.run_spec, \
     e.input_tokens, e.output_tokens, e.final_violations, e.final_scan, e.artifact, e.release_binding, t.permissions, t.budget_cents, t.spent_cents, \
     t.expires_at AS token_expires_at, t.revoked_at AS token_revoked_at";

pub(in crate::store) fn json_column(row: &dyn Columns, name: &str) -> StoreResult<Value> {
    let text = row.text(name)?;
    serde_json::from_str(&text).map_err(|err| decode_error(name, err))
}

pub(in crate::store) fn optional_json_column(row: &dyn Columns, name: &str) -> StoreResult<Option<Value>> {
    row.opt_text(name)?
        .map(|t| serde_json::from_str(&t).map_err(|err| decode_error(name, err)))
        .transpose()
}

pub(in crate::store) fn strings_column(row: &dyn Columns, name: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(&row.text(name)?).map_err(|err| decode_error(name, err))
}

fn stored_json_column(row: &dyn Columns, name: &'static str) -> StoreResult<StoredJson> {
    StoredJson::from_text(name, row.text(name)?)
}

fn optional_stored_json_column(row: &dyn Columns, name: &'static str) -> StoreResult<Option<StoredJson>> {
    row.opt_text(name)?
        .map(|text| StoredJson::from_text(name, text))
        .transpose()
}

/// A preset version: `u32` to the engine, BIGINT in the tables (PostgreSQL has no unsigned types).
pub(in crate::store) fn preset_version(stored: i64) -> StoreResult<u32> {
    u32::try_from(stored).map_err(|err| decode_error("preset version", err))
}

pub(in crate::store) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values always serialise")
}

fn execution_from_row(row: &dyn Columns) -> StoreResult<ExecutionRecord> {
    let status = row.text("status")?;
    Ok(ExecutionRecord {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        task: row.text("task")?,
        status: ExecStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        current_step: row.int("current_step")?,
        error: row.text("error")?,
        created_at: row.float("created_at")?,
        updated_at: row.float("updated_at")?,
        started_at: row.opt_float("started_at")?,
        completed_at: row.opt_float("completed_at")?,
        cost_cents: row.int("cost_cents")?,
        llm_provider: row.opt_text("llm_provider")?,
        llm_model: row.opt_text("llm_model")?,
        compliance_policy: row.text("compliance_policy")?,
        proof_properties: strings_column(row, "proof_properties")?,
        certificate_ids: strings_column(row, "certificate_ids")?,
        output: row.opt_text("output")?,
        verification_summary: optional_stored_json_column(row, "verification_summary")?,
        verification_profile: stored_json_column(row, "verification_profile")?,
        preset_key: row.text("preset_key")?,
        preset_version: preset_version(row.int("preset_version")?)?,
        preset_digest: row.text("preset_digest")?,
        token_id: row.text("token_id")?,
        workflow_id: row.opt_text("workflow_id")?,
        workflow_stage_id: row.opt_text("workflow_stage_id")?,
        run_spec: stored_json_column(row, "run_spec")?,
        input_tokens: row.int("input_tokens")?,
        output_tokens: row.int("output_tokens")?,
        final_violations: optional_stored_json_column(row, "final_violations")?,
        final_scan: optional_stored_json_column(row, "final_scan")?,
        artifact: optional_stored_json_column(row, "artifact")?,
        release_binding: optional_stored_json_column(row, "release_binding")?,
        permissions: strings_column(row, "permissions")?,
        budget_cents: row.int("budget_cents")?,
        spent_cents: row.int("spent_cents")?,
        token_expires_at: row.opt_float("token_expires_at")?,
        token_revoked: row.opt_float("token_revoked_at")?.is_some(),
    })
}

/// An event ready to append: its canonical form prepared before the chain's lock is taken.
pub(in crate::store) struct ReadyEvent<'a> {
    draft: &'a EventDraft,
    canonical: PreparedEvent,
}

/// Prepares `draft` for `subject_id`'s chain: the part of an append that needs no lock.
pub(in crate::store) fn ready<'a>(subject_id: &str, draft: &'a EventDraft) -> StoreResult<ReadyEvent<'a>> {
    let canonical = PreparedEvent::new(subject_id, &draft.kind, &draft.data, draft.timestamp)
        .map_err(|err| decode_error("event data", err))?;
    Ok(ReadyEvent { draft, canonical })
}

/// Appends `draft` to `subject_id`'s chain inside `tx`, holding the chain's lock until the
/// commit, which must announce `subject_id`.
pub(in crate::store) async fn append_event(
    tx: &mut (impl Statements + ?Sized),
    subject_id: &str,
    draft: &EventDraft,
) -> StoreResult<()> {
    append_events(tx, subject_id, &[ready(subject_id, draft)?]).await
}

/// [`append_event`] for several [`ready`] events, in order: the chain's head is read once.
pub(in crate::store) async fn append_events(
    tx: &mut (impl Statements + ?Sized),
    subject_id: &str,
    events: &[ReadyEvent<'_>],
) -> StoreResult<()> {
    lock(&mut *tx, subject_id).await?;
    let last = tx
        .row(
            "SELECT seq, hash FROM events WHERE subject_id = $1 ORDER BY seq DESC LIMIT 1",
            &[Arg::Text(subject_id)],
            |row| Ok((row.int("seq")?, row.text("hash")?)),
        )
        .await?;
    let (mut seq, mut prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_owned()));
    for event in events {
        seq += 1;
        let hash = event.canonical.hash(&prev_hash, seq as u64);
        tx.run(
            "INSERT INTO events (subject_id, seq, type, data, timestamp, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Arg::Text(subject_id),
                Arg::Int(seq),
                Arg::Text(&event.draft.kind),
                Arg::Text(event.canonical.data_json()),
                Arg::Float(event.draft.timestamp),
                Arg::Text(&prev_hash),
                Arg::Text(&hash),
            ],
        )
        .await?;
        prev_hash = hash;
    }
    Ok(())
}

/// Writes a new execution with its token, `execution.created` event and queued job, inside `tx`.
pub(in crate::store) async fn insert_execution(
    tx: &mut (impl Statements + ?Sized),
    token: &NewToken,
    execution: &NewExecution,
    created: &ReadyEvent<'_>,
    api_key: Option<&str>,
) -> StoreResult<()> {
    insert_token(&mut *tx, token).await?;
    let profile = to_json(&execution.verification_profile);
    let run_spec = to_json(&execution.run_spec);
    tx.run(
        "INSERT INTO executions (id, user_id, task, status, created_at, updated_at, llm_provider, llm_model, \
         compliance_policy, verification_profile, preset_key, preset_version, preset_digest, token_id, run_spec, \
         workflow_id, workflow_stage_id) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        &[
            Arg::Text(&execution.id),
            Arg::Text(&execution.user_id),
            Arg::Text(&execution.task),
            Arg::Float(execution.created_at),
            Arg::Float(execution.created_at),
            Arg::OptText(execution.llm_provider.as_deref()),
            Arg::OptText(execution.llm_model.as_deref()),
            Arg::Text(&execution.compliance_policy),
            Arg::Text(&profile),
            Arg::Text(&execution.preset_key),
            Arg::Int(i64::from(execution.preset_version)),
            Arg::Text(&execution.preset_digest),
            Arg::Text(&execution.token_id),
            Arg::Text(&run_spec),
            Arg::OptText(execution.workflow_id.as_deref()),
            Arg::OptText(execution.workflow_stage_id.as_deref()),
        ],
    )
    .await?;
    append_events(&mut *tx, &execution.id, std::slice::from_ref(created)).await?;
    tx.run(
        "INSERT INTO jobs (execution_id, created_at, api_key) VALUES ($1, $2, $3)",
        &[
            Arg::Text(&execution.id),
            Arg::Float(execution.created_at),
            Arg::OptText(api_key),
        ],
    )
    .await?;
    Ok(())
}

async fn insert_certificate(
    tx: &mut (impl Statements + ?Sized),
    execution_id: &str,
    (id, document): &(String, String),
    issued_at: f64,
) -> StoreResult<()> {
    tx.run(
        "INSERT INTO certificates (id, execution_id, document, issued_at) VALUES ($1, $2, $3, $4)",
        &[
            Arg::Text(id),
            Arg::Text(execution_id),
            Arg::Text(document),
            Arg::Float(issued_at),
        ],
    )
    .await?;
    Ok(())
}

/// Sets the job's in-flight step to `step`, or clears it, inside `tx`, if `worker` still holds
/// the job's lease: the fence of every step write. `false` means the lease is gone and the
/// caller must drop `tx` (its writes roll back); otherwise the job row stays locked until the
/// commit, so no other worker can claim it meanwhile.
async fn mark_in_flight(
    tx: &mut (impl Statements + ?Sized),
    execution_id: &str,
    worker: &str,
    step: Option<&StepBegin>,
) -> StoreResult<bool> {
    let marked = tx
        .run(
            "UPDATE jobs SET inflight_step = $1, inflight_attempt = $2 WHERE execution_id = $3 AND lease_owner = $4",
            &[
                Arg::OptInt(step.map(|s| s.step_index)),
                Arg::OptInt(step.map(|s| s.attempt)),
                Arg::Text(execution_id),
                Arg::Text(worker),
            ],
        )
        .await?;
    Ok(marked == 1)
}

fn claimed_job_from_row(row: &dyn Columns) -> StoreResult<ClaimedJob> {
    let inflight_step = row.opt_int("inflight_step")?;
    let inflight_attempt = row.opt_int("inflight_attempt")?;
    Ok(ClaimedJob {
        execution_id: row.text("execution_id")?,
        attempts: row.int("attempts")?,
        api_key: row.opt_text("api_key")?,
        inflight: inflight_step.zip(inflight_attempt),
        conversation: optional_json_column(row, "conversation")?,
    })
}

/// `$first, $first+1, …`: `n` numbered parameters for an `IN (…)` list.
pub(in crate::store) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
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
        let created = ready(&execution.id, created)?;
        let mut tx = self.begin().await?;
        insert_execution(&mut *tx, token, execution, &created, api_key).await?;
        self.commit(tx, &[&execution.id, JOB_QUEUED]).await
    }

    async fn execution(&self, id: &str) -> StoreResult<Option<ExecutionRecord>> {
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e JOIN capability_tokens t ON t.id = e.token_id WHERE e.id = $1"
        );
        self.read_row(&sql, &[Arg::Text(id)], execution_from_row).await
    }

    async fn list_executions(
        &self,
        owner: Option<&str>,
        status: Option<ExecStatus>,
        page: Page,
    ) -> StoreResult<Vec<ExecutionRecord>> {
        let filters = [
            ("e.user_id", owner.map(Arg::Text)),
            ("e.status", status.map(|status| Arg::Text(status.as_str()))),
        ];
        let (rest, args) = listing(&filters, "e.created_at DESC, e.id DESC", page);
        let sql =
            format!("SELECT {EXECUTION_COLUMNS} FROM executions e JOIN capability_tokens t ON t.id = e.token_id{rest}");
        let rows = bind(&sql, &args)
            .fetch_all(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        rows.iter().map(|row| execution_from_row(row)).collect()
    }

    async fn cancel_execution(&self, id: &str, cancelled: &EventDraft) -> StoreResult<Option<ExecStatus>> {
        let mut tx = self.begin().await?;
        lock(&mut *tx, id).await?;
        let sql = format!("SELECT status FROM executions WHERE id = $1{FOR_UPDATE}");
        let Some(status) = tx.row(&sql, &[Arg::Text(id)], |row| row.text("status")).await? else {
            return Ok(None);
        };
        let status = ExecStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?;
        if status.is_terminal() {
            return Ok(Some(status));
        }
        tx.run(
            "UPDATE executions SET status = 'cancelled', completed_at = $1, updated_at = $1 WHERE id = $2",
            &[Arg::Float(cancelled.timestamp), Arg::Text(id)],
        )
        .await?;
        // A queued job is withdrawn; a leased one stays for its worker to notice and finish.
        tx.run(
            "DELETE FROM jobs WHERE execution_id = $1 AND lease_owner IS NULL",
            &[Arg::Text(id)],
        )
        .await?;
        tx.run(
            "UPDATE jobs SET api_key = NULL WHERE execution_id = $1",
            &[Arg::Text(id)],
        )
        .await?;
        append_event(&mut *tx, id, cancelled).await?;
        self.commit(tx, &[id]).await?;
        Ok(Some(ExecStatus::Cancelled))
    }

    async fn steps(&self, execution_id: &str) -> StoreResult<Vec<StoredStep>> {
        self.read_rows(
            "SELECT record, output FROM execution_steps WHERE execution_id = $1 ORDER BY step_index",
            &[Arg::Text(execution_id)],
            |row| {
                Ok(StoredStep {
                    record: json_column(row, "record")?,
                    output: row.opt_text("output")?,
                })
            },
        )
        .await
    }

    async fn events(&self, subject_id: &str) -> StoreResult<Vec<StoredEvent>> {
        self.read_rows(
            "SELECT seq, type, data, timestamp, prev_hash, hash FROM events WHERE subject_id = $1 ORDER BY seq",
            &[Arg::Text(subject_id)],
            |row| {
                Ok(StoredEvent {
                    seq: row.int("seq")?,
                    kind: row.text("type")?,
                    data: json_column(row, "data")?,
                    timestamp: row.float("timestamp")?,
                    prev_hash: row.text("prev_hash")?,
                    hash: row.text("hash")?,
                })
            },
        )
        .await
    }

    async fn certificates(&self, execution_id: &str) -> StoreResult<Vec<Value>> {
        self.read_rows(
            "SELECT document FROM certificates WHERE execution_id = $1 ORDER BY issued_at, rowid",
            &[Arg::Text(execution_id)],
            |row| json_column(row, "document"),
        )
        .await
    }

    fn subscribe_events(&self) -> broadcast::Receiver<Arc<str>> {
        self.event_feed.subscribe()
    }

    async fn claim_job(&self, worker: &str, now: f64, lease_until: f64) -> StoreResult<Option<ClaimedJob>> {
        // One statement: the choice and the lease are atomic; on PostgreSQL, rows another
        // replica is claiming are skipped rather than waited for. The lease test is not
        // indexable on purpose: the scan follows `jobs_queue` and stops at the first match.
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE execution_id = (SELECT execution_id FROM jobs WHERE COALESCE(lease_until, 0) < $3 \
                                   ORDER BY created_at, execution_id LIMIT 1{SKIP_LOCKED}) \
             RETURNING execution_id, attempts, api_key, inflight_step, inflight_attempt, conversation"
        );
        let args = [Arg::Text(worker), Arg::Float(lease_until), Arg::Float(now)];
        let mut tx = self.begin().await?;
        let job = tx.row(&sql, &args, claimed_job_from_row).await?;
        self.commit(tx, &[]).await?;
        Ok(job)
    }

    async fn renew_lease(&self, execution_id: &str, worker: &str, lease_until: f64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let renewed = tx
            .run(
                "UPDATE jobs SET lease_until = $1 WHERE execution_id = $2 AND lease_owner = $3",
                &[Arg::Float(lease_until), Arg::Text(execution_id), Arg::Text(worker)],
            )
            .await?;
        self.commit(tx, &[]).await?;
        Ok(renewed == 1)
    }

    async fn finish_job(&self, execution_id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.run("DELETE FROM jobs WHERE execution_id = $1", &[Arg::Text(execution_id)])
            .await?;
        self.commit(tx, &[]).await
    }

    async fn begin_step(&self, execution_id: &str, worker: &str, step: &StepBegin) -> StoreResult<StepStart> {
        let announced = ready(execution_id, &step.event)?;
        let mut tx = self.begin().await?;
        lock(&mut *tx, execution_id).await?;
        if !mark_in_flight(&mut *tx, execution_id, worker, Some(step)).await? {
            return Ok(StepStart::Stopped);
        }
        let live = tx
            .row(
                "UPDATE executions SET updated_at = $1 WHERE id = $2 AND status = 'executing' \
                 RETURNING (SELECT t.revoked_at IS NOT NULL FROM capability_tokens t WHERE t.id = executions.token_id) \
                 AS token_revoked",
                &[Arg::Float(step.event.timestamp), Arg::Text(execution_id)],
                |row| row.boolean("token_revoked"),
            )
            .await?;
        let Some(token_revoked) = live else {
            return Ok(StepStart::Stopped);
        };
        append_events(&mut *tx, execution_id, &[announced]).await?;
        self.commit(tx, &[execution_id]).await?;
        Ok(StepStart::Started { token_revoked })
    }

    async fn record_step(
        &self,
        execution_id: &str,
        worker: &str,
        step: &StepWrite,
        event: &EventDraft,
        then: Option<&StepThen>,
    ) -> StoreResult<StepRecorded> {
        let recorded = ready(execution_id, event)?;
        let next = match then {
            Some(StepThen::Begin(StepBegin { event, .. }) | StepThen::Verify(event)) => {
                Some(ready(execution_id, event)?)
            }
            None => None,
        };
        let record = to_json(&step.record);
        let certificate_ids = to_json(&step.certificate_ids);
        let proof_properties = to_json(&step.proof_properties);
        let mut tx = self.begin().await?;
        lock(&mut *tx, execution_id).await?;
        tx.run(
            "INSERT INTO execution_steps (execution_id, step_index, record, output) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (execution_id, step_index) DO UPDATE SET record = excluded.record, output = excluded.output",
            &[
                Arg::Text(execution_id),
                Arg::Int(step.step_index),
                Arg::Text(&record),
                Arg::OptText(step.output.as_deref()),
            ],
        )
        .await?;
        if let Some(certificate) = &step.certificate {
            insert_certificate(&mut *tx, execution_id, certificate, event.timestamp).await?;
        }
        let verify = matches!(then, Some(StepThen::Verify(_)));
        // `status` is the one after the update: `verifying` only if this write moved it there.
        let (token_id, status) = tx
            .row(
                "UPDATE executions SET current_step = $1, cost_cents = $2, certificate_ids = $3, proof_properties = $4, \
                 input_tokens = $5, output_tokens = $6, updated_at = $7, \
                 status = CASE WHEN $9 AND status = 'executing' THEN 'verifying' ELSE status END \
                 WHERE id = $8 RETURNING token_id, status",
                &[
                    Arg::Int(step.current_step),
                    Arg::Int(step.cost_cents),
                    Arg::Text(&certificate_ids),
                    Arg::Text(&proof_properties),
                    Arg::Int(step.input_tokens),
                    Arg::Int(step.output_tokens),
                    Arg::Float(event.timestamp),
                    Arg::Text(execution_id),
                    Arg::Bool(verify),
                ],
                |row| Ok((row.text("token_id")?, row.text("status")?)),
            )
            .await?
            .ok_or_else(|| decode_error("execution", "the execution of a leased job is gone"))?;
        let token_revoked = tx
            .row(
                "UPDATE capability_tokens SET spent_cents = $1 WHERE id = $2 RETURNING revoked_at IS NOT NULL AS token_revoked",
                &[Arg::Int(step.spent_cents), Arg::Text(&token_id)],
                |row| row.boolean("token_revoked"),
            )
            .await?
            .ok_or_else(|| decode_error("capability token", "the token of a leased job is gone"))?;
        let done = match then {
            Some(StepThen::Begin(_)) => status == ExecStatus::Executing.as_str(),
            Some(StepThen::Verify(_)) => status == ExecStatus::Verifying.as_str(),
            None => false,
        };
        let begin = match then {
            Some(StepThen::Begin(begin)) if done => Some(begin),
            _ => None,
        };
        // The fence comes last, as the in-flight mark depends on the status: without the lease,
        // everything above rolls back with `tx`.
        if !mark_in_flight(&mut *tx, execution_id, worker, begin).await? {
            return Ok(StepRecorded::LeaseLost);
        }
        let events: Vec<ReadyEvent> = [recorded].into_iter().chain(next.filter(|_| done)).collect();
        append_events(&mut *tx, execution_id, &events).await?;
        self.commit(tx, &[execution_id]).await?;
        Ok(StepRecorded::Recorded {
            then: done,
            token_revoked,
        })
    }

    async fn save_conversation(
        &self,
        execution_id: &str,
        conversation: &Value,
        input_tokens: i64,
        output_tokens: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        lock(&mut *tx, execution_id).await?;
        let conversation = to_json(conversation);
        tx.run(
            "UPDATE jobs SET conversation = $1 WHERE execution_id = $2",
            &[Arg::Text(&conversation), Arg::Text(execution_id)],
        )
        .await?;
        tx.run(
            "UPDATE executions SET input_tokens = $1, output_tokens = $2 WHERE id = $3",
            &[Arg::Int(input_tokens), Arg::Int(output_tokens), Arg::Text(execution_id)],
        )
        .await?;
        self.commit(tx, &[]).await
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
        let json = |value: &Option<Value>| value.as_ref().map(to_json);
        let (summary, violations, scan) = (
            json(&change.verification_summary),
            json(&change.final_violations),
            json(&change.final_scan),
        );
        let (artifact, binding, profile) = (
            json(&change.artifact),
            json(&change.release_binding),
            json(&change.verification_profile),
        );
        let certificate_ids = change.certificate_ids.as_ref().map(to_json);
        let proof_properties = change.proof_properties.as_ref().map(to_json);
        let started_at = change.started_at();
        let mut args = vec![
            Arg::Text(change.to.as_str()),
            Arg::Float(now),
            Arg::Bool(started_at.is_some()),
            Arg::Float(started_at.unwrap_or(now)),
            Arg::Bool(change.to.is_terminal()),
            Arg::Float(now),
            Arg::OptText(change.error.as_deref()),
            Arg::OptText(change.output.as_deref()),
            Arg::OptText(summary.as_deref()),
            Arg::OptText(violations.as_deref()),
            Arg::OptText(scan.as_deref()),
            Arg::OptText(artifact.as_deref()),
            Arg::OptText(binding.as_deref()),
            Arg::OptText(profile.as_deref()),
            Arg::OptText(certificate_ids.as_deref()),
            Arg::OptText(proof_properties.as_deref()),
            Arg::OptInt(change.input_tokens),
            Arg::OptInt(change.output_tokens),
            Arg::Text(execution_id),
        ];
        args.extend(from.iter().map(|status| Arg::Text(status.as_str())));
        let through = change.through.as_ref().map(|(_, event)| event);
        let begin = change.begin.as_ref().map(|(_, begin)| &begin.event);
        let events = through
            .into_iter()
            .chain([&change.event])
            .chain(begin)
            .map(|event| ready(execution_id, event))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.begin().await?;
        lock(&mut *tx, execution_id).await?;
        if tx.run(&sql, &args).await? != 1 {
            return Ok(false);
        }
        if let Some(certificate) = &change.certificate {
            insert_certificate(&mut *tx, execution_id, certificate, now).await?;
        }
        if change.to.is_terminal() {
            tx.run("DELETE FROM jobs WHERE execution_id = $1", &[Arg::Text(execution_id)])
                .await?;
        }
        if let Some((worker, begin)) = &change.begin {
            if !mark_in_flight(&mut *tx, execution_id, worker, Some(begin)).await? {
                return Ok(false);
            }
        }
        append_events(&mut *tx, execution_id, &events).await?;
        self.commit(tx, &[execution_id]).await?;
        Ok(true)
    }

    async fn record_delivery(&self, delivery: &NewDelivery) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.run(
            "INSERT INTO webhook_deliveries (id, execution_id, url, event, attempts, status_code, delivered, error, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                Arg::Text(&delivery.id),
                Arg::Text(&delivery.execution_id),
                Arg::Text(&delivery.url),
                Arg::Text(&delivery.event),
                Arg::Int(delivery.attempts),
                Arg::OptInt(delivery.status_code),
                Arg::Bool(delivery.delivered),
                Arg::Text(&delivery.error),
                Arg::Float(delivery.created_at),
            ],
        )
        .await?;
        self.commit(tx, &[]).await
    }
}
