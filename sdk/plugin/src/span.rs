//! Byte ranges into the evaluated content.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A half-open range `[start, end)` of UTF-8 byte offsets into `Input::content`.
///
/// Byte offsets (not characters) because that is what the host slices with and what regular
/// expression matches report; on the wire a span is the two-element array `[start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`. Panics if `end < start`, which is always a plugin bug.
    pub fn new(start: usize, end: usize) -> Span {
        assert!(start <= end, "span end {end} before start {start}");
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the two spans share a byte or meet end to start. Redaction merges such spans so
    /// that two adjacent tokens never leave a gap that leaks which entity ended where.
    pub fn overlaps_or_touches(&self, other: &Span) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// The text this span covers. Panics if the span is out of range or not on character
    /// boundaries of `text` — a plugin that produced such a span has a bug the host must see.
    pub fn slice<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.start, self.end).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Span, D::Error> {
        let (start, end) = <(usize, usize)>::deserialize(deserializer)?;
        if end < start {
            return Err(D::Error::custom(format!("span end {end} before start {start}")));
        }
        Ok(Span { start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn serializes_as_a_pair() {
        assert_eq!(serde_json::to_string(&Span::new(4, 15)).unwrap(), "[4,15]");
        let span: Span = serde_json::from_str("[4,15]").unwrap();
        assert_eq!(span, Span::new(4, 15));
        assert!(serde_json::from_str::<Span>("[15,4]").is_err());
    }

    #[test]
    fn overlap_and_touch() {
        let a = Span::new(0, 5);
        assert!(a.overlaps_or_touches(&Span::new(4, 8)));
        assert!(a.overlaps_or_touches(&Span::new(5, 8)));
        assert!(!a.overlaps_or_touches(&Span::new(6, 8)));
        assert!(Span::new(6, 8).overlaps_or_touches(&Span::new(0, 9)));
    }

    #[test]
    fn slice_len_and_empty() {
        let span = Span::new(4, 7);
        assert_eq!(span.slice("SSN 123 x"), "123");
        assert_eq!(span.len(), 3);
        assert!(!span.is_empty());
        assert!(Span::new(2, 2).is_empty());
    }

    #[test]
    #[should_panic(expected = "before start")]
    fn rejects_reversed() {
        Span::new(3, 2);
    }
}
