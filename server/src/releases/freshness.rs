//! Freshness of one evidence time (spec/RELEASES.md §5.1). An attested release is judged at its
//! attestation time, so it does not age out while it stays attested.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
    Future,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Future => "future",
        }
    }
}

/// The clock inputs of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// `evaluated_at`.
    pub now: f64,
    /// The effective attestation's time when attested, else `now`.
    pub anchor: f64,
    pub max_age_days: i64,
    pub skew_seconds: i64,
}

impl Clock {
    pub fn judge(&self, t: f64) -> Freshness {
        if t > self.now + self.skew_seconds as f64 {
            Freshness::Future
        } else if self.anchor - t > (self.max_age_days * 86_400) as f64 {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }
}

/// `t` as RFC 3339 UTC to the second (`2026-01-01T00:00:00Z`).
pub fn rfc3339(t: f64) -> String {
    let secs = t.floor() as i64;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(dt) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        ),
        Err(_) => format!("{t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_fresh() {
        let clock = Clock {
            now: 1_000_000.0,
            anchor: 1_000_000.0,
            max_age_days: 1,
            skew_seconds: 60,
        };
        assert_eq!(clock.judge(1_000_060.0), Freshness::Fresh);
        assert_eq!(clock.judge(1_000_060.5), Freshness::Future);
        assert_eq!(clock.judge(1_000_000.0 - 86_400.0), Freshness::Fresh);
        assert_eq!(clock.judge(1_000_000.0 - 86_401.0), Freshness::Stale);
        let attested = Clock {
            anchor: 1_000_000.0 - 86_400.0 * 30.0,
            now: 1_000_000.0,
            ..clock
        };
        assert_eq!(attested.judge(1_000_000.0 - 86_400.0 * 30.5), Freshness::Fresh);
    }

    #[test]
    fn times_print_as_utc_seconds() {
        assert_eq!(rfc3339(1_767_225_600.25), "2026-01-01T00:00:00Z");
    }
}
