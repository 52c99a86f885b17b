package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Booking is a job a shop does on a car.
type Booking struct {
	ID        string
	LeadID    string // empty for a booking made without a lead (maintenance)
	ShopID    string
	OwnerID   string
	VehicleID string
	Kind      string // repair or maintenance
	Status    string
	Slot      time.Time
	Day       string // the slot's date in the shop's time zone
	Price     float64
	Currency  string
	Codes     []string // the codes the job is to fix
	Symptoms  []string // the faults seen in the live data it is to fix
	Work      string   // what was asked for, then what was done
	Cancel    string   // why it was cancelled
	// Who is coming, as the owner chose to tell the shop, and the plate.
	ContactName, ContactEmail, ContactPhone string
	Plate                                   string

	Created, Updated  time.Time
	Completed         time.Time
	CompletedOdometer float64

	Verify       string // watching, fixed, returned; empty before completion
	VerifyNote   string
	VerifyCycles int
	VerifyAt     time.Time

	// TaxBP is the tax rate the booking is priced with, in basis points.
	TaxBP int
	// Lines are written with a new booking (AddBooking, BookLead), each
	// quoted; read them with BookingLines.
	Lines []Line
}

// ErrFull is a booking on a day the shop has no capacity left.
var ErrFull = errors.New("store: the shop is fully booked that day")

// AddBooking records a booking when the shop has fewer than capacity live
// bookings on its day. The shop's row is locked for the check and the
// insert, so two owners cannot both take the last place on any engine.
// A booking of a lead is BookLead's.
func (s *Store) AddBooking(ctx context.Context, b Booking, capacity int) (Booking, error) {
	if b.LeadID != "" {
		return Booking{}, fmt.Errorf("%w: a booking of lead %s is made with BookLead", ErrInvalid, b.LeadID)
	}
	return s.addBooking(ctx, b, capacity, nil)
}

// Move is a change of a lead's status or an offer's state, made only
// from From: compare-and-set.
type Move struct{ From, To string }

// LeadMoves says how a lead and its offers move together, as the booking
// package's lifecycle says: the lead, the chosen shop's offer (booking
// only), and the other offers in any of OthersFrom.
type LeadMoves struct {
	Lead       Move
	Chosen     Move
	OthersFrom []string
	OthersTo   string
}

// BookLead records the booking of a lead's quote (b.LeadID, b.ShopID) as
// AddBooking does and, in the same transaction, moves the lead, the
// chosen offer and the others as m says. The lead's move is a
// conditional update, so a lead is booked once however many tabs book
// it at once: the others get ErrConflict and no booking.
func (s *Store) BookLead(ctx context.Context, b Booking, capacity int, m LeadMoves) (Booking, error) {
	if b.LeadID == "" {
		return Booking{}, fmt.Errorf("%w: BookLead needs the lead", ErrInvalid)
	}
	return s.addBooking(ctx, b, capacity, &m)
}

func (s *Store) addBooking(ctx context.Context, b Booking, capacity int, m *LeadMoves) (Booking, error) {
	b.ID = newID()
	b.Created = s.now().UTC().Truncate(time.Millisecond)
	b.Updated = b.Created
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Booking{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if err := lockRow(ctx, tx, "shops", b.ShopID); err != nil {
		return Booking{}, err
	}
	if err := roomOn(ctx, tx, b.ShopID, b.Day, "", capacity); err != nil {
		return Booking{}, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO bookings (id, lead_id, shop_id, owner_id, vehicle_id, kind, status, slot_ms, day, price, currency, codes, work,
		contact_name, contact_email, contact_phone, plate, created_ms, updated_ms, tax_bp, symptoms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.ID, b.LeadID, b.ShopID, b.OwnerID, b.VehicleID, b.Kind, b.Status, ms(b.Slot), b.Day, b.Price, b.Currency, strings.Join(b.Codes, ","), b.Work,
		b.ContactName, b.ContactEmail, b.ContactPhone, b.Plate, ms(b.Created), ms(b.Updated), b.TaxBP, strings.Join(b.Symptoms, ","))
	if err != nil {
		return Booking{}, constraint(err, "booking at shop "+b.ShopID)
	}
	for i := range b.Lines {
		l := &b.Lines[i]
		l.N, l.Status, l.Proposed = i+1, LineQuoted, b.Created
		if err := insertBookingLine(ctx, tx, b.ID, *l); err != nil {
			return Booking{}, err
		}
	}
	if m != nil {
		if err := execOne(ctx, tx, "lead", fmt.Errorf("%w: lead %s is not %s", ErrConflict, b.LeadID, m.Lead.From),
			`UPDATE leads SET status = ?, updated_ms = ? WHERE id = ? AND owner_id = ? AND status = ?`, m.Lead.To, ms(b.Created), b.LeadID, b.OwnerID, m.Lead.From); err != nil {
			return Booking{}, err
		}
		if err := execOne(ctx, tx, "offer", fmt.Errorf("%w: shop %s has no %s quote on lead %s", ErrConflict, b.ShopID, m.Chosen.From, b.LeadID),
			`UPDATE lead_offers SET state = ? WHERE lead_id = ? AND shop_id = ? AND state = ?`, m.Chosen.To, b.LeadID, b.ShopID, m.Chosen.From); err != nil {
			return Booking{}, err
		}
		if err := moveOthers(ctx, tx, b.LeadID, b.ShopID, m.OthersFrom, m.OthersTo); err != nil {
			return Booking{}, err
		}
	}
	if err := addEvent(ctx, tx, b.ID, b.Created, "", b.Status, "owner", ""); err != nil {
		return Booking{}, err
	}
	if err := tx.Commit(); err != nil {
		return Booking{}, fmt.Errorf("store: %w", err)
	}
	return b, nil
}

// moveOthers moves a lead's offers in any of from to state to, but the
// chosen shop's (none for "").
func moveOthers(ctx context.Context, tx *Tx, leadID, except string, from []string, to string) error {
	if len(from) == 0 {
		return nil
	}
	args := []any{to, leadID, except}
	for _, f := range from {
		args = append(args, f)
	}
	q := `UPDATE lead_offers SET state = ? WHERE lead_id = ? AND shop_id <> ? AND state IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ") + `)`
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("store: offers of lead %s: %w", leadID, err)
	}
	return nil
}

// lockRow takes the write lock of a row by id until the transaction
// ends (SELECT … FOR UPDATE; on SQLite the transaction holds the one write
// lock already). A missing row is ErrNotFound.
func lockRow(ctx context.Context, tx *Tx, table, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`+tx.d.forUpdate(), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %s %s", ErrNotFound, strings.TrimSuffix(table, "s"), id)
	}
	if err != nil {
		return fmt.Errorf("store: locking %s %s: %w", table, id, err)
	}
	return nil
}

// roomOn checks that a shop has fewer than capacity live bookings on a
// day, not counting the booking except; the caller holds the shop's lock.
func roomOn(ctx context.Context, tx *Tx, shopID, day, except string, capacity int) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE shop_id = ? AND day = ? AND status <> 'cancelled' AND id <> ?`,
		shopID, day, except).Scan(&n); err != nil {
		return fmt.Errorf("store: bookings of %s on %s: %w", shopID, day, err)
	}
	if n >= capacity {
		return fmt.Errorf("%w: %s", ErrFull, day)
	}
	return nil
}

// addEvent appends to a booking's history. Its number follows the last:
// the changes of one booking are serialised by the booking's row lock
// (its status update), and the unique index on (booking_id, seq) would
// refuse two with one number.
func addEvent(ctx context.Context, tx *Tx, id string, at time.Time, from, to, actor, note string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_events (booking_id, seq, time_ms, from_status, to_status, actor, note)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM booking_events WHERE booking_id = ?), ?, ?, ?, ?, ?)`,
		id, id, ms(at), from, to, actor, note)
	if err != nil {
		return fmt.Errorf("store: booking event: %w", err)
	}
	return nil
}

// BookingChange is a status change and what comes with it.
type BookingChange struct {
	From, To string
	Actor    string // owner, shop or system
	Note     string
	// Slot and Day move the booking (with Capacity checked on Day).
	Slot     time.Time
	Day      string
	Capacity int
	// Price, Work, Cancel, Completed and Odometer are set when not zero.
	Price     float64
	Work      string
	Cancel    string
	Completed time.Time
	Odometer  float64
	// Verify starts watching the fix.
	Verify string
	// Review is recorded with the change.
	Review *Review
	// Withdraw moves the booking's lines in Withdraw.From to Withdraw.To
	// (extras still waiting for the owner when the job is completed).
	Withdraw Move
	// Lines, when set, checks the booking's lines as they are after the
	// withdrawal, under the booking's lock: an error undoes the change
	// (the approved total moved meanwhile).
	Lines func(lines []Line) error
}

// ChangeBooking applies a change when the booking is still in c.From:
// compare-and-set, so two changes cannot both start from one state.
func (s *Store) ChangeBooking(ctx context.Context, id string, c BookingChange) (Booking, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Booking{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if !c.Slot.IsZero() {
		// A move to another day is checked against that day's load under
		// the shop's lock, as a new booking is.
		var shopID string
		if err := tx.QueryRowContext(ctx, `SELECT shop_id FROM bookings WHERE id = ?`, id).Scan(&shopID); errors.Is(err, sql.ErrNoRows) {
			return Booking{}, fmt.Errorf("%w: booking %s", ErrNotFound, id)
		} else if err != nil {
			return Booking{}, fmt.Errorf("store: booking %s: %w", id, err)
		}
		if err := lockRow(ctx, tx, "shops", shopID); err != nil {
			return Booking{}, err
		}
		if err := roomOn(ctx, tx, shopID, c.Day, id, c.Capacity); err != nil {
			return Booking{}, err
		}
	}
	set := []string{"status = ?", "updated_ms = ?"}
	args := []any{c.To, ms(now)}
	add := func(col string, v any) { set, args = append(set, col+" = ?"), append(args, v) }
	if !c.Slot.IsZero() {
		add("slot_ms", ms(c.Slot))
		add("day", c.Day)
	}
	if c.Price != 0 {
		add("price", c.Price)
	}
	if c.Work != "" {
		add("work", c.Work)
	}
	if c.Cancel != "" {
		add("cancel_reason", c.Cancel)
	}
	if !c.Completed.IsZero() {
		add("completed_ms", ms(c.Completed))
		add("completed_odometer", c.Odometer)
	}
	if c.Verify != "" {
		// Watching starts at the completion: drives after it count.
		at := now
		if !c.Completed.IsZero() {
			at = c.Completed
		}
		add("verify", c.Verify)
		add("verify_ms", ms(at))
	}
	// Compare-and-set: the row lock this update takes makes a second
	// change wait, and it then finds the status moved on.
	q := `UPDATE bookings SET ` + strings.Join(set, ", ") + ` WHERE id = ? AND status = ?`
	args = append(args, id, c.From)
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return Booking{}, fmt.Errorf("store: booking %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM bookings WHERE id = ?`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return Booking{}, fmt.Errorf("%w: booking %s", ErrNotFound, id)
		}
		if err != nil {
			return Booking{}, fmt.Errorf("store: booking %s: %w", id, err)
		}
		return Booking{}, fmt.Errorf("%w: booking %s is %s, not %s", ErrConflict, id, status, c.From)
	}
	if c.Withdraw.From != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE booking_lines SET status = ?, decided_ms = ? WHERE booking_id = ? AND status = ?`,
			c.Withdraw.To, ms(now), id, c.Withdraw.From); err != nil {
			return Booking{}, fmt.Errorf("store: lines of booking %s: %w", id, err)
		}
	}
	if c.Lines != nil {
		rows, err := tx.QueryContext(ctx, `SELECT `+bookingLineCols+` FROM booking_lines WHERE booking_id = ? ORDER BY n`, id)
		lines, err := collect(rows, err, "booking lines", scanBookingLine)
		if err != nil {
			return Booking{}, err
		}
		if err := c.Lines(lines); err != nil {
			return Booking{}, err
		}
	}
	if c.Review != nil {
		r := c.Review
		if _, err := tx.ExecContext(ctx, `INSERT INTO reviews (booking_id, shop_id, owner_id, stars, body, created_ms) VALUES (?, ?, ?, ?, ?, ?)`,
			id, r.ShopID, r.OwnerID, r.Stars, r.Body, ms(now)); err != nil {
			return Booking{}, constraint(err, "review of booking "+id)
		}
	}
	if err := addEvent(ctx, tx, id, now, c.From, c.To, c.Actor, c.Note); err != nil {
		return Booking{}, err
	}
	if err := tx.Commit(); err != nil {
		return Booking{}, fmt.Errorf("store: %w", err)
	}
	return s.Booking(ctx, id)
}

const bookingCols = `id, lead_id, shop_id, owner_id, vehicle_id, kind, status, slot_ms, day, price, currency, codes, work, cancel_reason,
	contact_name, contact_email, contact_phone, plate, created_ms, updated_ms, completed_ms, completed_odometer, verify, verify_note, verify_cycles, verify_ms, tax_bp, symptoms`

func scanBooking(r interface{ Scan(...any) error }) (Booking, error) {
	var b Booking
	var codes, symptoms string
	var slot, created, updated int64
	var completed, verifyAt sql.NullInt64
	err := r.Scan(&b.ID, &b.LeadID, &b.ShopID, &b.OwnerID, &b.VehicleID, &b.Kind, &b.Status, &slot, &b.Day, &b.Price, &b.Currency, &codes, &b.Work, &b.Cancel,
		&b.ContactName, &b.ContactEmail, &b.ContactPhone, &b.Plate, &created, &updated, &completed, &b.CompletedOdometer, &b.Verify, &b.VerifyNote, &b.VerifyCycles, &verifyAt, &b.TaxBP, &symptoms)
	b.Codes, b.Symptoms = splitList(codes), splitList(symptoms)
	b.Slot, b.Created, b.Updated, b.Completed, b.VerifyAt = fromMS(slot), fromMS(created), fromMS(updated), fromMS(completed.Int64), fromMS(verifyAt.Int64)
	return b, err
}

// Booking reads one booking.
func (s *Store) Booking(ctx context.Context, id string) (Booking, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+bookingCols+` FROM bookings WHERE id = ?`, id), scanBooking, "booking "+id)
}

// BookingFilter picks bookings; empty fields match all.
type BookingFilter struct {
	OwnerID, ShopID, VehicleID string
	Verify                     string
}

// Bookings lists bookings, newest slot first.
func (s *Store) Bookings(ctx context.Context, f BookingFilter) ([]Booking, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"owner_id": f.OwnerID, "shop_id": f.ShopID, "vehicle_id": f.VehicleID, "verify": f.Verify} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	q := `SELECT ` + bookingCols + ` FROM bookings`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY slot_ms DESC, id`, args...)
	return collect(rows, err, "bookings", scanBooking)
}

// BookingEvent is one step of a booking's history: a change of status
// (Kind status, From and To set) or another step (an extra, progress, a
// payment, a follow-up, a complaint, a warranty claim) told by its Note.
type BookingEvent struct {
	Seq         int
	Time        time.Time
	Kind        string
	From, To    string
	Actor, Note string
}

// BookingEvents lists a booking's history, oldest first.
func (s *Store) BookingEvents(ctx context.Context, id string) ([]BookingEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, time_ms, kind, from_status, to_status, actor, note FROM booking_events WHERE booking_id = ? ORDER BY seq, time_ms`, id)
	if err != nil {
		return nil, fmt.Errorf("store: booking events: %w", err)
	}
	defer rows.Close()
	var out []BookingEvent
	for rows.Next() {
		var e BookingEvent
		var t int64
		if err := rows.Scan(&e.Seq, &t, &e.Kind, &e.From, &e.To, &e.Actor, &e.Note); err != nil {
			return nil, err
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Verify is a booking's verify-the-fix state: what it is, how many drive
// cycles it counted, and when the car said so (the drive or the report
// that moved it; Booking.VerifyAt).
type Verify struct {
	State  string
	Cycles int
	At     time.Time
}

// SetVerify moves the verify-the-fix state of a completed booking from
// one state to another: compare-and-set on the state and the count, and
// only forward in the car's time, so that a drive cycle seen by two
// servers (or delivered twice) counts once and a verdict is given once. A
// booking no longer in from is ErrConflict.
func (s *Store) SetVerify(ctx context.Context, id string, from, to Verify, note string) error {
	at := to.At
	if at.IsZero() {
		at = s.now()
	}
	return execOne(ctx, s.db, "booking "+id, fmt.Errorf("%w: booking %s is no longer %s after %d drive cycles before %s", ErrConflict, id, from.State, from.Cycles, at.Format(time.RFC3339)),
		`UPDATE bookings SET verify = ?, verify_note = ?, verify_cycles = ?, verify_ms = ?
		WHERE id = ? AND verify = ? AND verify_cycles = ? AND (verify_ms IS NULL OR verify_ms < ?)`,
		to.State, note, to.Cycles, ms(at), id, from.State, from.Cycles, ms(at))
}

// MaintenanceOverride is an owner's own interval for one item on one car.
type MaintenanceOverride struct {
	VehicleID   string
	Item        string
	EveryKm     float64
	EveryMonths int
}

// SetMaintenanceOverride sets or replaces an override.
func (s *Store) SetMaintenanceOverride(ctx context.Context, o MaintenanceOverride) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO maintenance_overrides (vehicle_id, item, every_km, every_months) VALUES (?, ?, ?, ?)
		ON CONFLICT (vehicle_id, item) DO UPDATE SET every_km = excluded.every_km, every_months = excluded.every_months`, o.VehicleID, o.Item, o.EveryKm, o.EveryMonths)
	if err != nil {
		return constraint(err, "maintenance override for vehicle "+o.VehicleID)
	}
	return nil
}

// MaintenanceOverrides lists a car's overrides.
func (s *Store) MaintenanceOverrides(ctx context.Context, vehicleID string) ([]MaintenanceOverride, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT vehicle_id, item, every_km, every_months FROM maintenance_overrides WHERE vehicle_id = ? ORDER BY item`, vehicleID)
	if err != nil {
		return nil, fmt.Errorf("store: maintenance overrides: %w", err)
	}
	defer rows.Close()
	var out []MaintenanceOverride
	for rows.Next() {
		var o MaintenanceOverride
		if err := rows.Scan(&o.VehicleID, &o.Item, &o.EveryKm, &o.EveryMonths); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Services lists a vehicle's services, newest first.
func (s *Store) Services(ctx context.Context, vehicleID string) ([]Service, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, vehicle_id, date_ms, odometer_km, kind, notes, booking_id FROM vehicle_services WHERE vehicle_id = ? ORDER BY date_ms DESC, id`, vehicleID)
	if err != nil {
		return nil, fmt.Errorf("store: services: %w", err)
	}
	defer rows.Close()
	var out []Service
	for rows.Next() {
		var sv Service
		var date int64
		if err := rows.Scan(&sv.ID, &sv.VehicleID, &date, &sv.OdometerKm, &sv.Kind, &sv.Notes, &sv.BookingID); err != nil {
			return nil, err
		}
		sv.Date = fromMS(date)
		out = append(out, sv)
	}
	return out, rows.Err()
}
