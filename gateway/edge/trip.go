package edge

import (
	"math"
	"time"
)

// moving is the speed above which the car is driving, km/h: a hybrid
// drives on electricity with the engine off.
const moving = 2.0

// engineRuns says whether the engine runs, from its speed and whether it
// ran at the last read: it starts above 300 rpm and stops below 100, so
// a crank or a stumble does not flicker.
func engineRuns(ran bool, rpm float64) bool {
	if ran {
		return rpm >= 100
	}
	return rpm > 300
}

// trip accumulates one drive.
type trip struct {
	id         uint64
	start      time.Time
	end        time.Time // set when it ends
	last       time.Time // the last read that found the car awake
	distance   float64   // km, from speed
	fuel       float64   // litres
	maxCoolant float64
	startOdo   float64
	odo        float64

	engineStops int           // stops the engine came back from within the trip
	engineOff   time.Duration // time the engine was off within the trip
	offAt       time.Time     // the engine is off since; zero while it runs
	stillAt     time.Time     // standing with the engine off since; zero otherwise
}

// trips tells the trip's state from the engine's. A trip starts when the
// engine starts or the car moves; it ends when the ignition goes off (the
// ECUs fall silent), or once the car has stood still with the engine off
// for endAfter, and then it ends when the standstill began. An engine that
// stops and starts again within a trip (stop-start at a light, a hybrid
// on electricity) is counted in the trip, not a trip of its own.
type trips struct {
	endAfter time.Duration
	cur      *trip
	seq      uint64
}

// observe takes what one read found at now: whether the engine runs and
// the vehicle speed (NaN when not read). It returns the trip that started
// or ended with this read, if any.
func (ts *trips) observe(now time.Time, engine bool, speed float64) (started, ended *trip) {
	move := !math.IsNaN(speed) && speed >= moving
	t := ts.cur
	if t == nil {
		if !engine && !move {
			return nil, nil
		}
		ts.seq++
		t = &trip{id: uint64(now.UnixMilli())<<8 | ts.seq&0xFF, start: now, last: now, startOdo: math.NaN()}
		if !engine {
			t.offAt = now
		}
		ts.cur = t
		return t, nil
	}
	switch {
	case engine && !t.offAt.IsZero():
		t.engineStops++
		t.engineOff += now.Sub(t.offAt)
		t.offAt = time.Time{}
	case !engine && t.offAt.IsZero():
		t.offAt = now
	}
	if engine || move {
		t.stillAt = time.Time{}
		return nil, nil
	}
	if t.stillAt.IsZero() {
		t.stillAt = now
	}
	if now.Sub(t.stillAt) < ts.endAfter {
		return nil, nil
	}
	// Stood still with the engine off long enough: the trip ended when
	// the car came to rest.
	return nil, ts.finish(t.stillAt)
}

// ignitionOff ends the trip because the car fell silent: it ended at the
// last read that found the car awake.
func (ts *trips) ignitionOff() *trip {
	if ts.cur == nil {
		return nil
	}
	return ts.finish(ts.cur.last)
}

func (ts *trips) finish(end time.Time) *trip {
	t := ts.cur
	ts.cur = nil
	if !t.offAt.IsZero() && end.After(t.offAt) {
		t.engineOff += end.Sub(t.offAt)
	}
	t.end = end
	return t
}

// step accumulates one read's distance, fuel and temperature into the
// trip (NaN for what was not read).
func (t *trip) step(now time.Time, speed, coolant, fuelRate, maf, odo float64) {
	dt := now.Sub(t.last).Hours()
	t.last = now
	if !math.IsNaN(speed) {
		t.distance += speed * dt
	}
	switch {
	case !math.IsNaN(fuelRate):
		t.fuel += fuelRate * dt
	case !math.IsNaN(maf):
		t.fuel += maf / 14.7 * 3600 / 745 * dt // petrol: air/fuel 14.7, 745 g/l
	}
	if !math.IsNaN(coolant) {
		t.maxCoolant = math.Max(t.maxCoolant, coolant)
	}
	if !math.IsNaN(odo) {
		if math.IsNaN(t.startOdo) {
			t.startOdo = odo
		}
		t.odo = odo
	}
}
