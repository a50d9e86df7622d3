-- The claim takes the oldest job whose lease is absent or expired. Walking the jobs in queue
-- order and stopping at the first claimable one costs a few rows (only running jobs hold a
-- lease, and they are the oldest); the index on the lease sorted every claimable job per claim.
DROP INDEX jobs_claimable;
CREATE INDEX jobs_queue ON jobs (created_at, execution_id);
