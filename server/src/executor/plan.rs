//! The `plan` provider (spec §9.3): the request's steps run in order through the gate. A denied
//! step or a tool error fails the run and nothing after it runs; the output is the effective
//! output of the last step. A resumed run skips the steps already recorded.

use certior::tools::BuiltinTool;
use certior::Violation;
use serde_json::Value;

use super::gate::{blocking_codes, CallRequest, Decision};
use super::run::{Ending, Next, Run};
use crate::routes::tasks::PlanStep;
use crate::store::StoreResult;

/// How one step ended, whether it ran now or was recorded before a restart.
struct StepResult {
    denied: bool,
    is_error: bool,
    violations: Vec<Violation>,
    output: String,
}

pub async fn run(run: &mut Run<'_>, steps: &[PlanStep]) -> StoreResult<Ending> {
    let recorded = std::mem::take(&mut run.recorded);
    let mut output = String::new();
    for (index, step) in steps.iter().enumerate() {
        let result = match recorded.get(index) {
            // Recorded before a restart: never re-run, but a recorded failure still ends the run.
            Some(done) => StepResult {
                denied: done.record["decision"] == "denied",
                is_error: done.record["is_error"] == Value::Bool(true),
                violations: serde_json::from_value(done.record["violations"].clone()).unwrap_or_default(),
                output: done.output.clone().unwrap_or_default(),
            },
            None => {
                let args = Value::Object(step.args.clone());
                let request = CallRequest {
                    step_index: index as i64,
                    attempt: 1,
                    tool: &step.tool,
                    args: &args,
                    extra_capabilities: &step.required_capabilities,
                    cost_cents: step.cost_cents,
                    input_labels: step.input_labels.clone(),
                    output_label: step.output_label.as_deref(),
                };
                let next = match steps.get(index + 1) {
                    Some(next) => Next::Step(&next.tool),
                    None => Next::Verify,
                };
                let Some(outcome) = run.step(request, next).await? else {
                    return Ok(Ending::Stopped);
                };
                StepResult {
                    denied: outcome.decision == Decision::Denied,
                    is_error: outcome.is_error,
                    violations: outcome.violations,
                    output: outcome.output.unwrap_or_default(),
                }
            }
        };
        let tool: &str = match BuiltinTool::parse(&step.tool) {
            Some(builtin) => builtin.name(),
            None => &step.tool,
        };
        // The §9.2 texts; `<i>` is the 0-based step index (spec §16.6).
        if result.denied {
            let codes = blocking_codes(&result.violations).join(", ");
            let error = format!("Plan step {index} ({tool}) denied: {codes}");
            return Ok(Ending::Failed {
                error,
                violations: None,
            });
        }
        if result.is_error {
            let error = format!("Plan step {index} ({tool}) failed: {}", result.output);
            return Ok(Ending::Failed {
                error,
                violations: None,
            });
        }
        output = result.output;
    }
    Ok(Ending::Output(output))
}
