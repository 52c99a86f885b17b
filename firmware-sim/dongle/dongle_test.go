package dongle

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/elm327"
)

type rig struct {
	car   *car.Car
	clock *car.Clock
	em    *Emulator
	addr  string
}

// startTCP runs an emulator of profile p in front of a car on scenario sc.
func startTCP(t *testing.T, profile, scenario string, at time.Duration, timing bool, proto obd.Protocol) *rig {
	t.Helper()
	sc, err := car.Load(scenario)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	c := car.New(car.DefaultSpec(), sc, 1)
	clock := car.ManualClock()
	clock.Set(at)
	em := New(Config{Profile: p, Car: c, Clock: clock, Modules: ecu.Modules(c, clock, ecu.Options{Legacy: proto == obd.ProtocolISO9141}), Protocol: proto, Timing: timing})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- em.ListenTCP(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	r := &rig{car: c, clock: clock, em: em, addr: (<-addrc).String()}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r
}

func TestScanThroughEmulator(t *testing.T) {
	for _, c := range []struct {
		profile string
		proto   obd.Protocol
	}{{"genuine", 0}, {"clone-v1.5", 0}, {"slow", 0}, {"genuine", obd.ProtocolISO9141}} {
		r := startTCP(t, c.profile, "overheat", 15*time.Minute, false, c.proto)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cl, err := elm327.Open(ctx, "tcp://"+r.addr)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := obd.Scan(ctx, obd.NewClient(cl))
		info := cl.Info()
		cl.Close()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.profile, err)
		}
		t.Logf("%s/%v: %+v quirks %v; protocol %s vin %s codes %+v problems %+v values %d volt %v", c.profile, c.proto, info.Identity, info.Quirks, rep.Protocol, rep.VIN, rep.DTCs.Stored, rep.Problems, len(rep.Values), *rep.BatteryVoltage)
	}
}

// Through a pseudo-terminal, as a USB adapter: the client probes the rate
// and raises it with ATBRD on the genuine profile; the slow profile is
// found at 9600.
func TestPTY(t *testing.T) {
	for _, c := range []struct {
		profile string
		query   string
		want    int
	}{{"genuine", "?raise=115200", 115200}, {"slow", "", 9600}, {"clone-v1.5", "?raise=115200", 38400}} {
		sc, _ := car.Load("healthy")
		vc := car.New(car.DefaultSpec(), sc, 1)
		clock := car.ManualClock()
		clock.Set(time.Minute)
		p, _ := LookupProfile(c.profile)
		em := New(Config{Profile: p, Car: vc, Clock: clock, Modules: ecu.Modules(vc, clock, ecu.Options{})})
		pt, err := OpenPTY()
		if err != nil {
			t.Skipf("no pseudo-terminals: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- em.ServePTY(ctx, pt) }()
		cl, err := elm327.Open(ctx, "serial://"+pt.Path+c.query)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", c.profile, err)
		}
		rs, err := obd.NewClient(cl).Read(ctx, 0x0C, 0x0D)
		if err != nil || len(rs) < 2 {
			t.Errorf("%s: %v %v", c.profile, rs, err)
		}
		if got := cl.Info().Baud; got != c.want || pt.HostRate() != c.want {
			t.Errorf("%s: client at %d, line at %d, want %d", c.profile, got, pt.HostRate(), c.want)
		}
		cl.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		pt.Close()
	}
}

// A character from the host while the adapter listens stops it.
func TestStopped(t *testing.T) {
	sc, _ := car.Load("healthy")
	vc := car.New(car.DefaultSpec(), sc, 1)
	clock := car.ManualClock()
	clock.Set(time.Minute)
	em := New(Config{Profile: Profiles["genuine"], Car: vc, Clock: clock, Modules: ecu.Modules(vc, clock, ecu.Options{}), Timing: true})
	host, dev := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = em.Serve(ctx, dev, nil); close(done) }()
	defer func() { cancel(); host.Close(); <-done }()
	read := func() string {
		var b []byte
		buf := make([]byte, 256)
		for !strings.Contains(string(b), ">") {
			_ = host.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := host.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, buf[:n]...)
		}
		return string(b)
	}
	_, _ = host.Write([]byte("ATE0\r"))
	read()
	_, _ = host.Write([]byte("0100\r")) // searches for over a second
	go func() { time.Sleep(300 * time.Millisecond); _, _ = host.Write([]byte("X")) }()
	if got := read(); got != "SEARCHING...\rSTOPPED\r\r>" {
		t.Fatalf("got %q", got)
	}
}

// docs/simulator.md quotes the model's best rates; they must be what the
// model computes.
func TestBestRateDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/simulator.md")
	if err != nil {
		t.Fatal(err)
	}
	plan := Plan{PIDs: []obd.PID{0x0C, 0x0D, 0x11, 0x04, 0x05, 0x0F}, Latency: 12 * time.Millisecond}
	for _, name := range ProfileNames() {
		p := Profiles[name]
		line := fmt.Sprintf("| %s | %d | %.0f |", name, p.Baud, BestRate(p, plan))
		if !strings.Contains(string(doc), line) {
			t.Errorf("docs/simulator.md lacks the row %q", line)
		}
	}
}

// The emulator, timed, against the ELM327 client: PIDs per second for the
// fast tier on each profile. Compare with BestRate (docs/simulator.md).
func BenchmarkPIDRate(b *testing.B) {
	for _, name := range ProfileNames() {
		b.Run(name, func(b *testing.B) {
			sc, _ := car.Load("healthy")
			vc := car.New(car.DefaultSpec(), sc, 1)
			clock := car.ManualClock()
			clock.Set(2 * time.Minute)
			mods := ecu.Modules(vc, clock, ecu.Options{})
			mods = mods[:1] // the engine alone, as the model assumes
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cl := timedAdapter(ctx, b, Config{Profile: Profiles[name], Car: vc, Clock: clock, Modules: mods, Timing: true})
			c := obd.NewClient(cl)
			pids := []obd.PID{0x0C, 0x0D, 0x11, 0x04, 0x05, 0x0F}
			if _, err := c.Read(ctx, pids...); err != nil { // discovery and the first search
				b.Fatal(err)
			}
			n := 0
			start := time.Now()
			for b.Loop() {
				rs, err := c.Read(ctx, pids...)
				if err != nil {
					b.Fatal(err)
				}
				n += len(rs)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "pids/s")
			b.ReportMetric(BestRate(Profiles[name], Plan{PIDs: pids, Latency: 12 * time.Millisecond}), "model-pids/s")
		})
	}
}

// A whole scan through Pitwall's ELM327 client against the timed emulator
// (TCP loopback, both modules), for a car that answers its supported maps
// and for a foreign-style one that refuses the service 09 and service 06
// maps (every service 09 item is then asked without a map, and the
// fallback monitors of service 06), on a genuine adapter and on a clone
// (no count digit, no packing): what a `pitwall scan` user waits for.
func BenchmarkScan(b *testing.B) {
	for _, c := range []struct {
		name, profile string
		refuse        []string
	}{
		{"genuine/maps", "genuine", nil},
		{"genuine/0900-refused", "genuine", []string{"0900"}},
		{"genuine/maps-refused", "genuine", []string{"0900", "0600"}},
		{"clone/maps", "clone-v1.5", nil},
		{"clone/maps-refused", "clone-v1.5", []string{"0900", "0600"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			sc, _ := car.Load("healthy")
			vc := car.New(car.DefaultSpec(), sc, 1)
			clock := car.ManualClock()
			clock.Set(2 * time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cl := timedAdapter(ctx, b, Config{Profile: Profiles[c.profile], Car: vc, Clock: clock, Modules: ecu.Modules(vc, clock, ecu.Options{Refuse: c.refuse}), Timing: true})
			if _, err := obd.Scan(ctx, obd.NewClient(cl)); err != nil { // the first search
				b.Fatal(err)
			}
			for b.Loop() {
				r, err := obd.Scan(ctx, obd.NewClient(cl))
				if err != nil {
					b.Fatal(err)
				}
				if r.VIN == "" || len(r.ECUs[0].CalibrationIDs) == 0 {
					b.Fatalf("VIN %q, calibration ids %v, problems %v", r.VIN, r.ECUs[0].CalibrationIDs, r.Problems)
				}
			}
		})
	}
}

// timedAdapter serves an emulator on TCP loopback until ctx ends and
// opens Pitwall's ELM327 client on it, closed when the benchmark ends.
func timedAdapter(ctx context.Context, b *testing.B, cfg Config) *elm327.Client {
	b.Helper()
	em := New(cfg)
	addrc := make(chan net.Addr, 1)
	go func() { _ = em.ListenTCP(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	cl, err := elm327.Open(ctx, "tcp://"+(<-addrc).String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	return cl
}
