//! Finding secrets in text: every type's matches, then each match's check.

use certior_plugin::{ascii_pattern, PatternSet, Screen, Span};

use crate::rules::{is_key_char, Check, Needs, SecretType, SECRET_TYPES};

/// One accepted match: the type and where it is. Deliberately no copy of the matched text, so
/// that nothing downstream can store or echo the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub span: Span,
}

/// The compiled patterns. Built once, in `certior_init`, so that evaluation never compiles.
pub struct Detector {
    /// All patterns, in `SECRET_TYPES` order.
    patterns: PatternSet,
}

impl Detector {
    pub fn new() -> Result<Detector, String> {
        let patterns: Vec<String> = SECRET_TYPES.iter().map(|t| ascii_pattern(t.pattern)).collect();
        let mut screen = Screen::new(SECRET_TYPES.len());
        for (index, kind) in SECRET_TYPES.iter().enumerate() {
            screen = match kind.needs {
                Needs::Text(alternatives) => screen.needs_text(index, alternatives, false),
                Needs::AnyCase(alternatives) => screen.needs_text(index, alternatives, true),
                Needs::KeyRun(len) => screen.needs_run(index, is_key_char, len),
            };
        }
        Ok(Detector { patterns: PatternSet::new(&patterns)?.screened(screen)? })
    }

    /// Every accepted match, grouped by type in `SECRET_TYPES` order, each group in text order.
    pub fn scan(&self, text: &str) -> Vec<Found> {
        let mut matches = self.patterns.find_all(text);
        // Stable: each type's matches stay in text order.
        matches.sort_by_key(|m| m.pattern);
        matches
            .into_iter()
            .filter_map(|m| {
                let kind: &SecretType = &SECRET_TYPES[m.pattern];
                let matched = &text[m.span.start..m.span.end];
                if kind.check == Check::NotHex && matched.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                Some(Found { kind: kind.name, span: m.span })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certior_plugin::recombinations;

    /// Texts with every type, near misses, every case of the case-insensitive keywords, and
    /// non-ASCII text.
    const SAMPLES: &[&str] = &[
        "key AKIAIOSFODNN7EXAMPLE, akiaIOSFODNN7EXAMPLE, XAKIAIOSFODNN7EXAMPLE",
        "secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789 ghp_short GHP_abcdefghijklmnopqrstuvwxyz0123456789",
        "api_key=abcdefghij0123456789xyz API-KEY: 'ABCDEFGHIJ0123456789XYZ' \"apikey\": \"abcdefghij0123456789\"",
        "Password = hunter2hunter2 PASSWD:s3cr3t!!x pwd='longenough' Secret=tooshrt SECRET = 'abcdefgh'",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-x EYJhbGci.eyJ.x",
        "-----BEGIN RSA PRIVATE KEY----- -----BEGIN PRIVATE KEY----- -----begin private key-----",
        "xoxb-123-abc xoxp-9 XOXB-123 xoxz-1",
        "tool:file_write\ncontent=Vitals normal; follow-up in two weeks.\npath=reports/visit.txt",
        "ſecret = 'abcdefgh' pas\u{17f}word: 12345678 api\u{212a}ey=abcdefghij0123456789xyz",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/ 0123456789012345678901234567890123456789",
    ];

    fn unscreened() -> PatternSet {
        let patterns: Vec<String> = SECRET_TYPES.iter().map(|t| ascii_pattern(t.pattern)).collect();
        PatternSet::new(&patterns).unwrap()
    }

    #[test]
    fn the_screen_never_hides_a_match() {
        let detector = Detector::new().unwrap();
        let plain = unscreened();
        for text in SAMPLES {
            assert_eq!(detector.patterns.find_all(text), plain.find_all(text), "text {text:?}");
            assert!(!plain.find_all(text).is_empty() || text.starts_with("tool:"), "sample finds nothing: {text:?}");
        }
        for text in recombinations(SAMPLES, |c| c == ' ' || c == ',' || c == '=', 3000, 6) {
            assert_eq!(detector.patterns.find_all(&text), plain.find_all(&text), "text {text:?}");
        }
    }
}
