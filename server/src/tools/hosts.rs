//! Host allow-lists: `CERTIOR_HTTP_ALLOWED_HOSTS` (spec §7.6), which hosts `http_get` may reach,
//! and the same syntax in `CERTIOR_WEBHOOK_ALLOWED_HOSTS` (§9.8). An entry is an
//! exact host, `host:port`, or `*.suffix` for every subdomain of `suffix` (not `suffix` itself),
//! optionally with a port. A URL with an explicit port matches only entries with that port.

use std::net::IpAddr;

use reqwest::Url;

#[derive(Debug, Clone, Default)]
pub struct HostAllowList {
    entries: Vec<HostEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostEntry {
    pattern: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// The suffix with its leading dot: `.example.com`.
    Subdomains(String),
}

impl HostAllowList {
    /// Parses the comma-separated list; the error names the entry that is not a host.
    pub fn parse(list: &str) -> Result<HostAllowList, String> {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                parse_entry(entry).ok_or_else(|| {
                    format!("'{entry}' is not a host, host:port or *.suffix (e.g. api.example.com, localhost:8080, *.example.com)")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(HostAllowList { entries })
    }

    /// True when the URL is http(s) and its host (and port, when explicit) matches an entry.
    pub fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        matches!(url.scheme(), "http" | "https")
            && self.entries.iter().any(|entry| {
                entry.port == url.port()
                    && match &entry.pattern {
                        HostPattern::Exact(exact) => host == exact,
                        HostPattern::Subdomains(suffix) => host.ends_with(suffix.as_str()),
                    }
            })
    }
}

/// `host` or `host:port` as the URL gives it (the url crate drops a scheme's default port).
pub fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn parse_entry(entry: &str) -> Option<HostEntry> {
    let (host, port) = match entry.rsplit_once(':') {
        // A colon inside brackets belongs to an IPv6 address, not to a port.
        Some((host, port)) if !port.contains(']') => (host, Some(port.parse::<u16>().ok()?)),
        _ => (entry, None),
    };
    let (wildcard, host) = match host.strip_prefix("*.") {
        Some(suffix) => (true, suffix),
        None => (false, host),
    };
    if host.is_empty() || host.chars().any(|c| "/@?#\\*".contains(c) || c.is_whitespace()) {
        return None;
    }
    // Normalise like a URL's host (lower case, IDNA, bracketed IPv6) so comparisons are exact.
    let url = Url::parse(&format!("http://{host}/")).ok()?;
    let normalised = url.host_str()?.to_owned();
    if url.port().is_some() {
        return None;
    }
    let pattern = if wildcard {
        if normalised.starts_with('[') || normalised.parse::<IpAddr>().is_ok() {
            return None;
        }
        HostPattern::Subdomains(format!(".{normalised}"))
    } else {
        HostPattern::Exact(normalised)
    };
    Some(HostEntry { pattern, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &str, url: &str) -> bool {
        HostAllowList::parse(list).unwrap().allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn exact_wildcard_and_port_rules() {
        assert!(allows("api.example.com", "https://api.example.com/v1"));
        assert!(allows("API.Example.com", "https://api.EXAMPLE.com/v1"));
        assert!(!allows("api.example.com", "https://www.example.com/"));
        assert!(allows("*.example.com", "https://api.example.com/"));
        assert!(allows("*.example.com", "https://a.b.example.com/"));
        assert!(!allows("*.example.com", "https://example.com/"));
        assert!(!allows("*.example.com", "https://badexample.com/"));
        assert!(!allows("api.example.com", "https://api.example.com:8080/"));
        assert!(allows("api.example.com:8080", "https://api.example.com:8080/"));
        assert!(!allows("api.example.com:8080", "https://api.example.com/"));
        assert!(allows("*.example.com:8443", "https://api.example.com:8443/"));
        assert!(allows("127.0.0.1:3000, [::1]:3000", "http://[::1]:3000/"));
        assert!(!allows("", "https://api.example.com/"));
        assert!(!allows("files.example.com", "ftp://files.example.com/"));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "*",
            "*.",
            "a b",
            "host:99999",
            "host:x",
            "user@host",
            "example.com/path",
            "*.10.0.0.1",
        ] {
            let error = HostAllowList::parse(&format!("ok.example.com,{bad}")).unwrap_err();
            assert!(error.starts_with(&format!("'{bad}' is not a host")), "{bad}: {error}");
        }
        assert!(HostAllowList::parse(" , a.example.com ,").is_ok());
    }

    #[test]
    fn host_of_keeps_explicit_ports_only() {
        assert_eq!(host_of(&Url::parse("http://Example.com:80/").unwrap()), "example.com");
        assert_eq!(
            host_of(&Url::parse("http://example.com:8080/").unwrap()),
            "example.com:8080"
        );
    }
}
