-- Accounts people open themselves, cars they describe, dongles they pair
-- and shops that wait for approval.

-- A user's own name, time zone (pages show times in it) and when the
-- address was confirmed (null until then).
ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE users ADD COLUMN confirmed_ms BIGINT;
-- Accounts from before sign-up existed were made by an operator.
UPDATE users SET confirmed_ms = created_ms;

-- One-use links sent by email: confirming an address, resetting a
-- password. Only the SHA-256 of the link's secret is kept.
CREATE TABLE account_links (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	purpose    TEXT NOT NULL,
	email      TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms    BIGINT
);
CREATE INDEX account_links_user ON account_links (user_id, purpose);

-- A phone number the owner may choose to give a shop they book.
ALTER TABLE owners ADD COLUMN phone TEXT NOT NULL DEFAULT '';

-- What an owner says of a car: its plate, the odometer when added or
-- last edited, and where it usually is.
ALTER TABLE vehicles ADD COLUMN plate TEXT NOT NULL DEFAULT '';
ALTER TABLE vehicles ADD COLUMN odometer_km DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE vehicles ADD COLUMN odometer_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE vehicles ADD COLUMN home_lat DOUBLE PRECISION;
ALTER TABLE vehicles ADD COLUMN home_lon DOUBLE PRECISION;

-- Codes an owner types into a dongle to pair it with a car: kept as a
-- hash, valid for minutes, used once.
CREATE TABLE pairing_codes (
	code_hash  TEXT PRIMARY KEY,
	vehicle_id TEXT NOT NULL REFERENCES vehicles (id),
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	used_ms    BIGINT,
	device_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pairing_codes_vehicle ON pairing_codes (vehicle_id);

-- Shops that sign up start as drafts, wait as pending once their profile
-- is complete, and are matched only when approved. Shops an operator
-- added before this migration are approved.
ALTER TABLE shops ADD COLUMN status TEXT NOT NULL DEFAULT 'approved';
ALTER TABLE shops ADD COLUMN status_note TEXT NOT NULL DEFAULT '';
ALTER TABLE shops ADD COLUMN phone TEXT NOT NULL DEFAULT '';

-- Who is coming, as the owner chose to tell the shop when booking.
ALTER TABLE bookings ADD COLUMN contact_name TEXT NOT NULL DEFAULT '';
ALTER TABLE bookings ADD COLUMN contact_email TEXT NOT NULL DEFAULT '';
ALTER TABLE bookings ADD COLUMN contact_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE bookings ADD COLUMN plate TEXT NOT NULL DEFAULT '';

-- Servers and tools that read every device through the embedded broker
-- (beside those in the server's configuration).
CREATE TABLE broker_users (
	name        TEXT PRIMARY KEY,
	secret_hash TEXT NOT NULL,
	created_ms  BIGINT NOT NULL
);
