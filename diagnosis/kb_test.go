package diagnosis

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// The shipped knowledge base loads, and every entry is complete: a
// meaning, a severity, causes with priced repairs, a well-formed code.
func TestBuiltinIntegrity(t *testing.T) {
	kb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if kb.Len() < 1000 {
		t.Errorf("only %d codes", kb.Len())
	}
	form := regexp.MustCompile(`^[PCBU][0-3][0-9A-F]{3}$`)
	prefixes := map[string]int{}
	for _, c := range kb.Codes() {
		prefixes[c[:2]]++
		if !form.MatchString(c) {
			t.Errorf("%s: malformed", c)
		}
		x, err := kb.Explain(c, DefaultPricing())
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		switch {
		case !x.Known || len(x.Meaning) < 20:
			t.Errorf("%s: meaning %q", c, x.Meaning)
		case x.Severity < Info || x.Severity > StopDriving:
			t.Errorf("%s: severity %v", c, x.Severity)
		case len(x.Causes) == 0:
			t.Errorf("%s: no causes", c)
		case x.Guidance == "" || strings.Contains(x.Guidance, "{"):
			t.Errorf("%s: guidance %q", c, x.Guidance)
		}
		for _, cs := range x.Causes {
			if strings.Contains(cs.Cause, "{") || cs.Repair.Name == "" || cs.Repair.Total.High <= 0 || cs.Repair.Total.Low > cs.Repair.Total.High {
				t.Errorf("%s: cause %+v", c, cs)
			}
		}
	}
	for _, p := range []string{"P0", "P2", "P3", "U0", "B0", "C0"} {
		if prefixes[p] == 0 {
			t.Errorf("no %sxxx codes", p)
		}
	}
}

// Codes whose meaning every technician knows, checked by hand: the table
// must agree on the component and the kind of fault.
func TestWellKnownCodes(t *testing.T) {
	kb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		words    []string // all must appear in the meaning, any case
		severity Severity
	}{
		"P0101": {[]string{"air flow"}, Soon},
		"P0128": {[]string{"thermostat"}, Soon},
		"P0171": {[]string{"lean", "bank 1"}, Soon},
		"P0174": {[]string{"lean", "bank 2"}, Soon},
		"P0172": {[]string{"rich", "bank 1"}, Soon},
		"P0217": {[]string{"overheat"}, StopDriving},
		"P0300": {[]string{"misfir"}, Urgent},
		"P0304": {[]string{"cylinder 4", "misfir"}, Urgent},
		"P0335": {[]string{"crankshaft"}, Urgent},
		"P0420": {[]string{"catalytic converter", "bank 1"}, Soon},
		"P0442": {[]string{"small", "leak"}, Advisory},
		"P0455": {[]string{"leak"}, Soon},
		"P0524": {[]string{"oil pressure"}, StopDriving},
		"P0562": {[]string{"voltage", "low"}, Soon},
		"P0700": {[]string{"transmission"}, Soon},
		"P2187": {[]string{"lean", "idle"}, Soon},
		"U0100": {[]string{"engine"}, Urgent},
	}
	for code, want := range cases {
		x, err := kb.Explain(code, DefaultPricing())
		if err != nil || !x.Known {
			t.Errorf("%s: %v, known %v", code, err, x.Known)
			continue
		}
		m := strings.ToLower(x.Meaning)
		for _, w := range want.words {
			if !strings.Contains(m, w) {
				t.Errorf("%s: %q does not say %q", code, x.Meaning, w)
			}
		}
		// Within one step: the table's judgement may differ by a notch,
		// never from "advisory" to "stop driving".
		if d := x.Severity - want.severity; d < -1 || d > 1 {
			t.Errorf("%s: severity %s, expected about %s", code, x.Severity, want.severity)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"p0301": "P0301", " U0100 ": "U0100", "C003A": "C003A"} {
		if got, err := NormalizeCode(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for in, msg := range map[string]string{
		"P030":   "has 4 characters",
		"X0301":  "first character must be P, C, B or U",
		"P4301":  "second character must be 0, 1, 2 or 3",
		"P03G1":  "character 4 must be a hex digit",
		"":       "has 0 characters",
		"P0301x": "has 6 characters",
	} {
		_, err := NormalizeCode(in)
		if !errors.Is(err, ErrBadCode) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

// A code missing from the table is explained from its structure, and
// says so.
func TestUnknownCodeFromStructure(t *testing.T) {
	kb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		generic bool
		words   string
	}{
		"P1456": {false, "maker-specific powertrain code in the range for auxiliary emission controls"},
		"P3050": {false, "maker-specific powertrain code"},
		"U1000": {false, "maker-specific network code"},
		"B1234": {false, "maker-specific body code"},
		"C1F00": {false, "maker-specific chassis code"},
		"P0DFF": {true, "SAE-defined powertrain code"},
	}
	for code, want := range cases {
		x, err := kb.Explain(code, DefaultPricing())
		if err != nil {
			t.Fatal(err)
		}
		if x.Known || x.Generic != want.generic || !strings.Contains(x.Meaning, want.words) || !strings.Contains(x.Meaning, "no entry") {
			t.Errorf("%s: known %v generic %v %q", code, x.Known, x.Generic, x.Meaning)
		}
	}
}

// Every way a data file can be wrong is reported with its file and line.
func TestLoadReportsProblems(t *testing.T) {
	good := map[string]string{
		"repairs.yaml":  "version: t\ncurrency: USD\noperations:\n  inspect: {name: Look, hours: [0.5, 1], parts: [0, 0]}\ncomponents:\n  coil: {name: coil, system: ignition, hours: [0.2, 1], parts: [40, 150]}\n",
		"profiles.yaml": "version: t\nprofiles:\n  circuit:\n    drive: \"Drive on; the {part} is out.\"\n    causes:\n      - {cause: \"The {part} failed\", repair: replace}\n",
	}
	cases := map[string]string{
		"P0351\tsoon\tcircuit\tcoil\tThe ignition coil A circuit does not work as it should.\nP0351\tsoon\tcircuit\tcoil\tThe ignition coil A circuit does not work as it should.\n": "a.tsv:2: P0351 is already defined at a.tsv:1",
		"P0351\tsoon\tcircuit\tcoil\n":                                 "a.tsv:1: 4 tab-separated fields",
		"p0351\tsoon\tcircuit\tcoil\tThe ignition coil A circuit.\n":   `a.tsv:1: code "p0351" is not a well-formed`,
		"P0351\tsevere\tcircuit\tcoil\tThe ignition coil A circuit.\n": `a.tsv:1: severity "severe"`,
		"P0351\tsoon\tcircus\tcoil\tThe ignition coil A circuit.\n":    `a.tsv:1: profile "circus"`,
		"P0351\tsoon\tcircuit\tplug\tThe ignition coil A circuit.\n":   `a.tsv:1: part "plug"`,
		"P0351\tsoon\tcircuit\t-\tThe ignition coil A circuit.\n":      "a.tsv:1: profile circuit speaks of {part}",
		"P0351\tsoon\tcircuit\tcoil\tShort.\n":                         "a.tsv:1: the meaning is missing",
		"P0352\tsoon\tcircuit\tcoil\tThe ignition coil B circuit is faulty.\nP0351\tsoon\tcircuit\tcoil\tThe ignition coil A circuit is faulty.\n": "a.tsv:2: P0351 is out of order",
	}
	for src, want := range cases {
		fsys := fstest.MapFS{"codes/a.tsv": {Data: []byte(src)}}
		for k, v := range good {
			fsys[k] = &fstest.MapFile{Data: []byte(v)}
		}
		_, err := Load(fsys)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %s", src, err, want)
		}
	}
	// Broken references inside the YAML files.
	fsys := fstest.MapFS{
		"repairs.yaml":  {Data: []byte("version: t\ncurrency: USD\noperations:\n  inspect: {name: Look, hours: [2, 1], parts: [0, 0]}\ncomponents:\n  coil: {name: coil, system: sparks, hours: [0.2, 1], parts: [40, 150]}\n")},
		"profiles.yaml": {Data: []byte("version: t\nprofiles:\n  circuit:\n    drive: go\n    causes:\n      - {cause: x, repair: replace:plug}\n")},
		"codes/a.tsv":   {Data: []byte("")},
	}
	_, err := Load(fsys)
	for _, want := range []string{"operation inspect: hours [2 1]", `part coil: system "sparks"`, `circuit: cause 1: repair "replace:plug": no such part`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %s", err, want)
		}
	}
	fsys["profiles.yaml"] = &fstest.MapFile{Data: []byte("version: t\nprofiles:\n  circuit:\n    drive: go\n    colour: red\n")}
	if _, err := Load(fsys); err == nil || !strings.Contains(err.Error(), "profiles.yaml") || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestPricing(t *testing.T) {
	kb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	usd, _ := kb.Explain("P0420", DefaultPricing())
	eur, err := kb.Explain("P0420", Pricing{Currency: "EUR", PerBase: 0.9, LabourRate: [2]float64{90, 140}})
	if err != nil {
		t.Fatal(err)
	}
	if eur.Price.Currency != "EUR" || eur.Price.High >= usd.Price.High || eur.Price.Low <= 0 {
		t.Errorf("USD %v, EUR %v", usd.Price, eur.Price)
	}
	for _, p := range []Pricing{{Currency: "eur", PerBase: 1, LabourRate: [2]float64{1, 2}}, {Currency: "EUR", PerBase: 0, LabourRate: [2]float64{1, 2}}, {Currency: "EUR", PerBase: 1, LabourRate: [2]float64{3, 2}}} {
		if _, err := kb.Explain("P0420", p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if got := (Money{Low: 1200, High: 25000, Currency: "USD"}).String(); got != "USD 1,200–25,000" {
		t.Errorf("money %q", got)
	}
}
