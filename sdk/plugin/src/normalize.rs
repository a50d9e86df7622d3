//! Normalisation of regular-expression patterns to ASCII semantics.
//!
//! Spec patterns are written with `\b` and `\d`. In the `regex` crate those are Unicode-aware:
//! `\d` also matches Arabic-Indic and other digits (which no Luhn or octet check understands),
//! and a Unicode `\b` makes the lazy DFA give up on any non-ASCII haystack, falling back to a
//! much slower engine. Rewriting them to ASCII keeps matching linear, fast and predictable.

/// `pattern` with `\d` rewritten to `[0-9]` (`0-9` inside a character class) and `\b` to the
/// ASCII word boundary `(?-u:\b)`. Everything else, including escaped backslashes, is kept.
pub fn ascii_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut class_depth = 0usize;
    // True right after `[` or `[^`, where a `]` is a literal rather than the class end.
    let mut class_start = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let at_class_start = class_start;
        class_start = false;
        match c {
            '\\' => match chars.next() {
                Some('d') if class_depth > 0 => out.push_str("0-9"),
                Some('d') => out.push_str("[0-9]"),
                Some('b') if class_depth == 0 => out.push_str("(?-u:\\b)"),
                Some(escaped) => {
                    out.push('\\');
                    out.push(escaped);
                }
                None => out.push('\\'),
            },
            '[' => {
                class_depth += 1;
                class_start = true;
                out.push(c);
            }
            '^' if at_class_start => {
                class_start = true;
                out.push(c);
            }
            ']' if class_depth > 0 && !at_class_start => {
                class_depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ascii_pattern;

    #[test]
    fn rewrites_digits_and_boundaries() {
        assert_eq!(ascii_pattern(r"\b\d{3}-\d{2}-\d{4}\b"), r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)");
        assert_eq!(ascii_pattern(r"[\d.]+"), r"[0-9.]+");
        assert_eq!(ascii_pattern(r"[^\d\s]"), r"[^0-9\s]");
    }

    #[test]
    fn keeps_everything_else() {
        assert_eq!(ascii_pattern(r"\\b\\d"), r"\\b\\d");
        assert_eq!(ascii_pattern(r"(?i)\s*[:=]\s*[^\s']"), r"(?i)\s*[:=]\s*[^\s']");
        assert_eq!(ascii_pattern(r"[]\d]x\b"), r"[]0-9]x(?-u:\b)");
        assert_eq!(ascii_pattern(r"[^]\d]\d"), r"[^]0-9][0-9]");
        assert_eq!(ascii_pattern(r"\[\d\]"), r"\[[0-9]\]");
        assert_eq!(ascii_pattern("trailing\\"), "trailing\\");
    }
}
