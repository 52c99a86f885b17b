-- People who sign in: owners, shops' staff and administrators; their
-- sessions and API tokens. Only hashes are kept: bcrypt for passwords,
-- SHA-256 for session and token secrets.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	role          TEXT NOT NULL,
	owner_id      TEXT REFERENCES owners (id),
	shop_id       TEXT REFERENCES shops (id),
	created_ms    BIGINT NOT NULL
);

CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	csrf       TEXT NOT NULL,
	created_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id),
	name       TEXT NOT NULL,
	created_ms BIGINT NOT NULL
);
