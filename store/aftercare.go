package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Followup is the survey an owner is asked some days after a job.
type Followup struct {
	BookingID, OwnerID, ShopID string
	Sent, Answered             time.Time // Answered is zero until the owner answers
	Fixed, PriceAgreed         bool
	UseAgain                   bool
	Score                      int // 1–5
	Comment                    string
	ComplaintID                string // the complaint a low answer opened
}

// DueFollowups lists up to limit bookings in one of statuses completed
// from from up to to that have no follow-up yet, oldest first.
func (s *Store) DueFollowups(ctx context.Context, statuses []string, from, to time.Time, limit int) ([]Booking, error) {
	args := []any{ms(from), ms(to)}
	for _, st := range statuses {
		args = append(args, st)
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT `+bookingCols+` FROM bookings b WHERE completed_ms > ? AND completed_ms <= ?
		AND status IN (`+placeholders(len(statuses))+`) AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.booking_id = b.id)
		ORDER BY completed_ms, id LIMIT ?`, args...)
	return collect(rows, err, "due follow-ups", scanBooking)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// ClaimFollowup records that a follow-up is being sent: the booking's key
// lets one server claim it, and ok is false for the others. The history
// event is written with it.
func (s *Store) ClaimFollowup(ctx context.Context, f Followup, ev Event) (ok bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := lockBooking(ctx, tx, f.BookingID); err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO followups (booking_id, owner_id, shop_id, sent_ms) VALUES (?, ?, ?, ?) ON CONFLICT (booking_id) DO NOTHING`,
		f.BookingID, f.OwnerID, f.ShopID, ms(f.Sent))
	if err != nil {
		return false, constraint(err, "follow-up of booking "+f.BookingID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := addEventKind(ctx, tx, f.BookingID, f.Sent, ev); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

const followupCols = `booking_id, owner_id, shop_id, sent_ms, answered_ms, fixed, price_agreed, use_again, score, comment, complaint_id`

func scanFollowup(r interface{ Scan(...any) error }) (Followup, error) {
	var f Followup
	var sent int64
	var answered, fixed, price, again, score sql.NullInt64
	err := r.Scan(&f.BookingID, &f.OwnerID, &f.ShopID, &sent, &answered, &fixed, &price, &again, &score, &f.Comment, &f.ComplaintID)
	f.Sent, f.Answered = fromMS(sent), fromMS(answered.Int64)
	f.Fixed, f.PriceAgreed, f.UseAgain, f.Score = fixed.Int64 == 1, price.Int64 == 1, again.Int64 == 1, int(score.Int64)
	return f, err
}

// Followup reads a booking's follow-up; ErrNotFound before it was sent.
func (s *Store) Followup(ctx context.Context, bookingID string) (Followup, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+followupCols+` FROM followups WHERE booking_id = ?`, bookingID), scanFollowup, "no follow-up of booking "+bookingID)
}

// AnswerFollowup records the owner's answers once: a follow-up answered
// already is ErrConflict, one never sent ErrNotFound.
func (s *Store) AnswerFollowup(ctx context.Context, f Followup, ev Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := lockBooking(ctx, tx, f.BookingID); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE followups SET answered_ms = ?, fixed = ?, price_agreed = ?, use_again = ?, score = ?, comment = ?
		WHERE booking_id = ? AND answered_ms IS NULL`, ms(f.Answered), boolInt(f.Fixed), boolInt(f.PriceAgreed), boolInt(f.UseAgain), f.Score, f.Comment, f.BookingID)
	if err != nil {
		return fmt.Errorf("store: follow-up of booking %s: %w", f.BookingID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM followups WHERE booking_id = ?`, f.BookingID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no follow-up has been asked on booking %s yet", ErrNotFound, f.BookingID)
		}
		return fmt.Errorf("%w: the follow-up of booking %s is answered already", ErrConflict, f.BookingID)
	}
	if err := addEventKind(ctx, tx, f.BookingID, f.Answered, ev); err != nil {
		return err
	}
	return tx.Commit()
}

// SetFollowupComplaint links the complaint a follow-up's answer opened.
func (s *Store) SetFollowupComplaint(ctx context.Context, bookingID, complaintID string) error {
	return execOne(ctx, s.db, "follow-up", fmt.Errorf("%w: no follow-up of booking %s", ErrNotFound, bookingID),
		`UPDATE followups SET complaint_id = ? WHERE booking_id = ?`, complaintID, bookingID)
}

// Complaint is an owner's complaint about a booking and what became of it.
type Complaint struct {
	ID, BookingID, ShopID, OwnerID string
	Category                       string // price, quality, delay, conduct, other
	Body                           string
	Source                         string // owner (opened by hand) or followup (a low answer)
	Status                         string // open, answered, escalated, resolved
	Opened, Due                    time.Time
	Answered, Escalated, Resolved  time.Time
	Answer                         string
	Resolution, ResolvedBy         string
}

// AddComplaint records a complaint with its history event. A booking
// with an unresolved complaint takes no second one: ErrExists.
func (s *Store) AddComplaint(ctx context.Context, c Complaint, ev Event) (Complaint, error) {
	c.ID = newID()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Complaint{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := lockBooking(ctx, tx, c.BookingID); err != nil {
		return Complaint{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO complaints (id, booking_id, shop_id, owner_id, category, body, source, status, opened_ms, due_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.BookingID, c.ShopID, c.OwnerID, c.Category, c.Body, c.Source, c.Status, ms(c.Opened), ms(c.Due)); err != nil {
		return Complaint{}, constraint(err, "an unresolved complaint on booking "+c.BookingID)
	}
	if err := addEventKind(ctx, tx, c.BookingID, c.Opened, ev); err != nil {
		return Complaint{}, err
	}
	return c, tx.Commit()
}

const complaintCols = `id, booking_id, shop_id, owner_id, category, body, source, status, opened_ms, due_ms, answered_ms, answer, escalated_ms, resolved_ms, resolution, resolved_by`

func scanComplaint(r interface{ Scan(...any) error }) (Complaint, error) {
	var c Complaint
	var opened, due int64
	var answered, escalated, resolved sql.NullInt64
	err := r.Scan(&c.ID, &c.BookingID, &c.ShopID, &c.OwnerID, &c.Category, &c.Body, &c.Source, &c.Status, &opened, &due, &answered, &c.Answer,
		&escalated, &resolved, &c.Resolution, &c.ResolvedBy)
	c.Opened, c.Due, c.Answered, c.Escalated, c.Resolved = fromMS(opened), fromMS(due), fromMS(answered.Int64), fromMS(escalated.Int64), fromMS(resolved.Int64)
	return c, err
}

// Complaint reads one complaint.
func (s *Store) Complaint(ctx context.Context, id string) (Complaint, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+complaintCols+` FROM complaints WHERE id = ?`, id), scanComplaint, "complaint "+id)
}

// ComplaintFilter picks complaints; empty fields match all.
type ComplaintFilter struct {
	OwnerID, ShopID, BookingID, Status string
}

// Complaints lists complaints, newest first.
func (s *Store) Complaints(ctx context.Context, f ComplaintFilter) ([]Complaint, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"owner_id", f.OwnerID}, {"shop_id", f.ShopID}, {"booking_id", f.BookingID}, {"status", f.Status}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	q := `SELECT ` + complaintCols + ` FROM complaints`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY opened_ms DESC, id LIMIT 500`, args...)
	return collect(rows, err, "complaints", scanComplaint)
}

// ComplaintMove is a change of a complaint's status, compare-and-set from
// From, with what comes with it.
type ComplaintMove struct {
	From, To   string
	At         time.Time
	Answer     string // recorded when set; the first answer's time is kept
	Resolution string // recorded with a move to resolved
	By         string // who resolved it
	Event      Event
}

// MoveComplaint applies a move when the complaint is still in m.From,
// with its history event on the booking; ErrConflict otherwise.
func (s *Store) MoveComplaint(ctx context.Context, id string, m ComplaintMove) (Complaint, error) {
	c, err := s.Complaint(ctx, id)
	if err != nil {
		return Complaint{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Complaint{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := lockBooking(ctx, tx, c.BookingID); err != nil {
		return Complaint{}, err
	}
	set := []string{"status = ?"}
	args := []any{m.To}
	if m.Answer != "" {
		set, args = append(set, "answer = ?", "answered_ms = COALESCE(answered_ms, ?)"), append(args, m.Answer, ms(m.At))
	}
	switch m.To {
	case "escalated":
		set, args = append(set, "escalated_ms = COALESCE(escalated_ms, ?)"), append(args, ms(m.At))
	case "resolved":
		set, args = append(set, "resolved_ms = ?", "resolution = ?", "resolved_by = ?"), append(args, ms(m.At), m.Resolution, m.By)
	}
	args = append(args, id, m.From)
	if err := execOne(ctx, tx, "complaint "+id, fmt.Errorf("%w: complaint %s is no longer %s", ErrConflict, id, m.From),
		`UPDATE complaints SET `+strings.Join(set, ", ")+` WHERE id = ? AND status = ?`, args...); err != nil {
		return Complaint{}, err
	}
	if err := addEventKind(ctx, tx, c.BookingID, m.At, m.Event); err != nil {
		return Complaint{}, err
	}
	if err := tx.Commit(); err != nil {
		return Complaint{}, fmt.Errorf("store: %w", err)
	}
	return s.Complaint(ctx, id)
}

// DueComplaints lists up to limit complaints in status whose answer was
// due by now, oldest due first.
func (s *Store) DueComplaints(ctx context.Context, status string, now time.Time, limit int) ([]Complaint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+complaintCols+` FROM complaints WHERE status = ? AND due_ms <= ? ORDER BY due_ms, id LIMIT ?`, status, ms(now), limit)
	return collect(rows, err, "due complaints", scanComplaint)
}

// WarrantyClaim is a claim on a shop's warranty for a fault that came
// back after its repair, with the evidence (JSON, the booking package's).
type WarrantyClaim struct {
	ID, BookingID, ShopID, OwnerID, VehicleID string
	Status                                    string // open, accepted, declined
	Codes                                     []string
	Evidence                                  []byte
	Opened, Answered                          time.Time
	Answer                                    string
}

// AddWarrantyClaim records a claim with its history event; a booking has
// at most one (ErrExists).
func (s *Store) AddWarrantyClaim(ctx context.Context, c WarrantyClaim, ev Event) (WarrantyClaim, error) {
	c.ID = newID()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return WarrantyClaim{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := lockBooking(ctx, tx, c.BookingID); err != nil {
		return WarrantyClaim{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO warranty_claims (id, booking_id, shop_id, owner_id, vehicle_id, status, codes, evidence, opened_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.BookingID, c.ShopID, c.OwnerID, c.VehicleID, c.Status, strings.Join(c.Codes, ","), string(c.Evidence), ms(c.Opened)); err != nil {
		return WarrantyClaim{}, constraint(err, "warranty claim on booking "+c.BookingID)
	}
	if err := addEventKind(ctx, tx, c.BookingID, c.Opened, ev); err != nil {
		return WarrantyClaim{}, err
	}
	return c, tx.Commit()
}

const claimCols = `id, booking_id, shop_id, owner_id, vehicle_id, status, codes, evidence, opened_ms, answered_ms, answer`

func scanClaim(r interface{ Scan(...any) error }) (WarrantyClaim, error) {
	var c WarrantyClaim
	var codes, evidence string
	var opened int64
	var answered sql.NullInt64
	err := r.Scan(&c.ID, &c.BookingID, &c.ShopID, &c.OwnerID, &c.VehicleID, &c.Status, &codes, &evidence, &opened, &answered, &c.Answer)
	c.Codes, c.Evidence, c.Opened, c.Answered = splitList(codes), []byte(evidence), fromMS(opened), fromMS(answered.Int64)
	return c, err
}

// WarrantyClaim reads one claim.
func (s *Store) WarrantyClaim(ctx context.Context, id string) (WarrantyClaim, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+claimCols+` FROM warranty_claims WHERE id = ?`, id), scanClaim, "warranty claim "+id)
}

// ClaimFilter picks warranty claims; empty fields match all.
type ClaimFilter struct {
	OwnerID, ShopID, BookingID string
}

// WarrantyClaims lists claims, newest first.
func (s *Store) WarrantyClaims(ctx context.Context, f ClaimFilter) ([]WarrantyClaim, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"owner_id", f.OwnerID}, {"shop_id", f.ShopID}, {"booking_id", f.BookingID}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	q := `SELECT ` + claimCols + ` FROM warranty_claims`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY opened_ms DESC, id LIMIT 500`, args...)
	return collect(rows, err, "warranty claims", scanClaim)
}

// AnswerWarrantyClaim records the shop's answer, compare-and-set from
// from, with its history event.
func (s *Store) AnswerWarrantyClaim(ctx context.Context, id, from, to, answer string, at time.Time, ev Event) (WarrantyClaim, error) {
	c, err := s.WarrantyClaim(ctx, id)
	if err != nil {
		return WarrantyClaim{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return WarrantyClaim{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := lockBooking(ctx, tx, c.BookingID); err != nil {
		return WarrantyClaim{}, err
	}
	if err := execOne(ctx, tx, "warranty claim "+id, fmt.Errorf("%w: warranty claim %s is no longer %s", ErrConflict, id, from),
		`UPDATE warranty_claims SET status = ?, answer = ?, answered_ms = ? WHERE id = ? AND status = ?`, to, answer, ms(at), id, from); err != nil {
		return WarrantyClaim{}, err
	}
	if err := addEventKind(ctx, tx, c.BookingID, at, ev); err != nil {
		return WarrantyClaim{}, err
	}
	if err := tx.Commit(); err != nil {
		return WarrantyClaim{}, fmt.Errorf("store: %w", err)
	}
	return s.WarrantyClaim(ctx, id)
}

// AddDrive records a drive verify-the-fix counted after a booking's
// repair; the same drive twice is one.
func (s *Store) AddDrive(ctx context.Context, bookingID string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO booking_drives (booking_id, time_ms) VALUES (?, ?) ON CONFLICT (booking_id, time_ms) DO NOTHING`, bookingID, ms(at)); err != nil {
		return constraint(err, "drive of booking "+bookingID)
	}
	return nil
}

// Drives lists the drives counted after a booking's repair, oldest first.
func (s *Store) Drives(ctx context.Context, bookingID string) ([]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT time_ms FROM booking_drives WHERE booking_id = ? ORDER BY time_ms`, bookingID)
	return collect(rows, err, "drives", func(r interface{ Scan(...any) error }) (time.Time, error) {
		var t int64
		err := r.Scan(&t)
		return fromMS(t), err
	})
}

// AnswerRecord is one thing a shop was asked to answer: when it was
// asked, by when it promised, when it answered (zero: it never did).
type AnswerRecord struct {
	Asked, Due, Answered time.Time
}

// LeadAnswers lists a shop's answers to leads sent since since: answered
// ones and those it let expire (a lead withdrawn before it answered is
// not counted).
func (s *Store) LeadAnswers(ctx context.Context, shopID string, since time.Time) ([]AnswerRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sent_ms, due_ms, answered_ms FROM lead_offers WHERE shop_id = ? AND sent_ms >= ?
		AND (answered_ms IS NOT NULL OR state = 'expired') ORDER BY sent_ms DESC LIMIT 500`, shopID, ms(since))
	return collect(rows, err, "lead answers", scanAnswer)
}

// ComplaintAnswers lists a shop's answers to complaints opened since
// since: answered ones and those escalated unanswered.
func (s *Store) ComplaintAnswers(ctx context.Context, shopID string, since time.Time) ([]AnswerRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT opened_ms, due_ms, answered_ms FROM complaints WHERE shop_id = ? AND opened_ms >= ?
		AND (answered_ms IS NOT NULL OR escalated_ms IS NOT NULL) ORDER BY opened_ms DESC LIMIT 500`, shopID, ms(since))
	return collect(rows, err, "complaint answers", scanAnswer)
}

func scanAnswer(r interface{ Scan(...any) error }) (AnswerRecord, error) {
	var a AnswerRecord
	var asked, due, answered sql.NullInt64
	err := r.Scan(&asked, &due, &answered)
	a.Asked, a.Due, a.Answered = fromMS(asked.Int64), fromMS(due.Int64), fromMS(answered.Int64)
	return a, err
}
