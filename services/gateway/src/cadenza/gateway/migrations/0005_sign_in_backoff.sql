-- Failed sign-ins per account: after a few, each further attempt waits longer (back-off),
-- whichever address it comes from. A successful sign-in clears both.
ALTER TABLE users ADD COLUMN failed_sign_ins integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN sign_in_blocked_until timestamptz;
