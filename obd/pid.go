package obd

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// PID is a service 01 (and 02) parameter identifier.
type PID byte

func (p PID) String() string { return fmt.Sprintf("%02X", byte(p)) }

// MarshalText writes the PID in hex, e.g. "0C".
func (p PID) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// IsBitmap reports whether p is one of the supported-PID bitmaps 00, 20, …
// C0 (and E0).
func (p PID) IsBitmap() bool { return p%0x20 == 0 }

// Measurement is one physical quantity decoded from a PID.
type Measurement struct {
	// Key names the quantity within its PID, e.g. "voltage".
	Key string `json:"key"`
	// Signal is the quantity's VSS path (see PIDInfo.Fields for whether it
	// is a standard VSS signal or one of Pitwall's overlay signals).
	Signal string  `json:"signal"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit,omitempty"`
}

// Value is a decoded PID: its measurements, and for bit-encoded PIDs a
// structured reading in Detail (*MonitorStatus, *FuelSystemStatus, PIDSet,
// Enum, ...). Measurements of sensors the ECU marks unsupported are left out.
type Value struct {
	PID          PID           `json:"pid"`
	Measurements []Measurement `json:"measurements"`
	Detail       any           `json:"detail,omitempty"`
	Raw          []byte        `json:"raw"`
}

// Get returns the measurement with the given key.
func (v Value) Get(key string) (Measurement, bool) {
	for _, m := range v.Measurements {
		if m.Key == key {
			return m, true
		}
	}
	return Measurement{}, false
}

// rescale marks fields whose scale PID 4F can change.
type rescale uint8

const (
	rescaleNone rescale = iota
	rescaleLambda
	rescaleO2Voltage
	rescaleO2Current
	rescaleMAP
)

// FieldInfo describes one quantity inside a PID's data bytes.
type FieldInfo struct {
	Key    string  `json:"key"`
	Signal string  `json:"signal"`
	VSS    bool    `json:"vss"` // Signal is a COVESA VSS path, not a Pitwall overlay name
	Unit   string  `json:"unit,omitempty"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`

	off, size int     // byte offset and width (1, 2 or 4)
	signed    bool    // two's complement
	scale     float64 // value = raw*scale + add
	add       float64
	support   int   // bit of byte A saying the field is valid; -1 for none
	shift     uint8 // bit fields: value = (byte >> shift) & (1<<bits - 1)
	bits      uint8
	rescale   rescale
	absent    int // a raw value meaning "not available"; -1 for none
}

func (f FieldInfo) raw(data []byte) (float64, bool) {
	if f.off+f.size > len(data) {
		return 0, false
	}
	var u uint32
	for _, b := range data[f.off : f.off+f.size] {
		u = u<<8 | uint32(b)
	}
	if f.bits > 0 {
		u = (u >> f.shift) & (1<<f.bits - 1)
	}
	if f.signed {
		switch f.size {
		case 1:
			return float64(int8(u)), true
		case 2:
			return float64(int16(u)), true
		default:
			return float64(int32(u)), true
		}
	}
	return float64(u), true
}

// rangeOf computes the field's limits from its encoding.
func (f *FieldInfo) computeRange() {
	var lo, hi float64
	switch {
	case f.bits > 0:
		lo, hi = 0, float64(uint32(1)<<f.bits-1)
	case f.signed:
		lo, hi = -math.Ldexp(1, 8*f.size-1), math.Ldexp(1, 8*f.size-1)-1
	default:
		lo, hi = 0, math.Ldexp(1, 8*f.size)-1
	}
	a, b := lo*f.scale+f.add, hi*f.scale+f.add
	f.Min, f.Max = round(math.Min(a, b)), round(math.Max(a, b))
}

func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// PIDInfo describes a service 01 PID: what it measures and how to decode it.
type PIDInfo struct {
	PID  PID    `json:"pid"`
	Key  string `json:"key"`  // short name, e.g. "engine_speed"
	Name string `json:"name"` // what it is, in a few words
	// Bytes is the data length after the PID byte; 0 when the layout is not
	// standardised and only raw bytes are reported.
	Bytes int `json:"bytes"`
	// AltBytes lists other lengths the PID has had in some J1979 revisions;
	// such PIDs are never packed with others.
	AltBytes []int       `json:"alt_bytes,omitempty"`
	Fields   []FieldInfo `json:"fields"`
	// Note says what a reader should know: uncertain layouts, dependencies.
	Note   string                `json:"note,omitempty"`
	detail func(data []byte) any // structured reading of bit-encoded PIDs
}

// Packable reports whether p can share a packed request: its answer length
// is fixed and known, so the answer can be split.
func (p PIDInfo) Packable() bool { return p.Bytes > 0 && len(p.AltBytes) == 0 && !p.PID.IsBitmap() }

// Lookup returns the table entry for a PID.
func Lookup(p PID) (PIDInfo, bool) {
	i, ok := pidIndex[p]
	if !ok {
		return PIDInfo{}, false
	}
	return pidTable[i], true
}

// PIDs returns the whole service 01 table in PID order.
func PIDs() []PIDInfo { return append([]PIDInfo(nil), pidTable...) }

// Scaling carries the external-test-equipment configuration of PID 4F,
// which changes the scale of PIDs 0B, 24–2B, 34–3B and 44 on cars that
// report it. The zero value means the standard scales.
type Scaling struct {
	MaxLambda    float64 // 4F byte A
	MaxO2Voltage float64 // 4F byte B, volts
	MaxO2Current float64 // 4F byte C, milliamps
	MaxMAP       float64 // 4F byte D ×10, kPa
}

// ScalingFrom reads PID 4F's data bytes.
func ScalingFrom(data []byte) (Scaling, error) {
	if len(data) < 4 {
		return Scaling{}, malformed("PID 4F", data, "want 4 bytes")
	}
	return Scaling{float64(data[0]), float64(data[1]), float64(data[2]), 10 * float64(data[3])}, nil
}

func (s *Scaling) apply(f FieldInfo, raw, std float64) float64 {
	if s == nil {
		return std
	}
	switch f.rescale {
	case rescaleLambda:
		if s.MaxLambda > 0 {
			return raw * s.MaxLambda / 65535
		}
	case rescaleO2Voltage:
		if s.MaxO2Voltage > 0 {
			return raw * s.MaxO2Voltage / 65535
		}
	case rescaleO2Current:
		if s.MaxO2Current > 0 {
			return (raw - 0x8000) * s.MaxO2Current / 32768
		}
	case rescaleMAP:
		if s.MaxMAP > 0 {
			return raw * s.MaxMAP / 255
		}
	}
	return std
}

// Decode decodes the data bytes of a service 01 or 02 answer for PID p
// (the bytes after the PID, or after the frame number in service 02).
// scaling may be nil. Bytes beyond the PID's length are ignored; fewer are
// an error. PIDs without a standard layout decode to their raw bytes.
func Decode(p PID, data []byte, scaling *Scaling) (Value, error) {
	info, ok := Lookup(p)
	if !ok {
		return Value{PID: p, Raw: clone(data)}, nil
	}
	what := "PID " + p.String()
	n := info.lengthFor(len(data))
	if n < 0 {
		return Value{}, malformed(what, data, "want %d data bytes, got %d", info.Bytes, len(data))
	}
	data = data[:n]
	v := Value{PID: p, Raw: clone(data)}
	if n == 0 {
		return v, nil
	}
	for _, f := range info.Fields {
		if f.support >= 0 && data[0]&(1<<f.support) == 0 {
			continue
		}
		raw, ok := f.raw(data)
		if !ok || f.absent >= 0 && raw == float64(f.absent) {
			continue // a field of the longer layout, or marked not available
		}
		val := raw*f.scale + f.add
		if f.rescale != rescaleNone {
			val = scaling.apply(f, raw, val)
		}
		v.Measurements = append(v.Measurements, Measurement{Key: f.Key, Signal: f.Signal, Value: round(val), Unit: f.Unit})
	}
	if info.detail != nil {
		v.Detail = info.detail(data)
	}
	return v, nil
}

// lengthFor picks which of the PID's layouts an answer of n bytes carries,
// returning the bytes to decode or -1 when n is too short for any.
func (p PIDInfo) lengthFor(n int) int {
	if p.Bytes == 0 {
		return n
	}
	best := -1
	for _, l := range append([]int{p.Bytes}, p.AltBytes...) {
		if l <= n && l > best {
			best = l
		}
	}
	return best
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// PIDSet is a set of PIDs, as the supported-PID bitmaps report them.
type PIDSet [4]uint64

// Add puts p in the set.
func (s *PIDSet) Add(p PID) { s[p/64] |= 1 << (p % 64) }

// Has reports whether p is in the set.
func (s PIDSet) Has(p PID) bool { return s[p/64]&(1<<(p%64)) != 0 }

// Union adds every PID of o.
func (s *PIDSet) Union(o PIDSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

// List returns the PIDs in ascending order.
func (s PIDSet) List() []PID {
	var out []PID
	for p := 0; p < 256; p++ {
		if s.Has(PID(p)) {
			out = append(out, PID(p))
		}
	}
	return out
}

// Len is the number of PIDs in the set.
func (s PIDSet) Len() int { return len(s.List()) }

// MarshalJSON writes the set as a list of hex PIDs.
func (s PIDSet) MarshalJSON() ([]byte, error) {
	l := s.List()
	out := make([]string, len(l))
	for i, p := range l {
		out[i] = p.String()
	}
	return json.Marshal(out)
}

// decodeBitmap reads a supported-PID bitmap: the most significant bit of
// the first byte stands for base+1, the least significant of the last for
// base+0x20.
func decodeBitmap(base PID, data []byte) PIDSet {
	var s PIDSet
	for i := 0; i < 32 && i/8 < len(data); i++ {
		if data[i/8]&(0x80>>(i%8)) != 0 {
			s.Add(base + PID(i+1))
		}
	}
	return s
}

// Enum is a coded value with its meaning, e.g. a fuel type.
type Enum struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

func enumOf(names map[int]string, code int) Enum {
	if n, ok := names[code]; ok {
		return Enum{code, n}
	}
	return Enum{code, "reserved"}
}

// Flags is a set of named conditions that are on.
type Flags []string

func flagsOf(b byte, names [8]string) Flags {
	out := Flags{}
	for i, n := range names {
		if n != "" && b&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (f Flags) String() string { return strings.Join(f, ", ") }

// Encode builds the data bytes of PID p from measurement values by key, the
// inverse of Decode for PIDs whose content is fields (bit-encoded PIDs such
// as 01 and 03 are built by their own encoders). Support bits are set for
// the fields given; values are rounded to the PID's resolution and clamped
// to its range. The simulator answers requests with it.
func Encode(p PID, values map[string]float64) ([]byte, error) {
	info, ok := Lookup(p)
	if !ok || info.Bytes == 0 || len(info.Fields) == 0 {
		return nil, fmt.Errorf("obd: PID %s has no field layout to encode", p)
	}
	need := 0
	for k := range values {
		f, ok := info.field(k)
		if !ok {
			return nil, fmt.Errorf("obd: PID %s has no field %q", p, k)
		}
		need = max(need, f.off+f.size)
	}
	// The shortest of the PID's layouts that holds every field given.
	n := 0
	for _, l := range append([]int{info.Bytes}, info.AltBytes...) {
		if l >= need && (n == 0 || l < n) {
			n = l
		}
	}
	data := make([]byte, n)
	for _, f := range info.Fields {
		v, ok := values[f.Key]
		if !ok || f.off+f.size > n {
			continue
		}
		if f.support >= 0 {
			data[0] |= 1 << f.support
		}
		v = math.Max(f.Min, math.Min(f.Max, v))
		r := math.Round((v - f.add) / f.scale)
		var u uint32
		if f.signed {
			u = uint32(int32(r))
		} else {
			u = uint32(r)
		}
		if f.bits > 0 {
			u = (u & (1<<f.bits - 1)) << f.shift
		}
		for i := f.size - 1; i >= 0; i-- {
			data[f.off+i] |= byte(u)
			u >>= 8
		}
	}
	return data, nil
}

func (p PIDInfo) field(key string) (FieldInfo, bool) {
	for _, f := range p.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return FieldInfo{}, false
}

// FieldScale returns how a field's raw number maps to its value: value =
// raw*scale + offset (before any PID 4F rescaling).
func FieldScale(p PID, key string) (scale, offset float64) {
	info, ok := Lookup(p)
	if !ok {
		return 1, 0
	}
	f, ok := info.field(key)
	if !ok {
		return 1, 0
	}
	return f.scale, f.add
}

// BatteryVoltageSignal names the battery voltage the adapter measures at
// the OBD socket (ELM327 ATRV): not a PID, but read with every scan.
const BatteryVoltageSignal = "Vehicle.LowVoltageBattery.CurrentVoltage"

// Signals lists every signal name Pitwall reads from a car: the PID
// table's fields in PID order, the battery voltage, the service 06 results
// sent as signals (MonitorSignals), then every PID field's secondary name
// (SecondarySignal), for a second ECU's differing value.
func Signals() []string {
	pids := PIDSignals()
	out := append(append(append([]string(nil), pids...), BatteryVoltageSignal), MonitorSignals()...)
	for _, s := range pids {
		out = append(out, SecondarySignal(s))
	}
	return out
}

// PIDSignals lists the PID table's signal names, in PID order, each once.
func PIDSignals() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range pidTable {
		for _, f := range p.Fields {
			if f.Signal != "" && !seen[f.Signal] {
				seen[f.Signal] = true
				out = append(out, f.Signal)
			}
		}
	}
	return out
}
