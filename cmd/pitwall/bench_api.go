package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
)

type apiBench struct {
	Store      string             `json:"store"`
	Vehicles   int                `json:"vehicles"`
	Clients    int                `json:"clients"`
	Requests   int                `json:"requests"`
	Errors     int                `json:"errors"`
	Seconds    float64            `json:"seconds"`
	PerSecond  float64            `json:"requests_per_second"`
	P50ms      float64            `json:"p50_ms"`
	P90ms      float64            `json:"p90_ms"`
	P99ms      float64            `json:"p99_ms"`
	MaxMs      float64            `json:"max_ms"`
	ByRouteP99 map[string]float64 `json:"p99_ms_by_route"`
}

// benchAPI stores a fleet (owners with two cars each, a day's worth of
// points per car, trouble codes and firing alerts on one car in ten,
// shops), then runs concurrent clients with their owners' API tokens
// against the real HTTP server and reports the latency: on each store
// given, with the same fleet and load, in alternating turns.
func benchAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench api", "[--store sqlite,postgres://...] [--vehicles N] [--clients N] [--duration D] [--rounds N] [--json]",
		"Measure the API's latency: N cars stored, C concurrent clients, each owner's token; on each store given.", stdout)
	stores := fs.String("store", "sqlite", "comma-separated stores to compare: sqlite (a file in a temporary directory) or a postgres:// URL of an empty database")
	vehicles := fs.Int("vehicles", 1000, "cars stored")
	clients := fs.Int("clients", 100, "concurrent clients")
	dur := fs.Duration("duration", 20*time.Second, "how long to measure each store, in all")
	rounds := fs.Int("rounds", 1, "turns each store's measurement is split into, the stores alternating, so that a load drifting on a shared machine falls on all alike")
	asJSON := fs.Bool("json", false, "print JSON")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the measured part to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *vehicles < 2 || *clients < 1 || *dur < time.Second || *rounds < 1 || *dur/time.Duration(*rounds) < time.Second {
		return usageError{"want --vehicles ≥ 2, --clients ≥ 1, --rounds ≥ 1 and --duration ≥ 1s a round"}
	}
	var dsns []string
	for _, d := range strings.Split(*stores, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		if d != "sqlite" {
			if e, err := store.Engine(d); err != nil || e != store.Postgres {
				return usageError{fmt.Sprintf("--store %q: want sqlite or a postgres:// URL", store.Redact(d))}
			}
		}
		dsns = append(dsns, d)
	}
	if len(dsns) == 0 {
		return usageError{"--store names no store"}
	}
	var targets []*apiTarget
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, dsn := range dsns {
		t, err := startAPITarget(ctx, dsn, *vehicles, stderr)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	for r := range *rounds {
		for _, t := range targets {
			fmt.Fprintf(stderr, "%s: %d clients for %v (round %d of %d) ...\n", t.name, *clients, *dur/time.Duration(*rounds), r+1, *rounds)
			t.measure(ctx, *clients, *dur/time.Duration(*rounds))
		}
	}
	var results []apiBench
	for _, t := range targets {
		res, err := t.result(*vehicles, *clients)
		if err != nil {
			return err
		}
		results = append(results, res)
		if !*asJSON {
			printAPIBench(stdout, res)
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(results)
	}
	if len(results) > 1 {
		fmt.Fprintf(stdout, "\n| store | requests/s | p50 ms | p90 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n")
		for _, r := range results {
			fmt.Fprintf(stdout, "| %s | %.0f | %.1f | %.1f | %.1f | %d |\n", r.Store, r.PerSecond, r.P50ms, r.P90ms, r.P99ms, r.Errors)
		}
	}
	for _, r := range results {
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d requests failed", r.Store, r.Errors)
		}
	}
	return nil
}

var apiRoutes = []string{"GET /vehicles", "GET /alerts", "GET /vehicles/{id}"}

func printAPIBench(stdout io.Writer, res apiBench) {
	fmt.Fprintf(stdout, "API on %s, %d cars stored, %d concurrent clients: %d requests in %.1f s (%.0f/s), %d errors\n",
		res.Store, res.Vehicles, res.Clients, res.Requests, res.Seconds, res.PerSecond, res.Errors)
	fmt.Fprintf(stdout, "  p50 %.1f ms   p90 %.1f ms   p99 %.1f ms   max %.1f ms\n", res.P50ms, res.P90ms, res.P99ms, res.MaxMs)
	for _, n := range apiRoutes {
		fmt.Fprintf(stdout, "  p99 %-20s %.1f ms\n", n, res.ByRouteP99[n])
	}
}

// apiTarget is one store's server with its fleet, and what was measured.
type apiTarget struct {
	name      string
	dir       string
	srv       *server.Server
	stop      context.CancelFunc
	done      chan error
	base      string
	tokens    []string
	vehicleOf map[string]string
	samples   []apiSample
	seconds   float64
}

type apiSample struct {
	route int
	d     time.Duration
	ok    bool
}

// startAPITarget runs a server on the store and stores the fleet.
func startAPITarget(ctx context.Context, dsn string, vehicles int, stderr io.Writer) (_ *apiTarget, err error) {
	dir, err := os.MkdirTemp("", "pitwall-bench-api-")
	if err != nil {
		return nil, err
	}
	t := &apiTarget{name: "sqlite", dir: dir, done: make(chan error, 1)}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	sc := server.StoreConfig{Path: filepath.Join(dir, "pitwall.db")}
	if dsn != "sqlite" {
		sc, t.name = server.StoreConfig{URL: dsn}, "postgres"
	}
	sctx, stop := context.WithCancel(ctx)
	t.stop = stop
	if t.srv, err = server.New(sctx, server.Config{Store: sc,
		Series: server.SeriesConfig{Path: filepath.Join(dir, "series.db")}, EmbeddedBroker: server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0"},
		HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"}}); err != nil {
		return nil, err
	}
	go func() { t.done <- t.srv.Run(sctx) }()
	fmt.Fprintf(stderr, "%s: storing %d cars ...\n", t.name, vehicles)
	if t.tokens, t.vehicleOf, err = seedAPIBench(ctx, t.srv, vehicles); err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	t.base = "http://" + t.srv.HTTPAddr()
	return t, nil
}

func (t *apiTarget) close() {
	if t.stop != nil {
		t.stop()
		if t.srv != nil {
			<-t.done
		}
		t.stop = nil
	}
	os.RemoveAll(t.dir)
}

// measure runs the clients against the target for dur.
func (t *apiTarget) measure(ctx context.Context, clients int, dur time.Duration) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	routes := []func(tok string) string{
		func(string) string { return "/api/v1/vehicles" },
		func(string) string { return "/api/v1/alerts" },
		func(tok string) string { return "/api/v1/vehicles/" + t.vehicleOf[tok] },
	}
	var mu sync.Mutex
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(len(t.samples))))
			var local []apiSample
			for time.Now().Before(deadline) && ctx.Err() == nil {
				tok := t.tokens[rng.IntN(len(t.tokens))]
				r := rng.IntN(len(routes))
				req, _ := http.NewRequestWithContext(ctx, "GET", t.base+routes[r](tok), nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				local = append(local, apiSample{r, time.Since(t0), ok})
			}
			mu.Lock()
			t.samples = append(t.samples, local...)
			mu.Unlock()
		}(uint64(c))
	}
	wg.Wait()
	t.seconds += time.Since(start).Seconds()
}

// result sums up what was measured.
func (t *apiTarget) result(vehicles, clients int) (apiBench, error) {
	res := apiBench{Store: t.name, Vehicles: vehicles, Clients: clients, Seconds: t.seconds, ByRouteP99: map[string]float64{}}
	if len(t.samples) == 0 {
		return res, fmt.Errorf("%s: no request completed", t.name)
	}
	q := func(ds []time.Duration, p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	var all []time.Duration
	per := map[int][]time.Duration{}
	for _, s := range t.samples {
		all = append(all, s.d)
		per[s.route] = append(per[s.route], s.d)
		if !s.ok {
			res.Errors++
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res.Requests = len(all)
	res.PerSecond = float64(len(all)) / res.Seconds
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = q(all, .5), q(all, .9), q(all, .99), q(all, 1)
	for r, ds := range per {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		res.ByRouteP99[apiRoutes[r]] = q(ds, .99)
	}
	return res, nil
}

func seedAPIBench(ctx context.Context, srv *server.Server, n int) (tokens []string, vehicleOf map[string]string, err error) {
	st := srv.Store
	vehicleOf = map[string]string{}
	now := time.Now()
	prof := booking.Profile{Systems: booking.Systems, LabourRate: 100, Currency: "USD", Capacity: 4, ResponseMinutes: 120,
		Hours: map[string]string{"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00"}}
	for i := 0; i < 8; i++ {
		if _, err := srv.Booking.AddShop(ctx, store.Shop{ID: fmt.Sprintf("shop-%d", i), Name: fmt.Sprintf("Shop %d", i), Lat: 38.7 + 0.01*float64(i), Lon: -9.1}, prof); err != nil {
			return nil, nil, err
		}
	}
	var owner store.Owner
	var alerts []store.Alert
	var msgs []store.Message
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			if owner, err = st.AddOwner(ctx, store.Owner{Email: fmt.Sprintf("owner%d@bench", i), Name: "o"}); err != nil {
				return nil, nil, err
			}
			_ = st.SetOwnerHome(ctx, owner.ID, 38.72, -9.14)
			u, err := st.AddUser(ctx, store.User{Email: owner.Email, PasswordHash: "-", Role: "owner", OwnerID: owner.ID})
			if err != nil {
				return nil, nil, err
			}
			tok := fmt.Sprintf("pw_bench_%d", i)
			if err := st.AddToken(ctx, web.TokenHash(tok), u.ID, "bench"); err != nil {
				return nil, nil, err
			}
			tokens = append(tokens, tok)
		}
		v, err := st.AddVehicle(ctx, store.Vehicle{OwnerID: owner.ID, Make: "Ford", Model: "Focus", Year: 2016})
		if err != nil {
			return nil, nil, err
		}
		vehicleOf[tokens[len(tokens)-1]] = v.ID
		dev := fmt.Sprintf("bench-%05d", i+1)
		if _, _, err := st.AddDevice(ctx, dev, v.ID); err != nil {
			return nil, nil, err
		}
		// A day of history at one point a minute, newest values now.
		var pts []series.Point
		for m := 24 * 60; m >= 0; m -= 1 {
			t := now.Add(-time.Duration(m) * time.Minute)
			pts = append(pts, series.Point{Device: dev, Vehicle: v.ID, Time: t, Fields: []series.Field{
				{Signal: diagnosis.SigSpeed, Value: float64(m % 120)}, {Signal: diagnosis.SigRPM, Value: 800 + float64(m%3000)},
				{Signal: diagnosis.SigCoolant, Value: 90}, {Signal: diagnosis.SigBattery, Value: 14.1}, {Signal: diagnosis.SigOdometer, Value: 50000}}})
		}
		if err := srv.Series.Write(ctx, pts); err != nil {
			return nil, nil, err
		}
		if i%10 == 0 {
			body, _ := wire.Encode(&wirepb.DTCReport{Header: wire.NewHeader(dev, 1, 1), TimeMs: now.UnixMilli(), Mil: true, Stored: []*wirepb.Code{{Code: "P0171", Ecu: "7E8"}}})
			msgs = append(msgs, store.Message{Device: dev, Seq: 1, Boot: 1, Kind: string(wire.KindDTC), Time: now, Body: body})
			alerts = append(alerts, store.Alert{Fingerprint: "fp-" + dev, Device: dev, Vehicle: v.ID, Rule: "mil-on", Severity: "warning", State: "firing",
				StartsAt: now, Summary: "The check-engine light is on (P0171).", Codes: []string{"P0171"}, Labels: map[string]string{}})
		}
	}
	if err := st.SaveMessages(ctx, msgs); err != nil {
		return nil, nil, err
	}
	return tokens, vehicleOf, st.SaveAlerts(ctx, alerts)
}
