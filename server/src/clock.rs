use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, fractional: the one time format of the API (spec §1.4).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
