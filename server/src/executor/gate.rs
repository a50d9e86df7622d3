//! One tool-call attempt through the whole gate of spec §7.5: prepare (the tool sandbox), the
//! Guard's stages 2–7 and certificate, the tool run, and the output stage. The result is the
//! attempt's `ToolCallRecord` (§9.5) plus what the provider loop needs next.

use std::time::Instant;

use certior::guard::{GuardDecision, OutputDecision};
use certior::tools::BuiltinTool;
use certior::{Certificate, Guard, Phase, Severity, ToolCall, Violation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::clock::now;
use crate::strings::truncate_chars;
use crate::tools::Tools;

/// The part of a tool output a record keeps (the hash covers all of it).
const RECORD_OUTPUT_CHARS: usize = 500;

/// A proposed call and the plan step's additions.
pub struct CallRequest<'a> {
    pub step_index: i64,
    pub attempt: i64,
    pub tool: &'a str,
    pub args: &'a Value,
    /// Added to the tool's own required capabilities.
    pub extra_capabilities: &'a [String],
    /// The step's cost is `max(tool cost, cost_cents)`.
    pub cost_cents: i64,
    /// The plan step's labels plus, for LLM providers, the execution's context labels.
    pub input_labels: Vec<String>,
    pub output_label: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Redacted,
    Denied,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Redacted => "redacted",
            Decision::Denied => "denied",
        }
    }
}

/// What one attempt produced.
pub struct CallOutcome {
    /// The `ToolCallRecord`.
    pub record: Value,
    pub decision: Decision,
    /// The full effective output, for a call that ran without being withheld.
    pub output: Option<String>,
    pub is_error: bool,
    pub certificate: Option<Certificate>,
    /// Cents debited (0 when denied before running or on a tool error).
    pub cost_cents: i64,
    pub violations: Vec<Violation>,
}

/// De-duplicated codes of the blocking violations, in order.
pub fn blocking_codes(violations: &[Violation]) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for v in violations.iter().filter(|v| v.severity == Severity::Block) {
        if !codes.contains(&v.code) {
            codes.push(v.code.clone());
        }
    }
    codes
}

impl CallOutcome {
    pub fn codes(&self) -> Vec<String> {
        blocking_codes(&self.violations)
    }

    /// `BLOCKED: <codes>: <first message>`: what a denied call's record and model see.
    pub fn blocked_text(&self) -> String {
        let first = self
            .violations
            .iter()
            .find(|v| v.severity == Severity::Block)
            .map(|v| v.message.as_str())
            .unwrap_or_default();
        format!("BLOCKED: {}: {first}", self.codes().join(", "))
    }

    /// What the provider sees: the effective output, the tool error, or the block.
    pub fn model_text(&self) -> String {
        match &self.output {
            Some(text) => text.clone(),
            None => self.blocked_text(),
        }
    }
}

/// `{phase, action, clean, violation_count, pii_count, secrets_count, redacted, duration_ms}`.
pub fn scan(phase: &str, action: &str, violations: &[Violation], redacted: bool, duration_ms: f64) -> Value {
    let count = |code: &str| violations.iter().filter(|v| v.code == code).count();
    json!({
        "phase": phase,
        "action": action,
        "clean": violations.is_empty(),
        "violation_count": violations.len(),
        "pii_count": count("pii_detected"),
        "secrets_count": count("secret_detected"),
        "redacted": redacted,
        "duration_ms": duration_ms,
    })
}

fn round2(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

pub fn elapsed_ms(since: Instant) -> f64 {
    round2(since.elapsed().as_secs_f64() * 1000.0)
}

/// `restricted` with MNPI or secret-derived (`sensitive`) labels, `sensitive` with PHI or
/// PRIVILEGED, else `internal` (spec §9.5).
fn effective_level(labels: &[String]) -> &'static str {
    let has = |name: &str| labels.iter().any(|l| l.eq_ignore_ascii_case(name));
    if has("MNPI") || has("sensitive") {
        "restricted"
    } else if has("PHI") || has("PRIVILEGED") {
        "sensitive"
    } else {
        "internal"
    }
}

/// Appends the items not already present (labels compare case-insensitively).
pub fn push_unique(into: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !into.iter().any(|x| x.eq_ignore_ascii_case(&item)) {
            into.push(item);
        }
    }
}

/// Everything the record says beyond the outcome.
struct Facts {
    tool_name: String,
    labels: Vec<String>,
    destinations: Vec<String>,
    flow_blocked: bool,
    approval_categories: Vec<String>,
    approval_denied: bool,
    input_scan: Value,
    output_scan: Value,
    metadata: Value,
    policy_ids: Vec<String>,
    started_at: f64,
    clock: Instant,
}

fn record(req: &CallRequest<'_>, facts: Facts, outcome: &CallOutcome, shown_output: &str) -> Value {
    let certificate = outcome.certificate.as_ref();
    json!({
        "step_index": req.step_index,
        "tool_name": facts.tool_name,
        "tool_input": req.args,
        "tool_output": truncate_chars(shown_output, RECORD_OUTPUT_CHARS),
        "output_sha256": outcome.output.as_ref().map(|o| hex::encode(Sha256::digest(o.as_bytes()))),
        "is_error": outcome.is_error,
        "decision": outcome.decision.as_str(),
        "violations": outcome.violations,
        "policy_ids": facts.policy_ids,
        "certificate_id": certificate.map(|c| c.id.clone()).unwrap_or_default(),
        "verified": certificate.is_some(),
        "verification_properties": certificate.map(|c| c.verified_properties.clone()).unwrap_or_default(),
        "verification_certificate": certificate.map(|c| json!({
            "id": c.id,
            "theorem": c.theorem,
            "plan_hash": c.plan_hash,
            "verified_properties": c.verified_properties,
            "prover": c.prover,
            "issued_at": c.issued_at,
        })),
        "cost_cents": outcome.cost_cents,
        "duration_ms": elapsed_ms(facts.clock),
        "content_scan": {"input_scan": facts.input_scan, "output_scan": facts.output_scan},
        "ifc": {
            "labels": facts.labels,
            "destinations": facts.destinations,
            "effective_level": effective_level(&facts.labels),
            "flow_blocked": facts.flow_blocked,
        },
        "approval": {
            "verdict": if facts.approval_denied { "denied" } else { "not_required" },
            "categories": facts.approval_categories,
        },
        "tool_metadata": facts.metadata,
        "timestamp": facts.started_at,
        "attempt": req.attempt,
    })
}

fn denied(violations: Vec<Violation>) -> CallOutcome {
    CallOutcome {
        record: Value::Null,
        decision: Decision::Denied,
        output: None,
        is_error: false,
        certificate: None,
        cost_cents: 0,
        violations,
    }
}

/// Runs one attempt. Never fails: every problem is a denial or a tool error in the record.
pub async fn run_call(guard: &Guard, tools: &Tools, sandbox_profile: &str, req: CallRequest<'_>) -> CallOutcome {
    let clock = Instant::now();
    let started_at = now();
    let tool = BuiltinTool::parse(req.tool);
    let mut facts = Facts {
        tool_name: tool.map(|t| t.name().to_owned()).unwrap_or_else(|| req.tool.to_owned()),
        labels: Vec::new(),
        destinations: tool
            .and_then(|t| t.destination())
            .map(str::to_owned)
            .into_iter()
            .chain(req.output_label.map(str::to_owned))
            .collect(),
        flow_blocked: false,
        approval_categories: Vec::new(),
        approval_denied: false,
        input_scan: Value::Null,
        output_scan: Value::Null,
        metadata: Value::Null,
        policy_ids: Vec::new(),
        started_at,
        clock,
    };
    push_unique(&mut facts.labels, req.input_labels.iter().cloned());

    // Stage 1: prepare.
    let prepared = match tools.prepare(req.tool, req.args, sandbox_profile) {
        Ok(prepared) => prepared,
        Err(violation) => {
            let mut outcome = denied(vec![violation]);
            let shown = outcome.blocked_text();
            outcome.record = record(&req, facts, &outcome, &shown);
            return outcome;
        }
    };
    let mut capabilities = prepared.capabilities.clone();
    push_unique(&mut capabilities, req.extra_capabilities.iter().cloned());
    push_unique(&mut facts.labels, prepared.labels.iter().cloned());
    let mut call = ToolCall::builtin(prepared.tool, capabilities, req.args.clone(), started_at);
    call.step_index = req.step_index as u64;
    call.cost_cents = call.cost_cents.max(req.cost_cents);
    call.input_labels = facts.labels.clone();
    call.output_label = req.output_label.map(str::to_owned);
    facts.approval_categories = call.approval_categories.clone();

    // Stages 2–7 and the certificate.
    let has_input_plugins = guard.has_plugins(certior::preset::Hook::ToolCall);
    let checked = Instant::now();
    let decision = guard.check(&call);
    let check_ms = elapsed_ms(checked);
    let (certificate, warnings) = match decision {
        GuardDecision::Deny { violations } => {
            let phase_of = |phase: Phase| violations.iter().any(|v| v.phase == phase);
            let reached_input =
                !(phase_of(Phase::Token) || phase_of(Phase::Capability) || phase_of(Phase::Authorization));
            if has_input_plugins && reached_input {
                let input: Vec<Violation> = violations
                    .iter()
                    .filter(|v| v.phase == Phase::ToolInput)
                    .cloned()
                    .collect();
                let action = if input.is_empty() { "pass" } else { "block" };
                facts.input_scan = scan("tool_input", action, &input, false, check_ms);
            }
            facts.flow_blocked = phase_of(Phase::Flow);
            facts.approval_denied = violations.iter().any(|v| v.code == "approval_required");
            facts.policy_ids = violations.iter().flat_map(|v| v.policy_ids.clone()).collect();
            let mut outcome = denied(violations);
            let shown = outcome.blocked_text();
            outcome.record = record(&req, facts, &outcome, &shown);
            return outcome;
        }
        GuardDecision::Allow {
            certificate,
            labels,
            warnings,
        } => {
            if has_input_plugins {
                let action = if warnings.is_empty() { "pass" } else { "warn" };
                facts.input_scan = scan("tool_input", action, &warnings, false, check_ms);
            }
            push_unique(&mut facts.labels, labels);
            facts.policy_ids = certificate.policy_ids.clone();
            (certificate, warnings)
        }
    };

    // Run.
    let ran = tools.run(&prepared).await;
    facts.metadata = ran.metadata.unwrap_or(Value::Null);
    if ran.is_error {
        guard.refund(&call);
        let outcome = CallOutcome {
            record: Value::Null,
            decision: Decision::Allowed,
            output: Some(ran.text.clone()),
            is_error: true,
            certificate: Some(*certificate),
            cost_cents: 0,
            violations: warnings,
        };
        let record = record(&req, facts, &outcome, &ran.text);
        return CallOutcome { record, ..outcome };
    }

    // Stage 8: the output.
    let has_output_plugins = guard.has_plugins(certior::preset::Hook::Content);
    let scanned = Instant::now();
    let judged = guard.check_output(&call, &ran.text);
    let scan_ms = elapsed_ms(scanned);
    let mut violations = warnings;
    let (decision, output, output_labels) = match judged {
        OutputDecision::Pass { labels, warnings } => {
            if has_output_plugins {
                let action = if warnings.is_empty() { "pass" } else { "warn" };
                facts.output_scan = scan("tool_output", action, &warnings, false, scan_ms);
            }
            violations.extend(warnings);
            (Decision::Allowed, Some(ran.text), labels)
        }
        OutputDecision::Redacted {
            text,
            labels,
            violations: found,
        } => {
            facts.output_scan = scan("tool_output", "redact", &found, true, scan_ms);
            violations.extend(found);
            (Decision::Redacted, Some(text), labels)
        }
        OutputDecision::Blocked {
            labels,
            violations: found,
        } => {
            let scanned: Vec<Violation> = found.iter().filter(|v| v.code != "output_blocked").cloned().collect();
            facts.output_scan = scan("tool_output", "block", &scanned, false, scan_ms);
            violations.extend(found);
            (Decision::Denied, None, labels)
        }
    };
    push_unique(&mut facts.labels, output_labels);
    let outcome = CallOutcome {
        record: Value::Null,
        decision,
        output,
        is_error: false,
        certificate: Some(*certificate),
        cost_cents: call.cost_cents,
        violations,
    };
    let shown = outcome.model_text();
    let record = record(&req, facts, &outcome, &shown);
    CallOutcome { record, ..outcome }
}
