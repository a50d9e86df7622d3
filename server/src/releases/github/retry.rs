//! When a GitHub request is worth repeating (spec/RELEASES.md §7.4): transport failures, 5xx,
//! 429 and rate-limited 403s are retried after 10, 30, 90 and 270 s, or when GitHub says.

use std::time::Duration;

/// At most this many attempts per report job.
pub const MAX_ATTEMPTS: usize = 5;
/// The waits between attempts.
const WAITS: [u64; 4] = [10, 30, 90, 270];
/// GitHub's own hints are honoured up to this long.
const MAX_HINT: u64 = 15 * 60;

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt, after GitHub's hint if it gave one.
    Retry {
        cause: String,
        hint: Option<Duration>,
    },
    Final(String),
}

/// Classifies an HTTP answer; `None` for success. `retry_after` and `reset_at` are the header
/// values, `now` the epoch seconds.
pub fn classify(
    status: u16,
    remaining: Option<&str>,
    retry_after: Option<&str>,
    reset_at: Option<&str>,
    now: u64,
) -> Option<Failure> {
    if (200..300).contains(&status) {
        return None;
    }
    let cause = format!("HTTP {status}");
    let rate_limited = status == 403 && remaining.is_some_and(|r| r.trim() == "0");
    if status >= 500 || status == 429 || rate_limited {
        let hint = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| {
                reset_at
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|at| at.saturating_sub(now))
            })
            .map(|s| Duration::from_secs(s.min(MAX_HINT)));
        return Some(Failure::Retry { cause, hint });
    }
    Some(Failure::Final(cause))
}

/// The wait before attempt `attempt + 1` (attempts count from 1).
pub fn wait(attempt: usize, hint: Option<Duration>) -> Duration {
    hint.unwrap_or_else(|| Duration::from_secs(WAITS[(attempt - 1).min(WAITS.len() - 1)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_spec() {
        assert_eq!(classify(201, None, None, None, 0), None);
        assert!(matches!(
            classify(502, None, None, None, 0),
            Some(Failure::Retry { hint: None, .. })
        ));
        assert_eq!(
            classify(429, None, Some("7"), None, 0),
            Some(Failure::Retry {
                cause: "HTTP 429".into(),
                hint: Some(Duration::from_secs(7))
            })
        );
        assert_eq!(
            classify(403, Some("0"), None, Some("5000"), 1000),
            Some(Failure::Retry {
                cause: "HTTP 403".into(),
                hint: Some(Duration::from_secs(900))
            })
        );
        assert_eq!(
            classify(403, Some("10"), None, None, 0),
            Some(Failure::Final("HTTP 403".into()))
        );
        assert_eq!(
            classify(422, None, None, None, 0),
            Some(Failure::Final("HTTP 422".into()))
        );
        let waits: Vec<u64> = (1..=4).map(|a| wait(a, None).as_secs()).collect();
        assert_eq!(waits, [10, 30, 90, 270]);
    }
}
