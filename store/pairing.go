package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AddPairingCode records a code (by its hash) that pairs a dongle with a
// vehicle until expires.
func (s *Store) AddPairingCode(ctx context.Context, codeHash, vehicleID string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO pairing_codes (code_hash, vehicle_id, created_ms, expires_ms) VALUES (?, ?, ?, ?)`,
		codeHash, vehicleID, ms(s.now()), ms(expires))
	if err != nil {
		return constraint(err, "pairing code")
	}
	return nil
}

// ClaimPairingCode spends a pairing code and says which vehicle it pairs
// with. Spending is one conditional update: of two dongles racing with the
// same code, one wins. An unknown code is ErrNotFound, an expired or
// spent one ErrExpired.
func (s *Store) ClaimPairingCode(ctx context.Context, codeHash string) (string, error) {
	now := ms(s.now())
	res, err := s.db.ExecContext(ctx, `UPDATE pairing_codes SET used_ms = ? WHERE code_hash = ? AND used_ms IS NULL AND expires_ms > ?`, now, codeHash, now)
	if err != nil {
		return "", fmt.Errorf("store: pairing code: %w", err)
	}
	var vehicle string
	err = s.db.QueryRowContext(ctx, `SELECT vehicle_id FROM pairing_codes WHERE code_hash = ?`, codeHash).Scan(&vehicle)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: no such pairing code", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: pairing code: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("%w: the pairing code expired or was used already", ErrExpired)
	}
	return vehicle, nil
}

// SetPairedDevice notes which device a spent code made.
func (s *Store) SetPairedDevice(ctx context.Context, codeHash, deviceID string) error {
	return execOne(ctx, s.db, "pairing code", fmt.Errorf("%w: no such pairing code", ErrNotFound),
		`UPDATE pairing_codes SET device_id = ? WHERE code_hash = ?`, deviceID, codeHash)
}
