-- Tasks: the capability token of each run, the execution record, its job in the durable queue,
-- its tool-call records, certificates, and the hash-chained events (spec §9, §11).
-- JSON columns hold canonical shapes the server writes; timestamps are DOUBLE PRECISION epoch seconds.

CREATE TABLE capability_tokens (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    agent_id           TEXT NOT NULL,
    parent_id          TEXT REFERENCES capability_tokens (id),
    permissions        TEXT NOT NULL,               -- JSON array of capability strings
    budget_cents       BIGINT NOT NULL,
    spent_cents        BIGINT NOT NULL DEFAULT 0,
    compliance_policy  TEXT NOT NULL,
    metadata           TEXT NOT NULL,               -- JSON object
    jws                TEXT NOT NULL,               -- the signed compact token (spec §11.4)
    created_at         DOUBLE PRECISION NOT NULL,
    expires_at         DOUBLE PRECISION,
    revoked_at         DOUBLE PRECISION
);
CREATE INDEX capability_tokens_user ON capability_tokens (user_id, created_at DESC);

CREATE TABLE executions (
    id                    TEXT PRIMARY KEY NOT NULL,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task                  TEXT NOT NULL,
    status                TEXT NOT NULL,
    current_step          BIGINT NOT NULL DEFAULT 0,
    error                 TEXT NOT NULL DEFAULT '',
    created_at            DOUBLE PRECISION NOT NULL,
    updated_at            DOUBLE PRECISION NOT NULL,
    started_at            DOUBLE PRECISION,
    completed_at          DOUBLE PRECISION,
    cost_cents            BIGINT NOT NULL DEFAULT 0,
    llm_provider          TEXT,
    llm_model             TEXT,
    compliance_policy     TEXT NOT NULL,
    proof_properties      TEXT NOT NULL DEFAULT '[]',   -- JSON array
    certificate_ids       TEXT NOT NULL DEFAULT '[]',   -- JSON array
    output                TEXT,
    verification_summary  TEXT,                         -- JSON object
    verification_profile  TEXT NOT NULL,                -- JSON object
    preset_key            TEXT NOT NULL,
    preset_digest         TEXT NOT NULL,
    token_id              TEXT NOT NULL REFERENCES capability_tokens (id),
    workflow_id           TEXT,
    workflow_stage_id     TEXT,
    run_spec              TEXT NOT NULL,                -- JSON: plan, webhook_url (what the worker needs)
    input_tokens          BIGINT NOT NULL DEFAULT 0,
    output_tokens         BIGINT NOT NULL DEFAULT 0,
    final_violations      TEXT,                         -- JSON array: final-output violations and holds
    final_scan            TEXT,                         -- JSON: the final-output content phase, when it ran
    artifact              TEXT,                         -- JSON approved artifact of a reviewer stage (spec §9.4)
    release_binding       TEXT                          -- JSON release_binding_summary of a release stage
);
CREATE INDEX executions_user_created ON executions (user_id, created_at DESC, id DESC);
CREATE INDEX executions_created ON executions (created_at DESC, id DESC);

-- The durable queue: one row per execution still to run. A worker holds a lease it renews; an
-- expired lease is claimable again. The per-run provider key lives only here and dies with the row.
CREATE TABLE jobs (
    execution_id      TEXT PRIMARY KEY NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    created_at        DOUBLE PRECISION NOT NULL,
    lease_owner       TEXT,
    lease_until       DOUBLE PRECISION,
    attempts          BIGINT NOT NULL DEFAULT 0,
    api_key           TEXT,
    inflight_step     BIGINT,            -- the step a worker started and has not recorded
    inflight_attempt  BIGINT,
    conversation      TEXT                -- JSON transcript of an LLM run, saved each round
);
CREATE INDEX jobs_claimable ON jobs (lease_until, created_at);

CREATE TABLE execution_steps (
    execution_id  TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_index    BIGINT NOT NULL,
    record        TEXT NOT NULL,          -- JSON ToolCallRecord (spec §9.5)
    output        TEXT,                   -- the full effective output (the record keeps 500 chars)
    PRIMARY KEY (execution_id, step_index)
);

CREATE TABLE certificates (
    id            TEXT PRIMARY KEY NOT NULL,
    execution_id  TEXT,
    document      TEXT NOT NULL,          -- the signed certificate JSON
    issued_at     DOUBLE PRECISION NOT NULL,
    rowid         BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX certificates_execution ON certificates (execution_id, issued_at);

-- One hash chain per execution or workflow (spec §11.5); rows are never updated.
CREATE TABLE events (
    subject_id  TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    timestamp   DOUBLE PRECISION NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (subject_id, seq)
);

-- Outbound completion webhooks (spec §9.8): one row per delivery, after its last attempt.
CREATE TABLE webhook_deliveries (
    id            TEXT PRIMARY KEY NOT NULL,
    execution_id  TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    event         TEXT NOT NULL,
    attempts      BIGINT NOT NULL,
    status_code   BIGINT,
    delivered     BOOLEAN NOT NULL,
    error         TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX webhook_deliveries_execution ON webhook_deliveries (execution_id, created_at);
