package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Shop is a repair shop. What it offers lives in Profile, a JSON
// document the booking package owns.
type Shop struct {
	ID            string
	Name          string
	Email         string
	WebhookURL    string
	WebhookSecret string
	Address       string
	Lat, Lon      float64
	TimeZone      string
	Phone         string
	Profile       []byte
	// Status is where the shop stands: a draft until its profile is
	// complete, pending until an administrator approves it; only approved
	// shops get leads.
	Status     string
	StatusNote string // why it was rejected or suspended
	Created    time.Time
}

// Shop statuses.
const (
	ShopDraft     = "draft"
	ShopPending   = "pending"
	ShopApproved  = "approved"
	ShopRejected  = "rejected"
	ShopSuspended = "suspended"
)

// AddShop records a shop; the id is made here unless given.
func (s *Store) AddShop(ctx context.Context, sh Shop) (Shop, error) {
	if strings.TrimSpace(sh.Name) == "" {
		return Shop{}, fmt.Errorf("%w: a shop needs a name", ErrInvalid)
	}
	if sh.Status == "" {
		sh.Status = ShopApproved // an operator's shop
	}
	return addShop(ctx, s.db, sh, s.now())
}

func addShop(ctx context.Context, db execer, sh Shop, now time.Time) (Shop, error) {
	if sh.ID == "" {
		sh.ID = newID()
	}
	if sh.TimeZone == "" {
		sh.TimeZone = "UTC"
	}
	if len(sh.Profile) == 0 {
		sh.Profile = []byte("{}")
	}
	sh.Created = now.UTC().Truncate(time.Millisecond)
	_, err := db.ExecContext(ctx, `INSERT INTO shops (id, name, email, webhook_url, webhook_secret, address, lat, lon, timezone, phone, profile, status, status_note, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sh.ID, sh.Name, sh.Email, sh.WebhookURL, sh.WebhookSecret, sh.Address, sh.Lat, sh.Lon, sh.TimeZone, sh.Phone,
		string(sh.Profile), sh.Status, sh.StatusNote, ms(sh.Created))
	if err != nil {
		return Shop{}, constraint(err, "shop "+sh.ID)
	}
	return sh, nil
}

// UpdateShop replaces what a shop says of itself (name, contact, place,
// time zone and profile); its status stays.
func (s *Store) UpdateShop(ctx context.Context, sh Shop) error {
	return execOne(ctx, s.db, "shop "+sh.ID, fmt.Errorf("%w: shop %s", ErrNotFound, sh.ID),
		`UPDATE shops SET name = ?, email = ?, webhook_url = ?, webhook_secret = ?, address = ?, lat = ?, lon = ?, timezone = ?, phone = ?, profile = ? WHERE id = ?`,
		sh.Name, sh.Email, sh.WebhookURL, sh.WebhookSecret, sh.Address, sh.Lat, sh.Lon, sh.TimeZone, sh.Phone, string(sh.Profile), sh.ID)
}

// SetShopStatus moves a shop from one status to another (compare and
// set: ErrConflict when it is no longer in from).
func (s *Store) SetShopStatus(ctx context.Context, id, from, to, note string) error {
	return execOne(ctx, s.db, "shop "+id, fmt.Errorf("%w: shop %s is no longer %s", ErrConflict, id, from),
		`UPDATE shops SET status = ?, status_note = ? WHERE id = ? AND status = ?`, to, note, id, from)
}

// UpdateShopProfile replaces what a shop offers.
func (s *Store) UpdateShopProfile(ctx context.Context, id string, profile []byte) error {
	return execOne(ctx, s.db, "shop "+id, fmt.Errorf("%w: shop %s", ErrNotFound, id),
		`UPDATE shops SET profile = ? WHERE id = ?`, string(profile), id)
}

const shopCols = `id, name, email, webhook_url, webhook_secret, address, lat, lon, timezone, phone, profile, status, status_note, created_ms`

func scanShop(r interface{ Scan(...any) error }) (Shop, error) {
	var sh Shop
	var profile string
	var created int64
	err := r.Scan(&sh.ID, &sh.Name, &sh.Email, &sh.WebhookURL, &sh.WebhookSecret, &sh.Address, &sh.Lat, &sh.Lon, &sh.TimeZone, &sh.Phone, &profile, &sh.Status, &sh.StatusNote, &created)
	sh.Profile, sh.Created = []byte(profile), fromMS(created)
	return sh, err
}

// Shop reads one shop.
func (s *Store) Shop(ctx context.Context, id string) (Shop, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+shopCols+` FROM shops WHERE id = ?`, id), scanShop, "shop "+id)
}

// Shops lists every shop.
func (s *Store) Shops(ctx context.Context) ([]Shop, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+shopCols+` FROM shops ORDER BY id`)
	return collect(rows, err, "shops", scanShop)
}

// Rating is what owners said of a shop: their reviews' stars and their
// follow-up surveys' scores, both 1–5.
type Rating struct {
	Reviews   int
	Followups int     // follow-up surveys answered
	Mean      float64 // stars and scores together, 1–5; 0 with neither
}

// Ratings gives every rated shop's rating.
func (s *Store) Ratings(ctx context.Context) (map[string]Rating, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT shop_id, SUM(review), SUM(1 - review), AVG(stars) FROM (
		SELECT shop_id, 1 AS review, stars FROM reviews
		UNION ALL SELECT shop_id, 0 AS review, score AS stars FROM followups WHERE score IS NOT NULL) r GROUP BY shop_id`)
	if err != nil {
		return nil, fmt.Errorf("store: ratings: %w", err)
	}
	defer rows.Close()
	out := map[string]Rating{}
	for rows.Next() {
		var id string
		var r Rating
		if err := rows.Scan(&id, &r.Reviews, &r.Followups, &r.Mean); err != nil {
			return nil, err
		}
		out[id] = r
	}
	return out, rows.Err()
}

// Review is an owner's verdict on a completed booking.
type Review struct {
	BookingID string
	ShopID    string
	OwnerID   string
	Stars     int
	Body      string
	Created   time.Time
}

// Reviews lists a shop's reviews, newest first.
func (s *Store) Reviews(ctx context.Context, shopID string, limit int) ([]Review, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT booking_id, shop_id, owner_id, stars, body, created_ms FROM reviews WHERE shop_id = ? ORDER BY created_ms DESC LIMIT ?`, shopID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reviews: %w", err)
	}
	defer rows.Close()
	var out []Review
	for rows.Next() {
		var r Review
		var created int64
		if err := rows.Scan(&r.BookingID, &r.ShopID, &r.OwnerID, &r.Stars, &r.Body, &created); err != nil {
			return nil, err
		}
		r.Created = fromMS(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DayLoad counts a shop's live bookings (not cancelled) per day, for the
// days from first to last ("2006-01-02", inclusive).
func (s *Store) DayLoad(ctx context.Context, shopID, first, last string) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT day, COUNT(*) FROM bookings WHERE shop_id = ? AND day >= ? AND day <= ? AND status <> 'cancelled' GROUP BY day`, shopID, first, last)
	if err != nil {
		return nil, fmt.Errorf("store: bookings per day: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, err
		}
		out[d] = n
	}
	return out, rows.Err()
}

// SetOwnerHome sets where an owner's car usually is.
func (s *Store) SetOwnerHome(ctx context.Context, ownerID string, lat, lon float64) error {
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return fmt.Errorf("%w: location %v,%v", ErrInvalid, lat, lon)
	}
	return execOne(ctx, s.db, "owner "+ownerID, fmt.Errorf("%w: owner %s", ErrNotFound, ownerID),
		`UPDATE owners SET lat = ?, lon = ? WHERE id = ?`, lat, lon, ownerID)
}

// OwnerHome is where an owner's car usually is; ok is false when unset.
func (s *Store) OwnerHome(ctx context.Context, ownerID string) (lat, lon float64, ok bool, err error) {
	var la, lo sql.NullFloat64
	err = s.db.QueryRowContext(ctx, `SELECT lat, lon FROM owners WHERE id = ?`, ownerID).Scan(&la, &lo)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, fmt.Errorf("%w: owner %s", ErrNotFound, ownerID)
	}
	return la.Float64, lo.Float64, la.Valid && lo.Valid, err
}

// SetVehicleClass sets a vehicle's price class: small, medium or large.
func (s *Store) SetVehicleClass(ctx context.Context, vehicleID, class string) error {
	if class != "small" && class != "medium" && class != "large" {
		return fmt.Errorf("%w: class %q: want small, medium or large", ErrInvalid, class)
	}
	return execOne(ctx, s.db, "vehicle "+vehicleID, fmt.Errorf("%w: vehicle %s", ErrNotFound, vehicleID),
		`UPDATE vehicles SET class = ? WHERE id = ?`, class, vehicleID)
}

// VehicleClass is a vehicle's price class.
func (s *Store) VehicleClass(ctx context.Context, vehicleID string) (string, error) {
	var c string
	err := s.db.QueryRowContext(ctx, `SELECT class FROM vehicles WHERE id = ?`, vehicleID).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: vehicle %s", ErrNotFound, vehicleID)
	}
	return c, err
}
