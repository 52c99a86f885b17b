-- Owners, their vehicles, and the devices fitted to them. Kept to SQL
-- that SQLite and PostgreSQL both accept: text ids made by Pitwall,
-- BIGINT Unix milliseconds for times, BYTEA for bytes (SQLite stores a
-- blob as it is under any declared type).
CREATE TABLE owners (
	id         TEXT PRIMARY KEY,
	email      TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	created_ms BIGINT NOT NULL
);

CREATE TABLE vehicles (
	id         TEXT PRIMARY KEY,
	owner_id   TEXT REFERENCES owners (id),
	vin        TEXT UNIQUE,
	make       TEXT NOT NULL DEFAULT '',
	model      TEXT NOT NULL DEFAULT '',
	year       INTEGER NOT NULL DEFAULT 0,
	name       TEXT NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL
);
CREATE INDEX vehicles_owner ON vehicles (owner_id);

-- A device's secret is kept only as a PBKDF2-SHA512 hash in Mosquitto's
-- password-file format, so the same hash serves the embedded broker and
-- an exported Mosquitto password file.
CREATE TABLE devices (
	id          TEXT PRIMARY KEY,
	vehicle_id  TEXT REFERENCES vehicles (id),
	secret_hash TEXT NOT NULL,
	created_ms  BIGINT NOT NULL,
	revoked_ms  BIGINT
);
CREATE INDEX devices_vehicle ON devices (vehicle_id);

-- What the ingest last learned of each device that published, registered
-- or not.
CREATE TABLE device_status (
	device        TEXT PRIMARY KEY,
	online        INTEGER NOT NULL,
	seen_ms       BIGINT NOT NULL,
	boot          TEXT NOT NULL,
	last_seq      BIGINT NOT NULL,
	vin           TEXT NOT NULL DEFAULT '',
	agent_version TEXT NOT NULL DEFAULT '',
	adapter       TEXT NOT NULL DEFAULT '',
	protocol      TEXT NOT NULL DEFAULT ''
);

-- Birth messages by device and boot: the signal aliases a boot's
-- telemetry is written in, kept so that telemetry queued while the server
-- was down can be read after the device went offline.
CREATE TABLE device_births (
	device  TEXT NOT NULL,
	boot    TEXT NOT NULL,
	seq     BIGINT NOT NULL,
	time_ms BIGINT NOT NULL,
	body    BYTEA NOT NULL,
	PRIMARY KEY (device, boot)
);

-- Trouble-code reports, events and command results as they arrived
-- (the wire's protobuf), once each by device and sequence number.
CREATE TABLE device_messages (
	device  TEXT NOT NULL,
	seq     BIGINT NOT NULL,
	kind    TEXT NOT NULL,
	boot    TEXT NOT NULL,
	time_ms BIGINT NOT NULL,
	body    BYTEA NOT NULL,
	PRIMARY KEY (device, seq)
);
CREATE INDEX device_messages_kind ON device_messages (device, kind, time_ms);
