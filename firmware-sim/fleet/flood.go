package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// FloodConfig describes a synthetic load: cars that send telemetry as
// fast as their broker acknowledges it (or at a set rate), without the
// vehicle model behind Run, so the load generator costs little next to
// the system it measures.
type FloodConfig struct {
	Broker   string
	Vehicles int
	// Signals per instant (20 by default, at most the PID table's) and
	// Instants per message (10 by default): a message carries
	// Signals×Instants samples, each signal once per instant.
	Signals  int
	Instants int
	// Messages stops each car after this many telemetry messages (0: run
	// for Duration).
	Messages int
	Duration time.Duration
	// Rate caps each car's telemetry messages per second (0: no cap).
	Rate float64
	// Window is how many messages a car may have awaiting their PUBACK
	// (8 by default).
	Window int
	Prefix string // device ids are Prefix-00001, ...
	// Password is every car's secret; Secret, when set, gives each its own.
	Password string
	Secret   func(device string) string
	// Start is the time of the first instant; instants are a millisecond
	// apart (an hour ago by default, so no sample lies in the future).
	Start time.Time
}

// Flood runs the synthetic load until each car has sent its messages,
// the duration passes or ctx ends. Every sample has its own device,
// signal and time, so a store that keeps each once holds exactly
// Result.Samples of them.
func Flood(ctx context.Context, cfg FloodConfig) (Result, error) {
	if cfg.Vehicles <= 0 || cfg.Messages <= 0 && cfg.Duration <= 0 {
		return Result{}, errors.New("fleet: flood needs vehicles and a message count or a duration")
	}
	if cfg.Signals == 0 {
		cfg.Signals = 20
	}
	if cfg.Instants == 0 {
		cfg.Instants = 10
	}
	if cfg.Window == 0 {
		cfg.Window = 8
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "flood"
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now().Add(-time.Hour)
	}
	if err := wire.ValidDeviceID(cfg.Prefix + "-00001"); err != nil {
		return Result{}, fmt.Errorf("fleet: prefix: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, p := range obd.PIDs() {
		for _, f := range p.Fields {
			if len(names) < cfg.Signals && f.Signal != "" && !seen[f.Signal] {
				seen[f.Signal] = true
				names = append(names, f.Signal)
			}
		}
	}
	if len(names) < cfg.Signals {
		return Result{}, fmt.Errorf("fleet: only %d signals to flood with", len(names))
	}
	aliases, err := wire.NewAliases(names)
	if err != nil {
		return Result{}, err
	}
	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	var messages, samples, errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	var connected atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Vehicles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := &flooder{id: fmt.Sprintf("%s-%05d", cfg.Prefix, i+1), boot: rand.Uint64(), aliases: aliases, cfg: cfg}
			if err := f.connect(); err != nil {
				fail(err)
				return
			}
			defer f.client.Disconnect(250)
			connected.Add(1)
			f.run(runCtx, func(n int) { messages.Add(1); samples.Add(int64(n)) }, fail)
		}()
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // spread the connection storm
		}
	}
	wg.Wait()
	res := Result{Vehicles: cfg.Vehicles, Connected: int(connected.Load()), Messages: messages.Load(), Samples: samples.Load(),
		Errors: errs.Load(), Seconds: time.Since(start).Seconds()}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.CPUSeconds, res.MaxRSSMiB = usage()
	return res, nil
}

type flooder struct {
	id      string
	boot    uint64
	seq     uint64
	aliases *wire.Aliases
	cfg     FloodConfig
	client  mqtt.Client
}

func (f *flooder) connect() error {
	o := mqtt.NewClientOptions().AddBroker(f.cfg.Broker).SetClientID(f.id).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).SetKeepAlive(60 * time.Second).
		SetWriteTimeout(10 * time.Second).SetOrderMatters(false)
	if f.cfg.Secret != nil {
		o.SetUsername(f.id).SetPassword(f.cfg.Secret(f.id))
	} else if f.cfg.Password != "" {
		o.SetUsername(f.id).SetPassword(f.cfg.Password)
	}
	f.client = mqtt.NewClient(o)
	t := f.client.Connect()
	if !t.WaitTimeout(20 * time.Second) {
		return fmt.Errorf("fleet: %s: connect timed out", f.id)
	}
	return t.Error()
}

// run publishes the birth, then telemetry with up to Window messages
// awaiting their PUBACK.
func (f *flooder) run(ctx context.Context, sent func(samples int), fail func(error)) {
	f.seq++
	birth := &wirepb.Status{Header: wire.NewHeader(f.id, f.boot, f.seq), Online: true, TimeMs: time.Now().UnixMilli(),
		AgentVersion: "firmware-sim flood", Signals: f.aliases.Defs()}
	b, _ := wire.Encode(birth)
	if t := f.client.Publish(wire.Topic(f.id, wire.KindStatus), 1, true, b); !t.WaitTimeout(30*time.Second) || t.Error() != nil {
		fail(fmt.Errorf("fleet: %s: birth: %v", f.id, t.Error()))
		return
	}
	sent(0)
	type inflight struct {
		t mqtt.Token
		n int
	}
	window := make(chan inflight, f.cfg.Window)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for w := range window {
			if !w.t.WaitTimeout(60 * time.Second) {
				fail(fmt.Errorf("fleet: %s: no PUBACK within 60 s", f.id))
				continue
			}
			if err := w.t.Error(); err != nil {
				fail(fmt.Errorf("fleet: %s: %w", f.id, err))
				continue
			}
			sent(w.n)
		}
	}()
	defer func() { close(window); <-done }()
	var pace *time.Ticker
	if f.cfg.Rate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / f.cfg.Rate))
		defer pace.Stop()
	}
	sigs := f.aliases.Defs()
	var batch wire.Batch
	instant := 0
	phase := rand.Float64() * 2 * math.Pi
	for m := 0; f.cfg.Messages == 0 || m < f.cfg.Messages; m++ {
		if pace != nil {
			select {
			case <-ctx.Done():
				return
			case <-pace.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		batch.Reset()
		for range f.cfg.Instants {
			t := f.cfg.Start.Add(time.Duration(instant) * time.Millisecond)
			for k, d := range sigs {
				s, _ := f.aliases.ByAlias(d.GetAlias())
				// A slow wave within each signal's range, on its own grid.
				v := s.Offset + s.Scale*math.Round((1+math.Sin(phase+float64(instant)/500+float64(k)))*50)
				batch.Add(s, t, v)
			}
			instant++
		}
		f.seq++
		n := batch.Len()
		b, err := wire.Encode(batch.Telemetry(wire.NewHeader(f.id, f.boot, f.seq)))
		if err != nil {
			fail(err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		// Every message sent is awaited and counted, even past the end.
		window <- inflight{f.client.Publish(wire.Topic(f.id, wire.KindTelemetry), 1, false, b), n}
	}
}
