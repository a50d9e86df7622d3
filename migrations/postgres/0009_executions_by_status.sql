-- Listing executions by status (`GET /executions?status=…` for an admin or auditor, and any
-- client waiting for a status to drain) walks this index newest first instead of every
-- execution. Owners' lists keep using executions_user_created and filter its rows.
CREATE INDEX executions_status_created ON executions (status, created_at DESC, id DESC);
