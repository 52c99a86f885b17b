package obd

import (
	"math"
	"sort"
	"strings"
)

// engineECUs are the addresses an engine control module answers on: 7E8 on
// 11-bit CAN, 18DAF110 on 29-bit CAN, source address 10 on the older
// protocols.
var engineECUs = map[ECU]bool{"7E8": true, "18DAF110": true, "10": true}

// CompareECUs orders ECUs the way Pitwall chooses one value per signal
// when several answer the same PID: the engine ECU first, then the others
// by address (shorter addresses first, then in hex order). It returns a
// negative number when a comes first, positive when b does, 0 when equal.
func CompareECUs(a, b ECU) int {
	switch ea, eb := engineECUs[a], engineECUs[b]; {
	case ea && !eb:
		return -1
	case eb && !ea:
		return 1
	case len(a) != len(b):
		return len(a) - len(b)
	}
	return strings.Compare(string(a), string(b))
}

// SecondaryPrefix opens the name a second ECU's value of a signal travels
// under: Vehicle.Speed from the transmission is
// Vehicle.OBD.Secondary.Speed.
const SecondaryPrefix = "Vehicle.OBD.Secondary."

// SecondarySignal is the name of another ECU's value of signal.
func SecondarySignal(signal string) string {
	return SecondaryPrefix + strings.TrimPrefix(signal, "Vehicle.")
}

// PrimarySignal undoes SecondarySignal; ok is false for other names.
func PrimarySignal(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, SecondaryPrefix)
	if !ok || rest == "" {
		return "", false
	}
	return "Vehicle." + rest, true
}

// SignalValue is one signal's value from one read, after choosing among
// the ECUs that reported it.
type SignalValue struct {
	Signal string
	Value  float64
	Unit   string
	ECU    ECU
}

// OneValuePerSignal turns the readings of one read into one value per
// signal. When several ECUs report a signal, the first in CompareECUs
// order gives it its value; the first other ECU whose value differs from
// that meaningfully (by more than one step of the PID's resolution, by
// anything for bit fields and codes) is kept under SecondarySignal; the
// rest, values that only repeat the first, are dropped and counted. The
// result is in PID order, then field order.
func OneValuePerSignal(rs []Reading) (vals []SignalValue, dropped int) {
	sorted := append([]Reading(nil), rs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].PID != sorted[j].PID {
			return sorted[i].PID < sorted[j].PID
		}
		return CompareECUs(sorted[i].ECU, sorted[j].ECU) < 0
	})
	type kept struct {
		first     int  // index in vals of the primary value
		secondary bool // a secondary value is in vals already
	}
	seen := map[string]*kept{}
	for _, r := range sorted {
		info, _ := Lookup(r.PID)
		for _, m := range r.Value.Measurements {
			if m.Signal == "" || math.IsNaN(m.Value) {
				continue
			}
			k := seen[m.Signal]
			if k == nil {
				seen[m.Signal] = &kept{first: len(vals)}
				vals = append(vals, SignalValue{Signal: m.Signal, Value: m.Value, Unit: m.Unit, ECU: r.ECU})
				continue
			}
			if k.secondary || !differs(info, m.Key, vals[k.first].Value, m.Value) {
				dropped++
				continue
			}
			k.secondary = true
			vals = append(vals, SignalValue{Signal: SecondarySignal(m.Signal), Value: m.Value, Unit: m.Unit, ECU: r.ECU})
		}
	}
	return vals, dropped
}

// differs reports whether two values of a field differ by more than the
// field can resolve: more than one step, or at all for bit fields.
func differs(info PIDInfo, key string, a, b float64) bool {
	f, ok := info.field(key)
	if !ok || f.bits > 0 || f.scale == 0 {
		return a != b
	}
	return math.Abs(a-b) > math.Abs(f.scale)*1.000001
}
