-- Alerts, the notification log, silences, the in-app feed, owners'
-- notification settings and vehicles' services.

-- Every alert as it stands, by fingerprint (a hash of its labels): one
-- row per alert, updated as it fires and resolves.
CREATE TABLE alerts (
	fingerprint   TEXT PRIMARY KEY,
	device        TEXT NOT NULL,
	vehicle       TEXT NOT NULL DEFAULT '',
	rule          TEXT NOT NULL,
	severity      TEXT NOT NULL,
	labels        TEXT NOT NULL,  -- JSON object
	state         TEXT NOT NULL,  -- firing or resolved
	starts_ms     BIGINT NOT NULL,
	ends_ms       BIGINT NOT NULL DEFAULT 0,
	summary       TEXT NOT NULL,
	vals          TEXT NOT NULL,  -- JSON object: signal to value
	codes         TEXT NOT NULL,  -- JSON array
	one_shot      INTEGER NOT NULL DEFAULT 0,
	send_resolved INTEGER NOT NULL DEFAULT 1,
	updated_ms    BIGINT NOT NULL
);
CREATE INDEX alerts_device ON alerts (device, state);

-- What was sent, to whom it does not say: by notifier, alert, the alert's
-- start and state. A restart reads it and sends nothing twice.
CREATE TABLE notifications (
	notifier    TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	starts_ms   BIGINT NOT NULL,
	state       TEXT NOT NULL,
	sent_ms     BIGINT NOT NULL,
	id          TEXT NOT NULL,   -- the notification's idempotency key
	PRIMARY KEY (notifier, fingerprint, starts_ms, state, sent_ms)
);

-- Owner silences and snoozes: alerts of a device whose labels match are
-- not sent between starts and ends.
CREATE TABLE silences (
	id         TEXT PRIMARY KEY,
	device     TEXT NOT NULL,
	matchers   TEXT NOT NULL,  -- JSON object of label equalities
	starts_ms  BIGINT NOT NULL,
	ends_ms    BIGINT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	comment    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX silences_device ON silences (device, ends_ms);

-- The in-app feed: what each owner was told.
CREATE TABLE feed (
	id          TEXT PRIMARY KEY,
	owner_id    TEXT NOT NULL,
	device      TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	state       TEXT NOT NULL,
	severity    TEXT NOT NULL,
	summary     TEXT NOT NULL,
	time_ms     BIGINT NOT NULL
);
CREATE INDEX feed_owner ON feed (owner_id, time_ms);

-- When an owner does not want non-critical alerts (local times "22:00",
-- "07:00" in their time zone; empty for none).
ALTER TABLE owners ADD COLUMN quiet_start TEXT NOT NULL DEFAULT '';
ALTER TABLE owners ADD COLUMN quiet_end TEXT NOT NULL DEFAULT '';
ALTER TABLE owners ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';

-- Services done on a vehicle: the maintenance rules count from the last.
CREATE TABLE vehicle_services (
	id          TEXT PRIMARY KEY,
	vehicle_id  TEXT NOT NULL REFERENCES vehicles (id),
	date_ms     BIGINT NOT NULL,
	odometer_km DOUBLE PRECISION NOT NULL,
	kind        TEXT NOT NULL DEFAULT '',
	notes       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX vehicle_services_vehicle ON vehicle_services (vehicle_id, date_ms);
