-- Events of accepted jobs not yet confirmed by JetStream. A job is accepted when its
-- JobSubmitted and first commands are committed here together with the job row; the
-- gateway publishes them at once, and the outbox relay retries whatever is left (NATS
-- down or restarting) until JetStream acknowledges it.
CREATE TABLE outbox (
    position    bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    subject     text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
