//! Test texts for matchers: the pieces of some samples, recombined in new neighbourhoods.
//!
//! A hand-written matcher or a [`Screen`](crate::Screen) must find exactly what the regular
//! expressions it stands in for find. Samples alone rarely put each kind of match next to each
//! kind of neighbour; their pieces shuffled together do.

/// `texts` pseudo-random texts of `pieces_per_text` pieces each, the pieces split from
/// `samples` after every character for which `split_after` holds. The same arguments always
/// give the same texts, so a failure can be replayed.
pub fn recombinations(samples: &[&str], split_after: fn(char) -> bool, texts: usize, pieces_per_text: usize) -> Vec<String> {
    let pieces: Vec<&str> = samples.iter().flat_map(|sample| sample.split_inclusive(split_after)).collect();
    if pieces.is_empty() {
        return vec![String::new(); texts];
    }
    // xorshift64: reproducible, and no dependency for the plugins to build against.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..texts)
        .map(|_| {
            let mut text = String::new();
            for _ in 0..pieces_per_text {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            text
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::recombinations;

    #[test]
    fn recombines_the_samples_pieces_reproducibly() {
        let texts = recombinations(&["a b", "c d"], |c| c == ' ', 50, 3);
        assert_eq!(texts.len(), 50);
        assert!(texts.iter().all(|t| t.split_inclusive(' ').count() <= 3 && t.chars().all(|c| "abcd ".contains(c))));
        assert_eq!(texts, recombinations(&["a b", "c d"], |c| c == ' ', 50, 3));
        assert!(texts.iter().any(|t| t.contains("b") && t.contains("c")));
        assert_eq!(recombinations(&[], |_| true, 2, 3), ["", ""]);
    }
}
