package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// child is the configuration of a server run as a child process by
// TestServerKilled.
type child struct {
	Config     Config
	StorePath  string
	SeriesPath string
}

// TestMain runs the ingest as a child process when asked (the kill test).
func TestMain(m *testing.M) {
	if raw := os.Getenv("PITWALL_INGEST_CHILD"); raw != "" {
		var c child
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			panic(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		st, err := store.Open(ctx, c.StorePath)
		if err != nil {
			panic(err)
		}
		sr, err := series.OpenEmbedded(series.EmbeddedOptions{Path: c.SeriesPath})
		if err != nil {
			panic(err)
		}
		in, err := New(c.Config, sr, st, WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
		if err != nil {
			panic(err)
		}
		_ = in.Run(ctx)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type rig struct {
	dir    string
	in     *Ingest
	series series.Store
	store  *store.Store
	logs   *syncBuffer
	stop   func()
}

// start runs an ingest on the broker, storing into a fresh embedded
// series file (or sr) and a fresh store.
func start(t *testing.T, cfg Config, sr series.Store) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	if sr == nil {
		e, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(dir, "series.db")})
		if err != nil {
			t.Fatal(err)
		}
		sr = e
	}
	logs := &syncBuffer{}
	in, err := New(cfg, sr, st, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			sr.Close()
			st.Close()
		})
	}
	t.Cleanup(stop)
	eventually(t, 20*time.Second, "the ingest to subscribe", func() bool { return in.Ready() == nil })
	return &rig{dir: dir, in: in, series: sr, store: st, logs: logs, stop: stop}
}

func testConfig(broker string) Config {
	return Config{Broker: BrokerConfig{URL: broker, ClientID: fmt.Sprintf("ingest-%d", time.Now().UnixNano())},
		BatchDelay: 20 * time.Millisecond, BirthWait: 2 * time.Second}
}

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

// count is how many values the series holds for the flood's devices.
func count(t *testing.T, s series.Reader, prefix string, vehicles int) int64 {
	t.Helper()
	var n int64
	for i := range vehicles {
		c, err := s.Count(context.Background(), fmt.Sprintf("%s-%05d", prefix, i+1), time.Now().Add(-48*time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}

func flood(t *testing.T, cfg fleet.FloodConfig) fleet.Result {
	t.Helper()
	res, err := fleet.Flood(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors > 0 || res.Connected != cfg.Vehicles {
		t.Fatalf("flood: %+v", res)
	}
	return res
}

// Every sample the cars publish is stored once, with the devices' status
// and sequence followed.
func TestStoresEverySampleOnce(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	r := start(t, testConfig(b.URL()), nil)
	res := flood(t, fleet.FloodConfig{Broker: b.URL(), Vehicles: 20, Messages: 10, Signals: 10, Instants: 5, Prefix: "once"})
	if res.Samples != 20*10*50 {
		t.Fatalf("flood sent %d samples", res.Samples)
	}
	eventually(t, 30*time.Second, "every sample stored", func() bool { return int64(r.in.Stats().Samples) >= res.Samples })
	if got := count(t, r.series, "once", 20); got != res.Samples {
		t.Fatalf("the series holds %d values, the cars sent %d", got, res.Samples)
	}
	st := r.in.Stats()
	if st.Rejected != 0 || st.Stored != uint64(res.Messages) {
		t.Fatalf("stats %+v for %d messages", st, res.Messages)
	}
	if v := testutil.ToFloat64(r.in.metrics.gaps) + testutil.ToFloat64(r.in.metrics.duplicates); v != 0 {
		t.Errorf("%v gaps and duplicates in a clean stream", v)
	}
	r.stop()
	dev, err := store.Open(context.Background(), filepath.Join(r.dir, "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	s, err := dev.Status(context.Background(), "once-00007")
	if err != nil || !s.Online || s.LastSeq != 11 || s.AgentVersion != "firmware-sim flood" {
		t.Fatalf("status of once-00007: %+v, %v", s, err)
	}
}

// publisher sends raw messages as one device would.
type publisher struct {
	t *testing.T
	c mqtt.Client
}

func newPublisher(t *testing.T, broker, id string) *publisher {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &publisher{t, c}
}

func (p *publisher) raw(topic string, payload []byte) {
	p.t.Helper()
	tok := p.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publishing to %s: %v", topic, tok.Error())
	}
}

func (p *publisher) send(device string, k wire.Kind, m wire.Message) {
	p.t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.raw(wire.Topic(device, k), b)
}

var testAliases, _ = wire.NewAliases([]string{"Vehicle.Speed", "Vehicle.Powertrain.CombustionEngine.Speed"})

func birth(device string, boot, seq uint64) *wirepb.Status {
	return &wirepb.Status{Header: wire.NewHeader(device, boot, seq), Online: true, TimeMs: time.Now().UnixMilli(), Signals: testAliases.Defs()}
}

func telemetry(device string, boot, seq uint64, t time.Time, speed float64) *wirepb.Telemetry {
	var b wire.Batch
	s, _ := testAliases.ByName("Vehicle.Speed")
	r, _ := testAliases.ByName("Vehicle.Powertrain.CombustionEngine.Speed")
	b.Add(s, t, speed)
	b.Add(r, t, 2000)
	return b.Telemetry(wire.NewHeader(device, boot, seq))
}

// Bad messages are refused, counted and logged, and the devices that
// behave lose nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	r := start(t, testConfig(b.URL()), nil)
	p := newPublisher(t, b.URL(), "hostile")
	now := time.Now()

	p.raw(wire.Topic("car-x", wire.KindTelemetry), bytes.Repeat([]byte{0x0A}, 1<<20)) // 1 MiB
	wrong := birth("car-x", 1, 1)
	wrong.Header.Schema = 99
	p.send("car-x", wire.KindStatus, wrong)
	p.send("car-victim", wire.KindStatus, birth("car-x", 1, 1))        // another device's id in the header
	p.raw(wire.Topic("car-x", wire.KindEvent), []byte("not protobuf")) // garbage
	p.raw("pitwall/v1/car x/telemetry", []byte{1})                     // not a device id
	bad := birth("car-y", 7, 1)
	bad.Signals[0].Name = "Vehicle.Speed,evil=1"
	p.send("car-y", wire.KindStatus, bad)

	p.send("car-z", wire.KindStatus, birth("car-z", 5, 1))
	p.send("car-z", wire.KindTelemetry, telemetry("car-z", 5, 2, now.Add(48*time.Hour), 10)) // from the future
	unknown := telemetry("car-z", 5, 3, now, 10)
	unknown.Alias[0] = 99
	p.send("car-z", wire.KindTelemetry, unknown)
	p.send("car-z", wire.KindTelemetry, telemetry("car-z", 5, 4, now, 42)) // good

	res := flood(t, fleet.FloodConfig{Broker: b.URL(), Vehicles: 5, Messages: 10, Prefix: "good"})
	eventually(t, 30*time.Second, "the good samples", func() bool { return int64(r.in.Stats().Samples) >= res.Samples+2 })
	want := map[string]uint64{"size": 1, "schema": 1, "device_mismatch": 1, "payload": 1, "birth": 1, "time": 1, "alias": 1}
	eventually(t, 10*time.Second, "the rejections", func() bool { return r.in.Stats().Rejected >= 7 })
	st := r.in.Stats()
	for reason, n := range want {
		if st.RejectedBy[reason] != n {
			t.Errorf("rejected for %s: %d, want %d (all: %v)", reason, st.RejectedBy[reason], n, st.RejectedBy)
		}
	}
	if got := count(t, r.series, "good", 5); got != res.Samples {
		t.Errorf("the well-behaved cars: %d values stored of %d", got, res.Samples)
	}
	latest, err := r.series.Latest(context.Background(), "car-z", nil)
	if err != nil || len(latest) != 2 || latest["Vehicle.Speed"].Value != 42 {
		t.Errorf("car-z's good message: %v, %v", latest, err)
	}
	if n, _ := r.series.Count(context.Background(), "car-victim", now.Add(-time.Hour), now.Add(time.Hour)); n != 0 {
		t.Errorf("%d values stored under the impersonated device", n)
	}
	logs := r.logs.String()
	for _, w := range []string{"reason=size", "reason=device_mismatch", `the header says device \"car-x\"`, "unsupported schema version 99"} {
		if !strings.Contains(logs, w) {
			t.Errorf("the log lacks %q:\n%s", w, logs)
		}
	}
}

// Duplicates, gaps and late arrivals are told apart; telemetry that
// comes before its birth waits for it, and is refused if it never comes.
func TestSequenceAndBirths(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	r := start(t, testConfig(b.URL()), nil)
	p := newPublisher(t, b.URL(), "car-s")
	now := time.Now().Truncate(time.Second)

	p.send("car-s", wire.KindTelemetry, telemetry("car-s", 9, 2, now, 1)) // before its birth
	time.Sleep(300 * time.Millisecond)
	p.send("car-s", wire.KindStatus, birth("car-s", 9, 1))
	p.send("car-s", wire.KindTelemetry, telemetry("car-s", 9, 3, now.Add(time.Second), 3))
	p.send("car-s", wire.KindTelemetry, telemetry("car-s", 9, 3, now.Add(time.Second), 3)) // again
	p.send("car-s", wire.KindTelemetry, telemetry("car-s", 9, 6, now.Add(4*time.Second), 6))
	p.send("car-s", wire.KindTelemetry, telemetry("car-s", 9, 4, now.Add(2*time.Second), 4)) // late
	p.send("car-s", wire.KindTelemetry, telemetry("car-s", 8, 2, now, 0))                    // a boot that never announces itself
	// A device that floods telemetry for a boot it never announces: beyond
	// what may wait, it is refused at once rather than holding the broker.
	for n := range uint64(maxParkedPerBoot + 4) {
		p.send("car-s", wire.KindTelemetry, telemetry("car-s", 7, 2+n, now, 0))
	}
	eventually(t, 10*time.Second, "the stream", func() bool { return r.in.Stats().Stored >= 6 })
	eventually(t, 5*time.Second, "the flood beyond the limit refused at once", func() bool { return r.in.Stats().RejectedBy["no_birth"] == 4 })
	eventually(t, 10*time.Second, "the orphans refused", func() bool { return r.in.Stats().RejectedBy["no_birth"] == 4+1+maxParkedPerBoot })
	m := r.in.metrics
	if d, g, l := testutil.ToFloat64(m.duplicates), testutil.ToFloat64(m.gaps), testutil.ToFloat64(m.late); d != 1 || g != 2 || l != 1 {
		t.Errorf("duplicates %v, skipped %v, late %v; want 1, 2 (4 and 5), 1", d, g, l)
	}
	if v := testutil.ToFloat64(m.missing); v != 1 {
		t.Errorf("missing %v, want 1 (number 5)", v)
	}
	got, err := r.series.Range(context.Background(), series.Query{Device: "car-s", Signals: []string{"Vehicle.Speed"}, From: now, To: now.Add(time.Minute)})
	if err != nil || len(got) != 1 || len(got[0].Values) != 4 || got[0].Values[0].Value != 1 {
		t.Fatalf("car-s speeds: %+v, %v", got, err)
	}
}

// The server killed with SIGKILL mid-stream and started again: nothing
// the broker was told is stored is lost.
func TestServerKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the server as a child process")
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{Persistent: true})
	dir := t.TempDir()
	c := child{Config: testConfig(b.URL()), StorePath: filepath.Join(dir, "pitwall.db"), SeriesPath: filepath.Join(dir, "series.db")}
	raw, _ := json.Marshal(c)
	run := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PITWALL_INGEST_CHILD="+string(raw))
		out := &syncBuffer{}
		cmd.Stderr = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	cmd, out := run()
	eventually(t, 20*time.Second, "the server to subscribe", func() bool { return strings.Contains(out.String(), "ingest: consuming") })
	var res fleet.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, _ = fleet.Flood(context.Background(), fleet.FloodConfig{Broker: b.URL(), Vehicles: 10, Messages: 120, Rate: 30, Signals: 5, Instants: 4, Prefix: "kill"})
	}()
	for range 3 {
		time.Sleep(time.Second)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		cmd, out = run()
	}
	<-done
	if res.Errors > 0 || res.Samples != 10*120*20 {
		t.Fatalf("flood %+v", res)
	}
	var stored int64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s, err := series.OpenEmbedded(series.EmbeddedOptions{Path: c.SeriesPath})
		if err != nil {
			t.Fatal(err)
		}
		stored = count(t, s, "kill", 10)
		s.Close()
		if stored >= res.Samples {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if stored != res.Samples {
		t.Fatalf("%d samples stored of %d acknowledged to the cars; the last server said:\n%s", stored, res.Samples, out.String())
	}
}

// InfluxDB killed mid-stream and started again: the ingest holds the
// messages unacknowledged, retries, and every sample arrives, once.
func TestInfluxKilled(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs its own InfluxDB")
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	db := testserver.StartInflux(t)
	sr, err := series.OpenInflux(context.Background(), series.InfluxOptions{URL: db.URL(), Bucket: "pitwall"})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, testConfig(b.URL()), sr)
	var res fleet.Result
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, _ = fleet.Flood(context.Background(), fleet.FloodConfig{Broker: b.URL(), Vehicles: 10, Messages: 150, Rate: 25, Prefix: "outage"})
	}()
	time.Sleep(2 * time.Second)
	db.Kill()
	time.Sleep(4 * time.Second)
	db.Restart()
	<-done
	if res.Errors > 0 {
		t.Fatalf("flood %+v", res)
	}
	eventually(t, 60*time.Second, "every sample stored", func() bool { return int64(r.in.Stats().Samples) >= res.Samples })
	if got := count(t, sr, "outage", 10); got != res.Samples {
		t.Fatalf("InfluxDB holds %d values, the cars sent %d", got, res.Samples)
	}
	if v := testutil.ToFloat64(r.in.metrics.retries.WithLabelValues("series")); v == 0 {
		t.Error("no write was retried: InfluxDB was never missed")
	}
	if !strings.Contains(r.logs.String(), "writes succeed again") {
		t.Errorf("the log does not say the writes recovered:\n%s", r.logs.String())
	}
}

// Two servers in one shared-subscription group split the stream: the
// union is complete and nothing is stored twice.
func TestSharedGroup(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("uses InfluxDB")
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	bucket := fmt.Sprintf("pitwall_group_%d", time.Now().UnixNano())
	var rigs []*rig
	url := testserver.InfluxURL(t)
	for range 2 {
		sr, err := series.OpenInflux(context.Background(), series.InfluxOptions{URL: url, Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(b.URL())
		cfg.Group = "ingest"
		rigs = append(rigs, start(t, cfg, sr))
	}
	res := flood(t, fleet.FloodConfig{Broker: b.URL(), Vehicles: 10, Messages: 40, Prefix: "group"})
	telemetry := uint64(res.Messages - 10) // less the births
	stored := func() (n uint64) {
		for _, r := range rigs {
			n += uint64(testutil.ToFloat64(r.in.metrics.stored.WithLabelValues(string(wire.KindTelemetry))))
		}
		return n
	}
	eventually(t, 30*time.Second, "every message stored", func() bool { return stored() >= telemetry })
	time.Sleep(500 * time.Millisecond) // anything doubled would show now
	a := testutil.ToFloat64(rigs[0].in.metrics.stored.WithLabelValues(string(wire.KindTelemetry)))
	if stored() != telemetry || a == 0 || uint64(a) == telemetry {
		t.Fatalf("the servers stored %v and %v telemetry messages of %d", a, stored()-uint64(a), telemetry)
	}
	if got := count(t, rigs[0].series, "group", 10); got != res.Samples {
		t.Fatalf("InfluxDB holds %d values, the cars sent %d", got, res.Samples)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
