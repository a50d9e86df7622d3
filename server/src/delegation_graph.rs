//! The delegation graph (spec §13.3): agents as nodes, delegations as edges, built from stored
//! delegation records so Studio's Glass Box can replay who handed what to whom.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::store::{DelegationRecord, DelegationStatus};

#[derive(Debug, Serialize, ToSchema)]
pub struct GraphNode {
    id: String,
    label: String,
    /// `parent` or `child`: the role in which the agent first appears.
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GraphEdge {
    id: String,
    source: String,
    target: String,
    label: String,
    permissions: Vec<String>,
    budget: i64,
    timestamp: f64,
    /// `verified` or `blocked`.
    status: &'static str,
    /// `normal` or `critical`.
    severity: &'static str,
    #[serde(rename = "proofSignature")]
    proof_signature: String,
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationGraph {
    nodes: Vec<GraphNode>,
    edges: Vec<GraphEdge>,
}

/// `['a', 'b']`.
fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|p| format!("'{p}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A timestamp as it appears in JSON, so an edge id matches its `timestamp` field.
fn json_number(t: f64) -> String {
    serde_json::Number::from_f64(t).map_or_else(|| t.to_string(), |n| Value::Number(n).to_string())
}

/// Builds the graph from records in any order: nodes in order of first appearance, edges by
/// timestamp, allowed edges with the same parent, child, permissions and budget merged into the
/// oldest.
pub fn build(mut records: Vec<DelegationRecord>) -> DelegationGraph {
    records.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    let mut nodes: Vec<GraphNode> = Vec::new();
    let mut edges: Vec<GraphEdge> = Vec::new();
    for record in &records {
        for (agent, kind) in [(&record.parent_agent_id, "parent"), (&record.child_agent_id, "child")] {
            if !nodes.iter().any(|n| &n.id == agent) {
                nodes.push(GraphNode {
                    id: agent.clone(),
                    label: agent.clone(),
                    kind,
                });
            }
        }
        let permissions = quoted_list(&record.permissions);
        let edge = match record.status {
            DelegationStatus::Verified => {
                let merged = edges.iter().any(|e| {
                    e.status == "verified"
                        && e.source == record.parent_agent_id
                        && e.target == record.child_agent_id
                        && e.permissions == record.permissions
                        && e.budget == record.budget
                });
                if merged {
                    continue;
                }
                GraphEdge {
                    id: format!("{}->{}:{}", record.parent_agent_id, record.child_agent_id, edges.len()),
                    label: format!("Delegation: {permissions}"),
                    proof_signature: format!("Verified bounds (budget: {})", record.budget),
                    reason: "Runtime verified by Certior Lattice".into(),
                    ..edge_base(record)
                }
            }
            DelegationStatus::Blocked => GraphEdge {
                id: format!(
                    "blocked:{}->{}:{}",
                    record.parent_agent_id,
                    record.child_agent_id,
                    json_number(record.created_at)
                ),
                label: format!("Blocked: {permissions}"),
                proof_signature: "No child token issued".into(),
                reason: record.reason.clone(),
                ..edge_base(record)
            },
        };
        edges.push(edge);
    }
    DelegationGraph { nodes, edges }
}

/// The fields every edge takes straight from its record.
fn edge_base(record: &DelegationRecord) -> GraphEdge {
    GraphEdge {
        id: String::new(),
        source: record.parent_agent_id.clone(),
        target: record.child_agent_id.clone(),
        label: String::new(),
        permissions: record.permissions.clone(),
        budget: record.budget,
        timestamp: record.created_at,
        status: record.status.as_str(),
        severity: record.status.severity(),
        proof_signature: String::new(),
        reason: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(parent: &str, child: &str, perms: &[&str], budget: i64, at: f64, blocked: bool) -> DelegationRecord {
        DelegationRecord {
            id: format!("d{at}"),
            user_id: "u".into(),
            parent_id: format!("{parent}-id"),
            parent_agent_id: parent.into(),
            child_id: format!("{child}-id"),
            child_agent_id: child.into(),
            permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
            budget,
            status: if blocked {
                DelegationStatus::Blocked
            } else {
                DelegationStatus::Verified
            },
            code: blocked.then(|| "permissions_not_subset".into()),
            reason: if blocked {
                "Denied: child requested permissions outside parent capability bounds".into()
            } else {
                "Token delegation proven safe.".into()
            },
            token_id: None,
            parent_verified: false,
            created_at: at,
        }
    }

    #[test]
    fn edges_follow_time_and_equal_allowed_edges_merge_into_the_oldest() {
        let graph = build(vec![
            record("planner", "coder", &["fs:read"], 50, 3.5, false),
            record("planner", "coder", &["fs:read", "net:*"], 50, 2.25, true),
            record("orchestrator", "planner", &["fs:read", "net:get"], 100, 1.5, false),
            record("planner", "coder", &["fs:read"], 50, 4.0, false),
        ]);
        let value = serde_json::to_value(&graph).unwrap();
        assert_eq!(
            value["nodes"],
            json!([
                {"id": "orchestrator", "label": "orchestrator", "type": "parent"},
                {"id": "planner", "label": "planner", "type": "child"},
                {"id": "coder", "label": "coder", "type": "child"},
            ])
        );
        let ids: Vec<&str> = value["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "orchestrator->planner:0",
                "blocked:planner->coder:2.25",
                "planner->coder:2"
            ]
        );
        assert_eq!(
            value["edges"][0],
            json!({
                "id": "orchestrator->planner:0", "source": "orchestrator", "target": "planner",
                "label": "Delegation: ['fs:read', 'net:get']", "permissions": ["fs:read", "net:get"],
                "budget": 100, "timestamp": 1.5, "status": "verified", "severity": "normal",
                "proofSignature": "Verified bounds (budget: 100)", "reason": "Runtime verified by Certior Lattice",
            })
        );
        assert_eq!(value["edges"][1]["label"], "Blocked: ['fs:read', 'net:*']");
        assert_eq!(value["edges"][1]["severity"], "critical");
        assert_eq!(value["edges"][1]["proofSignature"], "No child token issued");
        assert_eq!(
            value["edges"][2]["timestamp"], 3.5,
            "the merged edge keeps the oldest record"
        );
    }
}
