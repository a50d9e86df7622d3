//! Repo keys (spec/RELEASES.md §1.1): every way of naming a repository — `owner/name`, an
//! https or ssh URL, the scp form — normalises to one lowercase `owner/name`, so evidence, policy,
//! webhook and badge all meet on the same record.

/// Why a repo name is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a repository key: expected owner/name or a repository URL")]
pub struct InvalidRepoKey;

const URL_SCHEMES: [&str; 4] = ["https://", "http://", "ssh://", "git://"];

/// Drops `scheme://authority` and anything from the first `?` or `#`; `None` for non-URLs.
fn strip_url(value: &str) -> Option<&str> {
    let scheme = URL_SCHEMES
        .iter()
        .find(|s| value.get(..s.len()).is_some_and(|head| head.eq_ignore_ascii_case(s)))?;
    let rest = &value[scheme.len()..];
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(&path[..end])
}

/// Drops `user@host:` of the scp form (`^[^/@:\s]+@[^/:\s]+:`); `None` when it does not match.
fn strip_scp(value: &str) -> Option<&str> {
    let at = value.find('@')?;
    let user = &value[..at];
    if user.is_empty() || user.contains(['/', ':']) || user.chars().any(char::is_whitespace) {
        return None;
    }
    let rest = &value[at + 1..];
    let colon = rest.find(':')?;
    let host = &rest[..colon];
    if host.is_empty() || host.contains(['/']) || host.chars().any(char::is_whitespace) {
        return None;
    }
    Some(&rest[colon + 1..])
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

/// The key of `value`, or why it has none.
pub fn normalise(value: &str) -> Result<String, InvalidRepoKey> {
    let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
    if value.is_empty() {
        return Err(InvalidRepoKey);
    }
    let path = strip_url(value).or_else(|| strip_scp(value)).unwrap_or(value);
    let path = path.trim_matches('/');
    let path = match path.len().checked_sub(4) {
        Some(cut) if path.is_char_boundary(cut) && path[cut..].eq_ignore_ascii_case(".git") => &path[..cut],
        _ => path,
    };
    let key = path.trim_end_matches('/').to_lowercase();
    match key.split_once('/') {
        Some((owner, name)) if valid_segment(owner) && valid_segment(name) => Ok(key),
        _ => Err(InvalidRepoKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_byte_text_where_a_scheme_would_end_is_refused_not_a_panic() {
        // Found by Schemathesis: byte 8 falls inside the third character here.
        assert_eq!(normalise("EJ\u{d468c}\u{d468c}Tq/x"), Err(InvalidRepoKey));
        assert_eq!(normalise("0\u{80}\u{10000}"), Err(InvalidRepoKey));
    }

    #[test]
    fn the_spec_table_normalises() {
        for input in [
            "Acme/Widget",
            "acme/widget.git",
            "https://github.com/Acme/Widget",
            "https://github.com/acme/widget.git/",
            "git@github.com:Acme/Widget.git",
            "ssh://git@github.com/acme/widget.git",
            "https://ghe.example.com:8443/acme/widget?tab=readme",
            "  HTTPS://github.com/acme/widget#readme ",
        ] {
            assert_eq!(normalise(input).as_deref(), Ok("acme/widget"), "{input}");
        }
        for input in [
            "",
            "  ",
            "acme",
            "/srv/repos/widget",
            "https://github.com/acme/widget/tree/main",
            "https://gitlab.com/g/sub/p",
            "a/b/c",
            "acme/..",
            "./widget",
            "acme/wid get",
            "https://github.com",
        ] {
            assert_eq!(normalise(input), Err(InvalidRepoKey), "{input}");
        }
    }
}
