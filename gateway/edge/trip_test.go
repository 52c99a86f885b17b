package edge

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/testserver"
)

// drive reads a simulated car as the agent's fast tier does, five times a
// second of simulated time, and feeds its trip tracker; it returns the
// trips that ended and the one still going.
func drive(t *testing.T, sc car.Scenario, endAfter, until time.Duration) (ended []*trip, cur *trip) {
	t.Helper()
	c := car.New(car.DefaultSpec(), sc, 5)
	clock := car.ManualClock()
	client := obd.NewClient(ecu.Direct(ecu.Modules(c, clock, ecu.Options{})))
	ts := trips{endAfter: endAfter}
	base := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	running, silent := false, 0
	for at := time.Duration(0); at <= until; at += 200 * time.Millisecond {
		clock.Set(at)
		now := base.Add(at)
		rs, err := client.Read(context.Background(), 0x0C, 0x0D)
		if len(rs) == 0 {
			if !carSilent(err) {
				t.Fatal(err)
			}
			if silent++; silent == 3 {
				if tr := ts.ignitionOff(); tr != nil {
					ended = append(ended, tr)
				}
				running = false
				client.Forget()
			}
			continue
		}
		silent = 0
		speed, rpm := math.NaN(), math.NaN()
		vals, _ := obd.OneValuePerSignal(rs)
		for _, v := range vals {
			switch v.Signal {
			case "Vehicle.Speed":
				speed = v.Value
			case "Vehicle.Powertrain.CombustionEngine.Speed":
				rpm = v.Value
			}
		}
		running = engineRuns(running, rpm)
		if tr := ts.cur; tr != nil {
			tr.step(now, speed, math.NaN(), math.NaN(), math.NaN(), math.NaN())
		}
		if _, e := ts.observe(now, running, speed); e != nil {
			ended = append(ended, e)
		}
	}
	return ended, ts.cur
}

// A simulated hybrid driving twenty minutes with ten stops, the engine off
// at each and the car rolling on electricity: one trip, ten engine stops,
// ended by the ignition.
func TestHybridDriveIsOneTrip(t *testing.T) {
	sc, err := car.Load("hybrid")
	if err != nil {
		t.Fatal(err)
	}
	ended, cur := drive(t, sc, 5*time.Minute, 25*time.Minute)
	if len(ended) != 1 || cur != nil {
		t.Fatalf("%d trips ended, one still going: %v; want one trip", len(ended), cur != nil)
	}
	tr := ended[0]
	d := tr.end.Sub(tr.start)
	if tr.engineStops != 10 || d < 20*time.Minute || d > 21*time.Minute || tr.engineOff < 5*time.Minute || tr.distance < 15 {
		t.Fatalf("trip of %v, %.1f km, %d engine stops, engine off %v", d, tr.distance, tr.engineStops, tr.engineOff)
	}
	t.Logf("one trip of %v, %.1f km, %d engine stops, engine off for %v", d.Round(time.Second), tr.distance, tr.engineStops, tr.engineOff.Round(time.Second))
}

// Standing with the engine off for end_after ends the trip, as of when
// the car came to rest; shorter stops do not; the car pulling away again
// starts a new trip. A combustion engine idling all along is one trip.
func TestStandingStillEndsTheTrip(t *testing.T) {
	plan := []car.Phase{{Kind: car.Idle, For: time.Minute}, {Kind: car.Highway, For: 2 * time.Minute}, {Kind: car.Idle, For: 3 * time.Minute},
		{Kind: car.Highway, For: 2 * time.Minute}, {Kind: car.Idle, For: 8 * time.Minute}, {Kind: car.Highway, For: 2 * time.Minute},
		{Kind: car.Parked, For: time.Hour}}
	for _, c := range []struct {
		pt    car.Powertrain
		trips int
	}{{car.Hybrid, 2}, {car.StopStart, 2}, {car.Combustion, 1}} {
		sc := car.Scenario{Drive: plan, Vehicle: car.Setup{Powertrain: c.pt}}
		ended, cur := drive(t, sc, 5*time.Minute, 20*time.Minute)
		if len(ended) != c.trips || cur != nil {
			t.Fatalf("%s: %d trips, one going %v; want %d", c.pt, len(ended), cur != nil, c.trips)
		}
		if c.trips == 2 {
			first, second := ended[0], ended[1]
			// The first trip ends where the car came to rest for the long
			// stop (about 8 minutes in), not five minutes later; the short
			// stop before it is an engine stop within it.
			if e := first.end.Sub(first.start); e < 8*time.Minute || e > 8*time.Minute+30*time.Second || first.engineStops != 1 {
				t.Errorf("%s: first trip %v with %d stops", c.pt, e, first.engineStops)
			}
			if gap := second.start.Sub(first.end); gap < 7*time.Minute || gap > 9*time.Minute {
				t.Errorf("%s: the second trip starts %v after the first ended", c.pt, gap)
			}
		}
	}
}

func TestEngineRuns(t *testing.T) {
	for _, c := range []struct {
		ran  bool
		rpm  float64
		runs bool
	}{{false, 250, false}, {false, 320, true}, {true, 150, true}, {true, 80, false}, {true, math.NaN(), false}, {false, math.NaN(), false}} {
		if got := engineRuns(c.ran, c.rpm); got != c.runs {
			t.Errorf("engineRuns(%v, %v) = %v", c.ran, c.rpm, got)
		}
	}
}

// The agent itself, reading a simulated hybrid through the ELM327 emulator
// on a clock twenty times as fast: twenty simulated minutes with ten engine
// stops (each about two seconds of wall time), then the car parked, arrive
// at the broker as one trip whose end counts the ten stops.
func TestAgentHybridIsOneTrip(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	sc, err := car.Load("hybrid")
	if err != nil {
		t.Fatal(err)
	}
	c := car.New(car.DefaultSpec(), sc, 1)
	clock := car.NewClock(20)
	cfg := testConfig(t, serveCar(t, c, clock), b.URL())
	cfg.Trips.EndAfter = 30 * time.Second
	w := watch(t, b.URL(), cfg.DeviceID)
	_, stop := runAgent(t, cfg)
	events := func() (starts int, ends []*wirepb.TripEnd) {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, m := range w.msgs {
			if e, ok := m.(*wirepb.Event); ok {
				if e.GetTripStart() != nil {
					starts++
				}
				if x := e.GetTripEnd(); x != nil {
					ends = append(ends, x)
				}
			}
		}
		return starts, ends
	}
	// The drive takes about a minute of wall time, the ignition goes off
	// after.
	eventually(t, 3*time.Minute, "the trip to end", func() bool { _, ends := events(); return len(ends) > 0 || clock.Sim() > 40*time.Minute })
	time.Sleep(time.Second) // a second trip, if the agent saw one, would be out now
	stop()
	starts, ends := events()
	if starts != 1 || len(ends) != 1 {
		t.Fatalf("%d trips started and %d ended; want one of each", starts, len(ends))
	}
	if e := ends[0]; e.GetEngineStops() != 10 || e.GetEngineOffS() <= 0 || e.GetDistanceKm() < 15 {
		t.Fatalf("trip end %v: want ten engine stops", e)
	}
	if s := c.State(); s.Ignition || s.AutoRestarts != 10 {
		t.Fatalf("the simulated car: ignition %v, %d restarts", s.Ignition, s.AutoRestarts)
	}
}

// The agent reads the monitors' test results after the car wakes: the
// misfire counts arrive as samples, every result in the trouble-code report.
func TestAgentSendsMonitorResults(t *testing.T) {
	t.Parallel()
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	// Into the second drive of a car whose third cylinder misfires more
	// and more.
	carURL, _ := startCar(t, "misfire-developing", 80*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	w := watch(t, b.URL(), cfg.DeviceID)
	_, stop := runAgent(t, cfg)
	defer stop()
	var report *wirepb.DTCReport
	var cyl3 *wirepb.TestResult
	sent := false
	eventually(t, 60*time.Second, "the monitors' results in a trouble-code report and as samples", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, m := range w.msgs {
			if r, ok := m.(*wirepb.DTCReport); ok && len(r.GetTests()) > 0 && report == nil {
				report = r
				for _, x := range r.GetTests() {
					if x.GetMid() == 0xA4 && x.GetTid() == 0x0B {
						cyl3 = x
					}
				}
			}
		}
		if cyl3 == nil || len(w.births) == 0 {
			return false
		}
		aliases, err := wire.AliasesFromBirth(w.births[len(w.births)-1])
		if err != nil {
			t.Error(err)
			return true
		}
		for _, m := range w.msgs {
			if tm, ok := m.(*wirepb.Telemetry); ok {
				samples, _ := wire.Samples(tm, aliases)
				for _, s := range samples {
					sent = sent || s.Signal == cyl3.GetSignal() && s.Value == cyl3.GetValue()
				}
			}
		}
		return sent
	})
	if cyl3.GetSignal() != "Vehicle.OBD.Monitor.Misfire.Cylinder3.AverageCount" || cyl3.GetValue() < 10 || !cyl3.GetPassed() {
		t.Fatalf("cylinder 3's average in %v", report.GetTests())
	}
}
