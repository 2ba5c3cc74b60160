-- When a scheduled duty shared by the gateway replicas (the retention sweep) last started:
-- a replica whose timer fires runs it only if no replica has within the interval, so N
-- replicas sweep once per interval, not N times.
CREATE TABLE background_runs (
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL
);
