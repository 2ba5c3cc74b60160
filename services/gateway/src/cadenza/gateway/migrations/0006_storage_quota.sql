-- What each account stores, file by file (uploads, the outputs of its jobs, its songs'
-- files): the sum is what its storage quota counts. Keyed by the file's storage URI, so a
-- file two jobs point at (an input passed through unchanged) counts once.
CREATE TABLE stored_files (
    uri          text PRIMARY KEY,
    owner        text NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    job_id       uuid,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stored_files_owner ON stored_files (owner);
CREATE INDEX stored_files_job ON stored_files (job_id) WHERE job_id IS NOT NULL;

-- What an accepted job is expected to write: reserved against the quota until it ends.
ALTER TABLE jobs ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0);
CREATE INDEX jobs_owner_active ON jobs (owner) WHERE status IN ('queued', 'running');

INSERT INTO stored_files (uri, owner, bytes)
    SELECT uri, owner, bytes FROM uploads
    ON CONFLICT (uri) DO NOTHING;
INSERT INTO stored_files (uri, owner, bytes, job_id)
    SELECT a.value->>'uri', j.owner, coalesce((a.value->>'bytes')::bigint, 0), j.id
    FROM jobs j, jsonb_each(j.artifacts) a
    WHERE j.artifacts_expired_at IS NULL AND a.value ? 'uri'
    ON CONFLICT (uri) DO NOTHING;
