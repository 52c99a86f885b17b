package booking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// A Monday morning in Lisbon's time zone (UTC in winter).
var monday = time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)

var weekdayHours = map[string]string{"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00"}

func profile(mut func(*Profile)) Profile {
	p := Profile{Systems: []string{"cooling", "engine", "fuel-air", "emissions", "ignition", "electrical"}, LabourRate: 110, Currency: "USD",
		Hours: weekdayHours, Capacity: 2, ResponseMinutes: 120,
		Packages: []Price{{Job: "oil-service", Price: 120}, {Job: "oil-service", Class: "large", Price: 160}}}
	if mut != nil {
		mut(&p)
	}
	return p
}

type rig struct {
	svc   *Service
	st    *store.Store
	kb    *diagnosis.KB
	clock *fakeClock
	owner store.Owner
	car   store.Vehicle
	hooks *hookLog
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hookLog is a shop's webhook receiver that checks every signature.
type hookLog struct {
	mu    sync.Mutex
	notes map[string][]Note // by shop
	bad   int
}

func (h *hookLog) handler(shop, secret string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(r.Header.Get("X-Pitwall-Timestamp") + "."))
		mac.Write(body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.Header.Get("X-Pitwall-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			h.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n Note
		if err := json.Unmarshal(body, &n); err != nil {
			h.bad++
			return
		}
		h.notes[shop] = append(h.notes[shop], n)
	}
}

func (h *hookLog) kinds(shop string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, n := range h.notes[shop] {
		out = append(out, n.Kind)
	}
	return out
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigOn(t, filepath.Join(t.TempDir(), "pitwall.db"))
}

// newRigOn is a rig on the database dsn names.
func newRigOn(t *testing.T, dsn string) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kb, err := diagnosis.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, kb: kb, clock: &fakeClock{t: monday}, hooks: &hookLog{notes: map[string][]Note{}}}
	feed := &alerting.Feed{Store: st}
	r.svc = New(st, kb, diagnosis.DefaultPricing(), &Dispatch{Feed: feed})
	r.svc.Now = r.clock.now
	t.Cleanup(r.svc.Wait)
	if r.owner, err = st.AddOwner(ctx, store.Owner{Email: "ana@example.com", Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOwnerHome(ctx, r.owner.ID, 38.7223, -9.1393); err != nil {
		t.Fatal(err)
	}
	if r.car, err = st.AddVehicle(ctx, store.Vehicle{OwnerID: r.owner.ID, VIN: "1G1JC5444R7252367", Make: "Chevrolet", Model: "Cavalier", Year: 1994}); err != nil {
		t.Fatal(err)
	}
	return r
}

// shop adds a shop at an offset (degrees) from the owner's home, with a
// webhook that records what it is told.
func (r *rig) shop(t *testing.T, id string, dLat float64, p Profile) Shop {
	t.Helper()
	secret := "webhook-secret-of-" + id
	srv := httptest.NewServer(r.hooks.handler(id, secret))
	t.Cleanup(srv.Close)
	sh, err := r.svc.AddShop(context.Background(), store.Shop{ID: id, Name: "Shop " + id, Lat: 38.7223 + dLat, Lon: -9.1393, TimeZone: "Europe/Lisbon",
		WebhookURL: srv.URL, WebhookSecret: secret, Email: id + "@shops.example"}, p)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func (r *rig) report(t *testing.T, codes ...string) diagnosis.Report {
	t.Helper()
	in := diagnosis.Input{Vehicle: diagnosis.Vehicle{ID: r.car.ID, VIN: r.car.VIN, Make: r.car.Make, Model: r.car.Model, Year: r.car.Year}, At: r.clock.now(), MIL: true}
	for _, c := range codes {
		in.Codes = append(in.Codes, diagnosis.CodeState{Code: c, Status: "stored"})
	}
	rep, err := r.kb.Build(in, diagnosis.DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestShopProfileErrorsNameTheField(t *testing.T) {
	good := store.Shop{Name: "Oficina", Lat: 38.7, Lon: -9.1}
	cases := map[string]func(*Profile){
		"hours: a shop without opening hours": func(p *Profile) { p.Hours = nil },
		"hours.mon":                           func(p *Profile) { p.Hours = map[string]string{"mon": "18:00-08:00"} },
		"hours.monday":                        func(p *Profile) { p.Hours = map[string]string{"monday": "08:00-18:00"} },
		"capacity":                            func(p *Profile) { p.Capacity = 0 },
		"labour_rate":                         func(p *Profile) { p.LabourRate = -5 },
		"currency":                            func(p *Profile) { p.Currency = "euro" },
		"systems[1]":                          func(p *Profile) { p.Systems = []string{"cooling", "wheels"} },
		"packages[0].price":                   func(p *Profile) { p.Packages = []Price{{Job: "oil-service", Price: 0}} },
		"jobs[0].class":                       func(p *Profile) { p.Jobs = []Price{{Job: "fuel-cap", Class: "huge", Price: 20}} },
		"response_minutes":                    func(p *Profile) { p.ResponseMinutes = 1 },
	}
	for want, mut := range cases {
		_, err := NewShop(good, profile(mut))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	for want, sh := range map[string]store.Shop{
		"name":           {Lat: 1, Lon: 1},
		"location":       {Name: "x"},
		"timezone":       {Name: "x", Lat: 1, Lon: 1, TimeZone: "Mars/Olympus"},
		"webhook_url":    {Name: "x", Lat: 1, Lon: 1, WebhookURL: "ftp://x"},
		"webhook_secret": {Name: "x", Lat: 1, Lon: 1, WebhookURL: "https://shop.example/hook", WebhookSecret: "short"},
	} {
		if _, err := NewShop(sh, profile(nil)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// Every status and action, by both roles: exactly the lifecycle's steps
// are allowed.
func TestLifecycleRefusesEveryIllegalTransition(t *testing.T) {
	legal := map[[3]string]string{
		{Requested, "accept", "shop"}: Accepted, {Requested, "cancel", "shop"}: Cancelled, {Requested, "cancel", "owner"}: Cancelled,
		{Accepted, "schedule", "shop"}: Scheduled, {Accepted, "cancel", "shop"}: Cancelled, {Accepted, "cancel", "owner"}: Cancelled,
		{Scheduled, "schedule", "shop"}: Scheduled, {Scheduled, "start", "shop"}: InProgress, {Scheduled, "cancel", "shop"}: Cancelled, {Scheduled, "cancel", "owner"}: Cancelled,
		{InProgress, "complete", "shop"}: Completed,
		{Completed, "review", "owner"}:   Reviewed,
	}
	n := 0
	for _, st := range Statuses() {
		for _, a := range Actions() {
			for _, who := range []Role{OwnerRole, ShopRole} {
				to, err := Next(st, a, who)
				want, ok := legal[[3]string{st, string(a), string(who)}]
				switch {
				case ok && (err != nil || to != want):
					t.Errorf("%s %s by %s: %q %v, want %s", st, a, who, to, err, want)
				case !ok && !errors.Is(err, ErrIllegal):
					t.Errorf("%s %s by %s: allowed (to %q)", st, a, who, to)
				}
				n++
			}
		}
	}
	if n != 7*6*2 {
		t.Fatalf("%d combinations", n)
	}
}

func TestMatchRanksAndExplains(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "near", 0.01, profile(nil))                                                                                      // ~1 km
	r.shop(t, "cheap", 0.10, profile(func(p *Profile) { p.Jobs = []Price{{Job: "coolant-leak", Price: 90}} }))                 // ~11 km, fixed price
	r.shop(t, "far", 0.80, profile(nil))                                                                                       // ~89 km: out of reach
	r.shop(t, "brand", 0.05, profile(func(p *Profile) { p.Brands = []string{"Toyota"} }))                                      // does not take Chevrolets
	r.shop(t, "tyres", 0.02, profile(func(p *Profile) { p.Systems = []string{"chassis"} }))                                    // cannot do cooling
	r.shop(t, "chevy", 0.20, profile(func(p *Profile) { p.Brands = []string{"chevrolet"}; p.LabourRate = 95 }))                // specialist
	r.shop(t, "closed", 0.03, profile(func(p *Profile) { p.Hours = map[string]string{"sun": "10:00-12:00"}; p.Capacity = 1 })) // open Sundays only
	need, err := r.svc.NeedFor(ctx, r.car, r.report(t, "P0217"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(need.Systems, []string{"cooling"}) || len(need.Repairs) != 1 || need.Repairs[0].ID != "coolant-leak" || !need.HasLocation {
		t.Fatalf("need %+v", need)
	}
	sugg, err := r.svc.Suggest(ctx, need)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sugg {
		ids = append(ids, s.ShopID)
		if len(s.Reasons) < 4 || s.Earliest.IsZero() || s.Price <= 0 {
			t.Errorf("%s: %+v", s.ShopID, s)
		}
	}
	if slices.Contains(ids, "far") || slices.Contains(ids, "brand") || slices.Contains(ids, "tyres") {
		t.Errorf("suggested a shop that cannot do the job: %v", ids)
	}
	if !slices.Contains(ids, "near") || !slices.Contains(ids, "cheap") || !slices.Contains(ids, "chevy") || !slices.Contains(ids, "closed") {
		t.Fatalf("suggestions %v", ids)
	}
	byID := map[string]Suggestion{}
	for _, s := range sugg {
		byID[s.ShopID] = s
	}
	if !byID["cheap"].Fixed || byID["cheap"].Price != 90 || !strings.Contains(strings.Join(byID["cheap"].Reasons, ";"), "fixed price USD 90") {
		t.Errorf("cheap: %+v", byID["cheap"])
	}
	if !strings.Contains(strings.Join(byID["chevy"].Reasons, ";"), "specialises in Chevrolet") {
		t.Errorf("chevy: %+v", byID["chevy"].Reasons)
	}
	if !strings.Contains(strings.Join(byID["closed"].Reasons, ";"), "free Sun") {
		t.Errorf("closed: %v", byID["closed"].Reasons)
	}
	// The Sunday-only shop's first slot is six days out, the others today:
	// with everything else alike it ranks below the near shop.
	if slices.Index(ids, "near") > slices.Index(ids, "closed") {
		t.Errorf("ranking %v", ids)
	}
}

func TestLeadConsentQuoteBookAndVerify(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for i, id := range []string{"a", "b", "c", "d"} {
		r.shop(t, id, 0.01*float64(i+1), profile(nil))
	}
	rep := r.report(t, "P0420")
	lead, sugg, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, rep, Consent{Report: true, Location: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sugg) != 4 || lead.VIN != "" || lead.ApproxLat != 38.72 || len(lead.Report) == 0 {
		t.Fatalf("lead %+v, %d suggestions", lead, len(sugg))
	}
	first := sugg[0].ShopID
	// The first three shops see the lead, without the VIN; the fourth
	// waits its turn and sees nothing.
	view, err := r.svc.ShopLead(ctx, first, lead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if view.VIN != "" || view.Make != "Chevrolet" || !slices.Equal(view.Codes, []string{"P0420"}) || len(view.Report) == 0 || view.ApproxLat != 38.72 {
		t.Errorf("shop view %+v", view)
	}
	if strings.Contains(string(view.Report), r.car.VIN) || strings.Contains(string(view.Report), r.car.ID) {
		t.Errorf("the shared report carries the VIN or the owner's ids: %s", view.Report)
	}
	if _, err := r.svc.ShopLead(ctx, sugg[3].ShopID, lead.ID); !errors.Is(err, ErrNotYours) {
		t.Errorf("the waiting shop sees the lead: %v", err)
	}
	// Quotes outside any sane range, and slots that cannot be, name their
	// field.
	tomorrow10 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		quote float64
		slot  time.Time
		field string
	}{
		{0, tomorrow10, "quote"}, {-40, tomorrow10, "quote"}, {99999, tomorrow10, "quote"}, {5, tomorrow10, "quote"},
		{600, monday.Add(-time.Hour), "slot"}, {600, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), "slot: "}, // Saturday
		{600, time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC), "slot"}, {600, monday.AddDate(0, 3, 0), "slot"},
	} {
		err := r.svc.Answer(ctx, first, lead.ID, true, c.quote, c.slot, "")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("quote %v at %v: %v", c.quote, c.slot, err)
		}
	}
	if err := r.svc.Answer(ctx, first, lead.ID, true, 1450, tomorrow10, "OEM converter"); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Answer(ctx, first, lead.ID, true, 1400, tomorrow10, ""); !errors.Is(err, ErrIllegal) {
		t.Errorf("answered twice: %v", err)
	}
	// A decline moves the lead on to the waiting shop.
	if err := r.svc.Answer(ctx, sugg[1].ShopID, lead.ID, false, 0, time.Time{}, "too busy"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.ShopLead(ctx, sugg[3].ShopID, lead.ID); err != nil {
		t.Errorf("after a decline the next shop should have the lead: %v", err)
	}
	// Another owner can neither see the quotes nor book.
	other, _ := r.st.AddOwner(ctx, store.Owner{Email: "bo@example.com", Name: "Bo"})
	if _, _, err := r.svc.Quotes(ctx, other.ID, lead.ID); !errors.Is(err, ErrNotYours) {
		t.Errorf("another owner reads quotes: %v", err)
	}
	if _, err := r.svc.Book(ctx, other.ID, lead.ID, first, Contact{}); !errors.Is(err, ErrNotYours) {
		t.Errorf("another owner books: %v", err)
	}
	if _, err := r.svc.Book(ctx, r.owner.ID, lead.ID, sugg[1].ShopID, Contact{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("booked a shop that declined: %v", err)
	}
	b, err := r.svc.Book(ctx, r.owner.ID, lead.ID, first, Contact{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != Requested || b.Price != 1450 || !b.Slot.Equal(tomorrow10) {
		t.Fatalf("booking %+v", b)
	}
	if l, _ := r.st.Lead(ctx, lead.ID); l.Status != store.LeadBooked {
		t.Errorf("lead %s", l.Status)
	}
	// The owner cannot do the shop's steps, nor the shop the owner's.
	if _, err := r.svc.Act(ctx, OwnerRole, r.owner.ID, b.ID, Accept, Input{}); !errors.Is(err, ErrIllegal) {
		t.Errorf("owner accepted: %v", err)
	}
	if _, err := r.svc.Act(ctx, ShopRole, sugg[1].ShopID, b.ID, Accept, Input{}); !errors.Is(err, ErrNotYours) {
		t.Errorf("another shop accepted: %v", err)
	}
	steps := []struct {
		who Role
		a   Action
		in  Input
	}{
		{ShopRole, Accept, Input{}}, {ShopRole, Schedule, Input{}}, {ShopRole, Start, Input{}},
		{ShopRole, Complete, Input{Work: "Replaced the catalytic converter; cleared codes", Odometer: 48300}},
	}
	for _, s := range steps {
		actor := first
		if s.who == OwnerRole {
			actor = r.owner.ID
		}
		if s.a == Complete {
			// A mileage or price that is not a number is refused, naming it.
			for _, bad := range []Input{{Work: "x", Odometer: math.NaN()}, {Work: "x", Odometer: math.Inf(1)}, {Work: "x", Price: math.NaN()}} {
				if _, err := r.svc.Act(ctx, s.who, actor, b.ID, s.a, bad); !errors.Is(err, ErrInvalid) {
					t.Errorf("completing with %+v: %v", bad, err)
				}
			}
		}
		if b, err = r.svc.Act(ctx, s.who, actor, b.ID, s.a, s.in); err != nil {
			t.Fatalf("%s: %v", s.a, err)
		}
	}
	if b.Status != Completed || b.Verify != VerifyWatching || b.Price != 1450 {
		t.Fatalf("after completion %+v", b)
	}
	if _, err := r.svc.Act(ctx, ShopRole, first, b.ID, Cancel, Input{Reason: "oops"}); !errors.Is(err, ErrIllegal) {
		t.Errorf("cancelled a completed job: %v", err)
	}
	// Verify the fix: three drive cycles with the catalyst monitor
	// incomplete keep watching; once it completes, the repair holds.
	r.clock.add(2 * time.Hour)
	incomplete := []diagnosis.Monitor{{Name: "catalyst", Supported: true, Complete: false}}
	if err := r.svc.ObserveCodes(ctx, r.car.ID, nil, incomplete, r.clock.now()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r.clock.add(time.Hour)
		if err := r.svc.ObserveDriveCycle(ctx, r.car.ID, r.clock.now()); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ = r.st.Booking(ctx, b.ID); b.Verify != VerifyWatching || !strings.Contains(b.VerifyNote, "catalyst") {
		t.Fatalf("verify %q %q", b.Verify, b.VerifyNote)
	}
	r.svc.ObserveCodes(ctx, r.car.ID, nil, []diagnosis.Monitor{{Name: "catalyst", Supported: true, Complete: true}}, r.clock.now()) //nolint:errcheck
	r.clock.add(time.Hour)
	if err := r.svc.ObserveDriveCycle(ctx, r.car.ID, r.clock.now()); err != nil {
		t.Fatal(err)
	}
	if b, _ = r.st.Booking(ctx, b.ID); b.Verify != VerifyFixed {
		t.Fatalf("verify %q %q", b.Verify, b.VerifyNote)
	}
	// Review once; not twice.
	if _, err := r.svc.Act(ctx, OwnerRole, r.owner.ID, b.ID, Review, Input{Stars: 6}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "stars") {
		t.Errorf("6 stars: %v", err)
	}
	if _, err := r.svc.Act(ctx, OwnerRole, r.owner.ID, b.ID, Review, Input{Stars: 5, Review: "Fixed first time"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Act(ctx, OwnerRole, r.owner.ID, b.ID, Review, Input{Stars: 1}); !errors.Is(err, ErrIllegal) {
		t.Errorf("reviewed twice: %v", err)
	}
	if rt, _ := r.st.Ratings(ctx); rt[first].Reviews != 1 || rt[first].Mean != 5 {
		t.Errorf("ratings %+v", rt)
	}
	r.svc.Wait()
	if k := r.hooks.kinds(first); !slices.Contains(k, "lead") || !slices.Contains(k, "booking-requested") || !slices.Contains(k, "verify-fixed") || !slices.Contains(k, "booking-reviewed") {
		t.Errorf("the shop was told %v", k)
	}
	if r.hooks.bad != 0 {
		t.Errorf("%d webhook deliveries failed their signature", r.hooks.bad)
	}
	feed, _ := r.st.Feed(ctx, r.owner.ID, time.Time{}, 100)
	var told []string
	for _, it := range feed {
		told = append(told, it.State)
	}
	for _, want := range []string{"quote", "booking-accepted", "booking-scheduled", "booking-completed", "verify-fixed"} {
		if !slices.Contains(told, want) {
			t.Errorf("the owner was not told %s: %v", want, told)
		}
	}
}

func TestReturnedFault(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b := r.bookAndComplete(t, "P0171")
	r.clock.add(time.Hour)
	if err := r.svc.ObserveCodes(ctx, r.car.ID, []string{"P0171"}, nil, r.clock.now()); err != nil {
		t.Fatal(err)
	}
	b, _ = r.st.Booking(ctx, b.ID)
	if b.Verify != VerifyReturned || !strings.Contains(b.VerifyNote, "P0171 came back") {
		t.Errorf("verify %q %q", b.Verify, b.VerifyNote)
	}
}

func (r *rig) bookAndComplete(t *testing.T, code string) store.Booking {
	t.Helper()
	ctx := context.Background()
	lead, sugg, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, r.report(t, code), Consent{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shop := sugg[0].ShopID
	slot := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	if err := r.svc.Answer(ctx, shop, lead.ID, true, lead.FairHigh, slot, ""); err != nil {
		t.Fatal(err)
	}
	b, err := r.svc.Book(ctx, r.owner.ID, lead.ID, shop, Contact{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Action{Accept, Schedule, Start, Complete} {
		if b, err = r.svc.Act(ctx, ShopRole, shop, b.ID, a, Input{Work: "Repaired", Odometer: 50000}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	return b
}

// A lead withdrawn is gone for the shops, with what was shared.
func TestWithdrawErasesWhatWasShared(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	lead, _, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, r.report(t, "P0128"), Consent{Report: true, VIN: true, Location: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.svc.ShopLead(ctx, "a", lead.ID); err != nil || v.VIN != r.car.VIN {
		t.Fatalf("shop view %+v %v", v, err)
	}
	other, _ := r.st.AddOwner(ctx, store.Owner{Email: "eve@example.com"})
	if err := r.svc.Withdraw(ctx, other.ID, lead.ID); !errors.Is(err, ErrNotYours) {
		t.Errorf("another owner withdrew: %v", err)
	}
	if err := r.svc.Withdraw(ctx, r.owner.ID, lead.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.ShopLead(ctx, "a", lead.ID); !errors.Is(err, ErrNotYours) {
		t.Errorf("the shop still sees a withdrawn lead: %v", err)
	}
	if inbox, _ := r.svc.Inbox(ctx, "a"); len(inbox) != 0 {
		t.Errorf("inbox %+v", inbox)
	}
	l, _ := r.st.Lead(ctx, lead.ID)
	if l.VIN != "" || l.Report != nil || l.ApproxLat != 0 {
		t.Errorf("shared data kept after withdrawal: %+v", l)
	}
	if err := r.svc.Answer(ctx, "a", lead.ID, true, 300, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), ""); !errors.Is(err, ErrNotYours) {
		t.Errorf("answered a withdrawn lead: %v", err)
	}
	// Withdrawing again changes nothing and is no error: what was shared
	// is gone either way.
	if err := r.svc.Withdraw(ctx, r.owner.ID, lead.ID); err != nil {
		t.Errorf("withdrew twice: %v", err)
	}
	if err := r.svc.Withdraw(ctx, "someone-else", lead.ID); !errors.Is(err, ErrNotYours) {
		t.Errorf("another owner withdrew it: %v", err)
	}
}

// A shop that does not answer within its promise loses the lead to the
// next one.
func TestUnansweredLeadMovesOn(t *testing.T) {
	r := newRig(t)
	r.svc.Fanout = 1
	ctx := context.Background()
	r.shop(t, "slow", 0.01, profile(func(p *Profile) { p.ResponseMinutes = 30 }))
	r.shop(t, "next", 0.02, profile(nil))
	lead, sugg, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, r.report(t, "P0562"), Consent{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sugg[0].ShopID != "slow" {
		t.Fatalf("ranking %v", sugg)
	}
	if n, _ := r.svc.Sweep(ctx); n != 0 {
		t.Errorf("swept %d before the promise ran out", n)
	}
	r.clock.add(31 * time.Minute)
	if err := r.svc.Answer(ctx, "slow", lead.ID, true, 500, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), ""); !errors.Is(err, ErrIllegal) || !strings.Contains(err.Error(), "moved on") {
		t.Errorf("a late answer: %v", err)
	}
	if n, err := r.svc.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("swept %d, %v", n, err)
	}
	if _, err := r.svc.ShopLead(ctx, "next", lead.ID); err != nil {
		t.Errorf("the next shop does not have the lead: %v", err)
	}
	offers, _ := r.st.Offers(ctx, lead.ID)
	if offers[0].State != store.OfferExpired || offers[1].State != store.OfferSent {
		t.Errorf("offers %+v", offers)
	}
}

// Capacity: a day with no room left refuses a booking, naming the slot.
func TestFullDay(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(func(p *Profile) { p.Capacity = 1 }))
	slot := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	if _, err := r.svc.BookPackage(ctx, r.owner.ID, r.car.ID, "a", "oil-service", slot, Contact{}); err != nil {
		t.Fatal(err)
	}
	_, err := r.svc.BookPackage(ctx, r.owner.ID, r.car.ID, "a", "oil-service", slot.Add(2*time.Hour), Contact{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "slot") || !strings.Contains(err.Error(), "fully booked") {
		t.Errorf("second booking on a full day: %v", err)
	}
	if _, err := r.svc.BookPackage(ctx, r.owner.ID, r.car.ID, "a", "brake-fluid", slot.AddDate(0, 0, 1), Contact{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "item") {
		t.Errorf("a package the shop does not offer: %v", err)
	}
	// Moving a booking onto a full day fails too, in the store.
	b2, err := r.svc.BookPackage(ctx, r.owner.ID, r.car.ID, "a", "oil-service", slot.AddDate(0, 0, 1), Contact{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Act(ctx, ShopRole, "a", b2.ID, Accept, Input{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.Act(ctx, ShopRole, "a", b2.ID, Schedule, Input{Slot: slot}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "fully booked") {
		t.Errorf("rescheduled onto a full day: %v", err)
	}
	if b, _ := r.st.Booking(ctx, b2.ID); b.Status != Accepted || b.Day != "2026-11-25" {
		t.Errorf("a refused change changed the booking: %+v", b)
	}
}

func TestReminders(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	services := []store.Service{
		{Kind: "oil-service", Date: now.AddDate(0, -11, -10), OdometerKm: 40000},
		{Kind: "brake-fluid", Date: now.AddDate(-2, 0, -1), OdometerKm: 20000},
		{Kind: "air-filter", Date: now.AddDate(0, -3, 0), OdometerKm: 47000},
	}
	rs := Reminders("medium", 54500, services, []store.MaintenanceOverride{{Item: "air-filter", EveryKm: 5000, EveryMonths: 0}}, now)
	got := map[string]Reminder{}
	for _, r := range rs {
		got[r.Item] = r
	}
	if r := got["oil-service"]; r.Status != "soon" || r.DueKm != 55000 || !strings.Contains(r.Message, "due in 500 km or due on") {
		t.Errorf("oil: %+v", r)
	}
	if r := got["brake-fluid"]; r.Status != "due" || r.DueKm != 0 {
		t.Errorf("brake fluid: %+v", r)
	}
	if r := got["air-filter"]; r.Status != "due" || r.DueKm != 52000 || !strings.Contains(r.Message, "2500 km overdue") {
		t.Errorf("air filter (owner's 5,000 km): %+v", r)
	}
	if r := got["coolant"]; r.Status != "unknown" || !strings.Contains(r.Message, "No record") {
		t.Errorf("coolant: %+v", r)
	}
	if r := Reminders("large", 52500, services, nil, now); r[slices.IndexFunc(r, func(x Reminder) bool { return x.Item == "oil-service" })].DueKm != 52000 {
		t.Errorf("large cars change oil sooner")
	}
}

func TestRemindersSuggestPackages(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	r.shop(t, "b", 0.02, profile(func(p *Profile) { p.Packages = nil }))
	if _, err := r.st.AddService(ctx, store.Service{VehicleID: r.car.ID, Kind: "oil-service", Date: monday.AddDate(-1, 0, 0), OdometerKm: 30000}); err != nil {
		t.Fatal(err)
	}
	rs, err := r.svc.Reminders(ctx, r.owner.ID, r.car.ID, 46000)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rs, func(x Reminder) bool { return x.Item == "oil-service" })
	if rs[i].Status != "due" || len(rs[i].Shops) != 1 || rs[i].Shops[0].ShopID != "a" || rs[i].Shops[0].Price != 120 {
		t.Errorf("oil reminder %+v", rs[i])
	}
	if err := r.svc.Override(ctx, r.owner.ID, r.car.ID, "oil-service", 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty override: %v", err)
	}
	if err := r.svc.Override(ctx, r.owner.ID, r.car.ID, "wipers", 1000, 0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "item") {
		t.Errorf("unknown item: %v", err)
	}
}

// Booking one quote closes the lead for the other shops, quoted or not;
// without the report, the summary shares no data from the car.
func TestBookingClosesTheLeadForOthers(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	r.shop(t, "b", 0.02, profile(nil))
	rep := r.report(t, "P0171")
	rep.Codes[0].Causes[0].Evidence = "fuel trim +21.4 % at idle"
	rep.Summary = "P0171 … Why: fuel trim +21.4 % at idle."
	lead, _, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, rep, Consent{VIN: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(lead.Summary, "fuel trim") || !strings.Contains(lead.Summary, "P0171: ") {
		t.Errorf("summary without the report: %q", lead.Summary)
	}
	slot := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for _, s := range []string{"a", "b"} {
		if err := r.svc.Answer(ctx, s, lead.ID, true, lead.FairHigh, slot, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.svc.Book(ctx, r.owner.ID, lead.ID, "a", Contact{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.ShopLead(ctx, "b", lead.ID); !errors.Is(err, ErrNotYours) {
		t.Errorf("the shop not chosen still sees the lead and its VIN: %v", err)
	}
	if v, err := r.svc.ShopLead(ctx, "a", lead.ID); err != nil || v.VIN != r.car.VIN {
		t.Errorf("the chosen shop: %+v %v", v, err)
	}
	r.svc.Wait()
	if k := r.hooks.kinds("b"); !slices.Contains(k, "lead-closed") {
		t.Errorf("shop b was told %v", k)
	}
}

// A completed maintenance booking records the service it was for, so its
// reminder starts again, whatever words the shop used.
func TestCompletedPackageRecordsTheService(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b, err := r.svc.BookPackage(ctx, r.owner.ID, r.car.ID, "a", "oil-service", time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), Contact{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Action{Accept, Schedule, Start, Complete} {
		if _, err := r.svc.Act(ctx, ShopRole, "a", b.ID, a, Input{Work: "Changed the oil and filter, 5W-30", Odometer: 51000}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	svs, _ := r.st.Services(ctx, r.car.ID)
	if len(svs) != 1 || svs[0].Kind != "oil-service" || svs[0].OdometerKm != 51000 {
		t.Fatalf("services %+v", svs)
	}
	rs, err := r.svc.Reminders(ctx, r.owner.ID, r.car.ID, 51500)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(rs, func(x Reminder) bool { return x.Item == "oil-service" }); rs[i].Status != "ok" || rs[i].DueKm != 66000 {
		t.Errorf("oil reminder after the service: %+v", rs[i])
	}
}

// Without the car's readiness report, twice the drive cycles are needed
// before a repair counts as fixed.
func TestFixWithoutMonitorsNeedsMoreDrives(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b := r.bookAndComplete(t, "P0128")
	for i := 1; i <= 6; i++ {
		r.clock.add(time.Hour)
		if err := r.svc.ObserveDriveCycle(ctx, r.car.ID, r.clock.now()); err != nil {
			t.Fatal(err)
		}
		got, _ := r.st.Booking(ctx, b.ID)
		want := VerifyWatching
		if i == 6 {
			want = VerifyFixed
		}
		if got.Verify != want {
			t.Fatalf("after %d drives: %s (%s)", i, got.Verify, got.VerifyNote)
		}
	}
}

// The lead moves booking hands the store come from the lifecycle tables.
func TestLeadChanges(t *testing.T) {
	book := leadChange(BookOffer)
	if book.Lead != (store.Move{From: LeadOpen, To: LeadBooked}) || book.Chosen != (store.Move{From: OfferAccepted, To: OfferBooked}) ||
		book.OthersTo != OfferWithdrawn || !slices.Equal(book.OthersFrom, []string{OfferWaiting, OfferSent, OfferAccepted}) {
		t.Errorf("booking a lead: %+v", book)
	}
	w := leadChange(WithdrawOffer)
	if w.Lead != (store.Move{From: LeadOpen, To: LeadWithdrawn}) || w.Chosen != (store.Move{}) || w.OthersTo != OfferWithdrawn {
		t.Errorf("withdrawing a lead: %+v", w)
	}
	if _, _, ok := OfferMove("repaint"); ok {
		t.Error("an unknown event moves an offer")
	}
}
