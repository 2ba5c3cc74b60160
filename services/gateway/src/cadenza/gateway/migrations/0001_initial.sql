-- Uploads, the jobs projection, and the log of events it was built from.
CREATE TABLE uploads (
    id           uuid PRIMARY KEY,
    owner        text NOT NULL,
    filename     text NOT NULL,
    media_type   text NOT NULL,
    format       text NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    sha256       text NOT NULL,
    duration_s   double precision NOT NULL,
    sample_rate  integer NOT NULL,
    channels     integer NOT NULL,
    uri          text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_owner_created ON uploads (owner, created_at DESC);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    owner            text NOT NULL,
    kind             text NOT NULL,
    status           text NOT NULL
                     CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    progress         double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    stages           jsonb NOT NULL,
    input            jsonb NOT NULL,
    params           jsonb NOT NULL,
    artifacts        jsonb NOT NULL DEFAULT '{}'::jsonb,
    error            jsonb,
    idempotency_key  text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    UNIQUE (owner, idempotency_key)
);
CREATE INDEX jobs_owner_created ON jobs (owner, created_at DESC, id DESC);

-- Every event applied to the projection, once (keyed by event id): the idempotency guard,
-- and the per-job history that event replay prints.
CREATE TABLE job_events (
    event_id     uuid PRIMARY KEY,
    job_id       uuid NOT NULL,
    subject      text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job ON job_events (job_id, occurred_at);
