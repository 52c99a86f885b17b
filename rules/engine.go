package rules

import (
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
)

// Sample is one signal's value at a time.
type Sample struct {
	Signal string
	Time   time.Time
	Value  float64
}

// Codes is a trouble-code report: what the car has now.
type Codes struct {
	Time    time.Time
	Stored  []string
	Pending []string
	MIL     bool
}

// Event is something that happened to the car. Kind is one of
// ignition_on, ignition_off, trip_start, trip_end, battery; Fields holds
// the event variables a condition may read (trip_distance_km,
// battery_condition, …).
type Event struct {
	Time   time.Time
	Kind   string
	Fields map[string]any
}

// Maintenance is a vehicle's last service.
type Maintenance struct {
	Date       time.Time
	OdometerKm float64
}

// State of an alert.
type State string

// An alert is pending while its condition holds for less than its
// rule's for:, then fires, then resolves.
const (
	Pending  State = "pending"
	Firing   State = "firing"
	Resolved State = "resolved"
)

// Alert is a rule that started or stopped holding for a vehicle, with the
// data that explains it.
type Alert struct {
	Rule     string
	Severity Severity
	Labels   map[string]string // alertname, device, vehicle, severity and the rule's own
	Device   string
	Vehicle  string
	State    State
	StartsAt time.Time
	EndsAt   time.Time // zero while firing
	Summary  string
	Values   map[string]float64 // the signals the rule reads, as they were
	Codes    []string           // the car's codes, as they were
	// OneShot alerts are about a moment (an event, a new code): nobody is
	// told when they resolve.
	OneShot      bool
	SendResolved bool
}

// odometer is the signal maintenance distances are counted on.
const odometer = "Vehicle.TraveledDistance"

// Option changes an Engine.
type Option func(*Engine)

// WithMaintenance gives the engine each device's last service.
func WithMaintenance(f func(device string) (Maintenance, bool)) Option {
	return func(e *Engine) { e.maintenance = f }
}

// WithClock sets the time used when an input carries none.
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// Engine evaluates a rule set per vehicle. It is safe for concurrent use.
type Engine struct {
	set         *Set
	now         func() time.Time
	maintenance func(string) (Maintenance, bool)
	windows     map[string]time.Duration // signal → the longest window any rule keeps
	maxWindow   time.Duration            // the longest of them
	maxHold     time.Duration            // the longest for: or clear_for

	mu       sync.Mutex
	vehicles map[string]*vehicle
}

// NewEngine makes an engine for a rule set.
func NewEngine(set *Set, opts ...Option) *Engine {
	e := &Engine{set: set, now: time.Now, vehicles: map[string]*vehicle{}, windows: map[string]time.Duration{}}
	for _, o := range opts {
		o(e)
	}
	for _, r := range set.Rules {
		for _, c := range []*condition{r.when, r.clear} {
			if c == nil {
				continue
			}
			for s, d := range c.windows {
				e.windows[s] = max(e.windows[s], d)
				e.maxWindow = max(e.maxWindow, d)
			}
		}
		e.maxHold = max(e.maxHold, r.For, r.ClearFor)
	}
	return e
}

// vehicle is what the engine keeps of one device.
type vehicle struct {
	device, name string
	env          map[string]any
	history      map[string][]Sample // windowed signals, oldest first
	at           time.Time           // the time being evaluated
	codes        map[string]bool
	newCodes     []string
	maint        Maintenance
	hasMaint     bool
	maintAt      time.Time
	states       map[*Rule]*ruleState
	// seen is what a rebuild replayed: input up to it was in the replay.
	seen seen
	// replay, while a rebuild runs, follows each condition's runs.
	replay *replay
}

// ruleState is a rule's progress for one vehicle.
type ruleState struct {
	since      time.Time // the condition has held since; zero when it does not
	firing     bool
	startsAt   time.Time
	clearSince time.Time
	fired      Alert // as it fired: a resolved alert repeats its explanation
}

func (e *Engine) vehicle(device, name string) *vehicle {
	v := e.vehicles[device]
	if v == nil {
		v = &vehicle{device: device, env: map[string]any{}, history: map[string][]Sample{}, codes: map[string]bool{}, states: map[*Rule]*ruleState{}}
		for s := range signalSet {
			v.env[s] = math.NaN()
		}
		for k, val := range eventVars {
			v.env[k] = val
		}
		v.env["mil"] = false
		v.env["codes"] = []string{}
		v.env["km_since_service"] = math.NaN()
		v.env["days_since_service"] = math.NaN()
		v.env["code"] = func(prefix string) bool {
			for c := range v.codes {
				if strings.HasPrefix(c, prefix) {
					return true
				}
			}
			return false
		}
		v.env["new_code"] = func(prefix string) bool {
			for _, c := range v.newCodes {
				if strings.HasPrefix(c, prefix) {
					return true
				}
			}
			return false
		}
		v.env["avg_over"] = func(sig, w string) float64 { return v.window(sig, w, avg) }
		v.env["min_over"] = func(sig, w string) float64 { return v.window(sig, w, minOf) }
		v.env["max_over"] = func(sig, w string) float64 { return v.window(sig, w, maxOf) }
		v.env["delta_over"] = func(sig, w string) float64 { return v.window(sig, w, delta) }
		v.env["rate_over"] = func(sig, w string) float64 { return v.window(sig, w, rate) }
		e.vehicles[device] = v
	}
	if name != "" {
		v.name = name
	}
	return v
}

// window applies f to a signal's values within w before the time being
// evaluated; NaN when there are none.
func (v *vehicle) window(sig, w string, f func([]Sample) float64) float64 {
	d, _ := time.ParseDuration(w) // checked when the rule was compiled
	from := v.at.Add(-d)
	h := v.history[sig]
	if len(h) == 0 || h[0].Time.After(from) {
		return math.NaN() // the history does not cover the window yet
	}
	i := sort.Search(len(h), func(i int) bool { return h[i].Time.After(from) })
	j := sort.Search(len(h), func(i int) bool { return h[i].Time.After(v.at) })
	if i >= j {
		return math.NaN()
	}
	return f(h[i:j])
}

func avg(s []Sample) float64 {
	sum := 0.0
	for _, x := range s {
		sum += x.Value
	}
	return sum / float64(len(s))
}

func minOf(s []Sample) float64 {
	m := s[0].Value
	for _, x := range s[1:] {
		m = math.Min(m, x.Value)
	}
	return m
}

func maxOf(s []Sample) float64 {
	m := s[0].Value
	for _, x := range s[1:] {
		m = math.Max(m, x.Value)
	}
	return m
}

func delta(s []Sample) float64 { return s[len(s)-1].Value - s[0].Value }

// rate is the change per second between the first and last value.
func rate(s []Sample) float64 {
	dt := s[len(s)-1].Time.Sub(s[0].Time).Seconds()
	if dt <= 0 {
		return math.NaN()
	}
	return delta(s) / dt
}

// Samples takes a vehicle's new values (any order) and evaluates the
// rules at each instant among them. It returns the alerts that fired or
// resolved, in order. Values no newer than the newest a rebuild replayed
// are taken as seen already and left out.
func (e *Engine) Samples(device, vehicleName string, samples []Sample) []Alert {
	if len(samples) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vehicle(device, vehicleName)
	sorted := make([]Sample, 0, len(samples))
	for _, s := range samples {
		if s.Time.After(v.seen.samples) {
			sorted = append(sorted, s)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	var out []Alert
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].Time.Equal(sorted[i].Time) {
			j++
		}
		e.take(v, sorted[i:j])
		out = append(out, e.evaluate(v, sorted[i].Time, false)...)
		i = j
	}
	return out
}

// take sets a vehicle's values of one instant and keeps the history of
// the signals a window reads.
func (e *Engine) take(v *vehicle, instant []Sample) {
	for _, s := range instant {
		if !signalSet[s.Signal] {
			continue
		}
		v.env[s.Signal] = s.Value
		if d, ok := e.windows[s.Signal]; ok {
			// Keep the window, and the last value before it: a window
			// function answers only once the history covers its window.
			h := append(v.history[s.Signal], s)
			cut := sort.Search(len(h), func(k int) bool { return h[k].Time.After(s.Time.Add(-d)) })
			if cut > 0 {
				cut--
			}
			if cut > len(h)/2 {
				h = append(h[:0:0], h[cut:]...)
			}
			v.history[s.Signal] = h
		}
	}
}

// Codes takes a trouble-code report and evaluates the rules with it. A
// report no newer than the newest a rebuild replayed is left out.
func (e *Engine) Codes(device, vehicleName string, c Codes) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vehicle(device, vehicleName)
	if !c.Time.IsZero() && !c.Time.After(v.seen.codes) {
		return nil
	}
	return e.codes(v, c)
}

// setCodes makes a report the vehicle's codes and notes which are new.
func (e *Engine) setCodes(v *vehicle, c Codes) {
	now := map[string]bool{}
	for _, list := range [][]string{c.Stored, c.Pending} {
		for _, code := range list {
			now[code] = true
		}
	}
	v.newCodes = v.newCodes[:0]
	for code := range now {
		if !v.codes[code] {
			v.newCodes = append(v.newCodes, code)
		}
	}
	sort.Strings(v.newCodes)
	v.codes = now
	list := make([]string, 0, len(now))
	for code := range now {
		list = append(list, code)
	}
	sort.Strings(list)
	v.env["codes"], v.env["mil"] = list, c.MIL
}

func (e *Engine) codes(v *vehicle, c Codes) []Alert {
	e.setCodes(v, c)
	t := c.Time
	if t.IsZero() {
		t = e.now()
	}
	out := e.evaluate(v, t, len(v.newCodes) > 0)
	v.newCodes = v.newCodes[:0]
	return append(out, e.evaluate(v, t, false)...) // the moment has passed
}

// Event takes an event and evaluates the rules with it. An event no
// newer than the newest a rebuild replayed is left out.
func (e *Engine) Event(device, vehicleName string, ev Event) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vehicle(device, vehicleName)
	if !ev.Time.IsZero() && !ev.Time.After(v.seen.events) {
		return nil
	}
	return e.event(v, ev)
}

func (e *Engine) event(v *vehicle, ev Event) []Alert {
	v.env["event"] = ev.Kind
	for k, val := range ev.Fields {
		if def, ok := eventVars[k]; ok && sameKind(def, val) {
			v.env[k] = val
		}
	}
	t := ev.Time
	if t.IsZero() {
		t = e.now()
	}
	out := e.evaluate(v, t, true)
	for k, val := range eventVars {
		v.env[k] = val
	}
	return append(out, e.evaluate(v, t, false)...) // the moment has passed
}

func sameKind(a, b any) bool {
	switch a.(type) {
	case float64:
		_, ok := b.(float64)
		return ok
	case string:
		_, ok := b.(string)
		return ok
	case bool:
		_, ok := b.(bool)
		return ok
	}
	return false
}

// evaluate runs every rule for a vehicle at time t. With moment set, the
// evaluation is of an event or a new code: only then may one-shot rules
// fire.
func (e *Engine) evaluate(v *vehicle, t time.Time, moment bool) []Alert {
	v.at = t
	e.refreshMaintenance(v, t)
	var out []Alert
	for _, r := range e.set.Rules {
		st := v.states[r]
		if st == nil {
			st = &ruleState{}
			v.states[r] = st
		}
		ok := run(r.when, v.env)
		if v.replay != nil {
			v.replay.follow(r, t, ok, v.env)
		}
		if r.when.event {
			switch {
			case ok && !st.firing && moment:
				st.firing, st.startsAt = true, t
				st.fired = e.alert(v, r, Firing, t, time.Time{})
				out = append(out, st.fired)
			case !ok && st.firing:
				st.firing = false
				out = append(out, resolved(st.fired, t))
			}
			continue
		}
		if !st.firing {
			if !ok {
				st.since = time.Time{}
				continue
			}
			if st.since.IsZero() || t.Before(st.since) {
				st.since = t
			}
			if t.Sub(st.since) >= r.For {
				st.firing, st.startsAt, st.clearSince = true, t, time.Time{}
				st.fired = e.alert(v, r, Firing, t, time.Time{})
				out = append(out, st.fired)
			}
			continue
		}
		cleared := !ok
		if r.clear != nil {
			cleared = run(r.clear, v.env)
		}
		if !cleared {
			st.clearSince = time.Time{}
			continue
		}
		if st.clearSince.IsZero() || t.Before(st.clearSince) {
			st.clearSince = t
		}
		if t.Sub(st.clearSince) >= r.ClearFor {
			st.firing, st.since = false, time.Time{}
			out = append(out, resolved(st.fired, t))
		}
	}
	return out
}

func (e *Engine) refreshMaintenance(v *vehicle, t time.Time) {
	if e.maintenance != nil && (v.maintAt.IsZero() || t.Sub(v.maintAt) > time.Hour || t.Before(v.maintAt)) {
		v.maint, v.hasMaint = e.maintenance(v.device)
		v.maintAt = t
	}
	km, days := math.NaN(), math.NaN()
	if v.hasMaint {
		if odo, ok := v.env[odometer].(float64); ok && !math.IsNaN(odo) {
			km = odo - v.maint.OdometerKm
		}
		if !v.maint.Date.IsZero() {
			days = t.Sub(v.maint.Date).Hours() / 24
		}
	}
	v.env["km_since_service"], v.env["days_since_service"] = km, days
}

// Restore takes up alerts that were firing before a restart, so that a
// condition still holding continues them instead of firing anew, and
// their end is reported with their start.
func (e *Engine) Restore(alerts []Alert) {
	e.mu.Lock()
	defer e.mu.Unlock()
	byName := map[string]*Rule{}
	for _, r := range e.set.Rules {
		byName[r.Name] = r
	}
	for _, a := range alerts {
		r := byName[a.Rule]
		if r == nil || a.State != Firing || r.when.event {
			continue
		}
		v := e.vehicle(a.Device, a.Vehicle)
		v.states[r] = &ruleState{firing: true, startsAt: a.StartsAt, since: a.StartsAt, fired: a}
	}
}

// Active lists a device's alerts that are pending (the condition holds,
// its for: has not passed) or firing, as of the last data.
func (e *Engine) Active(device string) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vehicles[device]
	if v == nil {
		return nil
	}
	var out []Alert
	for _, r := range e.set.Rules {
		st := v.states[r]
		switch {
		case st == nil:
		case st.firing && !r.when.event:
			out = append(out, st.fired)
		case !st.firing && !st.since.IsZero():
			out = append(out, e.alert(v, r, Pending, st.since, time.Time{}))
		}
	}
	return out
}

// resolved is a fired alert's end: its explanation is the firing's.
func resolved(a Alert, t time.Time) Alert {
	a.State, a.EndsAt = Resolved, t
	return a
}

// run evaluates a condition; an error (which a checked condition should
// not have) counts as false.
func run(c *condition, env map[string]any) bool {
	out, err := expr.Run(c.program, env)
	if err != nil {
		return false
	}
	b, _ := out.(bool)
	return b
}

// alert describes a rule's alert for a vehicle now.
func (e *Engine) alert(v *vehicle, r *Rule, state State, starts, ends time.Time) Alert {
	a := Alert{Rule: r.Name, Severity: r.Severity, Device: v.device, Vehicle: v.name, State: state, StartsAt: starts, EndsAt: ends,
		Values: map[string]float64{}, OneShot: r.when.event, SendResolved: r.SendResolved && !r.when.event}
	a.Labels = map[string]string{"alertname": r.Name, "device": v.device, "severity": string(r.Severity)}
	if v.name != "" {
		a.Labels["vehicle"] = v.name
	}
	for k, val := range r.Labels {
		a.Labels[k] = val
	}
	for _, c := range []*condition{r.when, r.clear} {
		if c == nil {
			continue
		}
		for _, s := range c.signals {
			if x, ok := v.env[s].(float64); ok && !math.IsNaN(x) {
				a.Values[s] = x
			}
		}
	}
	a.Codes, _ = v.env["codes"].([]string)
	a.Codes = append([]string(nil), a.Codes...)
	var b strings.Builder
	data := templateData{Rule: r.Name, Device: v.device, Vehicle: v.name, Codes: a.Codes, New: append([]string(nil), v.newCodes...), env: v.env}
	if ev, ok := v.env["event"].(string); ok {
		data.Event = ev
	}
	if err := r.Summary.Execute(&b, data); err != nil {
		b.Reset()
		b.WriteString(r.Name)
	}
	a.Summary = b.String()
	return a
}
