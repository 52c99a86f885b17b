package ecu

import (
	"math"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/obd"
)

// pidData encodes PID p from state s, or returns nil when the module does
// not support it. Bitmaps are built from supported.
func (m *Module) pidData(p obd.PID, s car.State, supported obd.PIDSet) []byte {
	if p.IsBitmap() {
		return bitmap(p, supported)
	}
	if !supported.Has(p) {
		return nil
	}
	enc := func(values map[string]float64) []byte {
		b, err := obd.Encode(p, values)
		if err != nil {
			panic(err) // the table and this switch disagree: a bug
		}
		return b
	}
	mins := func(d float64) float64 { return math.Floor(d / 60) }
	switch p {
	case 0x01, 0x41:
		ms := obd.MonitorStatus{Ignition: "spark", Monitors: s.Monitors}
		if m.engine && p == 0x01 {
			ms.MIL, ms.DTCCount = s.MIL, len(s.Stored)
		}
		if !m.engine {
			ms.Monitors = nil // the transmission runs no emission monitors
		}
		if p == 0x41 {
			ms.Monitors = thisCycle(s)
		}
		b, err := obd.EncodeMonitorStatus(ms, p == 0x41)
		if err != nil {
			panic(err)
		}
		return b
	case 0x03:
		return obd.EncodeFuelSystem(s.FuelSystem, 0)
	case 0x04:
		return enc(map[string]float64{"engine_load": s.Load})
	case 0x05:
		return enc(map[string]float64{"coolant_temp": s.Coolant})
	case 0x06:
		return enc(map[string]float64{"bank1": s.STFT})
	case 0x07:
		return enc(map[string]float64{"bank1": s.LTFT})
	case 0x0B:
		return enc(map[string]float64{"intake_manifold_pressure": s.MAP})
	case 0x0C:
		return enc(map[string]float64{"engine_speed": s.RPM})
	case 0x0D:
		if !m.engine {
			// The transmission reckons speed from its output shaft, with
			// the tyre size it was programmed for: 2 % fast, so the two
			// modules agree at low speed and part at motorway speeds.
			return enc(map[string]float64{"vehicle_speed": s.Speed * tcmSpeedFactor})
		}
		return enc(map[string]float64{"vehicle_speed": s.Speed})
	case 0x0E:
		return enc(map[string]float64{"timing_advance": s.Timing})
	case 0x0F:
		return enc(map[string]float64{"intake_air_temp": s.Intake})
	case 0x10:
		return enc(map[string]float64{"maf": s.MAF})
	case 0x11:
		return enc(map[string]float64{"throttle_position": s.Throttle})
	case 0x13:
		return []byte{0x03} // bank 1 sensors 1 and 2
	case 0x14:
		if s.FuelSystem != obd.FuelClosedLoop {
			return []byte{byte(math.Round(s.O2Up * 200)), 0xFF} // not trimming yet
		}
		return enc(map[string]float64{"voltage": s.O2Up, "short_term_fuel_trim": s.STFT})
	case 0x15:
		return []byte{byte(math.Round(s.O2Down * 200)), 0xFF} // a downstream sensor does not trim
	case 0x1C:
		return []byte{0x09} // EOBD, OBD and OBD-II
	case 0x1F:
		return enc(map[string]float64{"run_time": s.RunTime.Seconds()})
	case 0x21:
		return enc(map[string]float64{"distance_with_mil": s.DistanceWithMIL})
	case 0x2F:
		return enc(map[string]float64{"fuel_level": s.FuelLevel})
	case 0x30:
		return enc(map[string]float64{"warmups_since_clear": float64(s.WarmupsSinceClear)})
	case 0x31:
		return enc(map[string]float64{"distance_since_clear": s.DistanceSinceClear})
	case 0x32:
		return enc(map[string]float64{"evap_vapor_pressure": s.EvapPressure})
	case 0x33:
		return enc(map[string]float64{"barometric_pressure": s.Baro})
	case 0x3C:
		return enc(map[string]float64{"catalyst_temp_b1s1": s.Catalyst})
	case 0x42:
		return enc(map[string]float64{"control_module_voltage": s.ModuleVoltage})
	case 0x43:
		return enc(map[string]float64{"absolute_load": s.Load * 0.9})
	case 0x45:
		return enc(map[string]float64{"relative_throttle_position": math.Max(0, s.Throttle-12.5)})
	case 0x46:
		return enc(map[string]float64{"ambient_air_temp": s.Ambient})
	case 0x4D:
		return enc(map[string]float64{"run_time_with_mil": mins(s.TimeWithMIL.Seconds())})
	case 0x4E:
		return enc(map[string]float64{"time_since_clear": mins(s.TimeSinceClear.Seconds())})
	case 0x51:
		return []byte{0x01} // gasoline
	case 0x5C:
		return enc(map[string]float64{"oil_temp": s.Oil})
	case 0x5E:
		return enc(map[string]float64{"fuel_rate": s.FuelRate})
	case 0xA4:
		return enc(map[string]float64{"gear": float64(s.Gear), "ratio": gearRatio(s)})
	case 0xA6:
		return enc(map[string]float64{"odometer": s.Odometer})
	}
	return nil
}

// tcmSpeedFactor is how much faster than the engine module the
// transmission module reports the vehicle speed.
const tcmSpeedFactor = 1.02

// gearRatio is the ratio of the gear engaged, 0 in neutral.
func gearRatio(s car.State) float64 {
	r := car.DefaultSpec().GearRatios
	if s.Gear < 1 || s.Gear > len(r) {
		return 0
	}
	return r[s.Gear-1]
}

// thisCycle is PID 41's view: a monitor counts as complete this cycle only
// once the engine has run long enough for it.
func thisCycle(s car.State) []obd.Monitor {
	out := make([]obd.Monitor, len(s.Monitors))
	for i, m := range s.Monitors {
		out[i] = m
		if m.Supported {
			out[i].Complete = m.Complete && s.RunTime.Minutes() > 3
		}
	}
	return out
}

// bitmap answers a supported-PID bitmap: the PIDs in its range, and the
// next bitmap when any PID lies beyond. A range the module has nothing in
// and was not announced stays silent.
func bitmap(base obd.PID, supported obd.PIDSet) []byte {
	var s obd.PIDSet
	for _, p := range supported.List() {
		switch {
		case p > base && p <= base+0x20:
			s.Add(p)
		case p > base+0x20 && base < 0xE0:
			s.Add(base + 0x20)
		}
	}
	if s.Len() == 0 && base != 0 {
		return nil
	}
	return obd.EncodeBitmap(base, s)
}
