package rules_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/rules"
)

// A simulated car whose third cylinder starts to misfire, read as the
// agent reads it (service 06 every five minutes of driving, the codes
// every thirty seconds), is warned by the built-in pack from service 06,
// naming the cylinder, before the engine ECU sets P0303 even as pending.
func TestMisfireWarnedBeforeTheCode(t *testing.T) {
	sc, err := car.Load("misfire-developing")
	if err != nil {
		t.Fatal(err)
	}
	c := car.New(car.DefaultSpec(), sc, 2)
	clock := car.ManualClock()
	client := obd.NewClient(ecu.Direct(ecu.Modules(c, clock, ecu.Options{})))
	engine := rules.NewEngine(rules.Builtin())
	ctx := context.Background()
	base := time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)
	var warned, coded time.Duration
	var summary string
	awake := false
	var testsAt time.Duration
	for at := time.Duration(0); at < 6*time.Hour && coded == 0; at += 30 * time.Second {
		clock.Set(at)
		c.AdvanceTo(at)
		now := base.Add(at)
		if !c.Ignition() {
			awake = false
			continue
		}
		if !awake {
			awake, testsAt = true, at+15*time.Second
			client.Forget()
		}
		if at >= testsAt {
			testsAt = at + 5*time.Minute
			res, err := client.MonitorTests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var samples []rules.Sample
			for _, r := range res {
				if obd.IsMonitorSignal(r.Signal) {
					samples = append(samples, rules.Sample{Signal: r.Signal, Time: now, Value: r.Value})
				}
			}
			for _, a := range engine.Samples("car-m", "", samples) {
				if a.Rule == "misfire-rising" && a.State == rules.Firing && warned == 0 {
					warned, summary = at, a.Summary
				}
			}
		}
		stored, err1 := client.DTCs(ctx, obd.ServiceStoredDTCs)
		pending, err2 := client.DTCs(ctx, obd.ServicePendingDTCs)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		var codes []string
		for _, x := range append(stored, pending...) {
			codes = append(codes, x.Code.String())
		}
		engine.Codes("car-m", "", rules.Codes{Time: now, Stored: codes})
		if slices.Contains(codes, "P0303") {
			coded = at
		}
	}
	if warned == 0 || coded == 0 || warned >= coded {
		t.Fatalf("misfire-rising fired at %v, P0303 appeared at %v; want the warning first", warned, coded)
	}
	if !strings.Contains(summary, "Cylinder 3 ") || strings.Contains(summary, "Cylinder 1 ") {
		t.Errorf("the warning does not name cylinder 3 alone: %q", summary)
	}
	t.Logf("warned %v into the drives, P0303 pending %v in (%v earlier): %s", warned, coded, coded-warned, summary)
}
