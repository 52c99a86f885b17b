package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/dongle"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/gateway/edge"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// embeddedConfig is a server with the embedded broker and stores in dir,
// posting its notifications to a webhook whose messages arrive on the
// channel.
func embeddedConfig(t *testing.T, dir string) (server.Config, chan alerting.Message) {
	hooks := make(chan alerting.Message, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m alerting.Message
		_ = json.NewDecoder(r.Body).Decode(&m)
		hooks <- m
	}))
	t.Cleanup(hook.Close)
	return server.Config{Store: server.StoreConfig{Path: filepath.Join(dir, "pitwall.db")},
		EmbeddedBroker: server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0"}, HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"},
		Alerting: server.AlertingConfig{Webhook: server.WebhookConfig{URL: hook.URL, Secret: "s"}}}, hooks
}

// onEach runs a server test on every engine the store runs on.
func onEach(t *testing.T, f func(t *testing.T, db server.StoreConfig)) {
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) {
			st := server.StoreConfig{Path: db.DSN}
			if db.Engine == "postgres" {
				st = server.StoreConfig{URL: db.DSN}
			}
			f(t, st)
		})
	}
}

// startCar runs a simulated overheating car behind an ELM327 emulator.
func startCar(t *testing.T) string {
	sc, err := car.Load("overheat")
	if err != nil {
		t.Fatal(err)
	}
	c := car.New(car.DefaultSpec(), sc, 1)
	clock := car.ManualClock()
	clock.Set(15 * time.Minute)
	em := dongle.New(dongle.Config{Profile: dongle.Profiles["genuine"], Car: c, Clock: clock, Modules: ecu.Modules(c, clock, ecu.Options{})})
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan struct{})
	go func() { _ = em.ListenTCP(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a }); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "tcp://" + (<-addr).String()
}

// runServer starts a server that stops when the test ends; its Run must
// end without an error.
func runServer(t *testing.T, cfg server.Config) (*server.Server, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, ctx
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A real agent reads a simulated car, through the embedded broker, into
// the embedded stores: telemetry as series, the trouble code as a
// message, the device's status; the server answers /readyz and /metrics.
func TestAgentThroughEmbeddedBroker(t *testing.T) {
	dir := t.TempDir()
	cfg, hooks := embeddedConfig(t, dir)
	s, ctx := runServer(t, cfg)
	base := "http://" + s.HTTPAddr()
	eventually(t, 10*time.Second, "ready", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })

	owner, _ := s.Store.AddOwner(ctx, store.Owner{Email: "ana@example.com", Name: "Ana"})
	van, _ := s.Store.AddVehicle(ctx, store.Vehicle{OwnerID: owner.ID, Name: "the van"})
	_, secret, err := s.Store.AddDevice(ctx, "car-7", van.ID)
	if err != nil {
		t.Fatal(err)
	}
	acfg := edge.Config{DeviceID: "car-7", Adapter: startCar(t), Broker: edge.BrokerConfig{URL: s.Broker.URL(), Password: secret},
		Spool: edge.SpoolConfig{Dir: filepath.Join(dir, "spool")}, Poll: edge.PollConfig{BatchInterval: 200 * time.Millisecond, DTCInterval: 5 * time.Second}}
	a, err := edge.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	adone := make(chan error, 1)
	go func() { adone <- a.Run(actx) }()

	coolant := "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
	eventually(t, 30*time.Second, "coolant readings and the trouble code", func() bool {
		v, err := s.Series.Latest(ctx, "car-7", []string{coolant})
		msgs, _ := s.Store.Messages(ctx, "car-7", string(wire.KindDTC), time.Time{}, 10)
		return err == nil && v[coolant].Value > 100 && len(msgs) > 0
	})
	// The trouble code the overheating car reports sets off the rules:
	// the lamp and the new code reach the webhook, with the code, and the
	// owner's feed.
	told := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !told["mil-on"] || !told["new-code"] {
		select {
		case m := <-hooks:
			for _, a := range m.Firing {
				told[a.Rule] = true
				if a.Rule == "mil-on" && (m.Device != "car-7" || m.Owner != owner.ID || len(a.Codes) == 0 || a.Codes[0] != "P0217") {
					t.Errorf("mil-on notification %+v", m)
				}
			}
		case <-deadline:
			t.Fatalf("the webhook heard only %v", told)
		}
	}
	if feed, err := s.Store.Feed(ctx, owner.ID, time.Time{}, 10); err != nil || len(feed) < 2 {
		t.Errorf("the owner's feed: %+v, %v", feed, err)
	}
	// The pre-diagnosis reads the stored report and the series: the code
	// explained, its freeze frame, the monitors, the coolant's history.
	rep, err := s.Diagnose(ctx, van.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Codes) == 0 || rep.Codes[0].Code != "P0217" || rep.Safe != "no" || rep.Codes[0].Freeze == nil || !rep.Readiness.Known {
		t.Errorf("pre-diagnosis: %+v", rep)
	}
	if len(rep.History) == 0 || rep.History[0].Signal != coolant || rep.History[0].Max <= 100 || rep.OdometerKm == 0 {
		t.Errorf("pre-diagnosis history %+v, odometer %v", rep.History, rep.OdometerKm)
	}
	stopAgent()
	if err := <-adone; err != nil {
		t.Fatal(err)
	}
	// Everything the agent had acknowledged is stored: its spool is empty
	// and the numbers reached the store.
	if st := a.Stats().Spool; st.Pending != 0 {
		t.Errorf("%d records left in the agent's spool", st.Pending)
	}
	eventually(t, 10*time.Second, "the device's status", func() bool {
		for _, d := range s.Ingest.Devices() {
			if d.Device == "car-7" && d.LastSeq >= a.Stats().Spool.LastSeq-1 && d.VIN == car.DefaultSpec().VIN {
				return true
			}
		}
		return false
	})
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "pitwall_ingest_samples_stored_total") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d\n%.300s", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	var ready map[string]string
	_, body = get(t, base+"/readyz")
	if err := json.Unmarshal([]byte(body), &ready); err != nil || ready["ingest"] != "ok" || ready["series"] != "ok" {
		t.Errorf("/readyz: %s", body)
	}
}

// /readyz says which part is not ready: here the broker the ingest
// should consume from is not there.
func TestReadyzNamesWhatIsDown(t *testing.T) {
	dir := t.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "tcp://" + l.Addr().String()
	l.Close()
	cfg := server.Config{Store: server.StoreConfig{Path: filepath.Join(dir, "pitwall.db")}, HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"}}
	cfg.Ingest.Broker.URL = dead
	s, _ := runServer(t, cfg)
	time.Sleep(300 * time.Millisecond)
	code, body := get(t, "http://"+s.HTTPAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected to "+dead) || !strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
}

func TestConfigErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(p, []byte(`store:
  path: /tmp/x.db
series:
  engine: cassandra
ingest:
  broker:
    url: mqtt//nowhere
  consumers: 0
  batch_delay: 1h
http:
  addr: localhost
diagnosis:
  currency: EUR
booking:
  fanout: 99
alerting:
  log_retention: 1h
`), 0o600)
	_, err := server.Load(p)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{p + ":4: series.engine: \"cassandra\"", p + ":7: ingest.broker.url", p + ":9: ingest.batch_delay: 1h0m0s: want 1ms to 10s", p + ":11: http.addr", p + ":12: diagnosis.per_usd: prices in EUR need the exchange rate", p + ":15: booking.fanout: 99", p + ":17: alerting.log_retention: 1h0m0s: want 48h to 8760h"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	os.WriteFile(p, []byte("ingest:\n  broker:\n    url: tcp://127.0.0.1:1883\n  batchsize: 5\n"), 0o600)
	if _, err := server.Load(p); err == nil || !strings.Contains(err.Error(), p+": line 4: field batchsize not found") {
		t.Fatalf("unknown key: %v", err)
	}
}

// A restart tells nothing twice: an overheat told before the restart and
// still hot after it is not told again; its end is told, with its start.
func TestRestartTellsNothingTwice(t *testing.T) { onEach(t, testRestartTellsNothingTwice) }

func testRestartTellsNothingTwice(t *testing.T, db server.StoreConfig) {
	dir := t.TempDir()
	cfg, hooks := embeddedConfig(t, dir)
	cfg.Store, cfg.Series.Path = db, filepath.Join(dir, "series.db")
	c := &coolantCar{t: t, cfg: cfg, device: "car-r", t0: time.Now().Add(-10 * time.Minute).Truncate(time.Second)}
	drive := func(_ uint64, from time.Duration, n int, value float64) { c.drive(from, n, value) }
	next := func() alerting.Message {
		select {
		case m := <-hooks:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no notification")
		}
		return alerting.Message{}
	}
	drive(1, 0, 30, 115)
	first := next()
	if len(first.Firing) != 1 || first.Firing[0].Rule != "overheat" {
		t.Fatalf("before the restart: %+v", first)
	}
	drive(2, time.Minute, 20, 116) // restarted, still hot
	select {
	case m := <-hooks:
		t.Fatalf("told again after the restart: %+v", m)
	default:
	}
	drive(3, 2*time.Minute, 40, 90) // cooled down
	end := next()
	if len(end.Resolved) != 1 || !end.Resolved[0].StartsAt.Equal(first.Firing[0].StartsAt) {
		t.Fatalf("the end: %+v", end)
	}
}

// Verify-the-fix is fed by the ingest: after a completed repair, trip
// ends count drive cycles and a returning code ends the watch.
func TestVerifyTheFixFromTheIngest(t *testing.T) { onEach(t, testVerifyTheFixFromTheIngest) }

func testVerifyTheFixFromTheIngest(t *testing.T, db server.StoreConfig) {
	dir := t.TempDir()
	cfg, _ := embeddedConfig(t, dir)
	cfg.Store, cfg.Series.Path = db, filepath.Join(dir, "series.db")
	s, ctx := runServer(t, cfg)
	st := s.Store
	owner, _ := st.AddOwner(ctx, store.Owner{Email: "ana@example.com"})
	car, _ := st.AddVehicle(ctx, store.Vehicle{OwnerID: owner.ID, Make: "Ford"})
	if _, _, err := st.AddDevice(ctx, "car-v", car.ID); err != nil {
		t.Fatal(err)
	}
	sh, _ := st.AddShop(ctx, store.Shop{ID: "shop", Name: "Shop", Lat: 1, Lon: 1, Profile: []byte(`{}`)})
	b, err := st.AddBooking(ctx, store.Booking{ShopID: sh.ID, OwnerID: owner.ID, VehicleID: car.ID, Kind: "repair", Status: "in_progress",
		Slot: time.Now(), Day: "2026-01-01", Price: 100, Currency: "USD", Codes: []string{"P0128"}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ChangeBooking(ctx, b.ID, store.BookingChange{From: "in_progress", To: "completed", Actor: "shop", Work: "thermostat",
		Completed: time.Now().Add(-time.Minute), Verify: "watching"}); err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	send := func(k wire.Kind, m wire.Message) {
		t.Helper()
		b, _ := wire.Encode(m)
		if err := s.Ingest.Deliver(ctx, wire.Topic("car-v", k), b); err != nil {
			t.Fatal(err)
		}
	}
	hdr := func() *wirepb.Header { seq++; return wire.NewHeader("car-v", 9, seq) }
	send(wire.KindStatus, &wirepb.Status{Header: hdr(), Online: true})
	send(wire.KindDTC, &wirepb.DTCReport{Header: hdr(), TimeMs: time.Now().UnixMilli()})
	send(wire.KindEvent, &wirepb.Event{Header: hdr(), TimeMs: time.Now().UnixMilli(), Kind: &wirepb.Event_TripEnd{TripEnd: &wirepb.TripEnd{DistanceKm: 12}}})
	eventually(t, 5*time.Second, "a drive cycle counted", func() bool {
		got, _ := st.Booking(ctx, b.ID)
		return got.VerifyCycles == 1 && got.Verify == "watching"
	})
	send(wire.KindDTC, &wirepb.DTCReport{Header: hdr(), TimeMs: time.Now().UnixMilli(), Pending: []*wirepb.Code{{Code: "P0128", Ecu: "7E8"}}})
	eventually(t, 5*time.Second, "the returned fault", func() bool {
		got, _ := st.Booking(ctx, b.ID)
		return got.Verify == "returned" && strings.Contains(got.VerifyNote, "P0128 came back")
	})
}
