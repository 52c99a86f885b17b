package rules

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every problem is reported with its file, line and column, and the good
// rules of the file still load.
func TestLoadErrors(t *testing.T) {
	src := `rules:
  - name: good-one
    when: Vehicle.Speed > 100
  - name: syntax
    when: Vehicle.Speed >
  - name: unknown-signal
    when: Vehicle.Powertrain.CombustionEngine.Sped > 6000
  - name: type-error
    when: 'Vehicle.Speed > "fast"'
  - name: not-a-condition
    when: Vehicle.Speed + 1
  - name: bad-window
    when: avg_over(Vehicle.Speed, "ages") > 1
  - name: bad-keys
    severity: dire
    for: soon
    when: mil
    colour: red
  - name: event-with-for
    when: event == "trip_end"
    for: 10s
  - name: reserved
    when: mil
    labels: {device: x}
  - name: bad-summary
    when: mil
    summary: "{{.Nope}}"
  - name: good-one
    when: mil
  - name: block
    when: |
      Vehicle.Speed > 100
      and Vehicle.Sped < 3
  - name: good-two
    when: code("P0300")
`
	set, err := Parse("car.yaml", []byte(src))
	if err == nil {
		t.Fatal("no errors")
	}
	for _, want := range []string{
		`car.yaml:5:25: rule "syntax": unexpected token EOF`,
		`car.yaml:7:47: rule "unknown-signal": unknown name Vehicle.Powertrain.CombustionEngine.Sped (did you mean Vehicle.Powertrain.CombustionEngine.Speed?)`,
		`car.yaml:9:26: rule "type-error": invalid operation: > (mismatched types float64 and string)`,
		`car.yaml:11:11: rule "not-a-condition": expected bool, but got float64`,
		`car.yaml:13:35: rule "bad-window": avg_over: the window must be a duration`,
		`car.yaml:15:15: rule "bad-keys": severity "dire": want info, warning or critical`,
		`car.yaml:16:10: rule "bad-keys": for "soon": want a duration`,
		`car.yaml:18:5: rule "bad-keys": unknown key "colour"`,
		`car.yaml:20:11: rule "event-with-for": a condition on an event or a new code holds for one moment`,
		`car.yaml:24:13: rule "reserved": label "device" is set by Pitwall`,
		`car.yaml:27:14: rule "bad-summary": summary:`,
		`car.yaml:28:5: rule "good-one": a rule of this name is already at line 2`,
		`car.yaml:33:19: rule "block": unknown name Vehicle.Sped (did you mean Vehicle.Speed?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	var names []string
	for _, r := range set.Rules {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "good-one,good-two" {
		t.Errorf("loaded %v; want the good rules", names)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "car.yaml" || e.Line == 0 {
		t.Errorf("not an *Error: %#v", err)
	}
}

func TestBadFiles(t *testing.T) {
	for src, want := range map[string]string{
		"rules: [\n":                     "car.yaml:1:1: did not find expected node content",
		"- a\n- b\n":                     "car.yaml:1:1: a rule file is a mapping",
		"rules: {a: 1}\n":                "car.yaml:1:8: rules: want a list",
		"rule:\n  - name: x\n":           `car.yaml:1:1: unknown key "rule"`,
		"inhibit:\n  - source: {a: b}\n": "car.yaml:2:5: inhibit: each entry needs source and target",
	} {
		_, err := Parse("car.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", src, err, want)
		}
	}
}

// The built-in pack loads without a problem, and a golden case exercises
// each of its rules.
func TestBuiltinPack(t *testing.T) {
	set, err := Parse("builtin.yaml", builtinYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) < 14 || len(set.Inhibits) == 0 {
		t.Fatalf("%d rules, %d inhibits", len(set.Rules), len(set.Inhibits))
	}
	seen := map[string]bool{}
	files, _ := filepath.Glob("testdata/*/expected.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var as []expected
		_ = json.Unmarshal(b, &as)
		for _, a := range as {
			seen[a.Rule] = true
		}
	}
	for _, r := range set.Rules {
		if !seen[r.Name] && r.Name != "rich-mixture" && r.Name != "charging-high" {
			t.Errorf("no golden case fires %s", r.Name)
		}
	}
}

// Properties over random streams: an alert never fires before its
// condition has held for its whole for:, and never resolves before its
// clear condition has held for clear_for.
func TestForAndClearProperties(t *testing.T) {
	set, err := Parse("p.yaml", []byte(`rules:
  - name: hot
    when: Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature > 105
    for: 20s
    clear: Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature < 95
    clear_for: 10s
`))
	if err != nil {
		t.Fatal(err)
	}
	const sig = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
	fired, resolvedN := 0, 0
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		e := NewEngine(set)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		type point struct {
			t time.Time
			v float64
		}
		var hist []point
		v := 100.0
		at := t0
		firing := false
		for range 400 {
			at = at.Add(time.Duration(200+rng.IntN(3000)) * time.Millisecond)
			v += rng.Float64()*6 - 3
			hist = append(hist, point{at, v})
			for _, a := range e.Samples("car", "", []Sample{{Signal: sig, Time: at, Value: v}}) {
				// held checks that cond held at every point within d before now.
				held := func(d time.Duration, cond func(float64) bool) bool {
					for i := len(hist) - 1; i >= 0 && !hist[i].t.Before(at.Add(-d)); i-- {
						if !cond(hist[i].v) {
							return false
						}
					}
					// and the condition held at the first point at or before the window
					for i := len(hist) - 1; i >= 0; i-- {
						if hist[i].t.Before(at.Add(-d)) || hist[i].t.Equal(at.Add(-d)) {
							return cond(hist[i].v) || hist[i].t.Equal(at.Add(-d))
						}
					}
					return false
				}
				switch a.State {
				case Firing:
					if firing || !held(20*time.Second, func(x float64) bool { return x > 105 }) {
						t.Fatalf("seed %d: fired at %v without 20 s over 105 (or twice)", seed, at.Sub(t0))
					}
					firing = true
					fired++
				case Resolved:
					if !firing || !held(10*time.Second, func(x float64) bool { return x < 95 }) {
						t.Fatalf("seed %d: resolved at %v without 10 s under 95", seed, at.Sub(t0))
					}
					firing = false
					resolvedN++
				}
			}
		}
	}
	if fired < 50 || resolvedN < 50 {
		t.Fatalf("the random streams fired %d and resolved %d times: too few to test anything", fired, resolvedN)
	}
}

// While the condition holds for less than its for:, the alert is
// pending; then firing; then gone.
func TestActivePendingFiring(t *testing.T) {
	e := NewEngine(Builtin())
	const c = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.Samples("car", "", []Sample{{Signal: c, Time: t0, Value: 115}})
	if a := e.Active("car"); len(a) != 1 || a[0].State != Pending || a[0].Rule != "overheat" {
		t.Fatalf("after the first hot sample: %+v", a)
	}
	e.Samples("car", "", []Sample{{Signal: c, Time: t0.Add(25 * time.Second), Value: 115}})
	if a := e.Active("car"); len(a) != 1 || a[0].State != Firing {
		t.Fatalf("after 25 s: %+v", a)
	}
	e.Samples("car", "", []Sample{{Signal: c, Time: t0.Add(time.Minute), Value: 90}, {Signal: c, Time: t0.Add(2 * time.Minute), Value: 90}})
	if a := e.Active("car"); len(a) != 0 {
		t.Fatalf("after cooling: %+v", a)
	}
	if a := e.Active("unknown"); a != nil {
		t.Fatalf("an unknown car: %+v", a)
	}
}

// After a restart, an alert restored as firing is continued, not fired
// again, and resolves with its original start.
func TestRestore(t *testing.T) {
	const c = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := NewEngine(Builtin())
	var fired Alert
	for i := range 30 {
		for _, a := range first.Samples("car", "van", []Sample{{Signal: c, Time: t0.Add(time.Duration(i) * time.Second), Value: 115}}) {
			fired = a
		}
	}
	if fired.State != Firing {
		t.Fatal("no overheat")
	}
	second := NewEngine(Builtin())
	second.Restore([]Alert{fired})
	if a := second.Samples("car", "van", []Sample{{Signal: c, Time: t0.Add(time.Minute), Value: 116}}); len(a) != 0 {
		t.Fatalf("fired again after the restart: %+v", a)
	}
	var got []Alert
	for i := range 40 {
		got = append(got, second.Samples("car", "van", []Sample{{Signal: c, Time: t0.Add(2*time.Minute + time.Duration(i)*time.Second), Value: 90}})...)
	}
	if len(got) != 1 || got[0].State != Resolved || !got[0].StartsAt.Equal(fired.StartsAt) {
		t.Fatalf("after cooling: %+v", got)
	}
}
