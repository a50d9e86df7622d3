//! The information-flow lattice of `verify-plan` (spec §13.1): four ordered labels, a budget
//! check, and the plan document whose hash a plan certificate signs.
//!
//! The check is native and deterministic, so the same plan always yields the same verdict and
//! the same `proof_hash`.

use serde_json::{json, Value};

/// A confidentiality label; data may only flow to an equal or higher label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    Public,
    Internal,
    Sensitive,
    Restricted,
}

impl Label {
    /// Every label, lowest first.
    pub const ALL: [Label; 4] = [Label::Public, Label::Internal, Label::Sensitive, Label::Restricted];

    /// Case-insensitive; anything else is `None` (never silently `Public`).
    pub fn parse(text: &str) -> Option<Label> {
        Self::ALL
            .into_iter()
            .find(|label| label.as_str().eq_ignore_ascii_case(text))
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Public => "Public",
            Label::Internal => "Internal",
            Label::Sensitive => "Sensitive",
            Label::Restricted => "Restricted",
        }
    }
}

/// One step of a plan, labels already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanStep {
    pub tool: String,
    pub input_labels: Vec<Label>,
    pub output_label: Label,
    pub cost: i64,
    pub data_id: Option<String>,
}

/// A flow from an input label to a lower output label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowViolation {
    pub step_index: usize,
    pub tool: String,
    pub src: Label,
    pub dst: Label,
}

/// The outcome of [`check_plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanVerdict {
    /// Every flow goes up the lattice and the costs fit the budget.
    Safe,
    /// The summed step costs exceed the budget; flows are not checked.
    BudgetExhausted { need: i128, have: i64 },
    /// At least one downward flow, in step and label order.
    FlowViolations(Vec<FlowViolation>),
}

impl PlanVerdict {
    /// The `reason` text of spec §13.1.
    pub fn reason(&self) -> String {
        match self {
            PlanVerdict::Safe => "Lattice structural invariants hold.".into(),
            PlanVerdict::BudgetExhausted { need, have } => format!("Budget exhausted: need {need}, have {have}"),
            PlanVerdict::FlowViolations(violations) => {
                let first = &violations[0];
                format!(
                    "FlowCheck Violation: {} -> {} at step {} ({})",
                    first.src.as_str(),
                    first.dst.as_str(),
                    first.step_index,
                    first.tool
                )
            }
        }
    }
}

/// Budget first (the sum of costs, which cannot overflow), then every input-to-output flow.
pub fn check_plan(steps: &[PlanStep], budget: i64) -> PlanVerdict {
    let need: i128 = steps.iter().map(|s| i128::from(s.cost)).sum();
    if need > i128::from(budget) {
        return PlanVerdict::BudgetExhausted { need, have: budget };
    }
    let violations: Vec<FlowViolation> = steps
        .iter()
        .enumerate()
        .flat_map(|(step_index, step)| {
            step.input_labels
                .iter()
                .filter(|src| **src > step.output_label)
                .map(move |src| FlowViolation {
                    step_index,
                    tool: step.tool.clone(),
                    src: *src,
                    dst: step.output_label,
                })
        })
        .collect();
    if violations.is_empty() {
        PlanVerdict::Safe
    } else {
        PlanVerdict::FlowViolations(violations)
    }
}

/// The plan document of spec §13.1 step 5: one `checkFlow` binding per input label.
pub fn plan_document(steps: &[PlanStep], budget: i64, preset_key: &str) -> Value {
    let main_steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .flat_map(|(idx, step)| {
            let data_id = step
                .data_id
                .clone()
                .unwrap_or_else(|| format!("step_{idx}_{}", step.tool));
            let dst = step.output_label.as_str();
            step.input_labels.iter().enumerate().map(move |(i, src)| {
                json!({
                    "tag": "bind",
                    "dest": format!("{data_id}_check_{i}"),
                    "rhs": {"tag": "checkFlow", "src": format!("__level_{}", src.as_str()), "dst": format!("__level_{dst}")},
                    "label": {"level": dst, "tags": []},
                })
            })
        })
        .collect();
    json!({
        "resources": [],
        "skills": [],
        "mainSteps": main_steps,
        "totalBudgetCents": budget,
        "requiredTokens": [],
        "compliancePolicy": preset_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::document_hash;

    fn step(tool: &str, inputs: &[Label], output: Label, cost: i64) -> PlanStep {
        PlanStep {
            tool: tool.into(),
            input_labels: inputs.to_vec(),
            output_label: output,
            cost,
            data_id: None,
        }
    }

    #[test]
    fn labels_parse_case_insensitively_and_nothing_else() {
        assert_eq!(Label::parse("sensitive"), Some(Label::Sensitive));
        assert_eq!(Label::parse("RESTRICTED"), Some(Label::Restricted));
        assert_eq!(Label::parse("Secret"), None);
        assert_eq!(Label::parse(""), None);
    }

    #[test]
    fn every_label_pair_flows_iff_its_rank_does_not_drop() {
        for (src_rank, src) in Label::ALL.into_iter().enumerate() {
            for (dst_rank, dst) in Label::ALL.into_iter().enumerate() {
                let verdict = check_plan(&[step("t", &[src], dst, 0)], 0);
                assert_eq!(
                    verdict == PlanVerdict::Safe,
                    src_rank <= dst_rank,
                    "{src:?} -> {dst:?}: {verdict:?}"
                );
            }
        }
    }

    #[test]
    fn the_first_violation_names_step_and_tool_and_all_are_listed() {
        let steps = [
            step("read", &[Label::Public], Label::Internal, 1),
            step(
                "send",
                &[Label::Restricted, Label::Sensitive, Label::Public],
                Label::Internal,
                1,
            ),
        ];
        let verdict = check_plan(&steps, 10);
        assert_eq!(
            verdict.reason(),
            "FlowCheck Violation: Restricted -> Internal at step 1 (send)"
        );
        let PlanVerdict::FlowViolations(all) = verdict else {
            panic!()
        };
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].src, Label::Sensitive);
    }

    #[test]
    fn budget_is_checked_before_flows_and_sums_without_overflow() {
        let steps = [
            step("a", &[Label::Restricted], Label::Public, i64::MAX),
            step("b", &[], Label::Public, i64::MAX),
        ];
        let verdict = check_plan(&steps, 5);
        assert_eq!(
            verdict.reason(),
            format!("Budget exhausted: need {}, have 5", 2 * i128::from(i64::MAX))
        );
        assert_eq!(check_plan(&[step("a", &[], Label::Public, 5)], 5), PlanVerdict::Safe);
    }

    #[test]
    fn plan_document_binds_each_input_label() {
        let mut named = step("fetch", &[Label::Public, Label::Internal], Label::Sensitive, 0);
        named.data_id = Some("doc".into());
        let doc = plan_document(
            &[step("read", &[Label::Public], Label::Internal, 0), named],
            50,
            "hipaa",
        );
        let dests: Vec<&str> = doc["mainSteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["dest"].as_str().unwrap())
            .collect();
        assert_eq!(dests, ["step_0_read_check_0", "doc_check_0", "doc_check_1"]);
        assert_eq!(doc["mainSteps"][2]["rhs"]["src"], "__level_Internal");
        assert_eq!(doc["mainSteps"][2]["label"], json!({"level": "Sensitive", "tags": []}));
        assert_eq!(doc["totalBudgetCents"], 50);
        let hash = document_hash(&doc).unwrap();
        assert!(hash.starts_with("sha256:") && hash.len() == 71);
        assert_eq!(hash, document_hash(&doc.clone()).unwrap());
    }
}
