package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Owner is a person with cars.
type Owner struct {
	ID      string
	Email   string
	Name    string
	Phone   string // given to a shop only when the owner chooses to
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
	Plate   string
	Class   string // small, medium (the default) or large: shops price by it
	// OdometerKm is what the owner last said the odometer read, at
	// OdometerAt; a device's own reading is newer once it sends one.
	OdometerKm float64
	OdometerAt time.Time
	// Home is where the car usually is, for distances to shops.
	HomeLat, HomeLon float64
	HasHome          bool
	Created          time.Time
}

// Classes are the vehicle classes shops price by.
var Classes = []string{"small", "medium", "large"}

// check refuses what a vehicle cannot hold, naming the field.
func (v *Vehicle) check() error {
	v.VIN = strings.ToUpper(strings.TrimSpace(v.VIN))
	v.Make, v.Model, v.Name, v.Plate = strings.TrimSpace(v.Make), strings.TrimSpace(v.Model), strings.TrimSpace(v.Name), strings.ToUpper(strings.TrimSpace(v.Plate))
	if v.Class == "" {
		v.Class = "medium"
	}
	switch {
	case !slices.Contains(Classes, v.Class):
		return fmt.Errorf("%w: class %q: want small, medium or large", ErrInvalid, v.Class)
	case len(v.Make) > 60 || len(v.Model) > 60 || len(v.Name) > 80 || len(v.Plate) > 20:
		return fmt.Errorf("%w: make, model (60), name (80) or plate (20) is too long", ErrInvalid)
	case v.Year != 0 && (v.Year < 1950 || v.Year > 2100):
		return fmt.Errorf("%w: year %d", ErrInvalid, v.Year)
	case math.IsNaN(v.OdometerKm) || v.OdometerKm < 0 || v.OdometerKm > 3_000_000:
		return fmt.Errorf("%w: odometer_km %v: want 0 to 3,000,000", ErrInvalid, v.OdometerKm)
	case v.HasHome && !validPlace(v.HomeLat, v.HomeLon):
		return fmt.Errorf("%w: home %v,%v is not a place", ErrInvalid, v.HomeLat, v.HomeLon)
	}
	return nil
}

// validPlace is a latitude and longitude on Earth (and not the null
// island a missing value reads as).
func validPlace(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 && !(lat == 0 && lon == 0)
}

// AddOwner records an owner; the id is made here.
func (s *Store) AddOwner(ctx context.Context, o Owner) (Owner, error) {
	o.Email = strings.ToLower(strings.TrimSpace(o.Email))
	if !strings.Contains(o.Email, "@") {
		return Owner{}, fmt.Errorf("%w: email %q", ErrInvalid, o.Email)
	}
	return addOwner(ctx, s.db, o, s.now())
}

func addOwner(ctx context.Context, db execer, o Owner, now time.Time) (Owner, error) {
	o.ID, o.Created = newID(), now.UTC().Truncate(time.Millisecond)
	if _, err := db.ExecContext(ctx, `INSERT INTO owners (id, email, name, phone, created_ms) VALUES (?, ?, ?, ?, ?)`, o.ID, o.Email, o.Name, o.Phone, ms(o.Created)); err != nil {
		return Owner{}, constraint(err, "owner "+o.Email)
	}
	return o, nil
}

// Owner reads one owner.
func (s *Store) Owner(ctx context.Context, id string) (Owner, error) {
	var o Owner
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, email, name, phone, created_ms FROM owners WHERE id = ?`, id).Scan(&o.ID, &o.Email, &o.Name, &o.Phone, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Owner{}, fmt.Errorf("%w: owner %s", ErrNotFound, id)
	}
	o.Created = fromMS(created)
	return o, err
}

// AddVehicle records a vehicle; the id is made here.
func (s *Store) AddVehicle(ctx context.Context, v Vehicle) (Vehicle, error) {
	if err := v.check(); err != nil {
		return Vehicle{}, err
	}
	v.ID, v.Created = newID(), s.now().UTC().Truncate(time.Millisecond)
	if v.OdometerKm > 0 && v.OdometerAt.IsZero() {
		v.OdometerAt = v.Created
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO vehicles (id, owner_id, vin, make, model, year, name, plate, class, odometer_km, odometer_ms, home_lat, home_lon, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, nullable(v.OwnerID), nullable(v.VIN), v.Make, v.Model, v.Year, v.Name, v.Plate, v.Class, v.OdometerKm, msOrZero(v.OdometerAt), home(v, v.HomeLat), home(v, v.HomeLon), ms(v.Created))
	if err != nil {
		return Vehicle{}, constraint(err, "vehicle "+v.VIN)
	}
	return v, nil
}

func home(v Vehicle, x float64) any {
	if !v.HasHome {
		return nil
	}
	return x
}

// UpdateVehicle replaces what the owner says of a vehicle (its id, owner
// and creation stay).
func (s *Store) UpdateVehicle(ctx context.Context, v Vehicle) (Vehicle, error) {
	if err := v.check(); err != nil {
		return Vehicle{}, err
	}
	old, err := s.Vehicle(ctx, v.ID)
	if err != nil {
		return Vehicle{}, err
	}
	if v.OdometerKm != old.OdometerKm {
		v.OdometerAt = s.now().UTC().Truncate(time.Millisecond)
	} else {
		v.OdometerAt = old.OdometerAt
	}
	_, err = s.db.ExecContext(ctx, `UPDATE vehicles SET vin = ?, make = ?, model = ?, year = ?, name = ?, plate = ?, class = ?, odometer_km = ?, odometer_ms = ?,
		home_lat = ?, home_lon = ? WHERE id = ?`,
		nullable(v.VIN), v.Make, v.Model, v.Year, v.Name, v.Plate, v.Class, v.OdometerKm, msOrZero(v.OdometerAt), home(v, v.HomeLat), home(v, v.HomeLon), v.ID)
	if err != nil {
		return Vehicle{}, constraint(err, "vehicle "+v.VIN)
	}
	v.OwnerID, v.Created = old.OwnerID, old.Created
	return v, nil
}

const vehicleCols = `id, owner_id, vin, make, model, year, name, plate, class, odometer_km, odometer_ms, home_lat, home_lon, created_ms`

// scanVehicleRow scans a vehicle alone, as readOne and collect take it.
func scanVehicleRow(r interface{ Scan(...any) error }) (Vehicle, error) { return scanVehicle(r) }

func scanVehicle(r interface{ Scan(...any) error }, more ...any) (Vehicle, error) {
	var v Vehicle
	var owner, vin sql.NullString
	var lat, lon sql.NullFloat64
	var odo, created int64
	err := r.Scan(append([]any{&v.ID, &owner, &vin, &v.Make, &v.Model, &v.Year, &v.Name, &v.Plate, &v.Class, &v.OdometerKm, &odo, &lat, &lon, &created}, more...)...)
	v.OwnerID, v.VIN, v.OdometerAt, v.Created = owner.String, vin.String, fromMS(odo), fromMS(created)
	v.HomeLat, v.HomeLon, v.HasHome = lat.Float64, lon.Float64, lat.Valid && lon.Valid
	return v, err
}

// Vehicle reads one vehicle.
func (s *Store) Vehicle(ctx context.Context, id string) (Vehicle, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+vehicleCols+` FROM vehicles WHERE id = ?`, id), scanVehicleRow, "vehicle "+id)
}

// VehicleOfDevice is the vehicle a device is fitted to.
func (s *Store) VehicleOfDevice(ctx context.Context, device string) (Vehicle, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+prefixed("v.", vehicleCols)+` FROM vehicles v JOIN devices d ON d.vehicle_id = v.id WHERE d.id = ?`, device), scanVehicleRow, "no vehicle for device "+device)
}

// Vehicles lists an owner's vehicles (all of them for an empty owner id).
func (s *Store) Vehicles(ctx context.Context, ownerID string) ([]Vehicle, error) {
	q, args := `SELECT `+vehicleCols+` FROM vehicles ORDER BY created_ms, id`, []any{}
	if ownerID != "" {
		q, args = `SELECT `+vehicleCols+` FROM vehicles WHERE owner_id = ? ORDER BY created_ms, id`, []any{ownerID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	return collect(rows, err, "vehicles", scanVehicleRow)
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// GarageVehicle is a vehicle with its devices' status, as a garage page
// shows it.
type GarageVehicle struct {
	Vehicle
	Devices []GarageDevice
}

// GarageDevice is a device's presence and what its birth said of the car.
type GarageDevice struct {
	ID      string
	Online  bool
	Seen    time.Time
	VIN     string // the VIN the car reported to the device, if any
	Revoked bool
}

// Garage reads vehicles with their devices in one query: an owner's
// (every owner's for ""), or the one vehicle when vehicleID is set.
func (s *Store) Garage(ctx context.Context, ownerID, vehicleID string) ([]GarageVehicle, error) {
	q := `SELECT ` + prefixed("v.", vehicleCols) + `, d.id, d.revoked_ms, st.online, st.seen_ms, st.vin FROM vehicles v
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
		var dev, vin sql.NullString
		var online sql.NullBool
		var seen, revoked sql.NullInt64
		v, err := scanVehicle(rows, &dev, &revoked, &online, &seen, &vin)
		if err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != v.ID {
			out = append(out, GarageVehicle{Vehicle: v})
		}
		if dev.Valid {
			last := &out[len(out)-1]
			last.Devices = append(last.Devices, GarageDevice{ID: dev.String, Online: online.Bool, Seen: fromMS(seen.Int64), VIN: vin.String, Revoked: revoked.Valid})
		}
	}
	return out, rows.Err()
}
