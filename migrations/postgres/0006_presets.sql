-- Uploaded presets (spec §4.6.3, §5.3): every version of every key, kept as uploaded and never
-- modified (only the deprecation flag changes), and the preset version each execution and
-- workflow stage is pinned to. Timestamps are DOUBLE PRECISION epoch seconds.

CREATE TABLE preset_versions (
    id          TEXT PRIMARY KEY NOT NULL,     -- UUID v4 (spec §1.3)
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,              -- 1, 2, … per key
    manifest    TEXT NOT NULL,                 -- preset.toml as uploaded
    policy      TEXT NOT NULL,                 -- policy.cedar as uploaded ('' when absent)
    digest      TEXT NOT NULL,                 -- sha256:… of spec §5.4
    created_at  DOUBLE PRECISION NOT NULL,
    created_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    deprecated  BOOLEAN NOT NULL DEFAULT FALSE,    -- set on every version of the key at once
    UNIQUE (key, version)
);

-- The Wasm modules of a version, by their file name in the bundle.
CREATE TABLE preset_modules (
    preset_version_id  TEXT NOT NULL REFERENCES preset_versions (id) ON DELETE CASCADE,
    file               TEXT NOT NULL,
    bytes              BYTEA NOT NULL,
    PRIMARY KEY (preset_version_id, file)
);

-- The version of `preset_key` an execution runs under; built-in and directory presets are 1.
ALTER TABLE executions ADD COLUMN preset_version BIGINT NOT NULL DEFAULT 1;

-- A stage's preset is pinned when the workflow is created; rows from before this migration
-- (NULL) resolve the stage's `compliance_policy` when the stage starts, as before.
ALTER TABLE workflow_stages ADD COLUMN preset_key TEXT;
ALTER TABLE workflow_stages ADD COLUMN preset_version BIGINT;
