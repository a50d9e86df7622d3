//! The Guard: one execution's tool-call gate (spec §7.5). `check` runs stages 2–7 in order and
//! stops at the first stage that denies; an allowed call reserves its cost and gets a signed
//! certificate. `check_output` is stage 8. Stage 1 (prepare: arguments, sandbox, required
//! capabilities) is the caller's, and its result is the [`ToolCall`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::authz::{self, InvokeContext, Principal, ToolResource};
use crate::budget::BudgetLedger;
use crate::canonical::{canonical_bytes, sha256_digest};
use crate::capability::covered;
use crate::cedar::BASE_PERMIT_PREFIX;
use crate::certificate::{Certificate, CertificateContent};
use crate::content::{
    serialize_tool_input, ContentAction, ContentGate, ContentRequest, ContentSubject, ContentVerdict,
};
use crate::decision_cache::{InvokeCache, InvokeScope};
use crate::preset::{Hook, Preset};
use crate::profile::VerificationProfile;
use crate::signing::SigningKeyring;
use crate::tools::BuiltinTool;
use crate::violation::{Phase, Severity, Violation};

/// The properties a tool-call certificate proves (spec §11.3).
pub const TOOL_CALL_PROPERTIES: [&str; 5] = [
    "capability_coverage: proven",
    "authorization: proven",
    "content_policy: proven",
    "information_flow: proven",
    "budget_sufficient: proven",
];

/// The capability token an execution runs under (spec §11.4), as the Guard needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrant {
    pub token_id: String,
    pub permissions: Vec<String>,
    /// Seconds since the epoch; `None` when the token does not expire.
    pub expires_at: Option<f64>,
}

/// One prepared tool call (the output of stage 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub step_index: u64,
    pub tool: String,
    pub args: Value,
    pub capabilities: Vec<String>,
    pub cost_cents: i64,
    pub destination: Option<String>,
    pub approval_categories: Vec<String>,
    /// The plan step's `input_labels` plus, for LLM providers, the execution's context labels.
    pub input_labels: Vec<String>,
    /// The plan step's `output_label`, a further destination.
    pub output_label: Option<String>,
    /// The serialised input for `tool_call` plugins (see [`crate::content::serialize_tool_input`]).
    pub input_text: String,
    /// Decision time, seconds since the epoch.
    pub now: f64,
}

impl ToolCall {
    /// A call of a built-in tool at step 0: cost, destination and approval categories are the
    /// tool's own (spec §7.6) and the input text is what `tool_call` plugins see (§6.9). Labels
    /// are left empty for the caller to add.
    pub fn builtin(tool: BuiltinTool, capabilities: Vec<String>, args: Value, now: f64) -> ToolCall {
        ToolCall {
            step_index: 0,
            tool: tool.name().into(),
            input_text: serialize_tool_input(tool.name(), &args),
            args,
            capabilities,
            cost_cents: tool.cost_cents(),
            destination: tool.destination().map(str::to_owned),
            approval_categories: tool.approval_categories().iter().map(|c| (*c).to_owned()).collect(),
            input_labels: Vec::new(),
            output_label: None,
            now,
        }
    }
}

/// The Guard's answer to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardDecision {
    Allow {
        certificate: Box<Certificate>,
        /// Labels found in the input by plugins (they join the call's flow labels).
        labels: Vec<String>,
        /// Non-blocking (`warn`) violations.
        warnings: Vec<Violation>,
    },
    Deny {
        violations: Vec<Violation>,
    },
}

/// An admitted call (stages 2–7 passed, cost reserved), before its certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// The non-built-in Cedar permits that applied, sorted.
    pub policy_ids: Vec<String>,
    /// Labels found in the input by plugins.
    pub labels: Vec<String>,
    /// Non-blocking (`warn`) violations.
    pub warnings: Vec<Violation>,
}

/// The output stage's answer (spec §7.5 stage 8, §6.9).
#[derive(Debug, Clone, PartialEq)]
pub enum OutputDecision {
    Pass {
        labels: Vec<String>,
        warnings: Vec<Violation>,
    },
    Redacted {
        text: String,
        labels: Vec<String>,
        violations: Vec<Violation>,
    },
    /// The output is withheld; the violations end with the summary code `output_blocked`.
    Blocked {
        labels: Vec<String>,
        violations: Vec<Violation>,
    },
}

/// Everything a Guard is built from.
pub struct GuardConfig {
    pub preset: Arc<Preset>,
    /// The composed profile (spec §8.5).
    pub profile: VerificationProfile,
    pub execution_id: String,
    pub principal: Principal,
    pub token: TokenGrant,
    pub ledger: Arc<BudgetLedger>,
    pub signer: Arc<SigningKeyring>,
    /// The content stage. `None` runs the preset's own plugins ([`Preset::content_gate`], loaded
    /// once per preset through the process-wide plugin host); `Some` replaces them, e.g. with a
    /// [`crate::WasmGate`] loaded through a host of the embedder's own limits.
    pub content: Option<Arc<dyn ContentGate>>,
}

/// The gate of one execution. Cheap to share: `check` takes `&self` and is thread-safe.
pub struct Guard {
    cfg: GuardConfig,
    revoked: AtomicBool,
    invoke_answers: Arc<InvokeCache>,
    plugin_digests: BTreeMap<String, String>,
}

fn deny(violations: Vec<Violation>) -> GuardDecision {
    GuardDecision::Deny { violations }
}

impl Guard {
    pub fn new(cfg: GuardConfig) -> Self {
        let plugin_digests = cfg.preset.plugin_digests();
        Self {
            invoke_answers: cfg.preset.invoke_cache(InvokeScope {
                user_id: cfg.principal.user_id.clone(),
                role: cfg.principal.role.clone(),
                task_class: cfg.profile.task_class.as_str().to_owned(),
                stage_role: cfg.profile.stage_role.as_str().to_owned(),
                permissions: cfg.token.permissions.clone(),
                required_approvals: cfg.profile.required_approvals.clone(),
            }),
            cfg,
            revoked: AtomicBool::new(false),
            plugin_digests,
        }
    }

    /// Marks the token revoked: every later call is denied `token_revoked`.
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }

    pub fn ledger(&self) -> &Arc<BudgetLedger> {
        &self.cfg.ledger
    }

    /// Returns a call's reservation after a tool error (spec §7.5, "Run").
    pub fn refund(&self, call: &ToolCall) {
        self.cfg.ledger.refund(call.cost_cents);
    }

    /// Stages 2–7 of spec §7.5, then the certificate.
    pub fn check(&self, call: &ToolCall) -> GuardDecision {
        let admission = match self.admit(call) {
            Ok(admission) => admission,
            Err(violations) => return deny(violations),
        };
        match self.certificate(call, admission.policy_ids) {
            Ok(certificate) => GuardDecision::Allow {
                certificate: Box::new(certificate),
                labels: admission.labels,
                warnings: admission.warnings,
            },
            Err(message) => {
                self.cfg.ledger.refund(call.cost_cents);
                deny(vec![Violation::block(
                    "certificate_error",
                    Phase::Budget,
                    message,
                    vec![],
                )])
            }
        }
    }

    /// Stages 2–7 of spec §7.5 without the certificate: the decision, and on an allow the cost
    /// reserved in the ledger. [`Guard::check`] is this plus the signed certificate; callers that
    /// admit a call without certifying it must [`Guard::refund`] it if it does not run.
    pub fn admit(&self, call: &ToolCall) -> Result<Admission, Vec<Violation>> {
        if let Some(v) = self.token_stage(call) {
            return Err(vec![v]);
        }
        let missing: Vec<Violation> = call
            .capabilities
            .iter()
            .filter(|c| !covered(c, &self.cfg.token.permissions))
            .map(|c| {
                Violation::block(
                    "missing_capability",
                    Phase::Capability,
                    format!("missing_capability: {c}"),
                    vec![],
                )
            })
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        let tool = ToolResource {
            name: &call.tool,
            capabilities: &call.capabilities,
            destination: call.destination.as_deref(),
            approval_categories: &call.approval_categories,
        };
        let policy_ids = self.authorization_stage(call, &tool)?;
        let (labels, warnings) = self.input_content_stage(call)?;
        let flow = self.flow_stage(call, &tool, &labels);
        if !flow.is_empty() {
            return Err(flow);
        }
        if let Err(e) = self.cfg.ledger.reserve(call.cost_cents) {
            return Err(vec![Violation::block(
                "budget_exceeded",
                Phase::Budget,
                e.to_string(),
                vec![],
            )]);
        }
        Ok(Admission {
            policy_ids,
            labels,
            warnings,
        })
    }

    fn token_stage(&self, call: &ToolCall) -> Option<Violation> {
        let token = &self.cfg.token;
        if token.expires_at.is_some_and(|t| t <= call.now) {
            return Some(Violation::block(
                "token_expired",
                Phase::Token,
                format!("token_expired: token {} has expired", token.token_id),
                vec![],
            ));
        }
        if self.revoked.load(Ordering::Acquire) {
            return Some(Violation::block(
                "token_revoked",
                Phase::Token,
                format!("token_revoked: token {} was revoked", token.token_id),
                vec![],
            ));
        }
        if self.cfg.ledger.remaining_cents() <= 0 {
            return Some(Violation::block(
                "token_budget_exhausted",
                Phase::Token,
                format!("token_budget_exhausted: token {} has no budget left", token.token_id),
                vec![],
            ));
        }
        None
    }

    /// Cedar `invoke`, once per required capability. Returns the non-base permits that applied.
    fn authorization_stage(&self, call: &ToolCall, tool: &ToolResource<'_>) -> Result<Vec<String>, Vec<Violation>> {
        let preset = &self.cfg.preset;
        let profile = &self.cfg.profile;
        let ctx = InvokeContext {
            task_class: profile.task_class.as_str(),
            stage_role: profile.stage_role.as_str(),
            permissions: &self.cfg.token.permissions,
            required_approvals: &profile.required_approvals,
            cost_cents: call.cost_cents,
            budget_remaining_cents: self.cfg.ledger.remaining_cents(),
        };
        let approval_id = format!("{}.approval", preset.key());
        let mut permits = Vec::new();
        let mut forbids: Vec<String> = Vec::new();
        let one = [None];
        let caps: Vec<Option<&str>> = call.capabilities.iter().map(|c| Some(c.as_str())).collect();
        for cap in if caps.is_empty() { &one[..] } else { &caps[..] } {
            let answer = self.invoke_answers.answer(tool, *cap, || {
                authz::invoke(preset, &self.cfg.principal, tool, &ctx, *cap)
            });
            let target = if answer.allowed { &mut permits } else { &mut forbids };
            for id in answer.policy_ids {
                if !target.contains(&id) {
                    target.push(id);
                }
            }
        }
        if forbids.is_empty() {
            permits.retain(|id| !id.starts_with(BASE_PERMIT_PREFIX));
            permits.sort();
            return Ok(permits);
        }
        forbids.sort();
        let mut violations = Vec::new();
        let others: Vec<String> = forbids.iter().filter(|id| **id != approval_id).cloned().collect();
        if !others.is_empty() {
            violations.push(Violation::block(
                "policy_denied",
                Phase::Authorization,
                format!("policy_denied: {}", others.join(", ")),
                others,
            ));
        }
        if forbids.contains(&approval_id) {
            let categories: Vec<&str> = call
                .approval_categories
                .iter()
                .filter(|c| profile.required_approvals.contains(c))
                .map(String::as_str)
                .collect();
            violations.push(Violation::block(
                "approval_required",
                Phase::Authorization,
                format!("Approval required for categories [{}]", categories.join(", ")),
                vec![approval_id],
            ));
        }
        Err(violations)
    }

    /// Asks the content gate about `hook`: the configured one, else the preset's own plugins. A
    /// gate that cannot be loaded fails closed with `plugin_error`.
    fn run_content(&self, hook: Hook, phase: Phase, subject: ContentSubject<'_>, text: &str) -> Option<ContentVerdict> {
        self.cfg.preset.plugins_for(hook).next()?;
        let request = ContentRequest {
            hook,
            phase,
            preset: &self.cfg.preset,
            profile: &self.cfg.profile,
            subject,
            text,
        };
        Some(match &self.cfg.content {
            Some(gate) => gate.evaluate(&request),
            None => match self.cfg.preset.content_gate() {
                Ok(gate) => gate.evaluate(&request),
                Err(message) => ContentVerdict {
                    action: ContentAction::Deny,
                    violations: vec![Violation::block(
                        "plugin_error",
                        phase,
                        format!("plugin_error: {message}"),
                        vec![],
                    )],
                    labels: Vec::new(),
                },
            },
        })
    }

    fn subject<'a>(&self, call: &'a ToolCall) -> ContentSubject<'a> {
        ContentSubject {
            tool: Some(&call.tool),
            params: &call.args,
            capabilities: &call.capabilities,
            destination: call.destination.as_deref(),
            stage: None,
            release: None,
        }
    }

    /// Stage 5: returns (labels found, warn violations).
    fn input_content_stage(&self, call: &ToolCall) -> Result<(Vec<String>, Vec<Violation>), Vec<Violation>> {
        let Some(verdict) = self.run_content(Hook::ToolCall, Phase::ToolInput, self.subject(call), &call.input_text)
        else {
            return Ok((Vec::new(), Vec::new()));
        };
        match verdict.action {
            ContentAction::Allow if !verdict.violations.iter().any(|v| v.severity == Severity::Block) => {
                Ok((verdict.labels, verdict.violations))
            }
            ContentAction::Redact { .. } => Err(vec![Violation::block(
                "plugin_error",
                Phase::ToolInput,
                "plugin_error: a plugin redacted a tool input; tool inputs are never redacted",
                vec![],
            )]),
            _ if verdict.violations.is_empty() => Err(vec![Violation::block(
                "plugin_error",
                Phase::ToolInput,
                "plugin_error: content denied without a violation",
                vec![],
            )]),
            _ => Err(verdict.violations),
        }
    }

    /// Stage 6: Cedar `flow` for every (label, destination) pair.
    fn flow_stage(&self, call: &ToolCall, tool: &ToolResource<'_>, found: &[String]) -> Vec<Violation> {
        let destinations: Vec<&str> = call
            .destination
            .iter()
            .chain(call.output_label.iter())
            .map(String::as_str)
            .collect();
        let mut labels: Vec<&str> = Vec::new();
        for l in call.input_labels.iter().chain(found) {
            if !labels.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                labels.push(l);
            }
        }
        let mut violations = Vec::new();
        for label in &labels {
            for destination in &destinations {
                let answer = authz::flow(&self.cfg.preset, &self.cfg.principal, tool, label, destination);
                if !answer.allowed {
                    violations.push(Violation::block(
                        "flow_violation",
                        Phase::Flow,
                        format!("flow_violation: {label} -> {destination}"),
                        answer.policy_ids,
                    ));
                }
            }
        }
        violations
    }

    /// `plan_hash` of a tool call (spec §11.2).
    pub fn plan_hash(&self, call: &ToolCall) -> Result<String, String> {
        /// The hashed plan, borrowed from the call (the arguments can be large).
        #[derive(serde::Serialize)]
        struct Plan<'a> {
            tool: &'a str,
            args: &'a Value,
            capabilities: Vec<&'a str>,
            cost_cents: i64,
            token_id: &'a str,
            preset_digest: &'a str,
        }
        let mut capabilities: Vec<&str> = call.capabilities.iter().map(String::as_str).collect();
        capabilities.sort_unstable();
        let plan = Plan {
            tool: &call.tool,
            args: &call.args,
            capabilities,
            cost_cents: call.cost_cents,
            token_id: &self.cfg.token.token_id,
            preset_digest: self.cfg.preset.digest(),
        };
        canonical_bytes(&plan)
            .map(|b| sha256_digest(&b))
            .map_err(|e| e.to_string())
    }

    fn certificate(&self, call: &ToolCall, policy_ids: Vec<String>) -> Result<Certificate, String> {
        let preset = &self.cfg.preset;
        self.cfg
            .signer
            .issue(CertificateContent {
                kind: "proof_certificate".into(),
                theorem: "action_safe".into(),
                subject: json!({
                    "execution_id": self.cfg.execution_id,
                    "step_index": call.step_index,
                    "tool": call.tool,
                    "user_id": self.cfg.principal.user_id,
                }),
                plan_hash: self.plan_hash(call)?,
                verified_properties: TOOL_CALL_PROPERTIES.iter().map(|s| (*s).to_owned()).collect(),
                policy_ids,
                prover: "guard".into(),
                preset_key: preset.key().to_owned(),
                preset_digest: preset.digest().to_owned(),
                plugin_digests: self.plugin_digests.clone(),
                issued_at: call.now,
                retention_days: preset.manifest().retention_days,
            })
            .map_err(|e| e.to_string())
    }

    /// Whether the preset has plugins for `hook` (a content phase without them does not run).
    pub fn has_plugins(&self, hook: Hook) -> bool {
        self.cfg.preset.plugins_for(hook).next().is_some()
    }

    /// The `content` hook in phase `final_output` (spec §9.4 step 1); `None` when the preset has
    /// no content plugins.
    pub fn check_final_output(&self, text: &str) -> Option<ContentVerdict> {
        let params = Value::Null;
        let subject = ContentSubject {
            tool: None,
            params: &params,
            capabilities: &[],
            destination: None,
            stage: None,
            release: None,
        };
        self.run_content(Hook::Content, Phase::FinalOutput, subject, text)
    }

    /// The final-output certificate (spec §11.2): `plan_hash` over `task ‖ "\n" ‖ output`, the
    /// proofs that hold as its properties.
    pub fn final_certificate(
        &self,
        task: &str,
        output: &str,
        properties: Vec<String>,
        now: f64,
    ) -> Result<Certificate, String> {
        let preset = &self.cfg.preset;
        self.cfg
            .signer
            .issue(CertificateContent {
                kind: "final_output_certificate".into(),
                theorem: "final_output_safe".into(),
                subject: json!({
                    "execution_id": self.cfg.execution_id,
                    "user_id": self.cfg.principal.user_id,
                }),
                plan_hash: sha256_digest(format!("{task}\n{output}").as_bytes()),
                verified_properties: properties,
                policy_ids: Vec::new(),
                prover: "runtime".into(),
                preset_key: preset.key().to_owned(),
                preset_digest: preset.digest().to_owned(),
                plugin_digests: self.plugin_digests.clone(),
                issued_at: now,
                retention_days: preset.manifest().retention_days,
            })
            .map_err(|e| e.to_string())
    }

    /// Stage 8: the `content` hook over a tool's output. A denial withholds the output (the cost
    /// stays debited); a redaction replaces it.
    pub fn check_output(&self, call: &ToolCall, output: &str) -> OutputDecision {
        let Some(verdict) = self.run_content(Hook::Content, Phase::ToolOutput, self.subject(call), output) else {
            return OutputDecision::Pass {
                labels: Vec::new(),
                warnings: Vec::new(),
            };
        };
        let blocked = |mut violations: Vec<Violation>, labels| {
            violations.push(Violation::block(
                "output_blocked",
                Phase::ToolOutput,
                "output_blocked: the tool output was withheld",
                vec![],
            ));
            OutputDecision::Blocked { labels, violations }
        };
        match verdict.action {
            ContentAction::Deny => blocked(verdict.violations, verdict.labels),
            ContentAction::Allow if verdict.violations.iter().any(|v| v.severity == Severity::Block) => {
                blocked(verdict.violations, verdict.labels)
            }
            ContentAction::Allow => OutputDecision::Pass {
                labels: verdict.labels,
                warnings: verdict.violations,
            },
            ContentAction::Redact { text } => OutputDecision::Redacted {
                text,
                labels: verdict.labels,
                violations: verdict.violations,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{verify_document, TrustedKeys};
    use crate::preset::{load_bundle, PresetRegistry, PresetSource};
    use crate::profile::{build_profile, compose_with_preset, ProfileRequest};

    fn guard_for(
        preset: Arc<Preset>,
        permissions: &[&str],
        budget: i64,
        role: &str,
        content: Option<Arc<dyn ContentGate>>,
    ) -> Guard {
        let profile = compose_with_preset(
            &build_profile(&ProfileRequest {
                text: "Patient intake notes",
                ..Default::default()
            }),
            &preset,
        );
        Guard::new(GuardConfig {
            preset,
            profile,
            execution_id: "exec-1".into(),
            principal: Principal {
                user_id: "user-1".into(),
                role: role.into(),
            },
            token: TokenGrant {
                token_id: "tok-1".into(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
                expires_at: Some(10_000.0),
            },
            ledger: Arc::new(BudgetLedger::new(budget, 0)),
            signer: Arc::new(SigningKeyring::from_seed([5u8; 32], 0.0)),
            content,
        })
    }

    fn hipaa() -> Arc<Preset> {
        PresetRegistry::builtin().get("hipaa").unwrap()
    }

    fn call(tool: BuiltinTool, capabilities: &[&str], args: Value) -> ToolCall {
        ToolCall::builtin(
            tool,
            capabilities.iter().map(|c| (*c).to_owned()).collect(),
            args,
            1_000.0,
        )
    }

    fn codes(decision: &GuardDecision) -> Vec<String> {
        match decision {
            GuardDecision::Allow { .. } => vec![],
            GuardDecision::Deny { violations } => violations.iter().map(|v| v.code.clone()).collect(),
        }
    }

    #[test]
    fn allowed_call_debits_and_is_certified() {
        let guard = guard_for(hipaa(), &["filesystem:read"], 10, "admin", None);
        let c = call(
            BuiltinTool::FileRead,
            &["filesystem:read"],
            json!({"path": "notes/a.txt"}),
        );
        let GuardDecision::Allow { certificate, .. } = guard.check(&c) else {
            panic!("denied")
        };
        assert_eq!(guard.ledger().remaining_cents(), 9);
        assert_eq!(certificate.preset_key, "hipaa");
        assert_eq!(certificate.preset_digest, hipaa().digest());
        assert_eq!(certificate.verified_properties.len(), 5);
        assert!(certificate.policy_ids.is_empty(), "only the base permit applied");
        assert_eq!(certificate.plan_hash, guard.plan_hash(&c).unwrap());
        assert_eq!(certificate.expires_at, 1_000.0 + 2190.0 * 86_400.0);
        let keys = TrustedKeys::from_entries(guard.cfg.signer.public_keys()).unwrap();
        assert!(verify_document(&serde_json::to_value(&*certificate).unwrap(), &keys, 1_001.0).valid);
    }

    #[test]
    fn token_stage_comes_first() {
        let guard = guard_for(hipaa(), &["filesystem:read"], 10, "admin", None);
        let mut c = call(BuiltinTool::FileRead, &["network:http:read"], json!({}));
        c.now = 20_000.0;
        assert_eq!(codes(&guard.check(&c)), ["token_expired"]);
        c.now = 1_000.0;
        guard.revoke();
        assert_eq!(codes(&guard.check(&c)), ["token_revoked"]);
        let broke = guard_for(hipaa(), &["filesystem:read"], 0, "admin", None);
        assert_eq!(codes(&broke.check(&c)), ["token_budget_exhausted"]);
    }

    #[test]
    fn missing_capabilities_one_violation_each() {
        let guard = guard_for(hipaa(), &["filesystem:read"], 10, "admin", None);
        let c = call(
            BuiltinTool::DbQuery,
            &["database:read:patient_data", "database:read:ledger"],
            json!({}),
        );
        let GuardDecision::Deny { violations } = guard.check(&c) else {
            panic!("allowed")
        };
        let messages: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "missing_capability: database:read:patient_data",
                "missing_capability: database:read:ledger"
            ]
        );
        assert_eq!(guard.ledger().remaining_cents(), 10, "denied calls cost nothing");
    }

    #[test]
    fn cedar_denials_carry_policy_ids() {
        // A token wider than the preset (e.g. issued before a preset override) still meets the
        // compiled ceiling and forbidden rules.
        let guard = guard_for(hipaa(), &["*"], 10, "admin", None);
        let c = call(
            BuiltinTool::HttpGet,
            &["network:smtp:send:external"],
            json!({"url": "https://x"}),
        );
        let GuardDecision::Deny { violations } = guard.check(&c) else {
            panic!("allowed")
        };
        assert_eq!(violations[0].code, "policy_denied");
        assert_eq!(violations[0].policy_ids, ["hipaa.ceiling", "hipaa.forbidden.0"]);
        assert_eq!(violations[1].code, "approval_required");
        assert_eq!(violations[1].policy_ids, ["hipaa.approval"]);
        assert_eq!(
            violations[1].message,
            "Approval required for categories [send_external_communication]"
        );

        let viewer = guard_for(hipaa(), &["*"], 10, "viewer", None);
        let c = call(BuiltinTool::FileRead, &["filesystem:read"], json!({}));
        let GuardDecision::Deny { violations } = viewer.check(&c) else {
            panic!("allowed")
        };
        assert_eq!(violations[0].policy_ids, ["role.read_only"]);
    }

    #[test]
    fn internal_writes_need_no_approval() {
        let guard = guard_for(hipaa(), &["filesystem:write:reports"], 10, "admin", None);
        let c = call(
            BuiltinTool::FileWrite,
            &["filesystem:write:reports"],
            json!({"path": "reports/a", "content": "x"}),
        );
        assert!(matches!(guard.check(&c), GuardDecision::Allow { .. }));
    }

    #[test]
    fn phi_to_a_forbidden_destination_is_a_flow_violation() {
        let guard = guard_for(hipaa(), &["filesystem:write:reports"], 10, "admin", None);
        let mut c = call(
            BuiltinTool::FileWrite,
            &["filesystem:write:reports"],
            json!({"path": "reports/a", "content": "x"}),
        );
        c.input_labels = vec!["phi".into()];
        c.output_label = Some("public".into());
        let GuardDecision::Deny { violations } = guard.check(&c) else {
            panic!("allowed")
        };
        assert_eq!(violations.len(), 1, "internal is allowed, public is not");
        assert_eq!(violations[0].code, "flow_violation");
        assert_eq!(violations[0].message, "flow_violation: phi -> public");
        assert_eq!(violations[0].policy_ids, ["hipaa.flow.0"]);
        assert_eq!(guard.ledger().remaining_cents(), 10);
        c.output_label = Some("covered_entity".into());
        assert!(matches!(guard.check(&c), GuardDecision::Allow { .. }));
    }

    #[test]
    fn budget_is_the_last_stage() {
        let guard = guard_for(hipaa(), &["filesystem:read"], 1, "admin", None);
        let c = call(BuiltinTool::FileRead, &["filesystem:read"], json!({}));
        assert!(matches!(guard.check(&c), GuardDecision::Allow { .. }));
        assert_eq!(codes(&guard.check(&c)), ["token_budget_exhausted"]);
        let guard = guard_for(hipaa(), &["network:http:read"], 1, "admin", None);
        let mut c = call(BuiltinTool::FileRead, &["filesystem:read"], json!({}));
        c.capabilities.clear();
        c.cost_cents = 2;
        let GuardDecision::Deny { violations } = guard.check(&c) else {
            panic!("allowed")
        };
        assert_eq!(violations[0].message, "budget_exceeded: need 2, have 1");
        guard.ledger().reserve(1).unwrap();
        guard.refund(&c);
        assert_eq!(guard.ledger().remaining_cents(), 1);
    }

    struct DenyAll;
    impl ContentGate for DenyAll {
        fn evaluate(&self, req: &ContentRequest<'_>) -> ContentVerdict {
            let mut v = Violation::block("phi_keyword", req.phase, "Blocked keyword: diagnosis", vec![]);
            v.plugin = Some("keywords".into());
            ContentVerdict {
                action: ContentAction::Deny,
                violations: vec![v],
                labels: vec!["PHI".into()],
            }
        }
    }

    /// A minimal uploaded preset `tiny`, with `plugins` appended to its manifest.
    fn preset_t(plugins: &str, files: &[(&str, Vec<u8>)]) -> Arc<Preset> {
        let toml = format!(
            "schema_version = 1\nkey = \"tiny\"\nname = \"Tiny\"\nretention_days = 1\n[permissions]\ndefault = [\"filesystem:read\"]\n{plugins}"
        );
        let mut bundle = BTreeMap::from([
            ("preset.toml".to_owned(), toml.into_bytes()),
            ("policy.cedar".to_owned(), Vec::new()),
        ]);
        bundle.extend(files.iter().map(|(name, bytes)| ((*name).to_owned(), bytes.clone())));
        Arc::new(load_bundle(&bundle, "t", PresetSource::Uploaded).unwrap())
    }

    /// A preset whose one plugin (`tool_call` and `content`) allows everything.
    fn with_plugin() -> Arc<Preset> {
        let answer = r#"{\"action\":\"allow\"}"#;
        let module = wat::parse_str(format!(
            r#"(module (memory (export "memory") 1) (data (i32.const 1024) "{answer}")
                 (func (export "certior_abi_version") (result i32) i32.const 1)
                 (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
                 (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const {}))"#,
            (1024u64 << 32) | 18
        ))
        .unwrap();
        let entry = format!(
            "[[plugins]]\nname = \"allow\"\nfile = \"a.wasm\"\nsha256 = \"{}\"\nhooks = [\"tool_call\", \"content\"]\n",
            crate::canonical::sha256_hex(&module)
        );
        preset_t(&entry, &[("a.wasm", module)])
    }

    #[test]
    fn a_configured_gate_replaces_the_presets_plugins_and_presets_without_plugins_have_no_content_stage() {
        let c = call(BuiltinTool::FileRead, &["filesystem:read"], json!({"path": "a"}));
        let own = guard_for(with_plugin(), &["filesystem:read"], 10, "admin", None);
        assert!(
            matches!(own.check(&c), GuardDecision::Allow { .. }),
            "the preset's own plugin allows"
        );
        let gated = guard_for(
            with_plugin(),
            &["filesystem:read"],
            10,
            "admin",
            Some(Arc::new(DenyAll)),
        );
        assert_eq!(codes(&gated.check(&c)), ["phi_keyword"]);
        let OutputDecision::Blocked { violations, labels } = gated.check_output(&c, "diagnosis") else {
            panic!("passed")
        };
        assert_eq!(violations.last().unwrap().code, "output_blocked");
        assert_eq!(labels, ["PHI"]);
        let plain = guard_for(
            preset_t("", &[]),
            &["filesystem:read"],
            10,
            "admin",
            Some(Arc::new(DenyAll)),
        );
        assert!(
            matches!(plain.check(&c), GuardDecision::Allow { .. }),
            "no plugins, no content stage"
        );
    }

    #[test]
    fn concurrent_checks_never_overspend() {
        let guard = Arc::new(guard_for(hipaa(), &["filesystem:read"], 50, "admin", None));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = guard.clone();
                std::thread::spawn(move || {
                    let c = call(BuiltinTool::FileRead, &["filesystem:read"], json!({}));
                    (0..20)
                        .filter(|_| matches!(g.check(&c), GuardDecision::Allow { .. }))
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(allowed, 50);
        assert_eq!(guard.ledger().remaining_cents(), 0);
    }
}
