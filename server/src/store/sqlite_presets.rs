//! [`PresetStore`] on SQLite. The next version number is read and used inside one write
//! transaction, so two uploads of one key can never take the same number.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::presets::*;
use super::sqlite::{classify, SqliteStore};
use super::sqlite_executions::decode_error;
use super::StoreResult;

#[async_trait]
impl PresetStore for SqliteStore {
    async fn insert_preset_version(&self, preset: &NewPresetVersion) -> StoreResult<u32> {
        let mut tx = self.write_tx().await?;
        let version: u32 = sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 FROM preset_versions WHERE key = ?")
            .bind(&preset.key)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?
            .try_get(0)?;
        let id = Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO preset_versions (id, key, version, manifest, policy, digest, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&preset.key)
        .bind(version)
        .bind(&preset.manifest)
        .bind(&preset.policy)
        .bind(&preset.digest)
        .bind(preset.created_at)
        .bind(&preset.created_by)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        for (file, bytes) in &preset.modules {
            sqlx::query("INSERT INTO preset_modules (preset_version_id, file, bytes) VALUES (?, ?, ?)")
                .bind(&id)
                .bind(file)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(version)
    }

    async fn preset_versions(&self) -> StoreResult<Vec<StoredPresetVersion>> {
        let rows = sqlx::query(
            "SELECT id, key, version, manifest, policy, digest, created_at, created_by, deprecated \
             FROM preset_versions ORDER BY key, version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let modules = sqlx::query("SELECT preset_version_id, file, bytes FROM preset_modules")
            .fetch_all(&self.pool)
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
                    version: u32::try_from(version).map_err(|err| decode_error("version", err))?,
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
        sqlx::query("UPDATE preset_versions SET deprecated = 1 WHERE key = ?")
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(())
    }
}
