//! The PDF form of a compliance package (spec §12.5): a cover with the verdict, then the seven
//! sections. It is drawn from the signed JSON package alone, so the PDF never says anything
//! the package does not.

mod font;
mod layout;

use serde_json::Value;

use font::Font;
use layout::{Align, Color, Document, Metadata, Style, GREY};

const GREEN: Color = Color(0.05, 0.5, 0.2);
const RED: Color = Color(0.78, 0.1, 0.1);
const BODY: Style = Style::new(Font::Regular, 9.5);
const MONO: Style = Style::new(Font::Mono, 9.0);

/// Rows of the audit-trail table; the package keeps every event.
const AUDIT_ROWS: usize = 100;
/// Flow violations listed in section 4.
const FLOW_ROWS: usize = 20;

const SECTIONS: [&str; 7] = [
    "1. Execution Summary",
    "2. Proof Certificates",
    "3. Content Safety Scans",
    "4. Information Flow Analysis",
    "5. Policy Configuration",
    "6. Audit Trail",
    "7. Attestation",
];

/// Renders `package` (a signed package of spec §12) as a PDF file.
pub fn render(package: &Value) -> Vec<u8> {
    let mut doc = Document::new();
    cover(&mut doc, package);
    doc.page_break();
    doc.text(Style::new(Font::Bold, 16.0), Align::Left, "Contents");
    doc.space(6.0);
    for section in SECTIONS {
        doc.text(Style::new(Font::Regular, 11.0), Align::Left, section);
    }
    execution_summary(&mut doc, &package["execution_summary"]);
    certificates(&mut doc, &package["certificates"]);
    safety_scans(&mut doc, &package["safety_scans"]);
    flow_analysis(&mut doc, &package["flow_analysis"]);
    policy(&mut doc, &package["policy_applied"]);
    audit_trail(&mut doc, &package["audit_trail"], &package["audit_chain"]);
    attestation(&mut doc, &package["attestation"], &package["key_id"]);
    let summary = &package["execution_summary"];
    doc.finish(&Metadata {
        title: format!("Compliance Audit - {}", text(&package["compliance_regime"])),
        author: "Certior Verified Agent Platform".into(),
        subject: format!("Execution {}", text(&summary["execution_id"])),
    })
}

fn cover(doc: &mut Document, package: &Value) {
    let centred = |doc: &mut Document, style: Style, line: &str| doc.text(style, Align::Center, line);
    let detail = Style::new(Font::Regular, 10.5);
    doc.space(100.0);
    centred(doc, Style::new(Font::Bold, 26.0), "Compliance Audit Package");
    doc.space(10.0);
    let generated = format!("Generated {}", utc(&package["generated_at"]));
    centred(doc, Style::new(Font::Regular, 11.0).color(GREY), &generated);
    doc.space(30.0);
    let summary = &package["execution_summary"];
    centred(doc, detail, &format!("Regime: {}", text(&package["compliance_regime"])));
    centred(doc, detail, &format!("Execution: {}", text(&summary["execution_id"])));
    let digest = &package["policy_applied"]["digest"];
    centred(doc, detail, &format!("Preset digest: {}", text(digest)));
    doc.space(50.0);
    let (verdict, color) = match package["attestation"]["compliant"].as_bool() {
        Some(true) => ("COMPLIANT", GREEN),
        _ => ("NON-COMPLIANT", RED),
    };
    centred(doc, Style::new(Font::Bold, 40.0).color(color), verdict);
    doc.space(50.0);
    centred(doc, detail, &format!("Package ID: {}", text(&package["package_id"])));
    centred(doc, detail, &format!("Signing key: {}", text(&package["key_id"])));
    // A weaker preset that was asked for and not applied (spec §4.6.4) is said here too.
    for note in package["notes"].as_array().into_iter().flatten() {
        doc.space(16.0);
        centred(doc, BODY.color(GREY), &format!("Note: {}", text(note)));
    }
}

fn execution_summary(doc: &mut Document, summary: &Value) {
    doc.heading(SECTIONS[0]);
    doc.field("Execution ID", &text(&summary["execution_id"]), BODY);
    doc.field("Task", &text(&summary["task"]), BODY);
    doc.field("User", &text(&summary["user_id"]), BODY);
    doc.field("Status", &text(&summary["status"]), BODY);
    doc.field("Created", &utc(&summary["created_at"]), BODY);
    doc.field("Completed", &utc(&summary["completed_at"]), BODY);
    doc.field("Cost", &dollars(&summary["cost_cents"]), BODY);
    doc.field("Certificates", &text(&summary["certificate_count"]), BODY);
}

fn certificates(doc: &mut Document, certificates: &Value) {
    doc.heading(SECTIONS[1]);
    let certificates = items(certificates);
    if certificates.is_empty() {
        doc.text(BODY, Align::Left, "No proof certificates were issued.");
        return;
    }
    let columns = [
        ("#", 0.05),
        ("ID", 0.33),
        ("Type", 0.22),
        ("Prover", 0.08),
        ("Properties", 0.32),
    ];
    let rows: Vec<Vec<String>> = certificates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                text(&c["id"]),
                text(&c["type"]),
                text(&c["prover"]),
                joined(&c["verified_properties"]),
            ]
        })
        .collect();
    doc.table(&columns, &rows);
}

fn safety_scans(doc: &mut Document, scans: &Value) {
    doc.heading(SECTIONS[2]);
    let scans = items(scans);
    if scans.is_empty() {
        doc.text(BODY, Align::Left, "No content safety violations detected.");
        return;
    }
    let columns = [
        ("Scan #", 0.09),
        ("Category", 0.33),
        ("Severity", 0.13),
        ("Detail", 0.45),
    ];
    let rows: Vec<Vec<String>> = scans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                (i + 1).to_string(),
                text(&s["category"]),
                text(&s["severity"]),
                cut(&text(&s["matched_text"]), 60),
            ]
        })
        .collect();
    doc.table(&columns, &rows);
}

fn flow_analysis(doc: &mut Document, flow: &Value) {
    doc.heading(SECTIONS[3]);
    doc.field("Rules Enforced", &text(&flow["rules_enforced"]), BODY);
    doc.field("Flows Tracked", &text(&flow["flows_tracked"]), BODY);
    doc.field("Violations Detected", &text(&flow["violations_detected"]), BODY);
    let details = items(&flow["violation_details"]);
    if details.is_empty() {
        return;
    }
    doc.space(8.0);
    let columns = [
        ("Step", 0.08),
        ("Tool", 0.18),
        ("Label", 0.16),
        ("Destination", 0.18),
        ("Policy", 0.40),
    ];
    let rows: Vec<Vec<String>> = details
        .iter()
        .take(FLOW_ROWS)
        .map(|d| {
            ["step_index", "tool", "label", "destination", "policy_id"]
                .iter()
                .map(|key| text(&d[*key]))
                .collect()
        })
        .collect();
    doc.table(&columns, &rows);
    if details.len() > FLOW_ROWS {
        doc.space(4.0);
        let more = format!(
            "Showing {FLOW_ROWS} of {} violations; the JSON package lists every one.",
            details.len()
        );
        doc.text(BODY.color(GREY), Align::Left, &more);
    }
}

fn policy(doc: &mut Document, policy: &Value) {
    doc.heading(SECTIONS[4]);
    doc.field("Regime", &text(&policy["name"]), BODY);
    doc.field("Retention (days)", &text(&policy["audit"]["retention_days"]), BODY);
    doc.field("Human Approvals", &joined(&policy["human_approvals"]), BODY);
    doc.field("Blocked Categories", &joined(&policy["blocked_categories"]), BODY);
    doc.field("Required Proofs", &joined(&policy["required_proofs"]), BODY);
}

fn audit_trail(doc: &mut Document, trail: &Value, chain: &Value) {
    doc.heading(SECTIONS[5]);
    let events = items(trail);
    let count = match events.len() {
        1 => "1 event in the execution's hash chain.".to_owned(),
        n => format!("{n} events in the execution's hash chain."),
    };
    doc.text(BODY, Align::Left, &count);
    doc.space(6.0);
    let columns = [
        ("#", 0.06),
        ("Timestamp", 0.24),
        ("Action", 0.26),
        ("Result", 0.11),
        ("Detail", 0.33),
    ];
    let rows: Vec<Vec<String>> = events
        .iter()
        .take(AUDIT_ROWS)
        .map(|e| {
            vec![
                text(&e["seq"]),
                utc(&e["timestamp"]),
                cut(&text(&e["action"]), 30),
                text(&e["result"]),
                cut(&text(&e["details"]), 30),
            ]
        })
        .collect();
    doc.table(&columns, &rows);
    if events.len() > AUDIT_ROWS {
        doc.space(4.0);
        let more = format!(
            "{} more events are not shown; the JSON package lists all {}.",
            events.len() - AUDIT_ROWS,
            events.len()
        );
        doc.text(BODY.color(GREY), Align::Left, &more);
    }
    doc.space(8.0);
    let result = match (chain["verified"].as_bool(), &chain["first_invalid_seq"]) {
        (Some(true), _) => "Verified".to_owned(),
        (_, seq) => format!("Broken at event {}", text(seq)),
    };
    doc.field("Chain", &result, BODY);
    doc.field("Head Hash", &text(&chain["head_hash"]), MONO);
}

fn attestation(doc: &mut Document, attestation: &Value, key_id: &Value) {
    doc.heading(SECTIONS[6]);
    let compliant = if attestation["compliant"] == true { "Yes" } else { "No" };
    let regime = text(&attestation["regime"]);
    let retention = text(&attestation["retention_days"]);
    doc.field("Regime", &regime, BODY);
    doc.field("Retention (days)", &retention, BODY);
    doc.field("Certificate Count", &text(&attestation["certificate_count"]), BODY);
    doc.field("Compliant", compliant, BODY);
    doc.field("Proofs Satisfied", &joined(&attestation["proofs_satisfied"]), BODY);
    doc.field("Proofs Missing", &joined(&attestation["proofs_missing"]), BODY);
    doc.field(
        "Verified Properties",
        &joined(&attestation["verified_properties"]),
        MONO,
    );
    doc.space(14.0);
    let closing = format!(
        "This package was generated automatically by Certior. It is signed with key {} (Ed25519; the public \
         key is listed at /api/v1/trust/keys) and should be retained for the {regime} retention period of \
         {retention} days.",
        text(key_id)
    );
    doc.text(BODY, Align::Left, &closing);
}

/// The elements of an array; anything else has none.
fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// A value as printed: strings as they are, `-` for null, other values as compact JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A list of strings comma-joined, or `None`.
fn joined(value: &Value) -> String {
    let parts: Vec<String> = items(value).iter().map(text).collect();
    if parts.is_empty() {
        "None".into()
    } else {
        parts.join(", ")
    }
}

/// At most `max` characters: longer text keeps `max - 3` and ends in `...`.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    kept + "..."
}

/// Cents as `$X.XX`.
fn dollars(cents: &Value) -> String {
    let Some(cents) = cents.as_i64() else {
        return "-".into();
    };
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}

/// Epoch seconds as `YYYY-MM-DD HH:MM:SS UTC`; `-` when absent.
fn utc(seconds: &Value) -> String {
    let Some(at) = seconds
        .as_f64()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s.floor() as i64).ok())
    else {
        return "-".into();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_printed_as_the_contract_says() {
        assert_eq!(dollars(&json!(1234)), "$12.34");
        assert_eq!(dollars(&json!(5)), "$0.05");
        assert_eq!(utc(&json!(1_795_906_436.9)), "2026-11-28 22:53:56 UTC");
        assert_eq!(utc(&Value::Null), "-");
        assert_eq!(cut("abcdefgh", 8), "abcdefgh");
        assert_eq!(cut("abcdefghi", 8), "abcde...");
        assert_eq!(joined(&json!([])), "None");
        assert_eq!(joined(&json!(["a", "b"])), "a, b");
    }

    #[test]
    fn the_pdf_carries_the_metadata() {
        let package = json!({"compliance_regime": "HIPAA", "execution_summary": {"execution_id": "e-1"},
                             "attestation": {"compliant": true}});
        let pdf = String::from_utf8_lossy(&render(&package)).into_owned();
        assert!(pdf.starts_with("%PDF-"));
        assert!(pdf.contains("/Title (Compliance Audit - HIPAA)"), "{pdf}");
        assert!(pdf.contains("/Author (Certior Verified Agent Platform)"));
        assert!(pdf.contains("/Subject (Execution e-1)"));
        assert!(pdf.contains("(COMPLIANT) Tj"));
    }
}
