package diagnosis_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
)

var update = flag.Bool("update", false, "rewrite the golden reports")

// drive runs a scenario until its first code has been confirmed for two
// minutes (or for two hours when it sets none) and gathers what the
// agent would have sent: the last 45 minutes of signals at 1 Hz while
// the ECU is awake, the battery once a minute while parked.
func drive(sc car.Scenario) diagnosis.Input {
	c := car.New(car.DefaultSpec(), sc, 7)
	clock := car.ManualClock()
	client := obd.NewClient(ecu.Direct(ecu.Modules(c, clock, ecu.Options{})))
	var tests []obd.TestResult
	base := time.Date(2026, 3, 14, 7, 30, 0, 0, time.UTC)
	hist := map[string][]diagnosis.Sample{}
	add := func(sig string, t time.Time, v float64) {
		hist[sig] = append(hist[sig], diagnosis.Sample{Time: t, Value: v})
	}
	var st car.State
	var confirmed time.Duration = -1
	for step := time.Duration(0); step < 2*time.Hour; step += time.Second {
		c.Advance(time.Second)
		st = c.State()
		t := base.Add(st.Time)
		switch {
		case st.Ignition:
			for sig, v := range map[string]float64{
				diagnosis.SigCoolant: st.Coolant, diagnosis.SigRPM: st.RPM, diagnosis.SigSpeed: st.Speed, diagnosis.SigLoad: st.Load,
				diagnosis.SigMAF: st.MAF, diagnosis.SigSTFT1: st.STFT, diagnosis.SigLTFT1: st.LTFT, diagnosis.SigO2Up: st.O2Up,
				diagnosis.SigO2Down: st.O2Down, diagnosis.SigBattery: st.Battery, diagnosis.SigModuleV: st.ModuleVoltage,
				diagnosis.SigFuelLevel: st.FuelLevel, diagnosis.SigEvap: st.EvapPressure, diagnosis.SigAmbient: st.Ambient,
			} {
				add(sig, t, v)
			}
		case int(st.Time.Seconds())%60 == 0:
			add(diagnosis.SigBattery, t, st.Battery)
		}
		if st.Ignition && int(st.Time.Seconds())%60 == 30 {
			// Service 06 every minute of driving (the agent reads it every
			// five; a report reads the latest).
			clock.Set(st.Time)
			if res, err := client.MonitorTests(context.Background()); err == nil {
				tests = res
			}
		}
		if confirmed < 0 && len(st.Stored) > 0 {
			confirmed = st.Time
		}
		if confirmed >= 0 && st.Time-confirmed >= 2*time.Minute {
			break
		}
	}
	end := base.Add(st.Time)
	for sig, xs := range hist {
		i := slices.IndexFunc(xs, func(s diagnosis.Sample) bool { return !s.Time.Before(end.Add(-45 * time.Minute)) })
		hist[sig] = xs[i:]
	}
	in := diagnosis.Input{
		Vehicle: diagnosis.Vehicle{ID: "veh-" + sc.Name, Name: "Test car", VIN: car.DefaultSpec().VIN, Make: "Chevrolet", Model: "Cavalier", Year: 1994},
		At:      end, MIL: st.MIL, History: hist,
		Latest: map[string]float64{diagnosis.SigOdometer: st.Odometer, diagnosis.SigWithMIL: st.DistanceWithMIL},
	}
	for _, k := range []struct {
		status string
		codes  []obd.DTC
	}{{"stored", st.Stored}, {"pending", st.Pending}, {"permanent", st.Permanent}} {
		for _, d := range k.codes {
			in.Codes = append(in.Codes, diagnosis.CodeState{Code: d.String(), ECU: "7E8", Status: k.status})
		}
	}
	if st.Freeze != nil {
		f := st.Freeze.State
		in.Freeze = []diagnosis.FreezeFrame{{DTC: st.Freeze.DTC.String(), ECU: "7E8", Values: []diagnosis.FreezeValue{
			{Signal: diagnosis.SigCoolant, Value: f.Coolant, Unit: "°C"}, {Signal: diagnosis.SigRPM, Value: f.RPM, Unit: "rpm"},
			{Signal: diagnosis.SigSpeed, Value: f.Speed, Unit: "km/h"}, {Signal: diagnosis.SigLoad, Value: f.Load, Unit: "%"},
			{Signal: diagnosis.SigSTFT1, Value: f.STFT, Unit: "%"}, {Signal: diagnosis.SigLTFT1, Value: f.LTFT, Unit: "%"},
		}}}
	}
	for _, m := range st.Monitors {
		in.Monitors = append(in.Monitors, diagnosis.Monitor{Name: m.Name, Supported: m.Supported, Complete: m.Supported && m.Complete})
	}
	for _, r := range tests {
		in.Tests = append(in.Tests, diagnosis.TestResult{ECU: string(r.ECU), MID: uint8(r.MID), TID: uint8(r.TID), Monitor: r.Monitor, Test: r.Test,
			Signal: r.Signal, Value: r.Value, Min: r.Min, Max: r.Max, Unit: r.Unit, Passed: r.Passed})
	}
	return in
}

// The pre-diagnosis of every simulator scenario, as JSON and as text,
// against reviewed golden files; and what each must conclude.
func TestGoldenReports(t *testing.T) {
	kb, err := diagnosis.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	// What a mechanic reading each report must find in it.
	expect := map[string]struct {
		first    string // the first code
		severity diagnosis.Severity
		repair   string // the most likely fix of the first code
		finding  string // a finding the data must support, "" for none
	}{
		"healthy":      {"", 0, "", ""},
		"overheat":     {"P0217", diagnosis.StopDriving, "coolant-leak", "Coolant reached"},
		"coolant-leak": {"P0217", diagnosis.StopDriving, "coolant-leak", "Coolant reached"},
		"misfire":      {"P0300", diagnosis.Urgent, "replace:spark-plug", ""},
		"catalyst":     {"P0420", diagnosis.Soon, "replace:catalytic-converter", "downstream oxygen sensor swings"},
		"o2-sensor":    {"P0133", diagnosis.Soon, "replace:o2-upstream", ""},
		"lean":         {"P0171", diagnosis.Soon, "", "Fuel trims"},
		"evap-leak":    {"P0455", diagnosis.Soon, "fuel-cap", ""},
		"weak-battery": {"", 0, "", "The battery is weak"},
		"alternator":   {"P0562", diagnosis.Soon, "replace:alternator", "The alternator is not charging"},
		// Two hours in, before their codes: the monitors' results speak.
		"misfire-developing": {"", 0, "", "Cylinder 3's misfire monitor counts"},
		"catalyst-aging":     {"", 0, "", ""},
		"hybrid":             {"", 0, "", ""},
	}
	for _, sc := range car.Builtins() {
		want, ok := expect[sc.Name]
		if !ok {
			t.Errorf("scenario %s has no expectation", sc.Name)
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			r, err := kb.Build(drive(sc), diagnosis.DefaultPricing())
			if err != nil {
				t.Fatal(err)
			}
			if want.first == "" {
				if len(r.Codes) != 0 {
					t.Errorf("codes %v in a scenario that sets none", r.Codes)
				}
			} else {
				if len(r.Codes) == 0 || r.Codes[0].Code != want.first {
					t.Fatalf("first code: %+v, want %s", r.Codes, want.first)
				}
				f := r.Codes[0]
				if !f.Known || f.Severity < want.severity || len(f.Causes) == 0 {
					t.Errorf("%s: known %v severity %s causes %d", f.Code, f.Known, f.Severity, len(f.Causes))
				}
				if want.repair != "" && f.Causes[0].Repair.ID != want.repair {
					t.Errorf("%s: most likely fix %s, want %s", f.Code, f.Causes[0].Repair.ID, want.repair)
				}
				if f.Freeze == nil && slices.Contains(f.Statuses, "stored") {
					t.Errorf("%s: no freeze frame", f.Code)
				}
				if r.Price.High <= 0 || r.Summary == "" {
					t.Errorf("price %v summary %q", r.Price, r.Summary)
				}
			}
			if want.finding != "" && !slices.ContainsFunc(r.Findings, func(s string) bool { return strings.Contains(s, want.finding) }) {
				t.Errorf("no finding %q in %q", want.finding, r.Findings)
			}
			if !r.Readiness.Known || len(r.History) == 0 || r.OdometerKm == 0 {
				t.Errorf("readiness %+v, %d histories, odometer %v", r.Readiness, len(r.History), r.OdometerKm)
			}
			js, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "reports", sc.Name+".json"), append(js, '\n'))
			golden(t, filepath.Join("testdata", "reports", sc.Name+".txt"), []byte(r.Text()))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (run with -update after review):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-80)
	return "want …" + a[lo:min(len(a), i+80)] + "…\n got …" + b[lo:min(len(b), i+80)] + "…"
}
