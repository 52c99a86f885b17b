package diagnosis

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// A car overheating in traffic with no code yet: the report explains the
// symptom as a code is explained, weighs the drive's data (hottest when
// standing still: the fan first), says stop driving and prices the fix.
func TestSymptomWithoutCodes(t *testing.T) {
	kb := mustKB(t)
	t0 := time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)
	hist := map[string][]Sample{}
	for i := 0; i < 60; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		speed, temp := 80.0, 98.0
		if i >= 30 {
			speed, temp = 0, 112+float64(i-30)/3
		}
		hist[SigSpeed] = append(hist[SigSpeed], Sample{Time: at, Value: speed})
		hist[SigCoolant] = append(hist[SigCoolant], Sample{Time: at, Value: temp})
	}
	in := Input{Vehicle: Vehicle{Make: "Toyota"}, At: t0.Add(10 * time.Minute), History: hist, Symptoms: []Symptom{
		{ID: "overheat", Rule: "overheat", Since: t0.Add(6 * time.Minute), Observed: "Engine overheating: coolant at 121 °C."},
		{ID: "overheat", Rule: "my-overheat", Since: t0.Add(5 * time.Minute), Observed: "Hot: 115 °C."},
		{ID: "battery", Rule: "battery-weak-at-rest", Since: t0},
		{ID: "no-such", Rule: "mine", Since: t0},
	}}
	r, err := kb.Build(in, DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Codes) != 0 || len(r.Symptoms) != 2 {
		t.Fatalf("codes %d, symptoms %+v", len(r.Codes), r.Symptoms)
	}
	f := r.Symptoms[0]
	if f.Symptom != "overheat" || f.Title != "Engine overheating" || f.Rule != "my-overheat" || !f.Since.Equal(t0.Add(5*time.Minute)) || f.Code != "" {
		t.Errorf("the first symptom: %+v", f)
	}
	if f.Severity != StopDriving || r.Severity != StopDriving || r.Safe != "no" {
		t.Errorf("severity %s, report %s, safe %q", f.Severity, r.Severity, r.Safe)
	}
	if f.Causes[0].Repair.ID != "replace:cooling-fan" || !strings.Contains(f.Causes[0].Evidence, "hottest when stopped") {
		t.Errorf("the drive's data did not put the fan first: %+v", f.Causes[0])
	}
	if r.Symptoms[1].Symptom != "battery" || r.Symptoms[1].Subsystem != "charging and power supply" {
		t.Errorf("the second symptom: %+v", r.Symptoms[1])
	}
	want := f.Causes[0].Repair.Total.Add(r.Symptoms[1].Causes[0].Repair.Total)
	if r.Price != want || r.Price.Low <= 0 {
		t.Errorf("price %v, want %v", r.Price, want)
	}
	if !strings.HasPrefix(r.Summary, "No trouble code yet, but the live data shows a fault. Engine overheating (stop-driving):") ||
		!strings.Contains(r.Summary, "Safe to drive: no.") || !strings.Contains(r.Summary, "1 more finding(s)") {
		t.Errorf("summary: %s", r.Summary)
	}
	if !strings.Contains(strings.Join(r.Findings, " "), `"no-such"`) {
		t.Errorf("the unknown symptom is not reported: %q", r.Findings)
	}
	txt := r.Text()
	for _, s := range []string{"SEEN IN THE LIVE DATA: Engine overheating (stop-driving)", "Rule my-overheat", "SEEN IN THE LIVE DATA: Weak battery"} {
		if !strings.Contains(txt, s) {
			t.Errorf("the text lacks %q:\n%s", s, txt)
		}
	}
	sigs := kb.Signals(nil, []string{"overheat"})
	if sigs[0] != SigCoolant {
		t.Errorf("signals for an overheating symptom: %v", sigs)
	}
}

// A code more serious than a symptom leads the summary; the symptom is
// counted among the findings.
func TestCodeLeadsALesserSymptom(t *testing.T) {
	kb := mustKB(t)
	r, err := kb.Build(Input{At: time.Now(), Codes: []CodeState{{Code: "P0217", Status: "stored"}}, Symptoms: []Symptom{{ID: "lean", Rule: "lean-mixture", Since: time.Now()}}}, DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Summary, "P0217 (stop-driving)") || !strings.Contains(r.Summary, "1 more finding(s)") {
		t.Errorf("summary: %s", r.Summary)
	}
	// P0217 and the overheat symptom are one fault: the code explains it,
	// the live data confirms it in the findings.
	r, err = kb.Build(Input{At: time.Now(), Codes: []CodeState{{Code: "P0217", Status: "stored"}},
		Symptoms: []Symptom{{ID: "overheat", Rule: "overheat", Since: time.Now()}, {ID: "overheat", Rule: "mine", Since: time.Now()}}}, DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Symptoms) != 0 || len(r.Findings) == 0 || !strings.HasPrefix(r.Findings[0], "The live data shows P0217 too: engine overheating since") || strings.Contains(r.Summary, "more finding") ||
		!slices.Equal(r.Confirmed, []string{"overheat"}) {
		t.Errorf("a code and its own symptom: symptoms %+v, findings %q, summary %q", r.Symptoms, r.Findings, r.Summary)
	}
	// A permanent code alone (it stays until its monitor runs again) does
	// not hide a fresh overheat.
	r, _ = kb.Build(Input{At: time.Now(), Codes: []CodeState{{Code: "P0217", Status: "permanent"}}, Symptoms: []Symptom{{ID: "overheat", Rule: "overheat", Since: time.Now()}}}, DefaultPricing())
	if len(r.Symptoms) != 1 || len(r.Confirmed) != 0 {
		t.Errorf("beside a permanent code: symptoms %d, confirmed %v", len(r.Symptoms), r.Confirmed)
	}
	if got := kb.SymptomsOfProfile("voltage-low"); !slices.Equal(got, []string{"battery"}) {
		t.Errorf("symptoms of voltage-low: %v", got)
	}
	if x, _, err := kb.ExplainSymptom("lean", DefaultPricing()); err != nil || x.Causes[0].Repair.ID != "smoke-test" {
		t.Errorf("lean: %+v %v", x, err)
	}
	if _, _, err := kb.ExplainSymptom("nope", DefaultPricing()); err == nil || !strings.Contains(err.Error(), "overheat") {
		t.Errorf("an unknown symptom: %v", err)
	}
}

// A symptoms file that points at nothing is refused, naming the symptom.
func TestSymptomsFileProblems(t *testing.T) {
	fsys := fstest.MapFS{
		"repairs.yaml":  {Data: []byte("version: t\ncurrency: USD\noperations:\n  inspect: {name: Look, hours: [0.5, 1], parts: [0, 0]}\ncomponents:\n  fan: {name: fan, system: cooling, hours: [1, 2], parts: [10, 20]}\n")},
		"profiles.yaml": {Data: []byte("version: t\nprofiles:\n  hot:\n    drive: stop\n    causes:\n      - {cause: \"the {part} died\", repair: replace}\n")},
		"codes/a.tsv":   {Data: []byte("P0217\tstop-driving\thot\tfan\tThe engine runs far too hot for its own good.\n")},
		"symptoms.yaml": {Data: []byte("version: t\nsymptoms:\n  a: {title: A, severity: soon, profile: cold, meaning: \"a meaning long enough to pass\"}\n  b: {title: B, severity: bad, profile: hot, part: fan, meaning: \"a meaning long enough to pass\"}\n  c: {title: C, severity: soon, profile: hot, meaning: \"a meaning long enough to pass\"}\n")},
	}
	_, err := Load(fsys)
	for _, want := range []string{`symptoms.yaml: a: profile "cold"`, `symptoms.yaml: b: severity "bad"`, "symptoms.yaml: c: profile hot speaks of {part}"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

func mustKB(t *testing.T) *KB {
	t.Helper()
	kb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return kb
}
