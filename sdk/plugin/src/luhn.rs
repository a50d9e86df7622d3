//! The Luhn (mod 10) check that separates card numbers from other digit runs.

/// Whether the ASCII digits of `number` pass the Luhn check. Spaces and hyphens are skipped
/// (cards are written `4111 1111 1111 1111` or `4111-1111-…`); any other character, or fewer
/// than two digits, makes it not a card number.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    let mut digits = 0usize;
    for byte in number.bytes().rev() {
        match byte {
            b'0'..=b'9' => {
                let mut digit = u32::from(byte - b'0');
                if digits % 2 == 1 {
                    digit *= 2;
                    if digit > 9 {
                        digit -= 9;
                    }
                }
                sum += digit;
                digits += 1;
            }
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    digits >= 2 && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::luhn_valid;

    #[test]
    fn known_valid_numbers() {
        for number in ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "5500005555555559", "378282246310005", "79927398713", "00"] {
            assert!(luhn_valid(number), "{number}");
        }
    }

    #[test]
    fn invalid_numbers() {
        for number in ["4111111111111112", "1234567812345678", "79927398710", "0", "", "4111.1111.1111.1111", "4111x111111111111"] {
            assert!(!luhn_valid(number), "{number}");
        }
    }
}
