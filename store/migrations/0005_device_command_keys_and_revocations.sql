-- Commands that write to a car (clearing its trouble codes) are signed
-- with a key only the server and that one device know (HMAC-SHA256;
-- docs/mqtt.md). Devices added before this have none until their
-- credentials are rotated. Revocations are looked up by time, so that a
-- running server cuts the session of a device revoked elsewhere.
ALTER TABLE devices ADD COLUMN command_key BYTEA;
CREATE INDEX devices_revoked ON devices (revoked_ms);
