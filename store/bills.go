package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Line is one line of a quote or a bill. Amounts are in hundredths of
// the currency unit, quantities in hundredths (150 is 1.5 hours); the
// booking package computes Amount and decides which lines count.
type Line struct {
	N              int // 1, 2, ... in the order the lines were given
	Kind           string
	Description    string
	Repair         string // the knowledge base's repair id, when the line is for one
	QtyHundredths  int64
	UnitCents      int64
	AmountCents    int64
	WarrantyMonths int
	WarrantyKm     int
	// Status, Reason and the times are a booking line's: quoted,
	// proposed, approved, declined, withdrawn.
	Status   string
	Reason   string
	Proposed time.Time
	Decided  time.Time
}

// Line statuses on a booking.
const (
	LineQuoted    = "quoted"    // part of the quote the owner booked
	LineProposed  = "proposed"  // an extra the shop proposed, waiting for the owner
	LineApproved  = "approved"  // an extra the owner approved
	LineDeclined  = "declined"  // an extra the owner declined
	LineWithdrawn = "withdrawn" // an extra not answered before the job was completed
)

// Event kinds of a booking's history.
const (
	EventStatus    = "status"
	EventLine      = "line"
	EventProgress  = "progress"
	EventPayment   = "payment"
	EventFollowup  = "followup"
	EventComplaint = "complaint"
	EventWarranty  = "warranty"
)

// Event is a step of a booking's history other than a change of status,
// written with the change it records.
type Event struct {
	Kind  string
	Actor string // owner, shop, admin or system
	Note  string
}

const lineCols = `n, kind, description, repair, qty_hundredths, unit_cents, amount_cents, warranty_months, warranty_km`

func insertOfferLines(ctx context.Context, tx *Tx, leadID, shopID string, lines []Line) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM offer_lines WHERE lead_id = ? AND shop_id = ?`, leadID, shopID); err != nil {
		return fmt.Errorf("store: offer lines: %w", err)
	}
	for i, l := range lines {
		if _, err := tx.ExecContext(ctx, `INSERT INTO offer_lines (lead_id, shop_id, `+lineCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			leadID, shopID, i+1, l.Kind, l.Description, l.Repair, l.QtyHundredths, l.UnitCents, l.AmountCents, l.WarrantyMonths, l.WarrantyKm); err != nil {
			return constraint(err, fmt.Sprintf("line %d of the quote of shop %s on lead %s", i+1, shopID, leadID))
		}
	}
	return nil
}

func scanLine(r interface{ Scan(...any) error }) (Line, error) {
	var l Line
	err := r.Scan(&l.N, &l.Kind, &l.Description, &l.Repair, &l.QtyHundredths, &l.UnitCents, &l.AmountCents, &l.WarrantyMonths, &l.WarrantyKm)
	return l, err
}

// OfferLines lists the lines of a shop's quote on a lead.
func (s *Store) OfferLines(ctx context.Context, leadID, shopID string) ([]Line, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+lineCols+` FROM offer_lines WHERE lead_id = ? AND shop_id = ? ORDER BY n`, leadID, shopID)
	return collect(rows, err, "offer lines", scanLine)
}

func insertBookingLine(ctx context.Context, tx *Tx, bookingID string, l Line) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_lines (booking_id, `+lineCols+`, status, reason, proposed_ms, decided_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		bookingID, l.N, l.Kind, l.Description, l.Repair, l.QtyHundredths, l.UnitCents, l.AmountCents, l.WarrantyMonths, l.WarrantyKm, l.Status, l.Reason, ms(l.Proposed), nullMS(l.Decided))
	if err != nil {
		return constraint(err, fmt.Sprintf("line %d of booking %s", l.N, bookingID))
	}
	return nil
}

const bookingLineCols = lineCols + `, status, reason, proposed_ms, decided_ms`

func scanBookingLine(r interface{ Scan(...any) error }) (Line, error) {
	var l Line
	var proposed int64
	var decided sql.NullInt64
	err := r.Scan(&l.N, &l.Kind, &l.Description, &l.Repair, &l.QtyHundredths, &l.UnitCents, &l.AmountCents, &l.WarrantyMonths, &l.WarrantyKm,
		&l.Status, &l.Reason, &proposed, &decided)
	l.Proposed, l.Decided = fromMS(proposed), fromMS(decided.Int64)
	return l, err
}

// BookingLines lists a booking's lines in order.
func (s *Store) BookingLines(ctx context.Context, bookingID string) ([]Line, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+bookingLineCols+` FROM booking_lines WHERE booking_id = ? ORDER BY n`, bookingID)
	return collect(rows, err, "booking lines", scanBookingLine)
}

// lockBooking takes a booking's row lock for the transaction and returns
// its status: the changes of one booking wait for each other.
func lockBooking(ctx context.Context, tx *Tx, id string) (string, error) {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM bookings WHERE id = ?`+tx.d.forUpdate(), id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: booking %s", ErrNotFound, id)
	}
	if err != nil {
		return "", fmt.Errorf("store: locking booking %s: %w", id, err)
	}
	return status, nil
}

// inStatus checks under the booking's lock that it is in one of the
// statuses a change needs.
func inStatus(ctx context.Context, tx *Tx, id string, statuses []string, what string) (string, error) {
	status, err := lockBooking(ctx, tx, id)
	if err != nil {
		return "", err
	}
	for _, st := range statuses {
		if st == status {
			return status, nil
		}
	}
	return status, fmt.Errorf("%w: booking %s is %s: %s needs it %s", ErrConflict, id, status, what, strings.Join(statuses, " or "))
}

func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// AddBookingLine adds an extra line to a booking in one of statuses,
// numbered after the last, with its history event, under the booking's
// lock. It returns the line as numbered.
func (s *Store) AddBookingLine(ctx context.Context, bookingID string, statuses []string, l Line, ev Event) (Line, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Line{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := inStatus(ctx, tx, bookingID, statuses, "a new line"); err != nil {
		return Line{}, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(n), 0) + 1 FROM booking_lines WHERE booking_id = ?`, bookingID).Scan(&l.N); err != nil {
		return Line{}, fmt.Errorf("store: booking lines: %w", err)
	}
	if err := insertBookingLine(ctx, tx, bookingID, l); err != nil {
		return Line{}, err
	}
	ev.Note = strings.ReplaceAll(ev.Note, "{n}", fmt.Sprint(l.N))
	if err := addEventKind(ctx, tx, bookingID, s.stamp(), ev); err != nil {
		return Line{}, err
	}
	return l, tx.Commit()
}

// LineDecision is the owner's answer to a proposed line: the line moves
// From → To and the booking's price becomes Price (the approved total)
// when the booking is still in one of Statuses.
type LineDecision struct {
	N        int
	From, To string
	Statuses []string
	Price    func(lines []Line) float64
	Event    Event
}

// DecideLine moves a line compare-and-set and sets the booking's price
// from its lines as they are after the move, under the booking's lock.
func (s *Store) DecideLine(ctx context.Context, bookingID string, d LineDecision) (Line, error) {
	now := s.stamp()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Line{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := inStatus(ctx, tx, bookingID, d.Statuses, "deciding on a line"); err != nil {
		return Line{}, err
	}
	if err := execOne(ctx, tx, "booking line", fmt.Errorf("%w: line %d of booking %s is not %s", ErrConflict, d.N, bookingID, d.From),
		`UPDATE booking_lines SET status = ?, decided_ms = ? WHERE booking_id = ? AND n = ? AND status = ?`, d.To, ms(now), bookingID, d.N, d.From); err != nil {
		if errors.Is(err, ErrConflict) {
			var n int
			if e := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM booking_lines WHERE booking_id = ? AND n = ?`, bookingID, d.N).Scan(&n); e == nil && n == 0 {
				return Line{}, fmt.Errorf("%w: line %d of booking %s", ErrNotFound, d.N, bookingID)
			}
		}
		return Line{}, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+bookingLineCols+` FROM booking_lines WHERE booking_id = ? ORDER BY n`, bookingID)
	lines, err := collect(rows, err, "booking lines", scanBookingLine)
	if err != nil {
		return Line{}, err
	}
	if d.Price != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET price = ?, updated_ms = ? WHERE id = ?`, d.Price(lines), ms(now), bookingID); err != nil {
			return Line{}, fmt.Errorf("store: booking %s: %w", bookingID, err)
		}
	}
	if err := addEventKind(ctx, tx, bookingID, now, d.Event); err != nil {
		return Line{}, err
	}
	if err := tx.Commit(); err != nil {
		return Line{}, fmt.Errorf("store: %w", err)
	}
	for _, l := range lines {
		if l.N == d.N {
			return l, nil
		}
	}
	return Line{}, fmt.Errorf("%w: line %d of booking %s", ErrNotFound, d.N, bookingID)
}

// Payment is money the shop says it received for a booking.
type Payment struct {
	N           int
	Method      string
	AmountCents int64
	Paid        time.Time
	Recorded    time.Time
	Note        string
}

// AddPayment records a payment on a booking in one of statuses when the
// payments together stay within maxCents (the bill's total), under the
// booking's lock, with its history event. A payment beyond it is
// ErrInvalid.
func (s *Store) AddPayment(ctx context.Context, bookingID string, statuses []string, p Payment, maxCents int64, ev Event) (Payment, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Payment{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := inStatus(ctx, tx, bookingID, statuses, "a payment"); err != nil {
		return Payment{}, err
	}
	var paid int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_cents), 0), COALESCE(MAX(n), 0) + 1 FROM booking_payments WHERE booking_id = ?`, bookingID).Scan(&paid, &p.N); err != nil {
		return Payment{}, fmt.Errorf("store: payments: %w", err)
	}
	if paid+p.AmountCents > maxCents {
		return Payment{}, fmt.Errorf("%w: amount: %d.%02d paid before and %d.%02d now is more than the bill's %d.%02d", ErrInvalid,
			paid/100, paid%100, p.AmountCents/100, p.AmountCents%100, maxCents/100, maxCents%100)
	}
	p.Recorded = s.stamp()
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_payments (booking_id, n, method, amount_cents, paid_ms, recorded_ms, note) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		bookingID, p.N, p.Method, p.AmountCents, ms(p.Paid), ms(p.Recorded), p.Note); err != nil {
		return Payment{}, constraint(err, "payment of booking "+bookingID)
	}
	if err := addEventKind(ctx, tx, bookingID, p.Recorded, ev); err != nil {
		return Payment{}, err
	}
	return p, tx.Commit()
}

// Payments lists a booking's payments in order.
func (s *Store) Payments(ctx context.Context, bookingID string) ([]Payment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT n, method, amount_cents, paid_ms, recorded_ms, note FROM booking_payments WHERE booking_id = ? ORDER BY n`, bookingID)
	return collect(rows, err, "payments", func(r interface{ Scan(...any) error }) (Payment, error) {
		var p Payment
		var paid, rec int64
		err := r.Scan(&p.N, &p.Method, &p.AmountCents, &paid, &rec, &p.Note)
		p.Paid, p.Recorded = fromMS(paid), fromMS(rec)
		return p, err
	})
}

// addEventKind appends a step other than a change of status to a
// booking's history; the caller holds the booking's lock.
func addEventKind(ctx context.Context, tx *Tx, id string, at time.Time, ev Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO booking_events (booking_id, seq, time_ms, from_status, to_status, actor, note, kind)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM booking_events WHERE booking_id = ?), ?, '', '', ?, ?, ?)`,
		id, id, ms(at), ev.Actor, ev.Note, ev.Kind)
	if err != nil {
		return fmt.Errorf("store: booking event: %w", err)
	}
	return nil
}

// BookingVersion is the number of a booking's last history step: it
// grows with every change anyone makes, on any server.
func (s *Store) BookingVersion(ctx context.Context, bookingID string) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM booking_events WHERE booking_id = ?`, bookingID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: booking %s: %w", bookingID, err)
	}
	return v, nil
}

// BookingVersions is BookingVersion for many bookings in one query a few
// hundred at a time: every booking page open on a server is watched with
// it. Bookings with no history are left out.
func (s *Store) BookingVersions(ctx context.Context, ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT booking_id, MAX(seq) FROM booking_events WHERE booking_id IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`) GROUP BY booking_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: booking versions: %w", err)
		}
		for rows.Next() {
			var id string
			var v int
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: booking versions: %w", err)
			}
			out[id] = v
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: booking versions: %w", err)
		}
		rows.Close()
	}
	return out, nil
}

// SetClock makes the store stamp rows with now instead of the wall
// clock: for tests that move time, and a server that injects its clock.
// Call it before the store is used.
func (s *Store) SetClock(now func() time.Time) { s.now = now }
