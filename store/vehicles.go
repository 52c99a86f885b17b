package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Owner is a person with cars.
type Owner struct {
	ID      string
	Email   string
	Name    string
	Created time.Time
}

// Vehicle is a car.
type Vehicle struct {
	ID      string
	OwnerID string
	VIN     string
	Make    string
	Model   string
	Year    int
	Name    string // the owner's name for it
	Created time.Time
}

// AddOwner records an owner; the id is made here.
func (s *Store) AddOwner(ctx context.Context, o Owner) (Owner, error) {
	o.Email = strings.ToLower(strings.TrimSpace(o.Email))
	if !strings.Contains(o.Email, "@") {
		return Owner{}, fmt.Errorf("%w: email %q", ErrInvalid, o.Email)
	}
	o.ID, o.Created = newID(), s.now().UTC().Truncate(time.Millisecond)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO owners (id, email, name, created_ms) VALUES (?, ?, ?, ?)`, o.ID, o.Email, o.Name, ms(o.Created)); err != nil {
		return Owner{}, constraint(err, "owner "+o.Email)
	}
	return o, nil
}

// Owner reads one owner.
func (s *Store) Owner(ctx context.Context, id string) (Owner, error) {
	var o Owner
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, email, name, created_ms FROM owners WHERE id = ?`, id).Scan(&o.ID, &o.Email, &o.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Owner{}, fmt.Errorf("%w: owner %s", ErrNotFound, id)
	}
	o.Created = fromMS(created)
	return o, err
}

// AddVehicle records a vehicle; the id is made here.
func (s *Store) AddVehicle(ctx context.Context, v Vehicle) (Vehicle, error) {
	v.VIN = strings.ToUpper(strings.TrimSpace(v.VIN))
	v.ID, v.Created = newID(), s.now().UTC().Truncate(time.Millisecond)
	_, err := s.db.ExecContext(ctx, `INSERT INTO vehicles (id, owner_id, vin, make, model, year, name, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, nullable(v.OwnerID), nullable(v.VIN), v.Make, v.Model, v.Year, v.Name, ms(v.Created))
	if err != nil {
		return Vehicle{}, constraint(err, "vehicle "+v.VIN)
	}
	return v, nil
}

const vehicleCols = `id, owner_id, vin, make, model, year, name, created_ms`

func scanVehicle(r interface{ Scan(...any) error }) (Vehicle, error) {
	var v Vehicle
	var owner, vin sql.NullString
	var created int64
	err := r.Scan(&v.ID, &owner, &vin, &v.Make, &v.Model, &v.Year, &v.Name, &created)
	v.OwnerID, v.VIN, v.Created = owner.String, vin.String, fromMS(created)
	return v, err
}

// Vehicle reads one vehicle.
func (s *Store) Vehicle(ctx context.Context, id string) (Vehicle, error) {
	v, err := scanVehicle(s.db.QueryRowContext(ctx, `SELECT `+vehicleCols+` FROM vehicles WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Vehicle{}, fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
	}
	return v, err
}

// VehicleOfDevice is the vehicle a device is fitted to.
func (s *Store) VehicleOfDevice(ctx context.Context, device string) (Vehicle, error) {
	v, err := scanVehicle(s.db.QueryRowContext(ctx, `SELECT `+prefixed("v.", vehicleCols)+` FROM vehicles v JOIN devices d ON d.vehicle_id = v.id WHERE d.id = ?`, device))
	if errors.Is(err, sql.ErrNoRows) {
		return Vehicle{}, fmt.Errorf("%w: no vehicle for device %s", ErrNotFound, device)
	}
	return v, err
}

// Vehicles lists an owner's vehicles (all of them for an empty owner id).
func (s *Store) Vehicles(ctx context.Context, ownerID string) ([]Vehicle, error) {
	q, args := `SELECT `+vehicleCols+` FROM vehicles ORDER BY created_ms, id`, []any{}
	if ownerID != "" {
		q, args = `SELECT `+vehicleCols+` FROM vehicles WHERE owner_id = ? ORDER BY created_ms, id`, []any{ownerID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	return collect(rows, err, "vehicles", scanVehicle)
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// GarageVehicle is a vehicle with its class and its devices' status, as
// a garage page shows it.
type GarageVehicle struct {
	Vehicle
	Class   string
	Devices []GarageDevice
}

// GarageDevice is a device's presence.
type GarageDevice struct {
	ID     string
	Online bool
	Seen   time.Time
}

// Garage reads vehicles with their devices in one query: an owner's
// (every owner's for ""), or the one vehicle when vehicleID is set.
func (s *Store) Garage(ctx context.Context, ownerID, vehicleID string) ([]GarageVehicle, error) {
	q := `SELECT ` + prefixed("v.", vehicleCols) + `, v.class, d.id, st.online, st.seen_ms FROM vehicles v
		LEFT JOIN devices d ON d.vehicle_id = v.id LEFT JOIN device_status st ON st.device = d.id`
	var args []any
	switch {
	case vehicleID != "":
		q, args = q+` WHERE v.id = ?`, []any{vehicleID}
	case ownerID != "":
		q, args = q+` WHERE v.owner_id = ?`, []any{ownerID}
	}
	st, err := s.prepared(ctx, q+` ORDER BY v.created_ms, v.id, d.created_ms DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: garage: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("store: garage: %w", err)
	}
	defer rows.Close()
	var out []GarageVehicle
	for rows.Next() {
		var g GarageVehicle
		var owner, vin, dev sql.NullString
		var online sql.NullBool
		var created int64
		var seen sql.NullInt64
		if err := rows.Scan(&g.ID, &owner, &vin, &g.Make, &g.Model, &g.Year, &g.Name, &created, &g.Class, &dev, &online, &seen); err != nil {
			return nil, err
		}
		g.OwnerID, g.VIN, g.Created = owner.String, vin.String, fromMS(created)
		if n := len(out); n == 0 || out[n-1].ID != g.ID {
			out = append(out, g)
		}
		if dev.Valid {
			last := &out[len(out)-1]
			last.Devices = append(last.Devices, GarageDevice{ID: dev.String, Online: online.Bool, Seen: fromMS(seen.Int64)})
		}
	}
	return out, rows.Err()
}
