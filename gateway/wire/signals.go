package wire

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// Signal is a signal's alias and how its values travel: as whole numbers
// of Scale above Offset. For signals read from a PID the scale is the
// PID's resolution, so the number sent is the car's own raw value and
// nothing is lost.
type Signal struct {
	Alias  uint32
	Name   string
	Unit   string
	Scale  float64
	Offset float64
}

// Def is the signal as the birth message announces it.
func (s Signal) Def() *wirepb.SignalDef {
	return &wirepb.SignalDef{Alias: s.Alias, Name: s.Name, Unit: s.Unit, Scale: s.Scale, Offset: s.Offset}
}

// Quantize turns a value into the whole number sent for it.
func (s Signal) Quantize(v float64) int64 { return int64(math.Round((v - s.Offset) / s.Scale)) }

// Value turns a received number back into the value.
func (s Signal) Value(q int64) float64 {
	v := s.Offset + s.Scale*float64(q)
	if math.Abs(v) >= 1e15 {
		return v // beyond a millionth's reach of float64; rounding would overflow
	}
	// Six decimals, as obd.Decode gives them.
	return math.Round(v*1e6) / 1e6
}

// Agent-side signals that do not come from a PID.
const (
	BatteryVoltage = obd.BatteryVoltageSignal
)

// Resolution returns how a named signal travels: the scale and offset of
// the PID field it comes from (a second ECU's value, obd.SecondarySignal,
// travels as the first's), counts for the service 06 misfire counts, or a
// fitting resolution for the agent's own signals. ok is false for names
// Pitwall does not know.
func Resolution(name string) (unit string, scale, offset float64, ok bool) {
	if name == BatteryVoltage {
		return "V", 0.01, 0, true
	}
	if obd.IsMonitorSignal(name) {
		return "count", 1, 0, true
	}
	if primary, ok := obd.PrimarySignal(name); ok {
		name = primary
	}
	for _, p := range obd.PIDs() {
		for _, f := range p.Fields {
			if f.Signal == name {
				sc, off := obd.FieldScale(p.PID, f.Key)
				return f.Unit, sc, off, true
			}
		}
	}
	return "", 0, 0, false
}

// Aliases numbers signals for one boot of an agent.
type Aliases struct {
	byAlias map[uint32]Signal
	byName  map[string]Signal
}

// NewAliases numbers the named signals from 1 in the order given.
func NewAliases(names []string) (*Aliases, error) {
	a := &Aliases{byAlias: map[uint32]Signal{}, byName: map[string]Signal{}}
	for _, n := range names {
		if _, dup := a.byName[n]; dup {
			continue
		}
		unit, scale, off, ok := Resolution(n)
		if !ok {
			return nil, fmt.Errorf("wire: unknown signal %q", n)
		}
		s := Signal{Alias: uint32(len(a.byName) + 1), Name: n, Unit: unit, Scale: scale, Offset: off}
		a.byAlias[s.Alias], a.byName[n] = s, s
	}
	return a, nil
}

// AliasesFromBirth reads the alias table a birth message announces.
func AliasesFromBirth(st *wirepb.Status) (*Aliases, error) {
	a := &Aliases{byAlias: map[uint32]Signal{}, byName: map[string]Signal{}}
	for _, d := range st.GetSignals() {
		if d.GetAlias() == 0 {
			return nil, fmt.Errorf("%w: signal %q: alias 0", ErrPayload, d.GetName())
		}
		if sc := d.GetScale(); sc <= 0 {
			return nil, fmt.Errorf("%w: signal %q: scale %v, want more than 0", ErrPayload, d.GetName(), sc)
		}
		if sc, off := d.GetScale(), d.GetOffset(); !finite(sc) || !finite(off) || !finite(math.Abs(off)+sc*0x1p63) {
			// Every value a sample can carry (a 64-bit integer) must
			// come out finite.
			return nil, fmt.Errorf("%w: %w: signal %q: scale %v and offset %v make values that are not finite", ErrPayload, ErrNonFinite, d.GetName(), sc, off)
		}
		if err := ValidSignalName(d.GetName()); err != nil {
			return nil, err
		}
		if _, dup := a.byAlias[d.GetAlias()]; dup {
			return nil, fmt.Errorf("%w: alias %d announced twice", ErrPayload, d.GetAlias())
		}
		s := Signal{Alias: d.GetAlias(), Name: d.GetName(), Unit: d.GetUnit(), Scale: d.GetScale(), Offset: d.GetOffset()}
		a.byAlias[s.Alias], a.byName[s.Name] = s, s
	}
	return a, nil
}

// MaxSignalNameLen bounds a signal name.
const MaxSignalNameLen = 128

// ValidSignalName checks a signal name as a receiver stores it: a VSS-style
// path of letters, digits and '_' in parts joined by dots.
func ValidSignalName(n string) error {
	if n == "" || len(n) > MaxSignalNameLen {
		return fmt.Errorf("%w: signal name %q: 1 to %d characters", ErrPayload, n, MaxSignalNameLen)
	}
	for i, part := range strings.Split(n, ".") {
		if part == "" {
			return fmt.Errorf("%w: signal name %q has an empty part", ErrPayload, n)
		}
		for j, c := range part {
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !(letter || c >= '0' && c <= '9' && (i > 0 || j > 0) || c == '_') {
				return fmt.Errorf("%w: signal name %q: only letters, digits and '_' between dots", ErrPayload, n)
			}
		}
	}
	return nil
}

// ByName returns a signal by its name.
func (a *Aliases) ByName(n string) (Signal, bool) { s, ok := a.byName[n]; return s, ok }

// ByAlias returns a signal by its alias.
func (a *Aliases) ByAlias(x uint32) (Signal, bool) { s, ok := a.byAlias[x]; return s, ok }

// Defs lists the signals in alias order, for the birth message.
func (a *Aliases) Defs() []*wirepb.SignalDef {
	out := make([]*wirepb.SignalDef, 0, len(a.byAlias))
	for _, s := range a.byAlias {
		out = append(out, s.Def())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Alias < out[j].Alias })
	return out
}

// Sample is one value of one signal at one time.
type Sample struct {
	Signal string
	Time   time.Time
	Value  float64
}

// Batch collects samples into one telemetry message.
type Batch struct {
	samples []batchSample
}

type batchSample struct {
	alias uint32
	t     int64 // Unix ms
	q     int64
}

// Add puts a sample in the batch.
func (b *Batch) Add(s Signal, t time.Time, v float64) {
	b.samples = append(b.samples, batchSample{alias: s.Alias, t: t.UnixMilli(), q: s.Quantize(v)})
}

// Len is the number of samples so far.
func (b *Batch) Len() int { return len(b.samples) }

// Reset empties the batch.
func (b *Batch) Reset() { b.samples = b.samples[:0] }

// Telemetry builds the message, samples in time order.
func (b *Batch) Telemetry(h *wirepb.Header) *wirepb.Telemetry {
	sort.SliceStable(b.samples, func(i, j int) bool { return b.samples[i].t < b.samples[j].t })
	m := &wirepb.Telemetry{Header: h}
	if len(b.samples) == 0 {
		return m
	}
	m.BaseMs = b.samples[0].t
	m.Alias = make([]uint32, len(b.samples))
	m.DtMs = make([]uint32, len(b.samples))
	m.Value = make([]int64, len(b.samples))
	prev := m.BaseMs
	for i, s := range b.samples {
		m.Alias[i], m.DtMs[i], m.Value[i] = s.alias, uint32(s.t-prev), s.q
		prev = s.t
	}
	return m
}

// Samples decodes a telemetry message with the aliases of its boot. An
// alias the table does not know is an error naming it; the samples before
// it are still returned.
func Samples(m *wirepb.Telemetry, a *Aliases) ([]Sample, error) {
	out := make([]Sample, 0, len(m.GetAlias()))
	t := m.GetBaseMs()
	for i, x := range m.GetAlias() {
		t += int64(m.GetDtMs()[i])
		s, ok := a.ByAlias(x)
		if !ok {
			return out, fmt.Errorf("%w: sample %d has alias %d, which the birth message did not announce", ErrPayload, i, x)
		}
		out = append(out, Sample{Signal: s.Name, Time: time.UnixMilli(t).UTC(), Value: s.Value(m.GetValue()[i])})
	}
	return out, nil
}
