//! Detection quality of the built-in content plugins (issue 4, "Must show"): every snippet of
//! the labelled corpus `tests/corpus/detection.jsonl` goes through the REAL modules committed
//! in `presets/<key>/`, loaded by the plugin host with the `[plugins.config]` of the preset's
//! `preset.toml`, and the findings are scored against the labels.
//!
//! Corpus format (one JSON object a line; see `tests/corpus/README.md`):
//! `{"id", "group", "preset", "text", "expect": [{"entity" | "code", "span": [start, end),
//! "match", "keyword"?}], "note"}`. Spans are UTF-8 byte offsets into `text`; `match` is the
//! spanned text and is checked, so a corrupted corpus fails loudly instead of scoring wrongly.
//!
//! Scoring: a finding's label is its `entity` (PII entity or secret type) or, for keyword
//! plugins, its `code`. A finding is a true positive when an unmatched expected label of the
//! same snippet has the same label and an overlapping span (one-to-one). Every other finding is
//! a false positive of its label; every unmatched expectation a false negative. Each plugin of
//! the snippet's preset sees the original text (the preset chain would feed a redacted text to
//! later plugins; here every plugin is measured on its own).
//!
//! Gates: F2 ≥ 0.90 for every PII entity of spec/API.md §6.3 and for the PHI keywords (§6.5);
//! at most 2 % of the hard-negative snippets raise any finding. Other labels (secrets, MNPI,
//! privilege markers) are measured and printed.
//!
//! Run: `cargo test -p certior --test detection_quality -- --nocapture`

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use certior::plugin_host::{LoadedPlugin, Phase, PluginHost, PluginInput, PluginLimits};
use serde_json::Value;
use sha2::{Digest, Sha256};

const PRESETS: [&str; 4] = ["default", "hipaa", "sox", "legal_privilege"];

/// Labels gated at F2 ≥ 0.90: the PII entities (§6.3) and the PHI keywords (§6.5).
const GATED: [&str; 9] = [
    "SSN",
    "MRN",
    "CREDIT_CARD",
    "PHONE",
    "EMAIL",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "STREET_ADDRESS",
    "phi_keyword",
];

/// Labels scored and reported but not gated: the other keyword lists and the secret types.
const REPORTED: [&str; 11] = [
    "mnpi_keyword",
    "mnpi_pattern",
    "privilege_marker",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "GITHUB_TOKEN",
    "GENERIC_API_KEY",
    "GENERIC_SECRET",
    "JWT_TOKEN",
    "PRIVATE_KEY",
    "SLACK_TOKEN",
];

/// Every label the corpus must exercise at least once: the gated and the reported ones.
fn required_labels() -> impl Iterator<Item = &'static str> {
    GATED.into_iter().chain(REPORTED)
}

fn is_required(label: &str) -> bool {
    required_labels().any(|l| l == label)
}

/// Realistic cases outside the spec's patterns (forms the spec does not ask for, or
/// collisions the spec's patterns force). Scored and printed on their own, never gated, so
/// that the gated figures measure the spec's contract.
const BEYOND_SPEC: &str = "beyond_spec";

const MIN_F2: f64 = 0.90;
const MAX_NEGATIVE_FP_RATE: f64 = 0.02;
const MIN_SNIPPETS: usize = 300;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One labelled snippet.
struct Snippet {
    id: String,
    group: String,
    preset: String,
    text: String,
    expect: Vec<Labelled>,
}

#[derive(Debug, Clone)]
struct Labelled {
    label: String,
    span: (usize, usize),
}

fn load_corpus() -> Vec<Snippet> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/detection.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut ids = BTreeSet::new();
    let mut snippets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", path.display(), n + 1);
        let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
        let field = |name: &str| -> String {
            record[name]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: `{name}` must be a string"))
                .to_string()
        };
        let (id, group, preset, text) = (field("id"), field("group"), field("preset"), field("text"));
        field("note");
        assert!(ids.insert(id.clone()), "{at}: duplicate id `{id}`");
        assert!(PRESETS.contains(&preset.as_str()), "{at}: unknown preset `{preset}`");
        let expect: Vec<Labelled> = record["expect"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: `expect` must be an array"))
            .iter()
            .map(|e| {
                let label = e["entity"]
                    .as_str()
                    .or_else(|| e["code"].as_str())
                    .unwrap_or_else(|| panic!("{at}: an expectation needs `entity` or `code`"))
                    .to_string();
                let span = e["span"]
                    .as_array()
                    .filter(|s| s.len() == 2)
                    .and_then(|s| Some((s[0].as_u64()? as usize, s[1].as_u64()? as usize)))
                    .unwrap_or_else(|| panic!("{at}: `span` must be [start, end]"));
                let spanned = text
                    .get(span.0..span.1)
                    .unwrap_or_else(|| panic!("{at}: span {span:?} is not a UTF-8 slice of the text"));
                assert_eq!(
                    Some(spanned),
                    e["match"].as_str(),
                    "{at}: `match` differs from the span"
                );
                assert!(is_required(&label), "{at}: unknown label `{label}`");
                Labelled { label, span }
            })
            .collect();
        match group.as_str() {
            "negative" => assert!(expect.is_empty(), "{at}: a negative has no expectations"),
            BEYOND_SPEC => {}
            _ => assert!(!expect.is_empty(), "{at}: a positive needs expectations"),
        }
        snippets.push(Snippet {
            id,
            group,
            preset,
            text,
            expect,
        });
    }
    snippets
}

/// The content plugins of each preset, as its `preset.toml` configures them.
fn load_presets(host: &PluginHost) -> BTreeMap<&'static str, Vec<LoadedPlugin>> {
    let mut presets = BTreeMap::new();
    for key in PRESETS {
        let dir = repo_root().join("presets").join(key);
        let manifest_path = dir.join("preset.toml");
        let manifest: toml::Value = toml::from_str(
            &std::fs::read_to_string(&manifest_path).unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display())),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
        let entries = manifest
            .get("plugins")
            .and_then(|p| p.as_array())
            .unwrap_or_else(|| panic!("{}: no [[plugins]]", manifest_path.display()));
        let mut plugins = Vec::new();
        for entry in entries {
            let hooks: Vec<&str> = entry["hooks"]
                .as_array()
                .map(|h| h.iter().filter_map(|h| h.as_str()).collect())
                .unwrap_or_default();
            if !hooks.contains(&"content") {
                continue;
            }
            let name = entry["name"].as_str().expect("plugin name");
            let file = dir.join(entry["file"].as_str().expect("plugin file"));
            let wasm = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-plugins.sh)", file.display()));
            let digest = hex::encode(Sha256::digest(&wasm));
            if entry.get("sha256").and_then(|s| s.as_str()) != Some(digest.as_str()) {
                println!(
                    "warning: {} does not match the sha256 pinned in {}; measuring the file on disk",
                    file.display(),
                    manifest_path.display()
                );
            }
            let config = match entry.get("config") {
                Some(config) => serde_json::to_value(config).expect("TOML config converts to JSON"),
                None => Value::Object(Default::default()),
            };
            let plugin = host
                .load(name, &wasm, &config)
                .unwrap_or_else(|e| panic!("{key}/{name}: {e}"));
            plugins.push(plugin);
        }
        assert!(!plugins.is_empty(), "{key}: no content plugins");
        presets.insert(key, plugins);
    }
    presets
}

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
    support: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
    fn f2(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            5.0 * p * r / (4.0 * p + r)
        }
    }
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn excerpt(text: &str, span: (usize, usize)) -> String {
    text.get(span.0..span.1).unwrap_or("?").replace('\n', "\\n")
}

#[test]
fn detection_quality_of_the_builtin_plugins() {
    let corpus = load_corpus();
    let gated_snippets = corpus.iter().filter(|s| s.group != BEYOND_SPEC).count();
    assert!(
        gated_snippets >= MIN_SNIPPETS,
        "the corpus has {gated_snippets} scored snippets, fewer than {MIN_SNIPPETS}"
    );
    let host = PluginHost::new(PluginLimits {
        max_instances: 8,
        ..PluginLimits::default()
    })
    .expect("plugin host");
    let presets = load_presets(&host);

    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for label in required_labels() {
        counts.insert(label.to_string(), Counts::default());
    }
    let mut misses: Vec<String> = Vec::new();
    let (mut negatives, mut flagged_negatives) = (0usize, Vec::new());
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    let mut beyond: Vec<String> = Vec::new();

    for snippet in &corpus {
        *groups.entry(snippet.group.as_str()).or_default() += 1;
        let mut found: Vec<Labelled> = Vec::new();
        for plugin in &presets[snippet.preset.as_str()] {
            let answer = plugin
                .evaluate(&PluginInput::new(Phase::ToolOutput, &snippet.preset, &snippet.text))
                .unwrap_or_else(|e| panic!("{}: {} failed: {e}", snippet.id, plugin.name()));
            for violation in answer.violations {
                assert_ne!(
                    violation.code,
                    "plugin_error",
                    "{}: {} answered plugin_error: {:?}",
                    snippet.id,
                    plugin.name(),
                    violation.message
                );
                let label = violation.entity.clone().unwrap_or(violation.code.clone());
                let span = violation.span.unwrap_or((0, snippet.text.len()));
                found.push(Labelled { label, span });
            }
        }

        if snippet.group == BEYOND_SPEC {
            let expected: Vec<String> = snippet.expect.iter().map(|e| e.label.clone()).collect();
            let got: Vec<String> = found
                .iter()
                .map(|f| format!("{} `{}`", f.label, excerpt(&snippet.text, f.span)))
                .collect();
            let caught = snippet
                .expect
                .iter()
                .all(|e| found.iter().any(|f| f.label == e.label && overlaps(f.span, e.span)));
            let verdict = match (expected.is_empty(), found.is_empty(), caught) {
                (true, true, _) => "ok (no finding)",
                (true, false, _) => "false positive",
                (false, _, true) => "ok (detected)",
                (false, _, false) => "missed",
            };
            beyond.push(format!(
                "{} [{}] {verdict}: expected {expected:?}, found [{}]",
                snippet.id,
                snippet.preset,
                got.join(", ")
            ));
            continue;
        }
        if snippet.group == "negative" {
            negatives += 1;
            if !found.is_empty() {
                let what: Vec<String> = found
                    .iter()
                    .map(|f| format!("{} `{}`", f.label, excerpt(&snippet.text, f.span)))
                    .collect();
                flagged_negatives.push(format!("{} [{}]: {}", snippet.id, snippet.preset, what.join(", ")));
            }
        }

        let mut matched = vec![false; found.len()];
        for expected in &snippet.expect {
            let entry = counts.entry(expected.label.clone()).or_default();
            entry.support += 1;
            let hit = found
                .iter()
                .enumerate()
                .position(|(i, f)| !matched[i] && f.label == expected.label && overlaps(f.span, expected.span));
            match hit {
                Some(i) => {
                    matched[i] = true;
                    entry.tp += 1;
                }
                None => {
                    entry.fn_ += 1;
                    misses.push(format!(
                        "FN {:<16} {} `{}`",
                        expected.label,
                        snippet.id,
                        excerpt(&snippet.text, expected.span)
                    ));
                }
            }
        }
        for (f, _) in found.iter().zip(&matched).filter(|(_, m)| !**m) {
            counts.entry(f.label.clone()).or_default().fp += 1;
            misses.push(format!(
                "FP {:<16} {} `{}`",
                f.label,
                snippet.id,
                excerpt(&snippet.text, f.span)
            ));
        }
    }

    let fp_rate = flagged_negatives.len() as f64 / negatives as f64;
    println!("\nDetection quality: {} snippets {groups:?}", corpus.len());
    println!("| Label | Gate | Support | TP | FP | FN | Precision | Recall | F2 |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut failures = Vec::new();
    for (label, c) in &counts {
        let gated = GATED.contains(&label.as_str());
        println!(
            "| `{label}` | {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            if gated { "F2 ≥ 0.90" } else { "reported" },
            c.support,
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f2()
        );
        if gated && c.f2() < MIN_F2 {
            failures.push(format!("{label}: F2 {:.3} < {MIN_F2}", c.f2()));
        }
        if is_required(label) && c.support == 0 {
            failures.push(format!("{label}: no labelled occurrence in the corpus"));
        }
    }
    println!(
        "\nNegative set: {} of {negatives} hard-negative snippets flagged ({:.1} %, gate ≤ {:.0} %)",
        flagged_negatives.len(),
        fp_rate * 100.0,
        MAX_NEGATIVE_FP_RATE * 100.0
    );
    for line in &flagged_negatives {
        println!("  {line}");
    }
    if !misses.is_empty() {
        println!("\nMisses and false positives:");
        for line in &misses {
            println!("  {line}");
        }
    }
    println!("\nBeyond the spec's patterns (not gated):");
    for line in &beyond {
        println!("  {line}");
    }
    if fp_rate > MAX_NEGATIVE_FP_RATE {
        failures.push(format!(
            "negative set: {:.1} % flagged > {:.0} %",
            fp_rate * 100.0,
            MAX_NEGATIVE_FP_RATE * 100.0
        ));
    }
    assert!(
        failures.is_empty(),
        "detection quality below the bar:\n{}",
        failures.join("\n")
    );
}
