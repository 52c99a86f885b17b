package car

import (
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// The readiness monitors of the simulated engine (spark ignition; heated
// catalyst, secondary air and A/C refrigerant are not fitted).
var (
	continuousMonitors = []string{"misfire", "fuel_system", "components"}
	cycleMonitors      = []string{"catalyst", "evaporative_system", "oxygen_sensor", "oxygen_sensor_heater", "egr_vvt"}
	unfittedMonitors   = []string{"heated_catalyst", "secondary_air", "ac_refrigerant"}
	monitorNames       = append(append([]string(nil), continuousMonitors...), cycleMonitors...)
)

// monitorNeeds is how long each monitor's conditions must hold before its
// test has run; the evaporative test completes on its own (see evap).
var monitorNeeds = map[string]time.Duration{
	"misfire":              30 * time.Second,
	"fuel_system":          30 * time.Second,
	"components":           30 * time.Second,
	"oxygen_sensor_heater": 30 * time.Second,
	"oxygen_sensor":        2 * time.Minute,
	"catalyst":             3 * time.Minute,
	"egr_vvt":              2 * time.Minute,
}

// monitorTests advances the tests whose conditions hold for one step.
func (c *Car) monitorTests() {
	s := &c.s
	if s.Running {
		cond := map[string]bool{
			"misfire":              true,
			"fuel_system":          true,
			"components":           true,
			"oxygen_sensor_heater": s.O2Active,
			"oxygen_sensor":        s.FuelSystem == obd.FuelClosedLoop,
			"catalyst":             c.catalystTestRunning(),
			"egr_vvt":              s.Speed > 50 && c.trueCoolant > 70,
		}
		for m, ok := range cond {
			if ok && !c.complete[m] {
				c.progress[m] += Step
				if c.progress[m] >= monitorNeeds[m] {
					c.complete[m] = true
				}
			}
		}
	}
}

// updateMonitors rebuilds the readiness list.
func (c *Car) updateMonitors() {
	s := &c.s
	s.Monitors = s.Monitors[:0]
	for _, m := range monitorNames {
		s.Monitors = append(s.Monitors, obd.Monitor{Name: m, Supported: true, Complete: c.complete[m]})
	}
	for _, m := range unfittedMonitors {
		s.Monitors = append(s.Monitors, obd.Monitor{Name: m, Supported: false, Complete: true})
	}
}
