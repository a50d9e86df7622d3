//! Small helpers for the text and JSON of stored records, shared by the executor (which writes
//! them) and the compliance package (which reads them back).

use serde_json::Value;

/// The strings of a JSON array (anything else, or non-string items, count as absent).
pub fn string_array(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The first `max` characters of `text` (not bytes: a cut never splits a character).
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_and_cuts() {
        assert_eq!(string_array(&json!(["a", 1, "b"])), ["a", "b"]);
        assert!(string_array(&json!(null)).is_empty());
        assert_eq!(truncate_chars("ééé", 2), "éé");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
