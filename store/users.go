package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// User is someone who signs in.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	Role         string // owner, shop or admin
	OwnerID      string // for owners
	ShopID       string // for shops' staff
	Name         string
	TimeZone     string    // IANA; pages show times in it
	Confirmed    time.Time // when the address was confirmed; zero until then
	Created      time.Time
}

// AddUser records a user an operator made; the caller hashes the
// password. The address counts as confirmed unless Confirmed says when.
func (s *Store) AddUser(ctx context.Context, u User) (User, error) {
	if u.Confirmed.IsZero() {
		u.Confirmed = s.now().UTC().Truncate(time.Millisecond)
	}
	return addUser(ctx, s.db, u, s.now())
}

func addUser(ctx context.Context, db execer, u User, now time.Time) (User, error) {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	switch {
	case !strings.Contains(u.Email, "@"):
		return User{}, fmt.Errorf("%w: email %q", ErrInvalid, u.Email)
	case u.Role == "owner" && u.OwnerID == "", u.Role == "shop" && u.ShopID == "":
		return User{}, fmt.Errorf("%w: a %s user needs its %s", ErrInvalid, u.Role, u.Role)
	case u.Role != "owner" && u.Role != "shop" && u.Role != "admin":
		return User{}, fmt.Errorf("%w: role %q", ErrInvalid, u.Role)
	}
	if u.TimeZone == "" {
		u.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(u.TimeZone); err != nil {
		return User{}, fmt.Errorf("%w: timezone %q is no IANA time zone", ErrInvalid, u.TimeZone)
	}
	u.ID, u.Created = newID(), now.UTC().Truncate(time.Millisecond)
	_, err := db.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, role, owner_id, shop_id, name, timezone, confirmed_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.Role, nullable(u.OwnerID), nullable(u.ShopID), u.Name, u.TimeZone, nullMS(u.Confirmed), ms(u.Created))
	if err != nil {
		return User{}, constraint(err, "user "+u.Email)
	}
	return u, nil
}

const userCols = `id, email, password_hash, role, owner_id, shop_id, name, timezone, confirmed_ms, created_ms`

// scanUserRow scans a user alone, as readOne and collect take it.
func scanUserRow(r interface{ Scan(...any) error }) (User, error) { return scanUser(r) }

func scanUser(r interface{ Scan(...any) error }, more ...any) (User, error) {
	var u User
	var owner, shop sql.NullString
	var confirmed sql.NullInt64
	var created int64
	err := r.Scan(append([]any{&u.ID, &u.Email, &u.PasswordHash, &u.Role, &owner, &shop, &u.Name, &u.TimeZone, &confirmed, &created}, more...)...)
	u.OwnerID, u.ShopID, u.Confirmed, u.Created = owner.String, shop.String, fromMS(confirmed.Int64), fromMS(created)
	return u, err
}

// UserByEmail finds a user by address.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))), scanUserRow, "user "+email)
}

// Session is a signed-in browser.
type Session struct {
	User    User
	CSRF    string
	Expires time.Time
}

// AddSession records a session by the hash of its cookie's secret.
func (s *Store) AddSession(ctx context.Context, tokenHash, userID, csrf string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, csrf, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)`,
		tokenHash, userID, csrf, ms(s.now()), ms(expires))
	if err != nil {
		return constraint(err, "session")
	}
	return nil
}

// SessionByHash reads a live session; an expired one is ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, tokenHash string) (Session, error) {
	var se Session
	var expires int64
	row := s.db.QueryRowContext(ctx, `SELECT `+prefixed("u.", userCols)+`, s.csrf, s.expires_ms FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_ms > ?`, tokenHash, ms(s.now()))
	u, err := scanUser(row, &se.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("%w: session", ErrNotFound)
	}
	se.User, se.Expires = u, fromMS(expires)
	return se, err
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ? OR expires_ms <= ?`, tokenHash, ms(s.now()))
	return err
}

// AddToken records an API token by its hash.
func (s *Store) AddToken(ctx context.Context, tokenHash, userID, name string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (token_hash, user_id, name, created_ms) VALUES (?, ?, ?, ?)`, tokenHash, userID, name, ms(s.now()))
	if err != nil {
		return constraint(err, "token")
	}
	return nil
}

// TokenUser is the user an API token belongs to.
func (s *Store) TokenUser(ctx context.Context, tokenHash string) (User, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+prefixed("u.", userCols)+` FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`, tokenHash), scanUserRow, "token")
}

// FiringAlertsOfOwner lists the firing alerts of an owner's vehicles'
// devices, newest first.
func (s *Store) FiringAlertsOfOwner(ctx context.Context, ownerID string, limit int) ([]Alert, error) {
	return s.queryAlerts(ctx, `SELECT `+prefixed("a.", alertCols)+` FROM alerts a JOIN devices d ON d.id = a.device JOIN vehicles v ON v.id = d.vehicle_id
		WHERE v.owner_id = ? AND a.state = 'firing' ORDER BY a.starts_ms DESC LIMIT ?`, ownerID, limit)
}

// Token is an API token's record; the secret itself is never kept.
type Token struct {
	ID      string // the first 12 characters of the hash: enough to name it
	Name    string
	Created time.Time
}

// Tokens lists a user's API tokens, newest first.
func (s *Store) Tokens(ctx context.Context, userID string) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token_hash, name, created_ms FROM api_tokens WHERE user_id = ? ORDER BY created_ms DESC`, userID)
	return collect(rows, err, "tokens", func(r interface{ Scan(...any) error }) (Token, error) {
		var t Token
		var hash string
		var created int64
		err := r.Scan(&hash, &t.Name, &created)
		t.ID, t.Created = hash[:12], fromMS(created)
		return t, err
	})
}

// RevokeToken deletes one of a user's tokens by its id; it returns the
// token's full hash so callers can forget it at once.
func (s *Store) RevokeToken(ctx context.Context, userID, id string) (string, error) {
	if len(id) != 12 {
		return "", fmt.Errorf("%w: token %s", ErrNotFound, id)
	}
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT token_hash FROM api_tokens WHERE user_id = ? AND substr(token_hash, 1, 12) = ?`, userID, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: token %s", ErrNotFound, id)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE token_hash = ?`, hash); err != nil {
		return "", fmt.Errorf("store: token: %w", err)
	}
	return hash, nil
}

// TokenHashes lists the hashes of a user's API tokens, so that callers
// that cache tokens can forget them.
func (s *Store) TokenHashes(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token_hash FROM api_tokens WHERE user_id = ?`, userID)
	return collect(rows, err, "tokens", func(r interface{ Scan(...any) error }) (string, error) {
		var h string
		return h, r.Scan(&h)
	})
}
