package rules

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/pitwall-io/pitwall/obd"
)

// condition is a compiled expression and what it refers to.
type condition struct {
	source  string
	program *vm.Program
	signals []string                 // signals it reads, in order of appearance
	windows map[string]time.Duration // signal → the longest window over it
	event   bool                     // it depends on an event or a new code: true for one moment
}

// compileError is an expression's problem at its own line (from 1) and
// column (from 0).
type compileError struct {
	line, column int
	msg          string
}

func (e *compileError) Error() string { return e.msg }

// windowFuncs compute over a signal's recent values.
var windowFuncs = map[string]bool{"avg_over": true, "min_over": true, "max_over": true, "delta_over": true, "rate_over": true}

// eventVars are the variables an event sets for one evaluation.
var eventVars = map[string]any{
	"event":              "",
	"trip_distance_km":   0.0,
	"trip_duration_s":    0.0,
	"trip_fuel_used_l":   0.0,
	"trip_max_coolant_c": 0.0,
	"trip_engine_stops":  0.0,
	"trip_engine_off_s":  0.0,
	"battery_volts":      0.0,
	"battery_condition":  "",
	"engine_running":     false,
}

// signalSet is every signal name a condition may use.
var signalSet = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range obd.Signals() {
		m[s] = true
	}
	return m
}()

// exampleEnv gives the checker every name and its type.
func exampleEnv() map[string]any {
	env := map[string]any{
		"mil":                false,
		"codes":              []string{},
		"code":               func(string) bool { return false },
		"new_code":           func(string) bool { return false },
		"km_since_service":   0.0,
		"days_since_service": 0.0,
	}
	for name := range windowFuncs {
		env[name] = func(string, string) float64 { return 0 }
	}
	for k, v := range eventVars {
		env[k] = v
	}
	for s := range signalSet {
		env[s] = 0.0
	}
	return env
}

var compileEnv = exampleEnv()

// patcher turns signal paths (Vehicle.Speed parses as member access)
// into one name, gives window functions the path rather than the value,
// and notes what the condition refers to.
type patcher struct {
	c    *condition
	errs []*compileError
	src  string
}

func (p *patcher) fail(n ast.Node, format string, args ...any) {
	line, col := position(p.src, n.Location().From)
	p.errs = append(p.errs, &compileError{line: line, column: col, msg: fmt.Sprintf(format, args...)})
}

// path returns the dotted name a member chain spells, if it is one.
func path(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value, true
	case *ast.MemberNode:
		prop, ok := x.Property.(*ast.StringNode)
		if !ok || x.Optional || x.Method {
			return "", false
		}
		base, ok := path(x.Node)
		if !ok {
			return "", false
		}
		return base + "." + prop.Value, true
	}
	return "", false
}

func (p *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if name, ok := path(n); ok && strings.HasPrefix(name, "Vehicle.") {
			ast.Patch(node, &ast.IdentifierNode{Value: name})
			if signalSet[name] {
				p.c.signals = append(p.c.signals, name)
			}
		}
	case *ast.IdentifierNode:
		if _, ok := eventVars[n.Value]; ok {
			p.c.event = true
		}
		if signalSet[n.Value] {
			p.c.signals = append(p.c.signals, n.Value)
		}
	case *ast.CallNode:
		callee, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		if callee.Value == "new_code" {
			p.c.event = true
		}
		if !windowFuncs[callee.Value] {
			return
		}
		if len(n.Arguments) != 2 {
			p.fail(n, "%s takes a signal and a window, like %s(Vehicle.Speed, \"5m\")", callee.Value, callee.Value)
			return
		}
		sig, ok := n.Arguments[0].(*ast.IdentifierNode)
		if !ok || !signalSet[sig.Value] {
			p.fail(n.Arguments[0], "%s: the first argument must be a signal name", callee.Value)
			return
		}
		win, ok := n.Arguments[1].(*ast.StringNode)
		d, err := time.ParseDuration(win.Value)
		if !ok || err != nil || d <= 0 || d > 24*time.Hour {
			p.fail(n.Arguments[1], "%s: the window must be a duration up to 24h in quotes, like \"5m\"", callee.Value)
			return
		}
		if d > p.c.windows[sig.Value] {
			p.c.windows[sig.Value] = d
		}
		ast.Patch(&n.Arguments[0], &ast.StringNode{Value: sig.Value})
	}
}

// compile checks and compiles a condition: it must be true or false, and
// every name in it must be a signal, a variable or a function Pitwall
// knows.
func compile(src string) (*condition, error) {
	c := &condition{source: src, windows: map[string]time.Duration{}}
	p := &patcher{c: c, src: src}
	prog, err := expr.Compile(src, expr.Env(compileEnv), expr.AsBool(), expr.Patch(p), expr.Optimize(false))
	if len(p.errs) > 0 {
		return nil, p.errs[0]
	}
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			msg := fe.Message
			if strings.HasPrefix(msg, "unknown name ") {
				msg += hint(strings.TrimPrefix(msg, "unknown name "))
			}
			return nil, &compileError{line: fe.Line, column: fe.Column, msg: msg}
		}
		return nil, &compileError{line: 1, msg: err.Error()}
	}
	c.program = prog
	c.signals = unique(c.signals)
	return c, nil
}

// hint suggests the signal a misspelt one was meant to be.
func hint(name string) string {
	if !strings.HasPrefix(name, "Vehicle.") {
		return ""
	}
	best, bestD := "", 1<<30
	for s := range signalSet {
		if d := distance(strings.ToLower(name), strings.ToLower(s)); d < bestD {
			best, bestD = s, d
		}
	}
	if bestD <= len(name)/4 {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (not a signal; see docs/signals.md)"
}

// distance is the edit distance between two strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// position turns a rune offset in src into a line (from 1) and a column
// (from 0).
func position(src string, from int) (int, int) {
	line, col, n := 1, 0, 0
	for _, r := range src {
		if n == from {
			break
		}
		if r == '\n' {
			line, col = line+1, 0
		} else {
			col++
		}
		n++
	}
	return line, col
}

func unique(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// templateData is what a summary template sees.
type templateData struct {
	Rule    string
	Device  string
	Vehicle string
	Codes   []string
	New     []string // codes that just appeared
	Event   string
	env     map[string]any
}

// Value is a signal's latest value when the alert fired (NaN when unknown).
func (d templateData) Value(signal string) float64 {
	if v, ok := d.env[signal].(float64); ok {
		return v
	}
	return math.NaN()
}

// Field is a variable of the event being evaluated (battery_volts, …).
func (d templateData) Field(name string) any {
	if _, ok := eventVars[name]; !ok {
		return nil
	}
	return d.env[name]
}

// checkTemplate runs a summary once on sample data so that a bad field
// or call is found at load, not when an owner should be told.
func checkTemplate(t *template.Template) error {
	var b strings.Builder
	return t.Execute(&b, templateData{Rule: "r", Device: "d", Vehicle: "v", Codes: []string{"P0100"}, New: []string{"P0100"}, env: compileEnv})
}
