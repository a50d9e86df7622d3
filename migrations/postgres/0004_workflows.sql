-- Workflows (spec §4.5, §10): ordered stages, each run as an ordinary execution. The workflow's
-- events live in the `events` table under the workflow id.

CREATE TABLE workflows (
    id                   TEXT PRIMARY KEY NOT NULL,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_role            TEXT NOT NULL,
    name                 TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    created_at           DOUBLE PRECISION NOT NULL,
    updated_at           DOUBLE PRECISION NOT NULL,
    completed_at         DOUBLE PRECISION,
    current_stage_index  BIGINT NOT NULL DEFAULT 0,
    error                TEXT NOT NULL DEFAULT ''
);
CREATE INDEX workflows_user_created ON workflows (user_id, created_at DESC, id DESC);
CREATE INDEX workflows_created ON workflows (created_at DESC, id DESC);
CREATE INDEX workflows_live ON workflows (status) WHERE status IN ('queued', 'running');

CREATE TABLE workflow_stages (
    workflow_id         TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    stage_index         BIGINT NOT NULL,
    id                  TEXT NOT NULL,
    name                TEXT NOT NULL,
    task                TEXT NOT NULL,
    compliance_policy   TEXT NOT NULL,
    budget_cents        BIGINT NOT NULL,
    stage_role          TEXT NOT NULL,
    provider            TEXT,
    model               TEXT,
    api_key             TEXT,                  -- erased when the workflow is terminal
    permissions         TEXT NOT NULL,         -- JSON array
    upstream_stage_ids  TEXT NOT NULL,         -- JSON array
    plan                TEXT,                  -- JSON array of plan steps
    status              TEXT NOT NULL,
    execution_id        TEXT REFERENCES executions (id),
    started_at          DOUBLE PRECISION,
    completed_at        DOUBLE PRECISION,
    error               TEXT NOT NULL DEFAULT '',
    output_summary      TEXT,
    PRIMARY KEY (workflow_id, stage_index),
    UNIQUE (workflow_id, id)
);
