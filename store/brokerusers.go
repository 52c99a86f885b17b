package store

import (
	"context"
	"fmt"
)

// AddBrokerUser records a server or tool that reads every device through
// the embedded broker, and returns its new secret: shown once, kept only
// as a hash. A name that is a device's id is refused.
func (s *Store) AddBrokerUser(ctx context.Context, name string) (string, error) {
	if name == "" || len(name) > 64 {
		return "", fmt.Errorf("%w: a broker user needs a name of at most 64 characters", ErrInvalid)
	}
	if _, err := s.Device(ctx, name); err == nil {
		return "", fmt.Errorf("%w: %s is a device's id", ErrExists, name)
	}
	secret := newSecret()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO broker_users (name, secret_hash, created_ms) VALUES (?, ?, ?)`, name, HashSecret(secret), ms(s.now())); err != nil {
		return "", constraint(err, "broker user "+name)
	}
	return secret, nil
}

// BrokerUsers maps the broker users' names to their secrets' hashes.
func (s *Store) BrokerUsers(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, secret_hash FROM broker_users`)
	if err != nil {
		return nil, fmt.Errorf("store: broker users: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, h string
		if err := rows.Scan(&n, &h); err != nil {
			return nil, err
		}
		out[n] = h
	}
	return out, rows.Err()
}

// RemoveBrokerUser deletes a broker user.
func (s *Store) RemoveBrokerUser(ctx context.Context, name string) error {
	return execOne(ctx, s.db, "broker user "+name, fmt.Errorf("%w: broker user %s", ErrNotFound, name), `DELETE FROM broker_users WHERE name = ?`, name)
}
