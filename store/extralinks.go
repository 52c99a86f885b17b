package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ExtraLink is an emailed link's right to answer one extra line of a
// booking for its owner.
type ExtraLink struct {
	BookingID string
	N         int // the line
	OwnerID   string
	Expires   time.Time
}

// AddExtraLink keeps a link by its token's hash.
func (s *Store) AddExtraLink(ctx context.Context, tokenHash string, l ExtraLink) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO extra_links (token_hash, booking_id, line_n, owner_id, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)`,
		tokenHash, l.BookingID, l.N, l.OwnerID, ms(s.stamp()), ms(l.Expires))
	if err != nil {
		return constraint(err, "extra link of booking "+l.BookingID)
	}
	return nil
}

// ExtraLinkOf reads a link not yet used nor expired; ErrNotFound
// otherwise, whichever it is.
func (s *Store) ExtraLinkOf(ctx context.Context, tokenHash string) (ExtraLink, error) {
	var l ExtraLink
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT booking_id, line_n, owner_id, expires_ms FROM extra_links WHERE token_hash = ? AND used_ms IS NULL AND expires_ms > ?`,
		tokenHash, ms(s.stamp())).Scan(&l.BookingID, &l.N, &l.OwnerID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ExtraLink{}, fmt.Errorf("%w: the link was used, has expired or never was", ErrNotFound)
	}
	if err != nil {
		return ExtraLink{}, fmt.Errorf("store: extra link: %w", err)
	}
	l.Expires = fromMS(expires)
	return l, nil
}

// UseExtraLink marks a link used, once: of two uses at the same moment
// one gets ErrNotFound.
func (s *Store) UseExtraLink(ctx context.Context, tokenHash string) (ExtraLink, error) {
	l, err := s.ExtraLinkOf(ctx, tokenHash)
	if err != nil {
		return ExtraLink{}, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE extra_links SET used_ms = ? WHERE token_hash = ? AND used_ms IS NULL`, ms(s.stamp()), tokenHash)
	if err != nil {
		return ExtraLink{}, fmt.Errorf("store: extra link: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ExtraLink{}, fmt.Errorf("%w: the link was used, has expired or never was", ErrNotFound)
	}
	return l, nil
}
