-- What several servers sharing one database need: a booking's history in
-- an order of its own (no engine's row ids), and a notification log that
-- arbitrates who tells an alert.

-- A booking's changes by number, 1 for its creation. Existing rows are
-- numbered in the order SQLite kept them (a PostgreSQL database starts
-- empty, or is copied from a SQLite one already numbered).
ALTER TABLE booking_events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
--@ sqlite
UPDATE booking_events SET seq = (SELECT COUNT(*) FROM booking_events e2
	WHERE e2.booking_id = booking_events.booking_id AND (e2.time_ms < booking_events.time_ms
		OR e2.time_ms = booking_events.time_ms AND e2.rowid <= booking_events.rowid));
--@ all
CREATE UNIQUE INDEX booking_events_seq ON booking_events (booking_id, seq);

-- One row per telling: the nth time a notifier tells an alert's start in
-- a state (1 the first, 2 the first repeat, ...). A server claims the row
-- before it sends and records the send after; the key means a second
-- server cannot claim the same telling, so the owner is told once. A
-- claim that was never recorded (the server died mid-send) may be taken
-- over once it has lapsed.
CREATE TABLE notification_log (
	notifier    TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	starts_ms   BIGINT NOT NULL,
	state       TEXT NOT NULL,
	nth         INTEGER NOT NULL,
	claimed_by  TEXT NOT NULL,
	claimed_ms  BIGINT NOT NULL,
	sent_ms     BIGINT,          -- NULL while claimed and not yet sent
	id          TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (notifier, fingerprint, starts_ms, state, nth)
);
INSERT INTO notification_log (notifier, fingerprint, starts_ms, state, nth, claimed_by, claimed_ms, sent_ms, id)
	SELECT n.notifier, n.fingerprint, n.starts_ms, n.state,
		(SELECT COUNT(*) FROM notifications n2 WHERE n2.notifier = n.notifier AND n2.fingerprint = n.fingerprint
			AND n2.starts_ms = n.starts_ms AND n2.state = n.state AND n2.sent_ms <= n.sent_ms),
		'', n.sent_ms, n.sent_ms, n.id
	FROM notifications n;
DROP TABLE notifications;
ALTER TABLE notification_log RENAME TO notifications;
