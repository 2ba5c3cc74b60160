-- A job its owner deleted stays as a tombstone (reads answer 404; its Idempotency-Key is
-- not given to a new job) until retention removes the record.
ALTER TABLE jobs ADD COLUMN deleted_at timestamptz;
