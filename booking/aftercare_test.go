package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// taxed is a shop profile with 23% tax.
func taxed(p *Profile) { p.TaxRate = 23 }

// itemisedBooking books an itemised quote for code at shop "a": a part
// and an hour of labour, the part with a 12-month warranty and named for
// the code's first repair. It returns the booking, started.
func (r *rig) itemisedBooking(t *testing.T, code string) (store.Booking, string) {
	t.Helper()
	ctx := context.Background()
	lead, sugg, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, r.report(t, code), Consent{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shop := sugg[0].ShopID
	var repair string
	for id := range r.svc.repairsFor(lead.Codes) {
		if slices.Contains(lead.Repairs, id) {
			repair = id
		}
	}
	part := lead.FairHigh - 110
	if part <= 10 {
		t.Fatalf("fair range %v–%v too small for the test's lines", lead.FairLow, lead.FairHigh)
	}
	slot := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	q := QuoteInput{Slot: slot, Lines: []LineInput{
		{Kind: PartLine, Description: "Replacement part", Repair: repair, Quantity: 1, UnitPrice: part, WarrantyMonths: 12},
		{Kind: LabourLine, Description: "Fitting", Quantity: 1},
	}}
	// A labour line at another rate than the shop's, a reason on a
	// quote's line and a part without a quantity are refused by field.
	for field, bad := range map[string]LineInput{
		"lines[1].unit_price": {Kind: LabourLine, Description: "Fitting", Quantity: 1, UnitPrice: 99},
		"lines[1].reason":     {Kind: LabourLine, Description: "Fitting", Quantity: 1, Reason: "why"},
		"lines[1].quantity":   {Kind: PartLine, Description: "Bolt", UnitPrice: 3},
		"lines[1].kind":       {Kind: "gift", Description: "Bolt", UnitPrice: 3},
	} {
		bq := q
		bq.Lines = []LineInput{q.Lines[0], bad}
		if err := r.svc.Quote(ctx, shop, lead.ID, bq); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("quote with %+v: %v, want %s", bad, err, field)
		}
	}
	if err := r.svc.Quote(ctx, shop, lead.ID, q); err != nil {
		t.Fatal(err)
	}
	b, err := r.svc.Book(ctx, r.owner.ID, lead.ID, shop, Contact{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Action{Accept, Schedule, Start} {
		if b, err = r.svc.Act(ctx, ShopRole, shop, b.ID, a, Input{}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	return b, shop
}

func TestItemisedQuoteExtrasCompletionAndPayment(t *testing.T) {
	r := newRig(t)
	r.st.SetClock(r.clock.now)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(taxed))
	b, shop := r.itemisedBooking(t, "P0128")
	_, bill, err := r.svc.Bill(ctx, OwnerRole, r.owner.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(bill.Lines) != 2 || bill.TaxRate != 23 || bill.Lines[1].Amount != 110 || bill.Lines[0].Fair == nil {
		t.Fatalf("bill %+v", bill)
	}
	sub := bill.Lines[0].Amount + bill.Lines[1].Amount
	approved := Cents(int64(sub*100+0.5)) + taxOn(Cents(int64(sub*100+0.5)), 2300)
	if bill.Total != approved.Units() || bill.Subtotal+bill.Tax != bill.Total {
		t.Fatalf("bill sums %v + %v = %v, want %v", bill.Subtotal, bill.Tax, bill.Total, approved)
	}
	// An extra without a reason is refused; with one it waits for the
	// owner and does not count.
	if _, err := r.svc.ProposeLine(ctx, shop, b.ID, LineInput{Kind: PartLine, Description: "Coolant", Quantity: 2, UnitPrice: 9.5}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an extra without a reason: %v", err)
	}
	if _, err := r.svc.ProposeLine(ctx, "b", b.ID, LineInput{Kind: PartLine, Description: "Coolant", Quantity: 2, UnitPrice: 9.5, Reason: "old"}); !errors.Is(err, ErrNotYours) {
		t.Errorf("another shop proposed an extra: %v", err)
	}
	extra, err := r.svc.ProposeLine(ctx, shop, b.ID, LineInput{Kind: PartLine, Description: "Coolant", Quantity: 2, UnitPrice: 9.5, Reason: "The old coolant is contaminated"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.svc.ProposeLine(ctx, shop, b.ID, LineInput{Kind: LabourLine, Description: "Flush", Quantity: 0.5, Reason: "Flush the system"})
	if err != nil {
		t.Fatal(err)
	}
	// The shop cannot complete above the approved total.
	withExtra := approved + Cents(1900) + taxOn(Cents(1900), 2300)
	if _, err := r.svc.Act(ctx, ShopRole, shop, b.ID, Complete, Input{Work: "done", Odometer: 50000, Price: withExtra.Units()}); !errors.Is(err, ErrIllegal) {
		t.Errorf("completed above the approved total: %v", err)
	}
	// Only the owner decides, once.
	if _, err := r.svc.DecideLine(ctx, "someone", b.ID, extra.N, true); !errors.Is(err, ErrNotYours) {
		t.Errorf("another owner approved: %v", err)
	}
	if _, err := r.svc.DecideLine(ctx, r.owner.ID, b.ID, extra.N, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.DecideLine(ctx, r.owner.ID, b.ID, extra.N, false); !errors.Is(err, ErrIllegal) {
		t.Errorf("decided twice: %v", err)
	}
	// Now the extra's total is allowed; a cent more is not; the second
	// extra, unanswered, is withdrawn.
	if _, err := r.svc.Act(ctx, ShopRole, shop, b.ID, Complete, Input{Work: "done", Odometer: 50000, Price: withExtra.Units() + 0.01}); !errors.Is(err, ErrIllegal) {
		t.Errorf("completed a cent above the approved total: %v", err)
	}
	if b, err = r.svc.Act(ctx, ShopRole, shop, b.ID, Complete, Input{Work: "Thermostat and coolant", Odometer: 50000, Price: withExtra.Units()}); err != nil {
		t.Fatal(err)
	}
	if b.Price != withExtra.Units() {
		t.Errorf("completed at %v, want %v", b.Price, withExtra)
	}
	lines, _ := r.st.BookingLines(ctx, b.ID)
	if lines[second.N-1].Status != LineWithdrawn {
		t.Errorf("an unanswered extra is %q after completion", lines[second.N-1].Status)
	}
	// Payments: not above the bill, not by an unknown method, not from
	// another shop.
	for _, bad := range []PaymentInput{{Method: "card", Amount: withExtra.Units() + 1}, {Method: "barter", Amount: 1}, {Method: "card", Amount: -1},
		{Method: "card", Amount: 1, PaidAt: r.clock.now().Add(time.Hour)}} {
		if _, err := r.svc.RecordPayment(ctx, shop, b.ID, bad); err == nil {
			t.Errorf("payment %+v accepted", bad)
		}
	}
	if _, err := r.svc.RecordPayment(ctx, "b", b.ID, PaymentInput{Method: "card", Amount: 1}); !errors.Is(err, ErrNotYours) {
		t.Errorf("another shop recorded a payment: %v", err)
	}
	if _, err := r.svc.RecordPayment(ctx, shop, b.ID, PaymentInput{Method: "card", Amount: withExtra.Units()}); err != nil {
		t.Fatal(err)
	}
	_, bill, _ = r.svc.Bill(ctx, ShopRole, shop, b.ID)
	if bill.Paid != withExtra.Units() || bill.Due != 0 || len(bill.Payments) != 1 || bill.Payments[0].Method != "card" {
		t.Errorf("paid bill %+v", bill)
	}
	evs, _ := r.st.BookingEvents(ctx, b.ID)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []string{store.EventLine, store.EventPayment, store.EventStatus} {
		if !slices.Contains(kinds, k) {
			t.Errorf("history lacks %s: %v", k, kinds)
		}
	}
}

// jpegWithExif is a small JPEG with an EXIF segment (orientation 6 and
// a GPS-like marker string) after its start.
func jpegWithExif(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, 0, color.RGBA{255, 0, 0, 255})
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	// TIFF little endian, one IFD entry: orientation (0x0112) SHORT 1 = 6.
	tiff := []byte{'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0}
	tiff = append(tiff, []byte("GPS 38.7223 -9.1393 SECRET")...)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	n := len(seg) + 2
	app1 := append([]byte{0xFF, 0xE1, byte(n >> 8), byte(n)}, seg...)
	return append(append(append([]byte{}, raw[:2]...), app1...), raw[2:]...)
}

func TestCleanPhoto(t *testing.T) {
	raw := jpegWithExif(t, 40, 20)
	if o := Orientation(raw); o != 6 {
		t.Fatalf("orientation %d", o)
	}
	ct, w, h, data, err := CleanPhoto(raw, "photos[0]")
	if err != nil {
		t.Fatal(err)
	}
	if ct != "image/jpeg" || w != 20 || h != 40 {
		t.Errorf("cleaned %s %d×%d, want image/jpeg turned upright to 20×40", ct, w, h)
	}
	if bytes.Contains(data, []byte("SECRET")) || bytes.Contains(data, []byte("Exif\x00\x00")) {
		t.Error("the cleaned photo keeps its EXIF")
	}
	var pbuf bytes.Buffer
	png.Encode(&pbuf, image.NewGray(image.Rect(0, 0, 3, 3))) //nolint:errcheck
	withTail := append(pbuf.Bytes(), []byte("hidden after the image")...)
	if ct, _, _, data, err := CleanPhoto(withTail, "p"); err != nil || ct != "image/png" || bytes.Contains(data, []byte("hidden")) {
		t.Errorf("png: %s %v, tail kept %v", ct, err, bytes.Contains(data, []byte("hidden")))
	}
	for name, c := range map[string]struct {
		raw  []byte
		want error
	}{
		"text":      {[]byte("GIF89a not really"), ErrPhotoType},
		"svg":       {[]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), ErrPhotoType},
		"too large": {append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, MaxPhotoBytes)...), ErrPhotoTooLarge},
		"truncated": {raw[:40], ErrInvalid},
	} {
		if _, _, _, _, err := CleanPhoto(c.raw, "photos[1]"); !errors.Is(err, c.want) || !strings.Contains(err.Error(), "photos[1]") {
			t.Errorf("%s: %v, want %v naming photos[1]", name, err, c.want)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := Orientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

func TestProgressSteps(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b, shop := r.itemisedBooking(t, "P0128")
	if _, err := r.svc.Progress(ctx, shop, b.ID, "polishing", "", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown step: %v", err)
	}
	if _, err := r.svc.Progress(ctx, shop, b.ID, "received", "", [][]byte{[]byte("not a photo")}); !errors.Is(err, ErrPhotoType) {
		t.Errorf("a text as photo: %v", err)
	}
	if _, err := r.svc.Progress(ctx, "b", b.ID, "received", "", nil); !errors.Is(err, ErrNotYours) {
		t.Errorf("another shop posted progress: %v", err)
	}
	p, err := r.svc.Progress(ctx, shop, b.ID, "diagnosed", "The thermostat sticks open", [][]byte{jpegWithExif(t, 8, 8)})
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := r.st.BookingProgress(ctx, b.ID)
	if len(ps) != 1 || ps[0].N != p.N || len(ps[0].Photos) != 1 || ps[0].Photos[0].ContentType != "image/jpeg" {
		t.Fatalf("progress %+v", ps)
	}
	ph, err := r.st.BookingPhoto(ctx, b.ID, ps[0].Photos[0].ID)
	if err != nil || bytes.Contains(ph.Data, []byte("SECRET")) {
		t.Errorf("stored photo: %v, metadata kept %v", err, bytes.Contains(ph.Data, []byte("SECRET")))
	}
	if _, err := r.svc.Act(ctx, ShopRole, shop, b.ID, Complete, Input{Work: "done", Odometer: 50000}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Progress(ctx, shop, b.ID, "ready", "", nil); !errors.Is(err, ErrIllegal) {
		t.Errorf("progress after completion: %v", err)
	}
}

func TestFollowupLowAnswerOpensComplaintThatEscalates(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(func(p *Profile) { p.ComplaintMinutes = 60 }))
	b, shop := r.itemisedBooking(t, "P0128")
	if _, err := r.svc.Act(ctx, ShopRole, shop, b.ID, Complete, Input{Work: "Thermostat", Odometer: 50000}); err != nil {
		t.Fatal(err)
	}
	no, yes := false, true
	if _, _, err := r.svc.AnswerFollowup(ctx, r.owner.ID, b.ID, FollowupAnswer{Fixed: &no, PriceAsAgreed: &yes, UseAgain: &no, Score: 1}); !errors.Is(err, ErrIllegal) {
		t.Errorf("answered a follow-up never asked: %v", err)
	}
	// Not before FollowupDays; then once, however often the sweep runs.
	r.clock.add(2 * 24 * time.Hour)
	if a, err := r.svc.SweepAftercare(ctx); err != nil || a.Followups != 0 {
		t.Fatalf("after 2 days: %+v %v", a, err)
	}
	r.clock.add(24*time.Hour + time.Minute)
	if a, err := r.svc.SweepAftercare(ctx); err != nil || a.Followups != 1 {
		t.Fatalf("after 3 days: %+v %v", a, err)
	}
	if a, _ := r.svc.SweepAftercare(ctx); a.Followups != 0 {
		t.Errorf("the follow-up was sent twice")
	}
	if _, _, err := r.svc.AnswerFollowup(ctx, r.owner.ID, b.ID, FollowupAnswer{Fixed: &no, UseAgain: &no, Score: 1}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "price_as_agreed") {
		t.Errorf("an answer lacking a question: %v", err)
	}
	if _, _, err := r.svc.AnswerFollowup(ctx, r.owner.ID, b.ID, FollowupAnswer{Fixed: &no, PriceAsAgreed: &yes, UseAgain: &no, Score: 6}); !errors.Is(err, ErrInvalid) {
		t.Errorf("score 6: %v", err)
	}
	_, c, err := r.svc.AnswerFollowup(ctx, r.owner.ID, b.ID, FollowupAnswer{Fixed: &no, PriceAsAgreed: &yes, UseAgain: &no, Score: 1, Comment: "Still cold"})
	if err != nil {
		t.Fatal(err)
	}
	if c == nil || c.Category != "quality" || c.Status != ComplaintOpen || c.Source != "followup" {
		t.Fatalf("complaint from a low answer %+v", c)
	}
	if _, _, err := r.svc.AnswerFollowup(ctx, r.owner.ID, b.ID, FollowupAnswer{Fixed: &yes, PriceAsAgreed: &yes, UseAgain: &yes, Score: 5}); !errors.Is(err, ErrIllegal) {
		t.Errorf("answered twice: %v", err)
	}
	if rt, _ := r.st.Ratings(ctx); rt[shop].Followups != 1 {
		t.Errorf("the follow-up does not count in the rating: %+v", rt[shop])
	}
	// The owner cannot answer for the shop, and a second complaint on
	// the booking waits for the first.
	if _, err := r.svc.ActOnComplaint(ctx, OwnerRole, r.owner.ID, c.ID, AnswerComplaint, "x"); !errors.Is(err, ErrIllegal) {
		t.Errorf("the owner answered: %v", err)
	}
	if _, err := r.svc.OpenComplaint(ctx, r.owner.ID, b.ID, "price", "again"); !errors.Is(err, ErrIllegal) {
		t.Errorf("a second complaint: %v", err)
	}
	// The promise is an hour of opening time: complained on a Friday
	// (after the follow-up), it is not due overnight.
	if !c.Due.After(c.Opened) {
		t.Fatalf("due %v opened %v", c.Due, c.Opened)
	}
	r.clock.t = c.Due.Add(-time.Minute)
	if a, _ := r.svc.SweepAftercare(ctx); a.Escalated != 0 {
		t.Fatalf("escalated before its promise passed")
	}
	r.clock.add(2 * time.Minute)
	if a, err := r.svc.SweepAftercare(ctx); err != nil || a.Escalated != 1 {
		t.Fatalf("after the promise: %+v %v", a, err)
	}
	esc, _ := r.st.Complaints(ctx, store.ComplaintFilter{Status: ComplaintEscalated})
	if len(esc) != 1 || esc[0].ID != c.ID {
		t.Fatalf("escalated %+v", esc)
	}
	// The shop may still answer; the administrators resolve it.
	if nc, err := r.svc.ActOnComplaint(ctx, ShopRole, shop, c.ID, AnswerComplaint, "We will look again for free"); err != nil || nc.Status != ComplaintEscalated || nc.Answer == "" {
		t.Fatalf("late answer %+v %v", nc, err)
	}
	if _, err := r.svc.ActOnComplaint(ctx, AdminRole, "admin", c.ID, ResolveComplaint, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("resolved without a word: %v", err)
	}
	if nc, err := r.svc.ActOnComplaint(ctx, AdminRole, "admin", c.ID, ResolveComplaint, "The shop redoes the job"); err != nil || nc.Status != ComplaintResolved {
		t.Fatalf("resolve %+v %v", nc, err)
	}
	at, err := r.svc.AnswerTimes(ctx, shop)
	if err != nil || at.Complaints.Answered != 1 || at.Complaints.WithinPromise != 0 {
		t.Errorf("answer times %+v %v", at, err)
	}
	evs, _ := r.st.BookingEvents(ctx, b.ID)
	var complaintSteps int
	for _, e := range evs {
		if e.Kind == store.EventComplaint {
			complaintSteps++
		}
	}
	if complaintSteps != 4 { // opened, escalated, answered, resolved
		t.Errorf("%d complaint steps in the history", complaintSteps)
	}
}

func TestReturningFaultOpensWarrantyClaimAndTheRecordSaysIt(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b, shop := r.itemisedBooking(t, "P0128")
	if _, err := r.svc.Act(ctx, ShopRole, shop, b.ID, Complete, Input{Work: "Thermostat", Odometer: 50000}); err != nil {
		t.Fatal(err)
	}
	r.clock.add(time.Hour)
	if err := r.svc.ObserveDriveCycle(ctx, r.car.ID, r.clock.now()); err != nil {
		t.Fatal(err)
	}
	r.clock.add(time.Hour)
	if err := r.svc.ObserveReport(ctx, r.car.ID, CodeReport{Active: []string{"P0128"}, At: r.clock.now(), OdometerKm: 50120}); err != nil {
		t.Fatal(err)
	}
	claims, err := r.st.WarrantyClaims(ctx, store.ClaimFilter{ShopID: shop})
	if err != nil || len(claims) != 1 {
		t.Fatalf("claims %+v %v", claims, err)
	}
	var ev Evidence
	if err := json.Unmarshal(claims[0].Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ev.Codes, []string{"P0128"}) || len(ev.Drives) != 1 || ev.OdometerKm != 50120 || len(ev.Lines) != 1 || !strings.Contains(ev.Warranty, "12 months") {
		t.Errorf("evidence %+v", ev)
	}
	// The same report again opens no second claim.
	r.svc.ObserveReport(ctx, r.car.ID, CodeReport{Active: []string{"P0128"}, At: r.clock.now()}) //nolint:errcheck
	if cs, _ := r.st.WarrantyClaims(ctx, store.ClaimFilter{ShopID: shop}); len(cs) != 1 {
		t.Errorf("%d claims", len(cs))
	}
	if _, err := r.svc.AnswerClaim(ctx, shop, claims[0].ID, false, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("declined without a reason: %v", err)
	}
	if _, err := r.svc.AnswerClaim(ctx, "b", claims[0].ID, true, ""); !errors.Is(err, ErrNotYours) {
		t.Errorf("another shop answered: %v", err)
	}
	if c, err := r.svc.AnswerClaim(ctx, shop, claims[0].ID, true, "Bring it in"); err != nil || c.Status != ClaimAccepted {
		t.Fatalf("accept %+v %v", c, err)
	}
	if _, err := r.svc.AnswerClaim(ctx, shop, claims[0].ID, true, ""); !errors.Is(err, ErrIllegal) {
		t.Errorf("answered twice: %v", err)
	}
	r.svc.Wait()
	if k := r.hooks.kinds(shop); !slices.Contains(k, "warranty-claim") {
		t.Errorf("the shop was told %v", k)
	}
	rec, err := r.svc.Record(ctx, r.owner.ID, r.car.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Entries) != 1 || rec.Entries[0].Verify != VerifyReturned || rec.Entries[0].OdometerKm != 50000 || len(rec.Entries[0].Lines) != 2 || rec.Vehicle.VIN != r.car.VIN {
		t.Errorf("record %+v", rec)
	}
	if _, err := r.svc.Record(ctx, "someone", r.car.ID); err == nil {
		t.Error("another owner read the record")
	}
}

func TestStopDrivingPutsRoadsideShopsFirst(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "near", 0.01, profile(nil))
	r.shop(t, "tow", 0.05, profile(func(p *Profile) { p.Roadside = []string{Towing} }))
	bad := profile(func(p *Profile) { p.Roadside = []string{"helicopter"} })
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "roadside[0]") {
		t.Errorf("unknown roadside service: %v", err)
	}
	rep := r.report(t, "P0128")
	v, _ := r.st.Vehicle(ctx, r.car.ID)
	need, err := r.svc.NeedFor(ctx, v, rep)
	if err != nil {
		t.Fatal(err)
	}
	cands, err := r.svc.candidates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	need.StopDriving = false
	if s := Match(need, cands, r.clock.now()); s[0].ShopID != "near" {
		t.Errorf("without a stop-driving fault the nearer shop should come first: %v", s[0].ShopID)
	}
	need.StopDriving = true
	s := Match(need, cands, r.clock.now())
	if s[0].ShopID != "tow" || !slices.Contains(s[0].Roadside, Towing) || s[0].DistanceKm == 0 {
		t.Errorf("stop-driving: first %+v", s[0])
	}
}

// A shop cannot post without end: a booking holds at most
// store.MaxBookingPhotos photos and store.MaxBookingSteps steps, and what
// it holds stays.
func TestProgressBounded(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b, shop := r.itemisedBooking(t, "P0128")
	photo := jpegWithExif(t, 8, 8)
	six := [][]byte{photo, photo, photo, photo, photo, photo}
	for i := 0; i < store.MaxBookingPhotos/len(six); i++ {
		if _, err := r.svc.Progress(ctx, shop, b.ID, "repairing", "", six); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	if _, err := r.svc.Progress(ctx, shop, b.ID, "repairing", "", [][]byte{photo}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "at most 60") {
		t.Fatalf("the 61st photo: %v", err)
	}
	steps := store.MaxBookingPhotos / len(six)
	for ; steps < store.MaxBookingSteps; steps++ {
		if _, err := r.svc.Progress(ctx, shop, b.ID, "testing", "", nil); err != nil {
			t.Fatalf("step %d: %v", steps+1, err)
		}
	}
	if _, err := r.svc.Progress(ctx, shop, b.ID, "testing", "", nil); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("step %d: %v", steps+1, err)
	}
	ps, _ := r.st.BookingProgress(ctx, b.ID)
	photos := 0
	for _, p := range ps {
		photos += len(p.Photos)
	}
	if len(ps) != store.MaxBookingSteps || photos != store.MaxBookingPhotos {
		t.Errorf("kept %d steps, %d photos", len(ps), photos)
	}
}
