-- Users, their API keys (stored only as SHA-256 digests) and rate-limit events.
-- The PostgreSQL twin of migrations/sqlite: same tables and columns; SQLite's 0/1 integers are
-- BOOLEAN here, and tables the store orders by insertion carry an identity column named `rowid`
-- so the same SQL runs on both.
-- Timestamps are DOUBLE PRECISION seconds since the Unix epoch, as on the wire.

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    organization   TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL,
    password_hash  TEXT,
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     DOUBLE PRECISION NOT NULL,
    last_login_at  DOUBLE PRECISION
);
CREATE INDEX users_created ON users (created_at DESC, id DESC);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_sha256  TEXT NOT NULL UNIQUE,
    created_at  DOUBLE PRECISION NOT NULL,
    revoked_at  DOUBLE PRECISION,
    rowid       BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX api_keys_live ON api_keys (user_id, created_at) WHERE revoked_at IS NULL;

-- One row per counted attempt; a bucket is e.g. 'login:email:a@b.c' or 'register:ip:10.0.0.1'.
CREATE TABLE rate_events (
    bucket  TEXT NOT NULL,
    at      DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_events_bucket ON rate_events (bucket, at);
