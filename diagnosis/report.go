package diagnosis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Vehicle is the car a report is about.
type Vehicle struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	VIN   string `json:"vin,omitempty"`
	Make  string `json:"make,omitempty"`
	Model string `json:"model,omitempty"`
	Year  int    `json:"year,omitempty"`
}

// CodeState is one code as the car reported it.
type CodeState struct {
	Code   string `json:"code"`
	ECU    string `json:"ecu,omitempty"`
	Status string `json:"status"` // stored, pending or permanent
}

// FreezeValue is one value of a freeze frame.
type FreezeValue struct {
	Signal string  `json:"signal"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
}

// FreezeFrame is the car's state when a code was confirmed.
type FreezeFrame struct {
	DTC    string        `json:"dtc"`
	ECU    string        `json:"ecu,omitempty"`
	Values []FreezeValue `json:"values"`
}

// Monitor is one readiness monitor.
type Monitor struct {
	Name      string `json:"name"`
	Supported bool   `json:"supported"`
	Complete  bool   `json:"complete"`
}

// Sample is a signal's value at a time.
type Sample struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
}

// Input is what a report is written from.
type Input struct {
	Vehicle  Vehicle
	At       time.Time
	MIL      bool
	Codes    []CodeState
	Freeze   []FreezeFrame
	Monitors []Monitor
	// Latest holds the newest value of each signal (odometer, distance
	// with the MIL on, ...).
	Latest map[string]float64
	// History holds the recent history (the last drive) of the signals
	// Signals asked for, oldest first.
	History map[string][]Sample
	// Tests are the on-board monitors' latest test results (service 06).
	Tests []TestResult
	// Symptoms are faults the live data shows: the firing alerts whose
	// rule names a symptom.
	Symptoms []Symptom
}

// Symptom is a fault a rule saw in the live data.
type Symptom struct {
	ID       string    // the rule's symptom label
	Rule     string    // the rule that saw it
	Since    time.Time // when it started
	Observed string    // the alert's summary: what the rule saw
}

// Report is a remote pre-diagnosis.
type Report struct {
	Vehicle  Vehicle   `json:"vehicle"`
	VIN      *VIN      `json:"vin_decoded,omitempty"`
	VINError string    `json:"vin_error,omitempty"`
	At       time.Time `json:"at"`
	MIL      bool      `json:"mil"`
	// OdometerKm and DistanceWithMILKm are 0 when the car does not report
	// them.
	OdometerKm        float64 `json:"odometer_km,omitempty"`
	DistanceWithMILKm float64 `json:"distance_with_mil_km,omitempty"`

	Severity Severity `json:"severity,omitempty"`
	Safe     string   `json:"safe_to_drive"`
	Summary  string   `json:"summary"`
	// Price is the fair range for the most likely fix of every code, each
	// repair counted once.
	Price    Money     `json:"fair_price"`
	Findings []string  `json:"findings,omitempty"`
	Codes    []Finding `json:"codes"`
	// Symptoms are the faults the live data shows, explained as codes
	// are; a car can have them without any code.
	Symptoms []Finding `json:"symptoms,omitempty"`
	// Confirmed are the symptoms a code of the same fault pattern
	// explains (said in the findings, not listed): a repair of the code
	// is watched for them too.
	Confirmed []string  `json:"confirmed_symptoms,omitempty"`
	Readiness Readiness `json:"readiness"`
	// Tests are every on-board monitor test result the car reported; each
	// code carries those of the monitors that test it.
	Tests   []TestResult    `json:"monitor_tests,omitempty"`
	History []SignalHistory `json:"history,omitempty"`
	Notice  string          `json:"notice"`
}

// Finding is one code in a report: its explanation, how the car reported
// it and its freeze frame.
type Finding struct {
	Explanation
	Statuses []string     `json:"statuses"`
	ECU      string       `json:"ecu,omitempty"`
	Freeze   *FreezeFrame `json:"freeze_frame,omitempty"`
	// Tests are the results of the monitors that test this code (a
	// misfire code's cylinder, a catalyst code's bank, an O2 code's
	// sensor), beside it.
	Tests []TestResult `json:"monitor_tests,omitempty"`
	// Symptom, for a fault seen in the live data rather than reported as
	// a code, names it (Code is then empty), with its title, the rule
	// that saw it, since when and what the rule saw.
	Symptom  string    `json:"symptom,omitempty"`
	Title    string    `json:"title,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Observed string    `json:"observed,omitempty"`
}

// Name is how a finding is called: its code, or a symptom's title.
func (f Finding) Name() string {
	if f.Symptom != "" {
		return f.Title
	}
	return f.Code
}

// Readiness is the state of the emissions monitors.
type Readiness struct {
	Known      bool      `json:"known"`
	Ready      bool      `json:"ready"`
	Incomplete []string  `json:"incomplete,omitempty"`
	Monitors   []Monitor `json:"monitors,omitempty"`
}

// SignalHistory summarises a signal over the recent drive.
type SignalHistory struct {
	Signal string    `json:"signal"`
	Label  string    `json:"label"`
	Unit   string    `json:"unit"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Mean   float64   `json:"mean"`
	Last   float64   `json:"last"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Points is the history thinned to at most MaxPoints, for a chart.
	Points []Sample `json:"points"`
}

// MaxPoints bounds each signal's points in a report.
const MaxPoints = 60

// Signal names a report reads (VSS names, as the agent sends them).
const (
	SigCoolant   = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
	SigRPM       = "Vehicle.Powertrain.CombustionEngine.Speed"
	SigSpeed     = "Vehicle.Speed"
	SigLoad      = "Vehicle.OBD.EngineLoad"
	SigMAF       = "Vehicle.Powertrain.CombustionEngine.MAF"
	SigSTFT1     = "Vehicle.OBD.ShortTermFuelTrim1"
	SigLTFT1     = "Vehicle.OBD.LongTermFuelTrim1"
	SigSTFT2     = "Vehicle.OBD.ShortTermFuelTrim2"
	SigLTFT2     = "Vehicle.OBD.LongTermFuelTrim2"
	SigO2Up      = "Vehicle.OBD.O2.Sensor1.Voltage"
	SigO2Down    = "Vehicle.OBD.O2.Sensor2.Voltage"
	SigBattery   = "Vehicle.LowVoltageBattery.CurrentVoltage"
	SigModuleV   = "Vehicle.OBD.ControlModuleVoltage"
	SigFuelLevel = "Vehicle.Powertrain.FuelSystem.RelativeLevel"
	SigEvap      = "Vehicle.OBD.EVAPVaporPressure"
	SigRail      = "Vehicle.OBD.FuelRailPressureDirect"
	SigOdometer  = "Vehicle.TraveledDistance"
	SigWithMIL   = "Vehicle.OBD.DistanceWithMIL"
	SigAmbient   = "Vehicle.Exterior.AirTemperature"
)

var signalInfo = map[string][2]string{
	SigCoolant: {"Coolant temperature", "°C"}, SigRPM: {"Engine speed", "rpm"}, SigSpeed: {"Vehicle speed", "km/h"},
	SigLoad: {"Engine load", "%"}, SigMAF: {"Air flow", "g/s"}, SigSTFT1: {"Short-term fuel trim, bank 1", "%"},
	SigLTFT1: {"Long-term fuel trim, bank 1", "%"}, SigSTFT2: {"Short-term fuel trim, bank 2", "%"}, SigLTFT2: {"Long-term fuel trim, bank 2", "%"},
	SigO2Up: {"Upstream oxygen sensor", "V"}, SigO2Down: {"Downstream oxygen sensor", "V"}, SigBattery: {"Battery voltage", "V"},
	SigModuleV: {"Control module voltage", "V"}, SigFuelLevel: {"Fuel level", "%"}, SigEvap: {"EVAP vapour pressure", "Pa"},
	SigRail: {"Fuel rail pressure", "kPa"}, SigAmbient: {"Outside temperature", "°C"},
}

// profileSignals are the signals that explain each fault pattern.
var profileSignals = map[string][]string{
	"overheat": {SigCoolant, SigSpeed, SigAmbient}, "slow-warm-up": {SigCoolant, SigSpeed, SigAmbient}, "cooling-fan": {SigCoolant, SigSpeed},
	"lean": {SigSTFT1, SigLTFT1, SigSTFT2, SigLTFT2, SigRPM, SigMAF}, "rich": {SigSTFT1, SigLTFT1, SigSTFT2, SigLTFT2, SigRPM, SigMAF},
	"misfire": {SigRPM, SigLoad, SigSTFT1, SigLTFT1}, "catalyst": {SigO2Up, SigO2Down, SigSpeed},
	"slow-response": {SigO2Up, SigO2Down}, "heater": {SigO2Up, SigCoolant},
	"voltage-low": {SigBattery, SigModuleV, SigRPM}, "voltage-high": {SigBattery, SigModuleV, SigRPM}, "charging": {SigBattery, SigModuleV, SigRPM},
	"evap-small-leak": {SigEvap, SigFuelLevel}, "evap-large-leak": {SigEvap, SigFuelLevel}, "evap-flow": {SigEvap, SigFuelLevel},
	"fuel-pressure-low": {SigRail, SigRPM, SigLoad}, "fuel-pressure-high": {SigRail, SigRPM, SigLoad},
	"idle": {SigRPM, SigSpeed}, "throttle-control": {SigRPM, SigSpeed, SigLoad}, "timing": {SigRPM, SigLoad},
}

// baseSignals are always worth a look: they show how the car was driven
// and the battery that everything hangs on.
var baseSignals = []string{SigSpeed, SigRPM, SigCoolant, SigBattery}

// Signals lists the signals whose recent history a report on these codes
// and symptoms needs, most telling first.
func (kb *KB) Signals(codes, symptoms []string) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, c := range codes {
		if n, err := NormalizeCode(c); err == nil && kb.codes[n] != nil {
			for _, s := range profileSignals[kb.codes[n].Profile.ID] {
				add(s)
			}
		}
	}
	for _, id := range symptoms {
		if e := kb.symptoms[id]; e != nil {
			for _, s := range profileSignals[e.Profile.ID] {
				add(s)
			}
		}
	}
	for _, s := range baseSignals {
		add(s)
	}
	return out
}

// LatestSignals are the newest values a report reads.
var LatestSignals = []string{SigOdometer, SigWithMIL}

var statusRank = map[string]int{"stored": 0, "pending": 1, "permanent": 2}

// Build writes the pre-diagnosis for an input. It fails only on a bad
// pricing; bad codes and VINs are reported inside.
func (kb *KB) Build(in Input, p Pricing) (Report, error) {
	if err := p.Check(); err != nil {
		return Report{}, err
	}
	r := Report{Vehicle: in.Vehicle, At: in.At.UTC(), MIL: in.MIL, OdometerKm: in.Latest[SigOdometer], DistanceWithMILKm: in.Latest[SigWithMIL],
		Notice: "A remote pre-diagnosis from the car's own data: it narrows the search, it does not replace a shop's inspection. Prices are typical estimates; a shop's quote is what counts."}
	if in.Vehicle.VIN != "" {
		if v, err := DecodeVIN(in.Vehicle.VIN, in.At); err != nil {
			r.VINError = err.Error()
		} else {
			r.VIN = &v
		}
	}
	// One finding per code, its statuses merged.
	byCode := map[string]*Finding{}
	for _, cs := range in.Codes {
		x, err := kb.Explain(cs.Code, p)
		if err != nil {
			r.Findings = append(r.Findings, fmt.Sprintf("The car reported %q, which is not a well-formed trouble code; it is left out.", cs.Code))
			continue
		}
		f := byCode[x.Code]
		if f == nil {
			f = &Finding{Explanation: x, ECU: cs.ECU}
			byCode[x.Code] = f
			r.Codes = append(r.Codes, *f)
		}
		if !slices.Contains(f.Statuses, cs.Status) {
			f.Statuses = append(f.Statuses, cs.Status)
			slices.SortFunc(f.Statuses, func(a, b string) int { return cmp.Compare(statusRank[a], statusRank[b]) })
		}
	}
	for i := range r.Codes {
		f := byCode[r.Codes[i].Code]
		for _, ff := range in.Freeze {
			if n, err := NormalizeCode(ff.DTC); err == nil && n == f.Code {
				ff := ff
				f.Freeze = &ff
			}
		}
		r.Codes[i] = *f
	}
	// Most severe first; confirmed before pending; then by code.
	slices.SortStableFunc(r.Codes, func(a, b Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		if c := cmp.Compare(statusRank[a.Statuses[0]], statusRank[b.Statuses[0]]); c != 0 {
			return c
		}
		return cmp.Compare(a.Code, b.Code)
	})

	r.Findings = append(r.Findings, kb.addSymptoms(&r, in.Symptoms, p)...)

	r.Findings = append(r.Findings, attachTests(&r, in.Tests)...)
	r.Readiness = readiness(in.Monitors)
	for _, s := range kb.Signals(r.codeList(), r.symptomList()) {
		if h, ok := summarize(s, in.History[s]); ok {
			r.History = append(r.History, h)
		}
	}
	r.Findings = append(r.Findings, weigh(&r, in.History)...)

	r.Safe = "yes"
	seen := map[string]bool{}
	for _, f := range append(slices.Clip(r.Codes), r.Symptoms...) {
		if f.Severity > r.Severity {
			r.Severity = f.Severity
		}
		top := f.Causes[0].Repair
		if !seen[top.ID] {
			seen[top.ID] = true
			r.Price = r.Price.Add(top.Total)
		}
	}
	if r.Severity != 0 {
		r.Safe = r.Severity.SafeToDrive()
	}
	r.Summary = summary(r)
	return r, nil
}

// addSymptoms adds a finding for each symptom, once per symptom (the
// earliest), most severe first; a symptom a code of the same fault
// pattern already explains is only said in the findings; and it says
// what it could not explain.
func (kb *KB) addSymptoms(r *Report, in []Symptom, p Pricing) []string {
	var out []string
	byID := map[string]int{}
	confirmed := map[string]bool{}
	in = slices.Clone(in)
	slices.SortStableFunc(in, func(a, b Symptom) int { return a.Since.Compare(b.Since) }) // the earliest first
	for _, sy := range in {
		x, title, err := kb.ExplainSymptom(sy.ID, p)
		if err != nil {
			out = append(out, fmt.Sprintf("The rule %q names the symptom %q, which Pitwall cannot explain; it is left out.", sy.Rule, sy.ID))
			continue
		}
		f := Finding{Explanation: x, Symptom: sy.ID, Title: title, Rule: sy.Rule, Since: sy.Since.UTC(), Observed: strings.TrimSpace(sy.Observed)}
		if c := slices.IndexFunc(r.Codes, func(c Finding) bool { return c.Profile == x.Profile && active(c) }); c >= 0 {
			// A code of the same fault, stored or pending, says it more
			// precisely: the live data only confirms it.
			if !confirmed[sy.ID] {
				confirmed[sy.ID] = true
				r.Confirmed = append(r.Confirmed, sy.ID)
				out = append(out, fmt.Sprintf("The live data shows %s too: %s since %s (rule %s).", r.Codes[c].Code, lowerFirst(title), f.Since.Format("2 Jan 15:04 MST"), sy.Rule))
			}
			continue
		}
		if i, ok := byID[sy.ID]; ok {
			if f.Since.Before(r.Symptoms[i].Since) {
				r.Symptoms[i] = f
			}
			continue
		}
		byID[sy.ID] = len(r.Symptoms)
		r.Symptoms = append(r.Symptoms, f)
	}
	slices.SortStableFunc(r.Symptoms, func(a, b Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		return a.Since.Compare(b.Since)
	})
	return out
}

// active says whether a code is stored or pending, not only permanent
// (a permanent code stays until its monitor runs again, fixed or not).
func active(f Finding) bool {
	return slices.ContainsFunc(f.Statuses, func(s string) bool { return s != "permanent" })
}

func (r Report) symptomList() []string {
	out := make([]string, len(r.Symptoms))
	for i, f := range r.Symptoms {
		out[i] = f.Symptom
	}
	return out
}

func (r Report) codeList() []string {
	out := make([]string, len(r.Codes))
	for i, f := range r.Codes {
		out[i] = f.Code
	}
	return out
}

func readiness(ms []Monitor) Readiness {
	rd := Readiness{Known: len(ms) > 0, Ready: true, Monitors: ms}
	for _, m := range ms {
		if m.Supported && !m.Complete {
			rd.Ready = false
			rd.Incomplete = append(rd.Incomplete, m.Name)
		}
	}
	rd.Ready = rd.Known && rd.Ready
	return rd
}

func summarize(sig string, xs []Sample) (SignalHistory, bool) {
	if len(xs) == 0 {
		return SignalHistory{}, false
	}
	info := signalInfo[sig]
	h := SignalHistory{Signal: sig, Label: info[0], Unit: info[1], Min: math.Inf(1), Max: math.Inf(-1), From: xs[0].Time.UTC(), To: xs[len(xs)-1].Time.UTC(), Last: round(xs[len(xs)-1].Value)}
	if h.Label == "" {
		h.Label = sig
	}
	var sum float64
	for _, x := range xs {
		h.Min, h.Max = math.Min(h.Min, x.Value), math.Max(h.Max, x.Value)
		sum += x.Value
	}
	h.Min, h.Max, h.Mean = round(h.Min), round(h.Max), round(sum/float64(len(xs)))
	// Thin to MaxPoints buckets, keeping each bucket's extreme so peaks
	// survive.
	n := len(xs)
	buckets := min(n, MaxPoints)
	for b := 0; b < buckets; b++ {
		lo, hi := b*n/buckets, (b+1)*n/buckets
		pick := xs[lo]
		for _, x := range xs[lo:hi] {
			if math.Abs(x.Value-h.Mean) > math.Abs(pick.Value-h.Mean) {
				pick = x
			}
		}
		h.Points = append(h.Points, Sample{Time: pick.Time.UTC(), Value: round(pick.Value)})
	}
	return h, true
}

func round(x float64) float64 { return math.Round(x*100) / 100 }

// summary says the most likely cause of the most serious code and what it
// costs, or why there is nothing to fix.
func summary(r Report) string {
	if len(r.Codes) == 0 && len(r.Symptoms) == 0 {
		if len(r.Findings) > 0 {
			return "No trouble codes. " + r.Findings[0]
		}
		return "No trouble codes: the car reports nothing to fix."
	}
	// The most serious first: a code, or a symptom more serious than every code.
	var f Finding
	switch {
	case len(r.Codes) == 0 || len(r.Symptoms) > 0 && r.Symptoms[0].Severity > r.Codes[0].Severity:
		f = r.Symptoms[0]
	default:
		f = r.Codes[0]
	}
	top := f.Causes[0]
	var b strings.Builder
	if f.Symptom != "" {
		if len(r.Codes) == 0 {
			b.WriteString("No trouble code yet, but the live data shows a fault. ")
		}
		fmt.Fprintf(&b, "%s (%s): %s", f.Title, f.Severity, f.Meaning)
	} else {
		fmt.Fprintf(&b, "%s (%s): %s", f.Code, f.Severity, f.Meaning)
	}
	fmt.Fprintf(&b, " Most likely cause: %s.", lowerFirst(top.Cause))
	if top.Evidence != "" {
		fmt.Fprintf(&b, " Why: %s.", top.Evidence)
	}
	fmt.Fprintf(&b, " Fix: %s, fair price %s.", lowerFirst(top.Repair.Name), top.Repair.Total)
	switch more := len(r.Codes) + len(r.Symptoms) - 1; {
	case more > 0 && len(r.Symptoms) == 0:
		fmt.Fprintf(&b, " %d more code(s) listed below; all the most likely fixes together: %s.", more, r.Price)
	case more > 0:
		fmt.Fprintf(&b, " %d more finding(s) listed below; all the most likely fixes together: %s.", more, r.Price)
	}
	fmt.Fprintf(&b, " Safe to drive: %s.", r.Safe)
	return b.String()
}

// lowerFirst lower-cases a sentence's first letter for use inside
// another, leaving acronyms ("EGR valve") alone.
func lowerFirst(s string) string {
	if len(s) > 1 && (s[1] >= 'a' && s[1] <= 'z' || s[1] == ' ') {
		return strings.ToLower(s[:1]) + s[1:]
	}
	return s
}
