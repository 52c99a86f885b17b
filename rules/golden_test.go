package rules

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the expected.json files")

// input is a golden case's stream: steps at offsets from start.
type input struct {
	Device      string    `yaml:"device"`
	Vehicle     string    `yaml:"vehicle"`
	Start       time.Time `yaml:"start"`
	Maintenance *struct {
		Date       time.Time `yaml:"date"`
		OdometerKm float64   `yaml:"odometer_km"`
	} `yaml:"maintenance"`
	Steps []step `yaml:"steps"`
}

// step is one moment, or a run of moments (from, to, every) over which
// each sample ramps linearly between its two values.
type step struct {
	At      *duration       `yaml:"at"`
	From    duration        `yaml:"from"`
	To      duration        `yaml:"to"`
	Every   duration        `yaml:"every"`
	Samples map[string]ramp `yaml:"samples"`
	Codes   *struct {
		Stored  []string `yaml:"stored"`
		Pending []string `yaml:"pending"`
		MIL     bool     `yaml:"mil"`
	} `yaml:"codes"`
	Event *struct {
		Kind   string         `yaml:"kind"`
		Fields map[string]any `yaml:"fields"`
	} `yaml:"event"`
}

type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	*d = duration(v)
	return err
}

// ramp is a value, or [from, to].
type ramp [2]float64

func (r *ramp) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var v []float64
		if err := n.Decode(&v); err != nil || len(v) != 2 {
			return fmt.Errorf("line %d: a ramp is [from, to]", n.Line)
		}
		*r = ramp{v[0], v[1]}
		return nil
	}
	var v float64
	if err := n.Decode(&v); err != nil {
		return err
	}
	*r = ramp{v, v}
	return nil
}

// expected is an alert as the golden files hold it: times as offsets.
type expected struct {
	Rule     string             `json:"rule"`
	State    State              `json:"state"`
	Severity Severity           `json:"severity"`
	StartsAt string             `json:"starts_at"`
	EndsAt   string             `json:"ends_at,omitempty"`
	Summary  string             `json:"summary"`
	Values   map[string]float64 `json:"values,omitempty"`
	Codes    []string           `json:"codes,omitempty"`
	OneShot  bool               `json:"one_shot,omitempty"`
}

// play feeds a case's input to an engine and returns the alerts.
func play(t *testing.T, set *Set, in input) []expected {
	t.Helper()
	var opts []Option
	if m := in.Maintenance; m != nil {
		opts = append(opts, WithMaintenance(func(string) (Maintenance, bool) { return Maintenance{Date: m.Date, OdometerKm: m.OdometerKm}, true }))
	}
	e := NewEngine(set, opts...)
	var alerts []Alert
	for _, m := range expand(t, in) {
		switch {
		case m.samples != nil:
			alerts = append(alerts, e.Samples(in.Device, in.Vehicle, m.samples)...)
		case m.codes != nil:
			alerts = append(alerts, e.Codes(in.Device, in.Vehicle, *m.codes)...)
		case m.event != nil:
			alerts = append(alerts, e.Event(in.Device, in.Vehicle, *m.event)...)
		}
	}
	out := []expected{}
	for _, a := range alerts {
		x := expected{Rule: a.Rule, State: a.State, Severity: a.Severity, StartsAt: a.StartsAt.Sub(in.Start).String(),
			Summary: a.Summary, Codes: a.Codes, OneShot: a.OneShot, Values: map[string]float64{}}
		if !a.EndsAt.IsZero() {
			x.EndsAt = a.EndsAt.Sub(in.Start).String()
		}
		for k, v := range a.Values {
			x.Values[k] = math.Round(v*1000) / 1000
		}
		if a.Labels["alertname"] != a.Rule || a.Labels["device"] != in.Device {
			t.Errorf("labels %v", a.Labels)
		}
		out = append(out, x)
	}
	return out
}

// Each folder in testdata holds a case: rules.yaml (the built-in pack
// when absent), input.yaml and expected.json.
func TestGolden(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*"))
	if len(dirs) == 0 {
		t.Fatal("no cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, in := loadCase(t, dir)
			got, _ := json.MarshalIndent(play(t, set, in), "", "  ")
			got = append(got, '\n')
			path := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("alerts differ from %s:\n%s", path, got)
			}
		})
	}
}

// loadCase reads a golden case's rules (the built-in pack when it has
// none) and input.
func loadCase(t *testing.T, dir string) (*Set, input) {
	t.Helper()
	set := Builtin()
	if _, err := os.Stat(filepath.Join(dir, "rules.yaml")); err == nil {
		var err error
		if set, err = LoadFile(filepath.Join(dir, "rules.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var in input
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&in); err != nil {
		t.Fatal(err)
	}
	return set, in
}

// expand turns a case's steps into moments, in the order of the steps:
// a step's values, report and event at each of its instants.
func expand(t *testing.T, in input) []moment {
	t.Helper()
	var ms []moment
	for i, s := range in.Steps {
		var times []time.Duration
		if s.At != nil {
			times = append(times, time.Duration(*s.At))
		} else {
			if s.Every <= 0 || s.To < s.From {
				t.Fatalf("step %d: give at, or from, to and every", i)
			}
			for d := s.From; d <= s.To; d += s.Every {
				times = append(times, time.Duration(d))
			}
		}
		for k, off := range times {
			at := in.Start.Add(off)
			if len(s.Samples) > 0 {
				var ss []Sample
				for sig, r := range s.Samples {
					f := 0.0
					if len(times) > 1 {
						f = float64(k) / float64(len(times)-1)
					}
					ss = append(ss, Sample{Signal: sig, Time: at, Value: r[0] + (r[1]-r[0])*f})
				}
				sort.Slice(ss, func(i, j int) bool { return ss[i].Signal < ss[j].Signal })
				ms = append(ms, moment{at: at, samples: ss})
			}
			if c := s.Codes; c != nil {
				ms = append(ms, moment{at: at, codes: &Codes{Time: at, Stored: c.Stored, Pending: c.Pending, MIL: c.MIL}})
			}
			if ev := s.Event; ev != nil {
				fields := map[string]any{}
				for k, v := range ev.Fields {
					if n, ok := v.(int); ok {
						v = float64(n)
					}
					fields[k] = v
				}
				ms = append(ms, moment{at: at, event: &Event{Time: at, Kind: ev.Kind, Fields: fields}})
			}
		}
	}
	return ms
}
