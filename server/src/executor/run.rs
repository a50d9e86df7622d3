//! One claimed job: the status machine of spec §9.2 around a provider loop. Every change is a
//! conditional update, so a cancellation that lands between two checkpoints wins and nothing
//! after it is written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use certior::budget::BudgetLedger;
use certior::guard::{GuardConfig, TokenGrant};
use certior::{Guard, Preset, Principal, StageRole, VerificationProfile, Violation};
use serde_json::{json, Value};

use super::admission::{admit_stage, Refused};
use super::gate::{push_unique, run_call, CallOutcome, CallRequest, Decision};
use super::tally::Tally;
use super::{agentic, final_output, plan};
use crate::clock::now;
use crate::providers::Provider;
use crate::routes::tasks::PlanStep;
use crate::state::AppState;
use crate::store::{
    ClaimedJob, EventDraft, ExecStatus, ExecutionRecord, StepBegin, StepRecorded, StepStart, StepThen, StepWrite,
    StoreResult, StoredStep, Transition, User,
};
use crate::submission::run_mode;

/// Claims after which a job whose workers keep dying fails (spec §9.2).
const MAX_ATTEMPTS: i64 = 3;

const NO_PROVIDER: &str = "No provider available: the task has no plan and no LLM provider is configured \
     (set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL, or send a plan)";

/// How a provider loop ended.
pub enum Ending {
    /// The run's output, to be judged by the final checks.
    Output(String),
    Failed {
        error: String,
        violations: Option<Vec<Violation>>,
    },
    /// Cancelled, or the lease was lost: write nothing more.
    Stopped,
}

/// What a run does after a call that is neither denied nor fails, when it knows before the
/// call (a plan): the write that records the call does it too.
#[derive(Debug, Clone, Copy)]
pub enum Next<'a> {
    /// Decided after the call (an LLM reads its result first).
    Undecided,
    /// The step that runs this tool.
    Step(&'a str),
    /// The final checks, in `verifying`.
    Verify,
}

/// The part of a stored run spec the run reads: the plan, if the task came with one.
#[derive(serde::Deserialize)]
struct StoredPlan {
    plan: Option<Vec<PlanStep>>,
}

/// A running execution and everything its steps need.
pub struct Run<'a> {
    pub state: &'a AppState,
    pub execution: ExecutionRecord,
    pub user: User,
    pub preset: Arc<Preset>,
    pub profile: VerificationProfile,
    pub guard: Guard,
    pub tally: Tally,
    /// The steps recorded before this claim: a resumed run does not run them again.
    pub recorded: Vec<StoredStep>,
    pub mode: &'static str,
    /// The step a lost worker left in flight, with its attempt number.
    inflight: Option<(i64, i64)>,
    /// A step begun by the write that recorded the one before it, and how that went.
    begun: Option<(i64, StepStart)>,
    /// This worker's lease name: step writes are fenced on it.
    worker: &'a str,
    lost: &'a AtomicBool,
}

/// Runs a claimed job to a terminal status, or until it is cancelled or its lease is lost. A
/// storage failure leaves the job leased; it is claimed again when the lease expires.
pub async fn run_job(state: &AppState, worker: &str, job: ClaimedJob, lost: &AtomicBool) {
    let execution_id = job.execution_id.clone();
    if let Err(error) = drive(state, worker, job, lost).await {
        tracing::error!(%error, execution_id, "storage error while running; the job will be retried after its lease");
    }
}

async fn drive(state: &AppState, worker: &str, job: ClaimedJob, lost: &AtomicBool) -> StoreResult<()> {
    let store = &state.store;
    let Some(execution) = store.execution(&job.execution_id).await? else {
        return store.finish_job(&job.execution_id).await;
    };
    if execution.status.is_terminal() {
        return store.finish_job(&job.execution_id).await;
    }
    if job.attempts > MAX_ATTEMPTS {
        let error = format!("Worker lost during execution ({MAX_ATTEMPTS} attempts)");
        return fail_record(state, &execution, error).await;
    }
    let mut run = match Run::prepare(state, execution, &job, worker, lost).await? {
        Ok(run) => run,
        Err((execution, error)) => return fail_record(state, &execution, error).await,
    };
    let limit = state.settings.runs.execution_timeout_seconds;
    let started = run.execution.started_at.unwrap_or_else(now);
    let remaining = (limit as f64 - (now() - started)).max(0.0);
    match tokio::time::timeout(Duration::from_secs_f64(remaining), run.drive(&job)).await {
        Ok(result) => result,
        Err(_) => {
            run.fail(format!("Execution exceeded its time limit ({limit} s)"), None)
                .await
        }
    }
}

/// A signed certificate as stored: a struct of strings, numbers and maps always serialises.
pub fn certificate_json(certificate: &certior::Certificate) -> String {
    serde_json::to_string(certificate).expect("certificates serialise to JSON")
}

/// Fails an execution that never got a [`Run`] (worker lost, preset gone, user gone).
async fn fail_record(state: &AppState, execution: &ExecutionRecord, error: String) -> StoreResult<()> {
    let change = failure(
        execution,
        &execution.certificate_ids,
        execution.cost_cents,
        error,
        None,
        None,
    );
    if state
        .store
        .transition(&execution.id, &ExecStatus::LIVE, &change)
        .await?
    {
        super::finished(state, execution, "execution.failed");
    }
    Ok(())
}

fn failure(
    execution: &ExecutionRecord,
    certificate_ids: &[String],
    cost_cents: i64,
    error: String,
    violations: Option<Vec<Violation>>,
    summary: Option<Value>,
) -> Transition {
    let mut data = json!({
        "status": "failed",
        "task": execution.task,
        "cost_cents": cost_cents,
        "certificate_count": certificate_ids.len(),
        "error": error,
    });
    if let Some(violations) = &violations {
        data["violations"] = json!(violations);
    }
    let mut change = Transition::to(
        ExecStatus::Failed,
        EventDraft {
            kind: "execution.failed".into(),
            data,
            timestamp: now(),
        },
    );
    change.error = Some(error);
    change.final_violations = violations.map(|v| json!(v));
    change.verification_summary = summary;
    change
}

impl<'a> Run<'a> {
    /// Builds the Guard from the pinned preset, the composed profile and the token. A problem
    /// here fails the execution with its reason (the inner `Err`).
    async fn prepare(
        state: &'a AppState,
        execution: ExecutionRecord,
        job: &ClaimedJob,
        worker: &'a str,
        lost: &'a AtomicBool,
    ) -> StoreResult<Result<Run<'a>, (ExecutionRecord, String)>> {
        let Some(user) = state.store.user_by_id(&execution.user_id).await? else {
            return Ok(Err((execution, "The submitting user no longer exists".into())));
        };
        let user = user.user;
        // The version pinned at submission: later uploads of the key do not change the run.
        let preset = match state.presets.pinned(&execution.preset_key, execution.preset_version) {
            Some(preset) if preset.digest() == execution.preset_digest => preset,
            Some(_) => {
                let error = format!(
                    "Preset '{}' changed since submission (digest {} no longer loaded)",
                    execution.preset_key, execution.preset_digest
                );
                return Ok(Err((execution, error)));
            }
            None => {
                let error = format!(
                    "Preset '{}' version {} is no longer available",
                    execution.preset_key, execution.preset_version
                );
                return Ok(Err((execution, error)));
            }
        };
        let profile: VerificationProfile = match execution.verification_profile.decode() {
            Ok(profile) => profile,
            Err(err) => {
                return Ok(Err((
                    execution,
                    format!("Stored verification profile is unreadable: {err}"),
                )))
            }
        };
        // Steps are recorded only under a lease, and each lease is a claim: a job's first claim
        // has none to resume, so it skips the read.
        let recorded = if job.attempts > 1 {
            state.store.steps(&execution.id).await?
        } else {
            Vec::new()
        };
        let tally = Tally::resume(&execution, &recorded);
        let guard = Guard::new(GuardConfig {
            preset: preset.clone(),
            profile: profile.clone(),
            execution_id: execution.id.clone(),
            principal: Principal {
                user_id: user.id.clone(),
                role: user.role.as_str().to_owned(),
            },
            token: TokenGrant {
                token_id: execution.token_id.clone(),
                permissions: execution.permissions.clone(),
                expires_at: execution.token_expires_at,
            },
            ledger: Arc::new(BudgetLedger::new(execution.budget_cents, execution.spent_cents)),
            signer: state.keyring.clone(),
            content: None,
        });
        if execution.token_revoked {
            guard.revoke();
        }
        let mode = run_mode(execution.llm_provider.as_deref().and_then(Provider::parse));
        Ok(Ok(Run {
            state,
            execution,
            user,
            preset,
            profile,
            guard,
            tally,
            recorded,
            mode,
            inflight: job.inflight,
            begun: None,
            worker,
            lost,
        }))
    }

    fn event(&self, kind: &str, data: Value) -> EventDraft {
        EventDraft {
            kind: kind.into(),
            data,
            timestamp: now(),
        }
    }

    /// `{status, task, mode}` of the phase events.
    fn phase_event(&self, status: &str) -> EventDraft {
        self.event(
            &format!("execution.{status}"),
            json!({"status": status, "task": self.execution.task, "mode": self.mode}),
        )
    }

    /// Moves from `from` to `to`; `false` when the execution is no longer in `from` (cancelled).
    async fn advance(&mut self, from: ExecStatus, to: ExecStatus) -> StoreResult<bool> {
        let change = Transition::to(to, self.phase_event(to.as_str()));
        let moved = self
            .state
            .store
            .transition(&self.execution.id, &[from], &change)
            .await?;
        if moved {
            self.entered(&change);
        }
        Ok(moved)
    }

    /// Mirrors a transition the store applied.
    fn entered(&mut self, change: &Transition) {
        self.execution.status = change.to;
        if let Some(started_at) = change.started_at() {
            self.execution.started_at.get_or_insert(started_at);
        }
    }

    pub fn summary(&self) -> Value {
        let started = self.execution.started_at.unwrap_or(self.execution.created_at);
        json!({
            "steps": self.tally.steps,
            "duration_ms": ((now() - started) * 1000.0 * 100.0).round() / 100.0,
            "total_input_tokens": self.tally.input_tokens,
            "total_output_tokens": self.tally.output_tokens,
        })
    }

    pub async fn fail(&self, error: String, violations: Option<Vec<Violation>>) -> StoreResult<()> {
        self.fail_scanned(error, violations, None).await
    }

    /// [`Run::fail`] that also records the final-output content phase that failed the run.
    pub async fn fail_scanned(
        &self,
        error: String,
        violations: Option<Vec<Violation>>,
        final_scan: Option<Value>,
    ) -> StoreResult<()> {
        let mut change = failure(
            &self.execution,
            &self.tally.certificate_ids,
            self.tally.cost_cents,
            error,
            violations,
            Some(self.summary()),
        );
        change.input_tokens = Some(self.tally.input_tokens);
        change.output_tokens = Some(self.tally.output_tokens);
        change.final_scan = final_scan;
        if self
            .state
            .store
            .transition(&self.execution.id, &ExecStatus::LIVE, &change)
            .await?
        {
            super::finished(self.state, &self.execution, "execution.failed");
        }
        Ok(())
    }

    /// Whether the run must stop writing: the lease went to another worker.
    pub fn lease_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    async fn drive(&mut self, job: &ClaimedJob) -> StoreResult<()> {
        let provider = self.execution.llm_provider.as_deref().and_then(Provider::parse);
        let steps = match self.execution.run_spec.decode::<StoredPlan>() {
            Ok(spec) => spec.plan,
            Err(err) => {
                return self
                    .fail_unstarted(format!("The stored plan is unreadable: {err}"))
                    .await
            }
        };
        let ending = match (provider, steps) {
            (Some(Provider::Plan), Some(steps)) => {
                // The first step still to run begins with the move to `executing`.
                let first = self.recorded.len();
                let first = steps.get(first).map(|step| (first as i64, step.tool.as_str()));
                if !self.enter_executing(first).await? {
                    return self.stopped().await;
                }
                plan::run(self, &steps).await?
            }
            (Some(provider @ (Provider::Anthropic | Provider::Openai)), _) => {
                if !self.enter_executing(None).await? {
                    return self.stopped().await;
                }
                agentic::run(self, provider, job.api_key.as_deref(), job.conversation.clone()).await?
            }
            _ => return self.fail_unstarted(NO_PROVIDER.into()).await,
        };
        match ending {
            Ending::Stopped => self.stopped().await,
            Ending::Failed { error, violations } => self.fail(error, violations).await,
            Ending::Output(text) => {
                if self.execution.status == ExecStatus::Executing
                    && !self.advance(ExecStatus::Executing, ExecStatus::Verifying).await?
                {
                    return self.stopped().await;
                }
                final_output::finish(self, text).await
            }
        }
    }

    /// Appends `execution.thinking` for an LLM round if the run is still `executing`; `false`
    /// when it is not (cancelled).
    pub async fn announce_round(&mut self, round: usize) -> StoreResult<bool> {
        let event = self.event(
            "execution.thinking",
            json!({"status": "thinking", "task": self.execution.task, "mode": self.mode, "round": round}),
        );
        let change = Transition::to(ExecStatus::Executing, event);
        self.state
            .store
            .transition(&self.execution.id, &[ExecStatus::Executing], &change)
            .await
    }

    /// Saves an LLM transcript with the token counts so far.
    pub async fn save_conversation(&self, conversation: &crate::llm::Conversation) -> StoreResult<()> {
        let transcript = serde_json::to_value(conversation).expect("transcripts serialise to JSON");
        self.state
            .store
            .save_conversation(
                &self.execution.id,
                &transcript,
                self.tally.input_tokens,
                self.tally.output_tokens,
            )
            .await
    }

    /// The execution's context labels: every label its executed calls carried or produced.
    pub fn context_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        push_unique(
            &mut labels,
            self.tally.executed.iter().flat_map(|c| c.labels.iter().cloned()),
        );
        labels
    }

    /// Fails a run that cannot start, after `queued → planning` (the lifecycle of spec §9.2
    /// fails only runs a worker has taken up).
    async fn fail_unstarted(&mut self, error: String) -> StoreResult<()> {
        if self.execution.status == ExecStatus::Queued
            && !self.advance(ExecStatus::Queued, ExecStatus::Planning).await?
        {
            return self.stopped().await;
        }
        self.fail(error, None).await
    }

    /// `queued → planning → executing`, with a release stage admitted in between (the profile
    /// is written with the binding admission made), unless a resumed run is already there (or
    /// beyond). Without admission both steps are one write, which also begins the step `first`
    /// (index, tool) if given. `false` when the run must stop: cancelled, or refused (then
    /// recorded as failed).
    async fn enter_executing(&mut self, first: Option<(i64, &str)>) -> StoreResult<bool> {
        match self.execution.status {
            ExecStatus::Queued | ExecStatus::Planning => {
                // Workflow stages were admitted before their execution was created (spec §10.4).
                if self.profile.stage_role == StageRole::Release && self.execution.workflow_id.is_none() {
                    if self.execution.status == ExecStatus::Queued
                        && !self.advance(ExecStatus::Queued, ExecStatus::Planning).await?
                    {
                        return Ok(false);
                    }
                    let task = self.execution.task.clone();
                    let admitted = admit_stage(
                        self.state,
                        &self.user,
                        &self.preset,
                        &mut self.profile,
                        &task,
                        &self.execution.id,
                    )
                    .await?;
                    if let Err(refused) = admitted {
                        let error = match refused {
                            Refused::NoUpstream => {
                                "Release-stage execution is missing upstream reviewer executions".into()
                            }
                            Refused::Denied(error) => error,
                        };
                        self.fail(error, None).await?;
                        return Ok(false);
                    }
                }
                let from = self.execution.status;
                let planning =
                    (from == ExecStatus::Queued).then(|| (ExecStatus::Planning, self.phase_event("planning")));
                let mut change = Transition::to(ExecStatus::Executing, self.phase_event("executing"));
                change.through = planning;
                change.verification_profile = Some(serde_json::to_value(&self.profile).expect("profiles serialise"));
                change.begin = first.map(|(index, tool)| (self.worker.to_owned(), self.step_begin(index, tool)));
                let moved = self
                    .state
                    .store
                    .transition(&self.execution.id, &[from], &change)
                    .await?;
                if moved {
                    self.entered(&change);
                    // A token revoked before the run was prepared revoked its Guard; one revoked
                    // since is seen when the next step begins, like one revoked during this step.
                    self.begun = change
                        .begin
                        .map(|(_, begin)| (begin.step_index, StepStart::Started { token_revoked: false }));
                }
                Ok(moved)
            }
            ExecStatus::Executing | ExecStatus::Verifying => Ok(true),
            _ => Ok(false),
        }
    }

    /// A run that stops without a result. If the execution was cancelled its job is done;
    /// otherwise the lease was lost (even if the renewal has not noticed yet) and the job belongs
    /// to another worker now, so it is left alone.
    async fn stopped(&self) -> StoreResult<()> {
        if self.lease_lost() {
            return Ok(());
        }
        let current = self.state.store.execution(&self.execution.id).await?;
        if current.is_some_and(|e| e.status.is_terminal()) {
            self.state.store.finish_job(&self.execution.id).await?;
        }
        Ok(())
    }

    /// The `execution.executing_tool` write of the attempt at `index` of `tool`.
    fn step_begin(&self, index: i64, tool: &str) -> StepBegin {
        let event = self.event(
            "execution.executing_tool",
            json!({"status": "executing_tool", "task": self.execution.task, "mode": self.mode,
                   "step": index + 1, "tool": tool}),
        );
        StepBegin {
            step_index: index,
            attempt: self.attempt(index),
            event,
        }
    }

    /// The attempt number of the step at `index`: the next after a lost worker's, else the first.
    fn attempt(&self, index: i64) -> i64 {
        match self.inflight {
            Some((step, attempt)) if step == index => attempt + 1,
            _ => 1,
        }
    }

    /// One tool-call attempt at `step_index`: announced, gated, run and recorded. `None` when
    /// the run must stop before it (cancelled or lease lost).
    ///
    /// `next` is what follows when this call is neither denied nor fails; a known next move is
    /// written with this call's record.
    pub async fn step(&mut self, mut request: CallRequest<'_>, next: Next<'_>) -> StoreResult<Option<CallOutcome>> {
        if self.lease_lost() {
            return Ok(None);
        }
        let index = request.step_index;
        request.attempt = self.attempt(index);
        let start = match self.begun.take() {
            Some((step, start)) if step == index => start,
            _ => {
                let begin = self.step_begin(index, request.tool);
                self.state
                    .store
                    .begin_step(&self.execution.id, self.worker, &begin)
                    .await?
            }
        };
        match start {
            StepStart::Stopped => return Ok(None),
            StepStart::Started { token_revoked: true } => self.guard.revoke(),
            StepStart::Started { token_revoked: false } => {}
        }
        let sandbox = self.profile.sandbox_profile.clone();
        let outcome = run_call(&self.guard, &self.state.tools, &sandbox, request).await;
        self.tally.add(&outcome.record);
        let certificate = outcome
            .certificate
            .as_ref()
            .map(|c| (c.id.clone(), certificate_json(c)));
        let tool_name = outcome.record["tool_name"].clone();
        let event = match outcome.decision {
            Decision::Denied => self.event(
                "execution.tool_denied",
                json!({"status": "tool_denied", "task": self.execution.task, "mode": self.mode,
                       "step": index + 1, "tool": tool_name, "codes": outcome.codes(),
                       "violations": outcome.violations}),
            ),
            decision => self.event(
                "execution.tool_completed",
                json!({"status": "tool_completed", "task": self.execution.task, "mode": self.mode,
                       "step": index + 1, "tool": tool_name,
                       "decision": if decision == Decision::Redacted { "redacted" } else { "allowed" },
                       "cost_cents": outcome.cost_cents,
                       "certificate_id": outcome.certificate.as_ref().map(|c| c.id.clone()).unwrap_or_default()}),
            ),
        };
        let write = StepWrite {
            step_index: index,
            record: outcome.record.clone(),
            output: outcome.output.clone(),
            certificate,
            cost_cents: self.tally.cost_cents,
            current_step: self.tally.steps,
            certificate_ids: self.tally.certificate_ids.clone(),
            proof_properties: self.tally.proof_properties.clone(),
            spent_cents: self.guard.ledger().spent_cents(),
            input_tokens: self.tally.input_tokens,
            output_tokens: self.tally.output_tokens,
        };
        self.inflight = None;
        let continues = outcome.decision != Decision::Denied && !outcome.is_error;
        let then = match next {
            Next::Step(tool) if continues => Some(StepThen::Begin(self.step_begin(index + 1, tool))),
            Next::Verify if continues => Some(StepThen::Verify(self.phase_event("verifying"))),
            _ => None,
        };
        match self
            .state
            .store
            .record_step(&self.execution.id, self.worker, &write, &event, then.as_ref())
            .await?
        {
            StepRecorded::LeaseLost => {
                // The lease went to another worker, which runs this step again as its next attempt.
                self.lost.store(true, Ordering::Release);
                Ok(None)
            }
            StepRecorded::Recorded {
                then: done,
                token_revoked,
            } => {
                match then {
                    Some(StepThen::Begin(_)) => {
                        let start = if done {
                            StepStart::Started { token_revoked }
                        } else {
                            StepStart::Stopped
                        };
                        self.begun = Some((index + 1, start));
                    }
                    Some(StepThen::Verify(_)) if done => self.execution.status = ExecStatus::Verifying,
                    _ => {}
                }
                Ok(Some(outcome))
            }
        }
    }
}
