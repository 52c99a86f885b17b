package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func completedBooking(t *testing.T, s *Store, o Owner, v Vehicle, sh Shop) Booking {
	t.Helper()
	ctx := context.Background()
	b, err := s.AddBooking(ctx, Booking{ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "in_progress", Slot: time.Now(), Day: "2026-11-24",
		Price: 123, Currency: "EUR", TaxBP: 2300, Lines: []Line{
			{Kind: "part", Description: "Thermostat", QtyHundredths: 100, UnitCents: 4550, AmountCents: 4550, WarrantyMonths: 12},
			{Kind: "labour", Description: "Fit it", QtyHundredths: 150, UnitCents: 3500, AmountCents: 5250},
		}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Lines, extras and payments are numbered under the booking's lock, each
// with a step of history, and a payment past the bill is refused.
func TestLinesAndPayments(t *testing.T) { onEach(t, testLinesAndPayments) }

func testLinesAndPayments(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b := completedBooking(t, s, o, v, sh)
	lines, err := s.BookingLines(ctx, b.ID)
	if err != nil || len(lines) != 2 || lines[0].N != 1 || lines[0].Status != LineQuoted || lines[1].QtyHundredths != 150 || lines[0].WarrantyMonths != 12 {
		t.Fatalf("lines %+v %v", lines, err)
	}
	if got, _ := s.Booking(ctx, b.ID); got.TaxBP != 2300 {
		t.Errorf("tax %d", got.TaxBP)
	}
	live := []string{"accepted", "in_progress"}
	l, err := s.AddBookingLine(ctx, b.ID, live, Line{Kind: "part", Description: "Coolant", QtyHundredths: 200, UnitCents: 900, AmountCents: 1800, Status: LineProposed, Reason: "dirty", Proposed: time.Now()},
		Event{Kind: EventLine, Actor: "shop", Note: "line {n} proposed"})
	if err != nil || l.N != 3 {
		t.Fatalf("extra %+v %v", l, err)
	}
	if _, err := s.AddBookingLine(ctx, b.ID, []string{"scheduled"}, Line{Kind: "part", Description: "x", Status: LineProposed, Proposed: time.Now()}, Event{Kind: EventLine}); !errors.Is(err, ErrConflict) {
		t.Errorf("a line on a booking in another status: %v", err)
	}
	sum := func(ls []Line) float64 {
		var c int64
		for _, l := range ls {
			if l.Status != LineProposed && l.Status != LineDeclined {
				c += l.AmountCents
			}
		}
		return float64(c) / 100
	}
	d := LineDecision{N: 3, From: LineProposed, To: LineApproved, Statuses: live, Price: sum, Event: Event{Kind: EventLine, Actor: "owner", Note: "approved"}}
	if l, err = s.DecideLine(ctx, b.ID, d); err != nil || l.Status != LineApproved || l.Decided.IsZero() {
		t.Fatalf("approve %+v %v", l, err)
	}
	if _, err := s.DecideLine(ctx, b.ID, d); !errors.Is(err, ErrConflict) {
		t.Errorf("approved twice: %v", err)
	}
	d.N = 9
	if _, err := s.DecideLine(ctx, b.ID, d); !errors.Is(err, ErrNotFound) {
		t.Errorf("no such line: %v", err)
	}
	if got, _ := s.Booking(ctx, b.ID); got.Price != 116 {
		t.Errorf("price after approval %v", got.Price)
	}
	// Completion withdraws what waits and checks the lines under the lock.
	if _, err := s.AddBookingLine(ctx, b.ID, live, Line{Kind: "part", Description: "Hose", QtyHundredths: 100, UnitCents: 1000, AmountCents: 1000, Status: LineProposed, Proposed: time.Now()}, Event{Kind: EventLine}); err != nil {
		t.Fatal(err)
	}
	seen := 0
	if _, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "in_progress", To: "completed", Actor: "shop", Completed: time.Now(), Work: "done",
		Withdraw: Move{From: LineProposed, To: LineWithdrawn}, Lines: func(ls []Line) error {
			for _, l := range ls {
				if l.Status == LineProposed {
					return errors.New("a proposed line survived")
				}
			}
			seen = len(ls)
			return nil
		}}); err != nil || seen != 4 {
		t.Fatalf("complete: %v (%d lines)", err, seen)
	}
	if _, err := s.AddPayment(ctx, b.ID, []string{"completed"}, Payment{Method: "card", AmountCents: 10000, Paid: time.Now()}, 14268, Event{Kind: EventPayment, Actor: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPayment(ctx, b.ID, []string{"completed"}, Payment{Method: "cash", AmountCents: 4269, Paid: time.Now()}, 14268, Event{Kind: EventPayment}); !errors.Is(err, ErrInvalid) {
		t.Errorf("paying past the bill: %v", err)
	}
	p, err := s.AddPayment(ctx, b.ID, []string{"completed"}, Payment{Method: "cash", AmountCents: 4268, Paid: time.Now()}, 14268, Event{Kind: EventPayment})
	if err != nil || p.N != 2 {
		t.Fatalf("second payment %+v %v", p, err)
	}
	ps, _ := s.Payments(ctx, b.ID)
	ev, _ := s.BookingEvents(ctx, b.ID)
	kinds := map[string]int{}
	for _, e := range ev {
		kinds[e.Kind]++
	}
	if len(ps) != 2 || kinds[EventLine] != 3 || kinds[EventPayment] != 2 || kinds[EventStatus] != 2 || ev[1].Note != "line 3 proposed" {
		t.Errorf("payments %+v, history %+v", ps, ev)
	}
	if v, _ := s.BookingVersion(ctx, b.ID); v != len(ev) {
		t.Errorf("version %d, %d events", v, len(ev))
	}
	// Many at once: the same versions; a booking without history and one
	// that does not exist are left out.
	other := completedBooking(t, s, o, v, sh)
	ids := []string{b.ID, other.ID, "no-such-booking"}
	for i := range 600 { // more than one query's worth of ids
		ids = append(ids, fmt.Sprintf("missing-%d", i))
	}
	vs, err := s.BookingVersions(ctx, ids)
	ov, _ := s.BookingVersion(ctx, other.ID)
	if err != nil || vs[b.ID] != len(ev) || vs[other.ID] != ov || len(vs) != map[bool]int{true: 2, false: 1}[ov > 0] {
		t.Errorf("versions %v %v; want %s %d, %s %d", vs, err, b.ID, len(ev), other.ID, ov)
	}
}

// Photos are kept with their step and read back only through their own
// booking.
func TestProgressPhotos(t *testing.T) { onEach(t, testProgressPhotos) }

func testProgressPhotos(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b := completedBooking(t, s, o, v, sh)
	other := completedBooking(t, s, o, v, sh)
	data := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3}
	p, err := s.AddProgress(ctx, b.ID, []string{"in_progress"}, Progress{Step: "diagnosed", Note: "stuck"},
		[]Photo{{PhotoInfo: PhotoInfo{ContentType: "image/png", Width: 2, Height: 1}, Data: data}}, Event{Kind: EventProgress, Actor: "shop"})
	if err != nil || p.N != 1 || len(p.Photos) != 1 {
		t.Fatalf("progress %+v %v", p, err)
	}
	if _, err := s.AddProgress(ctx, b.ID, []string{"in_progress"}, Progress{Step: "testing"}, nil, Event{Kind: EventProgress}); err != nil {
		t.Fatal(err)
	}
	steps, err := s.BookingProgress(ctx, b.ID)
	if err != nil || len(steps) != 2 || len(steps[0].Photos) != 1 || steps[0].Photos[0].Bytes != len(data) || len(steps[1].Photos) != 0 {
		t.Fatalf("steps %+v %v", steps, err)
	}
	ph, err := s.BookingPhoto(ctx, b.ID, p.Photos[0].ID)
	if err != nil || string(ph.Data) != string(data) || ph.ContentType != "image/png" {
		t.Fatalf("photo %+v %v", ph, err)
	}
	if _, err := s.BookingPhoto(ctx, other.ID, p.Photos[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a photo through another booking: %v", err)
	}
}

// A follow-up is claimed once however many servers send it, answered
// once, and its score counts in the shop's rating.
func TestFollowupOnce(t *testing.T) { onEach(t, testFollowupOnce) }

func testFollowupOnce(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b := completedBooking(t, s, o, v, sh)
	done := time.Now().Add(-4 * 24 * time.Hour)
	if _, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "in_progress", To: "completed", Completed: done, Work: "done"}); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueFollowups(ctx, []string{"completed", "reviewed"}, done.Add(-time.Hour), time.Now(), 10)
	if err != nil || len(due) != 1 || due[0].ID != b.ID {
		t.Fatalf("due %+v %v", due, err)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ClaimFollowup(ctx, Followup{BookingID: b.ID, OwnerID: o.ID, ShopID: sh.ID, Sent: time.Now()}, Event{Kind: EventFollowup, Actor: "system"})
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d servers sent the follow-up", won.Load())
	}
	if due, _ := s.DueFollowups(ctx, []string{"completed"}, done.Add(-time.Hour), time.Now(), 10); len(due) != 0 {
		t.Errorf("still due: %+v", due)
	}
	a := Followup{BookingID: b.ID, Answered: time.Now(), Fixed: false, PriceAgreed: true, UseAgain: false, Score: 2, Comment: "still hot"}
	if err := s.AnswerFollowup(ctx, a, Event{Kind: EventFollowup, Actor: "owner"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerFollowup(ctx, a, Event{Kind: EventFollowup}); !errors.Is(err, ErrConflict) {
		t.Errorf("answered twice: %v", err)
	}
	other := completedBooking(t, s, o, v, sh)
	if err := s.AnswerFollowup(ctx, Followup{BookingID: other.ID, Answered: time.Now(), Score: 5}, Event{Kind: EventFollowup}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a follow-up never asked: %v", err)
	}
	f, _ := s.Followup(ctx, b.ID)
	if f.Fixed || !f.PriceAgreed || f.Score != 2 || f.Comment != "still hot" || f.Answered.IsZero() {
		t.Errorf("follow-up %+v", f)
	}
	if _, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "completed", To: "reviewed", Review: &Review{ShopID: sh.ID, OwnerID: o.ID, Stars: 5}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Ratings(ctx); r[sh.ID].Reviews != 1 || r[sh.ID].Followups != 1 || r[sh.ID].Mean != 3.5 {
		t.Errorf("rating %+v", r[sh.ID])
	}
}

// One unresolved complaint per booking; moves are compare-and-set, and
// escalation finds the overdue ones.
func TestComplaintMoves(t *testing.T) { onEach(t, testComplaintMoves) }

func testComplaintMoves(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b := completedBooking(t, s, o, v, sh)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c, err := s.AddComplaint(ctx, Complaint{BookingID: b.ID, ShopID: sh.ID, OwnerID: o.ID, Category: "price", Body: "230, not 210", Source: "owner", Status: "open",
		Opened: now, Due: now.Add(time.Hour)}, Event{Kind: EventComplaint, Actor: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddComplaint(ctx, Complaint{BookingID: b.ID, ShopID: sh.ID, OwnerID: o.ID, Category: "delay", Body: "x", Source: "owner", Status: "open", Opened: now, Due: now},
		Event{Kind: EventComplaint}); !errors.Is(err, ErrExists) {
		t.Errorf("a second open complaint: %v", err)
	}
	if due, _ := s.DueComplaints(ctx, "open", now.Add(59*time.Minute), 10); len(due) != 0 {
		t.Errorf("due early: %+v", due)
	}
	due, err := s.DueComplaints(ctx, "open", now.Add(time.Hour), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %+v %v", due, err)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.MoveComplaint(ctx, c.ID, ComplaintMove{From: "open", To: "escalated", At: now.Add(time.Hour), Event: Event{Kind: EventComplaint, Actor: "system"}})
			if err == nil {
				won.Add(1)
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("escalated %d times", won.Load())
	}
	c, err = s.MoveComplaint(ctx, c.ID, ComplaintMove{From: "escalated", To: "escalated", At: now.Add(2 * time.Hour), Answer: "we will refund 20", Event: Event{Kind: EventComplaint}})
	if err != nil || c.Answered.IsZero() || c.Escalated.IsZero() || c.Answer == "" {
		t.Fatalf("answer after escalation %+v %v", c, err)
	}
	if c, err = s.MoveComplaint(ctx, c.ID, ComplaintMove{From: "escalated", To: "resolved", At: now.Add(3 * time.Hour), Resolution: "refunded", By: "admin", Event: Event{Kind: EventComplaint}}); err != nil || c.ResolvedBy != "admin" {
		t.Fatalf("resolve %+v %v", c, err)
	}
	if _, err := s.AddComplaint(ctx, Complaint{BookingID: b.ID, ShopID: sh.ID, OwnerID: o.ID, Category: "delay", Body: "again", Source: "owner", Status: "open", Opened: now, Due: now},
		Event{Kind: EventComplaint}); err != nil {
		t.Errorf("a new complaint once the first is resolved: %v", err)
	}
	rec, err := s.ComplaintAnswers(ctx, sh.ID, now.Add(-time.Hour))
	if err != nil || len(rec) != 1 || rec[0].Answered.Sub(rec[0].Asked) != 2*time.Hour {
		t.Errorf("answer records %+v %v", rec, err)
	}
	list, _ := s.Complaints(ctx, ComplaintFilter{ShopID: sh.ID})
	if len(list) != 2 {
		t.Errorf("complaints %+v", list)
	}
}

// A booking has one warranty claim; drives are counted once each; an
// owner's erasure keeps the shop's records without the owner.
func TestWarrantyClaimsAndErasure(t *testing.T) { onEach(t, testWarrantyClaimsAndErasure) }

func testWarrantyClaimsAndErasure(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b := completedBooking(t, s, o, v, sh)
	now := time.Now()
	for range 2 {
		if err := s.AddDrive(ctx, b.ID, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if ds, _ := s.Drives(ctx, b.ID); len(ds) != 1 {
		t.Errorf("drives %v", ds)
	}
	c := WarrantyClaim{BookingID: b.ID, ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Status: "open", Codes: []string{"P0217"}, Evidence: []byte(`{"codes":["P0217"]}`), Opened: now}
	c, err := s.AddWarrantyClaim(ctx, c, Event{Kind: EventWarranty, Actor: "system"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddWarrantyClaim(ctx, c, Event{Kind: EventWarranty}); !errors.Is(err, ErrExists) {
		t.Errorf("a second claim: %v", err)
	}
	c, err = s.AnswerWarrantyClaim(ctx, c.ID, "open", "accepted", "bring it in", now, Event{Kind: EventWarranty, Actor: "shop"})
	if err != nil || c.Status != "accepted" || string(c.Evidence) != `{"codes":["P0217"]}` {
		t.Fatalf("answer %+v %v", c, err)
	}
	if _, err := s.AnswerWarrantyClaim(ctx, c.ID, "open", "declined", "no", now, Event{Kind: EventWarranty}); !errors.Is(err, ErrConflict) {
		t.Errorf("answered twice: %v", err)
	}
	if _, err := s.AddComplaint(ctx, Complaint{BookingID: b.ID, ShopID: sh.ID, OwnerID: o.ID, Category: "quality", Body: "x", Source: "owner", Status: "open", Opened: now, Due: now}, Event{Kind: EventComplaint}); err != nil {
		t.Fatal(err)
	}
	l, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}, ShareHistory: true, History: []byte(`[]`)}, []Offer{{ShopID: sh.ID, Rank: 1, State: OfferSent}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AnswerOffer(ctx, Offer{LeadID: l.ID, ShopID: sh.ID, State: OfferAccepted, Quote: 100, Slot: now.Add(24 * time.Hour), TaxBP: 600,
		Lines: []Line{{Kind: "job", Description: "Repair", QtyHundredths: 100, UnitCents: 9434, AmountCents: 9434}}}, OfferSent); err != nil {
		t.Fatal(err)
	}
	if ls, err := s.OfferLines(ctx, l.ID, sh.ID); err != nil || len(ls) != 1 || ls[0].AmountCents != 9434 {
		t.Errorf("offer lines %+v %v", ls, err)
	}
	if got, _, _ := s.ShopLead(ctx, sh.ID, l.ID); string(got.History) != `[]` {
		t.Errorf("shared history %q", got.History)
	}
	if _, err := s.EraseOwner(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.WarrantyClaims(ctx, ClaimFilter{ShopID: sh.ID}); len(cs) != 1 || cs[0].OwnerID != Tombstone {
		t.Errorf("claims after erasure %+v", cs)
	}
	if cs, _ := s.Complaints(ctx, ComplaintFilter{ShopID: sh.ID}); len(cs) != 1 || cs[0].OwnerID != Tombstone {
		t.Errorf("complaints after erasure %+v", cs)
	}
}
