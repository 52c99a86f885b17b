package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// OwnerData is everything the store holds about an owner, table by table:
// each row a map of column to value, times (the *_ms columns) as RFC 3339
// text. Secrets are left out: password, device secret and token hashes.
type OwnerData map[string][]map[string]any

// secretCols are never exported.
var secretCols = []string{"password_hash", "secret_hash", "command_key", "token_hash", "code_hash", "csrf"}

// ownerScopes says, for each table, which of its rows are an owner's: a
// condition with one placeholder for the owner id.
var ownerScopes = []struct{ table, where string }{
	{"owners", `id = ?`},
	{"users", `owner_id = ?`},
	{"api_tokens", `user_id IN (SELECT id FROM users WHERE owner_id = ?)`},
	{"vehicles", `owner_id = ?`},
	{"vehicle_services", `vehicle_id IN (SELECT id FROM vehicles WHERE owner_id = ?)`},
	{"maintenance_overrides", `vehicle_id IN (SELECT id FROM vehicles WHERE owner_id = ?)`},
	{"pairing_codes", `vehicle_id IN (SELECT id FROM vehicles WHERE owner_id = ?)`},
	{"devices", `vehicle_id IN (SELECT id FROM vehicles WHERE owner_id = ?)`},
	{"device_status", `device IN (SELECT d.id FROM devices d JOIN vehicles v ON v.id = d.vehicle_id WHERE v.owner_id = ?)`},
	{"alerts", `device IN (SELECT d.id FROM devices d JOIN vehicles v ON v.id = d.vehicle_id WHERE v.owner_id = ?)`},
	{"notifications", `fingerprint IN (SELECT a.fingerprint FROM alerts a JOIN devices d ON d.id = a.device JOIN vehicles v ON v.id = d.vehicle_id WHERE v.owner_id = ?)`},
	{"silences", `device IN (SELECT d.id FROM devices d JOIN vehicles v ON v.id = d.vehicle_id WHERE v.owner_id = ?)`},
	{"feed", `owner_id = ?`},
	{"leads", `owner_id = ?`},
	{"lead_offers", `lead_id IN (SELECT id FROM leads WHERE owner_id = ?)`},
	{"bookings", `owner_id = ?`},
	{"booking_events", `booking_id IN (SELECT id FROM bookings WHERE owner_id = ?)`},
	{"reviews", `owner_id = ?`},
}

// ExportOwner reads everything the store holds about an owner. Device
// messages (trouble-code reports, events) are left to the caller, which
// can decode them; see Messages.
func (s *Store) ExportOwner(ctx context.Context, ownerID string) (OwnerData, error) {
	if _, err := s.Owner(ctx, ownerID); err != nil {
		return nil, err
	}
	out := OwnerData{}
	for _, sc := range ownerScopes {
		rows, err := s.db.QueryContext(ctx, `SELECT * FROM `+sc.table+` WHERE `+sc.where, ownerID)
		if err != nil {
			return nil, fmt.Errorf("store: export %s: %w", sc.table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: export %s: %w", sc.table, err)
		}
		list := []map[string]any{}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: export %s: %w", sc.table, err)
			}
			row := map[string]any{}
			for i, c := range cols {
				if slices.Contains(secretCols, c) {
					continue
				}
				row[c] = exportValue(c, vals[i])
			}
			list = append(list, row)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: export %s: %w", sc.table, err)
		}
		out[sc.table] = list
	}
	return out, nil
}

// exportValue makes a column's value readable: times as RFC 3339, JSON
// documents as JSON, other bytes as text when they are.
func exportValue(col string, v any) any {
	switch x := v.(type) {
	case int64:
		if strings.HasSuffix(col, "_ms") {
			if x == 0 {
				return nil
			}
			return time.UnixMilli(x).UTC().Format(time.RFC3339Nano)
		}
	case []byte:
		if json.Valid(x) {
			return json.RawMessage(x)
		}
		return x
	case string:
		if (col == "labels" || col == "vals" || col == "matchers" || col == "profile") && json.Valid([]byte(x)) {
			return json.RawMessage(x)
		}
	}
	return v
}

// Tombstone is the owner that erased owners' kept records point to: a
// shop's booking of a deleted account still reads, without whose it was.
const Tombstone = "deleted"

// EraseOwner deletes an account's owner and all that is theirs, in one
// transaction. What a shop keeps (bookings, their events and reviews)
// stays, pointed at the Tombstone owner and stripped of the owner's
// identity: no name, contact, VIN or plate; leads that became bookings
// keep only the job. It returns the devices erased, so the caller can
// erase their series and cut their sessions.
func (s *Store) EraseOwner(ctx context.Context, ownerID string) ([]string, error) {
	if ownerID == Tombstone {
		return nil, fmt.Errorf("%w: owner %s", ErrNotFound, ownerID)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: erase: %w", err)
	}
	defer tx.Rollback()
	devices, err := s.eraseStart(ctx, tx, `SELECT d.id FROM devices d JOIN vehicles v ON v.id = d.vehicle_id WHERE v.owner_id = ?`, ownerID)
	if err != nil {
		return nil, err
	}
	const vehiclesOf = `SELECT id FROM vehicles WHERE owner_id = ?`
	const devicesOf = `SELECT d.id FROM devices d JOIN vehicles v ON v.id = d.vehicle_id WHERE v.owner_id = ?`
	steps := []string{
		`DELETE FROM notifications WHERE fingerprint IN (SELECT fingerprint FROM alerts WHERE device IN (` + devicesOf + `))`,
		`DELETE FROM alerts WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM silences WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM device_status WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM device_births WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM device_messages WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM devices WHERE vehicle_id IN (` + vehiclesOf + `)`,
		`DELETE FROM pairing_codes WHERE vehicle_id IN (` + vehiclesOf + `)`,
		`DELETE FROM vehicle_services WHERE vehicle_id IN (` + vehiclesOf + `)`,
		`DELETE FROM maintenance_overrides WHERE vehicle_id IN (` + vehiclesOf + `)`,
		`DELETE FROM feed WHERE owner_id = ?`,
		`DELETE FROM extra_links WHERE owner_id = ?`,
		// Leads no booking came of go with their offers; the others keep
		// the job and lose what identified the car and where it was.
		`DELETE FROM offer_lines WHERE lead_id IN (SELECT id FROM leads WHERE owner_id = ? AND id NOT IN (SELECT lead_id FROM bookings))`,
		`DELETE FROM lead_offers WHERE lead_id IN (SELECT id FROM leads WHERE owner_id = ? AND id NOT IN (SELECT lead_id FROM bookings))`,
		`DELETE FROM leads WHERE owner_id = ? AND id NOT IN (SELECT lead_id FROM bookings)`,
		`UPDATE leads SET owner_id = '` + Tombstone + `', vin = '', approx_lat = NULL, approx_lon = NULL, report = NULL, history = NULL, share_vin = 0, share_location = 0, share_report = 0, share_history = 0 WHERE owner_id = ?`,
		`UPDATE bookings SET owner_id = '` + Tombstone + `', contact_name = '', contact_email = '', contact_phone = '', plate = '' WHERE owner_id = ?`,
		`UPDATE reviews SET owner_id = '` + Tombstone + `' WHERE owner_id = ?`,
		`UPDATE followups SET owner_id = '` + Tombstone + `' WHERE owner_id = ?`,
		`UPDATE complaints SET owner_id = '` + Tombstone + `' WHERE owner_id = ?`,
		`UPDATE warranty_claims SET owner_id = '` + Tombstone + `' WHERE owner_id = ?`,
		// A car a shop's booking names stays as make, model and year.
		`UPDATE vehicles SET owner_id = '` + Tombstone + `', vin = NULL, name = '', plate = '', home_lat = NULL, home_lon = NULL, odometer_km = 0, odometer_ms = 0
			WHERE owner_id = ? AND id IN (SELECT vehicle_id FROM bookings UNION SELECT vehicle_id FROM leads)`,
		`DELETE FROM vehicles WHERE owner_id = ?`,
		`DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE owner_id = ?)`,
		`DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM users WHERE owner_id = ?)`,
		`DELETE FROM account_links WHERE user_id IN (SELECT id FROM users WHERE owner_id = ?)`,
		`DELETE FROM users WHERE owner_id = ?`,
		`DELETE FROM owners WHERE id = ?`,
	}
	for i, q := range steps {
		if _, err := tx.ExecContext(ctx, q, ownerID); err != nil {
			return nil, fmt.Errorf("store: erase owner, step %d: %w", i+1, err)
		}
	}
	return devices, tx.Commit()
}

// EraseVehicle removes one of an owner's cars and what is the car's: its
// devices and their messages, alerts, services and intervals. Like
// EraseOwner, a car a shop's booking or lead names stays as make, model
// and year, without VIN, plate, name or home. It returns the devices
// erased.
func (s *Store) EraseVehicle(ctx context.Context, vehicleID string) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: erase: %w", err)
	}
	defer tx.Rollback()
	devices, err := s.eraseStart(ctx, tx, `SELECT id FROM devices WHERE vehicle_id = ?`, vehicleID)
	if err != nil {
		return nil, err
	}
	const devicesOf = `SELECT id FROM devices WHERE vehicle_id = ?`
	steps := []string{
		`DELETE FROM notifications WHERE fingerprint IN (SELECT fingerprint FROM alerts WHERE device IN (` + devicesOf + `))`,
		`DELETE FROM feed WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM alerts WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM silences WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM device_status WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM device_births WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM device_messages WHERE device IN (` + devicesOf + `)`,
		`DELETE FROM devices WHERE vehicle_id = ?`,
		`DELETE FROM extra_links WHERE booking_id IN (SELECT id FROM bookings WHERE vehicle_id = ?)`,
		`DELETE FROM pairing_codes WHERE vehicle_id = ?`,
		`DELETE FROM vehicle_services WHERE vehicle_id = ?`,
		`DELETE FROM maintenance_overrides WHERE vehicle_id = ?`,
		`DELETE FROM offer_lines WHERE lead_id IN (SELECT id FROM leads WHERE vehicle_id = ? AND id NOT IN (SELECT lead_id FROM bookings))`,
		`DELETE FROM lead_offers WHERE lead_id IN (SELECT id FROM leads WHERE vehicle_id = ? AND id NOT IN (SELECT lead_id FROM bookings))`,
		`DELETE FROM leads WHERE vehicle_id = ? AND id NOT IN (SELECT lead_id FROM bookings)`,
		`UPDATE leads SET vin = '', approx_lat = NULL, approx_lon = NULL, report = NULL, history = NULL, share_vin = 0, share_location = 0, share_report = 0, share_history = 0 WHERE vehicle_id = ?`,
		`UPDATE bookings SET plate = '' WHERE vehicle_id = ?`,
		`UPDATE vehicles SET owner_id = '` + Tombstone + `', vin = NULL, name = '', plate = '', home_lat = NULL, home_lon = NULL, odometer_km = 0, odometer_ms = 0
			WHERE id = ? AND id IN (SELECT vehicle_id FROM bookings UNION SELECT vehicle_id FROM leads)`,
		`DELETE FROM vehicles WHERE id = ? AND owner_id <> '` + Tombstone + `'`,
	}
	for i, q := range steps {
		if _, err := tx.ExecContext(ctx, q, vehicleID); err != nil {
			return nil, fmt.Errorf("store: erase vehicle, step %d: %w", i+1, err)
		}
	}
	return devices, tx.Commit()
}

// eraseStart lists the devices an erasure takes (query has one
// placeholder for arg) and makes sure the Tombstone owner exists for the
// records that stay.
func (s *Store) eraseStart(ctx context.Context, tx *Tx, query string, arg string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, arg)
	devices, err := collect(rows, err, "erase", func(r interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO owners (id, email, name, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		Tombstone, "deleted@invalid", "a deleted account", ms(s.now())); err != nil {
		return nil, fmt.Errorf("store: erase: %w", err)
	}
	return devices, nil
}
