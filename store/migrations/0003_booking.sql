-- Shops, leads, quotes, bookings and reviews; the owner's home area and
-- the vehicle's class for matching and prices.

-- Where an owner's car usually is, for distances to shops (never a trace).
ALTER TABLE owners ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE owners ADD COLUMN lon DOUBLE PRECISION;
-- small, medium or large: shops price jobs and packages per class.
ALTER TABLE vehicles ADD COLUMN class TEXT NOT NULL DEFAULT 'medium';

-- A shop; what it offers (systems, brands, labour rate, fixed prices,
-- packages, hours, capacity, response promise) is a JSON document owned
-- by the booking package.
CREATE TABLE shops (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL,
	email          TEXT NOT NULL DEFAULT '',
	webhook_url    TEXT NOT NULL DEFAULT '',
	webhook_secret TEXT NOT NULL DEFAULT '',
	address        TEXT NOT NULL DEFAULT '',
	lat            DOUBLE PRECISION NOT NULL,
	lon            DOUBLE PRECISION NOT NULL,
	timezone       TEXT NOT NULL DEFAULT 'UTC',
	profile        TEXT NOT NULL,
	created_ms     BIGINT NOT NULL
);

-- A request for repair an owner consented to share. What is shared is
-- fixed here: vin, approximate location and report are kept only when
-- their flag is set, and erased when the lead is withdrawn.
CREATE TABLE leads (
	id             TEXT PRIMARY KEY,
	owner_id       TEXT NOT NULL REFERENCES owners (id),
	vehicle_id     TEXT NOT NULL REFERENCES vehicles (id),
	status         TEXT NOT NULL,
	share_report   INTEGER NOT NULL,
	share_vin      INTEGER NOT NULL,
	share_location INTEGER NOT NULL,
	make           TEXT NOT NULL,
	model          TEXT NOT NULL,
	year           INTEGER NOT NULL,
	class          TEXT NOT NULL,
	codes          TEXT NOT NULL,
	repairs        TEXT NOT NULL,
	summary        TEXT NOT NULL,
	fair_low       DOUBLE PRECISION NOT NULL,
	fair_high      DOUBLE PRECISION NOT NULL,
	currency       TEXT NOT NULL,
	vin            TEXT NOT NULL DEFAULT '',
	approx_lat     DOUBLE PRECISION,
	approx_lon     DOUBLE PRECISION,
	report         BYTEA,
	created_ms     BIGINT NOT NULL,
	updated_ms     BIGINT NOT NULL
);
CREATE INDEX leads_owner ON leads (owner_id, created_ms);

-- A lead as one shop sees it: ranked, sent (or waiting its turn),
-- answered with a quote and a slot, declined, expired or withdrawn.
CREATE TABLE lead_offers (
	lead_id     TEXT NOT NULL REFERENCES leads (id),
	shop_id     TEXT NOT NULL REFERENCES shops (id),
	rank        INTEGER NOT NULL,
	state       TEXT NOT NULL,
	reasons     TEXT NOT NULL DEFAULT '',
	sent_ms     BIGINT,
	due_ms      BIGINT,
	answered_ms BIGINT,
	quote       DOUBLE PRECISION,
	slot_ms     BIGINT,
	note        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (lead_id, shop_id)
);
CREATE INDEX lead_offers_shop ON lead_offers (shop_id, state);
CREATE INDEX lead_offers_due ON lead_offers (state, due_ms);

CREATE TABLE bookings (
	id                 TEXT PRIMARY KEY,
	lead_id            TEXT NOT NULL DEFAULT '',
	shop_id            TEXT NOT NULL REFERENCES shops (id),
	owner_id           TEXT NOT NULL REFERENCES owners (id),
	vehicle_id         TEXT NOT NULL REFERENCES vehicles (id),
	kind               TEXT NOT NULL,
	status             TEXT NOT NULL,
	slot_ms            BIGINT NOT NULL,
	day                TEXT NOT NULL,
	price              DOUBLE PRECISION NOT NULL,
	currency           TEXT NOT NULL,
	codes              TEXT NOT NULL DEFAULT '',
	work               TEXT NOT NULL DEFAULT '',
	cancel_reason      TEXT NOT NULL DEFAULT '',
	created_ms         BIGINT NOT NULL,
	updated_ms         BIGINT NOT NULL,
	completed_ms       BIGINT,
	completed_odometer DOUBLE PRECISION NOT NULL DEFAULT 0,
	verify             TEXT NOT NULL DEFAULT '',
	verify_note        TEXT NOT NULL DEFAULT '',
	verify_cycles      INTEGER NOT NULL DEFAULT 0,
	verify_ms          BIGINT
);
CREATE INDEX bookings_shop_day ON bookings (shop_id, day);
CREATE INDEX bookings_vehicle ON bookings (vehicle_id, status);
CREATE INDEX bookings_owner ON bookings (owner_id, created_ms);

-- Every change of a booking's status, by whom.
CREATE TABLE booking_events (
	booking_id  TEXT NOT NULL REFERENCES bookings (id),
	time_ms     BIGINT NOT NULL,
	from_status TEXT NOT NULL,
	to_status   TEXT NOT NULL,
	actor       TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX booking_events_booking ON booking_events (booking_id, time_ms);

CREATE TABLE reviews (
	booking_id TEXT PRIMARY KEY REFERENCES bookings (id),
	shop_id    TEXT NOT NULL REFERENCES shops (id),
	owner_id   TEXT NOT NULL REFERENCES owners (id),
	stars      INTEGER NOT NULL,
	body       TEXT NOT NULL DEFAULT '',
	created_ms BIGINT NOT NULL
);
CREATE INDEX reviews_shop ON reviews (shop_id, created_ms);

-- An owner's own maintenance intervals for one car, over the defaults.
CREATE TABLE maintenance_overrides (
	vehicle_id   TEXT NOT NULL REFERENCES vehicles (id),
	item         TEXT NOT NULL,
	every_km     DOUBLE PRECISION NOT NULL,
	every_months INTEGER NOT NULL,
	PRIMARY KEY (vehicle_id, item)
);
