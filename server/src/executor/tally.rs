//! An execution's running totals and the facts its final proofs read. Rebuilt from the stored
//! step records when a job is resumed, so a resumed run counts exactly what was recorded.

use certior::tools::file_write_capability;
use serde_json::Value;

use crate::store::{ExecutionRecord, StoredStep};
use crate::strings::string_array;

/// A call whose tool ran: allowed or redacted (tool errors included), or withheld by the output
/// stage.
#[derive(Debug, Clone)]
pub struct ExecutedCall {
    /// It holds a tool-call certificate (spec §11.3 `capability_coverage`).
    pub certified: bool,
    /// Labels the call carried or found in its output.
    pub labels: Vec<String>,
    pub destinations: Vec<String>,
    /// `filesystem:write:<area>` for a `file_write`.
    pub write_capability: Option<String>,
    /// The output phase ran plugins over this call's output.
    pub output_scanned: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Attempts so far, allowed or denied (`current_step`).
    pub steps: i64,
    pub cost_cents: i64,
    pub certificate_ids: Vec<String>,
    pub proof_properties: Vec<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub executed: Vec<ExecutedCall>,
}

impl Tally {
    /// The totals of a (possibly resumed) execution: its counters and its recorded steps.
    pub fn resume(execution: &ExecutionRecord, steps: &[StoredStep]) -> Tally {
        let mut tally = Tally {
            input_tokens: execution.input_tokens,
            output_tokens: execution.output_tokens,
            ..Tally::default()
        };
        for step in steps {
            tally.add(&step.record);
        }
        tally
    }

    /// Counts one recorded attempt.
    pub fn add(&mut self, record: &Value) {
        self.steps += 1;
        self.cost_cents += record["cost_cents"].as_i64().unwrap_or(0);
        let certificate_id = record["certificate_id"].as_str().unwrap_or_default();
        if !certificate_id.is_empty() {
            self.certificate_ids.push(certificate_id.to_owned());
            self.add_properties(&string_array(&record["verification_properties"]));
        }
        let output_withheld = record["violations"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["code"] == "output_blocked"));
        if record["decision"] == "denied" && !output_withheld {
            return;
        }
        let write_capability = (record["tool_name"] == "file_write")
            .then(|| record["tool_input"]["path"].as_str().map(file_write_capability))
            .flatten();
        self.executed.push(ExecutedCall {
            certified: !certificate_id.is_empty(),
            labels: string_array(&record["ifc"]["labels"]),
            destinations: string_array(&record["ifc"]["destinations"]),
            output_scanned: !record["content_scan"]["output_scan"].is_null(),
            write_capability,
        });
    }

    /// The ordered, de-duplicated union of certificate properties (spec §9.1).
    pub fn add_properties(&mut self, properties: &[String]) {
        for p in properties {
            if !self.proof_properties.contains(p) {
                self.proof_properties.push(p.clone());
            }
        }
    }
}
