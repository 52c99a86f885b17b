package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
)

// alertsBench is what `pitwall bench alerts` reports.
type alertsBench struct {
	Vehicles      int     `json:"vehicles"`
	Seconds       float64 `json:"seconds"`
	Messages      int64   `json:"messages_published"`
	Notifications int     `json:"notifications_measured"`
	P50ms         float64 `json:"p50_ms"`
	P90ms         float64 `json:"p90_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	Broker        string  `json:"broker"`
}

func benchAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench alerts", "[--broker URL] [--vehicles N] [--duration D] [--json]",
		"Measures the time from a sample's publish to its alert's notification. Simulated cars\n"+
			"publish at 1 Hz, each crossing a critical threshold (Vehicle.Speed > 100) every 20 s;\n"+
			"the server (in this process) stores the samples, runs the built-in rules and the bench\n"+
			"rule, and its alert manager posts to a webhook served here, which notes when each\n"+
			"firing alert arrives. The cars go through --broker (Mosquitto, say), or through the\n"+
			"embedded broker without it.", stdout)
	brokerURL := fs.String("broker", "", "MQTT broker (without it, the embedded broker)")
	vehicles := fs.Int("vehicles", 1000, "simulated cars, one connection each, 1 message a second")
	dur := fs.Duration("duration", 60*time.Second, "how long the cars publish")
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("v", false, "log the server to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *vehicles < 1 || *dur < 30*time.Second {
		return usageError{"--vehicles must be positive and --duration at least 30s"}
	}
	dir, err := os.MkdirTemp("", "pitwall-bench-alerts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ruleFile := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(ruleFile, []byte(`rules:
  - name: bench-speed
    severity: critical
    when: Vehicle.Speed > 100
    clear: Vehicle.Speed < 90
    summary: Speed {{printf "%.0f" (.Value "Vehicle.Speed")}} km/h.
`), 0o600); err != nil {
		return err
	}

	// The webhook: when each firing alert arrives.
	var mu sync.Mutex
	var latencies []time.Duration
	var measureFrom atomic.Int64
	hook := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var m alerting.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, a := range m.Firing {
			if a.Rule == "bench-speed" && a.StartsAt.UnixNano() >= measureFrom.Load() {
				latencies = append(latencies, now.Sub(a.StartsAt))
			}
		}
		mu.Unlock()
	})}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = hook.Serve(hl) }()
	defer hook.Close()

	cfg := server.Config{Store: server.StoreConfig{Path: filepath.Join(dir, "pitwall.db")}, HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"},
		Rules:    server.RulesConfig{Files: []string{ruleFile}},
		Alerting: server.AlertingConfig{Webhook: server.WebhookConfig{URL: "http://" + hl.Addr().String() + "/hook", Secret: "bench"}}}
	if *brokerURL != "" {
		cfg.Ingest.Broker.URL = *brokerURL
		cfg.Ingest.Broker.ClientID = fmt.Sprintf("pitwall-bench-alerts-%d", time.Now().UnixNano())
		cfg.Ingest.Consumers = 2
	} else {
		// The bench's cars all connect at once from this machine.
		n := max(*vehicles+16, broker.DefaultMaxClients)
		cfg.EmbeddedBroker = server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0", MaxClients: n, MaxConnecting: n}
	}
	srv, err := server.New(ctx, cfg, server.WithLogger(logger(stderr, *verbose)))
	if err != nil {
		return err
	}
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	for srv.Ingest.Ready() != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	url := *brokerURL
	secrets := map[string]string{}
	if url == "" {
		url = srv.Broker.URL()
		for i := range *vehicles {
			id := fmt.Sprintf("bench-%05d", i+1)
			if _, secrets[id], err = srv.Store.AddDevice(ctx, id, ""); err != nil {
				return err
			}
		}
	}
	res := alertsBench{Vehicles: *vehicles, Broker: url}
	fmt.Fprintf(stderr, "%d cars at 1 Hz through %s for %v ...\n", *vehicles, url, *dur)
	start := time.Now()
	measureFrom.Store(start.Add(10 * time.Second).UnixNano()) // after the cars have connected
	published, err := speedCars(ctx, url, *vehicles, secrets, *dur)
	if err != nil {
		return err
	}
	res.Messages = published
	time.Sleep(2 * time.Second) // the last notifications
	stopServer()
	if err := <-done; err != nil {
		return err
	}
	res.Seconds = time.Since(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	if len(latencies) == 0 {
		return fmt.Errorf("no notification arrived")
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	q := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	res.Notifications, res.P50ms, res.P90ms, res.P99ms, res.MaxMs = len(latencies), q(0.50), q(0.90), q(0.99), q(1)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "publish to notification, %d alerts from %d cars at 1 Hz (%d messages):\n", res.Notifications, res.Vehicles, res.Messages)
	fmt.Fprintf(stdout, "  p50 %.1f ms   p90 %.1f ms   p99 %.1f ms   max %.1f ms\n", res.P50ms, res.P90ms, res.P99ms, res.MaxMs)
	return nil
}

// speedCars runs cars that publish their speed (and engine speed) once a
// second, stamped with the moment of publishing, above 100 km/h for ten
// seconds in every twenty, each car at its own phase.
func speedCars(ctx context.Context, url string, n int, secrets map[string]string, d time.Duration) (int64, error) {
	aliases, err := wire.NewAliases([]string{"Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.Speed"})
	if err != nil {
		return 0, err
	}
	speed, _ := aliases.ByName("Vehicle.Speed")
	rpm, _ := aliases.ByName("Vehicle.Powertrain.CombustionEngine.Speed")
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var published, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("bench-%05d", i+1)
			o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetKeepAlive(60 * time.Second).SetConnectTimeout(20 * time.Second)
			if s, ok := secrets[id]; ok {
				o.SetUsername(id).SetPassword(s)
			}
			c := mqtt.NewClient(o)
			if t := c.Connect(); !t.WaitTimeout(30*time.Second) || t.Error() != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: connect: %v", id, t.Error()))
				return
			}
			defer c.Disconnect(100)
			boot := rand.Uint64()
			seq := uint64(1)
			b, _ := wire.Encode(&wirepb.Status{Header: wire.NewHeader(id, boot, seq), Online: true, TimeMs: time.Now().UnixMilli(),
				AgentVersion: "bench", Signals: aliases.Defs()})
			c.Publish(wire.Topic(id, wire.KindStatus), 1, true, b).WaitTimeout(10 * time.Second)
			phase := time.Duration(rand.Int64N(int64(20 * time.Second)))
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			t0 := time.Now().Add(-phase)
			var batch wire.Batch
			for {
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
				now := time.Now()
				v := 50.0
				if now.Sub(t0)%(20*time.Second) >= 10*time.Second {
					v = 120
				}
				batch.Reset()
				batch.Add(speed, now, v)
				batch.Add(rpm, now, 2500)
				seq++
				msg, _ := wire.Encode(batch.Telemetry(wire.NewHeader(id, boot, seq)))
				if t := c.Publish(wire.Topic(id, wire.KindTelemetry), 1, false, msg); t.WaitTimeout(10*time.Second) && t.Error() == nil {
					published.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
		if i%100 == 99 {
			time.Sleep(100 * time.Millisecond) // spread the connection storm
		}
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return published.Load(), fmt.Errorf("%d publishes or connections failed; first: %v", f, firstErr.Load())
	}
	return published.Load(), nil
}
