package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// Line kinds.
const (
	PartLine     = "part"     // a part: quantity × price each
	LabourLine   = "labour"   // hours × the shop's labour rate
	JobLine      = "job"      // a job or package at a fixed price
	DiscountLine = "discount" // a reduction of the total
)

// LineKinds lists the kinds of line.
var LineKinds = []string{PartLine, LabourLine, JobLine, DiscountLine}

// Line statuses on a booking.
const (
	LineQuoted    = store.LineQuoted    // part of the booked quote
	LineProposed  = store.LineProposed  // an extra waiting for the owner
	LineApproved  = store.LineApproved  // an extra the owner approved
	LineDeclined  = store.LineDeclined  // an extra the owner declined
	LineWithdrawn = store.LineWithdrawn // an extra unanswered when the job was completed
)

// counts says whether a line is part of the price: a quote's lines and a
// booking's quoted and approved ones.
func counts(status string) bool {
	return status == "" || status == LineQuoted || status == LineApproved
}

// Limits of a line.
const (
	maxLines       = 50
	maxDescription = 200
	maxReason      = 500
	maxLabourHours = 100
	maxQuantity    = 1000
)

// LineInput is a line as a shop gives it, prices in the currency's unit
// before tax.
type LineInput struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
	// Repair, optional, is the knowledge base's repair the line is for
	// ("replace:thermostat"): the line is shown beside its fair range.
	Repair string `json:"repair,omitempty"`
	// Quantity is how many for a part, the hours for labour; 1 when left
	// out for a job or a discount.
	Quantity float64 `json:"quantity,omitempty"`
	// UnitPrice is the price each (part), the price (job) or the
	// reduction (discount, given positive). Labour is charged at the
	// shop's rate: leave it out.
	UnitPrice      float64 `json:"unit_price,omitempty"`
	WarrantyMonths int     `json:"warranty_months,omitempty"`
	WarrantyKm     int     `json:"warranty_km,omitempty"`
	// Reason says why an extra is needed (extras only).
	Reason string `json:"reason,omitempty"`
}

// Totals are a bill's sums in cents: the lines that count, the tax on
// them and the total.
type Totals struct {
	Subtotal, Tax, Total Cents
}

// TotalsOf is the one place a bill is summed: the lines that count
// (quoted and approved), the tax at bp basis points on their sum with one
// rounding, and the total, so that lines, tax and total always add up.
func TotalsOf(lines []store.Line, bp int) Totals {
	var t Totals
	for _, l := range lines {
		if counts(l.Status) {
			t.Subtotal += Cents(l.AmountCents)
		}
	}
	t.Tax = taxOn(t.Subtotal, bp)
	t.Total = t.Subtotal + t.Tax
	return t
}

// newLine checks a line and prices it for a shop, naming the bad field
// under field ("lines[2].quantity"). repairs are the job's possible
// repairs; a line may name one of them.
func newLine(in LineInput, field string, p Profile, repairs map[string]diagnosis.Repair) (store.Line, error) {
	f := func(sub string) string { return field + "." + sub }
	l := store.Line{Kind: in.Kind, Description: strings.TrimSpace(in.Description), Repair: strings.TrimSpace(in.Repair),
		WarrantyMonths: in.WarrantyMonths, WarrantyKm: in.WarrantyKm}
	if !slices.Contains(LineKinds, in.Kind) {
		return l, invalid(f("kind"), "%q: want part, labour, job or discount", in.Kind)
	}
	switch {
	case l.Description == "":
		return l, invalid(f("description"), "say what the line is (a part's name, the work)")
	case len(l.Description) > maxDescription:
		return l, invalid(f("description"), "%d characters, at most %d", len(l.Description), maxDescription)
	case l.Repair != "" && repairs[l.Repair].ID == "":
		var ids []string
		for id := range repairs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return l, invalid(f("repair"), "%q is not a repair for this job's codes and faults (%s)", l.Repair, orNone(ids))
	case in.WarrantyMonths < 0 || in.WarrantyMonths > 120:
		return l, invalid(f("warranty_months"), "%d: want 0–120", in.WarrantyMonths)
	case in.WarrantyKm < 0 || in.WarrantyKm > 500_000:
		return l, invalid(f("warranty_km"), "%d: want 0–500000", in.WarrantyKm)
	case in.Kind == DiscountLine && (in.WarrantyMonths > 0 || in.WarrantyKm > 0):
		return l, invalid(f("warranty_months"), "a discount carries no warranty")
	}
	qty, ok := hundredths(in.Quantity)
	if !ok {
		return l, invalid(f("quantity"), "%v is not a number", in.Quantity)
	}
	unit, ok := hundredths(in.UnitPrice)
	if !ok {
		return l, invalid(f("unit_price"), "%v is not a number", in.UnitPrice)
	}
	rate, _ := hundredths(p.LabourRate)
	switch in.Kind {
	case PartLine:
		if qty <= 0 || qty > maxQuantity*100 {
			return l, invalid(f("quantity"), "%v: want more than 0 and at most %d", in.Quantity, maxQuantity)
		}
	case LabourLine:
		if qty < 10 || qty > maxLabourHours*100 {
			return l, invalid(f("quantity"), "%v hours: want 0.1 to %d", in.Quantity, maxLabourHours)
		}
		if unit != 0 && unit != rate {
			return l, invalid(f("unit_price"), "labour is charged at the shop's rate, %s %s an hour; leave the price out", p.Currency, Cents(rate))
		}
		unit = rate
	case JobLine, DiscountLine:
		if qty == 0 {
			qty = 100
		}
		if qty != 100 {
			return l, invalid(f("quantity"), "%v: a %s line is one (leave the quantity out)", in.Quantity, in.Kind)
		}
	}
	if unit <= 0 || unit > quoteMax*100 {
		return l, invalid(f("unit_price"), "%v: want more than 0 and at most %d", in.UnitPrice, quoteMax)
	}
	l.QtyHundredths, l.UnitCents = qty, unit
	amount := times(qty, Cents(unit))
	if in.Kind == DiscountLine {
		amount = -amount
	}
	if amount > quoteMax*100 {
		return l, invalid(field, "%s is more than %d for one line", amount, quoteMax)
	}
	l.AmountCents = int64(amount)
	return l, nil
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// repairsFor are the repairs the knowledge base gives for codes (or
// symptoms, by their ids), by id:
// every likely cause's fix.
func (s *Service) repairsFor(codes []string) map[string]diagnosis.Repair {
	out := map[string]diagnosis.Repair{}
	for _, c := range codes {
		x, err := s.KB.Explain(c, s.Pricing)
		if err != nil {
			if x, _, err = s.KB.ExplainSymptom(c, s.Pricing); err != nil {
				continue
			}
		}
		for _, cause := range x.Causes {
			if _, ok := out[cause.Repair.ID]; !ok {
				out[cause.Repair.ID] = cause.Repair
			}
		}
	}
	return out
}

// Line is a line of a quote or a bill as owners and shops read it, beside
// the knowledge base's fair range when it has one.
type Line struct {
	N              int       `json:"n"`
	Kind           string    `json:"kind"`
	Description    string    `json:"description"`
	Repair         string    `json:"repair,omitempty"`
	Quantity       float64   `json:"quantity"`
	UnitPrice      float64   `json:"unit_price"`
	Amount         float64   `json:"amount"`
	WarrantyMonths int       `json:"warranty_months,omitempty"`
	WarrantyKm     int       `json:"warranty_km,omitempty"`
	Status         string    `json:"status,omitempty"` // a booking's: quoted, proposed, approved, declined, withdrawn
	Reason         string    `json:"reason,omitempty"`
	Proposed       time.Time `json:"proposed,omitzero"`
	Decided        time.Time `json:"decided,omitzero"`
	Fair           *Fair     `json:"fair,omitempty"`
	// Counts is whether the line is in the total.
	Counts bool `json:"counts"`
}

// Fair is the knowledge base's fair range for a line's repair: the parts
// (part lines), the labour at the local rates (labour lines, with the
// hours), or the whole repair (job lines), and where the line sits.
type Fair struct {
	Low      float64    `json:"low"`
	High     float64    `json:"high"`
	Currency string     `json:"currency"`
	Hours    [2]float64 `json:"hours,omitzero"`
	Where    string     `json:"where,omitempty"` // below, within, above
}

// Bill is a quote's or a booking's lines with their sums, and what was
// paid. Amounts are in the currency's unit, exact to the cent.
type Bill struct {
	Currency string  `json:"currency"`
	TaxRate  float64 `json:"tax_rate"` // percent
	Lines    []Line  `json:"lines"`
	Subtotal float64 `json:"subtotal"`
	Tax      float64 `json:"tax"`
	Total    float64 `json:"total"`
	// Pending is the total with tax of the extras waiting for the owner.
	Pending  float64   `json:"pending,omitempty"`
	Payments []Payment `json:"payments,omitempty"`
	Paid     float64   `json:"paid"`
	Due      float64   `json:"due"` // the total less what was paid
}

// Payment is a payment as the bill shows it.
type Payment struct {
	Method string    `json:"method"`
	Amount float64   `json:"amount"`
	Paid   time.Time `json:"paid_at"`
	Note   string    `json:"note,omitempty"`
}

// BillOf reads lines into a bill: each line priced and beside its fair
// range, the sums from TotalsOf. codes are the job's codes and symptom
// ids, for the fair ranges.
func (s *Service) BillOf(lines []store.Line, bp int, currency string, codes []string, payments []store.Payment) Bill {
	repairs := s.repairsFor(codes)
	t := TotalsOf(lines, bp)
	b := Bill{Currency: currency, TaxRate: float64(bp) / 100, Lines: []Line{}, Subtotal: t.Subtotal.Units(), Tax: t.Tax.Units(), Total: t.Total.Units()}
	var pending Cents
	for _, l := range lines {
		v := Line{N: l.N, Kind: l.Kind, Description: l.Description, Repair: l.Repair, Quantity: float64(l.QtyHundredths) / 100, UnitPrice: Cents(l.UnitCents).Units(),
			Amount: Cents(l.AmountCents).Units(), WarrantyMonths: l.WarrantyMonths, WarrantyKm: l.WarrantyKm, Status: l.Status, Reason: l.Reason,
			Proposed: l.Proposed, Decided: l.Decided, Counts: counts(l.Status)}
		if l.Status == LineProposed {
			pending += Cents(l.AmountCents)
		}
		if r, ok := repairs[l.Repair]; ok {
			v.Fair = s.fairFor(l, r, currency)
		}
		b.Lines = append(b.Lines, v)
	}
	if pending != 0 {
		b.Pending = (pending + taxOn(pending, bp)).Units()
	}
	var paid Cents
	for _, p := range payments {
		b.Payments = append(b.Payments, Payment{Method: p.Method, Amount: Cents(p.AmountCents).Units(), Paid: p.Paid, Note: p.Note})
		paid += Cents(p.AmountCents)
	}
	b.Paid, b.Due = paid.Units(), (t.Total - paid).Units()
	return b
}

// fairFor is a line's fair range from its repair.
func (s *Service) fairFor(l store.Line, r diagnosis.Repair, currency string) *Fair {
	f := &Fair{Currency: s.Pricing.Currency}
	switch l.Kind {
	case PartLine:
		f.Low, f.High = r.Parts.Low, r.Parts.High
	case LabourLine:
		f.Hours = r.Hours
		f.Low, f.High = r.Hours[0]*s.Pricing.LabourRate[0], r.Hours[1]*s.Pricing.LabourRate[1]
	case JobLine:
		f.Low, f.High = r.Total.Low, r.Total.High
	default:
		return nil
	}
	if f.High == 0 && l.Kind != LabourLine {
		return nil // no parts for this repair: nothing to compare
	}
	if f.Currency != currency {
		if l.Kind != LabourLine {
			return nil
		}
		f.Low, f.High, f.Currency = 0, 0, "" // the hours compare in any currency
		hours := float64(l.QtyHundredths) / 100
		f.Where = where(hours, r.Hours[0], r.Hours[1])
		return f
	}
	f.Where = where(Cents(l.AmountCents).Units(), f.Low, f.High)
	return f
}

func where(x, lo, hi float64) string {
	switch {
	case x < lo:
		return "below"
	case x > hi:
		return "above"
	}
	return "within"
}

// quoteLines checks a quote's lines (or makes one of a single amount)
// against the lead: every line valid, the total positive and within the
// bounds any job is quoted in, and near its fair range.
func (s *Service) quoteLines(q QuoteInput, l store.Lead, p Profile) ([]store.Line, Totals, error) {
	repairs := s.repairsFor(append(slices.Clip(l.Codes), l.Symptoms...))
	var lines []store.Line
	switch {
	case len(q.Lines) == 0:
		if err := checkQuote(q.Amount, l); err != nil {
			return nil, Totals{}, err
		}
		var names []string
		for _, id := range l.Repairs {
			if r, ok := repairs[id]; ok {
				names = append(names, r.Name)
			}
		}
		desc := "Repair as quoted"
		if len(names) > 0 {
			desc += ": " + strings.Join(names, "; ")
		}
		if r := []rune(desc); len(r) > maxDescription {
			desc = string(r[:maxDescription-1]) + "…"
		}
		line, err := newLine(LineInput{Kind: JobLine, Description: desc, UnitPrice: q.Amount}, "quote", p, repairs)
		if err != nil {
			return nil, Totals{}, err
		}
		lines = append(lines, line)
	case q.Amount != 0:
		return nil, Totals{}, invalid("quote", "give the quote as lines or as one amount, not both")
	case len(q.Lines) > maxLines:
		return nil, Totals{}, invalid("lines", "%d lines, at most %d", len(q.Lines), maxLines)
	default:
		for i, in := range q.Lines {
			if in.Reason != "" {
				return nil, Totals{}, invalid(fmt.Sprintf("lines[%d].reason", i), "a quote's lines need no reason; extras during the job do")
			}
			line, err := newLine(in, fmt.Sprintf("lines[%d]", i), p, repairs)
			if err != nil {
				return nil, Totals{}, err
			}
			lines = append(lines, line)
		}
	}
	t := TotalsOf(lines, p.TaxBP())
	switch {
	case t.Subtotal <= 0:
		return nil, Totals{}, invalid("lines", "the quote comes to %s: a quote must be a positive amount", t.Subtotal)
	case t.Subtotal > quoteMax*100:
		return nil, Totals{}, invalid("lines", "the quote comes to %s, above %d, the most any job is quoted at", t.Subtotal, quoteMax)
	case len(q.Lines) > 0 && l.FairHigh > 0 && (t.Subtotal.Units() < quoteFloor*l.FairLow || t.Subtotal.Units() > quoteCeil*l.FairHigh):
		return nil, Totals{}, invalid("lines", "the quote's %s %s before tax is far outside the fair range %.0f–%.0f for this job (accepted: %.0f–%.0f)",
			t.Subtotal, l.Currency, l.FairLow, l.FairHigh, quoteFloor*l.FairLow, quoteCeil*l.FairHigh)
	}
	return lines, t, nil
}

// Statuses in which the shop may propose extras and the owner answer them.
var duringJob = []string{Accepted, Scheduled, InProgress}

// bookingOf reads a booking the caller is party to: an owner's own, a
// shop's own; any other is ErrNotYours.
func (s *Service) bookingOf(ctx context.Context, who Role, actorID, bookingID string) (store.Booking, error) {
	b, err := s.Store.Booking(ctx, bookingID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (who == OwnerRole && b.OwnerID != actorID || who == ShopRole && b.ShopID != actorID || who != OwnerRole && who != ShopRole) {
		return store.Booking{}, fmt.Errorf("%w: booking %s", ErrNotYours, bookingID)
	}
	return b, err
}

func (s *Service) shopOf(ctx context.Context, id string) (Shop, error) {
	st, err := s.Store.Shop(ctx, id)
	if err != nil {
		return Shop{}, err
	}
	return ReadShop(st)
}

// illegalOf turns the store's refusal of a step (the booking moved on) into
// ErrIllegal.
func illegalOf(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %v", ErrIllegal, err)
	}
	return err
}

// ProposeLine adds an extra the shop needs during the job, with the
// reason; it counts only once the owner approves it. The owner is told
// in the app and by email.
func (s *Service) ProposeLine(ctx context.Context, shopID, bookingID string, in LineInput) (store.Line, error) {
	b, err := s.bookingOf(ctx, ShopRole, shopID, bookingID)
	if err != nil {
		return store.Line{}, err
	}
	if !slices.Contains(duringJob, b.Status) {
		return store.Line{}, fmt.Errorf("%w: a booking that is %s takes no new lines; extras are proposed while the job is accepted, scheduled or in progress", ErrIllegal, b.Status)
	}
	sh, err := s.shopOf(ctx, b.ShopID)
	if err != nil {
		return store.Line{}, err
	}
	reason := strings.TrimSpace(in.Reason)
	switch {
	case reason == "":
		return store.Line{}, invalid("reason", "say why the extra is needed; the owner reads it before approving")
	case len(reason) > maxReason:
		return store.Line{}, invalid("reason", "%d characters, at most %d", len(reason), maxReason)
	}
	l, err := newLine(in, "line", sh.Profile, s.repairsFor(append(slices.Clip(b.Codes), b.Symptoms...)))
	if err != nil {
		return store.Line{}, err
	}
	lines, err := s.Store.BookingLines(ctx, b.ID)
	if err != nil {
		return store.Line{}, err
	}
	if len(lines) >= maxLines*2 {
		return store.Line{}, invalid("line", "the booking has %d lines already", len(lines))
	}
	after := TotalsOf(append(slices.Clone(lines), l), b.TaxBP)
	if after.Subtotal < 0 || after.Subtotal > quoteMax*100 {
		return store.Line{}, invalid("line", "approved, it would bring the bill to %s before tax (want 0–%d)", after.Subtotal, quoteMax)
	}
	l.Status, l.Reason, l.Proposed = LineProposed, reason, s.now()
	withTax := Cents(l.AmountCents) + taxOn(Cents(l.AmountCents), b.TaxBP)
	l, err = s.Store.AddBookingLine(ctx, b.ID, duringJob, l, store.Event{Kind: store.EventLine, Actor: string(ShopRole),
		Note: fmt.Sprintf("Line {n} proposed: %s, %s %s with tax. Why: %s", l.Description, b.Currency, withTax, reason)})
	if err != nil {
		return store.Line{}, illegalOf(err)
	}
	s.tellOwner(b.OwnerID, Note{ID: noteID("extra", b.ID, fmt.Sprint(l.N)), Kind: "booking-extra", BookingID: b.ID, VehicleID: b.VehicleID, Time: s.now(),
		Path:      "/bookings/" + b.ID + "#line-" + fmt.Sprint(l.N),
		EmailLink: s.newExtraLink(ctx, b, l.N),
		Subject:   fmt.Sprintf("%s asks to add %s (%s %s)", sh.Name, l.Description, b.Currency, withTax),
		Text: fmt.Sprintf("%s proposes an extra line on your booking: %s, %s %s with tax. Why: %s\nIt is charged only if you approve it; approve or decline it on the booking's page.",
			sh.Name, l.Description, b.Currency, withTax, reason)})
	return l, nil
}

// DecideLine is the owner's answer to an extra: approved, it counts in
// the total the job may be completed at. The shop is told.
func (s *Service) DecideLine(ctx context.Context, ownerID, bookingID string, n int, approve bool) (store.Line, error) {
	b, err := s.bookingOf(ctx, OwnerRole, ownerID, bookingID)
	if err != nil {
		return store.Line{}, err
	}
	if !slices.Contains(duringJob, b.Status) {
		return store.Line{}, fmt.Errorf("%w: the booking is %s; its extras can no longer be answered", ErrIllegal, b.Status)
	}
	to, verb := LineApproved, "approved"
	if !approve {
		to, verb = LineDeclined, "declined"
	}
	var total Totals
	l, err := s.Store.DecideLine(ctx, b.ID, store.LineDecision{N: n, From: LineProposed, To: to, Statuses: duringJob,
		Price: func(lines []store.Line) float64 { total = TotalsOf(lines, b.TaxBP); return total.Total.Units() },
		Event: store.Event{Kind: store.EventLine, Actor: string(OwnerRole), Note: fmt.Sprintf("Line %d %s by the owner", n, verb)}})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Line{}, fmt.Errorf("%w: line %d of booking %s", ErrNotYours, n, bookingID)
		}
		return store.Line{}, illegalOf(err)
	}
	s.tellShop(b.ShopID, Note{ID: noteID("extra", b.ID, fmt.Sprint(n), verb), Kind: "booking-extra-" + verb, BookingID: b.ID, Time: s.now(),
		Path:    "/shop/bookings/" + b.ID,
		Subject: fmt.Sprintf("The owner %s %s", verb, l.Description),
		Text:    fmt.Sprintf("The owner %s line %d (%s). The approved total is now %s %s.", verb, n, l.Description, b.Currency, total.Total)})
	return l, nil
}

// Payment methods.
var PaymentMethods = []string{"cash", "card", "transfer", "other"}

// PaymentInput is a payment as the shop records it.
type PaymentInput struct {
	Method string    `json:"method"`
	Amount float64   `json:"amount"`
	PaidAt time.Time `json:"paid_at"` // now when left out
	Note   string    `json:"note"`
}

// RecordPayment records how a completed job's bill was paid; the payments
// together cannot exceed the bill. The owner is told.
func (s *Service) RecordPayment(ctx context.Context, shopID, bookingID string, in PaymentInput) (store.Payment, error) {
	b, err := s.bookingOf(ctx, ShopRole, shopID, bookingID)
	if err != nil {
		return store.Payment{}, err
	}
	done := []string{Completed, Reviewed}
	if !slices.Contains(done, b.Status) {
		return store.Payment{}, fmt.Errorf("%w: the booking is %s; record the payment once the job is completed", ErrIllegal, b.Status)
	}
	now := s.now()
	amount, ok := hundredths(in.Amount)
	paid := in.PaidAt.UTC().Truncate(time.Millisecond)
	if paid.IsZero() {
		paid = now
	}
	switch {
	case !slices.Contains(PaymentMethods, in.Method):
		return store.Payment{}, invalid("method", "%q: want cash, card, transfer or other", in.Method)
	case !ok || amount <= 0:
		return store.Payment{}, invalid("amount", "%v: want a positive amount", in.Amount)
	case paid.After(now.Add(5 * time.Minute)):
		return store.Payment{}, invalid("paid_at", "%s is in the future", paid.Format(time.RFC3339))
	case paid.Before(b.Created):
		return store.Payment{}, invalid("paid_at", "%s is before the booking was made", paid.Format(time.RFC3339))
	case len(in.Note) > 500:
		return store.Payment{}, invalid("note", "%d characters, at most 500", len(in.Note))
	}
	lines, err := s.Store.BookingLines(ctx, b.ID)
	if err != nil {
		return store.Payment{}, err
	}
	total := TotalsOf(lines, b.TaxBP).Total
	p, err := s.Store.AddPayment(ctx, b.ID, done, store.Payment{Method: in.Method, AmountCents: amount, Paid: paid, Note: strings.TrimSpace(in.Note)}, int64(total),
		store.Event{Kind: store.EventPayment, Actor: string(ShopRole), Note: fmt.Sprintf("Paid %s %s by %s", b.Currency, Cents(amount), in.Method)})
	if err != nil {
		return store.Payment{}, illegalOf(err)
	}
	s.tellOwner(b.OwnerID, Note{ID: noteID("paid", b.ID, fmt.Sprint(p.N)), Kind: "booking-paid", BookingID: b.ID, VehicleID: b.VehicleID, Time: now,
		Path: "/bookings/" + b.ID + "/bill", Subject: "Payment recorded",
		Text: fmt.Sprintf("The shop recorded your payment of %s %s by %s. The bill is on the booking's page.", b.Currency, Cents(amount), in.Method)})
	return p, nil
}

// Bill reads a booking's bill for its owner or its shop.
func (s *Service) Bill(ctx context.Context, who Role, actorID, bookingID string) (store.Booking, Bill, error) {
	b, err := s.bookingOf(ctx, who, actorID, bookingID)
	if err != nil {
		return store.Booking{}, Bill{}, err
	}
	bill, err := s.billOfBooking(ctx, b)
	return b, bill, err
}

func (s *Service) billOfBooking(ctx context.Context, b store.Booking) (Bill, error) {
	lines, err := s.Store.BookingLines(ctx, b.ID)
	if err != nil {
		return Bill{}, err
	}
	ps, err := s.Store.Payments(ctx, b.ID)
	if err != nil {
		return Bill{}, err
	}
	return s.BillOf(lines, b.TaxBP, b.Currency, append(slices.Clip(b.Codes), b.Symptoms...), ps), nil
}
