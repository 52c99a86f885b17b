-- Emailed one-use links with which an owner approves or declines an extra
-- line a shop proposed during a job, without signing in: the token is
-- kept only as its hash, with its expiry and when it was used.
CREATE TABLE extra_links (
	token_hash TEXT PRIMARY KEY,
	booking_id TEXT NOT NULL REFERENCES bookings (id),
	line_n     INTEGER NOT NULL,
	owner_id   TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms    BIGINT
);
CREATE INDEX extra_links_owner ON extra_links (owner_id);
