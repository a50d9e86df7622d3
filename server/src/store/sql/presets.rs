//! [`PresetStore`] on either backend. The next version number is read and used inside one write
//! transaction holding the key's lock, so two uploads of one key can never take the same number.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::executions::preset_version;
use super::identity::classify;
use super::{lock, SqlStore};
use crate::store::presets::*;
use crate::store::StoreResult;

#[async_trait]
impl PresetStore for SqlStore {
    async fn insert_preset_version(&self, preset: &NewPresetVersion) -> StoreResult<u32> {
        let mut tx = self.write_tx().await?;
        lock(&mut *tx, &format!("preset:{}", preset.key)).await?;
        let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM preset_versions WHERE key = $1")
            .bind(&preset.key)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let version = preset_version(next)?;
        let id = Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO preset_versions (id, key, version, manifest, policy, digest, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&preset.key)
        .bind(next)
        .bind(&preset.manifest)
        .bind(&preset.policy)
        .bind(&preset.digest)
        .bind(preset.created_at)
        .bind(&preset.created_by)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        for (file, bytes) in &preset.modules {
            sqlx::query("INSERT INTO preset_modules (preset_version_id, file, bytes) VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(file)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        self.commit_announcing(tx, &[PRESETS_CHANGED]).await?;
        Ok(version)
    }

    async fn preset_versions(&self) -> StoreResult<Vec<StoredPresetVersion>> {
        let rows = sqlx::query(
            "SELECT id, key, version, manifest, policy, digest, created_at, created_by, deprecated \
             FROM preset_versions ORDER BY key, version",
        )
        .fetch_all(&mut *self.read_conn().await?)
        .await
        .map_err(classify)?;
        let modules = sqlx::query("SELECT preset_version_id, file, bytes FROM preset_modules")
            .fetch_all(&mut *self.read_conn().await?)
            .await
            .map_err(classify)?;
        let mut by_version: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        for row in modules {
            by_version
                .entry(row.try_get("preset_version_id")?)
                .or_default()
                .insert(row.try_get("file")?, row.try_get("bytes")?);
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let version: i64 = row.try_get("version")?;
                Ok(StoredPresetVersion {
                    key: row.try_get("key")?,
                    version: preset_version(version)?,
                    manifest: row.try_get("manifest")?,
                    policy: row.try_get("policy")?,
                    modules: by_version.remove(&id).unwrap_or_default(),
                    digest: row.try_get("digest")?,
                    created_at: row.try_get("created_at")?,
                    created_by: row.try_get("created_by")?,
                    deprecated: row.try_get("deprecated")?,
                })
            })
            .collect()
    }

    async fn deprecate_preset(&self, key: &str) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE preset_versions SET deprecated = TRUE WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        self.commit_announcing(tx, &[PRESETS_CHANGED]).await
    }
}
