//! `GET /compliance/{execution_id}/export` end to end: the signed JSON package of spec §12, the
//! export preset rules of §4.6.4 and §12.4, and the PDF report of §12.5.

use certior_e2e::{Client, Reply, Server};
use serde_json::{json, Value};

const PACKAGE_KEYS: [&str; 14] = [
    "package_id",
    "generated_at",
    "compliance_regime",
    "execution_summary",
    "certificates",
    "safety_scans",
    "flow_analysis",
    "verification_runtime",
    "policy_applied",
    "audit_trail",
    "attestation",
    "audit_chain",
    "key_id",
    "signature",
];

/// Submits a task and waits until it is terminal; returns the execution view.
async fn run(api: &Client, key: &str, body: Value) -> Value {
    let reply = api.post("/api/v1/tasks", &body, Some(key)).await;
    assert_eq!(reply.status, 201, "submit {body}: {}", reply.text);
    let id = reply.body["execution_id"].as_str().unwrap();
    api.wait_terminal(id, key).await.body
}

fn note_task() -> Value {
    json!({
        "task": "Write a short note and read it back",
        "permissions": ["filesystem:read", "filesystem:write:notes"],
        "plan": [
            {"tool": "file_write", "args": {"path": "notes/a.txt", "content": "hello"}},
            {"tool": "file_read", "args": {"path": "notes/a.txt"}}
        ]
    })
}

fn hipaa_task() -> Value {
    json!({"task": "Summarise the visit note", "compliance_policy": "hipaa", "plan": [{"tool": "file_list"}]})
}

async fn export(api: &Client, key: &str, id: &str, query: &str) -> Reply {
    api.get(&format!("/api/v1/compliance/{id}/export{query}"), Some(key))
        .await
}

/// A 200 JSON export.
async fn export_json(api: &Client, key: &str, id: &str, query: &str) -> Value {
    let reply = export(api, key, id, query).await;
    assert_eq!(reply.status, 200, "export {query}: {}", reply.text);
    reply.body
}

fn keys(package: &Value) -> Vec<&str> {
    package.as_object().unwrap().keys().map(String::as_str).collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// `POST /trust/verify` says the package's signature holds.
async fn assert_verifies(api: &Client, package: &Value) {
    let reply = api
        .post("/api/v1/trust/verify", &json!({"package": package}), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["kind"], "package");
    assert_eq!(reply.body["valid"], true, "{}", reply.text);
    assert_eq!(reply.body["key_id"], package["key_id"]);
}

#[tokio::test]
async fn the_json_package_is_signed_and_attests_the_run() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let view = run(&api, &key, note_task()).await;
    assert_eq!(view["status"], "completed", "{view}");
    let id = view["id"].as_str().unwrap();

    let reply = export(&api, &key, id, "").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("content-disposition"),
        Some(format!("attachment; filename=\"compliance-{}.json\"", &id[..8]).as_str())
    );
    assert!(reply.header("content-type").unwrap().starts_with("application/json"));
    let package = reply.body;
    assert_eq!(
        keys(&package),
        PACKAGE_KEYS,
        "top-level keys in contract order, no notes"
    );
    assert_verifies(&api, &package).await;

    // Tampering breaks the signature.
    let mut tampered = package.clone();
    tampered["attestation"]["compliant"] = json!(!package["attestation"]["compliant"].as_bool().unwrap());
    let refused = api
        .post("/api/v1/trust/verify", &json!({"package": tampered}), None)
        .await;
    assert_eq!(refused.body["reason"], "bad_signature", "{}", refused.text);

    assert_eq!(package["compliance_regime"], "Default");
    let summary = &package["execution_summary"];
    assert_eq!(summary["execution_id"], id);
    assert_eq!(summary["task"], "Write a short note and read it back");
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["preset_key"], "default");
    assert_eq!(summary["certificate_count"], view["certificate_count"]);

    let certificates = package["certificates"].as_array().unwrap();
    assert_eq!(certificates.len() as u64, view["certificate_count"].as_u64().unwrap());
    let mut expected_properties: Vec<String> = certificates
        .iter()
        .flat_map(|c| strings(&c["verified_properties"]))
        .collect();
    expected_properties.sort();
    expected_properties.dedup();

    let attestation = &package["attestation"];
    assert_eq!(attestation["regime"], "Default");
    assert_eq!(attestation["preset_key"], "default");
    assert_eq!(attestation["preset_digest"], package["policy_applied"]["digest"]);
    assert_eq!(attestation["retention_days"], 365);
    assert_eq!(strings(&attestation["verified_properties"]), expected_properties);
    // Ordered union: the preset's required proofs, then the profile's not already listed.
    let mut required = strings(&package["policy_applied"]["required_proofs"]);
    for proof in strings(&summary["verification_profile"]["required_proofs"]) {
        if !required.contains(&proof) {
            required.push(proof);
        }
    }
    assert_eq!(strings(&attestation["proofs_required"]), required);
    let satisfied = strings(&attestation["proofs_satisfied"]);
    let missing = strings(&attestation["proofs_missing"]);
    for proof in &required {
        assert_eq!(
            satisfied.contains(proof),
            expected_properties.contains(proof),
            "{proof} is satisfied exactly when a certificate lists it"
        );
        assert_ne!(satisfied.contains(proof), missing.contains(proof));
    }
    assert_eq!(attestation["compliant"], missing.is_empty());
    assert_eq!(attestation["certificate_count"], view["certificate_count"]);

    let chain = &package["audit_chain"];
    assert_eq!(chain["verified"], true);
    let trail = package["audit_trail"].as_array().unwrap();
    assert_eq!(chain["length"].as_u64().unwrap(), trail.len() as u64);
    assert_eq!(chain["head_hash"], trail.last().unwrap()["hash"]);
    assert_eq!(trail[0]["action"], "execution.created");
    assert_eq!(trail[0]["actor"], "user");
    assert_eq!(package["verification_runtime"]["mode"], "guard");
    assert_eq!(package["verification_runtime"]["lean_status"], "unavailable");

    // Every export is computed afresh.
    let again = export_json(&api, &key, id, "").await;
    assert_ne!(again["package_id"], package["package_id"]);
    assert_ne!(again["signature"], package["signature"]);
    assert_verifies(&api, &again).await;
}

#[tokio::test]
async fn a_run_that_did_not_complete_exports_as_non_compliant() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let task = json!({
        "task": "Write outside the granted area",
        "permissions": ["filesystem:read", "filesystem:write:reports"],
        "compliance_policy": "hipaa",
        "plan": [{"tool": "file_write", "args": {"path": "secret/x.txt", "content": "x"}}]
    });
    let view = run(&api, &key, task).await;
    assert_eq!(view["status"], "failed", "{view}");
    let package = export_json(&api, &key, view["id"].as_str().unwrap(), "").await;
    let attestation = &package["attestation"];
    assert_eq!(attestation["compliant"], false);
    assert_eq!(attestation["proofs_satisfied"], json!([]));
    assert_eq!(attestation["proofs_missing"], attestation["proofs_required"]);
    assert_verifies(&api, &package).await;
}

#[tokio::test]
async fn a_weaker_preset_is_not_applied_and_the_package_says_so() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let view = run(&api, &key, hipaa_task()).await;
    let id = view["id"].as_str().unwrap();

    let package = export_json(&api, &key, id, "?preset=default").await;
    let own = export_json(&api, &key, id, "").await;
    assert_eq!(
        package["attestation"], own["attestation"],
        "the weaker preset changes nothing"
    );
    assert_eq!(package["compliance_regime"], "HIPAA");
    assert_eq!(package["policy_applied"]["key"], "hipaa");
    assert_eq!(package["attestation"]["preset_key"], "hipaa");
    assert_eq!(
        package["notes"],
        json!(["Preset 'default' is weaker than the execution's preset 'hipaa'; the export uses 'hipaa'."])
    );
    let mut with_notes = PACKAGE_KEYS.to_vec();
    with_notes.insert(12, "notes");
    assert_eq!(keys(&package), with_notes, "notes sit before key_id and signature");
    assert_verifies(&api, &package).await;

    // Neither of two regimes is stricter than the other; the note names the canonical key.
    let sox = export_json(&api, &key, id, "?preset=SOX").await;
    assert_eq!(sox["compliance_regime"], "HIPAA");
    assert_eq!(
        sox["notes"],
        json!(["Preset 'sox' is weaker than the execution's preset 'hipaa'; the export uses 'hipaa'."])
    );

    // The execution's own preset, by any spelling, carries no note.
    for query in ["", "?preset=hipaa", "?preset=HIPAA"] {
        let own = export_json(&api, &key, id, query).await;
        assert_eq!(own["compliance_regime"], "HIPAA");
        assert!(own.get("notes").is_none(), "{query}: {}", own["notes"]);
    }
}

/// An event row edited in the database: the package reports the first broken link, does not
/// attest compliance, and the PDF says where the chain breaks.
#[tokio::test]
async fn an_edited_event_breaks_the_chain_in_the_export() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let view = run(&api, &key, note_task()).await;
    assert_eq!(view["status"], "completed", "{view}");
    let id = view["id"].as_str().unwrap();
    assert_eq!(export_json(&api, &key, id, "").await["audit_chain"]["verified"], true);

    // `replace` rather than a JSON function: the same SQL on SQLite and PostgreSQL (TEXT column).
    let edited = server.sql(&format!(
        "UPDATE events SET data = replace(data, '\"task\":\"Write a short note and read it back\"', \
         '\"task\":\"something else\"') WHERE subject_id = '{id}' AND seq = 1 RETURNING data"
    ));
    assert_eq!(edited.len(), 1, "{edited:?}");
    assert!(edited[0][0].contains("\"task\":\"something else\""), "{edited:?}");

    let package = export_json(&api, &key, id, "").await;
    let chain = &package["audit_chain"];
    assert_eq!(chain["verified"], false, "{chain}");
    assert_eq!(chain["first_invalid_seq"], 1, "{chain}");
    assert_eq!(package["attestation"]["compliant"], false);
    assert_eq!(package["audit_trail"][0]["details"]["task"], "something else");
    assert_verifies(&api, &package).await;
    let lines = Pdf::fetch(&api, &key, id, "").await.lines();
    assert!(lines.iter().any(|l| l == "Broken at event 1"), "{lines:?}");
}

#[tokio::test]
async fn a_stricter_preset_is_applied() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let view = run(&api, &key, note_task()).await;
    let id = view["id"].as_str().unwrap();

    let package = export_json(&api, &key, id, "?preset=hipaa").await;
    assert_eq!(package["compliance_regime"], "HIPAA");
    assert!(package.get("notes").is_none());
    let policy = &package["policy_applied"];
    assert_eq!(policy["key"], "hipaa");
    assert_eq!(policy["audit"]["retention_days"], 2190);
    let attestation = &package["attestation"];
    assert_eq!(attestation["preset_key"], "hipaa");
    assert_eq!(attestation["retention_days"], 2190);
    let required = strings(&attestation["proofs_required"]);
    assert_eq!(
        required[..3],
        [
            "no_phi_external_flow",
            "minimum_necessary_access",
            "authorized_user_only"
        ]
    );
    // The run itself stays what it was.
    assert_eq!(package["execution_summary"]["preset_key"], "default");
    assert_verifies(&api, &package).await;

    let legal = export_json(&api, &key, id, "?preset=legal").await;
    assert_eq!(legal["compliance_regime"], "Legal Privilege");
    assert_eq!(legal["policy_applied"]["key"], "legal_privilege");
}

#[tokio::test]
async fn errors_follow_the_processing_order() {
    let server = Server::start().await;
    let api = server.client();
    let owner = api.operator("owner@example.com").await;
    let other = api.operator("other@example.com").await;
    let view = run(&api, &owner, note_task()).await;
    let id = view["id"].as_str().unwrap();

    let unknown = export(&api, &owner, id, "?preset=nope").await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    assert_eq!(
        unknown.detail(),
        "Unknown compliance preset: nope. Available: ['hipaa', 'sox', 'legal', 'legal_privilege', 'default']"
    );

    for (who, path_id) in [(&other, id), (&owner, "00000000-0000-4000-8000-000000000000")] {
        for query in ["", "?preset=nope", "?format=pdf"] {
            let hidden = export(&api, who, path_id, query).await;
            assert_eq!(hidden.status, 404, "{query}: {}", hidden.text);
            assert_eq!(hidden.detail(), "Execution not found");
        }
    }

    for query in ["?format=xml", "?format=PDF&preset=nope"] {
        let invalid = export(&api, &owner, id, query).await;
        assert_eq!(invalid.status, 422, "{query}: {}", invalid.text);
        assert_eq!(
            invalid.detail(),
            "Invalid value for 'format': Input should be 'json', 'pdf'."
        );
        assert_eq!(
            invalid.body["errors"],
            json!([{"loc": ["query", "format"], "msg": "Input should be 'json', 'pdf'", "type": "enum"}])
        );
    }
    // Validation comes before the lookup.
    let invalid = export(&api, &other, id, "?format=xml").await;
    assert_eq!(invalid.status, 422);

    let anonymous = api.get(&format!("/api/v1/compliance/{id}/export"), None).await;
    assert_eq!(anonymous.status, 401);
}

/// A PDF export, parsed.
struct Pdf {
    document: lopdf::Document,
}

impl Pdf {
    async fn fetch(api: &Client, key: &str, id: &str, query: &str) -> Pdf {
        let path = format!("/api/v1/compliance/{id}/export?format=pdf{query}");
        let response = api
            .request(reqwest::Method::GET, &path)
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/pdf");
        assert_eq!(
            header("content-disposition"),
            format!("attachment; filename=\"certior-audit-{}.pdf\"", &id[..8])
        );
        let bytes = response.bytes().await.unwrap().to_vec();
        assert!(bytes.starts_with(b"%PDF-"));
        let document = lopdf::Document::load_mem(&bytes).expect("a PDF that parses");
        Pdf { document }
    }

    fn page_count(&self) -> usize {
        self.document.get_pages().len()
    }

    /// The text of the given pages (1-based), one entry per line drawn.
    fn lines_of(&self, pages: &[u32]) -> Vec<String> {
        let text = self.document.extract_text(pages).expect("text of the pages");
        text.lines().map(|l| l.trim().to_owned()).collect()
    }

    fn lines(&self) -> Vec<String> {
        let pages: Vec<u32> = self.document.get_pages().keys().copied().collect();
        self.lines_of(&pages)
    }

    /// An entry of the Info dictionary.
    fn info(&self, entry: &[u8]) -> String {
        let info = self.document.trailer.get(b"Info").unwrap().as_reference().unwrap();
        let info = self.document.get_object(info).unwrap().as_dict().unwrap();
        String::from_utf8(info.get(entry).unwrap().as_str().unwrap().to_vec()).unwrap()
    }
}

#[tokio::test]
async fn the_pdf_report_shows_the_package() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let view = run(&api, &key, hipaa_task()).await;
    let id = view["id"].as_str().unwrap();
    let package = export_json(&api, &key, id, "").await;
    let compliant = package["attestation"]["compliant"].as_bool().unwrap();

    let pdf = Pdf::fetch(&api, &key, id, "&preset=default").await;
    assert_eq!(pdf.info(b"Title"), "Compliance Audit - HIPAA");
    assert_eq!(pdf.info(b"Author"), "Certior Verified Agent Platform");
    assert_eq!(pdf.info(b"Subject"), format!("Execution {id}"));
    let lines = pdf.lines();
    let verdict = if compliant { "COMPLIANT" } else { "NON-COMPLIANT" };
    assert!(lines.iter().any(|l| l == verdict), "{verdict} in {lines:?}");
    assert!(!lines
        .iter()
        .any(|l| l == if compliant { "NON-COMPLIANT" } else { "COMPLIANT" }));
    for expected in [
        format!("Execution: {id}"),
        "Regime: HIPAA".to_owned(),
        format!(
            "Preset digest: {}",
            package["policy_applied"]["digest"].as_str().unwrap()
        ),
        "Note: Preset 'default' is weaker than the execution's preset 'hipaa'; the export uses 'hipaa'.".to_owned(),
        "Summarise the visit note".to_owned(),
        "1. Execution Summary".to_owned(),
        "7. Attestation".to_owned(),
        dollars(view["cost_cents"].as_i64().unwrap()),
        "Verified".to_owned(),
    ] {
        assert!(lines.contains(&expected), "{expected:?} in {lines:?}");
    }
    let certificate_ids = strings(&view["certificate_ids"]);
    assert!(!certificate_ids.is_empty(), "{view}");
    for certificate in &certificate_ids {
        assert!(
            lines.iter().any(|l| l.contains(certificate.as_str())),
            "{certificate} in {lines:?}"
        );
    }
    assert!(pdf.page_count() >= 2);
    for page in 1..=pdf.page_count() as u32 {
        let lines = pdf.lines_of(&[page]);
        for expected in [
            "Certior - Verified Agent Platform".to_owned(),
            "Compliance Audit Package".to_owned(),
            "CONFIDENTIAL - Generated by Certior".to_owned(),
            format!("Page {page}"),
        ] {
            assert!(lines.contains(&expected), "page {page}: {expected:?} in {lines:?}");
        }
    }
    let generated = lines.iter().find(|l| l.starts_with("Generated ")).unwrap();
    assert!(generated.ends_with(" UTC") && generated.len() == "Generated 2026-01-01 00:00:00 UTC".len());
}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[tokio::test]
async fn user_text_is_escaped_in_the_pdf() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let task = r"List files ) Tj (BT /F1 99 Tf \ (unbalanced \\server\share ET";
    let view = run(&api, &key, json!({"task": task, "plan": [{"tool": "file_list"}]})).await;
    let id = view["id"].as_str().unwrap();

    let pdf = Pdf::fetch(&api, &key, id, "").await;
    let lines = pdf.lines();
    assert!(lines.iter().any(|l| l == task), "the task verbatim in {lines:?}");
    assert!(
        !lines.iter().any(|l| l == "99"),
        "nothing of the task became an operator"
    );
}

#[tokio::test]
async fn a_long_audit_trail_spans_pages() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let plan: Vec<Value> = (0..50).map(|_| json!({"tool": "file_list"})).collect();
    let view = run(
        &api,
        &key,
        json!({"task": "List the workspace fifty times", "plan": plan}),
    )
    .await;
    assert_eq!(view["status"], "completed", "{view}");
    let id = view["id"].as_str().unwrap();
    let events = export_json(&api, &key, id, "").await["audit_trail"]
        .as_array()
        .unwrap()
        .len();
    assert!(events > 100, "{events} events");

    let pdf = Pdf::fetch(&api, &key, id, "").await;
    let lines = pdf.lines();
    assert!(pdf.page_count() >= 4, "{} pages", pdf.page_count());
    let heads = lines.iter().filter(|l| *l == "Timestamp").count();
    assert!(
        heads >= 2,
        "the table header repeats on each page of the trail ({heads})"
    );
    assert!(lines.contains(&"100".to_owned()) && !lines.contains(&"101".to_owned()));
    let overflow = format!(
        "{} more events are not shown; the JSON package lists all {events}.",
        events - 100
    );
    assert!(lines.contains(&overflow), "{overflow:?} in {lines:?}");
}
