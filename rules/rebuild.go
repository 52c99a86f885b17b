package rules

import (
	"sort"
	"time"
)

// History is what a rebuild replays of one device, as the stores hold it.
type History struct {
	// From and Until bound the replay: Until is the device's newest
	// stored instant, From at least Horizon before it.
	From, Until time.Time
	// Before holds each signal's last value before From: where the
	// values stood when the replay begins.
	Before []Sample
	// Samples are the values stored in [From, Until], in any order.
	Samples []Sample
	// Codes are the trouble-code reports: the last one before From and
	// those in [From, Until], in any order.
	Codes []Codes
	// Events are the events in [From, Until], in any order.
	Events []Event
	// Alerts are the device's stored alerts, in any state: the newest of
	// each rule is what its owner has been told of.
	Alerts []Alert
}

// Horizon is how far back a rebuild must replay for the state at its end
// to be the one an engine that saw everything would hold: the longest
// window a rule reads, then the longest for: or clear_for.
func (e *Engine) Horizon() time.Duration { return e.maxWindow + e.maxHold }

// Forget drops what the engine holds of a device (another server took
// the car over). Its next input starts it afresh, unless a Rebuild comes
// first.
func (e *Engine) Forget(device string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.vehicles, device)
}

// Devices lists the devices the engine holds state for, in no order.
func (e *Engine) Devices() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.vehicles))
	for d := range e.vehicles {
		out = append(out, d)
	}
	return out
}

// Rebuild replaces what the engine holds of a device by replaying its
// stored history, and returns the alerts the replay found that the
// stored alerts do not already tell: those a server that died, or whose
// alerts could not be stored, never got to record. The first part of the
// replay, as long as the longest window, only fills windows, values and
// codes; from there the rules run, starting from the stored firing
// alerts. What the replay finds at or before the stored alerts' latest
// news (their start, or their end) is taken as told; where the replay has
// nothing new to say of a rule, the rule's state is made to agree with
// the stored alert. Input no newer than the newest of its kind in the
// history is then taken as seen: Samples, Codes and Event leave it out.
func (e *Engine) Rebuild(device, vehicleName string, h History) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.vehicles, device)
	v := e.vehicle(device, vehicleName)
	stored := newestByRule(h.Alerts)
	v.replay = &replay{held: map[*Rule]time.Time{}, cleared: map[*Rule]time.Time{}}
	defer func() { v.replay = nil }()

	before := append([]Sample(nil), h.Before...)
	sort.SliceStable(before, func(i, j int) bool { return before[i].Time.Before(before[j].Time) })
	for _, s := range before {
		e.take(v, []Sample{s})
	}
	inputs := timeline(h)
	warm := h.From.Add(e.maxWindow)
	restored := false
	var found []Alert
	for _, st := range inputs {
		if st.at.Before(h.From) {
			if st.codes != nil { // the report in force when the replay begins
				e.setCodes(v, *st.codes)
				v.newCodes = v.newCodes[:0]
			}
			continue
		}
		if st.at.Before(warm) {
			switch {
			case st.samples != nil:
				e.take(v, st.samples)
			case st.codes != nil:
				e.setCodes(v, *st.codes)
				v.newCodes = v.newCodes[:0]
			}
			continue
		}
		if !restored {
			e.restore(v, stored)
			restored = true
		}
		switch {
		case st.samples != nil:
			e.take(v, st.samples)
			found = append(found, e.evaluate(v, st.at, false)...)
		case st.codes != nil:
			found = append(found, e.codes(v, *st.codes)...)
		case st.event != nil:
			found = append(found, e.event(v, *st.event)...)
		}
	}
	if !restored {
		e.restore(v, stored)
	}
	out := e.reconcile(v, found, stored)
	v.seen = watermarks(h)
	return out
}

// watermarks are the newest instants a history holds of each kind of
// input: what comes later is new.
func watermarks(h History) seen {
	var w seen
	for _, x := range h.Samples {
		if x.Time.After(w.samples) && !x.Time.After(h.Until) {
			w.samples = x.Time
		}
	}
	for _, c := range h.Codes {
		if c.Time.After(w.codes) && !c.Time.After(h.Until) {
			w.codes = c.Time
		}
	}
	for _, ev := range h.Events {
		if ev.Time.After(w.events) && !ev.Time.After(h.Until) {
			w.events = ev.Time
		}
	}
	return w
}

// seen is, per kind of input, the newest instant a rebuild replayed.
type seen struct{ samples, codes, events time.Time }

// replayInput is what a replay takes at one instant: values, a report or an event.
type replayInput struct {
	at      time.Time
	order   int // at one instant: values, then codes, then events
	samples []Sample
	codes   *Codes
	event   *Event
}

// timeline orders a history's input by time.
func timeline(h History) []replayInput {
	samples := append([]Sample(nil), h.Samples...)
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].Time.Before(samples[j].Time) })
	var steps []replayInput
	for i := 0; i < len(samples); {
		j := i + 1
		for j < len(samples) && samples[j].Time.Equal(samples[i].Time) {
			j++
		}
		if !samples[i].Time.After(h.Until) {
			steps = append(steps, replayInput{at: samples[i].Time, samples: samples[i:j]})
		}
		i = j
	}
	for i := range h.Codes {
		if c := &h.Codes[i]; !c.Time.After(h.Until) {
			steps = append(steps, replayInput{at: c.Time, order: 1, codes: c})
		}
	}
	for i := range h.Events {
		if ev := &h.Events[i]; !ev.Time.Before(h.From) && !ev.Time.After(h.Until) {
			steps = append(steps, replayInput{at: ev.Time, order: 2, event: ev})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool {
		if !steps[i].at.Equal(steps[j].at) {
			return steps[i].at.Before(steps[j].at)
		}
		return steps[i].order < steps[j].order
	})
	return steps
}

// newestByRule keeps each rule's stored alert with the latest news.
func newestByRule(alerts []Alert) map[string]Alert {
	out := map[string]Alert{}
	for _, a := range alerts {
		if cur, ok := out[a.Rule]; !ok || news(a).After(news(cur)) {
			out[a.Rule] = a
		}
	}
	return out
}

// news is when an alert last changed: its end once resolved, else its
// start.
func news(a Alert) time.Time {
	if a.State == Resolved {
		return a.EndsAt
	}
	return a.StartsAt
}

// restore takes up the stored firing alerts, as Restore does.
func (e *Engine) restore(v *vehicle, stored map[string]Alert) {
	for _, r := range e.set.Rules {
		if a, ok := stored[r.Name]; ok && a.State == Firing && !r.when.event {
			v.states[r] = &ruleState{firing: true, startsAt: a.StartsAt, since: a.StartsAt, fired: a}
		}
	}
}

// reconcile keeps what a replay found that the stored alerts do not tell,
// and makes the rules it found nothing new of agree with their stored
// alert.
func (e *Engine) reconcile(v *vehicle, found []Alert, stored map[string]Alert) []Alert {
	told := map[string]map[int64]bool{} // firings taken as told: their end is too
	changed := map[string]bool{}
	var out []Alert
	for _, a := range found {
		s, ok := stored[a.Rule]
		if ok && !news(a).After(news(s)) {
			if a.State == Firing {
				if told[a.Rule] == nil {
					told[a.Rule] = map[int64]bool{}
				}
				told[a.Rule][a.StartsAt.UnixMilli()] = true
			}
			continue
		}
		if a.State == Resolved && told[a.Rule][a.StartsAt.UnixMilli()] {
			if !ok || s.State != Firing {
				continue // its end is told already
			}
			a = resolved(s, a.EndsAt) // the end of the stored alert
		}
		out = append(out, a)
		changed[a.Rule] = true
	}
	for _, r := range e.set.Rules {
		if r.when.event || changed[r.Name] {
			continue
		}
		st := v.states[r]
		if st == nil {
			st = &ruleState{}
			v.states[r] = st
		}
		s, ok := stored[r.Name]
		switch {
		case ok && s.State == Firing:
			if st.firing && st.startsAt.Equal(s.StartsAt) {
				continue
			}
			clearSince := st.clearSince
			if !st.firing {
				clearSince = time.Time{}
				if c := v.replay.cleared[r]; c.After(s.StartsAt) {
					clearSince = c
				}
			}
			*st = ruleState{firing: true, startsAt: s.StartsAt, since: s.StartsAt, clearSince: clearSince, fired: s}
		default:
			if st.firing { // told over, or never told: what holds now is pending
				*st = ruleState{since: v.replay.held[r]}
			}
			if ok && !st.since.IsZero() && !st.since.After(s.EndsAt) {
				// Holding again after the stored end: from the first
				// instant after it.
				st.since = v.replay.firstAfter(s.EndsAt)
			}
		}
	}
	return out
}

// replay follows, while a rebuild runs, how long each rule's conditions
// have held.
type replay struct {
	instants []time.Time         // the instants evaluated, in order
	held     map[*Rule]time.Time // when the rule's condition has held since; zero: it does not
	cleared  map[*Rule]time.Time // its clear condition (or its condition not holding)
}

func (p *replay) follow(r *Rule, t time.Time, ok bool, env map[string]any) {
	if n := len(p.instants); n == 0 || !p.instants[n-1].Equal(t) {
		p.instants = append(p.instants, t)
	}
	cleared := !ok
	if r.clear != nil {
		cleared = run(r.clear, env)
	}
	for _, x := range []struct {
		m  map[*Rule]time.Time
		on bool
	}{{p.held, ok}, {p.cleared, cleared}} {
		switch {
		case !x.on:
			delete(x.m, r)
		case x.m[r].IsZero():
			x.m[r] = t
		}
	}
}

// firstAfter is the first instant evaluated after t; zero when none was.
func (p *replay) firstAfter(t time.Time) time.Time {
	i := sort.Search(len(p.instants), func(i int) bool { return p.instants[i].After(t) })
	if i == len(p.instants) {
		return time.Time{}
	}
	return p.instants[i]
}
