package pipeline

import (
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// ruleCodes is a trouble-code report in the rules' form.
func ruleCodes(m *wirepb.DTCReport) rules.Codes {
	c := rules.Codes{Time: time.UnixMilli(m.GetTimeMs()), MIL: m.GetMil()}
	for _, x := range m.GetStored() {
		c.Stored = append(c.Stored, x.GetCode())
	}
	for _, x := range m.GetPending() {
		c.Pending = append(c.Pending, x.GetCode())
	}
	return c
}

// ruleEvent turns a wire event into the rules' form.
func ruleEvent(m *wirepb.Event) (rules.Event, bool) {
	ev := rules.Event{Time: time.UnixMilli(m.GetTimeMs()), Fields: map[string]any{}}
	switch k := m.GetKind().(type) {
	case *wirepb.Event_Ignition:
		ev.Kind = "ignition_off"
		if k.Ignition.GetOn() {
			ev.Kind = "ignition_on"
		}
		ev.Fields["engine_running"] = k.Ignition.GetEngineRunning()
	case *wirepb.Event_TripStart:
		ev.Kind = "trip_start"
	case *wirepb.Event_TripEnd:
		ev.Kind = "trip_end"
		ev.Fields["trip_distance_km"] = k.TripEnd.GetDistanceKm()
		ev.Fields["trip_duration_s"] = k.TripEnd.GetDurationS()
		ev.Fields["trip_fuel_used_l"] = k.TripEnd.GetFuelUsedL()
		ev.Fields["trip_max_coolant_c"] = k.TripEnd.GetMaxCoolantC()
		ev.Fields["trip_engine_stops"] = float64(k.TripEnd.GetEngineStops())
		ev.Fields["trip_engine_off_s"] = k.TripEnd.GetEngineOffS()
	case *wirepb.Event_Battery:
		ev.Kind = "battery"
		ev.Fields["battery_condition"] = k.Battery.GetCondition()
		ev.Fields["battery_volts"] = k.Battery.GetVolts()
	default:
		return ev, false
	}
	return ev, true
}

// ruleAlert is a stored alert in the rules' form.
func ruleAlert(a store.Alert) rules.Alert {
	return rules.Alert{Rule: a.Rule, Severity: rules.Severity(a.Severity), Labels: a.Labels, Device: a.Device, Vehicle: a.Vehicle,
		State: rules.State(a.State), StartsAt: a.StartsAt, EndsAt: a.EndsAt, Summary: a.Summary, Values: a.Values, Codes: a.Codes,
		OneShot: a.OneShot, SendResolved: a.SendResolved}
}

// FillCodes puts a trouble-code report into a diagnosis's input: codes
// by status, freeze frames, readiness monitors and on-board test results.
func FillCodes(in *diagnosis.Input, r *wirepb.DTCReport) {
	in.MIL = r.GetMil()
	in.At = time.UnixMilli(r.GetTimeMs())
	for _, k := range []struct {
		status string
		codes  []*wirepb.Code
	}{{"stored", r.GetStored()}, {"pending", r.GetPending()}, {"permanent", r.GetPermanent()}} {
		for _, c := range k.codes {
			in.Codes = append(in.Codes, diagnosis.CodeState{Code: c.GetCode(), ECU: c.GetEcu(), Status: k.status})
		}
	}
	for _, f := range r.GetFreezeFrames() {
		ff := diagnosis.FreezeFrame{DTC: f.GetDtc(), ECU: f.GetEcu()}
		for _, v := range f.GetValues() {
			ff.Values = append(ff.Values, diagnosis.FreezeValue{Signal: v.GetSignal(), Value: v.GetValue(), Unit: v.GetUnit()})
		}
		in.Freeze = append(in.Freeze, ff)
	}
	for _, m := range r.GetMonitors() {
		in.Monitors = append(in.Monitors, diagnosis.Monitor{Name: m.GetName(), Supported: m.GetSupported(), Complete: m.GetComplete()})
	}
	for _, t := range r.GetTests() {
		in.Tests = append(in.Tests, diagnosis.TestResult{ECU: t.GetEcu(), MID: uint8(t.GetMid()), TID: uint8(t.GetTid()), Monitor: t.GetMonitor(),
			Test: t.GetTest(), Signal: t.GetSignal(), Value: t.GetValue(), Min: t.GetMin(), Max: t.GetMax(), Unit: t.GetUnit(), Passed: t.GetPassed()})
	}
}
