//! The fixed PII rules of `rules.rs` matched by hand, in one pass over the bytes.
//!
//! Each function here finds exactly what its rule's regular expression finds with `find_iter`
//! (leftmost-first, non-overlapping, ASCII `\b`), which the tests check against the regexes.
//! Hand matching pays because every evaluation runs in a fresh instance: a regex's lazy
//! automaton loses the states it built with the instance, while this code has none to build.
//! The date-of-birth rule stays a regex: it runs only when a birth keyword is present.

use certior_plugin::Span;

use crate::rules::STREET_PARTICLES;

/// Rule indices in `rules()` order (the date rule, index 8, is not matched here).
pub const SSN: usize = 0;
pub const MRN_CODE: usize = 1;
pub const MRN_LABELLED: usize = 2;
pub const CREDIT_CARD: usize = 3;
pub const PHONE: usize = 4;
pub const PHONE_PARENTHESISED: usize = 5;
pub const EMAIL: usize = 6;
pub const IP_ADDRESS: usize = 7;
pub const STREET_ADDRESS: usize = 9;

/// Every match of the hand-matched rules, as `(rule index, span)`.
pub fn scan(text: &str) -> Vec<(usize, Span)> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    let mut resume = [0usize; 10];
    let mut record = |rule: usize, start: usize, end: Option<usize>, found: &mut Vec<(usize, Span)>| {
        if let Some(end) = end {
            if start >= resume[rule] {
                resume[rule] = end;
                found.push((rule, Span::new(start, end)));
            }
        }
    };
    for p in 0..b.len() {
        let c = b[p];
        if c == b'(' {
            record(PHONE_PARENTHESISED, p, phone_parenthesised(b, p), &mut found);
            continue;
        }
        if !boundary(b, p) {
            continue;
        }
        if c.is_ascii_digit() {
            record(SSN, p, ssn(b, p), &mut found);
            record(CREDIT_CARD, p, credit_card(b, p), &mut found);
            record(PHONE, p, phone(b, p), &mut found);
            record(IP_ADDRESS, p, ip_address(b, p), &mut found);
            record(STREET_ADDRESS, p, street_address(text, p), &mut found);
        }
        if c.is_ascii_uppercase() {
            record(MRN_CODE, p, mrn_code(b, p), &mut found);
        }
        if c.eq_ignore_ascii_case(&b'm') {
            record(MRN_LABELLED, p, mrn_labelled(text, p), &mut found);
        }
    }
    emails(b, &mut |start, end| record(EMAIL, start, Some(end), &mut found));
    found
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// ASCII `\b` at `at`: a word byte on exactly one side.
fn boundary(b: &[u8], at: usize) -> bool {
    let before = at > 0 && is_word(b[at - 1]);
    let after = at < b.len() && is_word(b[at]);
    before != after
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Exactly `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> bool {
    at + n <= b.len() && b[at..at + n].iter().all(u8::is_ascii_digit)
}

/// The length of the run of ASCII digits at `at`.
fn digit_run(b: &[u8], at: usize) -> usize {
    b[at.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// `end` if `\b` holds there.
fn ends_at(b: &[u8], end: usize) -> Option<usize> {
    boundary(b, end).then_some(end)
}

/// `\b\d{3}-\d{2}-\d{4}\b`
fn ssn(b: &[u8], p: usize) -> Option<usize> {
    let shaped = digits(b, p, 3) && byte(b, p + 3) == b'-' && digits(b, p + 4, 2) && byte(b, p + 6) == b'-';
    (shaped && digits(b, p + 7, 4))
        .then_some(p + 11)
        .and_then(|end| ends_at(b, end))
}

/// `\b[A-Z]{2}\d{7}\b`
fn mrn_code(b: &[u8], p: usize) -> Option<usize> {
    let shaped = byte(b, p).is_ascii_uppercase() && byte(b, p + 1).is_ascii_uppercase() && digits(b, p + 2, 7);
    shaped.then_some(p + 9).and_then(|end| ends_at(b, end))
}

/// `(?i)\bMRN[:#]?\s*\d{6,10}\b` (`\s` is Unicode whitespace).
fn mrn_labelled(text: &str, p: usize) -> Option<usize> {
    let b = text.as_bytes();
    if !(p + 3 <= b.len() && b[p..p + 3].eq_ignore_ascii_case(b"mrn")) {
        return None;
    }
    let mut at = p + 3;
    if matches!(byte(b, at), b':' | b'#') {
        at += 1;
    }
    at += text[at..]
        .chars()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum::<usize>();
    let run = digit_run(b, at);
    // A shorter run would end between two digits, where `\b` cannot hold.
    (6..=10)
        .contains(&run)
        .then_some(at + run)
        .and_then(|end| ends_at(b, end))
}

/// `\b(?:\d{4}[- ]?){3}\d{4}\b` (the Luhn check is the caller's).
fn credit_card(b: &[u8], p: usize) -> Option<usize> {
    let mut at = p;
    for _ in 0..3 {
        if !digits(b, at, 4) {
            return None;
        }
        at += 4;
        if matches!(byte(b, at), b'-' | b' ') {
            at += 1;
        }
    }
    digits(b, at, 4).then_some(at + 4).and_then(|end| ends_at(b, end))
}

/// `\b\d{3}[-.]?\d{3}[-.]?\d{4}\b`
fn phone(b: &[u8], p: usize) -> Option<usize> {
    let mut at = p;
    for group in [3, 3] {
        if !digits(b, at, group) {
            return None;
        }
        at += group;
        if matches!(byte(b, at), b'-' | b'.') {
            at += 1;
        }
    }
    digits(b, at, 4).then_some(at + 4).and_then(|end| ends_at(b, end))
}

/// `\(\d{3}\) ?\d{3}[-.]\d{4}\b`
fn phone_parenthesised(b: &[u8], p: usize) -> Option<usize> {
    if !(digits(b, p + 1, 3) && byte(b, p + 4) == b')') {
        return None;
    }
    let mut at = p + 5;
    if byte(b, at) == b' ' {
        at += 1;
    }
    let shaped = digits(b, at, 3) && matches!(byte(b, at + 3), b'-' | b'.') && digits(b, at + 4, 4);
    shaped.then_some(at + 8).and_then(|end| ends_at(b, end))
}

/// The lengths `(?:25[0-5]|2[0-4]\d|[01]?\d?\d)` can match at `at`, in the order a
/// backtracking matcher tries them.
fn octet_lengths(b: &[u8], at: usize) -> impl Iterator<Item = usize> {
    let (c0, c1, c2) = (byte(b, at), byte(b, at + 1), byte(b, at + 2));
    let d = |c: u8| c.is_ascii_digit();
    let options = [
        (c0 == b'2' && c1 == b'5' && (b'0'..=b'5').contains(&c2), 3),
        (c0 == b'2' && (b'0'..=b'4').contains(&c1) && d(c2), 3),
        (matches!(c0, b'0' | b'1') && d(c1) && d(c2), 3),
        (matches!(c0, b'0' | b'1') && d(c1), 2),
        (d(c0) && d(c1), 2),
        (d(c0), 1),
    ];
    options.into_iter().filter(|(ok, _)| *ok).map(|(_, len)| len)
}

/// `\b(?:OCTET\.){3}OCTET\b`
fn ip_address(b: &[u8], p: usize) -> Option<usize> {
    fn rest(b: &[u8], at: usize, octets_left: usize) -> Option<usize> {
        octet_lengths(b, at).find_map(|len| {
            let end = at + len;
            if octets_left == 1 {
                ends_at(b, end)
            } else if byte(b, end) == b'.' {
                rest(b, end + 1, octets_left - 1)
            } else {
                None
            }
        })
    }
    rest(b, p, 4)
}

/// The street suffixes: full words need `\b` after them; abbreviations take `\b` then an
/// optional period (rules.rs, `STREET_SUFFIX`).
const FULL_SUFFIXES: [&[u8]; 9] = [
    b"Street",
    b"Avenue",
    b"Road",
    b"Boulevard",
    b"Lane",
    b"Drive",
    b"Court",
    b"Way",
    b"Place",
];
const ABBREVIATED_SUFFIXES: [&[u8]; 8] = [b"St", b"Ave", b"Rd", b"Blvd", b"Ln", b"Dr", b"Ct", b"Pl"];

fn suffix(b: &[u8], at: usize) -> Option<usize> {
    let word = |w: &[u8]| b[at.min(b.len())..].starts_with(w) && boundary(b, at + w.len());
    if let Some(w) = FULL_SUFFIXES.iter().find(|w| word(w)) {
        return Some(at + w.len());
    }
    ABBREVIATED_SUFFIXES
        .iter()
        .find(|w| word(w))
        .map(|w| at + w.len() + usize::from(byte(b, at + w.len()) == b'.'))
}

fn blanks(b: &[u8], at: usize) -> usize {
    b[at.min(b.len())..]
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count()
}

/// `,?[ \t]*(?:Apt|Suite|#)\.?[ \t]*#?\d+[A-Za-z]?\b` at `at`: the unit's end.
fn unit(b: &[u8], at: usize) -> Option<usize> {
    let mut at = at + usize::from(byte(b, at) == b',');
    at += blanks(b, at);
    let rest = &b[at.min(b.len())..];
    at += if rest.starts_with(b"Apt") {
        3
    } else if rest.starts_with(b"Suite") {
        5
    } else if rest.starts_with(b"#") {
        1
    } else {
        return None;
    };
    at += usize::from(byte(b, at) == b'.');
    at += blanks(b, at);
    at += usize::from(byte(b, at) == b'#');
    let run = digit_run(b, at);
    if run == 0 {
        return None;
    }
    at += run;
    if byte(b, at).is_ascii_alphabetic() && boundary(b, at + 1) {
        return Some(at + 1);
    }
    ends_at(b, at)
}

/// The length of a street-name word at `at` (see `rules.rs`): a capitalised word or a particle.
fn street_word(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let mut chars = rest.chars();
    let first = chars.next()?;
    if first.is_uppercase() || first.is_ascii_digit() {
        let tail: usize = chars
            .take_while(|c| c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '\'' | '.' | '-'))
            .map(char::len_utf8)
            .sum();
        return Some(first.len_utf8() + tail);
    }
    let lower = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    STREET_PARTICLES.contains(&&rest[..lower]).then_some(lower)
}

/// `\b\d{1,6}[A-Za-z]?[ \t]+(?:WORD[ \t]+){1,4}SUFFIX(?:UNIT)?`
fn street_address(text: &str, p: usize) -> Option<usize> {
    let b = text.as_bytes();
    let number = digit_run(b, p);
    if number > 6 {
        return None;
    }
    let mut at = p + number;
    if byte(b, at).is_ascii_alphabetic() && blanks(b, at + 1) > 0 {
        at += 1;
    }
    let gap = blanks(b, at);
    if gap == 0 {
        return None;
    }
    at += gap;
    // Where the suffix may start after 1, 2, 3 or 4 words, each word followed by blanks.
    let mut after_words = Vec::with_capacity(4);
    while after_words.len() < 4 {
        let word = match street_word(text, at) {
            Some(word) => word,
            None => break,
        };
        let gap = blanks(b, at + word);
        if gap == 0 {
            break;
        }
        at += word + gap;
        after_words.push(at);
    }
    let end = after_words.iter().rev().find_map(|&at| suffix(b, at))?;
    Some(unit(b, end).unwrap_or(end))
}

/// `\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b`, every non-overlapping match in order.
fn emails(b: &[u8], found: &mut dyn FnMut(usize, usize)) {
    let local = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-');
    let mut resume = 0;
    for at_sign in positions(b, b'@') {
        if at_sign < resume {
            continue;
        }
        let run_start = at_sign - b[..at_sign].iter().rev().take_while(|c| local(**c)).count();
        let start = match (run_start.max(resume)..at_sign).find(|&p| boundary(b, p)) {
            Some(start) => start,
            None => continue,
        };
        if let Some(end) = email_domain(b, at_sign + 1) {
            found(start, end);
            resume = end;
        }
    }
}

/// `[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b` at `at`: the longest first part, then the longest ending.
fn email_domain(b: &[u8], at: usize) -> Option<usize> {
    let domain = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-');
    let run = b[at.min(b.len())..].iter().take_while(|c| domain(c)).count();
    (at + 1..at + run).rev().filter(|&dot| b[dot] == b'.').find_map(|dot| {
        let ending = b[dot + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic() || **c == b'|')
            .count();
        (2..=ending)
            .rev()
            .map(|len| dot + 1 + len)
            .find(|&end| boundary(b, end))
    })
}

fn positions(b: &[u8], needle: u8) -> impl Iterator<Item = usize> + '_ {
    b.iter().enumerate().filter(move |(_, c)| **c == needle).map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rules;
    use certior_plugin::{ascii_pattern, recombinations, PatternSet};

    fn rule_patterns() -> PatternSet {
        let patterns: Vec<String> = rules().iter().map(|r| ascii_pattern(&r.pattern)).collect();
        PatternSet::new(&patterns).unwrap()
    }

    /// What the rules' regular expressions find, without the date rule.
    fn by_regex(set: &PatternSet, text: &str) -> Vec<(usize, Span)> {
        let mut found: Vec<(usize, Span)> = set
            .find_all(text)
            .into_iter()
            .filter(|m| m.pattern != 8)
            .map(|m| (m.pattern, m.span))
            .collect();
        found.sort();
        found
    }

    fn by_hand(text: &str) -> Vec<(usize, Span)> {
        let mut found = scan(text);
        found.sort();
        found
    }

    const SAMPLES: &[&str] = &[
        "SSN 123-45-6789, a123-45-6789, 123-45-67890 and 123-45-6789x",
        "MRN: 00123456, mrn#1234567, MRN 12345678901, MRN\u{a0}654321, AB1234567, ABC1234567, AB12345678",
        "cards 4111 1111 1111 1111, 4111-1111-1111-1111, 4111111111111111, 4111 1111 1111 11112",
        "call 555-123-4567, 555.123.4567, 5551234567, (555) 123-4567, (555)123.4567, 1555-123-4567",
        "mail j.doe@example.org, .x@y.co, a_b@c.de, x@y, u@host.c, u@a.b.cc|dd, @x.org, a@b.c-d.ef9",
        "ips 192.168.1.254, 10.0.0.1, 256.1.1.1, 1.2.3.4.5, 01.02.003.4, 255.255.255.255x",
        "at 12 Oak Street, 221B Baker Street Apt 4, 1600 Pennsylvania Ave NW # 12, 5 tips to Drive",
        "1 Main St. 2 Elm Ct, Suite 3B. 3 A B C D E Road 4 X Y Z W Lane, Apt 12C3 and 7 Ocean Blvd.",
        "99 Sunset Boulevard 1234567 Long Road 12 O'Neil-Smith St #9 12\tTab Way",
        "Ünïcode 123-45-6789 é 12 Oak Street ü j@x.org 東京 (555) 123-4567",
        "8500 Peña Blvd, 35 De la Guerra Street, 14 Müller Street, 3 Ⅻ Ⓐ Road, 9 de la la la Way",
        "7 van der Berg Lane 8 dela Road 2 Élysée Place 4 ÉCOLE Drive 5 del Sol Ave. 6 y St",
        "5 tips to drive, 10 steps la Street, 11 Über-Straße Way, 12 Ǆemal Court, 13 ǅar Court",
    ];

    #[test]
    fn the_hand_matchers_find_what_the_rules_find() {
        let set = rule_patterns();
        for text in SAMPLES {
            assert_eq!(by_hand(text), by_regex(&set, text), "text {text:?}");
        }
    }

    #[test]
    fn the_hand_matchers_agree_on_scrambled_text() {
        let set = rule_patterns();
        for text in recombinations(SAMPLES, |c| c == ' ' || c == ',', 2000, 8) {
            assert_eq!(by_hand(&text), by_regex(&set, &text), "text {text:?}");
        }
    }
}
