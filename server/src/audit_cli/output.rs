//! The four output formats of `certior audit` (spec/RELEASES.md §8.4).

use serde_json::{json, Value};

use super::checks::Audit;
use super::finding::{describe, Level};

pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn summary(audit: &Audit, packages: &[String]) -> String {
    format!(
        "Checked {} declaration(s) against [{}]: {} pass, {} fail",
        audit.declarations,
        packages.join(", "),
        audit.declarations - audit.failed,
        audit.failed
    )
}

pub fn text(audit: &Audit, packages: &[String]) -> String {
    let mut out = String::new();
    for f in &audit.findings {
        let line = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        out.push_str(&format!(
            "{}{line}: {}: {}: {}\n",
            f.file,
            f.level.as_str(),
            f.code,
            f.message
        ));
    }
    out.push_str(&summary(audit, packages));
    out.push('\n');
    out
}

/// GitHub workflow-command escaping of a message.
fn escape_data(value: &str) -> String {
    value.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub workflow-command escaping of a property value.
fn escape_property(value: &str) -> String {
    escape_data(value).replace(':', "%3A").replace(',', "%2C")
}

pub fn github(audit: &Audit, packages: &[String]) -> String {
    let mut out = String::new();
    for f in &audit.findings {
        let command = match f.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let line = f.line.map(|l| format!(",line={l}")).unwrap_or_default();
        out.push_str(&format!(
            "::{command} file={}{line},title={}::{}\n",
            escape_property(&f.file),
            escape_property(f.code),
            escape_data(&f.message)
        ));
    }
    out.push_str(&summary(audit, packages));
    out.push('\n');
    out
}

pub fn json(audit: &Audit, packages: &[String]) -> Value {
    json!({
        "packages": packages,
        "declarations_checked": audit.declarations,
        "declarations_passed": audit.declarations - audit.failed,
        "declarations_failed": audit.failed,
        "findings": audit.findings,
        "passed": audit.failed == 0,
    })
}

pub fn sarif(audit: &Audit) -> Value {
    let mut codes: Vec<&str> = audit.findings.iter().map(|f| f.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|code| json!({"id": code, "shortDescription": {"text": describe(code)}}))
        .collect();
    let results: Vec<Value> = audit
        .findings
        .iter()
        .map(|f| {
            let mut physical = json!({"artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"}});
            if let Some(line) = f.line {
                physical["region"] = json!({"startLine": line});
            }
            json!({"ruleId": f.code, "level": f.level.as_str(), "message": {"text": f.message},
                   "locations": [{"physicalLocation": physical}]})
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "certior", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_their_parts() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
