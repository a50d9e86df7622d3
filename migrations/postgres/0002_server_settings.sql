-- Server-wide settings changed through the API (spec §4.9.2: the default provider), shared by
-- every replica through the store. One JSON value per key.
CREATE TABLE server_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
