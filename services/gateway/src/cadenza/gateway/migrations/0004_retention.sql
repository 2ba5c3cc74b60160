-- Retention: what the owner pinned is kept; a job whose generated files were removed
-- says when.
ALTER TABLE jobs ADD COLUMN pinned boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN artifacts_expired_at timestamptz;
ALTER TABLE uploads ADD COLUMN pinned boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE NOT pinned;
CREATE INDEX uploads_created ON uploads (created_at) WHERE NOT pinned;
