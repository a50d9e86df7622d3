//! The detection rules: one or more patterns per entity, each with an acceptance check.
//!
//! The spec's patterns (spec/API.md §6.3) are the floor. Forms added on top are marked; each
//! must keep the benchmark's quality bar (F2 ≥ 0.90 per entity, ≤ 2 % false positives).

use crate::entity::Entity;

/// What a regular-expression match must also satisfy to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// The digits pass the Luhn check (card numbers).
    Luhn,
    /// A birth keyword ends at most 20 characters before the match (dates of birth).
    BirthContext,
}

pub struct RuleSpec {
    pub entity: Entity,
    /// Written in spec notation; `\d` and `\b` become ASCII when compiled.
    pub pattern: String,
    pub check: Check,
}

/// A month name or abbreviation, for `Month D, YYYY` dates.
const MONTH: &str = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

/// An IPv4 octet, 0–255, leading zeros allowed as in the spec's `\d{1,3}` plus range check.
const OCTET: &str = r"(?:25[0-5]|2[0-4]\d|[01]?\d?\d)";

/// The street suffixes of the spec. Only abbreviations take a trailing period: after a full
/// word it ends the sentence, not the address.
const STREET_SUFFIX: &str =
    r"(?:(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Way|Place)\b|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl)\b\.?)";

/// Lower-case particles that may stand between the capitalised words of a street name.
pub const STREET_PARTICLES: [&str; 14] =
    ["de", "la", "le", "del", "della", "di", "da", "du", "van", "von", "der", "den", "dos", "y"];

/// Birth keywords whose presence shortly before a date makes it a date of birth.
/// `birthdate` (no space) is an addition to the spec's list.
pub const BIRTH_KEYWORD: &str = r"(?i)\b(?:dob|date\s+of\s+birth|born|birth\s*date)\b";

/// Characters allowed between a birth keyword and its date.
pub const BIRTH_WINDOW_CHARS: usize = 20;

/// All rules, in entity report order.
pub fn rules() -> Vec<RuleSpec> {
    let date = format!(
        r"(?i)\b(?:(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/\d{{4}}|\d{{4}}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])|{MONTH}\.?\s+(?:0?[1-9]|[12]\d|3[01]),?\s+\d{{4}})\b"
    );
    let ip = format!(r"\b(?:{OCTET}\.){{3}}{OCTET}\b");
    // House number (optionally with a letter: 221B), one to four words, a suffix, then
    // optionally a unit. A word is capitalised (in any script: "Peña", "Müller") or one of the
    // lower-case name particles ("De la Guerra"), so that prose such as "5 tips to drive" is
    // not an address.
    let particles = STREET_PARTICLES.join("|");
    let street = format!(
        r"\b\d{{1,6}}[A-Za-z]?[ \t]+(?:(?:[\p{{Uppercase}}0-9][\p{{Alphabetic}}0-9'.-]*|(?:{particles}))[ \t]+){{1,4}}{STREET_SUFFIX}(?:,?[ \t]*(?:Apt|Suite|#)\.?[ \t]*#?\d+[A-Za-z]?\b)?"
    );
    vec![
        rule(Entity::Ssn, r"\b\d{3}-\d{2}-\d{4}\b", Check::None),
        rule(Entity::Mrn, r"\b[A-Z]{2}\d{7}\b", Check::None),
        rule(Entity::Mrn, r"(?i)\bMRN[:#]?\s*\d{6,10}\b", Check::None),
        rule(Entity::CreditCard, r"\b(?:\d{4}[- ]?){3}\d{4}\b", Check::Luhn),
        rule(Entity::Phone, r"\b\d{3}[-.]?\d{3}[-.]?\d{4}\b", Check::None),
        // Addition: the parenthesised area code, "(555) 123-4567".
        rule(Entity::Phone, r"\(\d{3}\) ?\d{3}[-.]\d{4}\b", Check::None),
        rule(Entity::Email, r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b", Check::None),
        rule(Entity::IpAddress, ip, Check::None),
        rule(Entity::DateOfBirth, date, Check::BirthContext),
        rule(Entity::StreetAddress, street, Check::None),
    ]
}

fn rule(entity: Entity, pattern: impl Into<String>, check: Check) -> RuleSpec {
    RuleSpec { entity, pattern: pattern.into(), check }
}
