package car

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// run steps a car for d and calls check after every step.
func run(c *Car, d time.Duration, check func(prev, s State)) State {
	prev := c.State()
	for t := time.Duration(0); t < d; t += Step {
		c.Advance(Step)
		s := c.State()
		if check != nil {
			check(prev, s)
		}
		prev = s
	}
	return prev
}

// Physical plausibility over three hours of driving, for every scenario
// and several seeds.
func TestPlausible(t *testing.T) {
	for _, sc := range Builtins() {
		seeds := uint64(1)
		if sc.Name == "healthy" {
			seeds = 3
		}
		for seed := uint64(1); seed <= seeds; seed++ {
			c := New(DefaultSpec(), sc, seed)
			starts := 0
			var bad []string
			fail := func(s State, format string, args ...any) {
				if len(bad) < 5 {
					bad = append(bad, s.Time.String()+": "+strings.TrimSpace(sprintf(format, args...)))
				}
			}
			run(c, 3*time.Hour, func(prev, s State) {
				if !s.Ignition && s.Speed != 0 {
					fail(s, "speed %.1f with the ignition off", s.Speed)
				}
				if !s.Running && s.RPM > 300 {
					fail(s, "%.0f rpm with the engine off", s.RPM)
				}
				if s.Running && (s.RPM < 400 || s.RPM > 6500) {
					fail(s, "%.0f rpm while running", s.RPM)
				}
				if s.Speed < 0 || s.Speed > 200 || s.Speed > 3 && s.Running && s.Gear == 0 {
					fail(s, "speed %.1f in gear %d", s.Speed, s.Gear)
				}
				if s.Running && s.Speed > 0.5 && prev.Running && s.FuelLevel > prev.FuelLevel {
					fail(s, "fuel rose from %.3f to %.3f while driving", prev.FuelLevel, s.FuelLevel)
				}
				if s.Odometer < prev.Odometer {
					fail(s, "odometer went back")
				}
				if s.MAP > s.Baro+0.01 || s.MAF < 0 || s.Load < 0 || s.Load > 100 || s.Throttle < 0 || s.Throttle > 100 {
					fail(s, "MAP %.1f MAF %.1f load %.1f throttle %.1f", s.MAP, s.MAF, s.Load, s.Throttle)
				}
				if s.Battery < 5 || s.Battery > 15.5 {
					fail(s, "battery %.2f V", s.Battery)
				}
				if s.Coolant < s.Ambient-10 || s.Coolant > 135 {
					fail(s, "coolant %.1f", s.Coolant)
				}
				if s.Running && !prev.Running {
					starts++
					if starts == 1 && math.Abs(s.Coolant-s.Ambient) > 1 {
						fail(s, "cold start with coolant %.1f at ambient %.1f", s.Coolant, s.Ambient)
					}
				}
			})
			if starts < 2 {
				bad = append(bad, "fewer than two drive cycles in three hours")
			}
			if len(bad) > 0 {
				t.Errorf("%s seed %d:\n  %s", sc.Name, seed, strings.Join(bad, "\n  "))
			}
		}
	}
}

// Each fault scenario sets its codes and shows its signature; the healthy
// car sets none.
func TestScenariosProduceTheirCodes(t *testing.T) {
	cases := map[string]struct {
		codes     []obd.DTC
		signature func(s State, sig *signature)
		check     func(sig signature) string
	}{
		"healthy": {nil, nil, nil},
		"overheat": {[]obd.DTC{P0217}, nil, func(sig signature) string {
			return want(sig.maxCoolant > 110, "coolant peaked at %.1f", sig.maxCoolant)
		}},
		"coolant-leak": {[]obd.DTC{P0217}, nil, func(sig signature) string {
			return want(sig.maxCoolant > 110, "coolant peaked at %.1f", sig.maxCoolant)
		}},
		"misfire": {[]obd.DTC{P0300, 0x0302}, nil, func(sig signature) string {
			return want(sig.idleRPMSpread() > 60, "idle rpm spread %.0f", sig.idleRPMSpread())
		}},
		"catalyst": {[]obd.DTC{P0420}, nil, func(sig signature) string {
			return want(sig.downSwing > 0.5, "downstream O2 swung %.2f V", sig.downSwing)
		}},
		"o2-sensor": {[]obd.DTC{P0133, P0135}, nil, nil},
		"lean": {[]obd.DTC{P0171}, nil, func(sig signature) string {
			return want(sig.maxTrim > 25, "trims peaked at %.1f", sig.maxTrim)
		}},
		"evap-leak": {[]obd.DTC{P0455}, nil, nil},
		"weak-battery": {nil, nil, func(sig signature) string {
			return want(sig.restMax < 12.2 && sig.crankMin < 9.6, "resting up to %.2f V, cranking down to %.2f V", sig.restMax, sig.crankMin)
		}},
		"alternator": {[]obd.DTC{P0562}, nil, func(sig signature) string {
			return want(sig.runMin < 13, "running voltage down to %.2f", sig.runMin)
		}},
	}
	// Scenarios that take longer than two hours, or whose point is not a
	// code, have tests of their own.
	ownTest := map[string]string{"misfire-developing": "TestMonitorResultsLeadTheCode", "catalyst-aging": "TestMonitorResultsLeadTheCode", "hybrid": "TestEngineStopsWithinTheDrive"}
	for _, sc := range Builtins() {
		tc, ok := cases[sc.Name]
		if ownTest[sc.Name] != "" {
			continue
		}
		if !ok {
			t.Errorf("scenario %s has no test case", sc.Name)
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			c := New(DefaultSpec(), sc, 7)
			var sig signature
			sig.restMax, sig.crankMin, sig.runMin = 0, 99, 99
			s := run(c, 2*time.Hour, func(_, s State) { sig.observe(s) })
			for _, code := range tc.codes {
				if !slices.Contains(s.Stored, code) || !slices.Contains(s.Permanent, code) {
					t.Errorf("code %s not confirmed: stored %v, permanent %v", code, s.Stored, s.Permanent)
				}
			}
			if len(tc.codes) == 0 && (len(s.Stored)+len(s.Pending) > 0 || s.MIL) {
				t.Errorf("codes set: stored %v pending %v MIL %v", s.Stored, s.Pending, s.MIL)
			}
			if len(tc.codes) > 0 {
				if !s.MIL || s.Freeze == nil || !slices.Contains(tc.codes, s.Freeze.DTC) {
					t.Errorf("MIL %v, freeze frame %+v", s.MIL, s.Freeze)
				}
			}
			if tc.check != nil {
				if msg := tc.check(sig); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

type signature struct {
	maxCoolant, maxTrim, downSwing float64
	restMax, crankMin, runMin      float64
	idleRPMs                       []float64
	downMin, downMax               float64
}

func (sig *signature) observe(s State) {
	sig.maxCoolant = math.Max(sig.maxCoolant, s.Coolant)
	if s.FuelSystem == obd.FuelClosedLoop {
		sig.maxTrim = math.Max(sig.maxTrim, s.STFT+s.LTFT)
		if s.Speed > 40 {
			if sig.downMax == 0 {
				sig.downMin = 9
			}
			sig.downMin, sig.downMax = math.Min(sig.downMin, s.O2Down), math.Max(sig.downMax, s.O2Down)
			sig.downSwing = sig.downMax - sig.downMin
		}
	}
	switch {
	case s.Cranking:
		sig.crankMin = math.Min(sig.crankMin, s.Battery)
	case s.Running:
		if s.RunTime > 20*time.Second {
			sig.runMin = math.Min(sig.runMin, s.Battery)
		}
		if s.Speed == 0 && s.RunTime > 3*time.Minute && len(sig.idleRPMs) < 2000 {
			sig.idleRPMs = append(sig.idleRPMs, s.RPM)
		}
	case !s.Ignition:
		sig.restMax = math.Max(sig.restMax, s.Battery)
	}
}

func (sig signature) idleRPMSpread() float64 {
	if len(sig.idleRPMs) < 10 {
		return 0
	}
	var sum, sq float64
	for _, r := range sig.idleRPMs {
		sum += r
	}
	mean := sum / float64(len(sig.idleRPMs))
	for _, r := range sig.idleRPMs {
		sq += (r - mean) * (r - mean)
	}
	return math.Sqrt(sq / float64(len(sig.idleRPMs)))
}

func want(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return "signature missing: " + sprintf(format, args...)
}

func TestHealthyIdleIsSmooth(t *testing.T) {
	healthy, _ := Load("healthy")
	c := New(DefaultSpec(), healthy, 7)
	var sig signature
	run(c, time.Hour, func(_, s State) { sig.observe(s) })
	if sp := sig.idleRPMSpread(); sp > 30 {
		t.Errorf("a healthy idle spreads %.0f rpm", sp)
	}
}

// Service 04 clears codes, the freeze frame and readiness; a fault still
// present brings its code back; the permanent code stays meanwhile.
func TestClearDTCs(t *testing.T) {
	sc, _ := Load("overheat")
	c := New(DefaultSpec(), sc, 3)
	s := run(c, 20*time.Minute, nil)
	if !slices.Contains(s.Stored, P0217) {
		t.Fatalf("no P0217 after 20 minutes: %+v", s.Stored)
	}
	c.ClearDTCs()
	s = c.State()
	if len(s.Stored)+len(s.Pending) > 0 || s.MIL || s.Freeze != nil || s.DistanceSinceClear != 0 || s.WarmupsSinceClear != 0 {
		t.Fatalf("after clearing: %+v", s)
	}
	if !slices.Contains(s.Permanent, P0217) {
		t.Fatal("the permanent code went with the clear")
	}
	ready := 0
	for _, m := range s.Monitors {
		if m.Supported && m.Complete {
			ready++
		}
	}
	if ready != 0 {
		t.Fatalf("%d monitors complete right after clearing", ready)
	}
	s = run(c, 2*time.Hour, nil)
	if !slices.Contains(s.Stored, P0217) {
		t.Fatalf("the code did not come back: %v", s.Stored)
	}
}

// A healthy car that had its codes cleared completes its monitors within
// a drive cycle or two.
func TestMonitorsComplete(t *testing.T) {
	sc, _ := Load("healthy")
	sc.Vehicle.Cleared = true
	c := New(DefaultSpec(), sc, 5)
	s := run(c, 2*time.Hour, nil)
	for _, m := range s.Monitors {
		if m.Supported && !m.Complete {
			t.Errorf("monitor %s incomplete after two hours", m.Name)
		}
	}
	if s.WarmupsSinceClear < 2 || s.DistanceSinceClear < 20 {
		t.Errorf("warm-ups %d, distance %.1f since clearing", s.WarmupsSinceClear, s.DistanceSinceClear)
	}
}

func TestDeterministic(t *testing.T) {
	sc, _ := Load("misfire")
	a, b := New(DefaultSpec(), sc, 42), New(DefaultSpec(), sc, 42)
	a.Advance(37 * time.Minute)
	b.AdvanceTo(37 * time.Minute)
	if sa, sb := a.State(), b.State(); sa.RPM != sb.RPM || sa.Coolant != sb.Coolant || sa.Odometer != sb.Odometer || !slices.Equal(sa.Stored, sb.Stored) {
		t.Fatalf("same seed, different cars:\n%+v\n%+v", sa, sb)
	}
	c := New(DefaultSpec(), sc, 43)
	c.Advance(37 * time.Minute)
	if c.State().Odometer == a.State().Odometer {
		t.Fatal("a different seed drove exactly the same")
	}
}

func TestScenarioErrors(t *testing.T) {
	cases := map[string]string{
		"description: [1, 2]":                                             "bad.yaml:1:14: want text",
		"faults:\n  - fault: thermostat\n":                                `bad.yaml:2:12: unknown fault "thermostat"`,
		"faults:\n  - at: 1m\n":                                           "bad.yaml:2:5: a fault needs `fault:`",
		"faults:\n  - fault: misfire\n    at: soon\n":                     `bad.yaml:3:9: want a duration like 90s or 5m, got "soon"`,
		"faults:\n  - fault: lean\n    colour: red\n":                     `bad.yaml:2:12: unknown fault "lean"`,
		"faults:\n  - fault: evap-leak\n    cylinder: 2\n":                "bad.yaml:2:5: cylinder applies to misfire only",
		"drive:\n  - parked: 5m\n":                                        "bad.yaml:2:3: the drive never starts the engine",
		"drive:\n  - cruise: 5m\n":                                        `bad.yaml:2:5: unknown phase "cruise"`,
		"vehicle:\n  vin: 1G1JC5444O7252367\n":                            `bad.yaml:2:8: vin "1G1JC5444O7252367": character 10`,
		"vehicle:\n  ambient: 99\n":                                       "bad.yaml:2:12: 99 °C is outside -40…55",
		"colour: red\n":                                                   `bad.yaml:1:1: unknown key "colour" in the scenario`,
		"faults: [\n":                                                     "bad.yaml:",
		"faults:\n  - fault: misfire\n    cylinder: 2\n    cylinder: 3\n": `bad.yaml:4:5: "cylinder" given twice`,
	}
	for src, wantErr := range cases {
		_, err := ParseScenario("bad.yaml", []byte(src))
		var pe *PositionError
		if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q:\n got %v\nwant %s", src, err, wantErr)
		}
	}
	if _, err := Load("no-such"); err == nil || !strings.Contains(err.Error(), "built-ins: alternator, catalyst") {
		t.Errorf("unknown scenario: %v", err)
	}
}

func TestBuiltinsListed(t *testing.T) {
	var names []string
	for _, sc := range Builtins() {
		names = append(names, sc.Name)
		if sc.Description == "" {
			t.Errorf("%s has no description", sc.Name)
		}
	}
	want := []string{"alternator", "catalyst", "catalyst-aging", "coolant-leak", "evap-leak", "healthy", "hybrid", "lean", "misfire", "misfire-developing",
		"o2-sensor", "overheat", "weak-battery"}
	if !slices.Equal(names, want) {
		t.Errorf("built-ins %v, want %v", names, want)
	}
}

func TestVINFor(t *testing.T) {
	seen := map[string]bool{}
	for n := uint64(0); n < 5000; n++ {
		v := VINFor(n)
		if c := obd.CheckVIN(v); !c.Valid || !c.CheckDigit {
			t.Fatalf("VINFor(%d) = %s: %+v", n, v, c)
		}
		if seen[v] {
			t.Fatalf("VINFor(%d) = %s repeats", n, v)
		}
		seen[v] = true
	}
}

// The misfire and catalyst monitors' results (service 06) move drives
// before the fault sets its code, and only for the faulty cylinder.
func TestMonitorResultsLeadTheCode(t *testing.T) {
	for _, c := range []struct {
		scenario string
		code     obd.DTC
		moved    func(s State) bool
	}{
		{"misfire-developing", 0x0303, func(s State) bool { return s.MisfireAverage[2] >= 10 }},
		{"catalyst-aging", P0420, func(s State) bool { return s.CatalystRatio > 0.3 }},
	} {
		sc, err := Load(c.scenario)
		if err != nil {
			t.Fatal(err)
		}
		car := New(DefaultSpec(), sc, 7)
		var moved, coded time.Duration
		for at := time.Duration(0); at < 12*time.Hour && coded == 0; at += 30 * time.Second {
			car.AdvanceTo(at)
			s := car.State()
			if moved == 0 && c.moved(s) {
				moved = at
			}
			if slices.Contains(s.Pending, c.code) || slices.Contains(s.Stored, c.code) {
				coded = at
			}
			if c.scenario == "misfire-developing" && (s.MisfireCount[0]+s.MisfireCount[1]+s.MisfireCount[3] != 0 || s.MisfireAverage[1] != 0) {
				t.Fatalf("healthy cylinders misfire: %v %v", s.MisfireCount, s.MisfireAverage)
			}
		}
		if moved == 0 || coded == 0 || coded-moved < time.Hour {
			t.Errorf("%s: the result moved at %v, %v set at %v: want it an hour or more before", c.scenario, moved, c.code, coded)
		}
		t.Logf("%s: the monitor's result moved at %v, %v was set at %v", c.scenario, moved, c.code, coded)
	}
}

// A hybrid stops its engine at every stop and rolls on electricity; a
// stop-start car stops it only standing; a combustion car never does.
func TestEngineStopsWithinTheDrive(t *testing.T) {
	sc, err := Load("hybrid")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pt                Powertrain
		restarts          int
		movingEngineOffKm float64 // at least
	}{{Hybrid, 10, 0.05}, {StopStart, 10, 0}, {Combustion, 0, 0}} {
		sc.Vehicle.Powertrain = c.pt
		car := New(DefaultSpec(), sc, 3)
		var last State
		offKm := 0.0
		for at := time.Duration(0); at < 1210*time.Second; at += Step {
			car.AdvanceTo(at)
			s := car.State()
			if !s.Ignition && at > time.Second {
				t.Fatalf("%s: ignition off at %v", c.pt, at)
			}
			if !s.Running && !s.Cranking && at > time.Minute && s.Speed > 1 {
				offKm += s.Speed * Step.Hours()
			}
			if c.pt == StopStart && !s.Running && !s.Cranking && s.Speed > 1 && at > 2*time.Minute {
				t.Fatalf("stop-start engine off while moving at %v km/h", s.Speed)
			}
			last = s
		}
		if last.AutoRestarts != c.restarts || offKm < c.movingEngineOffKm || c.pt == Combustion && last.AutoStops != 0 {
			t.Errorf("%s: %d stops, %d restarts, %.2f km driven with the engine off", c.pt, last.AutoStops, last.AutoRestarts, offKm)
		}
		t.Logf("%s: %d stops, %d restarts, %.2f km driven with the engine off", c.pt, last.AutoStops, last.AutoRestarts, offKm)
		car.AdvanceTo(1400 * time.Second)
		if s := car.State(); s.Ignition || s.Running {
			t.Errorf("%s: still on after the drive", c.pt)
		}
	}
}
