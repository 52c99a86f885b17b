// Package fleet publishes the telemetry of many simulated cars over MQTT,
// one connection and device id per car, in Pitwall's wire format: a birth
// message with the signal aliases, telemetry batches at a fixed rate,
// trouble-code reports when codes change, ignition events. It is the load
// for ingest tests and benchmarks.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// Config describes a fleet run.
type Config struct {
	Broker   string // tcp://host:port
	Vehicles int
	Rate     float64 // telemetry messages per car per second
	Duration time.Duration
	// Scenario names the built-in scenario every car runs, or "mix": most
	// cars healthy, one in three with one of the faults.
	Scenario string
	Seed     uint64
	Speed    float64 // simulated seconds per real second
	Prefix   string  // device ids are Prefix-00001, ...
	// Scenarios, when set, overrides Scenario: car n runs
	// Scenarios[n % len].
	Scenarios []string
	// Password, when set, is sent with the device id as the user name;
	// Passwords gives devices their own.
	Password  string
	Passwords map[string]string
	// ConnectRate caps new connections per second (default 500).
	ConnectRate int
	Log         *slog.Logger
}

// Result is what a run did; only what the broker acknowledged counts.
type Result struct {
	Vehicles   int            `json:"vehicles"`
	Connected  int            `json:"connected"`
	Messages   int64          `json:"messages"`
	Samples    int64          `json:"samples"`
	Errors     int64          `json:"errors"`
	Seconds    float64        `json:"seconds"`
	CPUSeconds float64        `json:"cpu_seconds"`
	MaxRSSMiB  float64        `json:"max_rss_mib"`
	Scenarios  map[string]int `json:"scenarios"`
	FirstError string         `json:"first_error,omitempty"`
}

// Plan is what each car reports every tick: twenty values from sixteen
// PIDs plus the battery voltage.
var Plan = []obd.PID{0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x14, 0x2F, 0x33, 0x42, 0x46, 0x5C, 0xA6}

// Mix is the scenario spread of a "mix" fleet: car n runs mix[n % len].
var Mix = []string{"healthy", "healthy", "overheat", "healthy", "healthy", "misfire", "healthy", "healthy", "lean",
	"healthy", "healthy", "weak-battery", "healthy", "healthy", "alternator", "healthy", "healthy", "catalyst",
	"healthy", "healthy", "o2-sensor", "healthy", "healthy", "evap-leak", "healthy", "healthy", "coolant-leak"}

// vehicle is one simulated car and its connection.
type vehicle struct {
	id       string
	scenario string
	car      *car.Car
	client   *obd.Client
	aliases  *wire.Aliases
	boot     uint64
	seq      uint64
	mqtt     mqtt.Client
	ignition bool
	codes    string
	// The trip under way: its number and when the ignition went on.
	trip      uint64
	tripStart time.Time
	// The on-board monitors' latest test results (service 06), read at
	// each trip's start and every TestsEvery, sent with the codes.
	tests   []*wirepb.TestResult
	testsAt time.Time
}

// TestsEvery is how often a car's monitor test results are read while it
// drives, besides at each trip's start: the agent's slow tier.
const TestsEvery = 30 * time.Second

// Run drives the fleet until the duration passes or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Vehicles <= 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("fleet: vehicles, rate and duration must be positive")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sim"
	}
	if cfg.ConnectRate <= 0 {
		cfg.ConnectRate = 500
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := wire.ValidDeviceID(cfg.Prefix + "-00001"); err != nil {
		return Result{}, fmt.Errorf("fleet: prefix: %w", err)
	}
	var names, second []string
	for _, p := range Plan {
		info, _ := obd.Lookup(p)
		for _, f := range info.Fields {
			names, second = append(names, f.Signal), append(second, obd.SecondarySignal(f.Signal))
		}
	}
	names = append(append(append(names, wire.BatteryVoltage), second...), obd.MonitorSignals()...)
	aliases, err := wire.NewAliases(names)
	if err != nil {
		return Result{}, err
	}
	clock := car.NewClock(cfg.Speed)
	res := Result{Vehicles: cfg.Vehicles, Scenarios: map[string]int{}}
	vs := make([]*vehicle, cfg.Vehicles)
	for i := range vs {
		name := cfg.Scenario
		switch {
		case len(cfg.Scenarios) > 0:
			name = cfg.Scenarios[i%len(cfg.Scenarios)]
		case name == "mix" || name == "":
			name = Mix[i%len(Mix)]
		}
		sc, err := car.Load(name)
		if err != nil {
			return res, err
		}
		spec := car.DefaultSpec()
		spec.VIN = car.VINFor(uint64(i))
		seed := cfg.Seed*1_000_003 + uint64(i)
		c := car.New(spec, sc, seed)
		vs[i] = &vehicle{
			id: fmt.Sprintf("%s-%05d", cfg.Prefix, i+1), scenario: name, car: c, aliases: aliases,
			client: obd.NewClient(ecu.Direct(ecu.Modules(c, clock, ecu.Options{Seed: seed}))),
			boot:   rand.Uint64(),
		}
		res.Scenarios[name]++
	}

	var messages, samples, errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	// Connect at the capped rate; each car starts publishing once connected.
	var wg sync.WaitGroup
	var connected atomic.Int64
	period := time.Duration(float64(time.Second) / cfg.Rate)
	tick := time.NewTicker(time.Second / time.Duration(cfg.ConnectRate))
	for _, v := range vs {
		select {
		case <-runCtx.Done():
		case <-tick.C:
		}
		if runCtx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(v *vehicle) {
			defer wg.Done()
			if err := v.connect(cfg); err != nil {
				fail(err)
				return
			}
			connected.Add(1)
			if v.publish(runCtx, wire.KindStatus, v.birth(clock), true) == nil {
				messages.Add(1)
			}
			v.loop(runCtx, clock, period, func(n int) { messages.Add(1); samples.Add(int64(n)) }, fail)
			v.mqtt.Disconnect(250)
		}(v)
	}
	tick.Stop()
	wg.Wait()

	res.Connected = int(connected.Load())
	res.Messages, res.Samples, res.Errors = messages.Load(), samples.Load(), errs.Load()
	res.Seconds = time.Since(start).Seconds()
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.CPUSeconds, res.MaxRSSMiB = usage()
	return res, nil
}

func (v *vehicle) connect(cfg Config) error {
	will, _ := wire.Encode(&wirepb.Status{Header: wire.NewHeader(v.id, v.boot, 0), Online: false})
	o := mqtt.NewClientOptions().AddBroker(cfg.Broker).SetClientID(v.id).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectRetry(false).SetConnectTimeout(10*time.Second).
		SetKeepAlive(60*time.Second).SetWriteTimeout(10*time.Second).
		SetBinaryWill(wire.Topic(v.id, wire.KindStatus), will, 1, true)
	if pw, ok := cfg.Passwords[v.id]; ok {
		o.SetUsername(v.id).SetPassword(pw)
	} else if cfg.Password != "" {
		o.SetUsername(v.id).SetPassword(cfg.Password)
	}
	v.mqtt = mqtt.NewClient(o)
	t := v.mqtt.Connect()
	if !t.WaitTimeout(15 * time.Second) {
		return fmt.Errorf("fleet: %s: connect timed out", v.id)
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("fleet: %s: connect: %w", v.id, err)
	}
	return nil
}

func (v *vehicle) header() *wirepb.Header {
	v.seq++
	return wire.NewHeader(v.id, v.boot, v.seq)
}

func (v *vehicle) birth(clock *car.Clock) *wirepb.Status {
	return &wirepb.Status{Header: v.header(), Online: true, TimeMs: time.Now().UnixMilli(), AgentVersion: "firmware-sim",
		Vin: v.car.Spec().VIN, Adapter: "simulated", Protocol: obd.ProtocolCAN11_500.String(), Signals: v.aliases.Defs()}
}

// publish sends a message with QoS 1 and waits for the broker's PUBACK.
// When ctx ends with the message on its way (the run is over), it still
// waits up to lastAckWait, so that what the broker took is counted as sent
// and the summary agrees with what the cloud stored; a broker shutting down
// may never acknowledge, and then the message is not counted.
func (v *vehicle) publish(ctx context.Context, k wire.Kind, m wire.Message, retain bool) error {
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	t := v.mqtt.Publish(wire.Topic(v.id, k), 1, retain, b)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		select {
		case <-t.Done():
			return t.Error()
		case <-time.After(lastAckWait):
			return ctx.Err()
		}
	case <-timer.C:
		return fmt.Errorf("fleet: %s: no PUBACK within 30 s", v.id)
	}
}

// lastAckWait is how long a publish under way when the run ends waits for
// its PUBACK.
const lastAckWait = 5 * time.Second

// loop publishes a batch every period, starting at a random phase so a
// fleet does not publish in bursts.
func (v *vehicle) loop(ctx context.Context, clock *car.Clock, period time.Duration, sent func(samples int), fail func(error)) {
	phase := time.Duration(rand.Int64N(int64(period)))
	t := time.NewTimer(phase)
	defer t.Stop()
	// A publish cut short by the end of the run is not a failure.
	failed := func(ctx context.Context, err error) {
		if ctx.Err() == nil {
			fail(err)
		}
	}
	var batch wire.Batch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(period)
		v.car.AdvanceTo(clock.Sim())
		st := v.car.State()
		if st.Ignition != v.ignition {
			v.ignition = st.Ignition
			evs := []*wirepb.Event{{Header: v.header(), TimeMs: time.Now().UnixMilli(),
				Kind: &wirepb.Event_Ignition{Ignition: &wirepb.Ignition{On: st.Ignition, EngineRunning: st.Running}}}}
			if st.Ignition {
				// A dongle reads the codes afresh each trip: the report is
				// sent again even when nothing changed, as codes a shop
				// cleared come back.
				v.codes, v.tripStart, v.testsAt = "", time.Now(), time.Time{}
				v.trip++
			} else if !v.tripStart.IsZero() {
				// The ignition off ends the trip: a drive cycle for
				// verify-the-fix.
				evs = append(evs, &wirepb.Event{Header: v.header(), TimeMs: time.Now().UnixMilli(),
					Kind: &wirepb.Event_TripEnd{TripEnd: &wirepb.TripEnd{TripId: v.trip, DurationS: time.Since(v.tripStart).Seconds()}}})
			}
			for _, ev := range evs {
				if err := v.publish(ctx, wire.KindEvent, ev, false); err != nil {
					failed(ctx, err)
				} else {
					sent(0)
				}
			}
		}
		if !st.Ignition {
			continue // a parked car's ECUs sleep
		}
		batch.Reset()
		now := time.Now()
		if !now.Before(v.testsAt) {
			// Service 06, as the agent reads it: the misfire counts go
			// with this tick's values, every result with the codes.
			v.testsAt = now.Add(TestsEvery)
			if res, err := v.client.MonitorTests(ctx); len(res) > 0 {
				tests, values := wire.MonitorTests(res)
				for sig, x := range values {
					if s, ok := v.aliases.ByName(sig); ok {
						batch.Add(s, now, x)
					}
				}
				if !wire.SameTests(tests, v.tests) {
					v.tests, v.codes = tests, "" // new results: sent with the codes now
				}
			} else if err != nil && ctx.Err() == nil && !errors.Is(err, obd.ErrNoData) && !errors.Is(err, obd.ErrUnsupported) {
				// A car whose ignition went off during the read is silent,
				// not failing (as the agent takes it).
				failed(ctx, fmt.Errorf("fleet: %s: service 06: %w", v.id, err))
			}
		}
		if codes := fmt.Sprint(st.Stored, st.Pending, st.MIL, st.Monitors); codes != v.codes {
			v.codes = codes
			if err := v.publish(ctx, wire.KindDTC, v.dtcReport(st), false); err != nil {
				failed(ctx, err)
			} else {
				sent(0)
			}
		}
		rs, err := v.client.Read(ctx, Plan...)
		if err != nil && len(rs) == 0 {
			continue
		}
		// One value per signal and instant, as the agent sends them.
		vals, _ := obd.OneValuePerSignal(rs)
		for _, x := range vals {
			if s, ok := v.aliases.ByName(x.Signal); ok {
				batch.Add(s, now, x.Value)
			}
		}
		if s, ok := v.aliases.ByName(wire.BatteryVoltage); ok {
			batch.Add(s, now, st.Battery)
		}
		n := batch.Len()
		if err := v.publish(ctx, wire.KindTelemetry, batch.Telemetry(v.header()), false); err != nil {
			failed(ctx, err)
			continue
		}
		sent(n)
	}
}

func (v *vehicle) dtcReport(st car.State) *wirepb.DTCReport {
	codes := func(ds []obd.DTC) []*wirepb.Code {
		var out []*wirepb.Code
		for _, d := range ds {
			out = append(out, &wirepb.Code{Code: d.String(), Ecu: "7E8"})
		}
		return out
	}
	r := &wirepb.DTCReport{Header: v.header(), TimeMs: time.Now().UnixMilli(), Mil: st.MIL,
		Stored: codes(st.Stored), Pending: codes(st.Pending), Permanent: codes(st.Permanent), Tests: v.tests}
	for _, m := range st.Monitors {
		r.Monitors = append(r.Monitors, &wirepb.Monitor{Name: m.Name, Supported: m.Supported, Complete: m.Supported && m.Complete})
	}
	if st.Freeze != nil && slices.Contains(st.Stored, st.Freeze.DTC) {
		r.FreezeFrames = []*wirepb.FreezeFrame{{Ecu: "7E8", Dtc: st.Freeze.DTC.String(), Values: []*wirepb.Value{
			{Signal: "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", Value: st.Freeze.State.Coolant, Unit: "celsius"},
			{Signal: "Vehicle.Powertrain.CombustionEngine.Speed", Value: st.Freeze.State.RPM, Unit: "rpm"},
			{Signal: "Vehicle.Speed", Value: st.Freeze.State.Speed, Unit: "km/h"},
			{Signal: "Vehicle.OBD.EngineLoad", Value: st.Freeze.State.Load, Unit: "percent"},
		}}}
	}
	return r
}
