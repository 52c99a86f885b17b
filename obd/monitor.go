package obd

import (
	"fmt"
	"math"
	"strconv"
)

// MonitorID is a service 06 on-board monitor identifier (OBDMID): which
// monitor a test result belongs to, numbered as SAE J1979 appendix D
// numbers them. 00, 20, 40, … E0 are supported-MID maps.
type MonitorID byte

func (m MonitorID) String() string { return fmt.Sprintf("%02X", byte(m)) }

// MarshalText writes the MID in hex, e.g. "A3".
func (m MonitorID) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// IsMap reports whether m is one of the supported-MID maps.
func (m MonitorID) IsMap() bool { return m%0x20 == 0 }

// UnmarshalText reads a MID written in hex.
func (m *MonitorID) UnmarshalText(b []byte) error {
	v, err := hexByte(b)
	*m = MonitorID(v)
	return err
}

// TestID names one test of a monitor (TID). 01–0C are J1979's own; 80–FE
// are the manufacturer's.
type TestID byte

func (t TestID) String() string { return fmt.Sprintf("%02X", byte(t)) }

// MarshalText writes the TID in hex.
func (t TestID) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a TID written in hex.
func (t *TestID) UnmarshalText(b []byte) error {
	v, err := hexByte(b)
	*t = TestID(v)
	return err
}

// Standard test IDs.
const (
	TIDRichToLeanThreshold TestID = 0x01
	TIDLeanToRichThreshold TestID = 0x02
	TIDSwitchLowVoltage    TestID = 0x03
	TIDSwitchHighVoltage   TestID = 0x04
	TIDRichToLeanTime      TestID = 0x05
	TIDLeanToRichTime      TestID = 0x06
	TIDMinVoltage          TestID = 0x07
	TIDMaxVoltage          TestID = 0x08
	TIDTransitionTime      TestID = 0x09
	TIDSensorPeriod        TestID = 0x0A
	TIDMisfireAverage      TestID = 0x0B // EWMA of the last ten driving cycles
	TIDMisfireCount        TestID = 0x0C // this (or the last) driving cycle
)

// Monitors Pitwall names in signals and rules.
const (
	MIDO2Bank1Sensor1 MonitorID = 0x01
	MIDO2Bank1Sensor2 MonitorID = 0x02
	MIDCatalystBank1  MonitorID = 0x21
	MIDCatalystBank2  MonitorID = 0x22
	MIDMisfire        MonitorID = 0xA1 // all cylinders
	MIDMisfireCyl1    MonitorID = 0xA2 // A2 + n − 1 for cylinder n, up to AD
)

// MisfireMID is the misfire monitor of cylinder n (1–12).
func MisfireMID(cylinder int) MonitorID { return MIDMisfireCyl1 + MonitorID(cylinder-1) }

// ScalingID is a unit-and-scaling identifier as a test result carries it.
type ScalingID byte

// MarshalText writes the id in hex, e.g. "24".
func (s ScalingID) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%02X", byte(s))), nil }

// UnmarshalText reads an id written in hex.
func (s *ScalingID) UnmarshalText(b []byte) error {
	v, err := hexByte(b)
	*s = ScalingID(v)
	return err
}

// hexByte reads one byte written as one or two hex digits.
func hexByte(b []byte) (byte, error) {
	v, err := strconv.ParseUint(string(b), 16, 8)
	if err != nil || len(b) == 0 || len(b) > 2 {
		return 0, fmt.Errorf("obd: %q is not a byte in hex", b)
	}
	return byte(v), nil
}

// UnitScaling is a J1979 unit-and-scaling identifier (appendix E): how a
// test result's two raw bytes become a value. IDs 01–7F are unsigned,
// 81–FE signed (two's complement).
type UnitScaling struct {
	ID     byte    `json:"id"`
	Signed bool    `json:"signed"`
	Scale  float64 `json:"scale"`
	Offset float64 `json:"offset"`
	Unit   string  `json:"unit"`
}

// unitScalings is appendix E's table: scale per bit, offset, unit.
var unitScalings = func() map[byte]UnitScaling {
	m := map[byte]UnitScaling{}
	add := func(id byte, scale, offset float64, unit string) {
		m[id] = UnitScaling{ID: id, Signed: id >= 0x80, Scale: scale, Offset: offset, Unit: unit}
	}
	// Unsigned.
	add(0x01, 1, 0, "")
	add(0x02, 0.1, 0, "")
	add(0x03, 0.01, 0, "")
	add(0x04, 0.001, 0, "")
	add(0x05, 0.0000305, 0, "")
	add(0x06, 0.000305, 0, "")
	add(0x07, 0.25, 0, "rpm")
	add(0x08, 0.01, 0, "km/h")
	add(0x09, 1, 0, "km/h")
	add(0x0A, 0.000122, 0, "V")
	add(0x0B, 0.001, 0, "V")
	add(0x0C, 0.01, 0, "V")
	add(0x0D, 0.00390625, 0, "mA")
	add(0x0E, 0.001, 0, "A")
	add(0x0F, 0.01, 0, "A")
	add(0x10, 1, 0, "ms")
	add(0x11, 100, 0, "ms")
	add(0x12, 1, 0, "s")
	add(0x13, 1, 0, "mOhm")
	add(0x14, 1, 0, "Ohm")
	add(0x15, 1, 0, "kOhm")
	add(0x16, 0.1, -40, "celsius")
	add(0x17, 0.01, 0, "kPa")
	add(0x18, 0.0117, 0, "kPa")
	add(0x19, 0.079, 0, "kPa")
	add(0x1A, 1, 0, "kPa")
	add(0x1B, 10, 0, "kPa")
	add(0x1C, 0.01, 0, "degrees")
	add(0x1D, 0.5, 0, "degrees")
	add(0x1E, 0.0000305, 0, "ratio")
	add(0x1F, 0.05, 0, "ratio")
	add(0x20, 0.00390625, 0, "ratio")
	add(0x21, 1, 0, "mHz")
	add(0x22, 1, 0, "Hz")
	add(0x23, 1, 0, "kHz")
	add(0x24, 1, 0, "count")
	add(0x25, 1, 0, "km")
	add(0x26, 0.1, 0, "mV/ms")
	add(0x27, 0.01, 0, "g/s")
	add(0x28, 1, 0, "g/s")
	add(0x29, 0.25, 0, "Pa/s")
	add(0x2A, 0.001, 0, "kg/h")
	add(0x2B, 1, 0, "switches")
	add(0x2C, 0.01, 0, "g/cyl")
	add(0x2D, 0.01, 0, "mg/stroke")
	add(0x2E, 1, 0, "true/false")
	add(0x2F, 0.01, 0, "percent")
	add(0x30, 0.001526, 0, "percent")
	add(0x31, 0.001, 0, "l")
	add(0x32, 0.0000305, 0, "in")
	add(0x33, 0.00024414, 0, "ratio")
	add(0x34, 1, 0, "min")
	add(0x35, 10, 0, "ms")
	add(0x36, 0.01, 0, "g")
	add(0x37, 0.1, 0, "g")
	add(0x38, 1, 0, "g")
	add(0x39, 0.01, -327.68, "percent")
	add(0x3A, 0.001, 0, "g")
	add(0x3B, 0.0001, 0, "g")
	add(0x3C, 0.1, 0, "us")
	add(0x3D, 0.01, 0, "mA")
	add(0x3E, 0.00006103516, 0, "mm2")
	add(0x3F, 0.01, 0, "l")
	add(0x40, 1, 0, "ppm")
	add(0x41, 0.01, 0, "uA")
	// Signed.
	add(0x81, 1, 0, "")
	add(0x82, 0.1, 0, "")
	add(0x83, 0.01, 0, "")
	add(0x84, 0.001, 0, "")
	add(0x85, 0.0000305, 0, "")
	add(0x86, 0.000305, 0, "")
	add(0x87, 1, 0, "ppm")
	add(0x8A, 0.000122, 0, "V")
	add(0x8B, 0.001, 0, "V")
	add(0x8C, 0.01, 0, "V")
	add(0x8D, 0.00390625, 0, "mA")
	add(0x8E, 0.001, 0, "A")
	add(0x90, 1, 0, "ms")
	add(0x96, 0.1, 0, "celsius")
	add(0x99, 0.1, 0, "kPa")
	add(0x9C, 0.01, 0, "degrees")
	add(0x9D, 0.5, 0, "degrees")
	add(0xA8, 1, 0, "g/s")
	add(0xA9, 0.25, 0, "Pa/s")
	add(0xAD, 0.01, 0, "mg/stroke")
	add(0xAE, 0.1, 0, "mg/stroke")
	add(0xAF, 0.01, 0, "percent")
	add(0xB0, 0.003052, 0, "percent")
	add(0xB1, 2, 0, "mV/s")
	add(0xFC, 0.01, 0, "kPa")
	add(0xFD, 0.001, 0, "kPa")
	add(0xFE, 0.25, 0, "Pa")
	return m
}()

// LookupUnitScaling returns a unit-and-scaling identifier's definition.
func LookupUnitScaling(id byte) (UnitScaling, bool) {
	u, ok := unitScalings[id]
	return u, ok
}

// value turns two raw bytes into the physical value.
func (u UnitScaling) value(hi, lo byte) float64 {
	raw := float64(uint16(hi)<<8 | uint16(lo))
	if u.Signed {
		raw = float64(int16(uint16(hi)<<8 | uint16(lo)))
	}
	return round(raw*u.Scale + u.Offset)
}

// raw is the inverse of value, rounded and clamped to the two bytes.
func (u UnitScaling) raw(v float64) uint16 {
	r := math.Round((v - u.Offset) / u.Scale)
	if u.Signed {
		return uint16(int16(math.Max(-32768, math.Min(32767, r))))
	}
	return uint16(math.Max(0, math.Min(65535, r)))
}

// monitorNames are the monitors of appendix D, with the path their
// results' signal names take under Vehicle.OBD.Monitor.
func monitorName(m MonitorID) (name, path string) {
	bankSensor := func(first MonitorID) (int, int) { i := int(m - first); return i/4 + 1, i%4 + 1 }
	bank := func(first MonitorID) int { return int(m-first) + 1 }
	switch {
	case m >= 0x01 && m <= 0x10:
		b, s := bankSensor(0x01)
		return fmt.Sprintf("oxygen sensor bank %d sensor %d", b, s), fmt.Sprintf("O2.Bank%d.Sensor%d", b, s)
	case m >= 0x21 && m <= 0x24:
		return fmt.Sprintf("catalyst bank %d", bank(0x21)), fmt.Sprintf("Catalyst.Bank%d", bank(0x21))
	case m >= 0x31 && m <= 0x34:
		return fmt.Sprintf("EGR bank %d", bank(0x31)), fmt.Sprintf("EGR.Bank%d", bank(0x31))
	case m >= 0x35 && m <= 0x38:
		return fmt.Sprintf("variable valve timing bank %d", bank(0x35)), fmt.Sprintf("VVT.Bank%d", bank(0x35))
	case m == 0x39:
		return "EVAP system, cap off or 0.150 inch leak", "EVAP.Leak150"
	case m == 0x3A:
		return "EVAP system, 0.090 inch leak", "EVAP.Leak090"
	case m == 0x3B:
		return "EVAP system, 0.040 inch leak", "EVAP.Leak040"
	case m == 0x3C:
		return "EVAP system, 0.020 inch leak", "EVAP.Leak020"
	case m == 0x3D:
		return "purge flow", "PurgeFlow"
	case m >= 0x41 && m <= 0x50:
		b, s := bankSensor(0x41)
		return fmt.Sprintf("oxygen sensor heater bank %d sensor %d", b, s), fmt.Sprintf("O2Heater.Bank%d.Sensor%d", b, s)
	case m >= 0x61 && m <= 0x64:
		return fmt.Sprintf("heated catalyst bank %d", bank(0x61)), fmt.Sprintf("HeatedCatalyst.Bank%d", bank(0x61))
	case m >= 0x71 && m <= 0x74:
		return fmt.Sprintf("secondary air %d", bank(0x71)), fmt.Sprintf("SecondaryAir.System%d", bank(0x71))
	case m >= 0x81 && m <= 0x84:
		return fmt.Sprintf("fuel system bank %d", bank(0x81)), fmt.Sprintf("FuelSystem.Bank%d", bank(0x81))
	case m >= 0x85 && m <= 0x86:
		return fmt.Sprintf("boost pressure control bank %d", bank(0x85)), fmt.Sprintf("BoostPressure.Bank%d", bank(0x85))
	case m >= 0x90 && m <= 0x91:
		return fmt.Sprintf("NOx adsorber bank %d", bank(0x90)), fmt.Sprintf("NOxAdsorber.Bank%d", bank(0x90))
	case m >= 0x98 && m <= 0x99:
		return fmt.Sprintf("NOx catalyst bank %d", bank(0x98)), fmt.Sprintf("NOxCatalyst.Bank%d", bank(0x98))
	case m == MIDMisfire:
		return "misfire, all cylinders", "Misfire"
	case m >= MIDMisfireCyl1 && m <= 0xAD:
		return fmt.Sprintf("misfire cylinder %d", int(m-MIDMisfireCyl1)+1), fmt.Sprintf("Misfire.Cylinder%d", int(m-MIDMisfireCyl1)+1)
	case m >= 0xB0 && m <= 0xB1:
		return fmt.Sprintf("particulate filter bank %d", bank(0xB0)), fmt.Sprintf("PMFilter.Bank%d", bank(0xB0))
	case m >= 0xE1:
		return "manufacturer monitor " + m.String(), "Manufacturer.MID" + m.String()
	}
	return "reserved monitor " + m.String(), "MID" + m.String()
}

// testNames are the standard tests: what each is and the last part of its
// signal name.
var testNames = map[TestID][2]string{
	TIDRichToLeanThreshold: {"rich to lean threshold voltage", "RichToLeanThreshold"},
	TIDLeanToRichThreshold: {"lean to rich threshold voltage", "LeanToRichThreshold"},
	TIDSwitchLowVoltage:    {"low voltage for switch time", "SwitchLowVoltage"},
	TIDSwitchHighVoltage:   {"high voltage for switch time", "SwitchHighVoltage"},
	TIDRichToLeanTime:      {"rich to lean switch time", "RichToLeanTime"},
	TIDLeanToRichTime:      {"lean to rich switch time", "LeanToRichTime"},
	TIDMinVoltage:          {"lowest voltage in the test", "MinVoltage"},
	TIDMaxVoltage:          {"highest voltage in the test", "MaxVoltage"},
	TIDTransitionTime:      {"time between transitions", "TransitionTime"},
	TIDSensorPeriod:        {"sensor period", "Period"},
	TIDMisfireAverage:      {"misfire count, average of the last 10 driving cycles", "AverageCount"},
	TIDMisfireCount:        {"misfire count, this or the last driving cycle", "Count"},
}

// testName names a test of a monitor. The O2 sensor tests 01–0A mean what
// they say only on O2 monitors, the misfire counts 0B–0C only on misfire
// monitors; elsewhere, and for the manufacturer's tests, the TID is the
// name.
func testName(m MonitorID, t TestID) (name, leaf string) {
	o2 := m >= 0x01 && m <= 0x10
	misfire := m >= MIDMisfire && m <= 0xAD
	if n, ok := testNames[t]; ok && (o2 && t <= TIDSensorPeriod || misfire && t >= TIDMisfireAverage) {
		return n[0], n[1]
	}
	if t >= 0x80 {
		return "manufacturer test " + t.String(), "Test" + t.String()
	}
	return "test " + t.String(), "Test" + t.String()
}

// MonitorSignal is the signal name of a monitor's test result:
// Vehicle.OBD.Monitor.<monitor path>.<test>.
func MonitorSignal(m MonitorID, t TestID) string {
	_, path := monitorName(m)
	_, leaf := testName(m, t)
	return "Vehicle.OBD.Monitor." + path + "." + leaf
}

// TestResult is one service 06 test result, decoded.
type TestResult struct {
	ECU         ECU       `json:"ecu"`
	MID         MonitorID `json:"mid"`
	TID         TestID    `json:"tid"`
	UnitScaling ScalingID `json:"unit_scaling_id"`
	Monitor     string    `json:"monitor"` // e.g. "misfire cylinder 2"
	Test        string    `json:"test"`    // e.g. "misfire count, this or the last driving cycle"
	Signal      string    `json:"signal"`  // VSS-style name, see MonitorSignal
	Value       float64   `json:"value"`
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
	Unit        string    `json:"unit"`
	// Passed: the value lies within its limits, min ≤ value ≤ max, which
	// is how J1979 defines a pass on CAN.
	Passed bool `json:"passed"`
	// Note says what a reader should know, e.g. an unknown scaling id.
	Note string `json:"note,omitempty"`
}

// testRecordSize is one result on CAN: MID, TID, unit-and-scaling id,
// then the test value, its minimum and maximum, two bytes each.
const testRecordSize = 9

// DecodeTestResults reads an ECU's answer to a service 06 request for one
// monitor on CAN: 46, then one record of nine bytes per test (MID, TID,
// unit-and-scaling id, value, minimum, maximum, each two bytes high first).
// A length that is not whole records, a supported-MID map where a result
// should be, or a record of another monitor than the first, is malformed.
// An unknown unit-and-scaling id decodes as a raw number with a note.
func DecodeTestResults(ecu ECU, msg []byte) ([]TestResult, error) {
	const what = "service 06 answer"
	if len(msg) < 1+testRecordSize || msg[0] != ServiceTestResults.Reply() {
		return nil, malformed(what, msg, "want 46 and at least one nine-byte test record")
	}
	body := msg[1:]
	if len(body)%testRecordSize != 0 {
		return nil, malformed(what, msg, "%d bytes after 46 are not whole nine-byte test records", len(body))
	}
	out := make([]TestResult, 0, len(body)/testRecordSize)
	for i := 0; i < len(body); i += testRecordSize {
		r := body[i : i+testRecordSize]
		m, t := MonitorID(r[0]), TestID(r[1])
		if m.IsMap() {
			return nil, malformed(what, msg, "record %d names supported-MID map %s, not a monitor", i/testRecordSize+1, m)
		}
		if m != MonitorID(body[0]) {
			return nil, malformed(what, msg, "record %d is of monitor %s, the answer opened with %s", i/testRecordSize+1, m, MonitorID(body[0]))
		}
		u, known := LookupUnitScaling(r[2])
		note := ""
		if !known {
			u = UnitScaling{ID: r[2], Scale: 1}
			note = fmt.Sprintf("unit and scaling id %02X is not in J1979: the raw number is shown", r[2])
		}
		res := TestResult{ECU: ecu, MID: m, TID: t, UnitScaling: ScalingID(r[2]), Signal: MonitorSignal(m, t), Unit: u.Unit, Note: note,
			Value: u.value(r[3], r[4]), Min: u.value(r[5], r[6]), Max: u.value(r[7], r[8])}
		res.Monitor, _ = monitorName(m)
		res.Test, _ = testName(m, t)
		res.Passed = res.Min <= res.Value && res.Value <= res.Max
		out = append(out, res)
	}
	return out, nil
}

// TestRecord is one test result to encode: the simulator's ECUs answer
// service 06 with them.
type TestRecord struct {
	MID         MonitorID
	TID         TestID
	UnitScaling byte
	Value       float64
	Min, Max    float64
}

// EncodeTestResults builds an ECU's CAN answer to service 06 from its
// records: 46 and nine bytes a record, values rounded to the scaling's
// resolution and clamped to its range. An unknown unit-and-scaling id is
// an error.
func EncodeTestResults(recs []TestRecord) ([]byte, error) {
	msg := []byte{ServiceTestResults.Reply()}
	for _, r := range recs {
		u, ok := LookupUnitScaling(r.UnitScaling)
		if !ok {
			return nil, fmt.Errorf("obd: unit and scaling id %02X is not in J1979", r.UnitScaling)
		}
		msg = append(msg, byte(r.MID), byte(r.TID), r.UnitScaling)
		for _, v := range []float64{r.Value, r.Min, r.Max} {
			x := u.raw(v)
			msg = append(msg, byte(x>>8), byte(x))
		}
	}
	return msg, nil
}

// MonitorSignals lists the service 06 results Pitwall sends as telemetry
// signals: the misfire counts of all cylinders together and of cylinders
// 1 to 12, each this driving cycle's count and the average of the last
// ten, in counts.
func MonitorSignals() []string {
	var out []string
	for m := MIDMisfire; m <= 0xAD; m++ {
		out = append(out, MonitorSignal(m, TIDMisfireCount), MonitorSignal(m, TIDMisfireAverage))
	}
	return out
}

// IsMonitorSignal reports whether name is one of MonitorSignals.
func IsMonitorSignal(name string) bool {
	return monitorSignalSet[name]
}

var monitorSignalSet = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range MonitorSignals() {
		m[s] = true
	}
	return m
}()
