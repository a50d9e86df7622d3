//! The three standard PDF fonts the report uses (every reader has them, so nothing is embedded
//! and no system font is needed), their WinAnsi encoding and the widths that layout needs to
//! wrap, truncate and centre text.

/// A font of the report; each is a standard Type 1 font with WinAnsi encoding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Font {
    Regular,
    Bold,
    /// Fixed pitch, for hashes, keys and proof names.
    Mono,
}

impl Font {
    pub const ALL: [Font; 3] = [Font::Regular, Font::Bold, Font::Mono];

    /// The standard font's PostScript name.
    pub fn base_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
            Font::Mono => b"Courier",
        }
    }

    /// The name the page resources give the font.
    pub fn resource(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
            Font::Mono => b"F3",
        }
    }

    /// The width of `text` in points at `size`.
    pub fn width(self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.char_width(c, size)).sum()
    }

    /// The width of one character in points at `size`, from the AFM metrics of the standard
    /// fonts. Characters outside ASCII count as a full em, which no glyph of these fonts
    /// exceeds, so text is never wider than measured.
    pub fn char_width(self, c: char, size: f32) -> f32 {
        let table = match self {
            Font::Mono => return 0.6 * size,
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        };
        let em = match c {
            ' '..='~' => f32::from(table[c as usize - 0x20]),
            _ => 1000.0,
        };
        em * size / 1000.0
    }
}

/// The WinAnsi bytes of `text` for a `Tj` operand. Characters the encoding lacks become `?`;
/// control characters become spaces (layout has already turned line breaks into lines).
pub fn encode(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi).collect()
}

fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        c if c.is_control() => b' ',
        c => WIN_ANSI_EXTRA
            .iter()
            .find(|(extra, _)| *extra == c)
            .map_or(b'?', |(_, byte)| *byte),
    }
}

/// The characters WinAnsi places in 0x80..=0x9F.
const WIN_ANSI_EXTRA: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8a),
    ('‹', 0x8b),
    ('Œ', 0x8c),
    ('Ž', 0x8e),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9a),
    ('›', 0x9b),
    ('œ', 0x9c),
    ('ž', 0x9e),
    ('Ÿ', 0x9f),
];

/// Helvetica, ASCII 0x20..=0x7E under WinAnsi (0x27 is `quotesingle`, 0x60 `grave`).
#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,      // p..~
];

/// Helvetica-Bold, ASCII 0x20..=0x7E under WinAnsi.
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0..?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P.._
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // `..o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,      // p..~
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_font_metrics() {
        assert_eq!(Font::Mono.width("abcd", 10.0), 24.0);
        assert_eq!(Font::Regular.width("Hi", 10.0), (722.0 + 222.0) / 100.0);
        assert_eq!(Font::Bold.width("Hi", 10.0), (722.0 + 278.0) / 100.0);
        assert_eq!(Font::Regular.width("é", 1.0), 1.0, "non-ASCII is measured as an em");
    }

    #[test]
    fn encoding_is_win_ansi() {
        assert_eq!(encode("a(b)\\"), b"a(b)\\");
        assert_eq!(encode("café — €"), [b'c', b'a', b'f', 0xe9, b' ', 0x97, b' ', 0x80]);
        assert_eq!(encode("日\t"), b"? ");
    }
}
