-- Webhooks: an account's subscriptions (where to call, for which job events) and the
-- delivery log. A delivery row is written, once per webhook event and subscription (its id
-- is uuid5(subscription id, event id)), by the durable consumers of the job facts before
-- they acknowledge the fact; the delivery loop then calls the URL until it answers 2xx or
-- the attempts run out. So a restart loses none and sends none twice under another id.
CREATE TABLE webhook_subscriptions (
    id                  uuid PRIMARY KEY,
    owner               text NOT NULL,
    url                 text NOT NULL,
    event_types         text[] NOT NULL,
    job_id              uuid,
    description         text NOT NULL DEFAULT '',
    -- Needed in the clear to sign (HMAC); shown to the owner once, when made or rotated.
    secret              text NOT NULL,
    -- After a rotation the old secret still signs (a second signature) until this time.
    previous_secret     text,
    previous_expires_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner, created_at);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    subscription_id  uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    job_id           uuid NOT NULL,
    -- The exact body sent (and signed) on every attempt.
    body             text NOT NULL,
    status           text NOT NULL DEFAULT 'pending',  -- pending, delivered, failed
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    finished_at      timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
    WHERE status <> 'pending';
