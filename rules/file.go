package rules

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
)

// Severity says how urgent an alert is.
type Severity string

// The severities, least urgent first.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Rank orders severities: 0 for info, 1 for warning, 2 for critical, -1
// for a string that is none of them.
func (s Severity) Rank() int {
	switch s {
	case Info:
		return 0
	case Warning:
		return 1
	case Critical:
		return 2
	}
	return -1
}

// Rule is one compiled rule.
type Rule struct {
	Name     string
	Severity Severity
	Labels   map[string]string
	// For is how long the condition must hold before the alert fires;
	// ClearFor, how long the clear condition must hold before it resolves.
	For, ClearFor time.Duration
	// SendResolved says whether the owner hears when it is over.
	SendResolved bool
	Summary      *template.Template
	Source       string // file:line of the rule

	when, clear *condition
}

// Inhibit mutes target alerts while a source alert fires for the same
// values of the Equal labels (as Alertmanager's inhibit rules).
type Inhibit struct {
	Source map[string]string
	Target map[string]string
	Equal  []string
}

// Set is the rules of one or more files.
type Set struct {
	Rules    []*Rule
	Inhibits []Inhibit
}

// SymptomLabel is the label by which a rule names the fault it sees in
// the live data, so that the car's pre-diagnosis explains it (the
// knowledge base's symptoms.yaml lists them).
const SymptomLabel = "symptom"

// CheckSymptoms checks every rule's symptom label against the symptoms
// known; a rule naming another loses the label (it still runs and
// alerts, it only adds nothing to the pre-diagnosis) and is reported with
// its file and line.
func (s *Set) CheckSymptoms(known []string) error {
	var errs []error
	for _, r := range s.Rules {
		if id, ok := r.Labels[SymptomLabel]; ok && !slices.Contains(known, id) {
			delete(r.Labels, SymptomLabel)
			errs = append(errs, fmt.Errorf("%s: rule %q: label symptom: %q is not a symptom Pitwall explains (want one of %s)", r.Source, r.Name, id, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

// Error is a problem in a rule file, at a line and column.
type Error struct {
	File   string
	Line   int
	Column int
	Rule   string // the rule's name, when known
	Msg    string
}

func (e *Error) Error() string {
	where := fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	if e.Rule != "" {
		return fmt.Sprintf("%s: rule %q: %s", where, e.Rule, e.Msg)
	}
	return where + ": " + e.Msg
}

// LoadFile reads a rule file. It returns the rules that are good and every
// problem (errors.Join of *Error): one bad rule never stops the others.
func LoadFile(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Set{}, err
	}
	return Parse(path, data)
}

// ruleKeys are the keys a rule may have.
var ruleKeys = map[string]bool{"name": true, "severity": true, "when": true, "for": true, "clear": true, "clear_for": true,
	"labels": true, "summary": true, "send_resolved": true}

// Parse reads rules from data; name is the file name for errors.
func Parse(name string, data []byte) (*Set, error) {
	set := &Set{}
	lines := strings.Split(string(data), "\n")
	var errs []error
	bad := func(n *yaml.Node, rule, format string, args ...any) {
		line, col := 0, 0
		if n != nil {
			line, col = n.Line, n.Column
		}
		errs = append(errs, &Error{File: name, Line: line, Column: col, Rule: rule, Msg: fmt.Sprintf(format, args...)})
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		var te *yaml.TypeError
		line := 1
		if errors.As(err, &te) {
			line = 0
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		}
		return set, &Error{File: name, Line: line, Column: 1, Msg: msg}
	}
	if len(root.Content) == 0 {
		return set, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		bad(doc, "", "a rule file is a mapping with rules: and inhibit:")
		return set, errors.Join(errs...)
	}
	names := map[string]*yaml.Node{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		key, val := doc.Content[i], doc.Content[i+1]
		switch key.Value {
		case "rules":
			if val.Kind != yaml.SequenceNode {
				bad(val, "", "rules: want a list")
				continue
			}
			for _, rn := range val.Content {
				r, rerrs := parseRule(name, lines, rn)
				if r != nil {
					if prev, dup := names[r.Name]; dup {
						rerrs = append(rerrs, &Error{File: name, Line: rn.Line, Column: rn.Column, Rule: r.Name,
							Msg: fmt.Sprintf("a rule of this name is already at line %d", prev.Line)})
					}
					names[r.Name] = rn
				}
				if len(rerrs) > 0 {
					errs = append(errs, rerrs...)
					continue
				}
				set.Rules = append(set.Rules, r)
			}
		case "inhibit":
			var inh []struct {
				Source map[string]string `yaml:"source"`
				Target map[string]string `yaml:"target"`
				Equal  []string          `yaml:"equal"`
			}
			if err := val.Decode(&inh); err != nil {
				bad(val, "", "inhibit: %v", err)
				continue
			}
			for i, in := range inh {
				if len(in.Source) == 0 || len(in.Target) == 0 {
					bad(val.Content[i], "", "inhibit: each entry needs source and target labels")
					continue
				}
				set.Inhibits = append(set.Inhibits, Inhibit{Source: in.Source, Target: in.Target, Equal: in.Equal})
			}
		default:
			bad(key, "", "unknown key %q (want rules or inhibit)", key.Value)
		}
	}
	return set, errors.Join(errs...)
}

// parseRule reads and compiles one rule; a nil rule means it had no name.
func parseRule(file string, lines []string, n *yaml.Node) (*Rule, []error) {
	var errs []error
	var name string
	bad := func(at *yaml.Node, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: at.Line, Column: at.Column, Rule: name, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind != yaml.MappingNode {
		bad(n, "a rule is a mapping with name, severity, when, …")
		return nil, errs
	}
	fields := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		fields[k.Value], keys[k.Value] = n.Content[i+1], k
	}
	if f := fields["name"]; f != nil {
		name = f.Value
	}
	var unknown []string
	for k := range fields {
		if !ruleKeys[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		bad(keys[k], "unknown key %q", k)
	}
	if name == "" || !validName(name) {
		at := n
		if fields["name"] != nil {
			at = fields["name"]
		}
		bad(at, "name %q: want letters, digits, '_' and '-'", name)
	}
	r := &Rule{Name: name, Severity: Warning, Labels: map[string]string{}, SendResolved: true, Source: fmt.Sprintf("%s:%d", file, n.Line)}
	if f := fields["severity"]; f != nil {
		switch s := Severity(f.Value); s {
		case Info, Warning, Critical:
			r.Severity = s
		default:
			bad(f, "severity %q: want info, warning or critical", f.Value)
		}
	}
	for key, dst := range map[string]*time.Duration{"for": &r.For, "clear_for": &r.ClearFor} {
		if f := fields[key]; f != nil {
			d, err := time.ParseDuration(f.Value)
			if err != nil || d < 0 {
				bad(f, "%s %q: want a duration like 30s or 5m", key, f.Value)
			}
			*dst = d
		}
	}
	if f := fields["send_resolved"]; f != nil {
		if err := f.Decode(&r.SendResolved); err != nil {
			bad(f, "send_resolved: want true or false")
		}
	}
	if f := fields["labels"]; f != nil {
		if err := f.Decode(&r.Labels); err != nil {
			bad(f, "labels: want a mapping of names to strings")
		}
		for k := range r.Labels {
			if reservedLabels[k] {
				bad(f, "label %q is set by Pitwall", k)
			}
		}
	}
	when := fields["when"]
	if when == nil {
		bad(n, "no when: condition")
	} else {
		c, err := compile(when.Value)
		if err != nil {
			errs = append(errs, exprError(file, name, lines, when, err))
		}
		r.when = c
	}
	if f := fields["clear"]; f != nil {
		c, err := compile(f.Value)
		if err != nil {
			errs = append(errs, exprError(file, name, lines, f, err))
		}
		r.clear = c
	}
	if r.when != nil && r.when.event && (r.For > 0 || r.clear != nil) {
		bad(when, "a condition on an event or a new code holds for one moment: it takes no for: or clear:")
	}
	summary := "{{.Rule}}"
	if f := fields["summary"]; f != nil {
		summary = f.Value
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs).Parse(summary)
	if err != nil {
		bad(fields["summary"], "summary: %v", err)
	} else if err := checkTemplate(t); err != nil {
		bad(fields["summary"], "summary: %v", err)
	}
	r.Summary = t
	return r, errs
}

// templateFuncs are what summaries may call besides text/template's own.
var templateFuncs = template.FuncMap{
	"add":  func(a, b float64) float64 { return a + b },
	"sub":  func(a, b float64) float64 { return a - b },
	"mul":  func(a, b float64) float64 { return a * b },
	"div":  func(a, b float64) float64 { return a / b },
	"join": strings.Join,
}

// reservedLabels are the labels every alert gets from Pitwall.
var reservedLabels = map[string]bool{"alertname": true, "device": true, "vehicle": true, "severity": true}

func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// exprError places an expression's error in the file: the expression's
// own line and column are added to where its YAML value starts.
func exprError(file, rule string, lines []string, n *yaml.Node, err error) error {
	var ce *compileError
	if !errors.As(err, &ce) {
		return &Error{File: file, Line: n.Line, Column: n.Column, Rule: rule, Msg: err.Error()}
	}
	line, col := n.Line, n.Column+ce.column
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// A block scalar's text starts on the next line, indented.
		line = n.Line + ce.line
		indent := 0
		if line-1 < len(lines) {
			indent = len(lines[line-1]) - len(strings.TrimLeft(lines[line-1], " "))
		}
		col = indent + ce.column + 1
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		col++ // the opening quote
		fallthrough
	default:
		if ce.line > 1 {
			line += ce.line - 1
			col = ce.column + 1
		}
	}
	return &Error{File: file, Line: line, Column: col, Rule: rule, Msg: ce.msg}
}
