package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
)

// A car that overheats before it sets any code: the alert its live data
// raised puts the fault in the car's pre-diagnosis, explained and priced
// as a code would be, the cooling shops nearby are suggested, and the
// owner can ask them for quotes. Before symptoms the report held nothing
// to fix and a lead was refused.
func TestOverheatWithoutACodeFindsShops(t *testing.T) {
	dir := t.TempDir()
	cfg, hooks := embeddedConfig(t, dir)
	cfg.Series.Path = filepath.Join(dir, "series.db")
	s, ctx := runServer(t, cfg)

	st := s.Store
	o, err := st.AddOwner(ctx, store.Owner{Email: "ana@example.com", Name: "Ana"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Ford", Model: "Focus", Year: 2015, HomeLat: 38.72, HomeLon: -9.14, HasHome: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddDevice(ctx, "car-h", v.ID); err != nil {
		t.Fatal(err)
	}
	prof := booking.Profile{Systems: []string{"cooling"}, LabourRate: 90, Currency: "USD", Capacity: 3, ResponseMinutes: 60,
		Hours: map[string]string{"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00", "sat": "08:00-18:00", "sun": "08:00-18:00"}}
	if _, err := s.Booking.AddShop(ctx, store.Shop{ID: "radiators", Name: "Radiators", Lat: 38.73, Lon: -9.15}, prof); err != nil {
		t.Fatal(err)
	}
	prof.Systems = []string{"chassis"}
	if _, err := s.Booking.AddShop(ctx, store.Shop{ID: "tyres", Name: "Tyres", Lat: 38.72, Lon: -9.14}, prof); err != nil {
		t.Fatal(err)
	}

	aliases, _ := wire.NewAliases([]string{coolantSignal})
	sig, _ := aliases.ByName(coolantSignal)
	send := func(k wire.Kind, m wire.Message) {
		b, _ := wire.Encode(m)
		if err := s.Ingest.Deliver(ctx, wire.Topic("car-h", k), b); err != nil {
			t.Fatal(err)
		}
	}
	send(wire.KindStatus, &wirepb.Status{Header: wire.NewHeader("car-h", 1, 1), Online: true, Signals: aliases.Defs()})
	t0 := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	for i := range 40 {
		var b wire.Batch
		b.Add(sig, t0.Add(time.Duration(i)*time.Second), 96+float64(i))
		send(wire.KindTelemetry, b.Telemetry(wire.NewHeader("car-h", 1, uint64(i+2))))
	}
	select {
	case m := <-hooks:
		if len(m.Firing) != 1 || m.Firing[0].Rule != "overheat" {
			t.Fatalf("told: %+v", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the overheat was never told")
	}

	rep, err := s.Diagnose(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Codes) != 0 || len(rep.Symptoms) != 1 || rep.Symptoms[0].Symptom != "overheat" || rep.Symptoms[0].Rule != "overheat" {
		t.Fatalf("codes %v, symptoms %+v", rep.Codes, rep.Symptoms)
	}
	if rep.Safe != "no" || rep.Price.Low <= 0 || len(rep.History) == 0 || rep.History[0].Max < 130 {
		t.Errorf("safe %q, price %v, history %+v", rep.Safe, rep.Price, rep.History)
	}
	need, err := s.Booking.NeedFor(ctx, v, rep)
	if err != nil {
		t.Fatal(err)
	}
	sugg, err := s.Booking.Suggest(ctx, need)
	if err != nil {
		t.Fatal(err)
	}
	if len(sugg) != 1 || sugg[0].ShopID != "radiators" {
		t.Fatalf("suggested %+v for %v, want the cooling shop only", sugg, need.Systems)
	}
	l, _, err := s.Booking.CreateLead(ctx, o.ID, v.ID, rep, booking.Consent{Report: false}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Codes) != 0 || len(l.Repairs) == 0 || l.FairLow <= 0 {
		t.Errorf("the lead: codes %v, repairs %v, fair %v", l.Codes, l.Repairs, l.FairLow)
	}
	if want := "Engine overheating (seen in the live data): "; len(l.Summary) < len(want) || l.Summary[:len(want)] != want {
		t.Errorf("the summary shops read without the report: %q", l.Summary)
	}
}

// A weak battery is seen at a moment (an event: the alert fires and ends
// at once), not while it lasts: the car's pre-diagnosis still explains it
// for days after, until a repair of it is completed.
func TestWeakBatteryStaysInThePreDiagnosisUntilRepaired(t *testing.T) {
	dir := t.TempDir()
	cfg, hooks := embeddedConfig(t, dir)
	cfg.Series.Path = filepath.Join(dir, "series.db")
	s, ctx := runServer(t, cfg)
	st := s.Store
	o, _ := st.AddOwner(ctx, store.Owner{Email: "ana@example.com"})
	v, err := st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Ford"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddDevice(ctx, "car-b", v.ID); err != nil {
		t.Fatal(err)
	}
	send := func(k wire.Kind, m wire.Message) {
		b, _ := wire.Encode(m)
		if err := s.Ingest.Deliver(ctx, wire.Topic("car-b", k), b); err != nil {
			t.Fatal(err)
		}
	}
	send(wire.KindStatus, &wirepb.Status{Header: wire.NewHeader("car-b", 1, 1), Online: true})
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	send(wire.KindEvent, &wirepb.Event{Header: wire.NewHeader("car-b", 1, 2), TimeMs: at.UnixMilli(),
		Kind: &wirepb.Event_Battery{Battery: &wirepb.Battery{Condition: "resting-low", Volts: 11.8}}})
	select {
	case m := <-hooks:
		if len(m.Firing) != 1 || m.Firing[0].Rule != "battery-weak-at-rest" {
			t.Fatalf("told: %+v", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the weak battery was never told")
	}
	rep, err := s.Diagnose(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Symptoms) != 1 || rep.Symptoms[0].Symptom != "battery" || rep.Symptoms[0].Causes[0].Repair.ID != "replace:battery" {
		t.Fatalf("symptoms %+v", rep.Symptoms)
	}

	// A repair of it completed since: the pre-diagnosis has nothing left to fix.
	if _, err := st.AddShop(ctx, store.Shop{ID: "volts", Name: "Volts", Profile: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// A repair for P0562 (system voltage low, the battery's fault pattern)
	// counts as one of the weak battery.
	b, err := st.AddBooking(ctx, store.Booking{ShopID: "volts", OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "requested",
		Slot: time.Now(), Day: time.Now().Format("2006-01-02"), Currency: "USD", Codes: []string{"P0562"}, Work: "battery"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ChangeBooking(ctx, b.ID, store.BookingChange{From: "requested", To: "completed", Actor: "shop", Completed: time.Now(), Work: "New battery"}); err != nil {
		t.Fatal(err)
	}
	if rep, err = s.Diagnose(ctx, v.ID); err != nil || len(rep.Symptoms) != 0 {
		t.Fatalf("after the repair: %+v %v", rep.Symptoms, err)
	}
}

// An alert stored before its rule named a symptom (a server upgraded
// while the car overheated) is explained by its rule's symptom now.
func TestAlertStoredBeforeTheSymptomLabel(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := embeddedConfig(t, dir)
	cfg.Series.Path = filepath.Join(dir, "series.db")
	ctx := context.Background()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.Store
	o, _ := st.AddOwner(ctx, store.Owner{Email: "ana@example.com"})
	v, _ := st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Ford"})
	if _, _, err := st.AddDevice(ctx, "car-u", v.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	if err := st.SaveAlerts(ctx, []store.Alert{{Fingerprint: "fp-u", Device: "car-u", Rule: "overheat", Severity: "critical",
		Labels: map[string]string{"alertname": "overheat", "system": "cooling"}, State: "firing", StartsAt: now, Updated: now}}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Diagnose(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Symptoms) != 1 || rep.Symptoms[0].Symptom != "overheat" {
		t.Errorf("symptoms %+v", rep.Symptoms)
	}
}
