package diagnosis

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed kb
var kbFiles embed.FS

// KB is the trouble-code knowledge base.
type KB struct {
	Version  string // of the data files
	Currency string // of the prices in the data files
	codes    map[string]*entry
	profiles map[string]*profile
	parts    map[string]*Part
	ops      map[string]*Operation
	symptoms map[string]*symptomEntry
}

// Part is a replaceable component with its typical labour and price.
type Part struct {
	ID     string     `yaml:"-"`
	Name   string     `yaml:"name"`
	System string     `yaml:"system"`
	Hours  [2]float64 `yaml:"hours"`
	Parts  [2]float64 `yaml:"parts"`
}

// Operation is a repair that is not one part's replacement.
type Operation struct {
	ID    string     `yaml:"-"`
	Name  string     `yaml:"name"`
	Hours [2]float64 `yaml:"hours"`
	Parts [2]float64 `yaml:"parts"`
}

type profile struct {
	ID     string
	System string       `yaml:"system"`
	Drive  string       `yaml:"drive"`
	Causes []causeEntry `yaml:"causes"`
}

type causeEntry struct {
	Cause  string `yaml:"cause"`
	Repair string `yaml:"repair"`
}

// symptomEntry is a fault seen in the live data, explained through a
// fault pattern as a code is.
type symptomEntry struct {
	ID          string   `yaml:"-"`
	Title       string   `yaml:"title"`
	SeverityStr string   `yaml:"severity"`
	ProfileID   string   `yaml:"profile"`
	PartID      string   `yaml:"part"`
	Meaning     string   `yaml:"meaning"`
	Severity    Severity `yaml:"-"`
	Profile     *profile `yaml:"-"`
	Part        *Part    `yaml:"-"`
}

type entry struct {
	Code     string
	Severity Severity
	Profile  *profile
	Part     *Part // nil when the profile needs none
	Meaning  string
	Where    string // file:line
}

var (
	builtinOnce sync.Once
	builtin     *KB
	builtinErr  error
)

// Builtin is the knowledge base shipped in the package.
func Builtin() (*KB, error) {
	builtinOnce.Do(func() {
		sub, err := fs.Sub(kbFiles, "kb")
		if err != nil {
			builtinErr = err
			return
		}
		builtin, builtinErr = Load(sub)
	})
	return builtin, builtinErr
}

// Load reads a knowledge base laid out as kb/ is: repairs.yaml,
// profiles.yaml, parts-*.yaml and codes/*.tsv. Every problem is reported
// with its file and line.
func Load(fsys fs.FS) (*KB, error) {
	kb := &KB{codes: map[string]*entry{}, profiles: map[string]*profile{}, parts: map[string]*Part{}, ops: map[string]*Operation{}, symptoms: map[string]*symptomEntry{}}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var rep struct {
		Version    string                `yaml:"version"`
		Currency   string                `yaml:"currency"`
		Operations map[string]*Operation `yaml:"operations"`
		Components map[string]*Part      `yaml:"components"`
	}
	if err := decodeYAML(fsys, "repairs.yaml", &rep); err != nil {
		return nil, err
	}
	kb.Version, kb.Currency = rep.Version, rep.Currency
	if kb.Currency == "" {
		bad("repairs.yaml: no currency")
	}
	for id, o := range rep.Operations {
		o.ID = id
		checkCost("repairs.yaml: operation "+id, o.Name, o.Hours, o.Parts, bad)
		kb.ops[id] = o
	}
	addParts := func(file string, ps map[string]*Part) {
		for id, p := range ps {
			if _, dup := kb.parts[id]; dup {
				bad("%s: part %s is already defined", file, id)
				continue
			}
			if _, dup := kb.ops[id]; dup {
				bad("%s: part %s has an operation's name", file, id)
			}
			p.ID = id
			checkCost(file+": part "+id, p.Name, p.Hours, p.Parts, bad)
			if !slices.Contains(systems, p.System) {
				bad("%s: part %s: system %q is none of %s", file, id, p.System, strings.Join(systems, ", "))
			}
			kb.parts[id] = p
		}
	}
	addParts("repairs.yaml", rep.Components)
	extra, _ := fs.Glob(fsys, "parts-*.yaml")
	for _, f := range extra {
		var ps struct {
			Components map[string]*Part `yaml:"components"`
		}
		if err := decodeYAML(fsys, f, &ps); err != nil {
			return nil, err
		}
		addParts(f, ps.Components)
	}

	var prof struct {
		Version  string              `yaml:"version"`
		Profiles map[string]*profile `yaml:"profiles"`
	}
	if err := decodeYAML(fsys, "profiles.yaml", &prof); err != nil {
		return nil, err
	}
	for id, p := range prof.Profiles {
		p.ID = id
		if p.Drive == "" {
			bad("profiles.yaml: %s: no drive guidance", id)
		}
		if p.System != "" && !slices.Contains(systems, p.System) {
			bad("profiles.yaml: %s: system %q is none of %s", id, p.System, strings.Join(systems, ", "))
		}
		if len(p.Causes) == 0 {
			bad("profiles.yaml: %s: no causes", id)
		}
		for i, c := range p.Causes {
			if c.Cause == "" {
				bad("profiles.yaml: %s: cause %d is empty", id, i+1)
			}
			if err := kb.checkRepair(c.Repair); err != nil {
				bad("profiles.yaml: %s: cause %d: %v", id, i+1, err)
			}
		}
		kb.profiles[id] = p
	}

	if err := kb.readSymptoms(fsys, bad); err != nil {
		return nil, err
	}

	files, _ := fs.Glob(fsys, "codes/*.tsv")
	if len(files) == 0 {
		bad("codes/: no code files")
	}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		kb.readCodes(f, data, bad)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("knowledge base: %d problems:\n%s", len(problems), strings.Join(problems, "\n"))
	}
	return kb, nil
}

var systems = []string{"fuel-air", "emissions", "ignition", "engine", "cooling", "electrical", "transmission", "chassis", "hybrid", "network", "body"}

// AreaName says a system of the knowledge base in words, as an
// explanation's subsystem does.
func AreaName(system string) string { return areaNames[system] }

// areaNames says the knowledge base's systems in words.
var areaNames = map[string]string{
	"fuel-air": "fuel and air metering", "emissions": "emission controls", "ignition": "ignition and misfire",
	"engine": "engine mechanics and valve timing", "cooling": "engine cooling", "electrical": "charging and power supply",
	"transmission": "transmission and speed sensing", "chassis": "brakes, steering and wheels", "hybrid": "hybrid and electric drive",
	"network": "vehicle network and control modules", "body": "body, airbags and comfort",
}

func checkCost(what, name string, hours, parts [2]float64, bad func(string, ...any)) {
	if name == "" {
		bad("%s: no name", what)
	}
	if hours[0] < 0 || hours[1] < hours[0] || hours[1] > 40 {
		bad("%s: hours %v: want low ≤ high, at most 40", what, hours)
	}
	if parts[0] < 0 || parts[1] < parts[0] || parts[1] > 20000 {
		bad("%s: parts %v: want low ≤ high, at most 20000", what, parts)
	}
}

func (kb *KB) checkRepair(r string) error {
	switch {
	case r == "replace":
		return nil
	case strings.HasPrefix(r, "replace:"):
		if kb.parts[strings.TrimPrefix(r, "replace:")] == nil {
			return fmt.Errorf("repair %q: no such part", r)
		}
	case kb.ops[r] == nil:
		return fmt.Errorf("repair %q: no such operation", r)
	}
	return nil
}

func (kb *KB) readCodes(file string, data []byte, bad func(string, ...any)) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	prev := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := fmt.Sprintf("%s:%d", path.Base(file), n)
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			bad("%s: %d tab-separated fields, want 5 (code, severity, profile, part, meaning)", at, len(f))
			continue
		}
		code, err := NormalizeCode(f[0])
		if err != nil || code != f[0] {
			bad("%s: code %q is not a well-formed upper-case code", at, f[0])
			continue
		}
		if code <= prev {
			bad("%s: %s is out of order after %s", at, code, prev)
		}
		prev = code
		if old := kb.codes[code]; old != nil {
			bad("%s: %s is already defined at %s", at, code, old.Where)
			continue
		}
		e := &entry{Code: code, Meaning: f[4], Where: at}
		if e.Severity, err = ParseSeverity(f[1]); err != nil {
			bad("%s: %v", at, err)
		}
		if e.Profile = kb.profiles[f[2]]; e.Profile == nil {
			bad("%s: profile %q is not in profiles.yaml", at, f[2])
			continue
		}
		if f[3] != "-" {
			if e.Part = kb.parts[f[3]]; e.Part == nil {
				bad("%s: part %q is not in repairs.yaml or a parts file", at, f[3])
			}
		} else if e.Profile.needsPart() {
			bad("%s: profile %s speaks of {part}, so the code needs a part", at, f[2])
		}
		if m := strings.TrimSpace(e.Meaning); m != e.Meaning || len(m) < 20 {
			bad("%s: the meaning is missing, too short or padded", at)
		}
		kb.codes[code] = e
	}
}

// readSymptoms reads symptoms.yaml, when there is one.
func (kb *KB) readSymptoms(fsys fs.FS, bad func(string, ...any)) error {
	if _, err := fs.Stat(fsys, "symptoms.yaml"); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var sy struct {
		Version  string                   `yaml:"version"`
		Symptoms map[string]*symptomEntry `yaml:"symptoms"`
	}
	if err := decodeYAML(fsys, "symptoms.yaml", &sy); err != nil {
		return err
	}
	for id, e := range sy.Symptoms {
		at := "symptoms.yaml: " + id
		e.ID = id
		var err error
		if e.Severity, err = ParseSeverity(e.SeverityStr); err != nil {
			bad("%s: %v", at, err)
		}
		if e.Title == "" {
			bad("%s: no title", at)
		}
		if m := strings.TrimSpace(e.Meaning); m != e.Meaning || len(m) < 20 {
			bad("%s: the meaning is missing, too short or padded", at)
		}
		if e.Profile = kb.profiles[e.ProfileID]; e.Profile == nil {
			bad("%s: profile %q is not in profiles.yaml", at, e.ProfileID)
			continue
		}
		switch {
		case e.PartID != "":
			if e.Part = kb.parts[e.PartID]; e.Part == nil {
				bad("%s: part %q is not in repairs.yaml or a parts file", at, e.PartID)
			}
		case e.Profile.needsPart():
			bad("%s: profile %s speaks of {part}, so the symptom needs a part", at, e.ProfileID)
		}
		kb.symptoms[id] = e
	}
	return nil
}

// HasSymptom says whether the knowledge base explains a symptom, the
// value of a rule's symptom label.
func (kb *KB) HasSymptom(id string) bool { return kb.symptoms[id] != nil }

// SymptomsOfProfile lists the symptoms explained through a fault pattern:
// those a repair of a code of that pattern fixes too.
func (kb *KB) SymptomsOfProfile(profile string) []string {
	var out []string
	for _, id := range kb.SymptomIDs() {
		if kb.symptoms[id].Profile.ID == profile {
			out = append(out, id)
		}
	}
	return out
}

// SymptomIDs lists the symptoms the knowledge base explains, in order.
func (kb *KB) SymptomIDs() []string {
	out := make([]string, 0, len(kb.symptoms))
	for id := range kb.symptoms {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (p *profile) needsPart() bool {
	if strings.Contains(p.Drive, "{part}") {
		return true
	}
	for _, c := range p.Causes {
		if strings.Contains(c.Cause, "{part}") || c.Repair == "replace" {
			return true
		}
	}
	return false
}

func decodeYAML(fsys fs.FS, name string, v any) error {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("knowledge base: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("knowledge base: %s: %w", name, err)
	}
	return nil
}

// Len is how many codes the table holds.
func (kb *KB) Len() int { return len(kb.codes) }

// Codes lists the table's codes in order.
func (kb *KB) Codes() []string {
	out := make([]string, 0, len(kb.codes))
	for c := range kb.codes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
