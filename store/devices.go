package store

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// Device is a registered device and its credentials.
type Device struct {
	ID        string
	VehicleID string // empty until fitted to a vehicle
	// SecretHash is the secret in Mosquitto's PBKDF2-SHA512 format
	// ($7$iterations$salt$hash); the secret itself is never stored.
	SecretHash string
	Created    time.Time
	Revoked    time.Time // zero while the device may connect
	// CommandKey signs the commands that write to the car; the device has
	// it too. Nil for a device added before keys existed, until its
	// credentials are rotated.
	CommandKey []byte
}

// Active reports whether the device may connect.
func (d Device) Active() bool { return d.Revoked.IsZero() }

// hashIterations: device secrets are 192 random bits, so the PBKDF2 work
// factor guards nothing a guess could reach; 1,000 keeps a fleet's
// reconnect storm cheap for the broker.
const hashIterations = 1000

// HashSecret hashes a secret in Mosquitto's password-file format.
func HashSecret(secret string) string {
	salt := make([]byte, 12)
	_, _ = rand.Read(salt)
	return hashWith(secret, salt, hashIterations)
}

func hashWith(secret string, salt []byte, iterations int) string {
	key, _ := pbkdf2.Key(sha512.New, secret, salt, iterations, sha512.Size)
	return fmt.Sprintf("$7$%d$%s$%s", iterations, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key))
}

// CheckSecret reports whether secret matches a $7$ hash, in constant time.
func CheckSecret(hash, secret string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "7" {
		return false
	}
	it, err := strconv.Atoi(parts[2])
	if err != nil || it < 1 || it > 10_000_000 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[3])
	want, err2 := base64.StdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(want) != sha512.Size {
		return false
	}
	got, _ := pbkdf2.Key(sha512.New, secret, salt, it, sha512.Size)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// newSecret is 24 random bytes, URL-safe base64: 32 characters.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// AddDevice registers a device, optionally fitted to a vehicle, and
// returns its new secret (shown once, never stored) and, in the Device,
// its new command key. The id must be a valid wire device id: it becomes
// a topic level, a user name and a line of a Mosquitto password file.
func (s *Store) AddDevice(ctx context.Context, id, vehicleID string) (Device, string, error) {
	if err := wire.ValidDeviceID(id); err != nil {
		return Device{}, "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	secret := newSecret()
	d := Device{ID: id, VehicleID: vehicleID, SecretHash: HashSecret(secret), Created: s.now().UTC().Truncate(time.Millisecond), CommandKey: wire.NewCommandKey()}
	_, err := s.db.ExecContext(ctx, `INSERT INTO devices (id, vehicle_id, secret_hash, created_ms, command_key) VALUES (?, ?, ?, ?, ?)`,
		d.ID, nullable(vehicleID), d.SecretHash, ms(d.Created), d.CommandKey)
	if err != nil {
		return Device{}, "", constraint(err, "device "+id)
	}
	return d, secret, nil
}

// RotateSecret gives a device a new secret and a new command key (and
// re-activates a revoked one); it returns the secret.
func (s *Store) RotateSecret(ctx context.Context, id string) (string, error) {
	secret, _, err := s.RotateCredentials(ctx, id)
	return secret, err
}

// RotateCredentials gives a device a new secret and a new command key,
// both shown once, and lets a revoked device back in.
//
// It replaces the secret it read, compare-and-set: of two rotations at
// once one fails with ErrConflict, rather than both handing out a secret
// of which only the later works.
func (s *Store) RotateCredentials(ctx context.Context, id string) (secret string, commandKey []byte, err error) {
	d, err := s.Device(ctx, id)
	if err != nil {
		return "", nil, err
	}
	return s.replaceCredentials(ctx, id, d.SecretHash)
}

// replaceCredentials gives a device a new secret and command key if its
// secret's hash is still old.
func (s *Store) replaceCredentials(ctx context.Context, id, old string) (secret string, commandKey []byte, err error) {
	secret, commandKey = newSecret(), wire.NewCommandKey()
	if err := execOne(ctx, s.db, "device "+id, fmt.Errorf("%w: device %s's secret was rotated meanwhile", ErrConflict, id),
		`UPDATE devices SET secret_hash = ?, command_key = ?, revoked_ms = NULL WHERE id = ? AND secret_hash = ?`, HashSecret(secret), commandKey, id, old); err != nil {
		return "", nil, err
	}
	return secret, commandKey, nil
}

// RevokeDevice stops a device from connecting; its data stays. A running
// broker learns of it through RevokedSince (or at once, when the revoking
// server tells its own broker).
func (s *Store) RevokeDevice(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE devices SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL`, ms(s.now()), id)
	if err != nil {
		return fmt.Errorf("store: device %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Device(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// RevokedSince lists the devices revoked at t or later, by whatever
// process revoked them.
func (s *Store) RevokedSince(ctx context.Context, t time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM devices WHERE revoked_ms >= ? ORDER BY id`, ms(t))
	return collect(rows, err, "revoked devices", func(r interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
}

// DeviceActive reports whether a device is registered and not revoked.
func (s *Store) DeviceActive(ctx context.Context, id string) (bool, error) {
	d, err := s.Device(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && d.Active(), err
}

// Device reads one device.
func (s *Store) Device(ctx context.Context, id string) (Device, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, vehicle_id, secret_hash, created_ms, revoked_ms, command_key FROM devices WHERE id = ?`, id)
	d, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("%w: device %s", ErrNotFound, id)
	}
	return d, err
}

// Devices lists every device, by id.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, vehicle_id, secret_hash, created_ms, revoked_ms, command_key FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scanDevice(r interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var vehicle sql.NullString
	var created int64
	var revoked sql.NullInt64
	if err := r.Scan(&d.ID, &vehicle, &d.SecretHash, &created, &revoked, &d.CommandKey); err != nil {
		return Device{}, err
	}
	d.VehicleID, d.Created, d.Revoked = vehicle.String, fromMS(created), fromMS(revoked.Int64)
	return d, nil
}

// Authenticate checks a device's secret: ErrDenied for a wrong secret, an
// unknown device or a revoked one (the three are not told apart).
func (s *Store) Authenticate(ctx context.Context, id, secret string) error {
	d, err := s.Device(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && (!d.Active() || !CheckSecret(d.SecretHash, secret)) {
		return fmt.Errorf("%w: device %s", ErrDenied, id)
	}
	return err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// DevicesOfVehicle lists the devices fitted to a vehicle, newest first.
func (s *Store) DevicesOfVehicle(ctx context.Context, vehicleID string) ([]Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM devices WHERE vehicle_id = ? ORDER BY created_ms DESC, id`, vehicleID)
	if err != nil {
		return nil, fmt.Errorf("store: devices of %s: %w", vehicleID, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ids))
	for _, id := range ids {
		d, err := s.Device(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
