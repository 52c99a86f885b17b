package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// revocationBound is how long another server may still take a revoked
// token or session: the web's cache of callers (docs/server.md).
const revocationBound = 5 * time.Second

// told counts what webhooks received: alert notifications by rule and
// state, and notes to shops by shop and kind.
type told struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *told) add(key string) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
}

func (c *told) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// Three servers on one PostgreSQL database, consuming one Mosquitto
// through a shared subscription: what must happen once happens once
// across them. An alert that every server holds is told once; a lead
// whose shop did not answer expires once and goes to the next shop once;
// an API token revoked on one server is refused by all three within the
// documented bound.
func TestThreeServersOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Mosquitto, PostgreSQL and three servers")
	}
	ctx := context.Background()
	dsn := testserver.PostgresURL(t)
	mq := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	counts := &told{n: map[string]int{}}
	alerts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m alerting.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("alert webhook: %v", err)
		}
		for _, a := range m.Firing {
			counts.add(a.Rule + ":firing")
		}
		for _, a := range m.Resolved {
			counts.add(a.Rule + ":resolved")
		}
	}))
	t.Cleanup(alerts.Close)
	shops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n booking.Note
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("shop webhook: %v", err)
		}
		counts.add(r.URL.Path + ":" + n.Kind)
	}))
	t.Cleanup(shops.Close)

	// What is in the database before the servers start: an owner with a
	// car and an API token, two shops, a lead whose first shop's answer is
	// overdue, and an alert nobody has told yet.
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	owner, _ := st.AddOwner(ctx, store.Owner{Email: "ana@example.com", Name: "Ana"})
	car, _ := st.AddVehicle(ctx, store.Vehicle{OwnerID: owner.ID, Make: "Chevrolet", Model: "Cavalier", Year: 1994})
	if _, _, err := st.AddDevice(ctx, "car-3", car.ID); err != nil {
		t.Fatal(err)
	}
	user, err := st.AddUser(ctx, store.User{Email: "ana@example.com", PasswordHash: "x", Role: "owner", OwnerID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	const token = "pw_three-servers-test-token-0123456789"
	sum := sha256.Sum256([]byte(token))
	tokenHash := hex.EncodeToString(sum[:])
	if err := st.AddToken(ctx, tokenHash, user.ID, "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"slow", "next"} {
		p := booking.Profile{Systems: []string{"engine"}, LabourRate: 100, Currency: "USD", Capacity: 3, ResponseMinutes: 30,
			Hours: map[string]string{"mon": "08:00-18:00"}}
		sh, err := booking.NewShop(store.Shop{ID: id, Name: "Shop " + id, Lat: 38.7, Lon: -9.1, WebhookURL: shops.URL + "/" + id, WebhookSecret: "shop-webhook-secret-0123"}, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddShop(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	lead, err := st.AddLead(ctx, store.Lead{OwnerID: owner.ID, VehicleID: car.ID, Codes: []string{"P0562"}, Make: "Chevrolet", Currency: "USD"},
		[]store.Offer{{ShopID: "slow", Rank: 1, State: store.OfferSent, Sent: now.Add(-time.Hour), Due: now.Add(-time.Minute)}, {ShopID: "next", Rank: 2, State: store.OfferWaiting}})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"alertname": "battery-weak-at-rest", "device": "car-3", "severity": "warning"}
	if err := st.SaveAlerts(ctx, []store.Alert{{Fingerprint: alerting.Fingerprint(labels), Device: "car-3", Vehicle: car.ID, Rule: "battery-weak-at-rest",
		Severity: "warning", Labels: labels, State: "firing", StartsAt: now.Add(-time.Minute), Summary: "weak", SendResolved: true, Updated: now}}); err != nil {
		t.Fatal(err)
	}

	// Three servers, started at once (one migrates, the others wait).
	var servers [3]*server.Server
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := server.Config{Store: server.StoreConfig{URL: dsn}, HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"},
				Series:   server.SeriesConfig{Path: filepath.Join(t.TempDir(), "series.db")},
				Alerting: server.AlertingConfig{Webhook: server.WebhookConfig{URL: alerts.URL, Secret: "s"}},
				Booking:  server.BookingConfig{SweepInterval: 200 * time.Millisecond}}
			cfg.Ingest.Broker.URL, cfg.Ingest.Group, cfg.Ingest.Broker.ClientID = mq.URL(), "ingest", fmt.Sprint("pitwall-test-", i)
			s, err := server.New(ctx, cfg)
			if err != nil {
				t.Error(err)
				return
			}
			servers[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		for _, s := range servers {
			if s != nil {
				s.Close()
			}
		}
		t.FailNow()
	}
	runCtx, cancel := context.WithCancel(ctx)
	var running sync.WaitGroup
	for _, s := range servers {
		running.Add(1)
		go func() {
			defer running.Done()
			if err := s.Run(runCtx); err != nil {
				t.Error(err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); running.Wait() })
	for i, s := range servers {
		eventually(t, 20*time.Second, fmt.Sprintf("server %d ready", i), func() bool {
			code, _ := get(t, "http://"+s.HTTPAddr()+"/readyz")
			return code == http.StatusOK
		})
	}

	// The car reports a code with the check-engine light on; the report
	// is delivered three times (QoS 1 resends), so each server in turn
	// receives it, fires the same alerts and tries to tell them.
	car3 := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL()).SetClientID("car-3").SetUsername("car-3"))
	if tok := car3.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connecting the car: %v", tok.Error())
	}
	defer car3.Disconnect(100)
	publish := func(k wire.Kind, m wire.Message) {
		t.Helper()
		b, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if tok := car3.Publish(wire.Topic("car-3", k), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publishing: %v", tok.Error())
		}
	}
	publish(wire.KindStatus, &wirepb.Status{Header: wire.NewHeader("car-3", 7, 1), Online: true})
	report := &wirepb.DTCReport{Header: wire.NewHeader("car-3", 7, 2), TimeMs: time.Now().UnixMilli(), Mil: true, Stored: []*wirepb.Code{{Code: "P0301", Ecu: "7E8"}}}
	for range len(servers) {
		publish(wire.KindDTC, report)
	}

	eventually(t, 30*time.Second, "the alerts told and the lead moved on", func() bool {
		return counts.get("mil-on:firing") > 0 && counts.get("battery-weak-at-rest:firing") > 0 && counts.get("/next:lead") > 0
	})
	// Long enough for every server to have had its turn: each sweeps
	// every 200 ms and looks at its alerts within a second.
	time.Sleep(3 * time.Second)
	for key, want := range map[string]int{"mil-on:firing": 1, "battery-weak-at-rest:firing": 1, "/next:lead": 1} {
		if got := counts.get(key); got != want {
			t.Errorf("%s told %d times; want %d", key, got, want)
		}
	}
	offers, _ := st.Offers(ctx, lead.ID)
	if len(offers) != 2 || offers[0].State != store.OfferExpired || offers[1].State != store.OfferSent {
		t.Errorf("offers %+v", offers)
	}

	// The token works on every server (and each now remembers it); revoked
	// on the first, every server refuses it within the bound.
	me := func(s *server.Server) int {
		req, _ := http.NewRequest("GET", "http://"+s.HTTPAddr()+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, s := range servers {
		if code := me(s); code != http.StatusOK {
			t.Fatalf("server %d refused a good token: %d", i, code)
		}
	}
	req, _ := http.NewRequest("DELETE", "http://"+servers[0].HTTPAddr()+"/api/v1/tokens/"+tokenHash[:12], nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("revoking: %d", resp.StatusCode)
	}
	if code := me(servers[0]); code != http.StatusUnauthorized {
		t.Errorf("the server that revoked still takes the token: %d", code)
	}
	time.Sleep(revocationBound + time.Second)
	for i, s := range servers {
		if code := me(s); code != http.StatusUnauthorized {
			t.Errorf("server %d takes the token %v after it was revoked: %d", i, revocationBound, code)
		}
	}
}
