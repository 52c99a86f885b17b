package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/dongle"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/testserver"
)

// The child process of TestKilledWhileOffline runs the agent from the
// configuration in its environment until it is killed.
func TestMain(m *testing.M) {
	if cfg := os.Getenv("PITWALL_EDGE_CHILD"); cfg != "" {
		var c Config
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		a, err := New(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signalContext()
		defer stop()
		_ = a.Run(ctx)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() { <-ch; cancel() }()
	return ctx, cancel
}

// startCar runs the simulated car behind an ELM327 emulator on TCP.
func startCar(t *testing.T, scenario string, at time.Duration) (string, *car.Car) {
	t.Helper()
	sc, err := car.Load(scenario)
	if err != nil {
		t.Fatal(err)
	}
	c := car.New(car.DefaultSpec(), sc, 1)
	clock := car.ManualClock()
	clock.Set(at)
	return serveCar(t, c, clock), c
}

// serveCar puts a genuine ELM327 emulator in front of a car on TCP until
// the test ends, and returns its adapter URL.
func serveCar(t *testing.T, c *car.Car, clock *car.Clock) string {
	t.Helper()
	em := dongle.New(dongle.Config{Profile: dongle.Profiles["genuine"], Car: c, Clock: clock, Modules: ecu.Modules(c, clock, ecu.Options{})})
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan struct{})
	go func() { _ = em.ListenTCP(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a }); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "tcp://" + (<-addr).String()
}

func testConfig(t *testing.T, adapterURL, broker string) Config {
	c := Config{DeviceID: "car-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36), Adapter: adapterURL,
		Broker: BrokerConfig{URL: broker, ReconnectMax: 2 * time.Second}, Spool: SpoolConfig{Dir: t.TempDir()},
		Poll:   PollConfig{BatchInterval: 200 * time.Millisecond, DTCInterval: 5 * time.Second},
		Parked: ParkedConfig{ProbeEvery: time.Second, VoltageEvery: time.Second}}
	c.Defaults()
	return c
}

// watcher collects what reaches the broker for one device.
type watcher struct {
	mu      sync.Mutex
	msgs    map[uint64]wire.Message // by seq
	results []*wirepb.CommandResult
	births  []*wirepb.Status
	samples int
	errs    []error
	client  mqtt.Client
}

func watch(tb *testing.T, broker, device string) *watcher {
	tb.Helper()
	t := tb
	w := &watcher{msgs: map[uint64]wire.Message{}}
	var aliases *wire.Aliases
	handle := func(_ mqtt.Client, msg mqtt.Message) {
		_, kind, err := wire.ParseTopic(msg.Topic())
		if err != nil || kind == wire.KindCommand {
			return
		}
		m, err := wire.Decode(kind, msg.Payload())
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.errs = append(w.errs, err)
			return
		}
		if seq := m.GetHeader().GetSeq(); seq > 0 {
			if old, ok := w.msgs[seq]; ok && !proto.Equal(old, m) {
				w.errs = append(w.errs, fmt.Errorf("seq %d arrived twice with different content", seq))
			}
			w.msgs[seq] = m
		}
		switch x := m.(type) {
		case *wirepb.Status:
			if x.GetOnline() {
				w.births = append(w.births, x)
				aliases, _ = wire.AliasesFromBirth(x)
			}
		case *wirepb.Telemetry:
			if aliases == nil {
				w.errs = append(w.errs, fmt.Errorf("telemetry before any birth"))
				return
			}
			s, err := wire.Samples(x, aliases)
			if err != nil {
				w.errs = append(w.errs, err)
			}
			w.samples += len(s)
		case *wirepb.CommandResult:
			w.results = append(w.results, x)
		}
	}
	// A persistent session: with a persistent broker, what is published
	// while the watcher reconnects waits for it.
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(device + "-watch").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetDefaultPublishHandler(handle).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(wire.Prefix+device+"/#", 1, handle) })
	w.client = mqtt.NewClient(o)
	if t := w.client.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		tb.Fatalf("watcher: %v", t.Error())
	}
	// Wait for the subscription to be in place.
	deadline := time.Now().Add(5 * time.Second)
	for !w.subscribed(broker, device) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { w.client.Disconnect(100) })
	return w
}

// subscribed checks the subscription by publishing a probe to it.
func (w *watcher) subscribed(broker, device string) bool {
	tok := w.client.Subscribe(wire.Prefix+device+"/#", 1, nil)
	return tok.WaitTimeout(2*time.Second) && tok.Error() == nil
}

// contiguous reports the delivered numbers' first gap, if any.
func (w *watcher) contiguous(upTo uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var missing []uint64
	for q := uint64(1); q <= upTo; q++ {
		if _, ok := w.msgs[q]; !ok {
			missing = append(missing, q)
		}
	}
	if len(missing) > 0 {
		if len(missing) > 10 {
			missing = missing[:10]
		}
		return fmt.Errorf("%d received, missing seq %v", len(w.msgs), missing)
	}
	return nil
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
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

func runAgent(t *testing.T, cfg Config, opts ...Option) (*Agent, func()) {
	t.Helper()
	a, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	return a, stop
}

// The agent reads the car, announces itself, publishes its telemetry and
// events in order, and every sample decodes with the announced aliases.
func TestAgentStreams(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	carURL, _ := startCar(t, "overheat", 15*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	w := watch(t, b.URL(), cfg.DeviceID)
	a, stop := runAgent(t, cfg)
	eventually(t, 20*time.Second, "samples and the trouble codes", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		dtc := false
		for _, m := range w.msgs {
			if r, ok := m.(*wirepb.DTCReport); ok && len(r.Stored) > 0 {
				dtc = true
			}
		}
		return w.samples > 200 && dtc
	})
	stop()
	st := a.Stats().Spool
	eventually(t, 5*time.Second, "every record", func() bool { return w.contiguous(st.LastSeq) == nil })
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) > 0 {
		t.Fatalf("decode errors: %v", w.errs)
	}
	var vin string
	kinds := map[string]int{}
	for _, m := range w.msgs {
		kinds[fmt.Sprintf("%T", m)]++
		if s, ok := m.(*wirepb.Status); ok && s.GetVin() != "" {
			vin = s.GetVin()
		}
		if r, ok := m.(*wirepb.DTCReport); ok && len(r.Stored) > 0 {
			if r.Stored[0].Code != "P0217" || !r.Mil || len(r.FreezeFrames) == 0 {
				t.Errorf("DTC report %v", r)
			}
		}
	}
	if vin != car.DefaultSpec().VIN {
		t.Errorf("VIN %q", vin)
	}
	if kinds["*wirepb.Event"] < 3 || kinds["*wirepb.Telemetry"] < 5 {
		t.Errorf("kinds %v", kinds)
	}
}

// Remote commands: a scan, a freeze frame, a poll plan (clearing codes:
// TestClearCodesAuthorised).
func TestCommands(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	carURL, _ := startCar(t, "overheat", 15*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	w := watch(t, b.URL(), cfg.DeviceID)
	_, stop := runAgent(t, cfg)
	defer stop()
	eventually(t, 10*time.Second, "the agent online", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.samples > 0 })
	send := func(id string, set func(*wirepb.Command)) *wirepb.CommandResult {
		c := &wirepb.Command{Header: wire.NewHeader(cfg.DeviceID, 1, 1), Id: id}
		set(c)
		raw, _ := wire.Encode(c)
		w.client.Publish(wire.Topic(cfg.DeviceID, wire.KindCommand), 1, false, raw).Wait()
		var got *wirepb.CommandResult
		eventually(t, 15*time.Second, "result of "+id, func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, r := range w.results {
				if r.GetId() == id {
					got = r
					return true
				}
			}
			return false
		})
		return got
	}
	r := send("scan", func(c *wirepb.Command) { c.Action = &wirepb.Command_ScanNow{ScanNow: &wirepb.ScanNow{}} })
	if !r.GetOk() || !bytes.Contains(r.GetJson(), []byte(car.DefaultSpec().VIN)) {
		t.Errorf("scan: ok %v err %q json %.200s", r.GetOk(), r.GetError(), r.GetJson())
	}
	r = send("ff", func(c *wirepb.Command) {
		c.Action = &wirepb.Command_ReadFreezeFrame{ReadFreezeFrame: &wirepb.ReadFreezeFrame{}}
	})
	if !r.GetOk() || !bytes.Contains(r.GetJson(), []byte("P0217")) {
		t.Errorf("freeze frame: %v %s", r.GetError(), r.GetJson())
	}
	r = send("bad-plan", func(c *wirepb.Command) {
		c.Action = &wirepb.Command_SetPollPlan{SetPollPlan: &wirepb.SetPollPlan{Tiers: []*wirepb.PollTier{{Hz: 500, Signals: []string{"0C"}}}}}
	})
	if r.GetOk() || !strings.Contains(r.GetError(), "hz") {
		t.Errorf("a 500 Hz plan: %v %q", r.GetOk(), r.GetError())
	}
	r = send("plan", func(c *wirepb.Command) {
		c.Action = &wirepb.Command_SetPollPlan{SetPollPlan: &wirepb.SetPollPlan{Tiers: []*wirepb.PollTier{{Hz: 2, Signals: []string{"engine_speed", "0D"}}}}}
	})
	if !r.GetOk() {
		t.Errorf("plan: %q", r.GetError())
	}
}

// With the broker down at the start and again for a minute in the middle,
// everything the agent recorded arrives, numbered without gaps.
func TestBrokerDown(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{Persistent: true})
	carURL, _ := startCar(t, "healthy", 5*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	w := watch(t, b.URL(), cfg.DeviceID) // its session outlives the outages
	b.Stop()
	a, stop := runAgent(t, cfg)
	time.Sleep(3 * time.Second) // offline from the start
	b.Restart()
	eventually(t, 30*time.Second, "the first records", func() bool { return w.count() > 10 })
	b.Stop()
	time.Sleep(60 * time.Second) // a minute without a broker
	if st := a.Stats().Spool; st.Pending < 100 {
		t.Errorf("only %d records spooled in a minute offline", st.Pending)
	}
	b.Restart()
	eventually(t, 90*time.Second, "the spool drained", func() bool { return a.Stats().Spool.Pending == 0 })
	stop()
	st := a.Stats().Spool
	if st.Dropped != [2]uint64{} || st.Corrupt != 0 {
		t.Errorf("dropped %v corrupt %d", st.Dropped, st.Corrupt)
	}
	if st.Pending != 0 {
		t.Errorf("%d records left in the spool by a stop while connected", st.Pending)
	}
	eventually(t, 20*time.Second, fmt.Sprintf("seq 1..%d", st.LastSeq), func() bool { return w.contiguous(st.LastSeq) == nil })
}

// A spool too small for the outage drops the oldest telemetry, counts it,
// and delivers every event and trouble-code report.
func TestSpoolFull(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{Persistent: true})
	carURL, _ := startCar(t, "overheat", 15*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	cfg.Spool.MaxBytes = 64 << 10
	w := watch(t, b.URL(), cfg.DeviceID)
	b.Stop()
	a, stop := runAgent(t, cfg)
	eventually(t, 60*time.Second, "the spool to overflow", func() bool { return a.Stats().Spool.Dropped[0] > 20 })
	b.Restart()
	eventually(t, 30*time.Second, "the spool drained", func() bool { return a.Stats().Spool.Pending == 0 })
	stop()
	st := a.Stats().Spool
	eventually(t, 5*time.Second, "the last deliveries", func() bool {
		return uint64(w.count())+st.Dropped[0]+st.Dropped[1] >= st.LastSeq
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost []uint64
	for q := uint64(1); q <= st.LastSeq; q++ {
		if _, ok := w.msgs[q]; !ok {
			lost = append(lost, q)
		}
	}
	if uint64(len(lost)) != st.Dropped[0]+st.Dropped[1] {
		t.Fatalf("%d records missing, the drop counters say %v", len(lost), st.Dropped)
	}
	if st.Dropped[1] != 0 {
		t.Errorf("important records dropped: %v", st.Dropped)
	}
}

// The agent killed again and again while offline: after the last start
// every number from the first to the last arrives once the broker is back.
func TestKilledWhileOffline(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts the agent as child processes")
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{Persistent: true})
	carURL, _ := startCar(t, "healthy", 5*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	w := watch(t, b.URL(), cfg.DeviceID)
	b.Stop()
	raw, _ := json.Marshal(cfg)
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PITWALL_EDGE_CHILD="+string(raw))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	for i := 0; i < 6; i++ {
		cmd := start()
		time.Sleep(time.Duration(700+300*i) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	b.Restart()
	cmd := start()
	lastSeq := func() uint64 {
		s, _ := os.ReadFile(cfg.Spool.Dir + "/seq")
		n, _ := strconv.ParseUint(strings.TrimSpace(string(s)), 10, 64)
		return n
	}
	time.Sleep(3 * time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	n := lastSeq()
	if n < 50 {
		t.Fatalf("only %d records over seven runs", n)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("seq 1..%d", n), func() bool { return w.contiguous(n) == nil })
	w.mu.Lock()
	defer w.mu.Unlock()
	boots := map[uint64]bool{}
	for _, m := range w.msgs {
		boots[m.GetHeader().GetBootId()] = true
	}
	if len(boots) < 2 {
		t.Errorf("records from %d boots", len(boots))
	}
}

// A broker that refuses the credentials: a clear error, and the agent goes
// on reading the car into its spool.
func TestBadCredentials(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{Users: map[string]string{"car-x": "right"}})
	carURL, _ := startCar(t, "healthy", 5*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	cfg.Broker.Username, cfg.Broker.Password = "car-x", "wrong"
	var logs syncBuffer
	a, stop := runAgent(t, cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	eventually(t, 15*time.Second, "records spooled", func() bool { return a.Stats().Spool.Pending > 20 })
	stop()
	if !strings.Contains(logs.String(), "refused the device's credentials") {
		t.Errorf("logs do not say the credentials were refused:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "wrong") {
		t.Errorf("the password appears in the logs")
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
