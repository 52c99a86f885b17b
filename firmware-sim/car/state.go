package car

import (
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// State is the car at one instant, as its sensors and its engine ECU see
// it. Units are those of the J1979 PIDs that report each value.
type State struct {
	Time  time.Duration // simulated time since the model started
	Phase string        // what the driver is doing: parked, idle, city, highway

	Ignition bool
	Running  bool // the engine runs (cranking counts as not yet)
	Cranking bool
	// AutoStops and AutoRestarts count, since the key was turned, the
	// times stop-start or the hybrid system stopped the engine and started
	// it again.
	AutoStops, AutoRestarts int

	Speed    float64 // km/h
	Gear     int     // 0 neutral or stopped
	RPM      float64
	Throttle float64 // absolute throttle position, %
	Load     float64 // calculated load, %
	MAP      float64 // intake manifold absolute pressure, kPa
	MAF      float64 // g/s
	Baro     float64 // kPa
	Timing   float64 // ignition advance, degrees before TDC

	Coolant  float64 // °C
	Intake   float64 // °C
	Oil      float64 // °C
	Catalyst float64 // °C, bank 1 sensor 1
	Ambient  float64 // °C

	FuelLevel  float64 // %
	FuelRate   float64 // l/h
	FuelSystem byte    // PID 03 status of fuel system 1
	STFT, LTFT float64 // bank 1 fuel trims, %
	O2Up       float64 // upstream (bank 1 sensor 1) voltage
	O2Down     float64 // downstream (bank 1 sensor 2) voltage
	O2Active   bool    // the upstream sensor is hot enough to read

	Battery       float64 // V at the battery terminals (what an adapter's ATRV reads)
	ModuleVoltage float64 // V at the engine ECU (PID 42)
	EvapPressure  float64 // Pa, evaporative system vapour pressure

	Odometer           float64 // km
	DistanceSinceClear float64 // km
	DistanceWithMIL    float64 // km
	RunTime            time.Duration
	TimeSinceClear     time.Duration // engine run time since codes were cleared
	TimeWithMIL        time.Duration
	WarmupsSinceClear  int

	MIL       bool
	Stored    []obd.DTC // service 03
	Pending   []obd.DTC // service 07
	Permanent []obd.DTC // service 0A
	Freeze    *Freeze   // freeze frame 0, nil when none
	Monitors  []obd.Monitor

	// Service 06: what the engine ECU's on-board monitors found.
	// MisfireCount is per cylinder (index 0 is cylinder 1), this driving
	// cycle's once it has run 1000 revolutions, the last cycle's before;
	// MisfireAverage weighs the last ten cycles (0.1 for the newest).
	MisfireCount   []int
	MisfireAverage []float64
	// CatalystRatio is the catalyst monitor's last result: how much the
	// downstream O2 sensor switches against the upstream one, 0.08 for a
	// good catalyst, towards 1 for a dead one.
	CatalystRatio float64
	// O2MinVoltage and O2MaxVoltage are the upstream O2 sensor's range in
	// its last test, O2Period its switching period in seconds.
	O2MinVoltage, O2MaxVoltage float64
	O2Period                   float64
}

// Freeze is freeze frame 0: the state when a code was confirmed.
type Freeze struct {
	DTC   obd.DTC
	State State
}

// clone copies the state so callers can keep it while the model moves on.
func (s State) clone() State {
	s.Stored = append([]obd.DTC(nil), s.Stored...)
	s.Pending = append([]obd.DTC(nil), s.Pending...)
	s.Permanent = append([]obd.DTC(nil), s.Permanent...)
	s.Monitors = append([]obd.Monitor(nil), s.Monitors...)
	s.MisfireCount = append([]int(nil), s.MisfireCount...)
	s.MisfireAverage = append([]float64(nil), s.MisfireAverage...)
	if s.Freeze != nil {
		f := *s.Freeze
		s.Freeze = &f
	}
	return s
}
