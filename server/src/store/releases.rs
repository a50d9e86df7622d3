//! What the store keeps for release gating (spec/RELEASES.md): repos and aliases, release
//! policies, snapshots with evidence and ingest issues, append-only promotions, GitHub
//! deliveries and pull-request heads.

use async_trait::async_trait;
use serde_json::Value;

use super::StoreResult;

#[derive(Debug, Clone)]
pub struct RepoRecord {
    pub id: String,
    pub key: String,
    /// Byte order.
    pub aliases: Vec<String>,
}

/// A stored release policy (§1.5) with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReleasePolicy {
    pub presets: Vec<String>,
    pub required_checks: Vec<String>,
    pub required_properties: Vec<String>,
    pub require_attestation: bool,
    pub require_reviewed_workflow: bool,
    pub max_evidence_age_days: Option<i64>,
    pub version: i64,
    pub updated_at: f64,
    pub updated_by: String,
}

/// A policy `PUT`: the whole policy and the repo's aliases.
#[derive(Debug, Clone)]
pub struct PolicyWrite {
    pub presets: Vec<String>,
    pub required_checks: Vec<String>,
    pub required_properties: Vec<String>,
    pub require_attestation: bool,
    pub require_reviewed_workflow: bool,
    pub max_evidence_age_days: Option<i64>,
    pub aliases: Vec<String>,
    pub updated_by: String,
    pub now: f64,
}

#[derive(Debug)]
pub enum PolicyPut {
    Stored(Box<(RepoRecord, StoredReleasePolicy)>),
    /// An alias is another repo's key or alias.
    AliasConflict,
}

#[derive(Debug, Clone)]
pub struct SnapshotRecord {
    pub id: String,
    pub commit_sha: String,
}

/// One evidence row to record; `data` holds the kind's fields (§1.4).
#[derive(Debug, Clone)]
pub struct EvidenceWrite {
    pub evidence_id: String,
    pub kind: &'static str,
    pub data: Value,
}

#[derive(Debug, Clone)]
pub struct StoredEvidence {
    pub evidence_id: String,
    pub kind: String,
    pub data: Value,
    pub recorded_at: f64,
}

/// A recorded ingest issue (§5.2): one row per `(code, detail)`, latest time kept.
#[derive(Debug, Clone)]
pub struct IngestIssue {
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub recorded_at: f64,
}

/// Evidence for one `repo@commit`, written all-or-nothing.
#[derive(Debug, Clone)]
pub struct EvidenceBatch {
    pub repo_key: String,
    pub commit_sha: String,
    pub rows: Vec<EvidenceWrite>,
    pub issues: Vec<IngestIssue>,
    /// Whether an unknown repo is registered (the evidence endpoint) or the batch is refused
    /// (the webhook never creates repos).
    pub create_repo: bool,
    pub now: f64,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub snapshot_id: String,
    /// This batch created the snapshot.
    pub created: bool,
}

#[derive(Debug, Clone)]
pub struct PromotionRecord {
    pub id: String,
    pub seq: i64,
    pub snapshot_id: String,
    pub commit_sha: String,
    pub status: String,
    pub release_label: Option<String>,
    pub reason: String,
    pub bound_artifact_digest: Option<String>,
    pub operator_identity: String,
    pub operator_user_id: String,
    pub operator_role: String,
    pub claimed_operator_identity: Option<String>,
    pub requested_commit_sha: Option<String>,
    pub created_at: f64,
}

#[derive(Debug, Clone)]
pub struct NewPromotion {
    pub id: String,
    pub snapshot_id: String,
    pub repo_id: String,
    pub status: String,
    pub release_label: Option<String>,
    pub reason: String,
    pub bound_artifact_digest: Option<String>,
    pub operator_identity: String,
    pub operator_user_id: String,
    pub operator_role: String,
    pub claimed_operator_identity: Option<String>,
    pub requested_commit_sha: Option<String>,
    pub created_at: f64,
}

/// One GitHub delivery, stored with its effects so a redelivery is answered `duplicate`.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo_key: Option<String>,
    pub received_at: f64,
    pub outcome: String,
}

#[derive(Debug, Clone)]
pub struct PrHead {
    pub repo_id: String,
    pub number: i64,
    pub head_sha: String,
    pub full_name: String,
}

/// What a delivery changes besides being recorded.
#[derive(Debug, Clone)]
pub enum DeliveryEffect {
    None,
    Evidence(EvidenceBatch),
    PrHead(PrHead),
}

#[derive(Debug, Clone)]
pub enum DeliveryRecorded {
    /// The delivery id was already recorded; nothing was done.
    Duplicate,
    /// Recorded with its effect.
    Done,
}

/// The detail of an `artifact_digest_changed` issue (§5.2).
pub fn digest_changed_detail(name: &str, new: &str, old: &str) -> String {
    format!("Artifact {name} was re-recorded with digest {new} (was {old})")
}

/// Held while a promotion is checked and inserted; dropping it ends the turn.
pub type PromotionTurn = Box<dyn Send>;

#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// The repo whose key, else whose alias, is `key`.
    async fn find_repo(&self, key: &str) -> StoreResult<Option<RepoRecord>>;
    async fn release_policy(&self, repo_id: &str) -> StoreResult<Option<StoredReleasePolicy>>;
    /// Registers the repo `key` if needed and replaces its policy and aliases.
    async fn put_release_policy(&self, key: &str, write: &PolicyWrite) -> StoreResult<PolicyPut>;

    /// Records a batch; `None` when the repo is unknown and `create_repo` is false.
    async fn record_evidence(&self, batch: &EvidenceBatch) -> StoreResult<Option<Recorded>>;
    /// The snapshot of `(repo, commit)`, or the repo's latest when `commit` is `None`.
    async fn snapshot(&self, repo_id: &str, commit: Option<&str>) -> StoreResult<Option<SnapshotRecord>>;
    async fn evidence(&self, snapshot_id: &str) -> StoreResult<Vec<StoredEvidence>>;
    async fn ingest_issues(&self, snapshot_id: &str) -> StoreResult<Vec<IngestIssue>>;
    /// Adds (or refreshes the time of) an issue of an existing snapshot.
    async fn add_ingest_issue(&self, snapshot_id: &str, issue: &IngestIssue) -> StoreResult<()>;

    /// A snapshot's promotions, oldest first (`created_at`, then sequence).
    async fn snapshot_promotions(&self, snapshot_id: &str) -> StoreResult<Vec<PromotionRecord>>;
    /// All promotions of a repo, oldest first.
    async fn repo_promotions(&self, repo_id: &str) -> StoreResult<Vec<PromotionRecord>>;
    /// Newest first, optionally for one commit.
    async fn list_promotions(
        &self,
        repo_id: &str,
        commit: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<PromotionRecord>>;
    async fn insert_promotion(&self, promotion: &NewPromotion) -> StoreResult<PromotionRecord>;
    /// Waits for the turn to promote `snapshot_id` among every process sharing the store, so
    /// that checks and insert of concurrent promotions serialise (spec/RELEASES.md §6.1).
    async fn promotion_turn(&self, snapshot_id: &str) -> StoreResult<PromotionTurn>;

    /// Whether a delivery id is already recorded.
    async fn github_delivery_seen(&self, delivery_id: &str) -> StoreResult<bool>;
    /// Records a delivery and its effect in one transaction, unless its id is known.
    async fn record_github_delivery(
        &self,
        delivery: &Delivery,
        effect: &DeliveryEffect,
    ) -> StoreResult<DeliveryRecorded>;
    /// The recorded pull requests of `repo` whose head is `head_sha`.
    async fn pr_heads(&self, repo_id: &str, head_sha: &str) -> StoreResult<Vec<PrHead>>;
}
