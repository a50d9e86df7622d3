//! Sliding-window limits on login failures, registrations and provider probes (spec §1.11).
//! Counters live in the store, so every replica sharing a database sees the same ones.

use std::time::Duration;

use crate::error::ApiError;
use crate::store::Store;

/// One limit: at most `max` events per `window` in buckets named `<scope>:<subject>`.
pub struct Limit {
    pub scope: &'static str,
    pub max: i64,
    pub window: Duration,
    pub message: &'static str,
}

const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);

pub const LOGIN_PER_EMAIL: Limit = Limit {
    scope: "login:email",
    max: 10,
    window: FIFTEEN_MINUTES,
    message: "Too many login attempts. Try again later.",
};
pub const LOGIN_PER_IP: Limit = Limit {
    scope: "login:ip",
    max: 50,
    window: FIFTEEN_MINUTES,
    message: "Too many login attempts. Try again later.",
};
pub const REGISTER_PER_IP: Limit = Limit {
    scope: "register:ip",
    max: 20,
    window: Duration::from_secs(3600),
    message: "Too many registrations. Try again later.",
};

pub const VALIDATE_PER_USER: Limit = Limit {
    scope: "validate:user",
    max: 10,
    window: Duration::from_secs(60),
    message: "Too many validation requests. Try again later.",
};

pub struct RateLimiter<'a> {
    store: &'a dyn Store,
    now: f64,
}

impl<'a> RateLimiter<'a> {
    pub fn new(store: &'a dyn Store, now: f64) -> Self {
        Self { store, now }
    }

    fn bucket(limit: &Limit, subject: &str) -> String {
        format!("{}:{}", limit.scope, subject)
    }

    /// 429 with `Retry-After` (whole seconds until the oldest event leaves the window) when the
    /// bucket is full.
    pub async fn check(&self, limit: &Limit, subject: &str) -> Result<(), ApiError> {
        let window = limit.window.as_secs_f64();
        let counted = self
            .store
            .count_events(&Self::bucket(limit, subject), self.now - window)
            .await?;
        if counted.count < limit.max {
            return Ok(());
        }
        let oldest = counted.oldest_at.unwrap_or(self.now);
        let retry_after = (oldest + window - self.now).ceil().max(1.0) as u64;
        Err(ApiError::too_many_requests(limit.message, retry_after))
    }

    pub async fn record(&self, limit: &Limit, subject: &str) -> Result<(), ApiError> {
        let window = limit.window.as_secs_f64();
        self.store
            .add_event(&Self::bucket(limit, subject), self.now, self.now - window)
            .await?;
        Ok(())
    }

    pub async fn clear(&self, limit: &Limit, subject: &str) -> Result<(), ApiError> {
        self.store.clear_events(&Self::bucket(limit, subject)).await?;
        Ok(())
    }
}
