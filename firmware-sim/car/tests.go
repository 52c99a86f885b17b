package car

import (
	"math"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// testResults is what the engine ECU's on-board monitors measured, as
// service 06 reports it.
type testResults struct {
	misfireNow  []float64 // misfires per cylinder this driving cycle
	misfireLast []float64 // per cylinder, the last driving cycle
	misfireAvg  []float64 // per cylinder, weighted average of the last ten cycles
	cycleRevs   float64   // crankshaft revolutions this driving cycle

	catRatio float64 // catalyst monitor: downstream over upstream switching

	o2Lo, o2Hi         float64       // upstream O2 voltage range in this cycle's test
	o2LoLast, o2HiLast float64       // and in the last cycle's
	o2Tested           time.Duration // closed-loop time this cycle
	o2Period           float64       // the upstream sensor's last measured period, s
}

// healthyCatalyst is the switching ratio of a good catalyst: the
// downstream sensor barely moves.
const healthyCatalyst = 0.08

func newTestResults(cylinders int) testResults {
	return testResults{misfireNow: make([]float64, cylinders), misfireLast: make([]float64, cylinders), misfireAvg: make([]float64, cylinders),
		catRatio: healthyCatalyst, o2Lo: 1, o2LoLast: 0.08, o2HiLast: 0.82, o2Period: 0.91}
}

// cylinderMisfire is the share of cylinder n's combustion events lost.
func (c *Car) cylinderMisfire(n int) float64 {
	share := 0.0
	for _, f := range c.faults {
		if f.Kind == Misfire && f.Cylinder == n {
			share = math.Max(share, 0.1*float64(c.spec.Cylinders)*f.severity(c.s.Time))
		}
	}
	return math.Min(share, 1)
}

// monitorResults advances what the monitors measure, one step.
func (c *Car) monitorResults(dt time.Duration) {
	s, r := &c.s, &c.tests
	if !s.Running {
		return
	}
	revs := s.RPM / 60 * dt.Seconds()
	r.cycleRevs += revs
	for i := range r.misfireNow {
		// Each cylinder fires once every two revolutions.
		r.misfireNow[i] += revs / 2 * c.cylinderMisfire(i+1)
	}
	if c.catalystTestRunning() {
		r.catRatio = approach(r.catRatio, c.catalystSwitchRatio, 30*time.Second, dt)
	}
	if s.FuelSystem == obd.FuelClosedLoop && s.O2Active {
		r.o2Tested += dt
		r.o2Lo, r.o2Hi = math.Min(r.o2Lo, s.O2Up), math.Max(r.o2Hi, s.O2Up)
		r.o2Period = c.o2Period()
	}
}

// newDriveCycle closes the last driving cycle's counts: the ECU folds them
// into its ten-cycle average (weight 0.1) and starts counting afresh.
func (c *Car) newDriveCycle() {
	r := &c.tests
	for i := range r.misfireNow {
		r.misfireAvg[i] = 0.9*r.misfireAvg[i] + 0.1*r.misfireNow[i]
		r.misfireLast[i], r.misfireNow[i] = r.misfireNow[i], 0
	}
	r.cycleRevs = 0
	if r.o2Tested > 0 {
		r.o2LoLast, r.o2HiLast = r.o2Lo, r.o2Hi
	}
	r.o2Lo, r.o2Hi, r.o2Tested = 1, 0, 0
}

// clearTests is service 04's reset of the test results.
func (c *Car) clearTests() {
	c.tests = newTestResults(c.spec.Cylinders)
	c.tests.catRatio, c.tests.o2LoLast, c.tests.o2HiLast, c.tests.o2Period = 0, 0, 0, 0
}

// fillTests puts the results in a state as the ECU reports them.
func (c *Car) fillTests(s *State) {
	r := &c.tests
	s.MisfireCount = make([]int, len(r.misfireNow))
	s.MisfireAverage = make([]float64, len(r.misfireNow))
	for i := range r.misfireNow {
		// This cycle's count once it has run a thousand revolutions, the
		// last cycle's before.
		n := r.misfireLast[i]
		if r.cycleRevs >= 1000 {
			n = r.misfireNow[i]
		}
		s.MisfireCount[i] = int(n)
		s.MisfireAverage[i] = math.Round(r.misfireAvg[i])
	}
	s.CatalystRatio = r.catRatio
	s.O2MinVoltage, s.O2MaxVoltage = r.o2LoLast, r.o2HiLast
	if r.o2Tested >= 30*time.Second {
		s.O2MinVoltage, s.O2MaxVoltage = r.o2Lo, r.o2Hi
	}
	s.O2Period = r.o2Period
}
