package car

import (
	"sync"
	"time"
)

// Clock maps wall time to simulated time, running Speed times as fast.
// A Clock with a zero start is manual: it only moves with Set (tests).
type Clock struct {
	mu     sync.Mutex
	start  time.Time
	speed  float64
	manual time.Duration
	now    func() time.Time
}

// NewClock starts a clock now at the given speed (1 is real time).
func NewClock(speed float64) *Clock {
	if speed <= 0 {
		speed = 1
	}
	return &Clock{start: time.Now(), speed: speed, now: time.Now}
}

// ManualClock returns a clock that moves only when Set is called.
func ManualClock() *Clock { return &Clock{} }

// Speed is how many simulated seconds pass per wall second.
func (k *Clock) Speed() float64 {
	if k.start.IsZero() {
		return 1
	}
	return k.speed
}

// Sim is the simulated time since the clock started.
func (k *Clock) Sim() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.start.IsZero() {
		return k.manual
	}
	return time.Duration(float64(k.now().Sub(k.start)) * k.speed)
}

// Set moves a manual clock to t.
func (k *Clock) Set(t time.Duration) {
	k.mu.Lock()
	k.manual = t
	k.mu.Unlock()
}

// Wall converts a simulated duration to wall time at the clock's speed.
func (k *Clock) Wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) / k.Speed())
}
