//! Redaction with the `[REDACTED-<ENTITY>]` token format (spec/API.md §6.8).

use crate::Span;

/// One thing to redact: where it is, what it is, and the entity's position in the plugin's
/// table (`rank`), which breaks ties between matches that start together and are equally long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding<'e> {
    pub span: Span,
    pub entity: &'e str,
    pub rank: usize,
}

/// The token that replaces a redacted span of `entity`.
pub fn redaction_token(entity: &str) -> String {
    format!("[REDACTED-{entity}]")
}

/// `text` with every finding replaced by its token.
///
/// Overlapping or touching spans are merged first, and a merged span takes the entity of its
/// earliest-starting finding (ties: the longer one, then the lower rank), so the output never
/// contains fragments of a partly redacted value. Replacement is one left-to-right pass.
/// Spans must lie on character boundaries of `text`.
pub fn redact(text: &str, findings: &[Finding<'_>]) -> String {
    let mut ordered: Vec<&Finding<'_>> = findings.iter().collect();
    ordered.sort_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.span.len().cmp(&a.span.len()))
            .then(a.rank.cmp(&b.rank))
    });
    let mut merged: Vec<(Span, &str)> = Vec::new();
    for finding in ordered {
        match merged.last_mut() {
            Some((span, _)) if span.overlaps_or_touches(&finding.span) => {
                span.end = span.end.max(finding.span.end);
            }
            _ => merged.push((finding.span, finding.entity)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (span, entity) in merged {
        out.push_str(&text[cursor..span.start]);
        // The token of `redaction_token`, written in place.
        out.push_str("[REDACTED-");
        out.push_str(entity);
        out.push(']');
        cursor = span.end;
    }
    out.push_str(&text[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(start: usize, end: usize, entity: &str, rank: usize) -> Finding<'_> {
        Finding { span: Span::new(start, end), entity, rank }
    }

    #[test]
    fn spec_example() {
        let text = "SSN 123-45-6789 and email a@b.com";
        let findings = [finding(26, 33, "EMAIL", 4), finding(4, 15, "SSN", 0)];
        assert_eq!(redact(text, &findings), "SSN [REDACTED-SSN] and email [REDACTED-EMAIL]");
    }

    #[test]
    fn token_format() {
        assert_eq!(redaction_token("CREDIT_CARD"), "[REDACTED-CREDIT_CARD]");
    }

    #[test]
    fn overlapping_spans_take_the_earliest_start() {
        // The merged span is named after whichever finding starts first, whatever the ranks.
        let text = "id MRN 5551234567 end";
        let findings = [finding(7, 17, "PHONE", 0), finding(3, 17, "MRN", 1)];
        assert_eq!(redact(text, &findings), "id [REDACTED-MRN] end");
        let findings = [finding(7, 17, "PHONE", 3), finding(5, 12, "X", 0)];
        assert_eq!(redact(text, &findings), "id MR[REDACTED-X] end");
    }

    #[test]
    fn ties_prefer_longer_then_rank() {
        let text = "0123456789";
        assert_eq!(redact(text, &[finding(0, 4, "SHORT", 0), finding(0, 6, "LONG", 5)]), "[REDACTED-LONG]6789");
        assert_eq!(redact(text, &[finding(0, 4, "B", 2), finding(0, 4, "A", 1)]), "[REDACTED-A]456789");
    }

    #[test]
    fn touching_spans_merge_into_one_token() {
        assert_eq!(redact("aaBBcc", &[finding(2, 4, "X", 0), finding(4, 6, "Y", 1)]), "aa[REDACTED-X]");
        assert_eq!(redact("aaBB.cc", &[finding(2, 4, "X", 0), finding(5, 7, "Y", 1)]), "aa[REDACTED-X].[REDACTED-Y]");
    }

    #[test]
    fn contained_span_does_not_shrink_the_merge() {
        assert_eq!(redact("0123456789", &[finding(1, 8, "A", 0), finding(2, 3, "B", 0)]), "0[REDACTED-A]89");
    }

    #[test]
    fn no_findings_and_multibyte_text() {
        assert_eq!(redact("héllo", &[]), "héllo");
        assert_eq!(redact("é 123 é", &[finding(3, 6, "N", 0)]), "é [REDACTED-N] é");
    }
}
