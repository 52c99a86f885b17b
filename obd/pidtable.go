package obd

import "fmt"

// Scales used throughout J1979.
const (
	pct    = 100.0 / 255 // 0–255 → 0–100 %
	trim   = 100.0 / 128 // with add −100: 0–255 → −100…+99.2 %
	lambda = 2.0 / 65536 // equivalence ratio
)

func field(off, size int, key, signal, unit string, scale, add float64) FieldInfo {
	return FieldInfo{Key: key, Signal: signal, Unit: unit, off: off, size: size, scale: scale, add: add, support: -1, absent: -1}
}

func u8(off int, key, signal, unit string, scale, add float64) FieldInfo {
	return field(off, 1, key, signal, unit, scale, add)
}

func u16(off int, key, signal, unit string, scale, add float64) FieldInfo {
	return field(off, 2, key, signal, unit, scale, add)
}

func s16(off int, key, signal, unit string, scale, add float64) FieldInfo {
	f := field(off, 2, key, signal, unit, scale, add)
	f.signed = true
	return f
}

func u32(off int, key, signal, unit string, scale, add float64) FieldInfo {
	return field(off, 4, key, signal, unit, scale, add)
}

// bitsOf is a bit field of one byte: value = (byte >> shift) & (2^bits − 1).
func bitsOf(off int, shift, bits uint8, key, signal string) FieldInfo {
	f := field(off, 1, key, signal, "", 1, 0)
	f.shift, f.bits = shift, bits
	return f
}

// std marks the signal as a standard COVESA VSS path.
func (f FieldInfo) std() FieldInfo { f.VSS = true; return f }

// sup makes the field depend on bit n of byte A.
func (f FieldInfo) sup(n int) FieldInfo { f.support = n; return f }

func (f FieldInfo) rs(r rescale) FieldInfo { f.rescale = r; return f }

// Pitwall's overlay signals live beside VSS's own OBD branch.
const ovl = "Vehicle.OBD."

func pid(p PID, key, name string, bytes int, fields ...FieldInfo) PIDInfo {
	return PIDInfo{PID: p, Key: key, Name: name, Bytes: bytes, Fields: fields}
}

func (p PIDInfo) alt(n ...int) PIDInfo            { p.AltBytes = n; return p }
func (p PIDInfo) note(s string) PIDInfo           { p.Note = s; return p }
func (p PIDInfo) with(d func([]byte) any) PIDInfo { p.detail = d; return p }
func raw(p PID, key, name, note string) PIDInfo {
	return PIDInfo{PID: p, Key: key, Name: name, Note: note}
}
func reserved(p PID) PIDInfo {
	return raw(p, fmt.Sprintf("pid_%02x", byte(p)), "reserved", "not defined by J1979; raw bytes are reported")
}
func enumDetail(names map[int]string) func([]byte) any {
	return func(d []byte) any { return enumOf(names, int(d[0])) }
}

func bitmap(p PID) PIDInfo {
	return pid(p, fmt.Sprintf("supported_%02x_%02x", byte(p)+1, byte(p)+0x20),
		fmt.Sprintf("PIDs supported %02X–%02X", byte(p)+1, byte(p)+0x20), 4).
		with(func(d []byte) any { return decodeBitmap(p, d) })
}

// temps builds n one-byte temperature sensors (A−40 °C) gated by support
// bits 0…n−1, data from byte 1.
func temps(prefix string, keys ...string) []FieldInfo {
	out := make([]FieldInfo, len(keys))
	for i, k := range keys {
		out[i] = u8(1+i, k, prefix+k2s(k), "celsius", 1, -40).sup(i)
	}
	return out
}

// k2s turns a snake_case key into the CamelCase of a VSS leaf.
func k2s(k string) string {
	out := make([]byte, 0, len(k))
	up := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return string(out)
}

// o2Narrow is PIDs 14–1B: a narrow-band sensor's voltage and the short
// term trim it drives (B = FF: the sensor is not used for trim).
func o2Narrow(p PID, n int) PIDInfo {
	base := fmt.Sprintf("Vehicle.OBD.O2.Sensor%d.", n)
	t := u8(1, "short_term_fuel_trim", base+"ShortTermFuelTrim", "percent", trim, -100).std()
	t.absent = 0xFF
	return pid(p, fmt.Sprintf("o2_sensor_%d", n), fmt.Sprintf("Oxygen sensor %d: voltage and short term fuel trim", n), 2,
		u8(0, "voltage", base+"Voltage", "V", 1.0/200, 0).std(), t).
		note("which bank and position sensor n sits at depends on whether the car reports PID 13 or 1D; a trim byte of FF means the sensor does not trim")
}

func o2Wide(p PID, n int, current bool) PIDInfo {
	base := fmt.Sprintf("Vehicle.OBD.O2WR.Sensor%d.", n)
	l := u16(0, "lambda", base+"Lambda", "ratio", lambda, 0).std().rs(rescaleLambda)
	if current {
		return pid(p, fmt.Sprintf("o2_wide_%d_current", n), fmt.Sprintf("Wide-range oxygen sensor %d: equivalence ratio and current", n), 4,
			l, u16(2, "current", base+"Current", "A", 1.0/256000, -0.128).std().rs(rescaleO2Current))
	}
	return pid(p, fmt.Sprintf("o2_wide_%d_voltage", n), fmt.Sprintf("Wide-range oxygen sensor %d: equivalence ratio and voltage", n), 4,
		l, u16(2, "voltage", base+"Voltage", "V", 8.0/65536, 0).std().rs(rescaleO2Voltage))
}

func percentPID(p PID, key, name, signal string, vss bool) PIDInfo {
	f := u8(0, key, signal, "percent", pct, 0)
	f.VSS = vss
	return pid(p, key, name, 1, f)
}

func egt(p PID, bank, first int) PIDInfo {
	var fs []FieldInfo
	for i := 0; i < 4; i++ {
		k := fmt.Sprintf("sensor_%d", first+i)
		fs = append(fs, u16(1+2*i, k, fmt.Sprintf("%sExhaustGasTemperature.Bank%d.Sensor%d", ovl, bank, first+i), "celsius", 0.1, -40).sup(i))
	}
	return pid(p, fmt.Sprintf("exhaust_gas_temp_bank%d_%d_%d", bank, first, first+3),
		fmt.Sprintf("Exhaust gas temperature bank %d, sensors %d–%d", bank, first, first+3), 9, fs...)
}

func aecd(p PID, first int) PIDInfo {
	var fs []FieldInfo
	for i := 0; i < 5; i++ {
		n := first + i
		fs = append(fs,
			u32(1+8*i, fmt.Sprintf("aecd_%d_timer_1", n), fmt.Sprintf("%sAECD%d.Timer1", ovl, n), "s", 1, 0).sup(i),
			u32(5+8*i, fmt.Sprintf("aecd_%d_timer_2", n), fmt.Sprintf("%sAECD%d.Timer2", ovl, n), "s", 1, 0).sup(i))
	}
	return pid(p, fmt.Sprintf("aecd_run_time_%d_%d", first, first+4),
		fmt.Sprintf("Engine run time for emission control devices (AECD) #%d–#%d", first, first+4), 41, fs...)
}

func noxSensors(p PID, key, name, leaf string) PIDInfo {
	locs := []string{"bank1_sensor1", "bank1_sensor2", "bank2_sensor1", "bank2_sensor2"}
	var fs []FieldInfo
	for i, l := range locs {
		fs = append(fs, u16(1+2*i, l, ovl+leaf+"."+k2s(l), "ppm", 1, 0).sup(i))
	}
	return pid(p, key, name, 9, fs...)
}

func wideO2(p PID, sensors ...string) PIDInfo {
	var fs []FieldInfo
	for i, s := range sensors {
		fs = append(fs, u16(1+2*i, "o2_"+s, ovl+"O2Concentration."+k2s(s), "percent", 100.0/65535, 0).sup(i))
	}
	for i, s := range sensors {
		fs = append(fs, u16(9+2*i, "lambda_"+s, ovl+"O2Lambda."+k2s(s), "ratio", 1.0/8192, 0).sup(4+i))
	}
	return pid(p, fmt.Sprintf("o2_wide_range_%02x", byte(p)), "Wide-range oxygen sensors "+fmt.Sprint(sensors), 17, fs...)
}

var pidTable = []PIDInfo{
	bitmap(0x00),
	pid(0x01, "monitor_status", "Monitor status since trouble codes were cleared", 4,
		bitsOf(0, 7, 1, "mil", "Vehicle.OBD.Status.IsMILOn").std(),
		bitsOf(0, 0, 7, "dtc_count", "Vehicle.Diagnostics.DTCCount").std()).
		with(func(d []byte) any { s, _ := DecodeMonitorStatus(d, false); return s }),
	pid(0x02, "freeze_frame_dtc", "Trouble code that stored the freeze frame", 2).
		with(func(d []byte) any { return DTC(uint16(d[0])<<8 | uint16(d[1])) }).
		note("meaningful in service 02; 0000 means no freeze frame is stored"),
	pid(0x03, "fuel_system_status", "Fuel system status", 2,
		u8(0, "system1", ovl+"FuelSystem1Status", "", 1, 0), u8(1, "system2", ovl+"FuelSystem2Status", "", 1, 0)).
		with(decodeFuelSystem),
	percentPID(0x04, "engine_load", "Calculated engine load", "Vehicle.OBD.EngineLoad", true),
	pid(0x05, "coolant_temp", "Engine coolant temperature", 1,
		u8(0, "coolant_temp", "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", "celsius", 1, -40).std()),
	pid(0x06, "short_term_fuel_trim_bank1", "Short term fuel trim, bank 1 (and 3)", 1,
		u8(0, "bank1", "Vehicle.OBD.ShortTermFuelTrim1", "percent", trim, -100).std(),
		u8(1, "bank3", ovl+"ShortTermFuelTrim3", "percent", trim, -100)).alt(2),
	pid(0x07, "long_term_fuel_trim_bank1", "Long term fuel trim, bank 1 (and 3)", 1,
		u8(0, "bank1", "Vehicle.OBD.LongTermFuelTrim1", "percent", trim, -100).std(),
		u8(1, "bank3", ovl+"LongTermFuelTrim3", "percent", trim, -100)).alt(2),
	pid(0x08, "short_term_fuel_trim_bank2", "Short term fuel trim, bank 2 (and 4)", 1,
		u8(0, "bank2", "Vehicle.OBD.ShortTermFuelTrim2", "percent", trim, -100).std(),
		u8(1, "bank4", ovl+"ShortTermFuelTrim4", "percent", trim, -100)).alt(2),
	pid(0x09, "long_term_fuel_trim_bank2", "Long term fuel trim, bank 2 (and 4)", 1,
		u8(0, "bank2", "Vehicle.OBD.LongTermFuelTrim2", "percent", trim, -100).std(),
		u8(1, "bank4", ovl+"LongTermFuelTrim4", "percent", trim, -100)).alt(2),
	pid(0x0A, "fuel_pressure", "Fuel pressure (gauge)", 1, u8(0, "fuel_pressure", "Vehicle.OBD.FuelPressure", "kPa", 3, 0).std()),
	pid(0x0B, "intake_manifold_pressure", "Intake manifold absolute pressure", 1,
		u8(0, "intake_manifold_pressure", "Vehicle.Powertrain.CombustionEngine.MAP", "kPa", 1, 0).std().rs(rescaleMAP)),
	pid(0x0C, "engine_speed", "Engine speed", 2, u16(0, "engine_speed", "Vehicle.Powertrain.CombustionEngine.Speed", "rpm", 0.25, 0).std()),
	pid(0x0D, "vehicle_speed", "Vehicle speed", 1, u8(0, "vehicle_speed", "Vehicle.Speed", "km/h", 1, 0).std()),
	pid(0x0E, "timing_advance", "Ignition timing advance, cylinder 1", 1, u8(0, "timing_advance", "Vehicle.OBD.TimingAdvance", "degrees", 0.5, -64).std()),
	pid(0x0F, "intake_air_temp", "Intake air temperature", 1, u8(0, "intake_air_temp", "Vehicle.OBD.IntakeTemp", "celsius", 1, -40).std()),
	pid(0x10, "maf", "Mass air flow rate", 2, u16(0, "maf", "Vehicle.Powertrain.CombustionEngine.MAF", "g/s", 0.01, 0).std()),
	percentPID(0x11, "throttle_position", "Absolute throttle position", "Vehicle.Powertrain.CombustionEngine.TPS", true),
	pid(0x12, "secondary_air_status", "Commanded secondary air status", 1).with(enumDetail(secondaryAirModes)),
	pid(0x13, "o2_sensors_present_2banks", "Oxygen sensors present (two banks of four)", 1,
		u8(0, "mask", "Vehicle.OBD.OxygenSensorsIn2Banks", "", 1, 0).std()).
		with(func(d []byte) any { return flagsOf(d[0], o2Locations2Banks) }),
	o2Narrow(0x14, 1), o2Narrow(0x15, 2), o2Narrow(0x16, 3), o2Narrow(0x17, 4),
	o2Narrow(0x18, 5), o2Narrow(0x19, 6), o2Narrow(0x1A, 7), o2Narrow(0x1B, 8),
	pid(0x1C, "obd_standard", "OBD standards the vehicle is certified to", 1,
		u8(0, "obd_standard", "Vehicle.OBD.OBDStandards", "", 1, 0).std()).with(enumDetail(obdStandards)),
	pid(0x1D, "o2_sensors_present_4banks", "Oxygen sensors present (four banks of two)", 1,
		u8(0, "mask", "Vehicle.OBD.OxygenSensorsIn4Banks", "", 1, 0).std()).
		with(func(d []byte) any { return flagsOf(d[0], o2Locations4Banks) }),
	pid(0x1E, "aux_input_status", "Auxiliary input status (power take-off)", 1,
		bitsOf(0, 0, 1, "pto_active", "Vehicle.OBD.IsPTOActive").std()),
	pid(0x1F, "run_time", "Run time since engine start", 2, u16(0, "run_time", "Vehicle.OBD.RunTime", "s", 1, 0).std()),

	bitmap(0x20),
	pid(0x21, "distance_with_mil", "Distance travelled with the MIL on", 2, u16(0, "distance_with_mil", "Vehicle.OBD.DistanceWithMIL", "km", 1, 0).std()),
	pid(0x22, "fuel_rail_pressure_vac", "Fuel rail pressure, relative to manifold vacuum", 2,
		u16(0, "fuel_rail_pressure_vac", "Vehicle.OBD.FuelRailPressureVac", "kPa", 0.079, 0).std()),
	pid(0x23, "fuel_rail_pressure_direct", "Fuel rail gauge pressure (diesel or direct injection)", 2,
		u16(0, "fuel_rail_pressure_direct", "Vehicle.OBD.FuelRailPressureDirect", "kPa", 10, 0).std()),
	o2Wide(0x24, 1, false), o2Wide(0x25, 2, false), o2Wide(0x26, 3, false), o2Wide(0x27, 4, false),
	o2Wide(0x28, 5, false), o2Wide(0x29, 6, false), o2Wide(0x2A, 7, false), o2Wide(0x2B, 8, false),
	percentPID(0x2C, "commanded_egr", "Commanded EGR", "Vehicle.OBD.CommandedEGR", true),
	pid(0x2D, "egr_error", "EGR error", 1, u8(0, "egr_error", "Vehicle.OBD.EGRError", "percent", trim, -100).std()),
	percentPID(0x2E, "commanded_evap_purge", "Commanded evaporative purge", "Vehicle.OBD.CommandedEVAP", true),
	percentPID(0x2F, "fuel_level", "Fuel tank level input", "Vehicle.Powertrain.FuelSystem.RelativeLevel", true),
	pid(0x30, "warmups_since_clear", "Warm-ups since codes were cleared", 1, u8(0, "warmups_since_clear", "Vehicle.OBD.WarmupsSinceDTCClear", "", 1, 0).std()),
	pid(0x31, "distance_since_clear", "Distance travelled since codes were cleared", 2,
		u16(0, "distance_since_clear", "Vehicle.OBD.DistanceSinceDTCClear", "km", 1, 0).std()),
	pid(0x32, "evap_vapor_pressure", "Evaporative system vapour pressure", 2,
		s16(0, "evap_vapor_pressure", "Vehicle.OBD.EVAPVaporPressure", "Pa", 0.25, 0).std()),
	pid(0x33, "barometric_pressure", "Absolute barometric pressure", 1, u8(0, "barometric_pressure", "Vehicle.OBD.BarometricPressure", "kPa", 1, 0).std()),
	o2Wide(0x34, 1, true), o2Wide(0x35, 2, true), o2Wide(0x36, 3, true), o2Wide(0x37, 4, true),
	o2Wide(0x38, 5, true), o2Wide(0x39, 6, true), o2Wide(0x3A, 7, true), o2Wide(0x3B, 8, true),
	pid(0x3C, "catalyst_temp_b1s1", "Catalyst temperature, bank 1 sensor 1", 2, u16(0, "catalyst_temp_b1s1", "Vehicle.OBD.Catalyst.Bank1.Temperature1", "celsius", 0.1, -40).std()),
	pid(0x3D, "catalyst_temp_b2s1", "Catalyst temperature, bank 2 sensor 1", 2, u16(0, "catalyst_temp_b2s1", "Vehicle.OBD.Catalyst.Bank2.Temperature1", "celsius", 0.1, -40).std()),
	pid(0x3E, "catalyst_temp_b1s2", "Catalyst temperature, bank 1 sensor 2", 2, u16(0, "catalyst_temp_b1s2", "Vehicle.OBD.Catalyst.Bank1.Temperature2", "celsius", 0.1, -40).std()),
	pid(0x3F, "catalyst_temp_b2s2", "Catalyst temperature, bank 2 sensor 2", 2, u16(0, "catalyst_temp_b2s2", "Vehicle.OBD.Catalyst.Bank2.Temperature2", "celsius", 0.1, -40).std()),

	bitmap(0x40),
	pid(0x41, "monitor_status_drive_cycle", "Monitor status this drive cycle", 4).
		with(func(d []byte) any { s, _ := DecodeMonitorStatus(d, true); return s }),
	pid(0x42, "control_module_voltage", "Control module voltage", 2, u16(0, "control_module_voltage", "Vehicle.OBD.ControlModuleVoltage", "V", 0.001, 0).std()),
	pid(0x43, "absolute_load", "Absolute load value", 2, u16(0, "absolute_load", "Vehicle.OBD.AbsoluteLoad", "percent", pct, 0).std()),
	pid(0x44, "commanded_equivalence_ratio", "Commanded air-fuel equivalence ratio (lambda)", 2,
		u16(0, "commanded_equivalence_ratio", "Vehicle.OBD.CommandedEquivalenceRatio", "ratio", lambda, 0).std().rs(rescaleLambda)),
	percentPID(0x45, "relative_throttle_position", "Relative throttle position", "Vehicle.OBD.RelativeThrottlePosition", true),
	pid(0x46, "ambient_air_temp", "Ambient air temperature", 1, u8(0, "ambient_air_temp", "Vehicle.Exterior.AirTemperature", "celsius", 1, -40).std()),
	percentPID(0x47, "throttle_position_b", "Absolute throttle position B", "Vehicle.OBD.ThrottlePositionB", true),
	percentPID(0x48, "throttle_position_c", "Absolute throttle position C", "Vehicle.OBD.ThrottlePositionC", true),
	percentPID(0x49, "accelerator_position_d", "Accelerator pedal position D", "Vehicle.OBD.AcceleratorPositionD", true),
	percentPID(0x4A, "accelerator_position_e", "Accelerator pedal position E", "Vehicle.OBD.AcceleratorPositionE", true),
	percentPID(0x4B, "accelerator_position_f", "Accelerator pedal position F", "Vehicle.OBD.AcceleratorPositionF", true),
	percentPID(0x4C, "commanded_throttle_actuator", "Commanded throttle actuator", "Vehicle.OBD.ThrottleActuator", true),
	pid(0x4D, "run_time_with_mil", "Time run with the MIL on", 2, u16(0, "run_time_with_mil", "Vehicle.OBD.RunTimeMIL", "min", 1, 0).std()),
	pid(0x4E, "time_since_clear", "Time since trouble codes were cleared", 2, u16(0, "time_since_clear", "Vehicle.OBD.TimeSinceDTCCleared", "min", 1, 0).std()),
	pid(0x4F, "max_values", "Maximum values for equivalence ratio, O2 voltage, O2 current and manifold pressure", 4,
		u8(0, "max_equivalence_ratio", ovl+"MaxEquivalenceRatio", "ratio", 1, 0),
		u8(1, "max_o2_voltage", ovl+"MaxO2Voltage", "V", 1, 0),
		u8(2, "max_o2_current", ovl+"MaxO2Current", "mA", 1, 0),
		u8(3, "max_intake_manifold_pressure", ovl+"MaxMAP", "kPa", 10, 0)).
		note("when present, rescales PIDs 0B, 24–2B, 34–3B and 44"),
	pid(0x50, "max_maf", "Maximum mass air flow rate", 4, u8(0, "max_maf", "Vehicle.OBD.MaxMAF", "g/s", 10, 0).std()),
	pid(0x51, "fuel_type", "Fuel type", 1, u8(0, "fuel_type", "Vehicle.OBD.FuelType", "", 1, 0).std()).with(enumDetail(fuelTypes)),
	percentPID(0x52, "ethanol_percent", "Ethanol fuel percentage", "Vehicle.OBD.EthanolPercent", true),
	pid(0x53, "evap_vapor_pressure_absolute", "Absolute evaporative system vapour pressure", 2,
		u16(0, "evap_vapor_pressure_absolute", "Vehicle.OBD.EVAPVaporPressureAbsolute", "kPa", 1.0/200, 0).std()),
	pid(0x54, "evap_vapor_pressure_wide", "Evaporative system vapour pressure, wide range", 2,
		s16(0, "evap_vapor_pressure_wide", "Vehicle.OBD.EVAPVaporPressureAlternate", "Pa", 1, 0).std()),
	pid(0x55, "short_term_secondary_o2_trim_b1_b3", "Short term secondary oxygen sensor trim, banks 1 and 3", 2,
		u8(0, "bank1", "Vehicle.OBD.ShortTermO2Trim1", "percent", trim, -100).std(),
		u8(1, "bank3", "Vehicle.OBD.ShortTermO2Trim3", "percent", trim, -100).std()).alt(1),
	pid(0x56, "long_term_secondary_o2_trim_b1_b3", "Long term secondary oxygen sensor trim, banks 1 and 3", 2,
		u8(0, "bank1", "Vehicle.OBD.LongTermO2Trim1", "percent", trim, -100).std(),
		u8(1, "bank3", "Vehicle.OBD.LongTermO2Trim3", "percent", trim, -100).std()).alt(1),
	pid(0x57, "short_term_secondary_o2_trim_b2_b4", "Short term secondary oxygen sensor trim, banks 2 and 4", 2,
		u8(0, "bank2", "Vehicle.OBD.ShortTermO2Trim2", "percent", trim, -100).std(),
		u8(1, "bank4", "Vehicle.OBD.ShortTermO2Trim4", "percent", trim, -100).std()).alt(1),
	pid(0x58, "long_term_secondary_o2_trim_b2_b4", "Long term secondary oxygen sensor trim, banks 2 and 4", 2,
		u8(0, "bank2", "Vehicle.OBD.LongTermO2Trim2", "percent", trim, -100).std(),
		u8(1, "bank4", "Vehicle.OBD.LongTermO2Trim4", "percent", trim, -100).std()).alt(1),
	pid(0x59, "fuel_rail_pressure_absolute", "Fuel rail absolute pressure", 2,
		u16(0, "fuel_rail_pressure_absolute", "Vehicle.OBD.FuelRailPressureAbsolute", "kPa", 10, 0).std()),
	percentPID(0x5A, "relative_accelerator_position", "Relative accelerator pedal position", "Vehicle.Chassis.Accelerator.PedalPosition", true),
	percentPID(0x5B, "hybrid_battery_remaining", "Hybrid battery pack remaining charge", "Vehicle.OBD.HybridBatteryRemaining", true),
	pid(0x5C, "oil_temp", "Engine oil temperature", 1, u8(0, "oil_temp", "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature", "celsius", 1, -40).std()),
	pid(0x5D, "fuel_injection_timing", "Fuel injection timing", 2, u16(0, "fuel_injection_timing", "Vehicle.OBD.FuelInjectionTiming", "degrees", 1.0/128, -210).std()),
	pid(0x5E, "fuel_rate", "Engine fuel rate", 2, u16(0, "fuel_rate", "Vehicle.OBD.FuelRate", "l/h", 0.05, 0).std()),
	pid(0x5F, "emission_requirements", "Emission requirements the vehicle is designed to", 1,
		u8(0, "emission_requirements", ovl+"EmissionRequirements", "", 1, 0)).with(enumDetail(emissionRequirements)),

	bitmap(0x60),
	pid(0x61, "driver_demand_torque", "Driver's demand engine torque", 1, u8(0, "driver_demand_torque", ovl+"DriverDemandTorque", "percent", 1, -125)),
	pid(0x62, "actual_torque", "Actual engine torque", 1, u8(0, "actual_torque", ovl+"ActualTorque", "percent", 1, -125)),
	pid(0x63, "reference_torque", "Engine reference torque", 2, u16(0, "reference_torque", ovl+"ReferenceTorque", "Nm", 1, 0)),
	pid(0x64, "torque_points", "Engine percent torque at idle and points 2–5", 5,
		u8(0, "idle", ovl+"TorquePoint.Idle", "percent", 1, -125), u8(1, "point2", ovl+"TorquePoint.Point2", "percent", 1, -125),
		u8(2, "point3", ovl+"TorquePoint.Point3", "percent", 1, -125), u8(3, "point4", ovl+"TorquePoint.Point4", "percent", 1, -125),
		u8(4, "point5", ovl+"TorquePoint.Point5", "percent", 1, -125)),
	pid(0x65, "aux_io", "Auxiliary inputs and outputs", 2).with(decodeAuxIO),
	pid(0x66, "maf_sensors", "Mass air flow sensors A and B", 5,
		u16(1, "sensor_a", ovl+"MAFSensor.A", "g/s", 1.0/32, 0).sup(0), u16(3, "sensor_b", ovl+"MAFSensor.B", "g/s", 1.0/32, 0).sup(1)),
	pid(0x67, "coolant_temp_sensors", "Engine coolant temperature sensors 1 and 2", 3, temps(ovl+"CoolantTemperatureSensor.", "sensor_1", "sensor_2")...),
	pid(0x68, "intake_air_temp_sensors", "Intake air temperature sensors", 7,
		temps(ovl+"IntakeTemperatureSensor.", "bank1_sensor1", "bank1_sensor2", "bank1_sensor3", "bank2_sensor1", "bank2_sensor2", "bank2_sensor3")...),
	pid(0x69, "egr_commanded_actual", "Commanded and actual EGR, and EGR error", 7,
		u8(1, "commanded_egr_a", ovl+"EGR.A.Commanded", "percent", pct, 0).sup(0),
		u8(2, "actual_egr_a", ovl+"EGR.A.Actual", "percent", pct, 0).sup(1),
		u8(3, "egr_a_error", ovl+"EGR.A.Error", "percent", trim, -100).sup(2),
		u8(4, "commanded_egr_b", ovl+"EGR.B.Commanded", "percent", pct, 0).sup(3),
		u8(5, "actual_egr_b", ovl+"EGR.B.Actual", "percent", pct, 0).sup(4),
		u8(6, "egr_b_error", ovl+"EGR.B.Error", "percent", trim, -100).sup(5)),
	pid(0x6A, "diesel_intake_air_flow", "Commanded diesel intake air flow control and relative position", 5,
		u8(1, "commanded_a", ovl+"IntakeAirFlow.A.Commanded", "percent", pct, 0).sup(0),
		u8(2, "position_a", ovl+"IntakeAirFlow.A.Position", "percent", pct, 0).sup(1),
		u8(3, "commanded_b", ovl+"IntakeAirFlow.B.Commanded", "percent", pct, 0).sup(2),
		u8(4, "position_b", ovl+"IntakeAirFlow.B.Position", "percent", pct, 0).sup(3)),
	pid(0x6B, "egr_temp", "EGR temperature sensors", 5,
		u8(1, "sensor_a", ovl+"EGRTemperature.A", "celsius", 1, -40).sup(0),
		u8(2, "sensor_c", ovl+"EGRTemperature.C", "celsius", 1, -40).sup(1),
		u8(3, "sensor_b", ovl+"EGRTemperature.B", "celsius", 1, -40).sup(2),
		u8(4, "sensor_d", ovl+"EGRTemperature.D", "celsius", 1, -40).sup(3)).
		note("sensors are ordered A (bank 1 sensor 1), C (bank 1 sensor 2), B, D; newer revisions reuse bits 4–7 for a 4×A−40 wide range that is not decoded"),
	pid(0x6C, "throttle_actuator_ab", "Commanded throttle actuator and relative throttle position A and B", 5,
		u8(1, "commanded_a", ovl+"ThrottleActuatorA.Commanded", "percent", pct, 0).sup(0),
		u8(2, "position_a", ovl+"ThrottleActuatorA.Position", "percent", pct, 0).sup(1),
		u8(3, "commanded_b", ovl+"ThrottleActuatorB.Commanded", "percent", pct, 0).sup(2),
		u8(4, "position_b", ovl+"ThrottleActuatorB.Position", "percent", pct, 0).sup(3)),
	pid(0x6D, "fuel_pressure_control", "Fuel pressure control system", 11,
		u16(1, "commanded_rail_pressure_a", ovl+"FuelPressureControl.A.CommandedPressure", "kPa", 10, 0).sup(0),
		u16(3, "rail_pressure_a", ovl+"FuelPressureControl.A.Pressure", "kPa", 10, 0).sup(1),
		u8(5, "rail_temp_a", ovl+"FuelPressureControl.A.Temperature", "celsius", 1, -40).sup(2),
		u16(6, "commanded_rail_pressure_b", ovl+"FuelPressureControl.B.CommandedPressure", "kPa", 10, 0).sup(3),
		u16(8, "rail_pressure_b", ovl+"FuelPressureControl.B.Pressure", "kPa", 10, 0).sup(4),
		u8(10, "rail_temp_b", ovl+"FuelPressureControl.B.Temperature", "celsius", 1, -40).sup(5)),
	pid(0x6E, "injection_pressure_control", "Injection pressure control system", 9,
		u16(1, "commanded_a", ovl+"InjectionPressure.A.Commanded", "kPa", 10, 0).sup(0),
		u16(3, "actual_a", ovl+"InjectionPressure.A.Actual", "kPa", 10, 0).sup(1),
		u16(5, "commanded_b", ovl+"InjectionPressure.B.Commanded", "kPa", 10, 0).sup(2),
		u16(7, "actual_b", ovl+"InjectionPressure.B.Actual", "kPa", 10, 0).sup(3)),
	pid(0x6F, "turbo_inlet_pressure", "Turbocharger compressor inlet pressure", 3,
		u8(1, "sensor_a", ovl+"TurboInletPressure.A", "kPa", 1, 0).sup(0),
		u8(2, "sensor_b", ovl+"TurboInletPressure.B", "kPa", 1, 0).sup(1)),
	pid(0x70, "boost_pressure_control", "Boost pressure control", 10,
		u16(1, "commanded_a", ovl+"BoostPressure.A.Commanded", "kPa", 1.0/32, 0).sup(0),
		u16(3, "sensor_a", ovl+"BoostPressure.A.Actual", "kPa", 1.0/32, 0).sup(1),
		bitsOf(9, 0, 2, "control_state_a", ovl+"BoostPressure.A.ControlState").sup(2),
		u16(5, "commanded_b", ovl+"BoostPressure.B.Commanded", "kPa", 1.0/32, 0).sup(3),
		u16(7, "sensor_b", ovl+"BoostPressure.B.Actual", "kPa", 1.0/32, 0).sup(4),
		bitsOf(9, 2, 2, "control_state_b", ovl+"BoostPressure.B.ControlState").sup(5)).
		note("control state: 1 open loop, 2 closed loop, 3 fault present"),
	pid(0x71, "vgt_control", "Variable geometry turbo control", 6,
		u8(1, "commanded_a", ovl+"VGT.A.Commanded", "percent", pct, 0).sup(0),
		u8(2, "position_a", ovl+"VGT.A.Position", "percent", pct, 0).sup(1),
		bitsOf(5, 0, 2, "control_state_a", ovl+"VGT.A.ControlState").sup(2),
		u8(3, "commanded_b", ovl+"VGT.B.Commanded", "percent", pct, 0).sup(3),
		u8(4, "position_b", ovl+"VGT.B.Position", "percent", pct, 0).sup(4),
		bitsOf(5, 2, 2, "control_state_b", ovl+"VGT.B.ControlState").sup(5)),
	pid(0x72, "wastegate_control", "Wastegate control", 5,
		u8(1, "commanded_a", ovl+"Wastegate.A.Commanded", "percent", pct, 0).sup(0),
		u8(2, "position_a", ovl+"Wastegate.A.Position", "percent", pct, 0).sup(1),
		u8(3, "commanded_b", ovl+"Wastegate.B.Commanded", "percent", pct, 0).sup(2),
		u8(4, "position_b", ovl+"Wastegate.B.Position", "percent", pct, 0).sup(3)),
	pid(0x73, "exhaust_pressure", "Exhaust pressure", 5,
		u16(1, "bank1", ovl+"ExhaustPressure.Bank1", "kPa", 0.01, 0).sup(0),
		u16(3, "bank2", ovl+"ExhaustPressure.Bank2", "kPa", 0.01, 0).sup(1)),
	pid(0x74, "turbo_rpm", "Turbocharger speed", 5,
		u16(1, "turbo_a", ovl+"TurboSpeed.A", "rpm", 10, 0).sup(0),
		u16(3, "turbo_b", ovl+"TurboSpeed.B", "rpm", 10, 0).sup(1)).
		note("10 rpm per bit, as current J1979 tables give; some older tools read 1 rpm per bit"),
	turboTemps(0x75, "A"), turboTemps(0x76, "B"),
	pid(0x77, "charge_air_cooler_temp", "Charge air cooler temperature", 5,
		temps(ovl+"ChargeAirCoolerTemperature.", "bank1_sensor1", "bank1_sensor2", "bank2_sensor1", "bank2_sensor2")...),
	egt(0x78, 1, 1), egt(0x79, 2, 1),
	dpf(0x7A, 1), dpf(0x7B, 2),
	pid(0x7C, "dpf_temp", "Diesel particulate filter temperature", 9,
		u16(1, "bank1_inlet", ovl+"DPFTemperature.Bank1.Inlet", "celsius", 0.1, -40).sup(0),
		u16(3, "bank1_outlet", ovl+"DPFTemperature.Bank1.Outlet", "celsius", 0.1, -40).sup(1),
		u16(5, "bank2_inlet", ovl+"DPFTemperature.Bank2.Inlet", "celsius", 0.1, -40).sup(2),
		u16(7, "bank2_outlet", ovl+"DPFTemperature.Bank2.Outlet", "celsius", 0.1, -40).sup(3)),
	pid(0x7D, "nox_nte_status", "NOx not-to-exceed control area status", 1).
		with(func(d []byte) any {
			return flagsOf(d[0], [8]string{"inside NOx control area", "outside NOx control area", "inside manufacturer NOx carve-out area", "NOx NTE deficiency active"})
		}),
	pid(0x7E, "pm_nte_status", "Particulate matter not-to-exceed control area status", 1).
		with(func(d []byte) any {
			return flagsOf(d[0], [8]string{"inside PM control area", "outside PM control area", "inside manufacturer PM carve-out area", "PM NTE deficiency active"})
		}),
	pid(0x7F, "engine_run_time", "Engine run time: total, idle and with power take-off", 13,
		u32(1, "total", "Vehicle.Powertrain.CombustionEngine.EngineHours", "h", 1.0/3600, 0).std().sup(0),
		u32(5, "idle", "Vehicle.Powertrain.CombustionEngine.IdleHours", "h", 1.0/3600, 0).std().sup(1),
		u32(9, "with_pto", ovl+"RunTimeWithPTO", "s", 1, 0).sup(2)),

	bitmap(0x80),
	aecd(0x81, 1).alt(21).note("older revisions answer 21 bytes, one timer per device; only the first timers are decoded then"),
	aecd(0x82, 6).alt(21).note("older revisions answer 21 bytes, one timer per device; only the first timers are decoded then"),
	noxSensors(0x83, "nox_sensor", "NOx sensor concentration", "NOxConcentration").alt(5).
		note("older revisions answer 5 bytes for two sensors"),
	pid(0x84, "manifold_surface_temp", "Manifold surface temperature", 1, u8(0, "manifold_surface_temp", ovl+"ManifoldSurfaceTemperature", "celsius", 1, -40)),
	pid(0x85, "nox_reagent_system", "NOx reagent (DEF) system", 10,
		u16(1, "average_consumption", ovl+"Reagent.AverageConsumption", "l/h", 0.005, 0).sup(0),
		u16(3, "average_demanded_consumption", ovl+"Reagent.AverageDemandedConsumption", "l/h", 0.005, 0).sup(1),
		u8(5, "tank_level", "Vehicle.Powertrain.CombustionEngine.DieselExhaustFluid.Level", "percent", pct, 0).std().sup(2),
		u32(6, "nox_warning_time", ovl+"Reagent.NOxWarningTime", "s", 1, 0).sup(3)),
	pid(0x86, "pm_sensor", "Particulate matter sensor mass concentration", 5,
		u16(1, "bank1", ovl+"PMConcentration.Bank1", "mg/m3", 0.0125, 0).sup(0),
		u16(3, "bank2", ovl+"PMConcentration.Bank2", "mg/m3", 0.0125, 0).sup(1)),
	pid(0x87, "intake_manifold_pressure_ab", "Intake manifold absolute pressure A and B", 5,
		u16(1, "sensor_a", ovl+"MAPSensor.A", "kPa", 1.0/32, 0).sup(0),
		u16(3, "sensor_b", ovl+"MAPSensor.B", "kPa", 1.0/32, 0).sup(1)),
	pid(0x88, "scr_inducement", "SCR inducement system", 13,
		u16(3, "distance_active_current_block", ovl+"SCRInducement.DistanceActive", "km", 1, 0),
		u16(5, "distance_current_block", ovl+"SCRInducement.DistanceInBlock", "km", 1, 0)).
		with(func(d []byte) any {
			return flagsOf(d[0], [8]string{"reagent level too low", "incorrect reagent", "reagent consumption deviates", "NOx emissions too high", "", "", "", "inducement active"})
		}),
	aecd(0x89, 11), aecd(0x8A, 16),
	pid(0x8B, "diesel_aftertreatment", "Diesel aftertreatment status", 7,
		bitsOf(1, 0, 1, "dpf_regen_active", ovl+"Aftertreatment.DPFRegenActive").sup(0),
		bitsOf(1, 1, 1, "dpf_regen_active_type", ovl+"Aftertreatment.DPFRegenIsActiveType").sup(1),
		bitsOf(1, 2, 1, "nox_adsorber_regen", ovl+"Aftertreatment.NOxAdsorberRegen").sup(2),
		bitsOf(1, 3, 1, "nox_adsorber_desulfurisation", ovl+"Aftertreatment.NOxAdsorberDesulfurisation").sup(3),
		u8(2, "dpf_regen_trigger", ovl+"Aftertreatment.DPFRegenTrigger", "percent", pct, 0).sup(4),
		u16(3, "average_time_between_regens", ovl+"Aftertreatment.AverageTimeBetweenRegens", "min", 1, 0).sup(5),
		u16(5, "average_distance_between_regens", ovl+"Aftertreatment.AverageDistanceBetweenRegens", "km", 1, 0).sup(6)),
	wideO2(0x8C, "bank1_sensor1", "bank1_sensor2", "bank2_sensor1", "bank2_sensor2"),
	percentPID(0x8D, "throttle_position_g", "Absolute throttle position G", ovl+"ThrottlePositionG", false),
	pid(0x8E, "friction_torque", "Engine friction torque", 1, u8(0, "friction_torque", ovl+"FrictionTorque", "percent", 1, -125)),
	pid(0x8F, "pm_sensor_output", "Particulate matter sensor output, banks 1 and 2", 7,
		u8(1, "bank1_status", ovl+"PMSensor.Bank1.Status", "", 1, 0).sup(0),
		s16(2, "bank1_output", ovl+"PMSensor.Bank1.Output", "percent", 0.01, 0).sup(1),
		u8(4, "bank2_status", ovl+"PMSensor.Bank2.Status", "", 1, 0).sup(2),
		s16(5, "bank2_output", ovl+"PMSensor.Bank2.Output", "percent", 0.01, 0).sup(3)).alt(5).
		note("status bit 0: measuring, bit 1: regenerating; some revisions answer 5 bytes"),
	pid(0x90, "wwh_obd_vehicle_info", "WWH-OBD vehicle OBD system information", 3,
		u16(1, "continuous_mi_hours", ovl+"WWH.ContinuousMIHours", "h", 1, 0)).with(decodeWWH90),
	pid(0x91, "wwh_obd_ecu_info", "WWH-OBD ECU OBD system information", 5,
		u16(1, "ecu_continuous_mi_hours", ovl+"WWH.ECUContinuousMIHours", "h", 1, 0),
		u16(3, "ecu_b1_counter_hours", ovl+"WWH.ECUB1CounterHours", "h", 1, 0)).with(decodeWWH91),
	pid(0x92, "fuel_system_control", "Fuel system control status (compression ignition)", 2).
		with(func(d []byte) any {
			return flagsOf(d[0]&d[1], [8]string{"fuel pressure 1 closed loop", "injection quantity 1 closed loop", "injection timing 1 closed loop", "idle fuel balance 1 closed loop",
				"fuel pressure 2 closed loop", "injection quantity 2 closed loop", "injection timing 2 closed loop", "idle fuel balance 2 closed loop"})
		}),
	pid(0x93, "wwh_obd_counters", "WWH-OBD vehicle counters", 3,
		u16(1, "cumulative_continuous_mi_hours", ovl+"WWH.CumulativeContinuousMIHours", "h", 1, 0).sup(0)),
	pid(0x94, "nox_warning_inducement", "NOx warning and inducement system", 12,
		bitsOf(1, 0, 1, "warning_active", ovl+"NOxWarning.Active").sup(0),
		u16(2, "reagent_quality_hours", ovl+"NOxWarning.ReagentQualityHours", "h", 1, 0).sup(1),
		u16(4, "reagent_consumption_hours", ovl+"NOxWarning.ReagentConsumptionHours", "h", 1, 0).sup(2),
		u16(6, "dosing_activity_hours", ovl+"NOxWarning.DosingActivityHours", "h", 1, 0).sup(3),
		u16(8, "egr_valve_hours", ovl+"NOxWarning.EGRValveHours", "h", 1, 0).sup(4),
		u16(10, "monitoring_system_hours", ovl+"NOxWarning.MonitoringSystemHours", "h", 1, 0).sup(5)),
	reserved(0x95), reserved(0x96), reserved(0x97),
	egt(0x98, 1, 5), egt(0x99, 2, 5),
	pid(0x9A, "hybrid_system", "Hybrid/EV system data: battery voltage and current", 6,
		u16(2, "battery_voltage", "Vehicle.Powertrain.TractionBattery.CurrentVoltage", "V", 1.0/64, 0).std().sup(1),
		s16(4, "battery_current", "Vehicle.Powertrain.TractionBattery.CurrentCurrent", "A", 0.1, 0).std().sup(2)).
		note("the charging-state bits are not decoded: public sources disagree on where they sit; current is read as two's complement"),
	pid(0x9B, "def_sensor", "Diesel exhaust fluid sensor data", 4,
		u8(1, "concentration", ovl+"DEF.Concentration", "percent", 0.25, 0),
		u8(2, "tank_temp", ovl+"DEF.TankTemperature", "celsius", 1, -40),
		u8(3, "tank_level", "Vehicle.Powertrain.CombustionEngine.DieselExhaustFluid.Level", "percent", pct, 0).std()).
		note("byte A's support bits are not applied: their assignment is not published"),
	wideO2(0x9C, "bank1_sensor3", "bank1_sensor4", "bank2_sensor3", "bank2_sensor4"),
	pid(0x9D, "engine_vehicle_fuel_rate", "Engine and vehicle fuel rate", 4,
		u16(0, "engine", ovl+"FuelMassRate.Engine", "g/s", 0.02, 0), u16(2, "vehicle", ovl+"FuelMassRate.Vehicle", "g/s", 0.02, 0)),
	pid(0x9E, "exhaust_flow_rate", "Engine exhaust flow rate", 2, u16(0, "exhaust_flow_rate", ovl+"ExhaustFlowRate", "kg/h", 0.2, 0)),
	pid(0x9F, "fuel_system_use", "Fuel system percentage use", 9,
		u8(1, "system_a_bank1", ovl+"FuelSystemUse.A.Bank1", "percent", pct, 0).sup(0), u8(2, "system_b_bank1", ovl+"FuelSystemUse.B.Bank1", "percent", pct, 0).sup(1),
		u8(3, "system_a_bank2", ovl+"FuelSystemUse.A.Bank2", "percent", pct, 0).sup(2), u8(4, "system_b_bank2", ovl+"FuelSystemUse.B.Bank2", "percent", pct, 0).sup(3),
		u8(5, "system_a_bank3", ovl+"FuelSystemUse.A.Bank3", "percent", pct, 0).sup(4), u8(6, "system_b_bank3", ovl+"FuelSystemUse.B.Bank3", "percent", pct, 0).sup(5),
		u8(7, "system_a_bank4", ovl+"FuelSystemUse.A.Bank4", "percent", pct, 0).sup(6), u8(8, "system_b_bank4", ovl+"FuelSystemUse.B.Bank4", "percent", pct, 0).sup(7)),

	bitmap(0xA0),
	noxSensors(0xA1, "nox_sensor_corrected", "NOx sensor corrected concentration", "NOxCorrectedConcentration"),
	pid(0xA2, "cylinder_fuel_rate", "Cylinder fuel rate", 2, u16(0, "cylinder_fuel_rate", ovl+"CylinderFuelRate", "mg/stroke", 1.0/32, 0)),
	raw(0xA3, "evap_vapor_pressure_ab", "Evaporative system vapour pressure A and B", "layout not published in sources Pitwall trusts; raw bytes are reported"),
	pid(0xA4, "transmission_gear", "Transmission actual gear and gear ratio", 4,
		bitsOf(1, 4, 4, "gear", "Vehicle.Powertrain.Transmission.CurrentGear").std().sup(0),
		u16(2, "ratio", ovl+"TransmissionGearRatio", "ratio", 0.001, 0).sup(1)).
		note("gear 0 is neutral; how reverse is coded is not published"),
	raw(0xA5, "commanded_def_dosing", "Commanded diesel exhaust fluid dosing", "layout only partly published; raw bytes are reported"),
	pid(0xA6, "odometer", "Odometer", 4, u32(0, "odometer", "Vehicle.TraveledDistance", "km", 0.1, 0).std()),
	raw(0xA7, "nox_sensor_3_4", "NOx sensor concentration, sensors 3 and 4", "layout not published; raw bytes are reported"),
	raw(0xA8, "nox_sensor_corrected_3_4", "NOx sensor corrected concentration, sensors 3 and 4", "layout not published; raw bytes are reported"),
	raw(0xA9, "abs_disable_switch", "ABS disable switch state", "layout not published; raw bytes are reported"),
}

func turboTemps(p PID, t string) PIDInfo {
	pre := ovl + "Turbo" + t + "Temperature."
	return pid(p, "turbo_"+lower(t)+"_temp", "Turbocharger "+t+" temperatures", 7,
		u8(1, "compressor_inlet", pre+"CompressorInlet", "celsius", 1, -40).sup(0),
		u8(2, "compressor_outlet", pre+"CompressorOutlet", "celsius", 1, -40).sup(1),
		u16(3, "turbine_inlet", pre+"TurbineInlet", "celsius", 0.1, -40).sup(2),
		u16(5, "turbine_outlet", pre+"TurbineOutlet", "celsius", 0.1, -40).sup(3))
}

func dpf(p PID, bank int) PIDInfo {
	pre := fmt.Sprintf("%sDPF.Bank%d.", ovl, bank)
	d := s16(1, "delta_pressure", "", "kPa", 0.01, 0).sup(0)
	d.Signal = "Vehicle.Powertrain.CombustionEngine.DieselParticulateFilter.DeltaPressure"
	d.Unit, d.scale = "Pa", 10 // VSS gives the difference in pascal
	if bank == 2 {
		d.Signal, d.Unit, d.scale = pre+"DeltaPressure", "kPa", 0.01
	} else {
		d.VSS = true
	}
	return pid(p, fmt.Sprintf("dpf_bank%d", bank), fmt.Sprintf("Diesel particulate filter bank %d pressures", bank), 7,
		d, u16(3, "inlet_pressure", pre+"InletPressure", "kPa", 0.01, 0).sup(1),
		u16(5, "outlet_pressure", pre+"OutletPressure", "kPa", 0.01, 0).sup(2))
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// The PIDs from AA to C4 beyond the bitmap at C0 are either reserved or
// defined only by the newest J1979-DA, with layouts we cannot confirm.
func init() {
	for p := 0xAA; p <= 0xC4; p++ {
		switch {
		case p == 0xC0:
			pidTable = append(pidTable, bitmap(0xC0))
		case p == 0xAA:
			pidTable = append(pidTable, raw(0xAA, "max_vehicle_speed_limit", "Maximum vehicle speed limit", "newer J1979-DA PID with a layout from a single source; raw bytes are reported"))
		case p == 0xB2:
			pidTable = append(pidTable, raw(0xB2, "traction_battery_health", "Traction battery state of health", "newer J1979-DA PID with a layout from a single source; raw bytes are reported"))
		case p == 0xC3 || p == 0xC4:
			pidTable = append(pidTable, raw(PID(p), fmt.Sprintf("pid_%02x", p), "Defined differently by different J1979 revisions",
				"public tables disagree on what this PID carries; raw bytes are reported"))
		default:
			pidTable = append(pidTable, reserved(PID(p)))
		}
	}
	pidIndex = make(map[PID]int, len(pidTable))
	for i := range pidTable {
		for j := range pidTable[i].Fields {
			pidTable[i].Fields[j].computeRange()
		}
		pidIndex[pidTable[i].PID] = i
	}
}

var pidIndex map[PID]int
