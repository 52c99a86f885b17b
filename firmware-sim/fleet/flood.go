package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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
	// Username, when set, is every car's login name instead of its id (a
	// broker with one user for a whole test fleet).
	Username string
	// Start is the time of the first instant; instants are a millisecond
	// apart (an hour ago by default, so no sample lies in the future).
	Start time.Time
	// Brokers are more addresses of the same (clustered) broker: car n
	// tries Broker and Brokers from the (n mod count)th on, so a fleet
	// spreads over the nodes and moves to another when its node fails.
	Brokers []string
	// Resend makes each car keep what it sent until the broker
	// acknowledges it, as the agent's spool does: when the connection
	// drops it connects again (to the next broker that answers) and sends
	// everything unacknowledged again, oldest first, before anything new.
	// Without it a publish that fails is counted in Errors and dropped.
	Resend bool
	// Acked, when set, is told of every message the broker acknowledged:
	// the device, its sequence number and its samples (0 for the birth).
	// It is called from many goroutines.
	Acked func(device string, seq uint64, samples int)
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
	aliases, err := floodAliases(cfg.Signals)
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
			f := &flooder{id: fmt.Sprintf("%s-%05d", cfg.Prefix, i+1), boot: rand.Uint64(), aliases: aliases, cfg: cfg, first: i}
			if cfg.Resend {
				f.runResend(ctx, runCtx, func(n int) { messages.Add(1); samples.Add(int64(n)) }, fail, connected.Add)
				return
			}
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
	first   int // which broker to try first
	instant int
	phase   float64
}

func (f *flooder) connect() error {
	o := mqtt.NewClientOptions().AddBroker(f.cfg.Broker).SetClientID(f.id).SetCleanSession(true).
		SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).SetKeepAlive(60 * time.Second).
		SetWriteTimeout(10 * time.Second).SetOrderMatters(false)
	f.login(o)
	f.client = mqtt.NewClient(o)
	t := f.client.Connect()
	if !t.WaitTimeout(20 * time.Second) {
		return fmt.Errorf("fleet: %s: connect timed out", f.id)
	}
	return t.Error()
}

// floodAliases are the first n signals of the PID table.
func floodAliases(n int) (*wire.Aliases, error) {
	var names []string
	seen := map[string]bool{}
	for _, p := range obd.PIDs() {
		for _, f := range p.Fields {
			if len(names) < n && f.Signal != "" && !seen[f.Signal] {
				seen[f.Signal] = true
				names = append(names, f.Signal)
			}
		}
	}
	if len(names) < n {
		return nil, fmt.Errorf("fleet: only %d signals to flood with", len(names))
	}
	return wire.NewAliases(names)
}

// FloodMessageBytes is the size of one of a flood's telemetry messages
// (the payload, without MQTT's framing) for cars of the given id length:
// signals×instants samples. Flood does not need it; capacity sums do.
func FloodMessageBytes(idLen, signals, instants int) (int, error) {
	aliases, err := floodAliases(signals)
	if err != nil {
		return 0, err
	}
	f := &flooder{id: strings.Repeat("c", idLen), boot: 1 << 62, aliases: aliases,
		cfg: FloodConfig{Signals: signals, Instants: instants, Start: time.Now()}, seq: 1 << 20}
	b, _, err := f.telemetry()
	return len(b), err
}

func (f *flooder) login(o *mqtt.ClientOptions) {
	user := f.id
	if f.cfg.Username != "" {
		user = f.cfg.Username
	}
	if f.cfg.Secret != nil {
		o.SetUsername(user).SetPassword(f.cfg.Secret(f.id))
	} else if f.cfg.Password != "" {
		o.SetUsername(user).SetPassword(f.cfg.Password)
	}
}

// birth is the car's birth message: sequence number 1, the same on every
// connection.
func (f *flooder) birth() []byte {
	b, _ := wire.Encode(&wirepb.Status{Header: wire.NewHeader(f.id, f.boot, 1), Online: true, TimeMs: time.Now().UnixMilli(),
		AgentVersion: "firmware-sim flood", Signals: f.aliases.Defs()})
	return b
}

// telemetry makes the next telemetry message and its sample count.
func (f *flooder) telemetry() ([]byte, int, error) {
	var batch wire.Batch
	sigs := f.aliases.Defs()
	for range f.cfg.Instants {
		t := f.cfg.Start.Add(time.Duration(f.instant) * time.Millisecond)
		for k, d := range sigs {
			s, _ := f.aliases.ByAlias(d.GetAlias())
			// A slow wave within each signal's range, on its own grid.
			v := s.Offset + s.Scale*math.Round((1+math.Sin(f.phase+float64(f.instant)/500+float64(k)))*50)
			batch.Add(s, t, v)
		}
		f.instant++
	}
	f.seq++
	b, err := wire.Encode(batch.Telemetry(wire.NewHeader(f.id, f.boot, f.seq)))
	return b, batch.Len(), err
}

// pending is a message sent and not yet acknowledged.
type pending struct {
	seq     uint64
	topic   string
	payload []byte
	retain  bool
	samples int
	token   mqtt.Token
}

// dial connects to the first broker that answers, from this car's own
// first one on, trying for at most a minute.
func (f *flooder) dial(ctx context.Context) error {
	brokers := append([]string{f.cfg.Broker}, f.cfg.Brokers...)
	deadline := time.Now().Add(time.Minute)
	var last error
	for try := 0; time.Now().Before(deadline); try++ {
		url := brokers[(f.first+try)%len(brokers)]
		o := mqtt.NewClientOptions().AddBroker(url).SetClientID(f.id).SetCleanSession(true).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetKeepAlive(20 * time.Second).
			SetPingTimeout(5 * time.Second).SetWriteTimeout(10 * time.Second).SetOrderMatters(false)
		f.login(o)
		c := mqtt.NewClient(o)
		t := c.Connect()
		if t.WaitTimeout(10*time.Second) && t.Error() == nil {
			f.client = c
			f.first = (f.first + try) % len(brokers)
			return nil
		}
		last = t.Error()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(200+rand.IntN(300)) * time.Millisecond):
		}
	}
	return fmt.Errorf("fleet: %s: no broker answered within a minute: %v", f.id, last)
}

// runResend is run with Resend: messages are made at the rate until
// runCtx ends, sent with up to Window awaiting their PUBACK, and kept
// until acknowledged; a lost connection is made again and what is
// unacknowledged sent again in order. Once runCtx ends, what is left is
// awaited for up to a minute (ctx bounds it too).
func (f *flooder) runResend(ctx, runCtx context.Context, sent func(samples int), fail func(error), connected func(int64) int64) {
	f.phase = rand.Float64() * 2 * math.Pi
	f.seq = 1 // the birth's
	var unacked []*pending
	next := 0 // unacked[next:] are not yet sent on this connection
	birth := &pending{seq: 1, topic: wire.Topic(f.id, wire.KindStatus), payload: f.birth(), retain: true}
	unacked = append(unacked, birth)
	var pace *time.Ticker
	if f.cfg.Rate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / f.cfg.Rate))
		defer pace.Stop()
	}
	made := 0
	producing := func() bool { return runCtx.Err() == nil && (f.cfg.Messages == 0 || made < f.cfg.Messages) }
	online := false
	var lost chan struct{}
	reconnect := func() bool {
		if f.client != nil {
			f.client.Disconnect(0)
		}
		online = false
		if err := f.dial(ctx); err != nil {
			fail(err)
			return false
		}
		lost = make(chan struct{})
		l := lost
		go func(c mqtt.Client) {
			for c.IsConnectionOpen() {
				time.Sleep(50 * time.Millisecond)
			}
			close(l)
		}(f.client)
		online, next = true, 0
		return true
	}
	if !reconnect() {
		return
	}
	connected(1)
	defer func() { f.client.Disconnect(250) }()
	drainUntil := time.Time{}
	for {
		if !producing() && drainUntil.IsZero() {
			drainUntil = time.Now().Add(time.Minute)
		}
		if !producing() && (len(unacked) == 0 || time.Now().After(drainUntil) || ctx.Err() != nil) {
			if len(unacked) > 0 {
				fail(fmt.Errorf("fleet: %s: %d messages never acknowledged", f.id, len(unacked)))
			}
			return
		}
		// Send what this connection has not carried yet, up to the window.
		for online && next < len(unacked) && next < f.cfg.Window {
			p := unacked[next]
			p.token = f.client.Publish(p.topic, 1, p.retain, p.payload)
			next++
		}
		var oldest <-chan struct{}
		if online && next > 0 {
			oldest = unacked[0].token.Done()
		}
		var tick <-chan time.Time
		if pace != nil && producing() {
			tick = pace.C
		} else if producing() && len(unacked) < f.cfg.Window {
			tick = time.After(0) // as fast as acknowledged
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
			b, n, err := f.telemetry()
			if err != nil {
				fail(err)
				return
			}
			made++
			unacked = append(unacked, &pending{seq: f.seq, topic: wire.Topic(f.id, wire.KindTelemetry), payload: b, samples: n})
		case <-oldest:
			p := unacked[0]
			if err := p.token.Error(); err != nil {
				if !reconnect() {
					return
				}
				continue
			}
			unacked = unacked[1:]
			next--
			sent(p.samples)
			if f.cfg.Acked != nil {
				f.cfg.Acked(f.id, p.seq, p.samples)
			}
		case <-lost:
			if !reconnect() {
				return
			}
		case <-time.After(30 * time.Second):
			if online && next > 0 {
				// No PUBACK for the oldest in 30 s: start over on a new connection.
				if !reconnect() {
					return
				}
			}
		}
	}
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
