package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Link purposes: what an emailed one-use link does.
const (
	LinkConfirm = "confirm" // confirms the address it was sent to
	LinkReset   = "reset"   // lets its holder set a new password
)

// Link is a one-use link sent by email; only the hash of its secret is
// kept.
type Link struct {
	TokenHash string
	UserID    string
	Purpose   string
	Email     string // the address it was sent to
	Expires   time.Time
}

// SignUp opens an account in one transaction: the user, and for an owner
// the owner record, for a shop the shop (a draft until its profile is
// complete). The caller hashes the password.
func (s *Store) SignUp(ctx context.Context, u User, sh *Shop) (User, error) {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	if sh != nil && u.Role != "shop" || sh == nil && u.Role != "owner" {
		return User{}, fmt.Errorf("%w: sign-up is for owners and shops", ErrInvalid)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("store: sign-up: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	switch u.Role {
	case "owner":
		o, err := addOwner(ctx, tx, Owner{Email: u.Email, Name: u.Name}, now)
		if err != nil {
			return User{}, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE owners SET timezone = ? WHERE id = ?`, u.TimeZone, o.ID); err != nil {
			return User{}, fmt.Errorf("store: sign-up: %w", err)
		}
		u.OwnerID = o.ID
	case "shop":
		sh.Status = ShopDraft
		stored, err := addShop(ctx, tx, *sh, now)
		if err != nil {
			return User{}, err
		}
		*sh = stored
		u.ShopID = sh.ID
	}
	if u, err = addUser(ctx, tx, u, now); err != nil {
		return User{}, err
	}
	return u, tx.Commit()
}

// User reads one user.
func (s *Store) User(ctx context.Context, id string) (User, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id), scanUserRow, "user "+id)
}

// Users lists the users of a shop (all users for "").
func (s *Store) Users(ctx context.Context, shopID string) ([]User, error) {
	q, args := `SELECT `+userCols+` FROM users ORDER BY created_ms`, []any(nil)
	if shopID != "" {
		q, args = `SELECT `+userCols+` FROM users WHERE shop_id = ? ORDER BY created_ms`, []any{shopID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	return collect(rows, err, "users", scanUserRow)
}

// UpdateProfile sets a user's name and time zone; an owner's record
// follows (its time zone rules its quiet hours).
func (s *Store) UpdateProfile(ctx context.Context, userID, name, timezone string) error {
	if _, err := time.LoadLocation(timezone); err != nil || timezone == "" {
		return fmt.Errorf("%w: timezone %q is no IANA time zone", ErrInvalid, timezone)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: profile: %w", err)
	}
	defer tx.Rollback()
	if err := execOne(ctx, tx, "user "+userID, fmt.Errorf("%w: user %s", ErrNotFound, userID),
		`UPDATE users SET name = ?, timezone = ? WHERE id = ?`, name, timezone, userID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE owners SET name = ?, timezone = ? WHERE id = (SELECT owner_id FROM users WHERE id = ?)`, name, timezone, userID); err != nil {
		return fmt.Errorf("store: profile: %w", err)
	}
	return tx.Commit()
}

// SetOwnerPhone sets the number an owner may give shops.
func (s *Store) SetOwnerPhone(ctx context.Context, ownerID, phone string) error {
	return execOne(ctx, s.db, "owner "+ownerID, fmt.Errorf("%w: owner %s", ErrNotFound, ownerID),
		`UPDATE owners SET phone = ? WHERE id = ?`, phone, ownerID)
}

// SetPassword replaces a user's password hash and ends the user's other
// sessions (keep is the hash of the session that asked, "" for none) and
// any unused reset links.
func (s *Store) SetPassword(ctx context.Context, userID, hash, keep string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: password: %w", err)
	}
	defer tx.Rollback()
	if err := execOne(ctx, tx, "user "+userID, fmt.Errorf("%w: user %s", ErrNotFound, userID),
		`UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?`, userID, keep); err != nil {
		return fmt.Errorf("store: password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE account_links SET used_ms = ? WHERE user_id = ? AND purpose = ? AND used_ms IS NULL`, ms(s.now()), userID, LinkReset); err != nil {
		return fmt.Errorf("store: password: %w", err)
	}
	return tx.Commit()
}

// SessionsOf lists the hashes of a user's live sessions, so that callers
// that cache sessions can forget them.
func (s *Store) SessionsOf(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token_hash FROM sessions WHERE user_id = ?`, userID)
	return collect(rows, err, "sessions", func(r interface{ Scan(...any) error }) (string, error) {
		var h string
		return h, r.Scan(&h)
	})
}

// AddLink records an emailed link.
func (s *Store) AddLink(ctx context.Context, l Link) error {
	if l.Purpose != LinkConfirm && l.Purpose != LinkReset {
		return fmt.Errorf("%w: link purpose %q", ErrInvalid, l.Purpose)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO account_links (token_hash, user_id, purpose, email, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		l.TokenHash, l.UserID, l.Purpose, l.Email, ms(s.now()), ms(l.Expires))
	if err != nil {
		return constraint(err, "link")
	}
	return nil
}

// RecentLinks counts the links of a purpose sent to a user since t, for
// limiting how often they are sent.
func (s *Store) RecentLinks(ctx context.Context, userID, purpose string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM account_links WHERE user_id = ? AND purpose = ? AND created_ms >= ?`, userID, purpose, ms(since)).Scan(&n)
	return n, err
}

// LinkUser is the user a live link (unexpired, unused) belongs to,
// without spending it.
func (s *Store) LinkUser(ctx context.Context, tokenHash, purpose string) (User, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+prefixed("u.", userCols)+` FROM account_links l JOIN users u ON u.id = l.user_id
		WHERE l.token_hash = ? AND l.purpose = ? AND l.used_ms IS NULL AND l.expires_ms > ?`, tokenHash, purpose, ms(s.now())), scanUserRow, "no live link")
}

// UseLink spends a link: it must exist for the purpose, be unexpired and
// unused. Spending is one conditional update, so two requests racing with
// the same link cannot both succeed. Any link marks the address it was
// sent to confirmed, if it is still the user's.
func (s *Store) UseLink(ctx context.Context, tokenHash, purpose string) (User, error) {
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("store: link: %w", err)
	}
	defer tx.Rollback()
	var l Link
	var expires int64
	var used sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT user_id, email, expires_ms, used_ms FROM account_links WHERE token_hash = ? AND purpose = ?`, tokenHash, purpose).
		Scan(&l.UserID, &l.Email, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("%w: no such link", ErrNotFound)
	case err != nil:
		return User{}, fmt.Errorf("store: link: %w", err)
	case used.Valid:
		return User{}, fmt.Errorf("%w: the link was used already", ErrExpired)
	case expires <= ms(now):
		return User{}, fmt.Errorf("%w: the link expired at %s", ErrExpired, fromMS(expires).Format(time.RFC3339))
	}
	if err := execOne(ctx, tx, "link", fmt.Errorf("%w: the link was used already", ErrExpired),
		`UPDATE account_links SET used_ms = ? WHERE token_hash = ? AND used_ms IS NULL`, ms(now), tokenHash); err != nil {
		return User{}, err
	}
	// Either link reached the address it was sent to: it is confirmed, if
	// it is still the user's.
	if _, err := tx.ExecContext(ctx, `UPDATE users SET confirmed_ms = ? WHERE id = ? AND email = ? AND confirmed_ms IS NULL`, ms(now), l.UserID, l.Email); err != nil {
		return User{}, fmt.Errorf("store: link: %w", err)
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, l.UserID))
	if err != nil {
		return User{}, fmt.Errorf("store: link: %w", err)
	}
	return u, tx.Commit()
}
