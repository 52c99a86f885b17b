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

// runEngine turns the key when the engine is off and ends cranking.
func (c *Car) runEngine(dt time.Duration) {
	s := &c.s
	switch {
	case s.Running:
	case s.Cranking:
		if c.crankLeft -= dt; c.crankLeft <= 0 {
			s.Cranking, s.Running = false, true
			s.RunTime = 0
			c.startCoolant = c.trueCoolant
			c.coldStart = c.trueCoolant < 35
			c.warmedUp = false
			c.evapState = 0
			c.rpm = 500
			c.newDriveCycle()
			for _, m := range cycleMonitors {
				c.progress[m] = 0
			}
		}
	default:
		s.Ignition, s.Cranking = true, true
		c.crankLeft = 800*time.Millisecond + time.Duration(float64(time.Second)*c.sev(WeakBattery))
	}
}
