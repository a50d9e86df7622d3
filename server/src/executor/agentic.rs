//! The LLM providers' run loop (spec §9.3): each round asks the model for its next turn; every
//! call it proposes passes the gate and its result (or its `BLOCKED:` text) goes back to the
//! model; a turn without calls is the final answer.
//!
//! The transcript is saved after every round and every call is recorded as a step, so a
//! reclaimed job resumes mid-conversation: a call whose step was recorded is answered from the
//! record, never run again.

use std::time::Duration;

use certior::preset::Hook;
use certior::{ContentAction, TaskClass};
use serde_json::Value;

use super::gate::{CallOutcome, CallRequest, Decision};
use super::run::{Ending, Next, Run};
use crate::llm::{self, Conversation, Message, ModelRequest, ProposedCall};
use crate::providers::Provider;
use crate::store::{StoreResult, StoredStep};
use crate::strings::truncate_chars;

/// What a tool result may hand back to the model.
const MODEL_RESULT_CHARS: usize = 16_000;

/// A call's result as the model receives it.
struct CallAnswer {
    text: String,
    is_error: bool,
}

impl CallAnswer {
    fn of(outcome: &CallOutcome) -> CallAnswer {
        CallAnswer {
            text: outcome.model_text(),
            is_error: outcome.decision == Decision::Denied || outcome.is_error,
        }
    }

    /// The answer of a call recorded before a restart.
    fn recorded(step: &StoredStep) -> CallAnswer {
        let denied = step.record["decision"] == "denied";
        let is_error = step.record["is_error"] == true;
        let text = match (&step.output, denied) {
            (Some(output), false) => output.clone(),
            _ => step.record["tool_output"].as_str().unwrap_or_default().to_owned(),
        };
        CallAnswer {
            text,
            is_error: denied || is_error,
        }
    }
}

/// The task as the model first sees it: redacted by the preset's content plugins when the
/// profile is a public-safe summary.
fn opening_text(run: &Run<'_>) -> String {
    let task = run.execution.task.clone();
    if run.profile.task_class != TaskClass::PublicSafeSummary || !run.guard.has_plugins(Hook::Content) {
        return task;
    }
    match run.guard.check_final_output(&task).map(|v| v.action) {
        Some(ContentAction::Redact { text }) => text,
        _ => task,
    }
}

/// The calls of the last assistant turn that have no result yet, with the number of results
/// that precede them (which is the step index of the first).
fn pending_calls(conversation: &Conversation) -> (Vec<ProposedCall>, usize) {
    let results = conversation
        .messages
        .iter()
        .filter(|m| matches!(m, Message::ToolResult { .. }))
        .count();
    let Some(last_turn) = conversation
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::Assistant { .. }))
    else {
        return (Vec::new(), results);
    };
    let Message::Assistant { tool_calls, .. } = &conversation.messages[last_turn] else {
        return (Vec::new(), results);
    };
    let answered = conversation.messages.len() - last_turn - 1;
    (tool_calls.iter().skip(answered).cloned().collect(), results)
}

/// The final answer, when the transcript already ends with one.
fn final_answer(conversation: &Conversation) -> Option<String> {
    match conversation.messages.last() {
        Some(Message::Assistant { text, tool_calls }) if tool_calls.is_empty() => Some(text.clone()),
        _ => None,
    }
}

pub async fn run(
    run: &mut Run<'_>,
    provider: Provider,
    api_key: Option<&str>,
    saved: Option<Value>,
) -> StoreResult<Ending> {
    let state = run.state;
    // An unreadable transcript fails the run: starting over would ask the model again for
    // calls that were already recorded.
    let mut conversation: Conversation = match saved.map(serde_json::from_value).transpose() {
        Ok(saved) => saved.unwrap_or_else(|| Conversation::new(opening_text(run))),
        Err(err) => {
            return Ok(Ending::Failed {
                error: format!("The saved model transcript is unreadable: {err}"),
                violations: None,
            })
        }
    };
    let settings = &state.settings;
    let api_key = api_key.or_else(|| provider.server_key(&settings.providers));
    let model = run
        .execution
        .llm_model
        .clone()
        .unwrap_or_else(|| provider.default_model().to_owned());
    let system = settings
        .llm
        .system_prompt
        .clone()
        .unwrap_or_else(|| llm::DEFAULT_SYSTEM_PROMPT.to_owned());
    let tools = llm::offered_tools(&run.execution.permissions);
    let request = ModelRequest {
        provider,
        base_url: provider.base_url(&settings.providers),
        api_key,
        model: &model,
        system: &system,
        tools: &tools,
        max_tokens: settings.llm.max_tokens,
        timeout: Duration::from_secs(settings.llm.llm_timeout_seconds),
    };
    let max_rounds = settings.llm.max_tool_rounds as usize;
    let recorded = std::mem::take(&mut run.recorded);

    loop {
        if let Some(answer) = final_answer(&conversation) {
            return Ok(Ending::Output(answer));
        }
        let (pending, answered) = pending_calls(&conversation);
        for (offset, call) in pending.iter().enumerate() {
            let index = answered + offset;
            let answer = match recorded.get(index) {
                Some(step) => CallAnswer::recorded(step),
                None => {
                    let context = run.context_labels();
                    let outcome = run
                        .step(
                            CallRequest {
                                step_index: index as i64,
                                attempt: 1,
                                tool: &call.name,
                                args: &call.arguments,
                                extra_capabilities: &[],
                                cost_cents: 0,
                                input_labels: context,
                                output_label: None,
                            },
                            Next::Undecided,
                        )
                        .await?;
                    let Some(outcome) = outcome else {
                        return Ok(Ending::Stopped);
                    };
                    CallAnswer::of(&outcome)
                }
            };
            conversation.push_tool_result(
                &call.id,
                truncate_chars(&answer.text, MODEL_RESULT_CHARS),
                answer.is_error,
            );
        }
        if !pending.is_empty() {
            run.save_conversation(&conversation).await?;
        }

        let rounds = conversation
            .messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count();
        if rounds >= max_rounds {
            return Ok(Ending::Failed {
                error: format!("Exceeded max rounds ({max_rounds})"),
                violations: None,
            });
        }
        // Checkpoint before each provider round: a cancelled run asks the model nothing more.
        if run.lease_lost() || !run.announce_round(rounds + 1).await? {
            return Ok(Ending::Stopped);
        }
        let turn = match llm::complete(&state.http, &request, &conversation).await {
            Ok(turn) => turn,
            Err(failure) => {
                return Ok(Ending::Failed {
                    error: failure.execution_error(provider, &settings.providers),
                    violations: None,
                })
            }
        };
        run.tally.input_tokens += turn.input_tokens;
        run.tally.output_tokens += turn.output_tokens;
        conversation.push_turn(&turn);
        run.save_conversation(&conversation).await?;
    }
}
