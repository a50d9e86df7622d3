//! Release gating end to end (spec/RELEASES.md §1–§6, §9): evidence, the per-repo policy, every
//! remediation code the built-in gates produce, each decision status, promotions, baselines,
//! digests, health and the badge.

use certior_e2e::{now, server_with_admin_and, Client, Reply, Server};
use serde_json::{json, Value};

fn sha(c: char) -> String {
    c.to_string().repeat(40)
}

fn digest(c: char) -> String {
    c.to_string().repeat(64)
}

const REPO: &str = "acme/widget";

struct Api {
    client: Client,
    admin: String,
    _server: Server,
}

impl Api {
    async fn start(env: &[(&str, &str)]) -> Api {
        let (server, admin) = server_with_admin_and(env).await;
        Api {
            client: server.client(),
            admin,
            _server: server,
        }
    }

    async fn user(&self, email: &str, role: &str) -> String {
        self.client
            .register(
                &json!({"email": email, "password": "password-1", "role": role}),
                Some(&self.admin),
            )
            .await
    }

    async fn evidence(&self, body: Value) -> Reply {
        self.client
            .post("/api/v1/releases/evidence", &body, Some(&self.admin))
            .await
    }

    async fn record(&self, body: Value) -> Value {
        let reply = self.evidence(body).await;
        assert_eq!(reply.status, 200, "evidence: {}", reply.text);
        reply.body
    }

    async fn put_policy(&self, repo: &str, body: Value, key: &str) -> Reply {
        let path = format!("/api/v1/releases/policy?repo_root={}", encode(repo));
        Client::send(
            self.client
                .request(reqwest::Method::PUT, &path)
                .bearer_auth(key)
                .json(&body),
        )
        .await
    }

    async fn decision(&self, query: &str) -> Reply {
        self.client
            .get(&format!("/api/v1/releases/decision?{query}"), Some(&self.admin))
            .await
    }

    async fn decide(&self, commit: &str) -> Value {
        let reply = self.decision(&format!("repo_root={REPO}&commit_sha={commit}")).await;
        assert_eq!(reply.status, 200, "decision: {}", reply.text);
        reply.body
    }

    async fn promote(&self, body: Value, key: &str) -> Reply {
        self.client.post("/api/v1/releases/promote", &body, Some(key)).await
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `(code, severity-as-satisfied)` of every explanation entry.
fn policies(decision: &Value) -> Vec<String> {
    decision["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["policy"].as_str().unwrap().to_owned())
        .collect()
}

fn blocker_components(decision: &Value) -> Vec<String> {
    decision["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["component"].as_str().unwrap().to_owned())
        .collect()
}

fn check(name: &str, conclusion: &str, at: f64) -> Value {
    json!({"workflow": "CI", "name": name, "conclusion": conclusion, "completed_at": at})
}

#[tokio::test]
async fn an_unknown_repo_or_commit_is_unknown_with_snapshot_missing() {
    let api = Api::start(&[]).await;
    let reply = api.decision("repo_root=https://github.com/Acme/Widget.git").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let d = reply.body;
    assert_eq!(d["decision"], "NO_SHIP");
    assert_eq!(d["decision_status"], "unknown");
    assert_eq!(d["repo_root"], "https://github.com/Acme/Widget.git", "echoed as given");
    assert_eq!(d["commit_sha"], Value::Null);
    assert_eq!(d["snapshot_id"], Value::Null);
    assert_eq!(d["resolved_commit_sha"], Value::Null);
    assert_eq!(
        d["blockers"],
        json!([{"component": "evidence_ingest", "reason": "No release evidence for acme/widget@latest",
                "remediation_suggestion": "Record evidence for this commit with POST /api/v1/releases/evidence or the GitHub webhook, Check repo_root and the repo aliases"}])
    );
    assert_eq!(d["provenance"], json!({"components": [], "checks": []}));
    assert_eq!(
        d["baseline"],
        json!({"has_baseline": false, "baseline_commit_sha": null, "components": null, "verified_properties": null,
               "baseline_snapshot_id": null, "baseline_release_label": null})
    );
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "decision",
            "repo_root",
            "commit_sha",
            "release_artifact_digest",
            "blockers",
            "explanation",
            "provenance",
            "baseline",
            "decision_status",
            "snapshot_id",
            "resolved_commit_sha",
            "evaluated_at"
        ]
    );
    // A known repo, unknown commit: the commit is named.
    api.record(json!({"repo_root": REPO, "commit_sha": sha('1'), "components": [{"name": "core"}]}))
        .await;
    let d = api.decide(&sha('2')).await;
    assert_eq!(d["decision_status"], "unknown");
    assert_eq!(
        d["blockers"][0]["reason"],
        format!("No release evidence for acme/widget@{}", sha('2'))
    );
    // Bad input is 422, naming the field.
    for (query, field) in [
        ("commit_sha=abc", "repo_root"),
        ("repo_root=acme", "repo_root"),
        ("repo_root=a/b/c", "repo_root"),
        ("repo_root=acme/widget&commit_sha=abc123", "commit_sha"),
        (
            "repo_root=acme/widget&release_artifact_digest=unknown",
            "release_artifact_digest",
        ),
        (
            "repo_root=acme/widget&release_artifact_digest=md5:abc",
            "release_artifact_digest",
        ),
    ] {
        let reply = api.decision(query).await;
        assert_eq!(reply.status, 422, "{query}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["loc"], json!(["query", field]), "{query}");
    }
    let missing = api.decision("commit_sha=abc").await;
    assert_eq!(missing.body["errors"][0]["type"], "missing");
    let anonymous = api
        .client
        .get("/api/v1/releases/decision?repo_root=acme/widget", None)
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn each_built_in_gate_yields_its_code_and_the_statuses_follow() {
    let api = Api::start(&[]).await;
    let t = now();
    let c = sha('a');
    // Default policy: any evidence is `ready` until attested.
    api.record(json!({"repo_root": REPO, "commit_sha": c, "check_runs": [check("build", "success", t)]}))
        .await;
    let d = api.decide(&c).await;
    assert_eq!(d["decision_status"], "ready");
    assert_eq!(policies(&d), ["attestation_required"]);
    assert_eq!(blocker_components(&d), ["release_governance"]);

    let policy = json!({"required_checks": ["build", "test", "deploy", "package"], "required_properties": ["no_phi", "sbom", "signed"],
                        "require_reviewed_workflow": true});
    let reply = api.put_policy(REPO, policy, &api.admin).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    api.record(json!({"repo_root": REPO, "commit_sha": c,
        "check_runs": [check("test", "timed_out", t), check("deploy", "success", t - 30.0 * 86_400.0),
                       check("lint", "failure", t)],
        "properties": [{"key": "no_phi", "status": "verified", "source": "export", "observed_at": t},
                       {"key": "signed", "status": "unknown", "source": "sigstore", "observed_at": t},
                       {"key": "licences", "status": "failed", "source": "scan", "observed_at": t}]}))
        .await;
    let d = api.decide(&c).await;
    assert_eq!(d["decision"], "NO_SHIP");
    assert_eq!(d["decision_status"], "blocked");
    assert_eq!(
        policies(&d),
        [
            "required_check_missing",
            "required_check_failed",
            "property_unverified",
            "property_unverified",
            "stale_evidence",
            "reviewed_workflow_missing",
            "attestation_required",
            "optional_check_failed",
            "property_failed"
        ]
    );
    let reasons: Vec<&str> = d["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requirement"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"Required check test concluded timed_out"),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"Required property sbom is missing"));
    assert!(reasons.contains(&"Required property signed is unknown"));
    assert!(reasons.contains(&"Check lint concluded failure"));
    assert!(reasons.contains(&"Property licences failed"));
    assert!(reasons
        .iter()
        .any(|r| r.starts_with("Evidence check:deploy is stale (observed ") && r.ends_with("; limit 7 days)")));
    let missing = &d["explanation"][0];
    assert_eq!(
        missing["requirement"],
        format!("Required check package has not reported for {c}")
    );
    assert_eq!(missing["satisfied"], false);
    let degraded = &d["explanation"][7];
    assert_eq!(degraded["satisfied"], false, "degraded items are not satisfied");
    assert_eq!(
        degraded["evidence_id"].as_str().unwrap().len(),
        27,
        "the failing row's id: ev_ + 24 hex"
    );
    assert_eq!(
        d["blockers"].as_array().unwrap().len(),
        7,
        "degraded items do not block"
    );
    assert_eq!(
        blocker_components(&d),
        [
            "ci",
            "ci",
            "verification",
            "verification",
            "evidence_freshness",
            "workflow",
            "release_governance"
        ]
    );
    assert_eq!(d["provenance"]["checks"].as_array().unwrap().len(), 4);

    // A future-dated check is stale evidence with state `future`.
    let f = sha('f');
    api.record(json!({"repo_root": REPO, "commit_sha": f,
        "check_runs": [check("build", "success", t + 86_400.0), check("test", "success", t), check("deploy", "success", t)],
        "properties": [{"key": "no_phi", "status": "verified", "source": "s"}, {"key": "sbom", "status": "verified", "source": "s"},
                       {"key": "signed", "status": "verified", "source": "s"}]}))
        .await;
    let d = api.decide(&f).await;
    let stale: Vec<&Value> = d["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["policy"] == "stale_evidence")
        .collect();
    assert_eq!(stale.len(), 1);
    assert!(stale[0]["requirement"]
        .as_str()
        .unwrap()
        .starts_with("Evidence check:build is future"));
}

#[tokio::test]
async fn attestation_decides_ship_and_rejections_revocations_and_digests_block() {
    let api = Api::start(&[]).await;
    let approver = api.user("ana@example.com", "approver").await;
    let operator = api.user("op@example.com", "operator").await;
    let t = now();
    let c = sha('b');
    let reply = api
        .put_policy(REPO, json!({"required_checks": ["build"]}), &api.admin)
        .await;
    assert_eq!(reply.status, 200);
    // Machine gates fail: attesting is refused with the blocking codes.
    api.record(
        json!({"repo_root": REPO, "commit_sha": c, "check_runs": [check("build", "failure", t)],
                      "artifacts": [{"name": "widget.tgz", "digest": format!("sha256:{}", digest('d'))}]}),
    )
    .await;
    let refused = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "QA", "bound_artifact_digest": digest('d')}),
            &approver,
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.body["code"], "snapshot_not_ready");
    assert_eq!(
        refused.body["blockers"],
        json!(["required_check_failed", "attestation_required"])
    );
    // Roles: an operator may not promote.
    let forbidden = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "x", "bound_artifact_digest": digest('d')}),
            &operator,
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.detail(), "Requires one of: ['admin', 'approver']");
    // Fix the check: ready, then attested → SHIP.
    api.record(json!({"repo_root": REPO, "commit_sha": c, "check_runs": [check("build", "success", t)]}))
        .await;
    assert_eq!(api.decide(&c).await["decision_status"], "ready");
    let no_digest = api
        .promote(json!({"repo_root": REPO, "commit_sha": c, "reason": "QA"}), &approver)
        .await;
    assert_eq!(no_digest.status, 422);
    assert_eq!(
        no_digest.body["errors"][0]["loc"],
        json!(["body", "bound_artifact_digest"])
    );
    let unknown = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "QA", "bound_artifact_digest": "unknown"}),
            &approver,
        )
        .await;
    assert_eq!(unknown.status, 422);
    let attested = api
        .promote(json!({"repo_root": REPO, "commit_sha": c, "reason": "QA sign-off", "release_label": "v1.2.0",
                        "bound_artifact_digest": format!(" SHA256:{}", "D".repeat(64)), "operator_identity": "someone@else"}), &approver)
        .await;
    assert_eq!(attested.status, 200, "{}", attested.text);
    let p = &attested.body["promotion"];
    assert_eq!(attested.body["tool"], "promote_snapshot");
    assert_eq!(attested.body["snapshot"]["repo_root"], REPO);
    assert_eq!(p["status"], "attested");
    assert_eq!(p["metadata"]["operator_identity"], "ana@example.com");
    assert_eq!(p["metadata"]["operator_role"], "approver");
    assert_eq!(p["metadata"]["claimed_operator_identity"], "someone@else");
    assert_eq!(p["metadata"]["bound_artifact_digest"], digest('d'));
    assert_eq!(p["metadata"]["source"], "api");
    let d = api.decide(&c).await;
    assert_eq!(d["decision"], "SHIP");
    assert_eq!(d["decision_status"], "attested");
    assert_eq!(d["blockers"], json!([]));
    assert_eq!(d["explanation"], json!([]));
    // The attested digest in any spelling ships; another digest is blocked.
    let same = api
        .decision(&format!(
            "repo_root={REPO}&commit_sha={c}&release_artifact_digest=sha256:{}",
            digest('d')
        ))
        .await;
    assert_eq!(same.body["decision"], "SHIP");
    assert_eq!(
        same.body["release_artifact_digest"],
        format!("sha256:{}", digest('d')),
        "echoed"
    );
    let other = api
        .decision(&format!(
            "repo_root={REPO}&commit_sha={c}&release_artifact_digest={}",
            digest('e')
        ))
        .await;
    assert_eq!(other.body["decision_status"], "blocked");
    assert_eq!(
        policies(&other.body),
        ["artifact_digest_mismatch", "artifact_not_in_evidence"]
    );
    assert_eq!(other.body["explanation"][1]["satisfied"], false);
    assert_eq!(other.body["explanation"][0]["evidence_id"], p["promotion_id"]);
    // Rejection blocks; a new attestation becomes effective again; revocation blocks.
    let rejected = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "status": "rejected", "reason": "Found a bug",
                                      "bound_artifact_digest": "unknown"}),
            &api.admin,
        )
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(
        rejected.body["promotion"]["metadata"]["bound_artifact_digest"],
        Value::Null
    );
    let d = api.decide(&c).await;
    assert_eq!(policies(&d), ["attestation_rejected"]);
    assert_eq!(
        d["blockers"][0]["reason"],
        format!("Release of {c} was rejected by root@example.com: Found a bug")
    );
    let again = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "Fixed", "bound_artifact_digest": digest('d')}),
            &approver,
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(api.decide(&c).await["decision"], "SHIP");
    let revoked = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "status": "revoked", "reason": "CVE"}),
            &approver,
        )
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(policies(&api.decide(&c).await), ["attestation_revoked"]);
    let twice = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "status": "revoked", "reason": "CVE"}),
            &approver,
        )
        .await;
    assert_eq!(twice.status, 409);
    assert_eq!(twice.body["code"], "nothing_to_revoke");
    for bad in [
        json!({"repo_root": REPO, "status": "promoted", "reason": "x"}),
        json!({"repo_root": REPO, "status": "rejected", "reason": "  "}),
        json!({"repo_root": REPO, "status": "rejected", "reason": "x", "release_label": "l".repeat(201)}),
    ] {
        assert_eq!(api.promote(bad.clone(), &approver).await.status, 422, "{bad}");
    }
    let nowhere = api
        .promote(
            json!({"repo_root": "acme/none", "reason": "x", "status": "rejected"}),
            &approver,
        )
        .await;
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.body["code"], "snapshot_not_found");

    // History: append-only, newest first, filtered and limited.
    let history = api
        .client
        .get(
            &format!("/api/v1/releases/promotions?repo_root={REPO}"),
            Some(&operator),
        )
        .await;
    assert_eq!(history.status, 200);
    let statuses: Vec<&str> = history.body["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["revoked", "attested", "rejected", "attested"]);
    assert_eq!(history.body["promotions"][0]["commit_sha"], c);
    let limited = api
        .client
        .get(
            &format!("/api/v1/releases/promotions?repo_root={REPO}&limit=1"),
            Some(&operator),
        )
        .await;
    assert_eq!(limited.body["promotions"].as_array().unwrap().len(), 1);
    let other_commit = api
        .client
        .get(
            &format!("/api/v1/releases/promotions?repo_root={REPO}&commit_sha={}", sha('9')),
            Some(&operator),
        )
        .await;
    assert_eq!(other_commit.body, json!({"promotions": []}));
    for limit in ["0", "101", "x"] {
        let bad = api
            .client
            .get(
                &format!("/api/v1/releases/promotions?repo_root={REPO}&limit={limit}"),
                Some(&operator),
            )
            .await;
        assert_eq!(bad.status, 422, "limit {limit}");
    }
    assert_eq!(
        api.client
            .get("/api/v1/releases/promotions?repo_root=x/y", Some(&operator))
            .await
            .body,
        json!({"promotions": []})
    );
}

#[tokio::test]
async fn segregation_of_duties_refuses_the_workflow_creator() {
    let api = Api::start(&[]).await;
    let approver = api.user("ana@example.com", "approver").await;
    let c = sha('c');
    assert_eq!(
        api.put_policy(REPO, json!({"presets": ["SOX"]}), &api.admin).await.body["presets"],
        json!(["sox"])
    );
    let workflow = api
        .client
        .post(
            "/api/v1/workflows",
            &json!({"name": "w", "stages": [{"id": "s", "name": "S", "task": "List the reports",
                                                                         "plan": [{"tool": "file_list"}]}]}),
            Some(&approver),
        )
        .await;
    assert_eq!(workflow.status, 201, "{}", workflow.text);
    let workflow_id = workflow.body["id"].as_str().unwrap().to_owned();
    api.record(json!({"repo_root": REPO, "commit_sha": c, "components": [{"name": "core"}]}))
        .await;
    // Attested before the workflow was bound: fine, until the binding appears.
    let ok = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "ok", "bound_artifact_digest": digest('a')}),
            &approver,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(api.decide(&c).await["decision"], "SHIP");
    let bound = api
        .evidence(json!({"repo_root": REPO, "commit_sha": c, "workflows": [{"workflow_id": workflow_id}]}))
        .await;
    assert_eq!(bound.status, 200, "{}", bound.text);
    let d = api.decide(&c).await;
    assert_eq!(policies(&d), ["segregation_of_duties_violation"]);
    assert_eq!(
        d["blockers"][0]["reason"],
        format!("ana@example.com created release workflow {workflow_id} and cannot attest {c}")
    );
    // The creator cannot attest again; another approver can.
    let refused = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "again", "bound_artifact_digest": digest('a')}),
            &approver,
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["code"], "segregation_of_duties_violation");
    let other = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": c, "reason": "four eyes", "bound_artifact_digest": digest('a')}),
            &api.admin,
        )
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(api.decide(&c).await["decision"], "SHIP");
    // A workflow id the caller cannot read is refused like a missing one.
    let foreign = api
        .client
        .post(
            "/api/v1/releases/evidence",
            &json!({"repo_root": REPO, "commit_sha": c, "workflows": [{"workflow_id": "nope"}]}),
            Some(&api.admin),
        )
        .await;
    assert_eq!(foreign.status, 422);
    assert_eq!(
        foreign.body["errors"][0]["loc"],
        json!(["body", "workflows", 0, "workflow_id"])
    );
    assert_eq!(foreign.body["errors"][0]["msg"], "workflow not found");
}

#[tokio::test]
async fn the_baseline_is_the_last_attested_release_and_its_inventory_diff() {
    let api = Api::start(&[]).await;
    let (old, new) = (sha('1'), sha('2'));
    api.record(
        json!({"repo_root": REPO, "commit_sha": old, "components": [{"name": "B"}, {"name": "M"}],
                      "properties": [{"key": "p1", "status": "verified", "source": "s"}]}),
    )
    .await;
    let first = api.decide(&old).await;
    assert_eq!(first["baseline"]["has_baseline"], false);
    let p = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": old, "reason": "r", "release_label": "v1",
                               "bound_artifact_digest": digest('1')}),
            &api.admin,
        )
        .await;
    assert_eq!(p.status, 200);
    api.record(
        json!({"repo_root": REPO, "commit_sha": new, "components": [{"name": "B"}, {"name": "M"}, {"name": "X"}],
                      "properties": [{"key": "p2", "status": "verified", "source": "s"}]}),
    )
    .await;
    let d = api.decide(&new).await;
    let b = &d["baseline"];
    assert_eq!(b["has_baseline"], true);
    assert_eq!(b["baseline_commit_sha"], old);
    assert_eq!(b["baseline_release_label"], "v1");
    assert_eq!(b["baseline_snapshot_id"], first["snapshot_id"]);
    assert_eq!(
        b["components"],
        json!({"current_count": 3, "baseline_count": 2, "delta": 1, "added": ["X"], "removed": []})
    );
    assert_eq!(
        b["verified_properties"],
        json!({"current_count": 1, "baseline_count": 1, "delta": 0, "added": ["p2"], "removed": ["p1"]})
    );
    // The latest snapshot is the default target; a revoked release is no baseline.
    let latest = api.decision(&format!("repo_root={REPO}")).await.body;
    assert_eq!(latest["resolved_commit_sha"], new);
    assert_eq!(latest["commit_sha"], Value::Null);
    let r = api
        .promote(
            json!({"repo_root": REPO, "commit_sha": old, "status": "revoked", "reason": "r"}),
            &api.admin,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(api.decide(&new).await["baseline"]["has_baseline"], false);
}

#[tokio::test]
async fn evidence_is_validated_normalised_and_replaced_by_identity() {
    let api = Api::start(&[]).await;
    let viewer = api.user("v@example.com", "viewer").await;
    let c = sha('1');
    let reply = api
        .record(json!({"repo_root": "https://github.com/Acme/Widget.git", "commit_sha": c.to_uppercase(),
                       "check_runs": [{"workflow": "CI", "name": "build", "conclusion": "success", "completed_at": 1767225000.0}],
                       "artifacts": [{"name": "widget-1.2.0.tar.gz", "digest": format!("sha256:{}", digest('a'))}]}))
        .await;
    assert_eq!(reply["repo_root"], REPO);
    assert_eq!(reply["commit_sha"], c);
    assert_eq!(reply["created"], true);
    assert_eq!(
        reply["evidence_ids"],
        json!(["ev_b8cb203b741a1464f0c6ffba", "ev_c73fc3a21cbba2ee2909b3d3"])
    );
    assert_eq!(reply["accepted"]["check_runs"], 1);
    assert_eq!(reply["accepted"]["artifacts"], 1);
    let again = api
        .record(json!({"repo_root": REPO, "commit_sha": c,
                       "artifacts": [{"name": "widget-1.2.0.tar.gz", "digest": digest('b')}]}))
        .await;
    assert_eq!(again["created"], false);
    assert_eq!(again["snapshot_id"], reply["snapshot_id"]);
    assert_eq!(again["evidence_ids"], json!(["ev_c73fc3a21cbba2ee2909b3d3"]));
    let health = api
        .client
        .get(
            &format!("/api/v1/releases/health?repo_root={REPO}&commit_sha={c}"),
            Some(&viewer),
        )
        .await;
    assert_eq!(health.status, 200, "{}", health.text);
    let issue = &health.body["ingest_issues"][0];
    assert_eq!(issue["code"], "artifact_digest_changed");
    assert_eq!(
        issue["detail"],
        format!(
            "Artifact widget-1.2.0.tar.gz was re-recorded with digest {} (was {})",
            digest('b'),
            digest('a')
        )
    );

    for (body, loc) in [
        (json!({"repo_root": REPO, "commit_sha": c}), json!(["body"])),
        (
            json!({"repo_root": REPO, "commit_sha": "HEAD", "components": [{"name": "x"}]}),
            json!(["body", "commit_sha"]),
        ),
        (
            json!({"repo_root": REPO, "components": [{"name": "x"}]}),
            json!(["body", "commit_sha"]),
        ),
        (
            json!({"repo_root": REPO, "commit_sha": c, "check_runs": [check("b", "exploded", 1.0)]}),
            json!(["body", "check_runs", 0, "conclusion"]),
        ),
        (
            json!({"repo_root": REPO, "commit_sha": c, "artifacts": [{"name": "a", "digest": "unknown"}]}),
            json!(["body", "artifacts", 0, "digest"]),
        ),
        (
            json!({"repo_root": REPO, "commit_sha": c, "check_runs": [{"workflow": "CI", "name": "b", "conclusion": "success", "url": "ftp://x"}]}),
            json!(["body", "check_runs", 0, "url"]),
        ),
        (
            json!({"repo_root": REPO, "commit_sha": c, "properties": [{"key": "k", "status": "verified", "source": "s", "observed_at": -1}]}),
            json!(["body", "properties", 0, "observed_at"]),
        ),
        (
            json!({"repo_root": "/srv/repos/widget", "commit_sha": c, "components": [{"name": "x"}]}),
            json!(["body", "repo_root"]),
        ),
    ] {
        let reply = api.evidence(body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["loc"], loc, "{body}");
    }
    let empty = api.evidence(json!({"repo_root": REPO, "commit_sha": c})).await;
    assert!(empty.text.contains("at least one evidence item is required"));
    let malformed = Client::send(
        api.client
            .request(reqwest::Method::POST, "/api/v1/releases/evidence")
            .bearer_auth(&api.admin)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(malformed.body["errors"][0]["type"], "json_invalid");
    let refused = api
        .client
        .post("/api/v1/releases/evidence", &json!({}), Some(&viewer))
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.detail(), "Requires one of: ['admin', 'operator']");
}

#[tokio::test]
async fn the_policy_has_a_default_aliases_and_role_rules() {
    let api = Api::start(&[]).await;
    let author = api.user("pat@example.com", "policy_author").await;
    let default = api
        .client
        .get("/api/v1/releases/policy?repo_root=Acme/Widget", Some(&author))
        .await;
    assert_eq!(
        default.body,
        json!({"repo_root": REPO, "presets": ["default"], "required_checks": [], "required_properties": [],
               "require_attestation": true, "require_reviewed_workflow": false, "max_evidence_age_days": null,
               "effective_max_evidence_age_days": 7, "aliases": [], "is_default": true, "version": 0,
               "updated_at": null, "updated_by": null})
    );
    let put = api
        .put_policy(
            REPO,
            json!({"presets": ["sox", "legal", "sox"], "required_checks": ["build"], "max_evidence_age_days": 3,
                                 "aliases": ["https://github.com/Acme/Widget-Old"]}),
            &author,
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["presets"], json!(["sox", "legal_privilege"]));
    assert_eq!(put.body["aliases"], json!(["acme/widget-old"]));
    assert_eq!(put.body["version"], 1);
    assert_eq!(put.body["is_default"], false);
    assert_eq!(put.body["updated_by"], "pat@example.com");
    assert_eq!(put.body["effective_max_evidence_age_days"], 3);
    // Lookups by alias find the repo.
    api.record(json!({"repo_root": "acme/widget-old", "commit_sha": sha('1'), "components": [{"name": "x"}]}))
        .await;
    let d = api
        .decision(&format!("repo_root=acme/widget-old&commit_sha={}", sha('1')))
        .await
        .body;
    assert_eq!(d["decision_status"], "blocked", "{d}");
    assert_eq!(d["repo_root"], "acme/widget-old");
    // Conflicts, role rules and bad input.
    let other = api
        .put_policy("acme/other", json!({"aliases": ["acme/widget-old"]}), &author)
        .await;
    assert_eq!(other.status, 409);
    assert_eq!(other.body["code"], "alias_conflict");
    let relaxed = api
        .put_policy(REPO, json!({"require_attestation": false}), &author)
        .await;
    assert_eq!(relaxed.status, 403);
    assert_eq!(relaxed.detail(), "Only admin may set require_attestation to false");
    let unknown = api.put_policy(REPO, json!({"presets": ["owasp"]}), &author).await;
    assert_eq!(unknown.status, 400);
    for body in [
        json!({"presets": []}),
        json!({"max_evidence_age_days": 0}),
        json!({"max_evidence_age_days": 366}),
        json!({"aliases": ["acme/widget"]}),
        json!({"aliases": ["acme"]}),
        json!({"required_checks": (0..101).map(|i| format!("c{i}")).collect::<Vec<_>>()}),
    ] {
        let reply = api.put_policy(REPO, body.clone(), &author).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
    }
    let operator = api.user("op@example.com", "operator").await;
    let refused = api.put_policy(REPO, json!({}), &operator).await;
    assert_eq!(refused.detail(), "Requires one of: ['admin', 'policy_author']");
    // An admin may waive attestation: machine gates alone then ship.
    let waived = api
        .put_policy(REPO, json!({"require_attestation": false}), &api.admin)
        .await;
    assert_eq!(waived.body["version"], 2);
    let d = api.decide(&sha('1')).await;
    assert_eq!(d["decision"], "SHIP", "{d}");
}

#[tokio::test]
async fn health_reports_freshness_and_missing_items() {
    let api = Api::start(&[]).await;
    let t = now();
    let c = sha('1');
    let missing = api
        .client
        .get(&format!("/api/v1/releases/health?repo_root={REPO}"), Some(&api.admin))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["code"], "snapshot_not_found");
    api.put_policy(REPO, json!({"required_checks": ["build", "test"]}), &api.admin)
        .await;
    api.record(json!({"repo_root": REPO, "commit_sha": c,
        "check_runs": [check("build", "success", t - 10.0 * 86_400.0), check("lint", "success", t + 3600.0)],
        "components": [{"name": "core", "version": "1.0"}]}))
        .await;
    let h = api
        .client
        .get(
            &format!("/api/v1/releases/health?repo_root={REPO}&commit_sha={c}"),
            Some(&api.admin),
        )
        .await
        .body;
    assert_eq!(h["ingest_status"], "degraded");
    assert_eq!(
        h["freshness_summary"],
        json!({"fresh": 1, "stale": 1, "future": 1, "missing": 1})
    );
    let keys: Vec<&str> = h["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["check:build", "check:lint", "check:test", "component:core"]);
    let codes: Vec<(&str, &str)> = h["ingest_issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["health_state"].as_str().unwrap(), i["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, [("stale", "error"), ("future", "warning"), ("missing", "error")]);
    assert_eq!(
        h["ingest_issues"][2]["detail"],
        "Required evidence check:test has not been received"
    );
    assert_eq!(h["max_evidence_age_days"], 7);
}

#[tokio::test]
async fn the_badge_shows_only_the_state_and_is_never_cached() {
    let api = Api::start(&[("CERTIOR_PUBLIC_BADGE_REPOS", "acme/widget, acme/other")]).await;
    let c = sha('1');
    let badge = |query: String| {
        let client = api.client.clone();
        async move {
            let reply = client.get(&format!("/api/v1/trust/badge?{query}"), None).await;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.header("content-type"), Some("image/svg+xml"));
            assert_eq!(reply.header("cache-control"), Some("no-cache"));
            reply.text
        }
    };
    let unknown = badge(format!("repo={REPO}")).await;
    assert!(unknown.contains(r##"<path fill="#9f9f9f" d="M65 0h85v20H65z"/>"##) && unknown.contains(">Unknown</text>"));
    assert!(unknown.starts_with("<svg ") && unknown.ends_with("</svg>"));
    api.record(json!({"repo_root": REPO, "commit_sha": c, "components": [{"name": "x"}]}))
        .await;
    assert!(
        badge(format!("repo={REPO}&commit={c}"))
            .await
            .contains(">Blocked</text>"),
        "ready shows Blocked"
    );
    api.promote(
        json!({"repo_root": REPO, "commit_sha": c, "reason": "ok", "bound_artifact_digest": digest('1')}),
        &api.admin,
    )
    .await;
    let assured = badge(format!("repo=https://github.com/acme/widget&commit={c}")).await;
    assert!(assured.contains(r##"fill="#4c1""##) && assured.contains(">Assured</text>"));
    assert!(badge(format!("repo={REPO}&commit=HEAD"))
        .await
        .contains(">Assured</text>"));
    for query in ["", "repo=acme", "repo=acme/widget&commit=xyz"] {
        assert!(badge(query.to_owned()).await.contains(">Unknown</text>"), "{query}");
    }
    // Outside the public list: Unknown, whatever its state.
    api.record(json!({"repo_root": "acme/private", "commit_sha": c, "components": [{"name": "x"}]}))
        .await;
    api.promote(
        json!({"repo_root": "acme/private", "commit_sha": c, "reason": "ok", "bound_artifact_digest": digest('1')}),
        &api.admin,
    )
    .await;
    assert!(badge(format!("repo=acme/private&commit={c}"))
        .await
        .contains(">Unknown</text>"));
    let json_badge = api
        .client
        .get(&format!("/api/v1/trust/badge.json?repo={REPO}"), Some("ck-ignored"))
        .await;
    assert_eq!(json_badge.status, 200);
    assert_eq!(json_badge.header("content-type"), Some("application/json"));
    assert_eq!(json_badge.header("cache-control"), Some("no-cache"));
    assert_eq!(
        json_badge.body,
        json!({"schemaVersion": 1, "label": "Certior", "message": "Assured", "color": "#4c1", "labelColor": "#555", "cacheSeconds": 300})
    );
}

#[tokio::test]
async fn every_release_route_is_in_the_openapi_document() {
    let api = Api::start(&[]).await;
    let doc = api.client.get("/openapi.json", None).await.body;
    for path in [
        "/api/v1/releases/decision",
        "/api/v1/releases/health",
        "/api/v1/releases/promotions",
        "/api/v1/releases/promote",
        "/api/v1/releases/policy",
        "/api/v1/releases/evidence",
        "/api/v1/releases/github-webhook",
        "/api/v1/trust/badge",
        "/api/v1/trust/badge.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
}

#[tokio::test]
async fn oversized_evidence_is_refused_with_its_code() {
    let api = Api::start(&[]).await;
    let padding = "x".repeat(1024 * 1024 + 1);
    let body = json!({"repo_root": REPO, "commit_sha": sha('1'), "components": [{"name": "x", "version": padding}]});
    let reply = api.evidence(body).await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.body,
        json!({"detail": "Request body exceeds 1 MiB.", "code": "payload_too_large"})
    );
    assert_eq!(
        api.decide(&sha('1')).await["decision_status"],
        "unknown",
        "nothing was stored"
    );
}

/// The custom preset of spec/RELEASES.md §3.3: its own `ship` gates beside the built-in ones.
fn write_acme_preset(dir: &std::path::Path) {
    let preset = dir.join("acme");
    std::fs::create_dir_all(&preset).unwrap();
    std::fs::write(
        preset.join("preset.toml"),
        "schema_version = 1\nkey = \"acme\"\nname = \"Acme\"\nretention_days = 30\n[permissions]\ndefault = [\"filesystem:read\"]\n",
    )
    .unwrap();
    std::fs::write(
        preset.join("policy.cedar"),
        r#"@id("acme.release.no_phi_external_flow") @code("property_unverified") @owner("privacy")
@message("Property no_phi_external_flow must be verified before {repo} ships")
@remediation("Run the privacy export on this commit\nRecord the property with POST /api/v1/releases/evidence")
forbid (principal, action == Action::"ship", resource)
unless { context.properties.verified.contains("no_phi_external_flow") };
@id("acme.release.component_inventory") @code("component_inventory_missing")
@severity("degraded") @owner("supply_chain") @message("No component inventory was recorded for {commit}")
forbid (principal, action == Action::"ship", resource)
when { context.components.isEmpty() };
"#,
    )
    .unwrap();
}

#[tokio::test]
async fn a_presets_own_gates_decide_and_a_missing_preset_blocks() {
    let presets = tempfile::tempdir().unwrap();
    write_acme_preset(presets.path());
    let dir = presets.path().to_str().unwrap().to_owned();
    let (server, admin) = server_with_admin_and(&[("CERTIOR_PRESETS_DIR", &dir)]).await;
    let client = server.client();
    let path = format!("/api/v1/releases/policy?repo_root={REPO}");
    let put = Client::send(
        client
            .request(reqwest::Method::PUT, &path)
            .bearer_auth(&admin)
            .json(&json!({"presets": ["acme", "default"]})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let c = sha('1');
    let evidence = json!({"repo_root": REPO, "commit_sha": c, "check_runs": [check("build", "success", now())]});
    assert_eq!(
        client
            .post("/api/v1/releases/evidence", &evidence, Some(&admin))
            .await
            .status,
        200
    );
    let decide = || {
        let client = client.clone();
        let admin = admin.clone();
        let c = c.clone();
        async move {
            client
                .get(
                    &format!("/api/v1/releases/decision?repo_root={REPO}&commit_sha={c}"),
                    Some(&admin),
                )
                .await
                .body
        }
    };
    let d = decide().await;
    assert_eq!(d["decision_status"], "blocked");
    assert_eq!(
        policies(&d),
        [
            "property_unverified",
            "attestation_required",
            "component_inventory_missing"
        ]
    );
    assert_eq!(
        d["blockers"][0],
        json!({"component": "privacy", "reason": "Property no_phi_external_flow must be verified before acme/widget ships",
               "remediation_suggestion": "Run the privacy export on this commit, Record the property with POST /api/v1/releases/evidence"})
    );
    assert_eq!(
        d["explanation"][2]["requirement"],
        format!("No component inventory was recorded for {c}")
    );
    assert_eq!(d["explanation"][2]["satisfied"], false);
    // Satisfying the preset's gate leaves only the attestation: the built-in gates ran once
    // per preset and collapsed into one item.
    let more = json!({"repo_root": REPO, "commit_sha": c, "components": [{"name": "core"}],
                      "properties": [{"key": "no_phi_external_flow", "status": "verified", "source": "export"}]});
    assert_eq!(
        client
            .post("/api/v1/releases/evidence", &more, Some(&admin))
            .await
            .status,
        200
    );
    let d = decide().await;
    assert_eq!(d["decision_status"], "ready");
    assert_eq!(policies(&d), ["attestation_required"]);
    // The preset disappears from the server: the decision blocks on it.
    std::fs::remove_dir_all(presets.path().join("acme")).unwrap();
    let server = server.restart().await;
    let client = server.client();
    let d = client
        .get(
            &format!("/api/v1/releases/decision?repo_root={REPO}&commit_sha={c}"),
            Some(&admin),
        )
        .await
        .body;
    assert_eq!(d["decision_status"], "blocked");
    assert_eq!(policies(&d), ["preset_unavailable", "attestation_required"]);
    assert_eq!(d["blockers"][0]["component"], "policy_engine");
    assert_eq!(
        d["blockers"][0]["reason"],
        "Preset acme named by the release policy is not available"
    );
    let health = client
        .get(
            &format!("/api/v1/releases/health?repo_root={REPO}&commit_sha={c}"),
            Some(&admin),
        )
        .await
        .body;
    assert_eq!(health["ingest_status"], "failed");
    assert_eq!(health["ingest_issues"][0]["code"], "preset_unavailable");
}

/// A Wasm module that answers `answer` whatever it is asked (ABI v1).
fn answering(answer: &str) -> Vec<u8> {
    let escaped = answer.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 1024) "{escaped}")
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
             (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const {}))"#,
        (1024u64 << 32) | answer.len() as u64
    ))
    .unwrap()
}

#[tokio::test]
async fn release_plugins_add_items_and_fail_closed() {
    use sha2::{Digest, Sha256};
    let presets = tempfile::tempdir().unwrap();
    let dir = presets.path().join("plugged");
    std::fs::create_dir_all(&dir).unwrap();
    let mut toml = String::from(
        "schema_version = 1\nkey = \"plugged\"\nname = \"Plugged\"\nretention_days = 30\n[permissions]\ndefault = [\"filesystem:read\"]\n",
    );
    for (name, answer) in [
        (
            "sbom",
            r#"{"action": "deny", "violations": [{"code": "sbom_missing", "severity": "block",
            "message": "No SBOM artifact is recorded for this commit", "remediation_steps": ["Attach sbom.spdx.json to the evidence"],
            "owner_subsystem": "supply_chain", "evidence_id": "ev_000000000000000000000000"}]}"#,
        ),
        ("silent", r#"{"action": "deny"}"#),
        ("broken", "this is not JSON"),
        (
            "advice",
            r#"{"action": "allow", "violations": [{"code": "licence_review", "severity": "warn"}]}"#,
        ),
    ] {
        let module = answering(answer);
        let digest = hex::encode(Sha256::digest(&module));
        std::fs::write(dir.join(format!("{name}.wasm")), &module).unwrap();
        toml.push_str(&format!(
            "[[plugins]]\nname = \"{name}\"\nfile = \"{name}.wasm\"\nsha256 = \"{digest}\"\nhooks = [\"release\"]\n"
        ));
    }
    std::fs::write(dir.join("preset.toml"), toml).unwrap();
    std::fs::write(dir.join("policy.cedar"), "").unwrap();
    let presets_dir = presets.path().to_str().unwrap().to_owned();
    let api = Api::start(&[("CERTIOR_PRESETS_DIR", &presets_dir)]).await;
    let put = api
        .put_policy(
            REPO,
            json!({"presets": ["plugged"], "require_attestation": false}),
            &api.admin,
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    api.record(json!({"repo_root": REPO, "commit_sha": sha('1'), "components": [{"name": "core"}]}))
        .await;
    let d = api.decide(&sha('1')).await;
    assert_eq!(d["decision"], "NO_SHIP");
    assert_eq!(d["decision_status"], "blocked");
    assert_eq!(
        policies(&d),
        ["plugin_error", "plugin_denied", "sbom_missing", "licence_review"]
    );
    assert_eq!(
        d["blockers"],
        json!([
            {"component": "plugin:broken", "reason": "Release plugin broken of preset plugged failed: invalid_answer",
             "remediation_suggestion": "Check the plugin configuration in preset.toml, Upload a fixed plugin version"},
            {"component": "plugin:silent", "reason": "Release plugin silent of preset plugged denied the release",
             "remediation_suggestion": "See the documentation of plugin silent"},
            {"component": "supply_chain", "reason": "No SBOM artifact is recorded for this commit",
             "remediation_suggestion": "Attach sbom.spdx.json to the evidence"},
        ])
    );
    assert_eq!(
        d["explanation"][2]["evidence_id"],
        Value::Null,
        "an id naming no row of the snapshot is dropped"
    );
    assert_eq!(
        d["explanation"][3],
        json!({"policy": "licence_review", "requirement": "Release plugin advice reported licence_review",
               "satisfied": false, "evidence_id": null, "remediation": ""})
    );
}
