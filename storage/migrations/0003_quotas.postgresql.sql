-- 0003 (PostgreSQL): per-assignment upload quotas (count and MiB per group) and the per-member rate index.
ALTER TABLE assignments ADD COLUMN max_uploads INTEGER NOT NULL DEFAULT 200
    CHECK (max_uploads >= 1);
ALTER TABLE assignments ADD COLUMN max_storage_mb DOUBLE PRECISION NOT NULL DEFAULT 500
    CHECK (max_storage_mb > 0);
-- The rate check counts one member's uploads of the last minute at every upload.
CREATE INDEX uploads_user_sent ON uploads(user_id, sent_at);
