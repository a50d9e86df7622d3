//! Capability tokens, delegation records and glass-box records (spec §4.7, §4.8, §13).

use async_trait::async_trait;
use serde_json::Value;

use super::{NewToken, Page, StoreResult};

/// A stored capability token, with the budget state the signed token cannot carry.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub user_id: String,
    pub agent_id: String,
    pub parent_id: Option<String>,
    pub permissions: Vec<String>,
    pub budget_cents: i64,
    pub spent_cents: i64,
    /// Taken by child tokens; never refunded.
    pub reserved_cents: i64,
    pub compliance_policy: String,
    /// Server-side notes: the pinned preset version, what issued the token.
    pub metadata: Value,
    pub jws: String,
    pub created_at: f64,
    pub expires_at: Option<f64>,
    pub revoked_at: Option<f64>,
}

impl TokenRecord {
    /// Budget minus spend and minus what children reserved.
    pub fn remaining_cents(&self) -> i64 {
        self.budget_cents - self.spent_cents - self.reserved_cents
    }

    pub fn expired(&self, now: f64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Not revoked, not expired, some budget left (spec §4.8).
    pub fn valid(&self, now: f64) -> bool {
        self.revoked_at.is_none() && !self.expired(now) && self.remaining_cents() > 0
    }
}

/// `verified` or `blocked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegationStatus {
    Verified,
    Blocked,
}

impl DelegationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Blocked => "blocked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Verified, Self::Blocked].into_iter().find(|s| s.as_str() == text)
    }

    /// `normal` for verified delegations, `critical` for blocked ones (spec §13.2).
    pub fn severity(self) -> &'static str {
        match self {
            Self::Verified => "normal",
            Self::Blocked => "critical",
        }
    }
}

/// One delegation request and its verdict (spec §13.2).
#[derive(Debug, Clone)]
pub struct DelegationRecord {
    pub id: String,
    pub user_id: String,
    pub parent_id: String,
    pub parent_agent_id: String,
    pub child_id: String,
    pub child_agent_id: String,
    /// The child's requested permissions.
    pub permissions: Vec<String>,
    /// The child's requested budget.
    pub budget: i64,
    pub status: DelegationStatus,
    pub code: Option<String>,
    pub reason: String,
    pub token_id: Option<String>,
    /// A stored parent token bounded the check.
    pub parent_verified: bool,
    pub created_at: f64,
}

/// A stored glass-box record: the response object, `record_hash` included.
#[derive(Debug, Clone)]
pub struct GlassBoxRecord {
    pub id: String,
    pub user_id: String,
    pub record: Value,
    pub stored_at: f64,
}

#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Stores a token. A child (`parent_id` set) reserves its budget from the parent in the same
    /// transaction, only while the parent is unrevoked and has that much left; `false` (nothing
    /// stored) when it no longer has.
    async fn issue_token(&self, token: &NewToken) -> StoreResult<bool>;
    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;
    /// Newest first; `owner` `None` lists everyone's.
    async fn list_tokens(&self, owner: Option<&str>, page: Page) -> StoreResult<Vec<TokenRecord>>;
    /// Revokes the token and every descendant that is not revoked yet.
    async fn revoke_token(&self, id: &str, now: f64) -> StoreResult<()>;

    /// Stores a delegation record, and for a verified one its child token as
    /// [`Self::issue_token`] does; `false` (nothing stored) when the parent token could no
    /// longer cover the child.
    async fn record_delegation(&self, record: &DelegationRecord, child: Option<&NewToken>) -> StoreResult<bool>;
    /// The `limit` most recent records, newest first; `owner` `None` reads everyone's.
    async fn recent_delegations(&self, owner: Option<&str>, limit: i64) -> StoreResult<Vec<DelegationRecord>>;

    async fn add_glass_box_record(&self, record: &GlassBoxRecord) -> StoreResult<()>;
    /// Newest first; `owner` `None` lists everyone's.
    async fn glass_box_records(&self, owner: Option<&str>, page: Page) -> StoreResult<Vec<GlassBoxRecord>>;
}
