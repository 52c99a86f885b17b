package car

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// Step is the model's time step: signals change at most this often.
const Step = 100 * time.Millisecond

// Car is one simulated vehicle. Its methods are safe for concurrent use.
type Car struct {
	mu   sync.Mutex
	spec Spec
	rng  *rand.Rand
	s    State

	plan      []Phase
	phaseIdx  int
	phaseLeft time.Duration
	target    float64       // speed the driver aims for, km/h
	holdLeft  time.Duration // until the driver picks a new target

	faults []Fault
	diags  []*diagnostic

	fuelLitres   float64
	soc          float64 // battery state of charge, 0..1
	trueCoolant  float64 // what the coolant is; the sensor may read otherwise
	startCoolant float64
	warmedUp     bool // this drive cycle counted as a warm-up
	coldStart    bool
	crankLeft    time.Duration
	autoStopped  bool          // stopped by stop-start or the hybrid system, ignition on
	sinceStart   time.Duration // the engine has run since its last start
	rpm          float64       // engine speed without the roughness of a misfire
	o2Phase      float64       // upstream sensor oscillation, in cycles
	closedLoop   time.Duration
	stableTrim   float64 // the fuel error the long-term trim has learned

	catalystSwitchRatio float64 // downstream switching relative to upstream
	evapState           int     // 0 waiting, 1 pulling vacuum, 2 holding, 3 done this cycle
	evapHeld            time.Duration
	evapLeft            time.Duration

	progress map[string]time.Duration // readiness monitor test time this cycle
	complete map[string]bool

	tests testResults // service 06
}

// New builds a car in the state the scenario starts it in. The same
// spec, scenario and seed always give the same car and the same drive.
func New(spec Spec, sc Scenario, seed uint64) *Car {
	c := &Car{
		spec:     spec,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)),
		plan:     sc.Drive,
		faults:   sc.Faults,
		diags:    diagnosticsFor(sc.Faults),
		progress: map[string]time.Duration{},
		complete: map[string]bool{},
		tests:    newTestResults(spec.Cylinders),
	}
	if len(c.plan) == 0 {
		c.plan = DefaultDrive
	}
	v := sc.Vehicle
	if v.VIN != "" {
		c.spec.VIN = v.VIN
	}
	if v.Ambient != nil {
		c.spec.Ambient = *v.Ambient
	}
	if v.Odometer != nil {
		c.spec.Odometer = *v.Odometer
	}
	if v.Powertrain != "" {
		c.spec.Powertrain = v.Powertrain
	}
	level := 72.0
	if v.FuelLevel != nil {
		level = *v.FuelLevel
	}
	c.fuelLitres = spec.TankLitres * level / 100
	c.soc = 0.92
	c.s = State{
		Ambient:   c.spec.Ambient,
		Baro:      c.spec.Baro,
		Coolant:   c.spec.Ambient,
		Intake:    c.spec.Ambient,
		Oil:       c.spec.Ambient,
		Catalyst:  c.spec.Ambient,
		Odometer:  c.spec.Odometer,
		O2Up:      0.45,
		O2Down:    0.45,
		FuelLevel: level,
		// A used car: the counters since the last clear have run on.
		DistanceSinceClear: 1843,
		TimeSinceClear:     61 * time.Hour,
		WarmupsSinceClear:  131,
	}
	c.trueCoolant = c.spec.Ambient
	for _, m := range monitorNames {
		c.complete[m] = !v.Cleared
	}
	if v.Cleared {
		c.s.DistanceSinceClear, c.s.TimeSinceClear, c.s.WarmupsSinceClear = 0, 0, 0
	}
	c.phaseLeft = c.plan[0].For
	c.s.Phase = c.plan[0].Kind
	c.s.Battery = c.restingVoltage()
	c.updateMonitors()
	return c
}

// Spec returns the vehicle's description.
func (c *Car) Spec() Spec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.spec
}

// State returns a copy of the car now.
func (c *Car) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s.clone()
	c.fillTests(&s)
	return s
}

// Ignition reports whether the ignition is on: the ECUs answer.
func (c *Car) Ignition() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.Ignition
}

// Advance moves the model on by d, in steps of Step.
func (c *Car) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for d >= Step {
		c.step(Step)
		d -= Step
	}
}

// AdvanceTo moves the model on to simulated time t; earlier times do
// nothing.
func (c *Car) AdvanceTo(t time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.s.Time+Step <= t {
		c.step(Step)
	}
}

// ClearDTCs does what service 04 does in an engine ECU: stored and pending
// codes and the freeze frame go, the MIL goes out, the readiness monitors
// start again and the counters since clearing restart. Permanent codes stay
// until their fault is gone and its monitor has run.
func (c *Car) ClearDTCs() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Stored, c.s.Pending, c.s.Freeze, c.s.MIL = nil, nil, nil, false
	c.s.DistanceSinceClear, c.s.TimeSinceClear, c.s.WarmupsSinceClear = 0, 0, 0
	c.s.DistanceWithMIL, c.s.TimeWithMIL = 0, 0
	for _, m := range monitorNames {
		c.complete[m] = false
		c.progress[m] = 0
	}
	for _, d := range c.diags {
		d.failedFor, d.total = 0, 0
	}
	c.clearTests()
	c.updateMonitors()
}

func (c *Car) sev(k FaultKind) float64 {
	s := 0.0
	for _, f := range c.faults {
		if f.Kind == k {
			s = math.Max(s, f.severity(c.s.Time))
		}
	}
	return s
}

func (c *Car) noise(sd float64) float64 { return c.rng.NormFloat64() * sd }

// approach moves x towards target with time constant tau.
func approach(x, target float64, tau, dt time.Duration) float64 {
	if tau <= 0 {
		return target
	}
	return target + (x-target)*math.Exp(-float64(dt)/float64(tau))
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func (c *Car) step(dt time.Duration) {
	sec := dt.Seconds()
	c.s.Time += dt
	c.drive(dt)
	c.engine(dt, sec)
	c.monitorResults(dt)
	c.temperatures(dt, sec)
	c.fuelling(dt, sec)
	c.electrics(dt, sec)
	c.evap(dt)
	c.counters(dt, sec)
	c.diagnose(dt)
	c.monitorTests()
	c.updateMonitors()
}

// engine updates speed, gear, rpm, throttle, load, pressures and airflow.
func (c *Car) engine(dt time.Duration, sec float64) {
	s := &c.s
	if !s.Running {
		accel := -2.5 // coast to a stop
		if c.autoStopped && c.spec.Powertrain == Hybrid {
			accel = c.demand(1.2) // driving on electricity
		}
		s.Speed = math.Max(0, s.Speed+accel*3.6*sec)
		if s.Speed < 0.5 && c.target == 0 {
			s.Speed = 0
		}
		s.Gear = 0
		if s.Speed >= 3 && c.autoStopped {
			s.Gear = 1 // the gearbox still turns with the wheels
		}
		s.RPM, s.Throttle, s.Load, s.MAF, s.Timing = 0, 0, 0, 0, 0
		c.rpm = 0
		s.MAP = s.Baro
		if s.Cranking {
			s.RPM = 220 + c.noise(15)
		}
		return
	}
	// The driver's pedal: close the gap to the target speed.
	accel := c.demand(1.8) // m/s²
	s.Speed = math.Max(0, s.Speed+accel*3.6*sec)
	if s.Speed < 0.5 && c.target == 0 {
		s.Speed = 0
	}
	// Gears: change up above 2600 rpm, down below 1300.
	rpmIn := func(g int) float64 {
		return s.Speed / 3.6 / c.spec.WheelCirc * 60 * c.spec.GearRatios[g-1] * c.spec.FinalDrive
	}
	switch {
	case s.Speed < 3:
		s.Gear = 0
		if c.target > 0 {
			s.Gear = 1
		}
	case s.Gear == 0:
		s.Gear = 1
	case rpmIn(s.Gear) > 2600 && s.Gear < len(c.spec.GearRatios):
		s.Gear++
	case rpmIn(s.Gear) < 1300 && s.Gear > 1:
		s.Gear--
	}
	idle := c.spec.IdleRPM + 350*clamp((60-c.trueCoolant)/40, 0, 1) // fast idle while cold
	target := idle
	if s.Gear > 0 {
		target = math.Max(idle+100, rpmIn(s.Gear))
	}
	rough, dip := 8.0, 0.0
	if m := c.sev(Misfire); m > 0 {
		rough += 60 * m
		if c.rng.Float64() < 0.15*m {
			dip = 90 * m // a dip as the cylinder drops out
		}
	}
	c.rpm = approach(c.rpm, target, 300*time.Millisecond, dt)
	s.RPM = clamp(c.rpm-dip+c.noise(rough), 450, c.spec.MaxRPM)

	decel := accel < -0.5
	switch {
	case decel:
		s.Throttle = 12.5
	default:
		s.Throttle = 12.5 + 0.12*s.Speed + 0.0012*s.Speed*s.Speed + 18*math.Max(accel, 0)
	}
	s.Throttle = clamp(s.Throttle+c.noise(0.2), 0, 100)
	s.Load = clamp(20+(s.Throttle-12.5)*1.35+c.noise(0.5), 0, 100)
	if decel && s.Speed > 20 {
		s.Load = clamp(9+c.noise(0.5), 0, 100)
	}
	if s.RPM < idle-50 { // still coming up from cranking
		s.Load = 60
	}
	s.MAP = clamp(s.Baro*(0.28+0.68*s.Load/100), 15, s.Baro)
	s.MAF = math.Max(0, c.spec.Displacement*s.RPM/120*1.18*0.8*s.MAP/s.Baro)
	s.Timing = clamp(8+0.004*s.RPM-0.12*(s.Load-25)+c.noise(0.4), -10, 45)
}

// temperatures moves coolant, intake, oil and catalyst.
func (c *Car) temperatures(dt time.Duration, sec float64) {
	s := &c.s
	amb := s.Ambient
	if s.Running {
		heat := 0.06 + 0.004*s.Load + 0.00004*s.RPM // °C/s from combustion
		open := clamp((c.trueCoolant-c.spec.Thermostat+2)/6, 0.05, 1)
		if st := math.Max(c.sev(ThermostatStuck), 0.8*c.sev(CoolantLeak)); st > 0 {
			open = math.Min(open, 1-0.9*st)
		}
		radiator := 0.0045 * (1 + s.Speed/100)
		if c.trueCoolant > c.spec.Thermostat+8 {
			radiator += 0.004 // the fan
		}
		c.trueCoolant += (heat - radiator*open*(c.trueCoolant-amb)) * sec
		c.trueCoolant = math.Min(c.trueCoolant, 128) // boiling under pressure
	} else {
		c.trueCoolant = approach(c.trueCoolant, amb, 20*time.Minute, dt)
	}
	reading := c.trueCoolant
	if l := c.sev(CoolantLeak); l > 0.3 && s.Running {
		// Steam pockets at the sensor: readings jump about.
		if c.rng.Float64() < 0.05*l {
			reading += c.noise(8 * l)
		}
	}
	s.Coolant = math.Min(reading, 130)
	soak := 3 + 12*math.Exp(-s.Speed/40)
	if !s.Running {
		soak = math.Max(0, (c.trueCoolant-amb)*0.2)
	}
	s.Intake = approach(s.Intake, amb+soak, 20*time.Second, dt)
	s.Oil = approach(s.Oil, c.trueCoolant+0.05*s.Load, 2*time.Minute, dt)
	if s.Running {
		cat := 250 + 4*s.Load + 0.04*s.RPM + 150*c.sev(Misfire)
		if s.Load < 12 && s.Speed > 20 { // fuel cut cools it
			cat = 300
		}
		s.Catalyst = approach(s.Catalyst, cat, 40*time.Second, dt)
	} else {
		s.Catalyst = approach(s.Catalyst, amb, 5*time.Minute, dt)
	}
}

// fuelling runs the fuel control: open or closed loop, trims, O2 sensors,
// fuel flow.
func (c *Car) fuelling(dt time.Duration, sec float64) {
	s := &c.s
	if !s.Running {
		s.FuelSystem, s.FuelRate, s.STFT = 0, 0, 0
		s.O2Active = false
		s.O2Up = approach(s.O2Up, 0.0, 30*time.Second, dt)
		s.O2Down = approach(s.O2Down, 0.0, 30*time.Second, dt)
		c.closedLoop = 0
		return
	}
	heaterDelay := 20*time.Second + time.Duration(float64(8*time.Minute)*c.sev(O2HeaterOpen))
	s.O2Active = s.RunTime > heaterDelay
	decelCut := s.Load < 12 && s.Speed > 20
	switch {
	case !s.O2Active || c.trueCoolant < 45 || s.RunTime < 30*time.Second:
		s.FuelSystem = obd.FuelOpenLoopCold
	case decelCut:
		s.FuelSystem = obd.FuelOpenLoopLoad
	default:
		s.FuelSystem = obd.FuelClosedLoop
	}
	// The fuel the base map gets wrong, in %: positive means lean.
	leak := 2.0 * c.sev(VacuumLeak) // g/s of air the MAF does not see
	err := 100*leak/(s.MAF+leak+0.01) + 4*c.sev(Misfire) + 0.6
	afr := 14.7
	switch s.FuelSystem {
	case obd.FuelClosedLoop:
		c.closedLoop += dt
		// The long-term trim learns the steady part of the short-term one.
		c.stableTrim = approach(c.stableTrim, err, 90*time.Second, dt)
		s.LTFT = clamp(c.stableTrim, -25, 25)
		slow := c.sev(O2SlowResponse)
		c.o2Phase += sec * 1.1 * (1 - 0.75*slow)
		wave := math.Sin(2 * math.Pi * c.o2Phase)
		s.STFT = clamp(err-s.LTFT+2.2*wave+c.noise(0.4), -25, 25)
		s.O2Up = clamp(0.45-0.4*(1-0.5*slow)*wave+c.noise(0.02), 0.02, 1.0)
	case obd.FuelOpenLoopCold:
		afr = 13.0 // warm-up enrichment
		s.STFT = 0
		if s.O2Active {
			s.O2Up = approach(s.O2Up, 0.78, time.Second, dt)
		} else {
			s.O2Up = approach(s.O2Up, 0.45, 5*time.Second, dt)
		}
	default: // fuel cut
		s.STFT = 0
		s.O2Up = approach(s.O2Up, 0.05, 200*time.Millisecond, dt)
	}
	// Downstream: a working catalyst keeps it steady and rich-leaning; a
	// worn one lets the upstream switching through.
	worn := c.sev(CatalystWorn)
	steady := 0.68 + 0.03*math.Sin(2*math.Pi*float64(s.Time)/float64(10*time.Second)) + c.noise(0.01)
	if !s.O2Active || s.FuelSystem != obd.FuelClosedLoop {
		steady = s.O2Up
	}
	s.O2Down = clamp((1-worn)*steady+worn*s.O2Up, 0.02, 1.0)
	// What the ECU's comparison of the two finds: a good catalyst's
	// downstream sensor switches a little, a dead one's as the upstream.
	c.catalystSwitchRatio = healthyCatalyst + (1-healthyCatalyst)*worn

	if decelCut {
		s.FuelRate = 0
	} else {
		s.FuelRate = s.MAF / afr * 3600 / 745 // g/s of fuel → l/h
	}
	c.fuelLitres = math.Max(0, c.fuelLitres-s.FuelRate*sec/3600)
	s.FuelLevel = clamp(100*c.fuelLitres/c.spec.TankLitres, 0, 100)
}

// restingVoltage is the open-circuit voltage for the state of charge.
func (c *Car) restingVoltage() float64 {
	return 11.8 + 0.9*c.soc - 0.55*c.sev(WeakBattery)
}

// electrics moves the battery and the charging system.
func (c *Car) electrics(dt time.Duration, sec float64) {
	s := &c.s
	weak := c.sev(WeakBattery)
	rest := c.restingVoltage()
	var current float64 // into the battery, A
	switch {
	case s.Cranking:
		r := 0.012 + 0.02*weak // internal resistance rises as it weakens
		s.Battery = rest - 150*r + c.noise(0.05)
		current = -150
	case s.Running || s.Ignition && c.spec.Powertrain == Hybrid:
		// A hybrid's DC-DC converter charges the 12 V battery whether or
		// not the engine runs.
		reg := 14.3 - 0.002*s.Load - 1.9*c.sev(AlternatorFailing)
		s.Battery = math.Max(reg, rest-0.4) + c.noise(0.03)
		current = (s.Battery - rest - 0.3) * 40 // charging above rest, draining below
		current -= 2                            // the car's own load beyond what the alternator covers
	case s.Ignition:
		s.Battery = rest - 0.12 + c.noise(0.01)
		current = -8
	default:
		s.Battery = rest + c.noise(0.005)
		current = -0.03 // parked drain
	}
	c.soc = clamp(c.soc+current*sec/3600/(c.spec.BatteryAh*(1-0.5*weak)), 0.05, 1)
	if s.Ignition {
		s.ModuleVoltage = s.Battery - 0.15
	} else {
		s.ModuleVoltage = 0
	}
}

// evap runs the evaporative system test: after a cold start, two minutes
// in, purge pulls a vacuum on the tank and the ECU watches it hold.
func (c *Car) evap(dt time.Duration) {
	s := &c.s
	if !s.Running {
		s.EvapPressure = approach(s.EvapPressure, 0, 10*time.Second, dt)
		return
	}
	switch c.evapState {
	case 0:
		s.EvapPressure = c.noise(20)
		if c.coldStart && s.RunTime > 2*time.Minute && s.Speed < 80 {
			c.evapState, c.evapLeft = 1, 15*time.Second
		}
	case 1: // pulling vacuum
		s.EvapPressure = approach(s.EvapPressure, -1600, 4*time.Second, dt)
		if c.evapLeft -= dt; c.evapLeft <= 0 {
			c.evapState, c.evapLeft, c.evapHeld = 2, 40*time.Second, 0
		}
	case 2: // sealed: a tight system holds, a leak lets it rise
		leak := c.sev(EvapLeak)
		s.EvapPressure = approach(s.EvapPressure, -1500*(1-leak), time.Duration(1+60*(1-leak))*time.Second, dt) + c.noise(5)
		c.evapHeld += dt
		if c.evapLeft -= dt; c.evapLeft <= 0 {
			c.evapState = 3
			c.complete["evaporative_system"] = true
		}
	default:
		s.EvapPressure = approach(s.EvapPressure, 0, 5*time.Second, dt)
	}
}

func (c *Car) evapTestRunning() bool { return c.evapState == 2 }

// catalystTestRunning: the catalyst check runs in warm, steady driving.
func (c *Car) catalystTestRunning() bool {
	s := &c.s
	return s.Running && s.FuelSystem == obd.FuelClosedLoop && c.trueCoolant > 70 && s.Speed > 40
}

// o2Period is the upstream sensor's switching period in seconds.
func (c *Car) o2Period() float64 { return 1 / (1.1 * (1 - 0.75*c.sev(O2SlowResponse))) }

// misfireRate is the share of combustion events lost.
func (c *Car) misfireRate() float64 { return 0.1 * c.sev(Misfire) }

// counters moves the odometer and the J1979 counters.
func (c *Car) counters(dt time.Duration, sec float64) {
	s := &c.s
	km := s.Speed * sec / 3600
	s.Odometer += km
	s.DistanceSinceClear += km
	if s.MIL {
		s.DistanceWithMIL += km
	}
	if s.Running {
		s.RunTime += dt
		s.TimeSinceClear += dt
		if s.MIL {
			s.TimeWithMIL += dt
		}
		// A warm-up: coolant up at least 22 °C since the start and past 70 °C.
		if !c.warmedUp && c.trueCoolant-c.startCoolant >= 22 && c.trueCoolant >= 70 {
			c.warmedUp = true
			s.WarmupsSinceClear = min(s.WarmupsSinceClear+1, 255)
		}
	}
}

// diagnose runs the ECU's checks and moves codes from pending to confirmed.
func (c *Car) diagnose(dt time.Duration) {
	s := &c.s
	for _, d := range c.diags {
		if !d.failing(c) {
			d.failedFor = 0
			continue
		}
		d.failedFor += dt
		c.progress[d.monitor] += dt // a failing test still completes
		pending := slices.Contains(s.Pending, d.code)
		stored := slices.Contains(s.Stored, d.code)
		if !pending && !stored && d.failedFor >= d.detect {
			s.Pending = append(s.Pending, d.code)
			pending = true
		}
		if pending {
			d.total += dt
		}
		if pending && !stored && d.total >= d.confirm {
			s.Stored = append(s.Stored, d.code)
			if !slices.Contains(s.Permanent, d.code) {
				s.Permanent = append(s.Permanent, d.code)
			}
			if d.mil {
				s.MIL = true
			}
			if s.Freeze == nil {
				f := s.clone()
				f.Freeze = nil
				s.Freeze = &Freeze{DTC: d.code, State: f}
			}
		}
	}
	// A permanent code goes once its fault is gone and its monitor has run
	// to completion since codes were cleared.
	kept := s.Permanent[:0]
	for _, code := range s.Permanent {
		if slices.Contains(s.Stored, code) {
			kept = append(kept, code)
			continue
		}
		d := c.diagFor(code)
		if d != nil && (d.failedFor > 0 || !c.complete[d.monitor]) {
			kept = append(kept, code)
		}
	}
	s.Permanent = kept
}

func (c *Car) diagFor(code obd.DTC) *diagnostic {
	for _, d := range c.diags {
		if d.code == code {
			return d
		}
	}
	return nil
}
