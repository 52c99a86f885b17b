package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Alert is an alert as stored.
type Alert struct {
	Fingerprint  string
	Device       string
	Vehicle      string
	Rule         string
	Severity     string
	Labels       map[string]string
	State        string // firing or resolved
	StartsAt     time.Time
	EndsAt       time.Time
	Summary      string
	Values       map[string]float64
	Codes        []string
	OneShot      bool
	SendResolved bool
	Updated      time.Time
}

// SaveAlerts writes alerts in one transaction, replacing earlier states.
func (s *Store) SaveAlerts(ctx context.Context, alerts []Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, a := range alerts {
		labels, _ := json.Marshal(a.Labels)
		vals, _ := json.Marshal(a.Values)
		codes, _ := json.Marshal(nonNil(a.Codes))
		_, err := tx.ExecContext(ctx, `INSERT INTO alerts (fingerprint, device, vehicle, rule, severity, labels, state, starts_ms, ends_ms, summary, vals, codes, one_shot, send_resolved, updated_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (fingerprint) DO UPDATE SET device = excluded.device, vehicle = excluded.vehicle, rule = excluded.rule,
				severity = excluded.severity, labels = excluded.labels, state = excluded.state, starts_ms = excluded.starts_ms,
				ends_ms = excluded.ends_ms, summary = excluded.summary, vals = excluded.vals, codes = excluded.codes,
				one_shot = excluded.one_shot, send_resolved = excluded.send_resolved, updated_ms = excluded.updated_ms`,
			a.Fingerprint, a.Device, a.Vehicle, a.Rule, a.Severity, string(labels), a.State, ms(a.StartsAt), msOrZero(a.EndsAt),
			a.Summary, string(vals), string(codes), boolInt(a.OneShot), boolInt(a.SendResolved), ms(a.Updated))
		if err != nil {
			return fmt.Errorf("store: alert %s: %w", a.Fingerprint, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const alertCols = `fingerprint, device, vehicle, rule, severity, labels, state, starts_ms, ends_ms, summary, vals, codes, one_shot, send_resolved, updated_ms`

func scanAlert(r interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var labels, vals, codes string
	var starts, ends, updated int64
	var oneShot, sendResolved int
	if err := r.Scan(&a.Fingerprint, &a.Device, &a.Vehicle, &a.Rule, &a.Severity, &labels, &a.State, &starts, &ends,
		&a.Summary, &vals, &codes, &oneShot, &sendResolved, &updated); err != nil {
		return a, err
	}
	_ = json.Unmarshal([]byte(labels), &a.Labels)
	_ = json.Unmarshal([]byte(vals), &a.Values)
	_ = json.Unmarshal([]byte(codes), &a.Codes)
	a.StartsAt, a.EndsAt, a.Updated = fromMS(starts), fromMS(ends), fromMS(updated)
	a.OneShot, a.SendResolved = oneShot != 0, sendResolved != 0
	return a, nil
}

// Alerts lists alerts: of one device (any for ""), firing only or all,
// newest first, at most limit.
func (s *Store) Alerts(ctx context.Context, device string, firingOnly bool, limit int) ([]Alert, error) {
	var where []string
	var args []any
	if device != "" {
		where, args = append(where, "device = ?"), append(args, device)
	}
	if firingOnly {
		where = append(where, "state = 'firing'")
	}
	q := `SELECT ` + alertCols + ` FROM alerts`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY starts_ms DESC, fingerprint LIMIT ?`
	return s.queryAlerts(ctx, q, append(args, limit)...)
}

func (s *Store) queryAlerts(ctx context.Context, q string, args ...any) ([]Alert, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	return collect(rows, err, "alerts", scanAlert)
}

// AlertsUpdatedSince lists the alerts changed at or after t: what a
// restarted alert manager must look at again.
func (s *Store) AlertsUpdatedSince(ctx context.Context, t time.Time) ([]Alert, error) {
	return s.queryAlerts(ctx, `SELECT `+alertCols+` FROM alerts WHERE state = 'firing' OR updated_ms >= ? ORDER BY updated_ms`, ms(t))
}

// Telling is one telling of an alert by one notifier: the Nth time it
// tells the alert's start in a state (1 the first, 2 the first repeat).
type Telling struct {
	Notifier    string
	Fingerprint string
	StartsAt    time.Time
	State       string
	Nth         int
}

// Told is the latest telling the log holds of an alert's start in a
// state.
type Told struct {
	Nth     int       // 0: never told
	At      time.Time // when it was sent, or claimed while Pending
	Pending bool      // claimed and not yet recorded as sent
	ID      string    // the notification's idempotency key, once sent
}

// ClaimNotifications claims tellings for claimer before they are sent,
// and returns those it got: a telling nobody claimed, or whose claim was
// made before lapsed and never recorded as sent (its server died
// mid-send). A telling another server holds is left out, so no two
// servers send it.
func (s *Store) ClaimNotifications(ctx context.Context, claimer string, ts []Telling, now, lapsed time.Time) ([]Telling, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	var got []Telling
	for _, t := range ts {
		if t.Nth < 1 {
			return nil, fmt.Errorf("%w: telling %d of %s", ErrInvalid, t.Nth, t.Fingerprint)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO notifications (notifier, fingerprint, starts_ms, state, nth, claimed_by, claimed_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (notifier, fingerprint, starts_ms, state, nth) DO UPDATE SET claimed_by = excluded.claimed_by, claimed_ms = excluded.claimed_ms
			WHERE notifications.sent_ms IS NULL AND notifications.claimed_ms < ?`,
			t.Notifier, t.Fingerprint, ms(t.StartsAt), t.State, t.Nth, claimer, ms(now), ms(lapsed))
		if err != nil {
			return nil, fmt.Errorf("store: claiming a notification: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			got = append(got, t)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return got, nil
}

// RecordNotifications records claimed tellings as sent, with the
// notification's idempotency key.
func (s *Store) RecordNotifications(ctx context.Context, claimer string, ts []Telling, id string, sent time.Time) error {
	return s.eachTelling(ctx, ts, `UPDATE notifications SET sent_ms = ?, id = ? WHERE notifier = ? AND fingerprint = ? AND starts_ms = ? AND state = ? AND nth = ? AND claimed_by = ?`,
		func(t Telling) []any {
			return []any{ms(sent), id, t.Notifier, t.Fingerprint, ms(t.StartsAt), t.State, t.Nth, claimer}
		})
}

// ReleaseNotifications gives back claims whose send failed, so that any
// server may try again.
func (s *Store) ReleaseNotifications(ctx context.Context, claimer string, ts []Telling) error {
	return s.eachTelling(ctx, ts, `DELETE FROM notifications WHERE notifier = ? AND fingerprint = ? AND starts_ms = ? AND state = ? AND nth = ? AND claimed_by = ? AND sent_ms IS NULL`,
		func(t Telling) []any {
			return []any{t.Notifier, t.Fingerprint, ms(t.StartsAt), t.State, t.Nth, claimer}
		})
}

func (s *Store) eachTelling(ctx context.Context, ts []Telling, q string, args func(Telling) []any) error {
	if len(ts) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, t := range ts {
		if _, err := tx.ExecContext(ctx, q, args(t)...); err != nil {
			return fmt.Errorf("store: notification log: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// LastNotified is the latest telling by a notifier of an alert's start in
// a state.
func (s *Store) LastNotified(ctx context.Context, notifier, fingerprint string, starts time.Time, state string) (Told, error) {
	var t Told
	var claimed int64
	var sent sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT nth, claimed_ms, sent_ms, id FROM notifications WHERE notifier = ? AND fingerprint = ? AND starts_ms = ? AND state = ?
		ORDER BY nth DESC LIMIT 1`, notifier, fingerprint, ms(starts), state).Scan(&t.Nth, &claimed, &sent, &t.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Told{}, nil
	}
	if err != nil {
		return Told{}, fmt.Errorf("store: notifications: %w", err)
	}
	t.Pending = !sent.Valid
	t.At = fromMS(claimed)
	if sent.Valid {
		t.At = fromMS(sent.Int64)
	}
	return t, nil
}

// PruneNotifications deletes the notification log's rows sent (or
// claimed) before t, but for each alert still firing the latest telling
// of its start, which says when it repeats. It returns how many went.
func (s *Store) PruneNotifications(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notifications WHERE COALESCE(sent_ms, claimed_ms) < ?
		AND (NOT EXISTS (SELECT 1 FROM alerts a WHERE a.fingerprint = notifications.fingerprint AND a.starts_ms = notifications.starts_ms AND a.state = 'firing')
			OR nth < (SELECT MAX(n2.nth) FROM notifications n2 WHERE n2.notifier = notifications.notifier AND n2.fingerprint = notifications.fingerprint
				AND n2.starts_ms = notifications.starts_ms AND n2.state = notifications.state))`, ms(t))
	if err != nil {
		return 0, fmt.Errorf("store: pruning the notification log: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Silence mutes a device's alerts whose labels match, for a while.
type Silence struct {
	ID        string
	Device    string
	Matchers  map[string]string
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
}

// AddSilence records a silence; the id is made here.
func (s *Store) AddSilence(ctx context.Context, sl Silence) (Silence, error) {
	if sl.Device == "" || !sl.EndsAt.After(sl.StartsAt) {
		return sl, fmt.Errorf("%w: a silence needs a device and an end after its start", ErrInvalid)
	}
	sl.ID = newID()
	m, _ := json.Marshal(sl.Matchers)
	_, err := s.db.ExecContext(ctx, `INSERT INTO silences (id, device, matchers, starts_ms, ends_ms, created_by, comment) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		sl.ID, sl.Device, string(m), ms(sl.StartsAt), ms(sl.EndsAt), sl.CreatedBy, sl.Comment)
	if err != nil {
		return sl, fmt.Errorf("store: silence: %w", err)
	}
	return sl, nil
}

// Silences lists a device's silences in force at t.
func (s *Store) Silences(ctx context.Context, device string, t time.Time) ([]Silence, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, device, matchers, starts_ms, ends_ms, created_by, comment FROM silences
		WHERE device = ? AND starts_ms <= ? AND ends_ms > ? ORDER BY starts_ms`, device, ms(t), ms(t))
	if err != nil {
		return nil, fmt.Errorf("store: silences: %w", err)
	}
	defer rows.Close()
	var out []Silence
	for rows.Next() {
		var sl Silence
		var m string
		var starts, ends int64
		if err := rows.Scan(&sl.ID, &sl.Device, &m, &starts, &ends, &sl.CreatedBy, &sl.Comment); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(m), &sl.Matchers)
		sl.StartsAt, sl.EndsAt = fromMS(starts), fromMS(ends)
		out = append(out, sl)
	}
	return out, rows.Err()
}

// FeedItem is one thing an owner was told, in the app.
type FeedItem struct {
	ID          string
	OwnerID     string
	Device      string
	Fingerprint string
	State       string
	Severity    string
	Summary     string
	Time        time.Time
}

// AddFeedItems appends to owners' feeds; ids are made here when empty.
func (s *Store) AddFeedItems(ctx context.Context, items []FeedItem) ([]FeedItem, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for i := range items {
		if items[i].ID == "" {
			items[i].ID = newID()
		}
		it := items[i]
		if _, err := tx.ExecContext(ctx, `INSERT INTO feed (id, owner_id, device, fingerprint, state, severity, summary, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, it.ID, it.OwnerID, it.Device, it.Fingerprint, it.State, it.Severity, it.Summary, ms(it.Time)); err != nil {
			return nil, fmt.Errorf("store: feed: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return items, nil
}

// Feed lists an owner's feed from since on, oldest first.
func (s *Store) Feed(ctx context.Context, owner string, since time.Time, limit int) ([]FeedItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, owner_id, device, fingerprint, state, severity, summary, time_ms FROM feed
		WHERE owner_id = ? AND time_ms >= ? ORDER BY time_ms, id LIMIT ?`, owner, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: feed: %w", err)
	}
	defer rows.Close()
	var out []FeedItem
	for rows.Next() {
		var it FeedItem
		var t int64
		if err := rows.Scan(&it.ID, &it.OwnerID, &it.Device, &it.Fingerprint, &it.State, &it.Severity, &it.Summary, &t); err != nil {
			return nil, err
		}
		it.Time = fromMS(t)
		out = append(out, it)
	}
	return out, rows.Err()
}

// QuietHours is when an owner does not want non-critical alerts.
type QuietHours struct {
	Start, End string // "22:00", "07:00"; empty for none
	TimeZone   string // IANA name
}

// SetQuietHours sets an owner's quiet hours.
func (s *Store) SetQuietHours(ctx context.Context, owner string, q QuietHours) error {
	if q.TimeZone == "" {
		q.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(q.TimeZone); err != nil {
		return fmt.Errorf("%w: time zone %q", ErrInvalid, q.TimeZone)
	}
	for _, hm := range []string{q.Start, q.End} {
		if hm != "" {
			if _, err := time.Parse("15:04", hm); err != nil {
				return fmt.Errorf("%w: %q is not a time like 22:00", ErrInvalid, hm)
			}
		}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE owners SET quiet_start = ?, quiet_end = ?, timezone = ? WHERE id = ?`, q.Start, q.End, q.TimeZone, owner)
	if err != nil {
		return fmt.Errorf("store: owner %s: %w", owner, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: owner %s", ErrNotFound, owner)
	}
	return nil
}

// Recipient is who hears about a device's alerts.
type Recipient struct {
	Owner   Owner
	Vehicle Vehicle
	Quiet   QuietHours
}

// RecipientOfDevice finds the owner of the vehicle a device is fitted to.
func (s *Store) RecipientOfDevice(ctx context.Context, device string) (Recipient, error) {
	var r Recipient
	v, err := s.VehicleOfDevice(ctx, device)
	if err != nil {
		return r, err
	}
	r.Vehicle = v
	if v.OwnerID == "" {
		return r, fmt.Errorf("%w: vehicle %s has no owner", ErrNotFound, v.ID)
	}
	var created int64
	err = s.db.QueryRowContext(ctx, `SELECT id, email, name, created_ms, quiet_start, quiet_end, timezone FROM owners WHERE id = ?`, v.OwnerID).
		Scan(&r.Owner.ID, &r.Owner.Email, &r.Owner.Name, &created, &r.Quiet.Start, &r.Quiet.End, &r.Quiet.TimeZone)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: owner %s", ErrNotFound, v.OwnerID)
	}
	r.Owner.Created = fromMS(created)
	return r, err
}

// Service is maintenance done on a vehicle.
type Service struct {
	ID         string
	VehicleID  string
	Date       time.Time
	OdometerKm float64
	Kind       string
	Notes      string
	BookingID  string // the booking whose completion recorded it; empty for one the owner entered
}

// AddService records a service.
func (s *Store) AddService(ctx context.Context, sv Service) (Service, error) {
	sv.ID = newID()
	_, err := s.db.ExecContext(ctx, `INSERT INTO vehicle_services (id, vehicle_id, date_ms, odometer_km, kind, notes, booking_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		sv.ID, sv.VehicleID, ms(sv.Date), sv.OdometerKm, sv.Kind, sv.Notes, sv.BookingID)
	if err != nil {
		return sv, constraint(err, "service of vehicle "+sv.VehicleID)
	}
	return sv, nil
}

// LastService is the latest service of the vehicle a device is fitted to.
func (s *Store) LastService(ctx context.Context, device string) (Service, error) {
	var sv Service
	var date int64
	err := s.db.QueryRowContext(ctx, `SELECT sv.id, sv.vehicle_id, sv.date_ms, sv.odometer_km, sv.kind, sv.notes FROM vehicle_services sv
		JOIN devices d ON d.vehicle_id = sv.vehicle_id WHERE d.id = ? ORDER BY sv.date_ms DESC LIMIT 1`, device).
		Scan(&sv.ID, &sv.VehicleID, &date, &sv.OdometerKm, &sv.Kind, &sv.Notes)
	if errors.Is(err, sql.ErrNoRows) {
		return sv, fmt.Errorf("%w: no service for device %s", ErrNotFound, device)
	}
	sv.Date = fromMS(date)
	return sv, err
}
