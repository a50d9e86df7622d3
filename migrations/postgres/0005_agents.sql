-- Agents (spec §4.7, §4.8, §13): budgets reserved by child tokens, delegation records and
-- glass-box records. Timestamps are DOUBLE PRECISION epoch seconds.

-- What child tokens took out of this token's budget; never refunded (spec §4.8.3).
ALTER TABLE capability_tokens ADD COLUMN reserved_cents BIGINT NOT NULL DEFAULT 0;
CREATE INDEX capability_tokens_parent ON capability_tokens (parent_id);

CREATE TABLE delegations (
    id               TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id        TEXT NOT NULL,
    parent_agent_id  TEXT NOT NULL,
    child_id         TEXT NOT NULL,
    child_agent_id   TEXT NOT NULL,
    permissions      TEXT NOT NULL,               -- JSON array: the child's requested permissions
    budget           BIGINT NOT NULL,            -- the child's requested budget
    status           TEXT NOT NULL,               -- verified | blocked
    code             TEXT,                        -- denial code, NULL when verified
    reason           TEXT NOT NULL,
    token_id         TEXT REFERENCES capability_tokens (id),
    parent_verified  BOOLEAN NOT NULL,            -- a stored parent token bounded the check
    created_at       DOUBLE PRECISION NOT NULL
);
CREATE INDEX delegations_user ON delegations (user_id, created_at DESC);
CREATE INDEX delegations_created ON delegations (created_at DESC);

CREATE TABLE glass_box_records (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    record       TEXT NOT NULL,                   -- JSON: the response object, record_hash included
    stored_at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX glass_box_records_user ON glass_box_records (user_id, stored_at DESC);
CREATE INDEX glass_box_records_stored ON glass_box_records (stored_at DESC);
