//! [`AgentStore`] on either backend. A child token's budget reservation is a conditional update of its
//! parent inside the transaction that inserts the child, so concurrent children can never
//! reserve more than the parent has left.

use async_trait::async_trait;
use sqlx::Row;

use super::executions::{json_column, strings_column, to_json};
use super::identity::classify;
use super::{DbConn, DbRow, SqlStore};
use crate::store::agents::*;
use crate::store::statements::{Arg, Statements};
use crate::store::{decode_error, NewToken, Page, StoreResult};

const TOKEN_COLUMNS: &str = "id, user_id, agent_id, parent_id, permissions, budget_cents, spent_cents, \
     reserved_cents, compliance_policy, metadata, jws, created_at, expires_at, revoked_at";

const DELEGATION_COLUMNS: &str = "id, user_id, parent_id, parent_agent_id, child_id, child_agent_id, \
     permissions, budget, status, code, reason, token_id, parent_verified, created_at";

fn token_from_row(row: &DbRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        agent_id: row.try_get("agent_id")?,
        parent_id: row.try_get("parent_id")?,
        permissions: strings_column(row, "permissions")?,
        budget_cents: row.try_get("budget_cents")?,
        spent_cents: row.try_get("spent_cents")?,
        reserved_cents: row.try_get("reserved_cents")?,
        compliance_policy: row.try_get("compliance_policy")?,
        metadata: json_column(row, "metadata")?,
        jws: row.try_get("jws")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn delegation_from_row(row: &DbRow) -> StoreResult<DelegationRecord> {
    let status: String = row.try_get("status")?;
    Ok(DelegationRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        parent_id: row.try_get("parent_id")?,
        parent_agent_id: row.try_get("parent_agent_id")?,
        child_id: row.try_get("child_id")?,
        child_agent_id: row.try_get("child_agent_id")?,
        permissions: strings_column(row, "permissions")?,
        budget: row.try_get("budget")?,
        status: DelegationStatus::parse(&status).ok_or_else(|| decode_error("delegation status", &status))?,
        code: row.try_get("code")?,
        reason: row.try_get("reason")?,
        token_id: row.try_get("token_id")?,
        parent_verified: row.try_get("parent_verified")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a token, a child only after reserving its budget from the parent; `false` (nothing
/// written) when the parent is revoked or has too little left.
async fn reserve_and_insert(conn: &mut DbConn, token: &NewToken) -> StoreResult<bool> {
    if let Some(parent) = &token.parent_id {
        let reserved = sqlx::query(
            "UPDATE capability_tokens SET reserved_cents = reserved_cents + $1 \
             WHERE id = $2 AND revoked_at IS NULL AND budget_cents - spent_cents - reserved_cents >= $1",
        )
        .bind(token.budget_cents)
        .bind(parent)
        .execute(&mut *conn)
        .await
        .map_err(classify)?;
        if reserved.rows_affected() == 0 {
            return Ok(false);
        }
    }
    insert_token(&mut *conn, token).await?;
    Ok(true)
}

/// Inserts `token` as it is (no budget reservation).
pub(in crate::store) async fn insert_token(conn: &mut (impl Statements + ?Sized), token: &NewToken) -> StoreResult<()> {
    let permissions = to_json(&token.permissions);
    let metadata = to_json(&token.metadata);
    conn.run(
        "INSERT INTO capability_tokens (id, user_id, agent_id, parent_id, permissions, budget_cents, \
         compliance_policy, metadata, jws, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            Arg::Text(&token.id),
            Arg::Text(&token.user_id),
            Arg::Text(&token.agent_id),
            Arg::OptText(token.parent_id.as_deref()),
            Arg::Text(&permissions),
            Arg::Int(token.budget_cents),
            Arg::Text(&token.compliance_policy),
            Arg::Text(&metadata),
            Arg::Text(&token.jws),
            Arg::Float(token.created_at),
            Arg::OptFloat(token.expires_at),
        ],
    )
    .await?;
    Ok(())
}

/// `WHERE` for an optional owner bound as `?1`.
const OWNER_FILTER: &str = "($1 IS NULL OR user_id = $1)";

#[async_trait]
impl AgentStore for SqlStore {
    async fn issue_token(&self, token: &NewToken) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        if !reserve_and_insert(&mut tx, token).await? {
            return Ok(false);
        }
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM capability_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    async fn list_tokens(&self, owner: Option<&str>, page: Page) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM capability_tokens WHERE {OWNER_FILTER} \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(owner)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: &str, now: f64) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "WITH RECURSIVE tree(id) AS ( \
                 SELECT $1 UNION SELECT t.id FROM capability_tokens t JOIN tree ON t.parent_id = tree.id) \
             UPDATE capability_tokens SET revoked_at = $2 WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    async fn record_delegation(&self, record: &DelegationRecord, child: Option<&NewToken>) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        if let Some(child) = child {
            if !reserve_and_insert(&mut tx, child).await? {
                return Ok(false);
            }
        }
        sqlx::query(&format!(
            "INSERT INTO delegations ({DELEGATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&record.id)
        .bind(&record.user_id)
        .bind(&record.parent_id)
        .bind(&record.parent_agent_id)
        .bind(&record.child_id)
        .bind(&record.child_agent_id)
        .bind(to_json(&record.permissions))
        .bind(record.budget)
        .bind(record.status.as_str())
        .bind(&record.code)
        .bind(&record.reason)
        .bind(&record.token_id)
        .bind(record.parent_verified)
        .bind(record.created_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn recent_delegations(&self, owner: Option<&str>, limit: i64) -> StoreResult<Vec<DelegationRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE {OWNER_FILTER} \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(owner)
        .bind(limit)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter().map(delegation_from_row).collect()
    }

    async fn add_glass_box_record(&self, record: &GlassBoxRecord) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO glass_box_records (id, user_id, record, stored_at) VALUES ($1, $2, $3, $4)")
            .bind(&record.id)
            .bind(&record.user_id)
            .bind(to_json(&record.record))
            .bind(record.stored_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    async fn glass_box_records(&self, owner: Option<&str>, page: Page) -> StoreResult<Vec<GlassBoxRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT id, user_id, record, stored_at FROM glass_box_records WHERE {OWNER_FILTER} \
             ORDER BY stored_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(owner)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(GlassBoxRecord {
                    id: row.try_get("id")?,
                    user_id: row.try_get("user_id")?,
                    record: json_column(row, "record")?,
                    stored_at: row.try_get("stored_at")?,
                })
            })
            .collect()
    }
}
