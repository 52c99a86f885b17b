-- After the booking: itemised quotes and bills, extras the owner
-- approves, payments, progress with photos, follow-up surveys,
-- complaints with a response promise, warranty claims, the drives
-- verify-the-fix counted, and a car's history shared with consent.
-- Amounts are integers in hundredths of the currency unit (cents);
-- quantities in hundredths too (1.5 hours is 150), so that a line's
-- amount, the tax and the total are exact.

-- The tax rate a quote or a booking was priced with, in basis points
-- (23% is 2300), fixed when it was quoted.
ALTER TABLE lead_offers ADD COLUMN tax_bp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bookings ADD COLUMN tax_bp INTEGER NOT NULL DEFAULT 0;

-- What a step of a booking's history is about: status (a change of
-- status), line (an extra proposed, approved, declined), progress,
-- payment, followup, complaint, warranty.
ALTER TABLE booking_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'status';

-- A quote's lines, as the shop answered the lead.
CREATE TABLE offer_lines (
	lead_id         TEXT NOT NULL REFERENCES leads (id),
	shop_id         TEXT NOT NULL REFERENCES shops (id),
	n               INTEGER NOT NULL,
	kind            TEXT NOT NULL,
	description     TEXT NOT NULL,
	repair          TEXT NOT NULL DEFAULT '',
	qty_hundredths  BIGINT NOT NULL,
	unit_cents      BIGINT NOT NULL,
	amount_cents    BIGINT NOT NULL,
	warranty_months INTEGER NOT NULL DEFAULT 0,
	warranty_km     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (lead_id, shop_id, n)
);

-- A booking's lines: those of the quote it was booked from (quoted), and
-- those the shop proposed during the job (proposed, then approved or
-- declined by the owner; withdrawn when the job was completed before the
-- owner answered).
CREATE TABLE booking_lines (
	booking_id      TEXT NOT NULL REFERENCES bookings (id),
	n               INTEGER NOT NULL,
	kind            TEXT NOT NULL,
	description     TEXT NOT NULL,
	repair          TEXT NOT NULL DEFAULT '',
	qty_hundredths  BIGINT NOT NULL,
	unit_cents      BIGINT NOT NULL,
	amount_cents    BIGINT NOT NULL,
	warranty_months INTEGER NOT NULL DEFAULT 0,
	warranty_km     INTEGER NOT NULL DEFAULT 0,
	status          TEXT NOT NULL,
	reason          TEXT NOT NULL DEFAULT '',
	proposed_ms     BIGINT NOT NULL,
	decided_ms      BIGINT,
	PRIMARY KEY (booking_id, n)
);
-- Bookings from before lines existed get one line: the work at its price.
INSERT INTO booking_lines (booking_id, n, kind, description, qty_hundredths, unit_cents, amount_cents, status, proposed_ms)
	SELECT id, 1, 'job', work, 100, CAST(ROUND(price * 100) AS BIGINT), CAST(ROUND(price * 100) AS BIGINT), 'quoted', created_ms FROM bookings;

-- How a bill was paid, as the shop recorded it.
CREATE TABLE booking_payments (
	booking_id   TEXT NOT NULL REFERENCES bookings (id),
	n            INTEGER NOT NULL,
	method       TEXT NOT NULL,
	amount_cents BIGINT NOT NULL,
	paid_ms      BIGINT NOT NULL,
	recorded_ms  BIGINT NOT NULL,
	note         TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (booking_id, n)
);

-- What the shop showed the owner of the work: a step, a note, photos.
CREATE TABLE booking_progress (
	booking_id TEXT NOT NULL REFERENCES bookings (id),
	n          INTEGER NOT NULL,
	step       TEXT NOT NULL,
	note       TEXT NOT NULL DEFAULT '',
	time_ms    BIGINT NOT NULL,
	PRIMARY KEY (booking_id, n)
);

-- Photos of a progress step, re-encoded (no metadata survives), served
-- only to the booking's owner and shop.
CREATE TABLE booking_photos (
	id           TEXT PRIMARY KEY,
	booking_id   TEXT NOT NULL REFERENCES bookings (id),
	progress_n   INTEGER NOT NULL,
	content_type TEXT NOT NULL,
	width        INTEGER NOT NULL,
	height       INTEGER NOT NULL,
	data         BYTEA NOT NULL,
	created_ms   BIGINT NOT NULL
);
CREATE INDEX booking_photos_booking ON booking_photos (booking_id, progress_n);

-- The follow-up survey of a completed booking: one row, claimed by the
-- server that sends it (the key makes it once), answered once.
CREATE TABLE followups (
	booking_id   TEXT PRIMARY KEY REFERENCES bookings (id),
	owner_id     TEXT NOT NULL REFERENCES owners (id),
	shop_id      TEXT NOT NULL REFERENCES shops (id),
	sent_ms      BIGINT NOT NULL,
	answered_ms  BIGINT,
	fixed        INTEGER,
	price_agreed INTEGER,
	use_again    INTEGER,
	score        INTEGER,
	comment      TEXT NOT NULL DEFAULT '',
	complaint_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX followups_shop ON followups (shop_id, answered_ms);

-- A complaint on a booking: open until the shop answers (by due_ms,
-- counted in its opening hours), escalated to the administrators when it
-- does not, resolved by the owner or an administrator.
CREATE TABLE complaints (
	id           TEXT PRIMARY KEY,
	booking_id   TEXT NOT NULL REFERENCES bookings (id),
	shop_id      TEXT NOT NULL REFERENCES shops (id),
	owner_id     TEXT NOT NULL REFERENCES owners (id),
	category     TEXT NOT NULL,
	body         TEXT NOT NULL,
	source       TEXT NOT NULL,
	status       TEXT NOT NULL,
	opened_ms    BIGINT NOT NULL,
	due_ms       BIGINT NOT NULL,
	answered_ms  BIGINT,
	answer       TEXT NOT NULL DEFAULT '',
	escalated_ms BIGINT,
	resolved_ms  BIGINT,
	resolution   TEXT NOT NULL DEFAULT '',
	resolved_by  TEXT NOT NULL DEFAULT ''
);
-- One unresolved complaint per booking at a time.
CREATE UNIQUE INDEX complaints_one_open ON complaints (booking_id) WHERE status <> 'resolved';
CREATE INDEX complaints_due ON complaints (status, due_ms);
CREATE INDEX complaints_shop ON complaints (shop_id, opened_ms);

-- A warranty claim opened when verify-the-fix saw a repaired fault come
-- back within the warranty of the booking's lines: one per booking.
CREATE TABLE warranty_claims (
	id          TEXT PRIMARY KEY,
	booking_id  TEXT NOT NULL UNIQUE REFERENCES bookings (id),
	shop_id     TEXT NOT NULL REFERENCES shops (id),
	owner_id    TEXT NOT NULL REFERENCES owners (id),
	vehicle_id  TEXT NOT NULL REFERENCES vehicles (id),
	status      TEXT NOT NULL,
	codes       TEXT NOT NULL,
	evidence    TEXT NOT NULL,
	opened_ms   BIGINT NOT NULL,
	answered_ms BIGINT,
	answer      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX warranty_claims_shop ON warranty_claims (shop_id, opened_ms);
CREATE INDEX warranty_claims_owner ON warranty_claims (owner_id, opened_ms);

-- The drives verify-the-fix counted after a repair, by the car's time.
CREATE TABLE booking_drives (
	booking_id TEXT NOT NULL REFERENCES bookings (id),
	time_ms    BIGINT NOT NULL,
	PRIMARY KEY (booking_id, time_ms)
);

-- A maintenance booking's completion records a service of the car; the
-- car's record tells it from one the owner entered by its booking.
ALTER TABLE vehicle_services ADD COLUMN booking_id TEXT NOT NULL DEFAULT '';

-- The car's service record, shared with a lead's shops only when the
-- owner ticks it, erased with what else was shared.
ALTER TABLE leads ADD COLUMN share_history INTEGER NOT NULL DEFAULT 0;
ALTER TABLE leads ADD COLUMN history BYTEA;
