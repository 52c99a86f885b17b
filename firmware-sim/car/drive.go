package car

import "time"

// Phase is one part of a drive: what the driver does and for how long.
type Phase struct {
	Kind string // parked, idle, city or highway
	For  time.Duration
}

// Phase kinds.
const (
	Parked  = "parked"  // ignition off
	Idle    = "idle"    // engine running, standing
	City    = "city"    // stop and go up to about 55 km/h
	Highway = "highway" // 100 to 125 km/h
)

// DefaultDrive is the plan when a scenario gives none: a commute that
// starts cold at once, town, motorway, town, and a park long enough to
// cool down. It repeats.
var DefaultDrive = []Phase{
	{Idle, 40 * time.Second},
	{City, 8 * time.Minute},
	{Highway, 12 * time.Minute},
	{City, 4 * time.Minute},
	{Idle, 30 * time.Second},
	{Parked, 45 * time.Minute},
}

// drive plays the driver: phases in turn, the ignition, the target speed.
func (c *Car) drive(dt time.Duration) {
	s := &c.s
	c.phaseLeft -= dt
	if c.phaseLeft <= 0 {
		next := c.plan[(c.phaseIdx+1)%len(c.plan)]
		if next.Kind == Parked && s.Speed > 0.5 {
			c.target = 0 // pull over first
		} else {
			c.phaseIdx = (c.phaseIdx + 1) % len(c.plan)
			c.phaseLeft = next.For
			s.Phase = next.Kind
			c.holdLeft = 0
		}
	}
	if s.Phase == Parked {
		if s.Ignition {
			s.Ignition, s.Running, s.Cranking = false, false, false
			c.autoStopped = false
		}
		c.target = 0
		return
	}
	c.runEngine(dt)
	switch s.Phase {
	case Idle:
		c.target = 0
	case City:
		if c.holdLeft -= dt; c.holdLeft <= 0 {
			if c.target == 0 {
				c.target = 30 + 25*c.rng.Float64()
				c.holdLeft = time.Duration(15+25*c.rng.Float64()) * time.Second
			} else {
				c.target = 0
				c.holdLeft = time.Duration(8+12*c.rng.Float64()) * time.Second
			}
		}
	case Highway:
		if c.holdLeft -= dt; c.holdLeft <= 0 {
			c.target = 100 + 25*c.rng.Float64()
			c.holdLeft = time.Duration(30+30*c.rng.Float64()) * time.Second
		}
	}
}

// demand is the acceleration the driver asks for, m/s², capped at upTo.
func (c *Car) demand(upTo float64) float64 {
	return clamp((c.target-c.s.Speed)*0.25, -3.0, upTo)
}

// runEngine turns the key when the engine is off and ends cranking; on a
// stop-start or hybrid car it also stops the engine and starts it again
// within the drive.
func (c *Car) runEngine(dt time.Duration) {
	s := &c.s
	switch {
	case s.Running:
		c.sinceStart += dt
		if c.autoStop() {
			s.Running, c.autoStopped, c.rpm = false, true, 0
			s.AutoStops++
		}
	case s.Cranking:
		if c.crankLeft -= dt; c.crankLeft <= 0 {
			s.Cranking, s.Running = false, true
			c.sinceStart = 0
			c.rpm = 500
			if c.autoStopped {
				c.autoStopped = false // a restart within the drive
				s.AutoRestarts++
				return
			}
			s.RunTime = 0
			c.startCoolant = c.trueCoolant
			c.coldStart = c.trueCoolant < 35
			c.warmedUp = false
			c.evapState = 0
			c.newDriveCycle()
			s.AutoStops, s.AutoRestarts = 0, 0
			for _, m := range cycleMonitors {
				c.progress[m] = 0
			}
		}
	case c.autoStopped:
		if !c.autoRestart() {
			return
		}
		if c.spec.Powertrain == Hybrid {
			// The motor-generator spins the engine up at once.
			s.Running, c.autoStopped, c.sinceStart, c.rpm = true, false, 0, c.spec.IdleRPM
			s.AutoRestarts++
			return
		}
		s.Cranking, c.crankLeft = true, 350*time.Millisecond
	default:
		s.Ignition, s.Cranking = true, true
		c.crankLeft = 800*time.Millisecond + time.Duration(float64(time.Second)*c.sev(WeakBattery))
	}
}

// autoStop says whether stop-start or the hybrid system stops the engine
// now: never in the first minute after the key start (the warm-up run),
// nor within five seconds of its last start.
func (c *Car) autoStop() bool {
	s := &c.s
	if c.spec.Powertrain != StopStart && c.spec.Powertrain != Hybrid || s.RunTime < time.Minute || c.sinceStart < 5*time.Second {
		return false
	}
	standing := s.Speed < 0.5 && c.target == 0
	if c.spec.Powertrain == StopStart {
		return standing && c.soc > 0.6
	}
	return standing || s.Speed < 50 && c.demand(1.8) < 0.3
}

// autoRestart says whether an auto-stopped engine starts again now.
func (c *Car) autoRestart() bool {
	s := &c.s
	if c.spec.Powertrain == StopStart {
		return c.target > 0 || c.soc < 0.55
	}
	return c.demand(1.8) > 1.0 || s.Speed > 55 || c.soc < 0.5
}
