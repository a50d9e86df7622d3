-- Release gating (spec/RELEASES.md): repositories and their aliases, release policies,
-- per-commit snapshots with their evidence and ingest issues, append-only promotions, and the
-- GitHub deliveries and pull-request heads the webhook has seen.

CREATE TABLE release_repos (
    id          TEXT PRIMARY KEY NOT NULL,
    repo_key    TEXT NOT NULL UNIQUE,
    created_at  DOUBLE PRECISION NOT NULL
);

-- Other keys a repo is found under; unique across every repo's key and aliases (the key side
-- is checked in the writing transaction).
CREATE TABLE release_aliases (
    alias    TEXT PRIMARY KEY NOT NULL,
    repo_id  TEXT NOT NULL REFERENCES release_repos (id)
);
CREATE INDEX release_aliases_repo ON release_aliases (repo_id);

CREATE TABLE release_policies (
    repo_id                    TEXT PRIMARY KEY NOT NULL REFERENCES release_repos (id),
    presets                    TEXT NOT NULL,   -- JSON array of canonical preset keys
    required_checks            TEXT NOT NULL,   -- JSON array
    required_properties        TEXT NOT NULL,   -- JSON array
    require_attestation        BOOLEAN NOT NULL,
    require_reviewed_workflow  BOOLEAN NOT NULL,
    max_evidence_age_days      BIGINT,
    version                    BIGINT NOT NULL,
    updated_at                 DOUBLE PRECISION NOT NULL,
    updated_by                 TEXT NOT NULL
);

CREATE TABLE release_snapshots (
    id          TEXT PRIMARY KEY NOT NULL,
    repo_id     TEXT NOT NULL REFERENCES release_repos (id),
    commit_sha  TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    UNIQUE (repo_id, commit_sha)
);
CREATE INDEX release_snapshots_latest ON release_snapshots (repo_id, created_at DESC, id DESC);

-- One row per evidence identity; re-recording replaces `data` and `recorded_at`.
CREATE TABLE release_evidence (
    snapshot_id  TEXT NOT NULL REFERENCES release_snapshots (id),
    evidence_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    data         TEXT NOT NULL,                 -- JSON object: the kind's fields
    recorded_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (snapshot_id, evidence_id)
);

CREATE TABLE release_ingest_issues (
    snapshot_id  TEXT NOT NULL REFERENCES release_snapshots (id),
    code         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    detail       TEXT NOT NULL,
    recorded_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (snapshot_id, code, detail)
);

-- Append-only: rows are never updated or deleted.
CREATE TABLE release_promotions (
    seq                        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                         TEXT NOT NULL UNIQUE,
    snapshot_id                TEXT NOT NULL REFERENCES release_snapshots (id),
    repo_id                    TEXT NOT NULL REFERENCES release_repos (id),
    status                     TEXT NOT NULL,
    release_label              TEXT,
    reason                     TEXT NOT NULL,
    bound_artifact_digest      TEXT,
    operator_identity          TEXT NOT NULL,
    operator_user_id           TEXT NOT NULL,
    operator_role              TEXT NOT NULL,
    claimed_operator_identity  TEXT,
    requested_commit_sha       TEXT,
    created_at                 DOUBLE PRECISION NOT NULL
);
CREATE INDEX release_promotions_snapshot ON release_promotions (snapshot_id, created_at, seq);
CREATE INDEX release_promotions_repo ON release_promotions (repo_id, created_at DESC, seq DESC);

CREATE TABLE github_deliveries (
    delivery_id  TEXT PRIMARY KEY NOT NULL,
    event        TEXT NOT NULL,
    action       TEXT,
    repo_key     TEXT,
    received_at  DOUBLE PRECISION NOT NULL,
    outcome      TEXT NOT NULL
);

-- The head of each pull request the webhook has seen (one row per PR).
CREATE TABLE github_pr_heads (
    repo_id     TEXT NOT NULL REFERENCES release_repos (id),
    number      BIGINT NOT NULL,
    head_sha    TEXT NOT NULL,
    full_name   TEXT NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo_id, number)
);
CREATE INDEX github_pr_heads_sha ON github_pr_heads (repo_id, head_sha);
