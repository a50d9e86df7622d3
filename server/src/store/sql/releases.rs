//! [`ReleaseStore`] on either backend. Each write is one transaction: an evidence
//! batch, a policy with its aliases, or a delivery with its effect is stored whole or not at all.

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::identity::classify;
use super::{lock, DbConn, DbRow, SqlStore, EVIDENCE_DIGEST};
use crate::store::releases::*;

/// Release writes take turns (as SQLite's one writer makes them): repositories, aliases and
/// snapshots are found-or-created inside them.
const RELEASES_LOCK: &str = "releases";
use super::executions::{json_column, strings_column, to_json};
use crate::store::StoreResult;

const PROMOTION_COLUMNS: &str = "p.seq, p.id, p.snapshot_id, s.commit_sha, p.status, p.release_label, p.reason, \
     p.bound_artifact_digest, p.operator_identity, p.operator_user_id, p.operator_role, \
     p.claimed_operator_identity, p.requested_commit_sha, p.created_at";

fn promotion_from_row(row: &DbRow) -> StoreResult<PromotionRecord> {
    Ok(PromotionRecord {
        id: row.try_get("id")?,
        seq: row.try_get("seq")?,
        snapshot_id: row.try_get("snapshot_id")?,
        commit_sha: row.try_get("commit_sha")?,
        status: row.try_get("status")?,
        release_label: row.try_get("release_label")?,
        reason: row.try_get("reason")?,
        bound_artifact_digest: row.try_get("bound_artifact_digest")?,
        operator_identity: row.try_get("operator_identity")?,
        operator_user_id: row.try_get("operator_user_id")?,
        operator_role: row.try_get("operator_role")?,
        claimed_operator_identity: row.try_get("claimed_operator_identity")?,
        requested_commit_sha: row.try_get("requested_commit_sha")?,
        created_at: row.try_get("created_at")?,
    })
}

fn snapshot_from_row(row: &DbRow) -> StoreResult<SnapshotRecord> {
    Ok(SnapshotRecord {
        id: row.try_get("id")?,
        commit_sha: row.try_get("commit_sha")?,
    })
}

async fn repo_by_key(conn: &mut DbConn, key: &str) -> StoreResult<Option<RepoRecord>> {
    let row = sqlx::query(
        "SELECT id, repo_key FROM release_repos WHERE repo_key = $1 \
         UNION ALL SELECT r.id, r.repo_key FROM release_aliases a JOIN release_repos r ON r.id = a.repo_id \
         WHERE a.alias = $1 LIMIT 1",
    )
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(classify)?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get("id")?;
    let aliases: Vec<String> =
        sqlx::query_scalar("SELECT alias FROM release_aliases WHERE repo_id = $1 ORDER BY alias")
            .bind(&id)
            .fetch_all(&mut *conn)
            .await
            .map_err(classify)?;
    Ok(Some(RepoRecord {
        id,
        key: row.try_get("repo_key")?,
        aliases,
    }))
}

/// The repo `key` (by key or alias), registered when absent and `create` is set.
async fn ensure_repo(conn: &mut DbConn, key: &str, create: bool, now: f64) -> StoreResult<Option<RepoRecord>> {
    if let Some(repo) = repo_by_key(conn, key).await? {
        return Ok(Some(repo));
    }
    if !create {
        return Ok(None);
    }
    let id = Uuid::new_v4().to_string();
    sqlx::query("INSERT INTO release_repos (id, repo_key, created_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(key)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
    Ok(Some(RepoRecord {
        id,
        key: key.to_owned(),
        aliases: Vec::new(),
    }))
}

async fn upsert_issue(conn: &mut DbConn, snapshot_id: &str, issue: &IngestIssue) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO release_ingest_issues (snapshot_id, code, severity, detail, recorded_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (snapshot_id, code, detail) DO UPDATE SET recorded_at = excluded.recorded_at, severity = excluded.severity",
    )
    .bind(snapshot_id)
    .bind(&issue.code)
    .bind(&issue.severity)
    .bind(&issue.detail)
    .bind(issue.recorded_at)
    .execute(&mut *conn)
    .await
    .map_err(classify)?;
    Ok(())
}

/// Writes a batch inside `conn`'s transaction.
async fn write_batch(conn: &mut DbConn, batch: &EvidenceBatch) -> StoreResult<Option<Recorded>> {
    let Some(repo) = ensure_repo(conn, &batch.repo_key, batch.create_repo, batch.now).await? else {
        return Ok(None);
    };
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM release_snapshots WHERE repo_id = $1 AND commit_sha = $2")
            .bind(&repo.id)
            .bind(&batch.commit_sha)
            .fetch_optional(&mut *conn)
            .await
            .map_err(classify)?;
    let (snapshot_id, created) = match existing {
        Some(id) => {
            sqlx::query("UPDATE release_snapshots SET updated_at = $1 WHERE id = $2")
                .bind(batch.now)
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(classify)?;
            (id, false)
        }
        None => {
            let id = Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO release_snapshots (id, repo_id, commit_sha, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(&repo.id)
            .bind(&batch.commit_sha)
            .bind(batch.now)
            .bind(batch.now)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
            (id, true)
        }
    };
    for row in &batch.rows {
        if row.kind == "artifact" {
            let old: Option<String> = sqlx::query_scalar(&format!(
                "SELECT {EVIDENCE_DIGEST} FROM release_evidence WHERE snapshot_id = $1 AND evidence_id = $2"
            ))
            .bind(&snapshot_id)
            .bind(&row.evidence_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(classify)?;
            let new = row.data["digest"].as_str().unwrap_or_default();
            if let Some(old) = old.filter(|old| old != new) {
                let name = row.data["name"].as_str().unwrap_or_default();
                let issue = IngestIssue {
                    code: "artifact_digest_changed".into(),
                    severity: "warning".into(),
                    detail: digest_changed_detail(name, new, &old),
                    recorded_at: batch.now,
                };
                upsert_issue(conn, &snapshot_id, &issue).await?;
            }
        }
        sqlx::query(
            "INSERT INTO release_evidence (snapshot_id, evidence_id, kind, data, recorded_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (snapshot_id, evidence_id) DO UPDATE SET data = excluded.data, recorded_at = excluded.recorded_at",
        )
        .bind(&snapshot_id)
        .bind(&row.evidence_id)
        .bind(row.kind)
        .bind(to_json(&row.data))
        .bind(batch.now)
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
    }
    for issue in &batch.issues {
        upsert_issue(conn, &snapshot_id, issue).await?;
    }
    Ok(Some(Recorded { snapshot_id, created }))
}

#[async_trait]
impl ReleaseStore for SqlStore {
    async fn find_repo(&self, key: &str) -> StoreResult<Option<RepoRecord>> {
        let mut conn = self.read_conn().await?;
        repo_by_key(&mut conn, key).await
    }

    async fn release_policy(&self, repo_id: &str) -> StoreResult<Option<StoredReleasePolicy>> {
        let row = sqlx::query("SELECT * FROM release_policies WHERE repo_id = $1")
            .bind(repo_id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        row.map(|row| {
            Ok(StoredReleasePolicy {
                presets: strings_column(&row, "presets")?,
                required_checks: strings_column(&row, "required_checks")?,
                required_properties: strings_column(&row, "required_properties")?,
                require_attestation: row.try_get("require_attestation")?,
                require_reviewed_workflow: row.try_get("require_reviewed_workflow")?,
                max_evidence_age_days: row.try_get("max_evidence_age_days")?,
                version: row.try_get("version")?,
                updated_at: row.try_get("updated_at")?,
                updated_by: row.try_get("updated_by")?,
            })
        })
        .transpose()
    }

    async fn put_release_policy(&self, key: &str, write: &PolicyWrite) -> StoreResult<PolicyPut> {
        let mut tx = self.write_tx().await?;
        lock(&mut *tx, RELEASES_LOCK).await?;
        let repo = ensure_repo(&mut tx, key, true, write.now)
            .await?
            .expect("ensure_repo creates when asked");
        for alias in &write.aliases {
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT id FROM release_repos WHERE repo_key = $1 \
                 UNION ALL SELECT repo_id FROM release_aliases WHERE alias = $1 LIMIT 1",
            )
            .bind(alias)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
            if holder.is_some_and(|holder| holder != repo.id) {
                return Ok(PolicyPut::AliasConflict);
            }
        }
        sqlx::query("DELETE FROM release_aliases WHERE repo_id = $1")
            .bind(&repo.id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        for alias in &write.aliases {
            sqlx::query("INSERT INTO release_aliases (alias, repo_id) VALUES ($1, $2)")
                .bind(alias)
                .bind(&repo.id)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        let version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM release_policies WHERE repo_id = $1")
                .bind(&repo.id)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
        sqlx::query(
            "INSERT INTO release_policies (repo_id, presets, required_checks, required_properties, require_attestation, \
             require_reviewed_workflow, max_evidence_age_days, version, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (repo_id) DO UPDATE SET presets = excluded.presets, \
             required_checks = excluded.required_checks, required_properties = excluded.required_properties, \
             require_attestation = excluded.require_attestation, require_reviewed_workflow = excluded.require_reviewed_workflow, \
             max_evidence_age_days = excluded.max_evidence_age_days, version = excluded.version, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(&repo.id)
        .bind(to_json(&write.presets))
        .bind(to_json(&write.required_checks))
        .bind(to_json(&write.required_properties))
        .bind(write.require_attestation)
        .bind(write.require_reviewed_workflow)
        .bind(write.max_evidence_age_days)
        .bind(version)
        .bind(write.now)
        .bind(&write.updated_by)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        let mut aliases = write.aliases.clone();
        aliases.sort();
        let policy = StoredReleasePolicy {
            presets: write.presets.clone(),
            required_checks: write.required_checks.clone(),
            required_properties: write.required_properties.clone(),
            require_attestation: write.require_attestation,
            require_reviewed_workflow: write.require_reviewed_workflow,
            max_evidence_age_days: write.max_evidence_age_days,
            version,
            updated_at: write.now,
            updated_by: write.updated_by.clone(),
        };
        Ok(PolicyPut::Stored(Box::new((RepoRecord { aliases, ..repo }, policy))))
    }

    async fn record_evidence(&self, batch: &EvidenceBatch) -> StoreResult<Option<Recorded>> {
        let mut tx = self.write_tx().await?;
        lock(&mut *tx, RELEASES_LOCK).await?;
        let recorded = write_batch(&mut tx, batch).await?;
        tx.commit().await.map_err(classify)?;
        Ok(recorded)
    }

    async fn snapshot(&self, repo_id: &str, commit: Option<&str>) -> StoreResult<Option<SnapshotRecord>> {
        let row = sqlx::query(
            "SELECT * FROM release_snapshots WHERE repo_id = $1 AND ($2 IS NULL OR commit_sha = $2) \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(repo_id)
        .bind(commit)
        .fetch_optional(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        row.as_ref().map(snapshot_from_row).transpose()
    }

    async fn evidence(&self, snapshot_id: &str) -> StoreResult<Vec<StoredEvidence>> {
        let rows = sqlx::query(
            "SELECT evidence_id, kind, data, recorded_at FROM release_evidence WHERE snapshot_id = $1 ORDER BY evidence_id",
        )
        .bind(snapshot_id)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvidence {
                    evidence_id: row.try_get("evidence_id")?,
                    kind: row.try_get("kind")?,
                    data: json_column(row, "data")?,
                    recorded_at: row.try_get("recorded_at")?,
                })
            })
            .collect()
    }

    async fn ingest_issues(&self, snapshot_id: &str) -> StoreResult<Vec<IngestIssue>> {
        let rows = sqlx::query(
            "SELECT code, severity, detail, recorded_at FROM release_ingest_issues WHERE snapshot_id = $1 ORDER BY code, detail",
        )
        .bind(snapshot_id)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(IngestIssue {
                    code: row.try_get("code")?,
                    severity: row.try_get("severity")?,
                    detail: row.try_get("detail")?,
                    recorded_at: row.try_get("recorded_at")?,
                })
            })
            .collect()
    }

    async fn add_ingest_issue(&self, snapshot_id: &str, issue: &IngestIssue) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        lock(&mut *tx, RELEASES_LOCK).await?;
        upsert_issue(&mut tx, snapshot_id, issue).await?;
        tx.commit().await.map_err(classify)
    }

    async fn snapshot_promotions(&self, snapshot_id: &str) -> StoreResult<Vec<PromotionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM release_promotions p JOIN release_snapshots s ON s.id = p.snapshot_id \
             WHERE p.snapshot_id = $1 ORDER BY p.created_at, p.seq"
        ))
        .bind(snapshot_id)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter().map(promotion_from_row).collect()
    }

    async fn repo_promotions(&self, repo_id: &str) -> StoreResult<Vec<PromotionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM release_promotions p JOIN release_snapshots s ON s.id = p.snapshot_id \
             WHERE p.repo_id = $1 ORDER BY p.created_at, p.seq"
        ))
        .bind(repo_id)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter().map(promotion_from_row).collect()
    }

    async fn list_promotions(
        &self,
        repo_id: &str,
        commit: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<PromotionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM release_promotions p JOIN release_snapshots s ON s.id = p.snapshot_id \
             WHERE p.repo_id = $1 AND ($2 IS NULL OR s.commit_sha = $2) ORDER BY p.created_at DESC, p.seq DESC LIMIT $3"
        ))
        .bind(repo_id)
        .bind(commit)
        .bind(limit)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter().map(promotion_from_row).collect()
    }

    async fn insert_promotion(&self, p: &NewPromotion) -> StoreResult<PromotionRecord> {
        let mut tx = self.write_tx().await?;
        lock(&mut *tx, RELEASES_LOCK).await?;
        sqlx::query(
            "INSERT INTO release_promotions (id, snapshot_id, repo_id, status, release_label, reason, bound_artifact_digest, \
             operator_identity, operator_user_id, operator_role, claimed_operator_identity, requested_commit_sha, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&p.id)
        .bind(&p.snapshot_id)
        .bind(&p.repo_id)
        .bind(&p.status)
        .bind(&p.release_label)
        .bind(&p.reason)
        .bind(&p.bound_artifact_digest)
        .bind(&p.operator_identity)
        .bind(&p.operator_user_id)
        .bind(&p.operator_role)
        .bind(&p.claimed_operator_identity)
        .bind(&p.requested_commit_sha)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        let row = sqlx::query(&format!(
            "SELECT {PROMOTION_COLUMNS} FROM release_promotions p JOIN release_snapshots s ON s.id = p.snapshot_id \
             WHERE p.id = $1"
        ))
        .bind(&p.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        let record = promotion_from_row(&row)?;
        tx.commit().await.map_err(classify)?;
        Ok(record)
    }

    async fn promotion_turn(&self, snapshot_id: &str) -> StoreResult<PromotionTurn> {
        self.session_lock(&format!("promotion:{snapshot_id}")).await
    }

    async fn github_delivery_seen(&self, delivery_id: &str) -> StoreResult<bool> {
        let seen: Option<String> =
            sqlx::query_scalar("SELECT delivery_id FROM github_deliveries WHERE delivery_id = $1")
                .bind(delivery_id)
                .fetch_optional(&mut *self.read_conn().await?)
                .await
                .map_err(classify)?;
        Ok(seen.is_some())
    }

    async fn record_github_delivery(
        &self,
        delivery: &Delivery,
        effect: &DeliveryEffect,
    ) -> StoreResult<DeliveryRecorded> {
        let mut tx = self.write_tx().await?;
        lock(&mut *tx, RELEASES_LOCK).await?;
        let inserted = sqlx::query(
            "INSERT INTO github_deliveries (delivery_id, event, action, repo_key, received_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id) DO NOTHING",
        )
        .bind(&delivery.delivery_id)
        .bind(&delivery.event)
        .bind(&delivery.action)
        .bind(&delivery.repo_key)
        .bind(delivery.received_at)
        .bind(&delivery.outcome)
        .execute(&mut *tx)
        .await
        .map_err(classify)?
        .rows_affected();
        if inserted == 0 {
            return Ok(DeliveryRecorded::Duplicate);
        }
        match effect {
            DeliveryEffect::None => {}
            DeliveryEffect::Evidence(batch) => {
                write_batch(&mut tx, batch).await?;
            }
            DeliveryEffect::PrHead(head) => {
                sqlx::query(
                    "INSERT INTO github_pr_heads (repo_id, number, head_sha, full_name, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (repo_id, number) DO UPDATE SET head_sha = excluded.head_sha, \
                     full_name = excluded.full_name, updated_at = excluded.updated_at",
                )
                .bind(&head.repo_id)
                .bind(head.number)
                .bind(&head.head_sha)
                .bind(&head.full_name)
                .bind(delivery.received_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(DeliveryRecorded::Done)
    }

    async fn pr_heads(&self, repo_id: &str, head_sha: &str) -> StoreResult<Vec<PrHead>> {
        let rows = sqlx::query(
            "SELECT repo_id, number, head_sha, full_name FROM github_pr_heads WHERE repo_id = $1 AND head_sha = $2 ORDER BY number",
        )
        .bind(repo_id)
        .bind(head_sha)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(PrHead {
                    repo_id: row.try_get("repo_id")?,
                    number: row.try_get("number")?,
                    head_sha: row.try_get("head_sha")?,
                    full_name: row.try_get("full_name")?,
                })
            })
            .collect()
    }
}
