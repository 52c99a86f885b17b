package obd

import "fmt"

// Monitor is one readiness monitor of PID 01 or 41.
type Monitor struct {
	Name string `json:"name"`
	// Supported: PID 01, the car has this monitor; PID 41, the monitor is
	// enabled for this drive cycle.
	Supported bool `json:"supported"`
	// Complete: the monitor has finished its test (since codes were cleared
	// for PID 01, this drive cycle for PID 41). Meaningless when not
	// supported.
	Complete bool `json:"complete"`
}

// MonitorStatus is PID 01 (since codes were cleared) or PID 41 (this drive
// cycle): the warning lamp, the stored-code count and the readiness
// monitors. PID 41 carries no MIL or count.
type MonitorStatus struct {
	MIL      bool      `json:"mil"`
	DTCCount int       `json:"dtc_count"`
	Ignition string    `json:"ignition"` // "spark" or "compression"
	Monitors []Monitor `json:"monitors"`
}

// Ready reports whether every supported monitor is complete, the check an
// emissions inspection makes.
func (m *MonitorStatus) Ready() bool {
	for _, x := range m.Monitors {
		if x.Supported && !x.Complete {
			return false
		}
	}
	return true
}

// Incomplete lists the supported monitors that have not completed.
func (m *MonitorStatus) Incomplete() []string {
	var out []string
	for _, x := range m.Monitors {
		if x.Supported && !x.Complete {
			out = append(out, x.Name)
		}
	}
	return out
}

var (
	continuousMonitors  = [3]string{"misfire", "fuel_system", "components"}
	sparkMonitors       = [8]string{"catalyst", "heated_catalyst", "evaporative_system", "secondary_air", "ac_refrigerant", "oxygen_sensor", "oxygen_sensor_heater", "egr_vvt"}
	compressionMonitors = [8]string{"nmhc_catalyst", "nox_scr_aftertreatment", "", "boost_pressure", "", "exhaust_gas_sensor", "pm_filter", "egr_vvt"}
)

// DecodeMonitorStatus reads the four bytes of PID 01 or 41.
func DecodeMonitorStatus(data []byte, driveCycle bool) (*MonitorStatus, error) {
	if len(data) < 4 {
		return nil, malformed("monitor status", data, "want 4 bytes")
	}
	a, b, c, d := data[0], data[1], data[2], data[3]
	s := &MonitorStatus{Ignition: "spark"}
	if !driveCycle {
		s.MIL = a&0x80 != 0
		s.DTCCount = int(a & 0x7F)
	}
	for i, n := range continuousMonitors {
		s.Monitors = append(s.Monitors, Monitor{Name: n, Supported: b&(1<<i) != 0, Complete: b&(0x10<<i) == 0})
	}
	names := sparkMonitors
	if b&0x08 != 0 {
		s.Ignition = "compression"
		names = compressionMonitors
	}
	for i, n := range names {
		if n == "" {
			continue
		}
		s.Monitors = append(s.Monitors, Monitor{Name: n, Supported: c&(1<<i) != 0, Complete: d&(1<<i) == 0})
	}
	return s, nil
}

// FuelSystemStatus is PID 03: the fuelling mode of up to two fuel systems.
type FuelSystemStatus struct {
	System1 string `json:"system1"`
	System2 string `json:"system2,omitempty"`
}

var fuelSystemModes = map[byte]string{
	0x00: "off",
	0x01: "open loop: not yet warm enough for closed loop",
	0x02: "closed loop: using the oxygen sensors",
	0x04: "open loop: driving conditions (full load or fuel cut)",
	0x08: "open loop: system fault detected",
	0x10: "closed loop with a faulty oxygen sensor",
	0x20: "open loop: bank 2 not yet warm enough for closed loop",
	0x40: "open loop: bank 2 driving conditions",
	0x80: "open loop: bank 2 system fault",
}

func fuelMode(b byte) string {
	if m, ok := fuelSystemModes[b]; ok {
		return m
	}
	return fmt.Sprintf("undefined (0x%02X)", b)
}

// ClosedLoop reports whether fuel system 1 trims from its oxygen sensors,
// the state in which fuel-trim values mean what rules assume.
func (f FuelSystemStatus) ClosedLoop() bool { return f.System1 == fuelSystemModes[0x02] }

func decodeFuelSystem(d []byte) any {
	s := FuelSystemStatus{System1: fuelMode(d[0])}
	if len(d) > 1 && d[1] != 0 {
		s.System2 = fuelMode(d[1])
	}
	return s
}

// O2 sensor locations of PIDs 13 (two banks of four) and 1D (four banks of
// two); bit 0 is the first sensor of bank 1.
var (
	o2Locations2Banks = [8]string{"B1S1", "B1S2", "B1S3", "B1S4", "B2S1", "B2S2", "B2S3", "B2S4"}
	o2Locations4Banks = [8]string{"B1S1", "B1S2", "B2S1", "B2S2", "B3S1", "B3S2", "B4S1", "B4S2"}
)

var secondaryAirModes = map[int]string{
	0x01: "upstream of the first catalytic converter",
	0x02: "downstream of the first catalytic converter inlet",
	0x04: "from the outside atmosphere, or off",
	0x08: "pump commanded on for diagnosis",
}

var obdStandards = map[int]string{
	1: "OBD-II (CARB)", 2: "OBD (EPA)", 3: "OBD and OBD-II", 4: "OBD-I", 5: "not OBD compliant",
	6: "EOBD (Europe)", 7: "EOBD and OBD-II", 8: "EOBD and OBD", 9: "EOBD, OBD and OBD-II",
	10: "JOBD (Japan)", 11: "JOBD and OBD-II", 12: "JOBD and EOBD", 13: "JOBD, EOBD and OBD-II",
	17: "engine manufacturer diagnostics (EMD)", 18: "engine manufacturer diagnostics enhanced (EMD+)",
	19: "heavy-duty OBD, child/partial (HD OBD-C)", 20: "heavy-duty OBD (HD OBD)",
	21: "world-wide harmonised OBD (WWH OBD)", 23: "heavy-duty Euro OBD stage I without NOx control",
	24: "heavy-duty Euro OBD stage I with NOx control", 25: "heavy-duty Euro OBD stage II without NOx control",
	26: "heavy-duty Euro OBD stage II with NOx control", 28: "Brazil OBD phase 1", 29: "Brazil OBD phase 2",
	30: "Korean OBD (KOBD)", 31: "India OBD I", 32: "India OBD II", 33: "heavy-duty Euro OBD stage VI",
	34: "OBD, OBD-II and HD OBD", 35: "Brazil OBD phase 3",
}

var fuelTypes = map[int]string{
	0: "not available", 1: "gasoline", 2: "methanol", 3: "ethanol", 4: "diesel", 5: "LPG", 6: "CNG",
	7: "propane", 8: "electric", 9: "bi-fuel running gasoline", 10: "bi-fuel running methanol",
	11: "bi-fuel running ethanol", 12: "bi-fuel running LPG", 13: "bi-fuel running CNG",
	14: "bi-fuel running propane", 15: "bi-fuel running electricity",
	16: "bi-fuel running electric and combustion engine", 17: "hybrid gasoline", 18: "hybrid ethanol",
	19: "hybrid diesel", 20: "hybrid electric", 21: "hybrid running electric and combustion engine",
	22: "hybrid regenerative", 23: "bi-fuel running diesel", 24: "bi-fuel natural gas",
	25: "bi-fuel diesel", 26: "natural gas", 27: "dual fuel diesel and CNG", 28: "dual fuel diesel and LNG",
}

var emissionRequirements = map[int]string{
	0x0E: "heavy-duty vehicles, Euro IV (B1)", 0x0F: "heavy-duty vehicles, Euro V (B2)",
	0x10: "heavy-duty vehicles, Euro EEV (C)", 0x11: "heavy-duty vehicles, Euro VI",
}

// AuxIO is PID 65: auxiliary inputs and outputs, each reported only when
// supported.
type AuxIO struct {
	PTOActive       *bool `json:"pto_active,omitempty"`
	AutoInGear      *bool `json:"automatic_in_gear,omitempty"`
	ManualInGear    *bool `json:"manual_in_gear,omitempty"`
	GlowPlugLampOn  *bool `json:"glow_plug_lamp_on,omitempty"`
	RecommendedGear *int  `json:"recommended_gear,omitempty"`
}

func decodeAuxIO(d []byte) any {
	var io AuxIO
	bit := func(i int) *bool {
		if d[0]&(1<<i) == 0 {
			return nil
		}
		v := d[1]&(1<<i) != 0
		return &v
	}
	io.PTOActive, io.AutoInGear, io.ManualInGear, io.GlowPlugLampOn = bit(0), bit(1), bit(2), bit(3)
	if d[0]&0x10 != 0 {
		g := int(d[1] >> 4)
		io.RecommendedGear = &g
	}
	return io
}

// WWHStatus is PID 90 or 91: the WWH-OBD malfunction indicator.
type WWHStatus struct {
	MIStatus      string `json:"mi_status"`
	DisplayMode   string `json:"display_strategy,omitempty"` // PID 90 only
	MonitorsReady *bool  `json:"monitors_complete,omitempty"`
}

var wwhMIModes = map[int]string{0: "off", 1: "on demand", 2: "short", 3: "continuous", 0xE: "error", 0xF: "not available"}

func decodeWWH90(d []byte) any {
	ready := d[0]&0x40 == 0
	disp := map[byte]string{0: "non-discriminatory", 1: "discriminatory", 2: "reserved", 3: "not available"}[d[0]&0x03]
	return WWHStatus{MIStatus: enumOf(wwhMIModes, int(d[0]>>2&0x0F)).Name, DisplayMode: disp, MonitorsReady: &ready}
}

func decodeWWH91(d []byte) any {
	return WWHStatus{MIStatus: enumOf(wwhMIModes, int(d[0]&0x0F)).Name}
}
