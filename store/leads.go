package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Lead is an owner's request for repair, with what the owner agreed to
// share. The store keeps VIN, location and report only when their share
// flag is set, whatever the caller passes, and rounds the location to
// about a kilometre: a shop can never learn more than the owner ticked.
type Lead struct {
	ID        string
	OwnerID   string
	VehicleID string
	Status    string // open, booked, withdrawn, closed

	ShareReport, ShareVIN, ShareLocation bool

	Make, Model string
	Year        int
	Class       string
	Codes       []string
	Symptoms    []string // faults seen in the live data, as the knowledge base names them
	Repairs     []string // the repairs asked for, as the knowledge base names them
	Summary     string
	FairLow     float64
	FairHigh    float64
	Currency    string

	VIN                  string
	ApproxLat, ApproxLon float64 // 0 when not shared
	Report               []byte  // JSON pre-diagnosis; nil when not shared
	// ShareHistory keeps History, the car's service record as JSON, for
	// the lead's shops; nil when not shared.
	ShareHistory bool
	History      []byte

	Created, Updated time.Time
}

// Lead states.
const (
	LeadOpen      = "open"
	LeadBooked    = "booked"
	LeadWithdrawn = "withdrawn"
)

// Offer is a lead as one shop holds it.
type Offer struct {
	LeadID   string
	ShopID   string
	Rank     int
	State    string // waiting, sent, accepted, declined, expired, withdrawn
	Reasons  []string
	Sent     time.Time
	Due      time.Time
	Answered time.Time
	Quote    float64 // the quote's total with tax
	Slot     time.Time
	Note     string
	// TaxBP is the tax rate the quote was priced with (basis points);
	// Lines are written with an answer (AnswerOffer) and read with
	// OfferLines.
	TaxBP int
	Lines []Line
}

// Offer states.
const (
	OfferWaiting   = "waiting"
	OfferSent      = "sent"
	OfferAccepted  = "accepted"
	OfferDeclined  = "declined"
	OfferExpired   = "expired"
	OfferWithdrawn = "withdrawn"
	OfferBooked    = "booked"
)

// approx rounds a coordinate to two decimals: about a kilometre.
func approx(x float64) float64 { return math.Round(x*100) / 100 }

// AddLead records a lead and its ranked offers in one transaction.
func (s *Store) AddLead(ctx context.Context, l Lead, offers []Offer) (Lead, error) {
	if len(l.Codes) == 0 && len(l.Repairs) == 0 {
		return Lead{}, fmt.Errorf("%w: a lead needs codes or repairs", ErrInvalid)
	}
	l.ID, l.Status = newID(), LeadOpen
	l.Created = s.now().UTC().Truncate(time.Millisecond)
	l.Updated = l.Created
	if !l.ShareVIN {
		l.VIN = ""
	}
	var lat, lon any
	if l.ShareLocation {
		l.ApproxLat, l.ApproxLon = approx(l.ApproxLat), approx(l.ApproxLon)
		lat, lon = l.ApproxLat, l.ApproxLon
	} else {
		l.ApproxLat, l.ApproxLon = 0, 0
	}
	var report any
	if l.ShareReport && len(l.Report) > 0 {
		report = l.Report
	} else {
		l.Report = nil
	}
	var history any
	if l.ShareHistory && len(l.History) > 0 {
		history = l.History
	} else {
		l.History = nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Lead{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	_, err = tx.ExecContext(ctx, `INSERT INTO leads (id, owner_id, vehicle_id, status, share_report, share_vin, share_location, make, model, year, class,
		codes, repairs, summary, fair_low, fair_high, currency, vin, approx_lat, approx_lon, report, created_ms, updated_ms, share_history, history, symptoms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.OwnerID, l.VehicleID, l.Status, boolInt(l.ShareReport), boolInt(l.ShareVIN), boolInt(l.ShareLocation), l.Make, l.Model, l.Year, l.Class,
		strings.Join(l.Codes, ","), strings.Join(l.Repairs, ","), l.Summary, l.FairLow, l.FairHigh, l.Currency, l.VIN, lat, lon, report, ms(l.Created), ms(l.Updated),
		boolInt(l.ShareHistory), history, strings.Join(l.Symptoms, ","))
	if err != nil {
		return Lead{}, constraint(err, "lead for vehicle "+l.VehicleID)
	}
	for _, o := range offers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lead_offers (lead_id, shop_id, rank, state, reasons, sent_ms, due_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			l.ID, o.ShopID, o.Rank, o.State, strings.Join(o.Reasons, "\n"), nullMS(o.Sent), nullMS(o.Due)); err != nil {
			return Lead{}, constraint(err, "offer of lead "+l.ID+" to shop "+o.ShopID)
		}
	}
	if err := tx.Commit(); err != nil {
		return Lead{}, fmt.Errorf("store: %w", err)
	}
	return l, nil
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

const leadCols = `id, owner_id, vehicle_id, status, share_report, share_vin, share_location, make, model, year, class, codes, repairs, summary,
	fair_low, fair_high, currency, vin, approx_lat, approx_lon, report, created_ms, updated_ms, share_history, history, symptoms`

func scanLead(r interface{ Scan(...any) error }) (Lead, error) {
	var l Lead
	var codes, repairs, symptoms string
	var lat, lon sql.NullFloat64
	var created, updated int64
	err := r.Scan(&l.ID, &l.OwnerID, &l.VehicleID, &l.Status, &l.ShareReport, &l.ShareVIN, &l.ShareLocation, &l.Make, &l.Model, &l.Year, &l.Class,
		&codes, &repairs, &l.Summary, &l.FairLow, &l.FairHigh, &l.Currency, &l.VIN, &lat, &lon, &l.Report, &created, &updated, &l.ShareHistory, &l.History, &symptoms)
	l.Codes, l.Repairs, l.Symptoms = splitList(codes), splitList(repairs), splitList(symptoms)
	l.ApproxLat, l.ApproxLon = lat.Float64, lon.Float64
	l.Created, l.Updated = fromMS(created), fromMS(updated)
	return l, err
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Lead reads a lead as its owner sees it.
func (s *Store) Lead(ctx context.Context, id string) (Lead, error) {
	return readOne(s.db.QueryRowContext(ctx, `SELECT `+leadCols+` FROM leads WHERE id = ?`, id), scanLead, "lead "+id)
}

// Leads lists an owner's leads, newest first.
func (s *Store) Leads(ctx context.Context, ownerID string) ([]Lead, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+leadCols+` FROM leads WHERE owner_id = ? ORDER BY created_ms DESC, id`, ownerID)
	return collect(rows, err, "leads", scanLead)
}

// visibleToShop are the offer states in which a shop may read a lead.
const visibleToShop = `('sent', 'accepted', 'declined', 'expired', 'booked')`

// ShopLead reads a lead as a shop may see it: only when the lead was
// sent to that shop and not withdrawn, and only what the owner shared.
// Anything else is ErrNotFound, so a shop cannot even learn that a lead
// exists.
func (s *Store) ShopLead(ctx context.Context, shopID, leadID string) (Lead, Offer, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+prefixed("l.", leadCols)+`, `+prefixed("o.", offerCols)+` FROM leads l JOIN lead_offers o ON o.lead_id = l.id
		WHERE l.id = ? AND o.shop_id = ? AND l.status <> 'withdrawn' AND o.state IN `+visibleToShop, leadID, shopID)
	l, o, err := scanLeadOffer(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Lead{}, Offer{}, fmt.Errorf("%w: lead %s", ErrNotFound, leadID)
	}
	return l, o, err
}

// Inbox lists the leads sent to a shop, newest first, as ShopLead shows
// them.
func (s *Store) Inbox(ctx context.Context, shopID string) ([]Lead, []Offer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+prefixed("l.", leadCols)+`, `+prefixed("o.", offerCols)+` FROM leads l JOIN lead_offers o ON o.lead_id = l.id
		WHERE o.shop_id = ? AND l.status <> 'withdrawn' AND o.state IN `+visibleToShop+` ORDER BY o.sent_ms DESC, l.id`, shopID)
	if err != nil {
		return nil, nil, fmt.Errorf("store: inbox: %w", err)
	}
	defer rows.Close()
	var ls []Lead
	var os []Offer
	for rows.Next() {
		l, o, err := scanLeadOffer(rows)
		if err != nil {
			return nil, nil, err
		}
		ls, os = append(ls, l), append(os, o)
	}
	return ls, os, rows.Err()
}

func scanLeadOffer(r interface{ Scan(...any) error }) (Lead, Offer, error) {
	var l Lead
	var o Offer
	var codes, repairs, symptoms, reasons string
	var lat, lon, quote sql.NullFloat64
	var created, updated int64
	var sent, due, answered, slot sql.NullInt64
	err := r.Scan(&l.ID, &l.OwnerID, &l.VehicleID, &l.Status, &l.ShareReport, &l.ShareVIN, &l.ShareLocation, &l.Make, &l.Model, &l.Year, &l.Class,
		&codes, &repairs, &l.Summary, &l.FairLow, &l.FairHigh, &l.Currency, &l.VIN, &lat, &lon, &l.Report, &created, &updated, &l.ShareHistory, &l.History, &symptoms,
		&o.LeadID, &o.ShopID, &o.Rank, &o.State, &reasons, &sent, &due, &answered, &quote, &slot, &o.Note, &o.TaxBP)
	l.Codes, l.Repairs, l.Symptoms = splitList(codes), splitList(repairs), splitList(symptoms)
	l.ApproxLat, l.ApproxLon = lat.Float64, lon.Float64
	l.Created, l.Updated = fromMS(created), fromMS(updated)
	l.OwnerID = "" // a shop never learns who the owner is before a booking
	fillOffer(&o, reasons, sent, due, answered, quote, slot)
	return l, o, err
}

const offerCols = `lead_id, shop_id, rank, state, reasons, sent_ms, due_ms, answered_ms, quote, slot_ms, note, tax_bp`

func fillOffer(o *Offer, reasons string, sent, due, answered sql.NullInt64, quote sql.NullFloat64, slot sql.NullInt64) {
	if reasons != "" {
		o.Reasons = strings.Split(reasons, "\n")
	}
	o.Sent, o.Due, o.Answered, o.Slot = fromMS(sent.Int64), fromMS(due.Int64), fromMS(answered.Int64), fromMS(slot.Int64)
	o.Quote = quote.Float64
}

func scanOffer(r interface{ Scan(...any) error }) (Offer, error) {
	var o Offer
	var reasons string
	var quote sql.NullFloat64
	var sent, due, answered, slot sql.NullInt64
	err := r.Scan(&o.LeadID, &o.ShopID, &o.Rank, &o.State, &reasons, &sent, &due, &answered, &quote, &slot, &o.Note, &o.TaxBP)
	fillOffer(&o, reasons, sent, due, answered, quote, slot)
	return o, err
}

// Offers lists a lead's offers by rank.
func (s *Store) Offers(ctx context.Context, leadID string) ([]Offer, error) {
	return s.offers(ctx, `SELECT `+offerCols+` FROM lead_offers WHERE lead_id = ? ORDER BY rank`, leadID)
}

// DueOffers lists the sent offers whose answer is overdue at now.
func (s *Store) DueOffers(ctx context.Context, now time.Time) ([]Offer, error) {
	return s.offers(ctx, `SELECT `+offerCols+` FROM lead_offers WHERE state = ? AND due_ms <= ? ORDER BY due_ms`, OfferSent, ms(now))
}

// ExpireDueOffers moves up to limit offers in state from whose answer was
// due by now to state to, and returns them. Servers sweeping at once
// share the work: each takes the rows no other holds (FOR UPDATE SKIP
// LOCKED), so every offer expires once.
func (s *Store) ExpireDueOffers(ctx context.Context, from, to string, now time.Time, limit int) ([]Offer, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	rows, err := tx.QueryContext(ctx, `SELECT `+offerCols+` FROM lead_offers WHERE state = ? AND due_ms <= ? ORDER BY due_ms, lead_id, shop_id LIMIT ?`+s.d.skipLocked(),
		from, ms(now), limit)
	due, err := collect(rows, err, "due offers", scanOffer)
	if err != nil {
		return nil, err
	}
	for i := range due {
		if err := execOne(ctx, tx, "offer", fmt.Errorf("%w: offer of lead %s to shop %s", ErrConflict, due[i].LeadID, due[i].ShopID),
			`UPDATE lead_offers SET state = ? WHERE lead_id = ? AND shop_id = ? AND state = ?`, to, due[i].LeadID, due[i].ShopID, from); err != nil {
			return nil, err
		}
		due[i].State = to
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return due, nil
}

// Promotion sends a lead's next offers: while fewer than Live of its
// offers are in state Live, waiting ones (state Waiting, by rank) move to
// it, due when Due says.
type Promotion struct {
	LeadOpen      string // the lead status in which offers move on
	Waiting, Sent string // offer states
	Live          int
	Due           func(shopID string) time.Time
	Now           time.Time
}

// PromoteOffers moves a lead on, under the lead's row lock, so that two
// servers moving the same lead on at once (a decline here, an expiry
// there) send it to no more shops than p.Live between them. It returns
// the offers it sent.
func (s *Store) PromoteOffers(ctx context.Context, leadID string, p Promotion) ([]Offer, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM leads WHERE id = ?`+s.d.forUpdate(), leadID).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: lead %s", ErrNotFound, leadID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: lead %s: %w", leadID, err)
	}
	if status != p.LeadOpen {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+offerCols+` FROM lead_offers WHERE lead_id = ? ORDER BY rank`, leadID)
	offers, err := collect(rows, err, "offers", scanOffer)
	if err != nil {
		return nil, err
	}
	live := 0
	for _, o := range offers {
		if o.State == p.Sent {
			live++
		}
	}
	var sent []Offer
	for _, o := range offers {
		if live >= p.Live {
			break
		}
		if o.State != p.Waiting {
			continue
		}
		due := p.Due(o.ShopID)
		if err := execOne(ctx, tx, "offer", fmt.Errorf("%w: offer of lead %s to shop %s", ErrConflict, leadID, o.ShopID),
			`UPDATE lead_offers SET state = ?, sent_ms = ?, due_ms = ? WHERE lead_id = ? AND shop_id = ? AND state = ?`,
			p.Sent, ms(p.Now), ms(due), leadID, o.ShopID, p.Waiting); err != nil {
			return nil, err
		}
		o.State, o.Sent, o.Due = p.Sent, p.Now, due
		sent = append(sent, o)
		live++
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return sent, nil
}

func (s *Store) offers(ctx context.Context, q string, args ...any) ([]Offer, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	return collect(rows, err, "offers", scanOffer)
}

// ErrConflict is a change that lost a race or comes too late: the record
// is no longer in the state the change starts from.
var ErrConflict = errors.New("store: the record changed state")

// AnswerOffer records a shop's answer to an offer of an open lead, moving
// it from state from to o.State with o's quote, slot, tax rate and lines
// (recorded when the quote is not zero) and note. The offer's row lock
// makes it compare-and-set: of two answers, or an answer and an expiry,
// one wins and the other is ErrConflict.
func (s *Store) AnswerOffer(ctx context.Context, o Offer, from string) error {
	if o.State == "" || o.State == from {
		return fmt.Errorf("%w: answer %q", ErrInvalid, o.State)
	}
	var quote, slot any
	if o.Quote != 0 {
		quote, slot = o.Quote, ms(o.Slot)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if err := execOne(ctx, tx, "offer", fmt.Errorf("%w: lead %s is not waiting for shop %s's answer", ErrConflict, o.LeadID, o.ShopID),
		`UPDATE lead_offers SET state = ?, answered_ms = ?, quote = ?, slot_ms = ?, note = ?, tax_bp = ?
		WHERE lead_id = ? AND shop_id = ? AND state = ? AND EXISTS (SELECT 1 FROM leads WHERE id = ? AND status = ?)`,
		o.State, ms(s.now()), quote, slot, o.Note, o.TaxBP, o.LeadID, o.ShopID, from, o.LeadID, LeadOpen); err != nil {
		return err
	}
	if o.Quote != 0 {
		if err := insertOfferLines(ctx, tx, o.LeadID, o.ShopID, o.Lines); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SetOfferState moves an offer from one state to another (expired,
// sent with a new due time), failing with ErrConflict when it is no
// longer in from.
func (s *Store) SetOfferState(ctx context.Context, leadID, shopID, from, to string, sent, due time.Time) error {
	return execOne(ctx, s.db, "offer", fmt.Errorf("%w: the offer of lead %s to shop %s is not %s", ErrConflict, leadID, shopID, from),
		`UPDATE lead_offers SET state = ?, sent_ms = COALESCE(?, sent_ms), due_ms = COALESCE(?, due_ms)
		WHERE lead_id = ? AND shop_id = ? AND state = ?`, to, nullMS(sent), nullMS(due), leadID, shopID, from)
}

// WithdrawLead withdraws an owner's lead, moving it and its offers as m
// says (the chosen move is not used), and erases what was shared (VIN,
// location, report).
func (s *Store) WithdrawLead(ctx context.Context, ownerID, leadID string, m LeadMoves) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	res, err := tx.ExecContext(ctx, `UPDATE leads SET status = ?, vin = '', approx_lat = NULL, approx_lon = NULL, report = NULL, history = NULL, updated_ms = ?
		WHERE id = ? AND owner_id = ? AND status = ?`, m.Lead.To, ms(s.now()), leadID, ownerID, m.Lead.From)
	if err != nil {
		return fmt.Errorf("store: lead: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Lead(ctx, leadID); err != nil {
			return err
		}
		return fmt.Errorf("%w: lead %s is not %s", ErrConflict, leadID, m.Lead.From)
	}
	if err := moveOthers(ctx, tx, leadID, "", m.OthersFrom, m.OthersTo); err != nil {
		return err
	}
	return tx.Commit()
}
