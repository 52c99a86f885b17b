package ingest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/testserver"
)

// Simulated cars whose engine and transmission modules both answer
// vehicle speed, published through real Mosquitto into real InfluxDB: the
// values InfluxDB holds, one per device, signal and instant, are exactly
// what the fleet and the agent counted as sent and what the ingest counted
// as stored; the transmission's speed, where it differs, is kept under its
// own name.
func TestOneValuePerSignalAndInstant(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("uses Mosquitto and InfluxDB")
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	url := testserver.InfluxURL(t)
	for _, through := range []string{"fleet", "agent"} {
		t.Run(through, func(t *testing.T) {
			bucket := fmt.Sprintf("pitwall_distinct_%s_%d", through, time.Now().UnixNano())
			sr, err := series.OpenInflux(context.Background(), series.InfluxOptions{URL: url, Bucket: bucket})
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, testConfig(b.URL()), sr)
			prefix := "distinct" + through
			// 20 simulated minutes: town, then the motorway, where the
			// transmission's speed runs two or more km/h above the engine's.
			cfg := fleet.Config{Broker: b.URL(), Vehicles: 3, Rate: 5, Duration: 8 * time.Second, Scenario: "healthy", Speed: 150, Prefix: prefix}
			var res fleet.Result
			if through == "agent" {
				cfg.Vehicles, cfg.Duration = 2, 12*time.Second
				res, err = fleet.RunThroughAgent(context.Background(), cfg)
			} else {
				res, err = fleet.Run(context.Background(), cfg)
			}
			if err != nil || res.Errors > 0 || res.Samples == 0 {
				t.Fatalf("%s: %+v, %v", through, res, err)
			}
			// Wait until the ingest has stored what was sent, or stopped
			// storing (then the counts below say what went wrong).
			last, still := int64(-1), 0
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && still < 10; time.Sleep(100 * time.Millisecond) {
				n := int64(r.in.Stats().Samples)
				if n >= res.Samples && still == 0 {
					still = 7 // stored: a little longer for anything counted twice
				}
				if n == last {
					still++
				} else if n < res.Samples {
					still = 0
				}
				last = n
			}
			stored := int64(r.in.Stats().Samples)
			metric := int64(testutil.ToFloat64(r.in.metrics.samples))
			inInflux := count(t, sr, prefix, cfg.Vehicles)
			if stored != res.Samples || metric != res.Samples || inInflux != res.Samples {
				t.Fatalf("%s counted %d samples sent, the ingest %d stored (metric %d), InfluxDB holds %d distinct (device, signal, instant)",
					through, res.Samples, stored, metric, inInflux)
			}
			var second int
			for i := range cfg.Vehicles {
				vals, err := sr.Range(context.Background(), series.Query{Device: fmt.Sprintf("%s-%05d", prefix, i+1),
					Signals: []string{obd.SecondarySignal("Vehicle.Speed")}, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Minute)})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range vals {
					second += len(s.Values)
				}
			}
			if second == 0 {
				t.Errorf("%s: no transmission speed kept, though it differs on the motorway", through)
			}
			t.Logf("%s: %d samples, %d of them the transmission's differing speed", through, res.Samples, second)
		})
	}
}

// A message that repeats a signal at an instant (an older agent that sent
// every ECU's value) is stored as the series would keep it, the last
// value, and counted once; what was left out is counted apart.
func TestRepeatedSampleCountedOnce(t *testing.T) {
	in, err := New(Config{Broker: BrokerConfig{ClientID: "repeat"}}, nowhere{}, nowhere{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := wire.Encode(birth("car-r", 1, 1))
	if j := in.prepare(&directMessage{topic: wire.Topic("car-r", wire.KindStatus), payload: b, acked: make(chan struct{})}); j == nil || j.reject != "" {
		t.Fatalf("birth %+v", j)
	}
	now := time.Now().Truncate(time.Millisecond)
	speed, _ := testAliases.ByName("Vehicle.Speed")
	rpm, _ := testAliases.ByName("Vehicle.Powertrain.CombustionEngine.Speed")
	// Speed 50, engine speed and speed 52 at one instant, speed 60 a
	// millisecond on.
	m := &wirepb.Telemetry{Header: wire.NewHeader("car-r", 1, 2), BaseMs: now.UnixMilli(),
		Alias: []uint32{speed.Alias, rpm.Alias, speed.Alias, speed.Alias},
		DtMs:  []uint32{0, 0, 0, 1},
		Value: []int64{speed.Quantize(50), rpm.Quantize(2000), speed.Quantize(52), speed.Quantize(60)}}
	payload, _ := wire.Encode(m)
	j := in.prepare(&directMessage{topic: wire.Topic("car-r", wire.KindTelemetry), payload: payload, acked: make(chan struct{})})
	if j == nil || j.reject != "" {
		t.Fatalf("telemetry %+v", j)
	}
	if j.samples != 3 || series.Samples(j.points) != 3 {
		t.Fatalf("%d samples counted, %d in the points; want 3", j.samples, series.Samples(j.points))
	}
	var got []string
	for _, p := range j.points {
		for _, f := range p.Fields {
			got = append(got, fmt.Sprintf("%d:%s=%v", p.Time.UnixMilli()-now.UnixMilli(), f.Signal, f.Value))
		}
	}
	want := []string{"0:Vehicle.Powertrain.CombustionEngine.Speed=2000", "0:Vehicle.Speed=52", "1:Vehicle.Speed=60"}
	if !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	if v := testutil.ToFloat64(in.metrics.dropped.WithLabelValues("repeated")); v != 1 {
		t.Errorf("%v repeated samples counted, want 1", v)
	}
}
