package booking

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// Store is what the booking service keeps in the database; *store.Store
// is one. The store keeps the rows and makes each change compare-and-set
// or under a row lock; which change is allowed when is decided here.
type Store interface {
	AddShop(ctx context.Context, sh store.Shop) (store.Shop, error)
	Shop(ctx context.Context, id string) (store.Shop, error)
	Shops(ctx context.Context) ([]store.Shop, error)
	UpdateShop(ctx context.Context, sh store.Shop) error
	SetShopStatus(ctx context.Context, id, from, to, note string) error
	Ratings(ctx context.Context) (map[string]store.Rating, error)
	DayLoad(ctx context.Context, shopID, first, last string) (map[string]int, error)
	Owner(ctx context.Context, id string) (store.Owner, error)
	OwnerHome(ctx context.Context, ownerID string) (lat, lon float64, ok bool, err error)
	Vehicle(ctx context.Context, id string) (store.Vehicle, error)
	VehicleClass(ctx context.Context, vehicleID string) (string, error)

	AddLead(ctx context.Context, l store.Lead, offers []store.Offer) (store.Lead, error)
	Lead(ctx context.Context, id string) (store.Lead, error)
	ShopLead(ctx context.Context, shopID, leadID string) (store.Lead, store.Offer, error)
	Inbox(ctx context.Context, shopID string) ([]store.Lead, []store.Offer, error)
	Offers(ctx context.Context, leadID string) ([]store.Offer, error)
	AnswerOffer(ctx context.Context, o store.Offer, from string) error
	ExpireDueOffers(ctx context.Context, from, to string, now time.Time, limit int) ([]store.Offer, error)
	PromoteOffers(ctx context.Context, leadID string, p store.Promotion) ([]store.Offer, error)
	WithdrawLead(ctx context.Context, ownerID, leadID string, m store.LeadMoves) error

	AddBooking(ctx context.Context, b store.Booking, capacity int) (store.Booking, error)
	BookLead(ctx context.Context, b store.Booking, capacity int, m store.LeadMoves) (store.Booking, error)
	Booking(ctx context.Context, id string) (store.Booking, error)
	Bookings(ctx context.Context, f store.BookingFilter) ([]store.Booking, error)
	ChangeBooking(ctx context.Context, id string, c store.BookingChange) (store.Booking, error)
	SetVerify(ctx context.Context, id string, from, to store.Verify, note string) error

	AddService(ctx context.Context, sv store.Service) (store.Service, error)
	Services(ctx context.Context, vehicleID string) ([]store.Service, error)
	MaintenanceOverrides(ctx context.Context, vehicleID string) ([]store.MaintenanceOverride, error)
	SetMaintenanceOverride(ctx context.Context, o store.MaintenanceOverride) error

	// After the booking: lines, payments, progress, follow-ups,
	// complaints, warranty claims, the car's record.
	OfferLines(ctx context.Context, leadID, shopID string) ([]store.Line, error)
	BookingLines(ctx context.Context, bookingID string) ([]store.Line, error)
	AddBookingLine(ctx context.Context, bookingID string, statuses []string, l store.Line, ev store.Event) (store.Line, error)
	AddExtraLink(ctx context.Context, tokenHash string, l store.ExtraLink) error
	ExtraLinkOf(ctx context.Context, tokenHash string) (store.ExtraLink, error)
	UseExtraLink(ctx context.Context, tokenHash string) (store.ExtraLink, error)
	DecideLine(ctx context.Context, bookingID string, d store.LineDecision) (store.Line, error)
	AddPayment(ctx context.Context, bookingID string, statuses []string, p store.Payment, maxCents int64, ev store.Event) (store.Payment, error)
	Payments(ctx context.Context, bookingID string) ([]store.Payment, error)
	AddProgress(ctx context.Context, bookingID string, statuses []string, p store.Progress, photos []store.Photo, ev store.Event) (store.Progress, error)
	BookingProgress(ctx context.Context, bookingID string) ([]store.Progress, error)
	BookingEvents(ctx context.Context, id string) ([]store.BookingEvent, error)
	DueFollowups(ctx context.Context, statuses []string, from, to time.Time, limit int) ([]store.Booking, error)
	ClaimFollowup(ctx context.Context, f store.Followup, ev store.Event) (bool, error)
	Followup(ctx context.Context, bookingID string) (store.Followup, error)
	AnswerFollowup(ctx context.Context, f store.Followup, ev store.Event) error
	SetFollowupComplaint(ctx context.Context, bookingID, complaintID string) error
	AddComplaint(ctx context.Context, c store.Complaint, ev store.Event) (store.Complaint, error)
	Complaint(ctx context.Context, id string) (store.Complaint, error)
	Complaints(ctx context.Context, f store.ComplaintFilter) ([]store.Complaint, error)
	MoveComplaint(ctx context.Context, id string, m store.ComplaintMove) (store.Complaint, error)
	DueComplaints(ctx context.Context, status string, now time.Time, limit int) ([]store.Complaint, error)
	LeadAnswers(ctx context.Context, shopID string, since time.Time) ([]store.AnswerRecord, error)
	ComplaintAnswers(ctx context.Context, shopID string, since time.Time) ([]store.AnswerRecord, error)
	AddWarrantyClaim(ctx context.Context, c store.WarrantyClaim, ev store.Event) (store.WarrantyClaim, error)
	WarrantyClaim(ctx context.Context, id string) (store.WarrantyClaim, error)
	WarrantyClaims(ctx context.Context, f store.ClaimFilter) ([]store.WarrantyClaim, error)
	AnswerWarrantyClaim(ctx context.Context, id, from, to, answer string, at time.Time, ev store.Event) (store.WarrantyClaim, error)
	AddDrive(ctx context.Context, bookingID string, at time.Time) error
	Drives(ctx context.Context, bookingID string) ([]time.Time, error)
}

var _ Store = (*store.Store)(nil)

// Service runs leads and bookings over the store.
type Service struct {
	Store   Store
	KB      *diagnosis.KB
	Pricing diagnosis.Pricing
	Notify  Notifier // nil: nobody is told
	Log     *slog.Logger
	Now     func() time.Time
	// Fanout is how many shops a lead goes to at once (3); Ranked how
	// many more wait their turn should one not answer (7).
	Fanout, Ranked int
	// VerifyCycles is how many drive cycles without the code, with its
	// monitors complete, count as fixed (3).
	VerifyCycles int
	// FollowupDays is how long after a completed job the owner is asked
	// how it went (3 days).
	FollowupDays int

	wg       sync.WaitGroup
	mu       sync.Mutex
	monitors map[string][]diagnosis.Monitor // last readiness per vehicle
}

// New makes a service with the defaults.
func New(st Store, kb *diagnosis.KB, p diagnosis.Pricing, n Notifier) *Service {
	return &Service{Store: st, KB: kb, Pricing: p, Notify: n, Log: slog.New(slog.DiscardHandler), Now: time.Now,
		Fanout: 3, Ranked: 7, VerifyCycles: 3, FollowupDays: DefaultFollowupDays, monitors: map[string][]diagnosis.Monitor{}}
}

// Wait waits for the notifications under way.
func (s *Service) Wait() { s.wg.Wait() }

// ErrNotYours is an id the caller may not act on. The message does not
// say whether the thing exists.
var ErrNotYours = errors.New("booking: not found")

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// tell sends notes in the background, each bounded to 30 s; failures are
// logged, never returned: a lead is recorded whether or not a webhook
// answers, and the shop's inbox holds it anyway.
func (s *Service) tell(f func(ctx context.Context) error) {
	if s.Notify == nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			s.Log.Warn("booking: a notification failed", "err", err)
		}
	}()
}

func (s *Service) tellShop(shopID string, n Note) {
	s.tell(func(ctx context.Context) error {
		st, err := s.Store.Shop(ctx, shopID)
		if err != nil {
			return err
		}
		sh, err := ReadShop(st)
		if err != nil {
			return err
		}
		return s.Notify.ToShop(ctx, sh, n)
	})
}

func (s *Service) tellOwner(ownerID string, n Note) {
	s.tell(func(ctx context.Context) error {
		o, err := s.Store.Owner(ctx, ownerID)
		if err != nil {
			return err
		}
		return s.Notify.ToOwner(ctx, o, n)
	})
}

func noteID(parts ...string) string { return strings.Join(parts, "-") }

// AddShop checks and stores a shop.
func (s *Service) AddShop(ctx context.Context, sh store.Shop, p Profile) (Shop, error) {
	sh, err := NewShop(sh, p)
	if err != nil {
		return Shop{}, err
	}
	stored, err := s.Store.AddShop(ctx, sh)
	if err != nil {
		return Shop{}, err
	}
	return ReadShop(stored)
}

// candidates reads every shop with its rating and its load over the next
// two weeks. A shop whose profile no longer reads is logged and skipped.
func (s *Service) candidates(ctx context.Context) ([]Candidate, error) {
	shops, err := s.Store.Shops(ctx)
	if err != nil {
		return nil, err
	}
	ratings, err := s.Store.Ratings(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Candidate
	for _, st := range shops {
		if st.Status != store.ShopApproved {
			continue // drafts, shops waiting for approval, rejected or suspended ones get no leads
		}
		sh, err := ReadShop(st)
		if err != nil {
			s.Log.Error("booking: a shop's profile does not read; it is not suggested", "shop", st.ID, "err", err)
			continue
		}
		load, err := s.Store.DayLoad(ctx, sh.ID, sh.Day(now), sh.Day(now.Add(15*24*time.Hour)))
		if err != nil {
			return nil, err
		}
		out = append(out, Candidate{Shop: sh, Rating: ratings[sh.ID], Load: load})
	}
	return out, nil
}

// ownedVehicle reads a vehicle the owner owns.
func (s *Service) ownedVehicle(ctx context.Context, ownerID, vehicleID string) (store.Vehicle, error) {
	v, err := s.Store.Vehicle(ctx, vehicleID)
	if errors.Is(err, store.ErrNotFound) || err == nil && v.OwnerID != ownerID {
		return store.Vehicle{}, fmt.Errorf("%w: vehicle %s", ErrNotYours, vehicleID)
	}
	return v, err
}

// NeedFor turns a pre-diagnosis into what matching needs: the systems
// and the most likely repair of each code, each repair once.
func (s *Service) NeedFor(ctx context.Context, v store.Vehicle, r diagnosis.Report) (Need, error) {
	n := Need{Make: v.Make, Class: v.Class, Lat: v.HomeLat, Lon: v.HomeLon, HasLocation: v.HasHome, StopDriving: r.Safe == "no"}
	if !v.HasHome {
		// Cars added before they had a home of their own use the owner's.
		lat, lon, ok, err := s.Store.OwnerHome(ctx, v.OwnerID)
		if err != nil {
			return Need{}, err
		}
		n.Lat, n.Lon, n.HasLocation = lat, lon, ok
	}
	for _, f := range append(slices.Clip(r.Codes), r.Symptoms...) {
		top := f.Causes[0].Repair
		if !slices.ContainsFunc(n.Repairs, func(x diagnosis.Repair) bool { return x.ID == top.ID }) {
			n.Repairs = append(n.Repairs, top)
			n.Fair = n.Fair.Add(top.Total)
		}
		sys := top.System
		if sys == "" {
			sys = systemOfArea(f.Subsystem)
		}
		if sys != "" && !slices.Contains(n.Systems, sys) {
			n.Systems = append(n.Systems, sys)
		}
	}
	return n, nil
}

// systemOfArea maps the explanation's area back to the system it names.
func systemOfArea(area string) string {
	for _, sys := range Systems {
		if diagnosis.AreaName(sys) == area {
			return sys
		}
	}
	return ""
}

// Suggest ranks the shops for a need.
func (s *Service) Suggest(ctx context.Context, n Need) ([]Suggestion, error) {
	cands, err := s.candidates(ctx)
	if err != nil {
		return nil, err
	}
	return Match(n, cands, s.now()), nil
}

// Consent is what the owner agrees to share with shops for one lead.
// The vehicle (make, model, year, class) and the codes are always
// shared: without them there is no lead. A GPS trace is never shared.
type Consent struct {
	Report   bool `json:"report"`
	VIN      bool `json:"vin"`
	Location bool `json:"location"` // approximate: about a kilometre
	// History is the car's service record (Record): its past jobs, their
	// shops, lines and verdicts; the VIN in it only when VIN is ticked.
	History bool `json:"history"`
}

// CreateLead records what the owner consented to share and sends it to
// shops: to those the owner picked (each must be among the shops that
// match), or, with none picked, to the best few, keeping the next ones
// waiting their turn.
func (s *Service) CreateLead(ctx context.Context, ownerID, vehicleID string, r diagnosis.Report, c Consent, picked []string) (store.Lead, []Suggestion, error) {
	v, err := s.ownedVehicle(ctx, ownerID, vehicleID)
	if err != nil {
		return store.Lead{}, nil, err
	}
	if len(r.Codes) == 0 && len(r.Symptoms) == 0 {
		return store.Lead{}, nil, invalid("report", "it holds no trouble codes and no fault seen in the live data; book a maintenance package instead")
	}
	need, err := s.NeedFor(ctx, v, r)
	if err != nil {
		return store.Lead{}, nil, err
	}
	sugg, err := s.Suggest(ctx, need)
	if err != nil {
		return store.Lead{}, nil, err
	}
	if len(sugg) == 0 {
		return store.Lead{}, nil, fmt.Errorf("%w: no shop within reach repairs %s on a %s with a free day in the next two weeks", ErrNoShop, strings.Join(need.Systems, ", "), v.Make)
	}
	fanout := s.Fanout
	if len(picked) > 0 {
		var chosen []Suggestion
		for i, id := range picked {
			j := slices.IndexFunc(sugg, func(sg Suggestion) bool { return sg.ShopID == id })
			switch {
			case j < 0:
				return store.Lead{}, nil, invalid(fmt.Sprintf("shops[%d]", i), "%q is not among the shops that can do this job", id)
			case slices.ContainsFunc(chosen, func(sg Suggestion) bool { return sg.ShopID == id }):
				return store.Lead{}, nil, invalid(fmt.Sprintf("shops[%d]", i), "%q is picked twice", id)
			}
			chosen = append(chosen, sugg[j])
		}
		if len(chosen) > 20 {
			return store.Lead{}, nil, invalid("shops", "pick at most 20 shops")
		}
		sugg, fanout = chosen, len(chosen)
	} else {
		sugg = sugg[:min(len(sugg), s.Fanout+s.Ranked)]
	}
	now := s.now()
	summary := r.Summary
	if !c.Report {
		// Without the report, the summary says what the codes and the
		// symptoms mean and nothing else the car's data showed.
		var parts []string
		for _, f := range r.Codes {
			parts = append(parts, f.Code+": "+f.Meaning)
		}
		for _, f := range r.Symptoms {
			parts = append(parts, f.Title+" (seen in the live data): "+f.Meaning)
		}
		summary = strings.Join(parts, " ")
	}
	l := store.Lead{OwnerID: ownerID, VehicleID: vehicleID, ShareReport: c.Report, ShareVIN: c.VIN, ShareLocation: c.Location,
		Make: v.Make, Model: v.Model, Year: v.Year, Class: need.Class, Summary: summary, FairLow: need.Fair.Low, FairHigh: need.Fair.High, Currency: need.Fair.Currency}
	for _, f := range r.Codes {
		l.Codes = append(l.Codes, f.Code)
	}
	for _, f := range r.Symptoms {
		l.Symptoms = append(l.Symptoms, f.Symptom)
	}
	// A symptom a code explains is that code's fault: watched with it.
	l.Symptoms = append(l.Symptoms, r.Confirmed...)
	for _, rp := range need.Repairs {
		l.Repairs = append(l.Repairs, rp.ID)
	}
	if c.VIN {
		l.VIN = v.VIN
	}
	if c.Location && need.HasLocation {
		l.ApproxLat, l.ApproxLon = need.Lat, need.Lon
	}
	if c.History {
		rec, err := s.record(ctx, v, c.VIN)
		if err != nil {
			return store.Lead{}, nil, err
		}
		l.ShareHistory = true
		if l.History, err = json.Marshal(rec); err != nil {
			return store.Lead{}, nil, err
		}
	}
	if c.Report {
		// The report as shops may read it: never the owner's own ids or
		// names, and the VIN only when ticked.
		shared := r
		shared.Vehicle.ID, shared.Vehicle.Name = "", ""
		if !c.VIN {
			shared.Vehicle.VIN, shared.VIN, shared.VINError = "", nil, ""
		}
		if l.Report, err = json.Marshal(shared); err != nil {
			return store.Lead{}, nil, err
		}
	}
	var offers []store.Offer
	for i, sg := range sugg {
		reasons := sg.Reasons
		if !c.Location {
			reasons = sg.withoutDistance() // the shop reads them: how far the car is is the owner's to share
		}
		o := store.Offer{ShopID: sg.ShopID, Rank: i + 1, State: OfferWaiting, Reasons: reasons}
		if i < fanout {
			due, err := s.answerBy(ctx, sg.ShopID, now)
			if err != nil {
				return store.Lead{}, nil, err
			}
			o.State, o.Sent, o.Due = OfferSent, now, due
		}
		offers = append(offers, o)
	}
	l, err = s.Store.AddLead(ctx, l, offers)
	if err != nil {
		return store.Lead{}, nil, err
	}
	for _, o := range offers[:min(len(offers), fanout)] {
		s.sendLead(ctx, l, o.ShopID, o.Due)
	}
	return l, sugg, nil
}

// answerBy is when a shop must answer a lead sent at sent: its promise
// counted in its opening hours.
func (s *Service) answerBy(ctx context.Context, shopID string, sent time.Time) (time.Time, error) {
	st, err := s.Store.Shop(ctx, shopID)
	if err != nil {
		return time.Time{}, err
	}
	sh, err := ReadShop(st)
	if err != nil {
		return time.Time{}, err
	}
	return sh.AnswerBy(sent, time.Duration(sh.Profile.ResponseMinutes)*time.Minute), nil
}

// ErrNoShop is a lead no shop can take.
var ErrNoShop = errors.New("booking: no shop can take this job")

func (s *Service) sendLead(ctx context.Context, l store.Lead, shopID string, due time.Time) {
	local := due.UTC()
	if st, err := s.Store.Shop(ctx, shopID); err == nil {
		if loc, err := time.LoadLocation(st.TimeZone); err == nil {
			local = due.In(loc) // the shop reads its deadline in its own time
		}
	}
	s.tellShop(shopID, Note{ID: noteID("lead", l.ID, shopID), Kind: "lead", LeadID: l.ID, Time: s.now(),
		Subject: fmt.Sprintf("New lead: %d %s %s, %s", l.Year, l.Make, l.Model, strings.Join(l.Codes, " ")),
		Text:    fmt.Sprintf("%s\nPlease answer with a quote and a slot, or decline, by %s.", l.Summary, local.Format("Mon 2 Jan 2006, 15:04 MST")),
		Lead:    viewFor(l, store.Offer{ShopID: shopID, State: OfferSent, Due: due})})
}

// ShopView is a lead as a shop sees it: only what the owner shared.
type ShopView struct {
	LeadID    string          `json:"lead_id"`
	Make      string          `json:"make"`
	Model     string          `json:"model"`
	Year      int             `json:"year"`
	Class     string          `json:"class"`
	Codes     []string        `json:"codes"`
	Symptoms  []string        `json:"symptoms,omitempty"` // faults seen in the live data
	Repairs   []string        `json:"repairs"`
	Summary   string          `json:"summary"`
	Fair      diagnosis.Money `json:"fair_price"`
	VIN       string          `json:"vin,omitempty"`
	ApproxLat float64         `json:"approx_lat,omitempty"`
	ApproxLon float64         `json:"approx_lon,omitempty"`
	Report    json.RawMessage `json:"report,omitempty"`
	History   json.RawMessage `json:"history,omitempty"` // the car's record, when the owner shared it
	State     string          `json:"state"`
	Due       time.Time       `json:"answer_by"`
	Quote     float64         `json:"quote,omitempty"`
	Slot      time.Time       `json:"slot,omitzero"`
	Reasons   []string        `json:"why_you,omitempty"`
	Created   time.Time       `json:"created"`
}

func viewFor(l store.Lead, o store.Offer) *ShopView {
	return &ShopView{LeadID: l.ID, Make: l.Make, Model: l.Model, Year: l.Year, Class: l.Class, Codes: l.Codes, Symptoms: l.Symptoms, Repairs: l.Repairs, Summary: l.Summary,
		Fair: diagnosis.Money{Low: l.FairLow, High: l.FairHigh, Currency: l.Currency}, VIN: l.VIN, ApproxLat: l.ApproxLat, ApproxLon: l.ApproxLon,
		Report: l.Report, History: l.History, State: o.State, Due: o.Due, Quote: o.Quote, Slot: o.Slot, Reasons: o.Reasons, Created: l.Created}
}

// ShopLead is a lead as the shop may see it.
func (s *Service) ShopLead(ctx context.Context, shopID, leadID string) (*ShopView, error) {
	l, o, err := s.Store.ShopLead(ctx, shopID, leadID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: lead %s", ErrNotYours, leadID)
	}
	if err != nil {
		return nil, err
	}
	return viewFor(l, o), nil
}

// Inbox lists the leads a shop holds.
func (s *Service) Inbox(ctx context.Context, shopID string) ([]*ShopView, error) {
	ls, os, err := s.Store.Inbox(ctx, shopID)
	if err != nil {
		return nil, err
	}
	out := make([]*ShopView, len(ls))
	for i := range ls {
		out[i] = viewFor(ls[i], os[i])
	}
	return out, nil
}

// Withdraw withdraws an owner's lead; the shops that held it are told
// and lose sight of it.
func (s *Service) Withdraw(ctx context.Context, ownerID, leadID string) error {
	l, err := s.Store.Lead(ctx, leadID)
	if errors.Is(err, store.ErrNotFound) || err == nil && l.OwnerID != ownerID {
		return fmt.Errorf("%w: lead %s", ErrNotYours, leadID)
	}
	if err != nil {
		return err
	}
	offers, err := s.Store.Offers(ctx, leadID)
	if err != nil {
		return err
	}
	if l.Status == LeadWithdrawn {
		return nil // withdrawn already, or released by a cancelled booking: nothing is shared
	}
	if err := s.Store.WithdrawLead(ctx, ownerID, leadID, leadChange(WithdrawOffer)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: the lead is %s: cancel the booking first, which releases what was shared", ErrIllegal, l.Status)
		}
		return err
	}
	for _, o := range offers {
		if o.State == OfferSent || o.State == OfferAccepted {
			s.tellShop(o.ShopID, Note{ID: noteID("withdrawn", leadID, o.ShopID), Kind: "lead-withdrawn", LeadID: leadID, Time: s.now(),
				Subject: "Lead withdrawn", Text: "The owner withdrew the lead; what was shared with you has been erased."})
		}
	}
	return nil
}

// Quote bounds: a quote outside them is a typo or worse.
const (
	quoteFloor = 0.25 // times the fair low end
	quoteCeil  = 4.0  // times the fair high end
	quoteMax   = 50000
)

// answerFrom is the state a shop answers an offer in.
var answerFrom, _ = mustMove(AcceptOffer)

// Answer records a shop's answer to a lead: accept with a quote (one
// amount before tax, a single line) and a slot, or decline. A lead not
// answered in time has moved on.
func (s *Service) Answer(ctx context.Context, shopID, leadID string, accept bool, quote float64, slot time.Time, note string) error {
	if !accept {
		return s.answer(ctx, shopID, leadID, nil, note)
	}
	return s.answer(ctx, shopID, leadID, &QuoteInput{Amount: quote, Slot: slot}, note)
}

// QuoteInput is a shop's itemised quote: its lines (or one amount), the
// slot it offers and a note.
type QuoteInput struct {
	Lines  []LineInput
	Amount float64 // instead of lines: the job at one price before tax
	Slot   time.Time
	Note   string
}

// Quote accepts a lead with an itemised quote and a slot.
func (s *Service) Quote(ctx context.Context, shopID, leadID string, q QuoteInput) error {
	return s.answer(ctx, shopID, leadID, &q, q.Note)
}

// answer accepts with q, or declines when q is nil.
func (s *Service) answer(ctx context.Context, shopID, leadID string, q *QuoteInput, note string) error {
	l, o, err := s.Store.ShopLead(ctx, shopID, leadID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: lead %s", ErrNotYours, leadID)
	}
	if err != nil {
		return err
	}
	now := s.now()
	switch {
	case o.State != answerFrom:
		return fmt.Errorf("%w: the lead is %s here; it can be answered only once", ErrIllegal, o.State)
	case now.After(o.Due):
		return fmt.Errorf("%w: the answer was due by %s and the lead has moved on", ErrIllegal, o.Due.Format(time.RFC3339))
	case len(note) > 2000:
		return invalid("note", "%d characters, at most 2000", len(note))
	}
	_, declined := mustMove(DeclineOffer)
	ans := store.Offer{LeadID: leadID, ShopID: shopID, State: declined, Note: strings.TrimSpace(note)}
	var t Totals
	if q != nil {
		sh, err := s.shopOf(ctx, shopID)
		if err != nil {
			return err
		}
		if ans.Lines, t, err = s.quoteLines(*q, l, sh.Profile); err != nil {
			return err
		}
		if err := s.checkSlot(ctx, sh, q.Slot); err != nil {
			return err
		}
		_, ans.State = mustMove(AcceptOffer)
		ans.Quote, ans.Slot, ans.TaxBP = t.Total.Units(), q.Slot.UTC(), sh.Profile.TaxBP()
	}
	if err := s.Store.AnswerOffer(ctx, ans, answerFrom); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %v", ErrIllegal, err)
		}
		return err
	}
	if q != nil {
		st, _ := s.Store.Shop(ctx, shopID)
		full, err := s.Store.Lead(ctx, leadID) // the shop's view hides the owner
		if err != nil {
			return err
		}
		tax := ""
		if t.Tax != 0 {
			tax = " with tax"
		}
		s.tellOwner(full.OwnerID, Note{ID: noteID("quote", leadID, shopID), Kind: "quote", LeadID: leadID, VehicleID: l.VehicleID, Time: now, Path: "/leads#lead-" + leadID,
			Subject: fmt.Sprintf("Quote from %s: %s %s", st.Name, l.Currency, t.Total),
			Text: fmt.Sprintf("%s can take your %s %s on %s for %s %s%s, in %d line(s) (fair range %s %.0f–%.0f).", st.Name, l.Make, l.Model, q.Slot.Format(time.RFC1123),
				l.Currency, t.Total, tax, len(ans.Lines), l.Currency, l.FairLow, l.FairHigh)})
	} else {
		s.moveOn(ctx, leadID)
	}
	return nil
}

// checkQuote refuses a quote no honest shop would give for the lead's
// job: not positive, above any job, or far outside the fair range.
func checkQuote(q float64, l store.Lead) error {
	switch {
	case math.IsNaN(q) || q <= 0:
		return invalid("quote", "%v: a quote must be a positive amount", q)
	case q > quoteMax:
		return invalid("quote", "%.2f is above %d, the most any job is quoted at", q, quoteMax)
	case l.FairHigh > 0 && (q < quoteFloor*l.FairLow || q > quoteCeil*l.FairHigh):
		return invalid("quote", "%.2f %s is far outside the fair range %.0f–%.0f for this job (accepted: %.0f–%.0f)", q, l.Currency, l.FairLow, l.FairHigh, quoteFloor*l.FairLow, quoteCeil*l.FairHigh)
	}
	return nil
}

// checkSlot checks a slot against the shop's hours and its load that day.
func (s *Service) checkSlot(ctx context.Context, sh Shop, slot time.Time) error {
	if err := sh.CheckSlot(slot, s.now()); err != nil {
		return err
	}
	day := sh.Day(slot)
	load, err := s.Store.DayLoad(ctx, sh.ID, day, day)
	if err != nil {
		return err
	}
	if load[day] >= sh.Profile.Capacity {
		return invalid("slot", "%s is fully booked on %s (%d jobs a day)", sh.Name, day, sh.Profile.Capacity)
	}
	return nil
}

// moveOn sends an open lead to the next waiting shops while fewer than
// Fanout are considering it. The store does it under the lead's lock, so
// servers moving one lead on at once send it to no more shops, and no
// fewer, than have dropped out.
func (s *Service) moveOn(ctx context.Context, leadID string) {
	l, err := s.Store.Lead(ctx, leadID)
	if err != nil || l.Status != LeadOpen {
		return
	}
	now := s.now()
	waiting, sent := mustMove(SendOffer)
	offers, err := s.Store.PromoteOffers(ctx, leadID, store.Promotion{LeadOpen: LeadOpen, Waiting: waiting, Sent: sent, Live: s.Fanout, Now: now,
		Due: func(shopID string) time.Time {
			due, err := s.answerBy(ctx, shopID, now)
			if err != nil {
				return now.Add(2 * time.Hour)
			}
			return due
		}})
	if err != nil {
		s.Log.Error("booking: moving a lead on", "lead", leadID, "err", err)
		return
	}
	for _, o := range offers {
		s.sendLead(ctx, l, o.ShopID, o.Due)
	}
}

// sweepBatch bounds the offers one sweep expires in one transaction.
const sweepBatch = 100

// Sweep expires the offers whose answer is overdue and moves their leads
// on to the next shops. Run it every minute or so, on any number of
// servers: they share the due offers out, so each expires once and its
// lead moves on once.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	from, to := mustMove(ExpireOffer)
	n := 0
	for {
		due, err := s.Store.ExpireDueOffers(ctx, from, to, s.now(), sweepBatch)
		if err != nil {
			return n, err
		}
		n += len(due)
		for _, o := range due {
			s.moveOn(ctx, o.LeadID)
		}
		if len(due) < sweepBatch || ctx.Err() != nil {
			return n, nil
		}
	}
}

// Quotes lists a lead's offers for its owner.
func (s *Service) Quotes(ctx context.Context, ownerID, leadID string) (store.Lead, []store.Offer, error) {
	l, err := s.Store.Lead(ctx, leadID)
	if errors.Is(err, store.ErrNotFound) || err == nil && l.OwnerID != ownerID {
		return store.Lead{}, nil, fmt.Errorf("%w: lead %s", ErrNotYours, leadID)
	}
	if err != nil {
		return store.Lead{}, nil, err
	}
	offers, err := s.Store.Offers(ctx, leadID)
	return l, offers, err
}

// Contact is what the owner chooses to tell the shop they book, beside
// their name: their email address, their phone number.
type Contact struct {
	ShareEmail bool `json:"share_email"`
	SharePhone bool `json:"share_phone"`
}

// contactOf fills a booking's contact as the owner chose, with the car's
// plate.
func (s *Service) contactOf(ctx context.Context, ownerID, vehicleID string, c Contact, b *store.Booking) error {
	o, err := s.Store.Owner(ctx, ownerID)
	if err != nil {
		return err
	}
	v, err := s.Store.Vehicle(ctx, vehicleID)
	if err != nil {
		return err
	}
	b.ContactName, b.Plate = o.Name, v.Plate
	if c.ShareEmail {
		b.ContactEmail = o.Email
	}
	if c.SharePhone {
		if o.Phone == "" {
			return invalid("share_phone", "there is no phone number on your account to share; add one on the account page")
		}
		b.ContactPhone = o.Phone
	}
	return nil
}

// Book books the quote a shop gave on the owner's lead, at its slot. The
// shop learns the owner's name, the contact the owner chose to give and
// the car's plate.
func (s *Service) Book(ctx context.Context, ownerID, leadID, shopID string, contact Contact) (store.Booking, error) {
	l, offers, err := s.Quotes(ctx, ownerID, leadID)
	if err != nil {
		return store.Booking{}, err
	}
	i := slices.IndexFunc(offers, func(o store.Offer) bool { return o.ShopID == shopID })
	if i < 0 || offers[i].State != OfferAccepted {
		return store.Booking{}, invalid("shop", "%s has no quote on this lead to book", shopID)
	}
	o := offers[i]
	st, err := s.Store.Shop(ctx, shopID)
	if err != nil {
		return store.Booking{}, err
	}
	sh, err := ReadShop(st)
	if err != nil {
		return store.Booking{}, err
	}
	if st.Status != store.ShopApproved {
		return store.Booking{}, invalid("shop", "%s takes no bookings now (%s)", sh.Name, st.Status)
	}
	if !o.Slot.After(s.now()) {
		return store.Booking{}, invalid("slot", "the quoted slot %s has passed; ask the shop for another", o.Slot.Format(time.RFC3339))
	}
	lines, err := s.Store.OfferLines(ctx, leadID, shopID)
	if err != nil {
		return store.Booking{}, err
	}
	if len(lines) == 0 {
		// A quote from before quotes had lines: the job at its price.
		q, _ := hundredths(o.Quote)
		lines = []store.Line{{Kind: JobLine, Description: "Repair as quoted", QtyHundredths: 100, UnitCents: q, AmountCents: q}}
	}
	nb := store.Booking{LeadID: leadID, ShopID: shopID, OwnerID: ownerID, VehicleID: l.VehicleID, Kind: "repair",
		Status: Requested, Slot: o.Slot, Day: sh.Day(o.Slot), Currency: l.Currency, Codes: l.Codes, Symptoms: l.Symptoms,
		Work: "Repair for " + strings.Join(append(slices.Clip(l.Codes), s.symptomTitles(l.Symptoms)...), ", ") + ": " + strings.Join(l.Repairs, ", "), Lines: lines, TaxBP: o.TaxBP}
	nb.Price = TotalsOf(lines, o.TaxBP).Total.Units()
	if err := s.contactOf(ctx, ownerID, l.VehicleID, contact, &nb); err != nil {
		return store.Booking{}, err
	}
	b, err := s.Store.BookLead(ctx, nb, sh.Profile.Capacity, leadChange(BookOffer))
	if err != nil {
		return store.Booking{}, s.bookingErr(err, sh)
	}
	for _, other := range offers {
		if other.ShopID != shopID && (other.State == OfferSent || other.State == OfferAccepted) {
			s.tellShop(other.ShopID, Note{ID: noteID("lead-closed", leadID, other.ShopID), Kind: "lead-closed", LeadID: leadID, Time: s.now(),
				Subject: "Lead closed", Text: "The owner booked another shop; what was shared with you is no longer available."})
		}
	}
	s.tellShop(shopID, Note{ID: noteID("booking", b.ID, Requested), Kind: "booking-requested", BookingID: b.ID, LeadID: leadID, Time: s.now(),
		Subject: fmt.Sprintf("Booking request: %d %s %s on %s", l.Year, l.Make, l.Model, o.Slot.In(sh.loc).Format("Mon 2 Jan 15:04")),
		Text:    fmt.Sprintf("The owner booked your quote of %s %.2f. Please accept the booking.", l.Currency, nb.Price), Path: "/shop/bookings/" + b.ID})
	return b, nil
}

func (s *Service) bookingErr(err error, sh Shop) error {
	switch {
	case errors.Is(err, store.ErrFull):
		return invalid("slot", "%s is fully booked that day (%d jobs a day): %v", sh.Name, sh.Profile.Capacity, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: %v", ErrIllegal, err)
	}
	return err
}

// BookPackage books a shop's maintenance package for the owner's car at
// a slot, at the shop's package price.
func (s *Service) BookPackage(ctx context.Context, ownerID, vehicleID, shopID, item string, slot time.Time, contact Contact) (store.Booking, error) {
	v, err := s.ownedVehicle(ctx, ownerID, vehicleID)
	if err != nil {
		return store.Booking{}, err
	}
	st, err := s.Store.Shop(ctx, shopID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Booking{}, invalid("shop", "no shop %s", shopID)
	}
	if err != nil {
		return store.Booking{}, err
	}
	sh, err := ReadShop(st)
	if err != nil {
		return store.Booking{}, err
	}
	class, err := s.Store.VehicleClass(ctx, vehicleID)
	if err != nil {
		return store.Booking{}, err
	}
	pr, ok := price(sh.Profile.Packages, item, class)
	if !ok {
		return store.Booking{}, invalid("item", "%s offers no %q package for a %s car", sh.Name, item, class)
	}
	if err := s.checkSlot(ctx, sh, slot); err != nil {
		return store.Booking{}, err
	}
	name := item
	if it, ok := ItemByID(item); ok {
		name = it.Name
	}
	if st.Status != store.ShopApproved {
		return store.Booking{}, invalid("shop", "%s takes no bookings yet", sh.Name)
	}
	pc, _ := hundredths(pr)
	lines := []store.Line{{Kind: JobLine, Description: name, QtyHundredths: 100, UnitCents: pc, AmountCents: pc}}
	nb := store.Booking{ShopID: shopID, OwnerID: ownerID, VehicleID: vehicleID, Kind: "maintenance", Status: Requested,
		Slot: slot.UTC(), Day: sh.Day(slot), Currency: sh.Profile.Currency, Work: name, Lines: lines, TaxBP: sh.Profile.TaxBP()}
	nb.Price = TotalsOf(lines, nb.TaxBP).Total.Units()
	if err := s.contactOf(ctx, ownerID, vehicleID, contact, &nb); err != nil {
		return store.Booking{}, err
	}
	b, err := s.Store.AddBooking(ctx, nb, sh.Profile.Capacity)
	if err != nil {
		return store.Booking{}, s.bookingErr(err, sh)
	}
	s.tellShop(shopID, Note{ID: noteID("booking", b.ID, Requested), Kind: "booking-requested", BookingID: b.ID, Time: s.now(),
		Subject: fmt.Sprintf("Booking request: %s for a %d %s %s on %s", name, v.Year, v.Make, v.Model, slot.In(sh.loc).Format("Mon 2 Jan 15:04")),
		Text:    fmt.Sprintf("Package price %s %.2f. Please accept the booking.", sh.Profile.Currency, nb.Price), Path: "/shop/bookings/" + b.ID})
	return b, nil
}

// Input carries what an action needs.
type Input struct {
	Slot     time.Time // schedule: the drop-off time (the booked slot when zero)
	Price    float64   // complete: the final price (the booked price when zero)
	Work     string    // complete: what was done
	Odometer float64   // complete: km at completion
	Stars    int       // review: 1–5
	Review   string    // review
	Reason   string    // cancel
}

// Act moves a booking: the caller is the owner (actorID an owner id) or
// the shop (a shop id); a booking that is not theirs is not found.
func (s *Service) Act(ctx context.Context, who Role, actorID, bookingID string, a Action, in Input) (store.Booking, error) {
	b, err := s.Store.Booking(ctx, bookingID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (who == OwnerRole && b.OwnerID != actorID || who == ShopRole && b.ShopID != actorID) {
		return store.Booking{}, fmt.Errorf("%w: booking %s", ErrNotYours, bookingID)
	}
	if err != nil {
		return store.Booking{}, err
	}
	to, err := Next(b.Status, a, who)
	if err != nil {
		return store.Booking{}, err
	}
	st, err := s.Store.Shop(ctx, b.ShopID)
	if err != nil {
		return store.Booking{}, err
	}
	sh, err := ReadShop(st)
	if err != nil {
		return store.Booking{}, err
	}
	c := store.BookingChange{From: b.Status, To: to, Actor: string(who)}
	switch a {
	case Schedule:
		slot := in.Slot
		if slot.IsZero() {
			slot = b.Slot
		}
		if err := sh.CheckSlot(slot, s.now()); err != nil {
			return store.Booking{}, err
		}
		c.Slot, c.Day, c.Capacity = slot.UTC(), sh.Day(slot), sh.Profile.Capacity
		c.Note = "drop-off " + slot.In(sh.loc).Format("Mon 2 Jan 15:04")
	case Complete:
		switch {
		case strings.TrimSpace(in.Work) == "":
			return store.Booking{}, invalid("work", "say what was done")
		case len(in.Work) > 4000:
			return store.Booking{}, invalid("work", "%d characters, at most 4000", len(in.Work))
		case in.Price < 0 || in.Price > quoteMax || math.IsNaN(in.Price):
			return store.Booking{}, invalid("price", "%v: want 0–%d (0 keeps the booked price)", in.Price, quoteMax)
		case in.Odometer < 0 || in.Odometer > 3_000_000 || math.IsNaN(in.Odometer):
			return store.Booking{}, invalid("odometer", "%v km", in.Odometer)
		}
		total, err := s.completionTotal(ctx, b, in.Price)
		if err != nil {
			return store.Booking{}, err
		}
		c.Work, c.Price, c.Completed, c.Odometer = strings.TrimSpace(in.Work), total.Total.Units(), s.now(), in.Odometer
		c.Note = fmt.Sprintf("completed at %s %s", b.Currency, total.Total)
		// Extras the owner has not answered are not part of the job.
		c.Withdraw = store.Move{From: LineProposed, To: LineWithdrawn}
		c.Lines = func(lines []store.Line) error {
			if got := TotalsOf(lines, b.TaxBP); got != total {
				return fmt.Errorf("%w: the approved lines changed meanwhile (now %s %s); reload and complete again", store.ErrConflict, b.Currency, got.Total)
			}
			return nil
		}
		if len(b.Codes) > 0 || len(b.Symptoms) > 0 {
			c.Verify = VerifyWatching
		}
	case Review:
		switch {
		case in.Stars < 1 || in.Stars > 5:
			return store.Booking{}, invalid("stars", "%d: want 1 to 5", in.Stars)
		case len(in.Review) > 4000:
			return store.Booking{}, invalid("review", "%d characters, at most 4000", len(in.Review))
		}
		c.Review = &store.Review{ShopID: b.ShopID, OwnerID: b.OwnerID, Stars: in.Stars, Body: strings.TrimSpace(in.Review)}
	case Cancel:
		r := strings.TrimSpace(in.Reason)
		if r == "" || len(r) > 1000 {
			return store.Booking{}, invalid("reason", "say why, in at most 1000 characters")
		}
		c.Cancel, c.Note = r, r
	}
	nb, err := s.Store.ChangeBooking(ctx, bookingID, c)
	if err != nil {
		return store.Booking{}, s.bookingErr(err, sh)
	}
	if a == Cancel && nb.LeadID != "" {
		// A cancelled booking releases what its lead shared: the shop keeps
		// the booking's record, not the VIN, the place or the report.
		if err := s.Store.WithdrawLead(ctx, nb.OwnerID, nb.LeadID, leadChange(ReleaseOffer)); err != nil && !errors.Is(err, store.ErrConflict) {
			s.Log.Error("booking: releasing a cancelled booking's lead", "booking", nb.ID, "lead", nb.LeadID, "err", err)
		}
	}
	if a == Complete && nb.Kind == "maintenance" {
		// The item is what was booked; the shop's words say what was done.
		if _, err := s.Store.AddService(ctx, store.Service{VehicleID: nb.VehicleID, Date: nb.Completed, OdometerKm: in.Odometer, Kind: itemOfWork(b.Work), Notes: nb.Work, BookingID: nb.ID}); err != nil {
			s.Log.Error("booking: recording the service", "booking", nb.ID, "err", err)
		}
	}
	s.announce(nb, sh, who, a)
	return nb, nil
}

// itemOfWork maps a maintenance booking's work back to its item id.
func itemOfWork(work string) string {
	for _, it := range Items() {
		if strings.HasPrefix(work, it.Name) {
			return it.ID
		}
	}
	return ""
}

// announce tells the other side what happened.
func (s *Service) announce(b store.Booking, sh Shop, who Role, a Action) {
	n := Note{ID: noteID("booking", b.ID, b.Status, fmt.Sprint(b.Updated.UnixMilli())), Kind: "booking-" + b.Status, BookingID: b.ID, LeadID: b.LeadID, VehicleID: b.VehicleID, Time: s.now()}
	slot := b.Slot.In(sh.loc).Format("Mon 2 Jan 15:04")
	switch a {
	case Accept:
		n.Subject, n.Text = sh.Name+" accepted your booking", fmt.Sprintf("Your booking for %s is accepted; the shop will confirm the drop-off time.", slot)
	case Schedule:
		n.Subject, n.Text = "Drop-off confirmed", fmt.Sprintf("%s expects your car on %s.", sh.Name, slot)
	case Start:
		n.Subject, n.Text = "Work has started", sh.Name+" has your car and started the work."
	case Complete:
		n.Subject, n.Text = "Your car is ready", fmt.Sprintf("%s finished: %s. Price %s %.2f; the bill is on the booking's page.", sh.Name, b.Work, b.Currency, b.Price)
		if b.Verify == VerifyWatching {
			n.Text += " Pitwall will watch the next drives to confirm the fix."
		}
	case Review:
		n.Subject, n.Text = "New review", "The owner reviewed the job."
	case Cancel:
		n.Subject, n.Text = "Booking cancelled", fmt.Sprintf("The booking for %s was cancelled by the %s: %s", slot, who, b.Cancel)
	}
	if who == ShopRole {
		n.Path = "/bookings/" + b.ID
		s.tellOwner(b.OwnerID, n)
	} else {
		n.Path = "/shop/bookings/" + b.ID
		s.tellShop(b.ShopID, n)
	}
}

// completionTotal is what a job is completed at: the approved total (the
// quoted and approved lines with their tax). A price given above it is
// refused, as is one below it (a discount is a line the owner approves).
func (s *Service) completionTotal(ctx context.Context, b store.Booking, price float64) (Totals, error) {
	lines, err := s.Store.BookingLines(ctx, b.ID)
	if err != nil {
		return Totals{}, err
	}
	var approved []store.Line
	for _, l := range lines {
		if l.Status != LineProposed {
			approved = append(approved, l)
		}
	}
	t := TotalsOf(approved, b.TaxBP)
	if price == 0 {
		return t, nil
	}
	p, _ := hundredths(price)
	switch {
	case Cents(p) > t.Total:
		return Totals{}, fmt.Errorf("%w: price: %s %s is above the approved total %s %s; propose the difference as an extra line with its reason for the owner to approve",
			ErrIllegal, b.Currency, Cents(p), b.Currency, t.Total)
	case Cents(p) < t.Total:
		return Totals{}, invalid("price", "%s %s is below the approved total %s %s; add a discount line for the owner to approve, or leave the price out to bill the approved total",
			b.Currency, Cents(p), b.Currency, t.Total)
	}
	return t, nil
}

// SaveShop checks and stores what a shop says of itself. A draft whose
// profile is now complete waits for an administrator's approval; an
// approved shop stays approved and its changes apply to new leads.
func (s *Service) SaveShop(ctx context.Context, sh store.Shop, p Profile) (Shop, error) {
	old, err := s.Store.Shop(ctx, sh.ID)
	if err != nil {
		return Shop{}, err
	}
	sh, err = NewShop(sh, p)
	if err != nil {
		return Shop{}, err
	}
	if err := s.Store.UpdateShop(ctx, sh); err != nil {
		return Shop{}, err
	}
	if old.Status == store.ShopDraft || old.Status == store.ShopRejected {
		if err := s.Store.SetShopStatus(ctx, sh.ID, old.Status, store.ShopPending, ""); err != nil {
			return Shop{}, err
		}
	}
	stored, err := s.Store.Shop(ctx, sh.ID)
	if err != nil {
		return Shop{}, err
	}
	return ReadShop(stored)
}

// ReviewShop moves a shop through approval: an administrator approves or
// rejects a pending shop, suspends an approved one or takes a suspended
// one back. The shop is told.
func (s *Service) ReviewShop(ctx context.Context, shopID, action, note string) (store.Shop, error) {
	st, err := s.Store.Shop(ctx, shopID)
	if err != nil {
		return store.Shop{}, err
	}
	steps := map[string]map[string]string{
		"approve": {store.ShopPending: store.ShopApproved, store.ShopSuspended: store.ShopApproved},
		"reject":  {store.ShopPending: store.ShopRejected},
		"suspend": {store.ShopApproved: store.ShopSuspended},
	}
	to, ok := steps[action][st.Status]
	if !ok {
		return store.Shop{}, fmt.Errorf("%w: the shop is %s and cannot be %s", ErrIllegal, st.Status, pastTense(action))
	}
	if (action == "reject" || action == "suspend") && strings.TrimSpace(note) == "" {
		return store.Shop{}, invalid("note", "say why, for the shop")
	}
	if err := s.Store.SetShopStatus(ctx, shopID, st.Status, to, note); err != nil {
		return store.Shop{}, fmt.Errorf("%w: %v", ErrIllegal, err)
	}
	text := map[string]string{
		store.ShopApproved:  "Your shop is approved: owners nearby can now send you leads and book you.",
		store.ShopRejected:  "Your shop was not approved: " + note + "\nCorrect the profile and save it to ask again.",
		store.ShopSuspended: "Your shop is suspended and gets no new leads: " + note,
	}[to]
	s.tellShop(shopID, Note{ID: noteID("shop", shopID, to, fmt.Sprint(s.now().UnixMilli())), Kind: "shop-" + to, Time: s.now(), Subject: "Pitwall: your shop is " + to, Text: text})
	st.Status, st.StatusNote = to, note
	return st, nil
}

func pastTense(action string) string {
	return map[string]string{"approve": "approved", "reject": "rejected", "suspend": "suspended"}[action]
}

// Browse lists approved shops for an owner choosing by hand: those that
// repair the system (any for ""), nearest first when the place is known.
func (s *Service) Browse(ctx context.Context, system string, lat, lon float64, hasPlace bool) ([]Browsed, error) {
	if system != "" && !slices.Contains(Systems, system) {
		return nil, invalid("system", "%q is none of %s", system, strings.Join(Systems, ", "))
	}
	cands, err := s.candidates(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Browsed
	for _, c := range cands {
		p := c.Shop.Profile
		if system != "" && !slices.Contains(p.Systems, system) {
			continue
		}
		b := Browsed{ShopID: c.Shop.ID, Name: c.Shop.Name, Address: c.Shop.Address, Phone: c.Shop.Phone, Systems: p.Systems, Brands: p.Brands,
			LabourRate: p.LabourRate, Currency: p.Currency, Reviews: c.Rating.Reviews, Respond: p.ResponseMinutes}
		if c.Rating.Reviews > 0 {
			b.Rating = math.Round(c.Rating.Mean*10) / 10
		}
		if hasPlace {
			b.DistanceKm = math.Round(haversine(lat, lon, c.Shop.Lat, c.Shop.Lon)*10) / 10
		}
		if slot, ok := c.Shop.Earliest(now, c.Load); ok {
			b.Earliest = slot
		}
		out = append(out, b)
	}
	slices.SortStableFunc(out, func(a, b Browsed) int {
		if c := cmp.Compare(a.DistanceKm, b.DistanceKm); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Browsed is an approved shop as an owner browsing sees it.
type Browsed struct {
	ShopID     string    `json:"shop_id"`
	Name       string    `json:"name"`
	Address    string    `json:"address,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	DistanceKm float64   `json:"distance_km,omitempty"`
	Systems    []string  `json:"systems"`
	Brands     []string  `json:"brands,omitempty"`
	LabourRate float64   `json:"labour_rate"`
	Currency   string    `json:"currency"`
	Rating     float64   `json:"rating,omitempty"` // the reviews' mean; absent without reviews
	Reviews    int       `json:"reviews"`
	Respond    int       `json:"response_minutes"`
	Earliest   time.Time `json:"earliest_slot,omitzero"`
}
