package car

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pitwall-io/pitwall/obd"
)

// Scenario is a timeline for one car: how it is driven and which faults
// develop when.
type Scenario struct {
	Name        string
	Description string
	Vehicle     Setup
	Drive       []Phase
	Faults      []Fault
}

// Setup changes the car a scenario starts with.
type Setup struct {
	VIN       string
	Ambient   *float64 // °C
	Odometer  *float64 // km
	FuelLevel *float64 // %
	// Cleared starts the car with its codes just cleared: every readiness
	// monitor incomplete, the counters since clearing at zero.
	Cleared bool
	// Powertrain, when set, makes the car a stop-start or hybrid one.
	Powertrain Powertrain
}

//go:embed scenarios/*.yaml
var builtinFS embed.FS

// Builtins returns the scenarios that ship with Pitwall, by name.
func Builtins() []Scenario {
	entries, _ := fs.ReadDir(builtinFS, "scenarios")
	var out []Scenario
	for _, e := range entries {
		data, _ := builtinFS.ReadFile("scenarios/" + e.Name())
		sc, err := ParseScenario(e.Name(), data)
		if err != nil {
			panic(err) // the built-ins are tested
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Load returns the built-in scenario with that name, or reads a scenario
// file when name is a path to one.
func Load(name string) (Scenario, error) {
	for _, sc := range Builtins() {
		if sc.Name == name {
			return sc, nil
		}
	}
	if strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		data, err := os.ReadFile(name)
		if err != nil {
			return Scenario{}, fmt.Errorf("scenario: %w", err)
		}
		return ParseScenario(name, data)
	}
	var names []string
	for _, sc := range Builtins() {
		names = append(names, sc.Name)
	}
	return Scenario{}, fmt.Errorf("scenario: no built-in scenario %q (built-ins: %s; or give a path to a .yaml file)", name, strings.Join(names, ", "))
}

// PositionError is a mistake in a scenario file, with where it is.
type PositionError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *PositionError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// ParseScenario reads a scenario file. The name is taken from the file
// name. Every mistake is reported with file:line:column.
func ParseScenario(file string, data []byte) (Scenario, error) {
	sc := Scenario{Name: strings.TrimSuffix(strings.TrimSuffix(filepath.Base(file), ".yaml"), ".yml")}
	p := &parser{file: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return sc, p.yamlError(err)
	}
	if len(root.Content) == 0 {
		return sc, &PositionError{File: file, Line: 1, Column: 1, Msg: "the file is empty"}
	}
	doc := root.Content[0]
	p.mapping(doc, "the scenario", map[string]func(*yaml.Node){
		"description": func(n *yaml.Node) { sc.Description = p.str(n) },
		"vehicle":     func(n *yaml.Node) { sc.Vehicle = p.vehicle(n) },
		"drive":       func(n *yaml.Node) { sc.Drive = p.drive(n) },
		"faults":      func(n *yaml.Node) { sc.Faults = p.faults(n) },
	})
	return sc, errors.Join(p.errs...)
}

type parser struct {
	file string
	errs []error
}

func (p *parser) fail(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &PositionError{File: p.file, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) yamlError(err error) error {
	// yaml.v3 says "yaml: line N: ..."; keep its line.
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &PositionError{File: p.file, Line: line, Column: 1, Msg: msg}
}

// mapping walks a mapping node, handing each known key's value to its
// function and reporting unknown or repeated keys.
func (p *parser) mapping(n *yaml.Node, what string, keys map[string]func(*yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, "%s must be a mapping of keys to values", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := keys[k.Value]
		if !ok {
			var known []string
			for name := range keys {
				known = append(known, name)
			}
			sort.Strings(known)
			p.fail(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, "%q given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		f(v)
	}
}

func (p *parser) str(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, "want text")
		return ""
	}
	return n.Value
}

func (p *parser) number(n *yaml.Node, lo, hi float64, unit string) *float64 {
	v, err := strconv.ParseFloat(n.Value, 64)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.fail(n, "want a number of %s, got %q", unit, n.Value)
		return nil
	}
	if v < lo || v > hi {
		p.fail(n, "%v %s is outside %v…%v", v, unit, lo, hi)
		return nil
	}
	return &v
}

func (p *parser) duration(n *yaml.Node) time.Duration {
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d < 0 {
		p.fail(n, "want a duration like 90s or 5m, got %q", n.Value)
		return 0
	}
	return d
}

func (p *parser) vehicle(n *yaml.Node) Setup {
	var s Setup
	p.mapping(n, "vehicle", map[string]func(*yaml.Node){
		"vin": func(v *yaml.Node) {
			s.VIN = obd.NormalizeVIN(p.str(v))
			if chk := obd.CheckVIN(s.VIN); !chk.Valid {
				p.fail(v, "vin %q: %s", v.Value, chk.Problem)
			}
		},
		"ambient":    func(v *yaml.Node) { s.Ambient = p.number(v, -40, 55, "°C") },
		"odometer":   func(v *yaml.Node) { s.Odometer = p.number(v, 0, 2e6, "km") },
		"fuel_level": func(v *yaml.Node) { s.FuelLevel = p.number(v, 0, 100, "%") },
		"powertrain": func(v *yaml.Node) {
			s.Powertrain = Powertrain(p.str(v))
			if !slices.Contains(Powertrains, s.Powertrain) {
				p.fail(v, "unknown powertrain %q (known: combustion, stop-start, hybrid)", v.Value)
			}
		},
		"cleared": func(v *yaml.Node) {
			b, err := strconv.ParseBool(v.Value)
			if err != nil {
				p.fail(v, "cleared: want true or false, got %q", v.Value)
			}
			s.Cleared = b
		},
	})
	return s
}

var phaseKinds = []string{Parked, Idle, City, Highway}

func (p *parser) drive(n *yaml.Node) []Phase {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "drive must be a list of phases like `- city: 5m`")
		return nil
	}
	var out []Phase
	moving := false
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			p.fail(item, "a phase is one kind and its duration, like `- city: 5m`")
			continue
		}
		k, v := item.Content[0], item.Content[1]
		if !slices.Contains(phaseKinds, k.Value) {
			p.fail(k, "unknown phase %q (known: %s)", k.Value, strings.Join(phaseKinds, ", "))
			continue
		}
		d := p.duration(v)
		if d <= 0 {
			p.fail(v, "a phase must last longer than 0")
			continue
		}
		moving = moving || k.Value != Parked
		out = append(out, Phase{Kind: k.Value, For: d})
	}
	if len(out) > 0 && !moving {
		p.fail(n, "the drive never starts the engine: add an idle, city or highway phase")
	}
	return out
}

func (p *parser) faults(n *yaml.Node) []Fault {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "faults must be a list")
		return nil
	}
	var out []Fault
	for _, item := range n.Content {
		f := Fault{Cylinder: 0}
		hasKind := false
		p.mapping(item, "a fault", map[string]func(*yaml.Node){
			"fault": func(v *yaml.Node) {
				hasKind = true
				f.Kind = FaultKind(v.Value)
				if !slices.Contains(FaultKinds, f.Kind) {
					var known []string
					for _, k := range FaultKinds {
						known = append(known, string(k))
					}
					p.fail(v, "unknown fault %q (known: %s)", v.Value, strings.Join(known, ", "))
				}
			},
			"at":   func(v *yaml.Node) { f.At = p.duration(v) },
			"ramp": func(v *yaml.Node) { f.Ramp = p.duration(v) },
			"cylinder": func(v *yaml.Node) {
				c, err := strconv.Atoi(v.Value)
				if err != nil || c < 1 || c > 12 {
					p.fail(v, "cylinder: want 1 to 12, got %q", v.Value)
				}
				f.Cylinder = c
			},
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		if !hasKind {
			p.fail(item, "a fault needs `fault:` naming what goes wrong")
			continue
		}
		if f.Cylinder != 0 && f.Kind != Misfire {
			p.fail(item, "cylinder applies to misfire only")
		}
		if f.Kind == Misfire && f.Cylinder == 0 {
			f.Cylinder = 2
		}
		out = append(out, f)
	}
	return out
}
