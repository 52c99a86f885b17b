package ecu

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
)

func scenario(t *testing.T, name string) car.Scenario {
	sc, err := car.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The engine and transmission modules answer a full scan over ISO-TP with
// the car's own state: values, codes, the freeze frame and service 09.
func TestScanOverCAN(t *testing.T) {
	for _, ext := range []bool{false, true} {
		c := car.New(car.DefaultSpec(), scenario(t, "overheat"), 11)
		clock := car.ManualClock()
		clock.Set(12 * time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		bus := isotp.NewMemBus()
		wait, err := ServeCAN(ctx, OnMemBus(bus), Modules(c, clock, Options{Extended: ext}))
		if err != nil {
			t.Fatal(err)
		}
		// A generous P2: the modules answer within 50 ms, but a loaded
		// machine under -race may not run them that soon.
		tr := isotp.NewOBD(bus.Port(nil), isotp.OBDOptions{Extended: ext, P2: time.Second})
		r, err := obd.Scan(ctx, obd.NewClient(tr))
		cancel()
		wait()
		if err != nil {
			t.Fatal(err)
		}
		s := c.State()
		if r.VIN != car.DefaultSpec().VIN || len(r.ECUs) != 2 || r.ECUs[0].Name != "ECM-EngineControl" || r.ECUs[1].Name != "TCM-TransmissionCtl" {
			t.Fatalf("extended=%v: vin %q, ecus %+v", ext, r.VIN, r.ECUs)
		}
		if len(r.DTCs.Stored) != 1 || r.DTCs.Stored[0].Code != car.P0217 || !r.MIL || len(r.FreezeFrames) != 1 || r.FreezeFrames[0].DTC != car.P0217 {
			t.Fatalf("extended=%v: codes %+v, MIL %v, freeze %+v", ext, r.DTCs, r.MIL, r.FreezeFrames)
		}
		if len(r.Problems) > 0 {
			t.Errorf("extended=%v: problems %+v", ext, r.Problems)
		}
		got := map[string]float64{}
		for _, v := range r.Values {
			if v.ECU != r.ECUs[0].Address {
				continue // the engine module's values (the transmission's speed runs 2 % fast)
			}
			for _, m := range v.Signals {
				got[m.Signal] = m.Value
			}
		}
		for sig, want := range map[string]float64{
			"Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": s.Coolant,
			"Vehicle.Speed":                               math.Round(s.Speed),
			"Vehicle.TraveledDistance":                    math.Floor(s.Odometer*10) / 10,
			"Vehicle.Powertrain.FuelSystem.RelativeLevel": s.FuelLevel,
		} {
			if math.Abs(got[sig]-want) > 1 {
				t.Errorf("extended=%v: %s = %v, the car has %v", ext, sig, got[sig], want)
			}
		}
	}
}

// On the older protocols the same modules answer in the older layouts, and
// service 04 clears the car's codes.
func TestLegacyAndClear(t *testing.T) {
	c := car.New(car.DefaultSpec(), scenario(t, "misfire"), 4)
	clock := car.ManualClock()
	clock.Set(24 * time.Minute) // still driving: a parked car's modules sleep
	cl := obd.NewClient(Direct(Modules(c, clock, Options{Legacy: true})))
	ctx := context.Background()
	codes, err := cl.DTCs(ctx, obd.ServiceStoredDTCs)
	if err != nil || len(codes) != 2 || codes[0].ECU != "10" {
		t.Fatalf("stored codes %+v, %v", codes, err)
	}
	vin, err := cl.VIN(ctx)
	if err != nil || vin != car.DefaultSpec().VIN {
		t.Fatalf("VIN %q %v", vin, err)
	}
	if err := cl.ClearDTCs(ctx, true); err != nil {
		t.Fatal(err)
	}
	if s := c.State(); len(s.Stored) != 0 || s.MIL {
		t.Fatalf("after service 04: %v MIL %v", s.Stored, s.MIL)
	}
	st, err := cl.Status(ctx)
	if err != nil || st["10"].MIL || st["10"].Ready() {
		t.Fatalf("status after clearing %+v %v", st["10"], err)
	}
}

func TestResponseTimes(t *testing.T) {
	c := car.New(car.DefaultSpec(), scenario(t, "healthy"), 1)
	clock := car.ManualClock()
	clock.Set(time.Minute) // the ignition is on
	ms := Modules(c, clock, Options{Seed: 3})
	for _, m := range ms {
		var sum time.Duration
		for i := 0; i < 1000; i++ {
			d := m.ResponseTime()
			if d < 2*time.Millisecond || d > 50*time.Millisecond {
				t.Fatalf("%s answered in %v", m.Addr, d)
			}
			sum += d
		}
		if avg := sum / 1000; avg < m.Latency*8/10 || avg > m.Latency*12/10 {
			t.Errorf("%s: average %v, latency %v", m.Addr, avg, m.Latency)
		}
	}
	if got := ms[0].Answer(obd.Request{Service: 0x08, Data: []byte{0x00}}); got != nil {
		t.Errorf("service 08 asked of every ECU: % X, want silence", got)
	}
	unknown := ms[0].Answer(obd.Request{Service: 0x08, Data: []byte{0x00}, ECU: ms[0].Addr})
	if len(unknown) != 1 || !slices.Equal(unknown[0], []byte{0x7F, 0x08, 0x11}) {
		t.Errorf("service 08 asked of the engine: % X", unknown)
	}
}

// A whole scan of both modules over the in-process bus with the default
// response timeout: what a user of `pitwall scan` waits for, less the
// bus's own timing.
func BenchmarkScanOverCAN(b *testing.B) {
	c := car.New(car.DefaultSpec(), car.Scenario{}, 11)
	clock := car.ManualClock()
	clock.Set(12 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := isotp.NewMemBus()
	if _, err := ServeCAN(ctx, OnMemBus(bus), Modules(c, clock, Options{})); err != nil {
		b.Fatal(err)
	}
	tr := isotp.NewOBD(bus.Port(nil), isotp.OBDOptions{})
	for b.Loop() {
		if _, err := obd.Scan(ctx, obd.NewClient(tr)); err != nil {
			b.Fatal(err)
		}
	}
}
