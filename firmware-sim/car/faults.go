package car

import (
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// FaultKind names a fault the model can develop.
type FaultKind string

// The faults and what each does to the car.
const (
	// ThermostatStuck: the thermostat stays (partly) closed, so the engine
	// cannot shed heat: coolant climbs past 110 °C under load (P0217).
	ThermostatStuck FaultKind = "thermostat-stuck-closed"
	// CoolantLeak: coolant is lost little by little; temperatures read
	// erratically as steam pockets pass the sensor, then run hot (P0217).
	CoolantLeak FaultKind = "coolant-leak"
	// Misfire: one cylinder misfires: rough rpm, positive trims, a hotter
	// catalyst (P0300 and P030n).
	Misfire FaultKind = "misfire"
	// CatalystWorn: the catalyst stores less oxygen; the downstream O2
	// sensor starts to mirror the upstream one (P0420).
	CatalystWorn FaultKind = "catalyst-worn"
	// O2SlowResponse: the upstream O2 sensor switches slowly and weakly
	// (P0133).
	O2SlowResponse FaultKind = "o2-slow-response"
	// O2HeaterOpen: the upstream O2 sensor heater has failed; the sensor
	// takes minutes to read after a start (P0135).
	O2HeaterOpen FaultKind = "o2-heater-open"
	// VacuumLeak: unmetered air enters after the MAF sensor; fuel trims go
	// positive, most at idle, past +25 % together (P0171).
	VacuumLeak FaultKind = "vacuum-leak"
	// EvapLeak: a large leak in the fuel vapour system; the EVAP test
	// cannot hold vacuum (P0455).
	EvapLeak FaultKind = "evap-leak"
	// WeakBattery: the battery has lost capacity: resting voltage under
	// 12.2 V and a cranking dip under 9.6 V. No code: the car does not
	// check it, the owner's rules do.
	WeakBattery FaultKind = "weak-battery"
	// AlternatorFailing: charging voltage sags under 13 V and the battery
	// drains while driving (P0562).
	AlternatorFailing FaultKind = "alternator-failing"
)

// FaultKinds lists every fault, for validation and help.
var FaultKinds = []FaultKind{ThermostatStuck, CoolantLeak, Misfire, CatalystWorn, O2SlowResponse, O2HeaterOpen, VacuumLeak, EvapLeak, WeakBattery, AlternatorFailing}

// Fault is one fault in a scenario: it starts at At and grows to full
// severity over Ramp.
type Fault struct {
	Kind     FaultKind
	At       time.Duration
	Ramp     time.Duration
	Cylinder int // misfire only: which cylinder, 1-based
}

// severity is how far the fault has developed at t, from 0 to 1.
func (f Fault) severity(t time.Duration) float64 {
	switch {
	case t < f.At:
		return 0
	case f.Ramp <= 0 || t >= f.At+f.Ramp:
		return 1
	}
	return float64(t-f.At) / float64(f.Ramp)
}

// Trouble codes the model sets.
const (
	P0133 obd.DTC = 0x0133 // O2 sensor slow response, bank 1 sensor 1
	P0135 obd.DTC = 0x0135 // O2 sensor heater circuit, bank 1 sensor 1
	P0171 obd.DTC = 0x0171 // system too lean, bank 1
	P0217 obd.DTC = 0x0217 // engine over temperature
	P0300 obd.DTC = 0x0300 // random or multiple cylinder misfire
	P0420 obd.DTC = 0x0420 // catalyst efficiency below threshold, bank 1
	P0455 obd.DTC = 0x0455 // evaporative system large leak
	P0562 obd.DTC = 0x0562 // system voltage low
)

// misfireCode is P030n for cylinder n.
func misfireCode(cyl int) obd.DTC { return obd.DTC(0x0300 + cyl) }

// diagnostic is one check the engine ECU runs: when failing holds for
// detect it stores a pending code; when it keeps failing for confirm more,
// the code is confirmed, the MIL lit and a freeze frame taken.
type diagnostic struct {
	code    obd.DTC
	detect  time.Duration
	confirm time.Duration
	mil     bool
	failing func(c *Car) bool
	// monitor names the readiness monitor whose test this is.
	monitor string

	failedFor time.Duration // continuous failing time
	total     time.Duration // failing time since the code went pending
}

// diagnostics are the checks for the faults of a scenario. Each check
// looks at the signals, not at the fault, as a real ECU does.
func diagnosticsFor(faults []Fault) []*diagnostic {
	var out []*diagnostic
	seen := map[obd.DTC]bool{}
	add := func(d *diagnostic) {
		if !seen[d.code] {
			seen[d.code] = true
			out = append(out, d)
		}
	}
	for _, f := range faults {
		switch f.Kind {
		case ThermostatStuck, CoolantLeak:
			add(&diagnostic{code: P0217, detect: 5 * time.Second, confirm: 45 * time.Second, mil: true, monitor: "components",
				failing: func(c *Car) bool { return c.s.Running && c.trueCoolant > 110 }})
		case Misfire:
			cyl := f.Cylinder
			check := func(c *Car) bool { return c.s.Running && c.misfireRate() > 0.02 }
			add(&diagnostic{code: P0300, detect: 10 * time.Second, confirm: 60 * time.Second, mil: true, monitor: "misfire", failing: check})
			add(&diagnostic{code: misfireCode(cyl), detect: 10 * time.Second, confirm: 60 * time.Second, mil: true, monitor: "misfire", failing: check})
		case CatalystWorn:
			add(&diagnostic{code: P0420, detect: 60 * time.Second, confirm: 120 * time.Second, mil: true, monitor: "catalyst",
				failing: func(c *Car) bool { return c.catalystTestRunning() && c.catalystSwitchRatio > 0.6 }})
		case O2SlowResponse:
			add(&diagnostic{code: P0133, detect: 60 * time.Second, confirm: 120 * time.Second, mil: true, monitor: "oxygen_sensor",
				failing: func(c *Car) bool { return c.s.FuelSystem == obd.FuelClosedLoop && c.o2Period() > 1.6 }})
		case O2HeaterOpen:
			add(&diagnostic{code: P0135, detect: 10 * time.Second, confirm: 60 * time.Second, mil: true, monitor: "oxygen_sensor_heater",
				failing: func(c *Car) bool { return c.s.Running && !c.s.O2Active && c.s.RunTime > 90*time.Second }})
		case VacuumLeak:
			add(&diagnostic{code: P0171, detect: 20 * time.Second, confirm: 90 * time.Second, mil: true, monitor: "fuel_system",
				failing: func(c *Car) bool {
					return c.s.FuelSystem == obd.FuelClosedLoop && c.s.STFT+c.s.LTFT > 25
				}})
		case EvapLeak:
			add(&diagnostic{code: P0455, detect: 20 * time.Second, confirm: 20 * time.Second, mil: true, monitor: "evaporative_system",
				failing: func(c *Car) bool { return c.evapTestRunning() && c.evapHeld > 5*time.Second && c.s.EvapPressure > -400 }})
		case AlternatorFailing:
			add(&diagnostic{code: P0562, detect: 30 * time.Second, confirm: 60 * time.Second, mil: true, monitor: "components",
				failing: func(c *Car) bool { return c.s.Running && c.s.RunTime > 10*time.Second && c.s.Battery < 13.0 }})
		}
	}
	return out
}
