package diagnosis

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Pricing turns the knowledge base's typical figures into prices in the
// owner's currency.
type Pricing struct {
	// Currency is an ISO 4217 code, e.g. "EUR".
	Currency string
	// PerBase converts the knowledge base's currency (USD) into Currency:
	// 0.92 for EUR at that rate. 1 when Currency is the base.
	PerBase float64
	// LabourRate is a shop's hourly rate in Currency, low and high ends of
	// the local market.
	LabourRate [2]float64
}

// DefaultPricing prices in US dollars at a typical independent shop's
// labour rate.
func DefaultPricing() Pricing {
	return Pricing{Currency: "USD", PerBase: 1, LabourRate: [2]float64{100, 160}}
}

// Check reports a pricing that cannot work, naming the field.
func (p Pricing) Check() error {
	switch {
	case len(p.Currency) != 3 || strings.ToUpper(p.Currency) != p.Currency:
		return fmt.Errorf("pricing: currency %q: want a three-letter upper-case code like EUR", p.Currency)
	case !(p.PerBase > 0) || p.PerBase > 100000:
		return fmt.Errorf("pricing: per_usd %v: want a positive exchange rate from US dollars", p.PerBase)
	case !(p.LabourRate[0] > 0) || p.LabourRate[1] < p.LabourRate[0]:
		return fmt.Errorf("pricing: labour_rate %v: want [low, high] with 0 < low ≤ high", p.LabourRate)
	}
	return nil
}

// Money is an amount range in a currency, rounded to whole units.
type Money struct {
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	Currency string  `json:"currency"`
}

func (m Money) String() string {
	if m.Currency == "" {
		return "unpriced"
	}
	return fmt.Sprintf("%s %s–%s", m.Currency, group(m.Low), group(m.High))
}

// Add sums two ranges in the same currency.
func (m Money) Add(o Money) Money {
	if m.Currency == "" {
		return o
	}
	return Money{Low: m.Low + o.Low, High: m.High + o.High, Currency: m.Currency}
}

func group(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// roundPrice rounds to a figure a person would quote: to 5 under 100, to
// 10 under 1,000, to 50 above.
func roundPrice(x float64, up bool) float64 {
	step := 5.0
	switch {
	case x >= 1000:
		step = 50
	case x >= 100:
		step = 10
	}
	if up {
		return math.Ceil(x/step) * step
	}
	return math.Floor(x/step) * step
}

// Repair is one repair with its typical labour, parts and price.
type Repair struct {
	ID     string     `json:"id"` // "replace:<part>" or an operation
	Name   string     `json:"name"`
	Hours  [2]float64 `json:"labour_hours"`
	Parts  Money      `json:"parts"`
	Total  Money      `json:"total"`
	System string     `json:"system,omitempty"`
}

// Cause is one likely cause with its repair.
type Cause struct {
	Cause  string `json:"cause"`
	Repair Repair `json:"repair"`
	// Evidence, set in a report, says what in the car's data made this
	// cause more or less likely.
	Evidence string `json:"evidence,omitempty"`
}

// Explanation is what Pitwall knows about one code.
type Explanation struct {
	Code      string `json:"code"`
	Known     bool   `json:"known"` // in the table; otherwise explained from its structure
	Meaning   string `json:"meaning"`
	Structure `json:"structure"`
	Part      string   `json:"part,omitempty"` // the component the code is about
	Severity  Severity `json:"severity"`
	Safe      string   `json:"safe_to_drive"` // yes, with care, no
	Advice    string   `json:"advice"`
	Guidance  string   `json:"guidance"`
	Causes    []Cause  `json:"causes"`
	// Price is the fair range for the most likely repair.
	Price Money `json:"fair_price"`
	// Profile names the fault pattern, for the report's evidence rules.
	Profile string `json:"profile,omitempty"`
}

// Explain looks a code up. A malformed code is an error; a well-formed
// code missing from the table is explained from its structure.
func (kb *KB) Explain(code string, p Pricing) (Explanation, error) {
	c, err := NormalizeCode(code)
	if err != nil {
		return Explanation{}, err
	}
	if err := p.Check(); err != nil {
		return Explanation{}, err
	}
	x := Explanation{Code: c, Structure: structure(c)}
	e := kb.codes[c]
	if e == nil {
		x.Meaning = x.Structure.describe(c)
		x.Severity = Soon
		x.Safe, x.Advice = x.Severity.SafeToDrive(), x.Severity.Advice()
		x.Guidance = "Without the maker's definition Pitwall cannot judge this code; drive normally only if the car behaves normally and no warning light flashes."
		x.Causes = []Cause{{Cause: "A fault the maker's service information describes; a shop's scan tool reads its exact meaning", Repair: kb.repair("inspect", nil, p)}}
		x.Price = x.Causes[0].Repair.Total
		x.Profile = "unknown"
		return x, nil
	}
	x.Known, x.Meaning = true, e.Meaning
	kb.fillPattern(&x, e.Severity, e.Profile, e.Part, p)
	return x, nil
}

// ErrUnknownSymptom is a symptom the knowledge base does not explain.
var ErrUnknownSymptom = errors.New("diagnosis: unknown symptom")

// ExplainSymptom explains a fault seen in the live data as a code is
// explained: its meaning, severity, drive guidance and likely causes.
// The explanation's Code is empty; the symptom's title is returned
// beside it.
func (kb *KB) ExplainSymptom(id string, p Pricing) (Explanation, string, error) {
	e := kb.symptoms[id]
	if e == nil {
		return Explanation{}, "", fmt.Errorf("%w %q: want one of %s", ErrUnknownSymptom, id, strings.Join(kb.SymptomIDs(), ", "))
	}
	if err := p.Check(); err != nil {
		return Explanation{}, "", err
	}
	x := Explanation{Known: true, Meaning: e.Meaning}
	kb.fillPattern(&x, e.Severity, e.Profile, e.Part, p)
	return x, e.Title, nil
}

// fillPattern fills an explanation from a fault pattern: the area, the
// drive guidance and the priced causes, the part named where the
// pattern speaks of it.
func (kb *KB) fillPattern(x *Explanation, sev Severity, prof *profile, part *Part, p Pricing) {
	x.Severity, x.Profile = sev, prof.ID
	name, area := "component", prof.System
	if part != nil {
		x.Part, name = part.Name, part.Name
		if area == "" {
			area = part.System
		}
	}
	if a := areaNames[area]; a != "" {
		x.Subsystem = a
	}
	fill := func(s string) string { return capitalize(strings.ReplaceAll(s, "{part}", name)) }
	x.Safe, x.Advice, x.Guidance = sev.SafeToDrive(), sev.Advice(), fill(prof.Drive)
	for _, ce := range prof.Causes {
		x.Causes = append(x.Causes, Cause{Cause: fill(ce.Cause), Repair: kb.repair(ce.Repair, part, p)})
	}
	x.Price = x.Causes[0].Repair.Total
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// repair prices a repair: "replace" (the code's part), "replace:<id>" or
// an operation.
func (kb *KB) repair(id string, own *Part, p Pricing) Repair {
	var r Repair
	switch {
	case id == "replace" || strings.HasPrefix(id, "replace:"):
		part := own
		if id != "replace" {
			part = kb.parts[strings.TrimPrefix(id, "replace:")]
		}
		r = Repair{ID: "replace:" + part.ID, Name: "Replace the " + part.Name, Hours: part.Hours, System: part.System}
		r.Parts = p.money(part.Parts)
	default:
		o := kb.ops[id]
		r = Repair{ID: id, Name: o.Name, Hours: o.Hours}
		r.Parts = p.money(o.Parts)
	}
	lo := r.Parts.Low + r.Hours[0]*p.LabourRate[0]
	hi := r.Parts.High + r.Hours[1]*p.LabourRate[1]
	r.Total = Money{Low: roundPrice(lo, false), High: roundPrice(hi, true), Currency: p.Currency}
	return r
}

func (p Pricing) money(r [2]float64) Money {
	return Money{Low: roundPrice(r[0]*p.PerBase, false), High: roundPrice(r[1]*p.PerBase, true), Currency: p.Currency}
}

// Text renders an explanation for a terminal.
func (x Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s\n", x.Code, x.Meaning)
	area := x.System
	if x.Subsystem != "" {
		area += ": " + x.Subsystem
	}
	kind := "generic (SAE J2012)"
	if !x.Generic {
		kind = "maker-specific"
	}
	fmt.Fprintf(&b, "  system:        %s, %s\n", area, kind)
	if !x.Known {
		b.WriteString("  (not in Pitwall's table: described from the code's structure)\n")
	}
	fmt.Fprintf(&b, "  severity:      %s. %s\n", x.Severity, x.Advice)
	fmt.Fprintf(&b, "  safe to drive: %s. %s\n", x.Safe, x.Guidance)
	b.WriteString("  likely causes, most likely first:\n")
	for i, c := range x.Causes {
		parts := "parts " + c.Repair.Parts.String()
		if c.Repair.Parts.High == 0 {
			parts = "no parts"
		}
		fmt.Fprintf(&b, "    %d. %s\n       fix: %s (%.1f–%.1f h labour, %s): %s\n", i+1, c.Cause, c.Repair.Name, c.Repair.Hours[0], c.Repair.Hours[1], parts, c.Repair.Total)
		if c.Evidence != "" {
			fmt.Fprintf(&b, "       evidence: %s\n", c.Evidence)
		}
	}
	fmt.Fprintf(&b, "  fair price for the most likely fix: %s\n", x.Price)
	b.WriteString("  Prices are typical estimates for an independent shop; a shop's quote is what counts.\n")
	return b.String()
}
