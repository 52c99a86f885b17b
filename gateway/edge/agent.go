package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pitwall-io/pitwall/gateway/edge/spool"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/adapter"
)

// Version is what the birth message reports as the agent's version.
var Version = "dev"

// kind codes tag spool records with what they are.
var kindCodes = map[wire.Kind]byte{wire.KindTelemetry: 1, wire.KindDTC: 2, wire.KindEvent: 3, wire.KindStatus: 4, wire.KindCommandResult: 5}

func kindOf(code byte) wire.Kind {
	for k, c := range kindCodes {
		if c == code {
			return k
		}
	}
	return ""
}

// Opener opens the car's adapter; tests replace adapter.Open.
type Opener func(ctx context.Context, url string) (obd.Transport, func() error, error)

// Option changes an agent.
type Option func(*Agent)

// WithLogger sets the agent's logger (nil keeps it quiet).
func WithLogger(l *slog.Logger) Option {
	return func(a *Agent) {
		if l != nil {
			a.log = l
		}
	}
}

// WithOpener replaces how the adapter is opened.
func WithOpener(o Opener) Option { return func(a *Agent) { a.open = o } }

// Agent is the in-car agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	open    Opener
	spool   *spool.Spool
	boot    uint64
	aliases *wire.Aliases
	metrics *metrics

	mu        sync.Mutex
	birth     *wirepb.Status // the current birth, re-published on every connect
	birthSeq  uint64
	vin       string
	protocol  string
	adapterID string
	tiers     []TierConfig // the poll plan's configuration (a command may change it)
	replan    bool

	cmdKey   []byte       // the device's command key; nil: no command writes to the car
	ran      *ranCommands // ids of commands that wrote to the car, until they expire
	now      func() time.Time
	password string
	cmds     chan *wirepb.Command

	spoolOpen     func(string, int, os.FileMode) (*os.File, error) // nil: os.OpenFile
	spoolMu       sync.Mutex
	spoolFailures int // writes failed in a row
}

// New prepares an agent: it opens the spool and records the boot's birth
// message. Run starts it.
func New(cfg Config, opts ...Option) (*Agent, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler), boot: rand.Uint64(), tiers: cfg.Poll.Tiers, cmds: make(chan *wirepb.Command, 8), now: time.Now}
	a.open = func(ctx context.Context, url string) (obd.Transport, func() error, error) {
		ad, err := adapter.Open(ctx, url, adapter.WithLogger(a.log))
		if err != nil {
			return nil, nil, err
		}
		a.mu.Lock()
		a.adapterID = fmt.Sprint(ad.Describe()["identity"])
		a.mu.Unlock()
		return ad.Transport, ad.Close, nil
	}
	for _, o := range opts {
		o(a)
	}
	var err error
	if a.password, err = secret(cfg.Broker.Password, cfg.Broker.PasswordFile); err != nil {
		return nil, err
	}
	if a.cmdKey, err = commandKey(cfg.Commands.KeyFile); err != nil {
		return nil, err
	}
	a.spool, err = spool.Open(spool.Options{Dir: cfg.Spool.Dir, MaxBytes: int64(cfg.Spool.MaxBytes), SyncEvery: cfg.Spool.SyncEvery, Log: a.log, OpenFile: a.spoolOpen})
	if err != nil {
		return nil, fmt.Errorf("edge: spool %s: %w", cfg.Spool.Dir, err)
	}
	if a.ran, err = openRan(cfg.Spool.Dir); err != nil {
		a.spool.Close()
		return nil, err
	}
	a.metrics = newMetrics(a)
	a.loadPlan()
	if a.aliases, err = wire.NewAliases(catalog(a.tiers)); err != nil {
		a.spool.Close()
		return nil, err
	}
	if err := a.announce(); err != nil {
		a.spool.Close()
		return nil, err
	}
	return a, nil
}

// CommandKeyEnv names the environment variable an agent reads its command
// key from when commands.key_file is not set.
const CommandKeyEnv = "PITWALL_COMMAND_KEY"

// commandKey reads the device's command key from its file, else from the
// environment; none is no error (commands that write to the car are then
// refused), a malformed one is.
func commandKey(file string) ([]byte, error) {
	text, where := os.Getenv(CommandKeyEnv), CommandKeyEnv
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("edge: commands.key_file: %w", err)
		}
		text, where = string(b), file
	}
	if text == "" {
		return nil, nil
	}
	k, err := wire.ParseCommandKey(text)
	if err != nil {
		return nil, fmt.Errorf("edge: the command key in %s: %w", where, err)
	}
	return k, nil
}

// catalog is every signal the agent may send: all the PID table's fields,
// the battery voltage, the service 06 misfire counts, then the secondary
// names (a second ECU's differing value) of the fields of the PIDs in the
// poll plan and in the default plan. Secondary names for the whole table
// would double the birth message (to 47 KB, more than a small spool
// takes); a PID added later by a plan command has its secondary value
// counted in pitwall_agent_samples_repeated_total instead. Aliases number
// the signals in a fixed order.
func catalog(tiers []TierConfig) []string {
	names := append(append(obd.PIDSignals(), wire.BatteryVoltage), obd.MonitorSignals()...)
	seen := map[obd.PID]bool{}
	for _, t := range append(append([]TierConfig(nil), DefaultTiers...), tiers...) {
		for _, s := range t.PIDs {
			p, err := ParsePID(s)
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			info, _ := obd.Lookup(p)
			for _, f := range info.Fields {
				names = append(names, obd.SecondarySignal(f.Signal))
			}
		}
	}
	return names
}

// announce records a birth message: at boot, and again when the VIN or the
// adapter become known.
func (a *Agent) announce() error {
	a.mu.Lock()
	st := &wirepb.Status{Online: true, TimeMs: time.Now().UnixMilli(), AgentVersion: Version, Vin: a.vin,
		Adapter: a.adapterID, Protocol: a.protocol, Signals: a.aliases.Defs()}
	a.mu.Unlock()
	seq, err := a.emit(wire.KindStatus, spool.Important, func(h *wirepb.Header) wire.Message { st.Header = h; return st })
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.birth, a.birthSeq = st, seq
	a.mu.Unlock()
	return nil
}

// emit numbers a message, puts it in the spool and returns its number.
// It reports a failure itself (counted, and logged once per run of
// failures, so a full disk does not flood the log).
func (a *Agent) emit(k wire.Kind, c spool.Class, build func(*wirepb.Header) wire.Message) (uint64, error) {
	seq, err := a.spool.Append(c, kindCodes[k], func(seq uint64) ([]byte, error) {
		return wire.Encode(build(wire.NewHeader(a.cfg.DeviceID, a.boot, seq)))
	})
	a.spoolMu.Lock()
	defer a.spoolMu.Unlock()
	switch {
	case err == nil && a.spoolFailures > 0:
		a.log.Info("the spool accepts records again", "failed_writes", a.spoolFailures)
		a.spoolFailures = 0
	case err != nil:
		a.metrics.errors.WithLabelValues("spool").Inc()
		if a.spoolFailures == 0 {
			a.log.Error("cannot store a "+string(k)+" message; the car is still read and what is spooled is still sent", "err", err)
		}
		a.spoolFailures++
	}
	return seq, err
}

// event records an event that happens now.
func (a *Agent) event(set func(*wirepb.Event)) { a.eventAt(time.Now(), set) }

// eventAt records an event that happened at t.
func (a *Agent) eventAt(t time.Time, set func(*wirepb.Event)) {
	_, _ = a.emit(wire.KindEvent, spool.Important, func(h *wirepb.Header) wire.Message {
		e := &wirepb.Event{Header: h, TimeMs: t.UnixMilli()}
		set(e)
		return e
	})
}

func (a *Agent) fail(kind string, err error) {
	a.metrics.errors.WithLabelValues(kind).Inc()
	a.log.Warn("agent", "kind", kind, "err", err)
}

// Run runs the agent until ctx ends: the publisher, the poller and the
// metrics listener. It returns nil on a clean stop.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.log.Info("agent starting", "device", a.cfg.DeviceID, "boot", fmt.Sprintf("%016x", a.boot), "config", fmt.Sprintf("%+v", a.cfg.Redacted()))
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	if a.cfg.Metrics != "" {
		l, err := net.Listen("tcp", a.cfg.Metrics)
		if err != nil {
			return fmt.Errorf("edge: metrics listener: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		go func() { <-ctx.Done(); _ = srv.Close() }()
	}
	// The publisher outlives the poller a little, so the last batch the
	// poller writes on its way out still reaches a connected broker.
	pubCtx, pubCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pubCancel()
	p := newPublisher(a)
	polled := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); p.run(pubCtx) }()
	go func() { defer wg.Done(); defer close(polled); a.poll(ctx) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		cancel()
	}
	<-polled
	for grace := time.Now().Add(shutdownGrace); p.online.Load() && a.spool.Stats().Pending > 0 && time.Now().Before(grace); {
		time.Sleep(20 * time.Millisecond)
	}
	pubCancel()
	wg.Wait()
	a.spool.Close()
	return err
}

// shutdownGrace is how long a stopping agent keeps publishing what is
// still spooled while connected; what is left stays in the spool for the
// next start.
const shutdownGrace = 3 * time.Second

// Stats is what the agent did, for tests and the bench.
type Stats struct {
	Spool spool.Stats
	Boot  uint64
}

// Stats reports the agent's counters.
func (a *Agent) Stats() Stats { return Stats{Spool: a.spool.Stats(), Boot: a.boot} }

// RunOffline reads the car into the spool without publishing, until ctx
// ends: for benchmarks and for trying an adapter without a broker.
func (a *Agent) RunOffline(ctx context.Context) error {
	a.poll(ctx)
	return a.spool.Close()
}

// Counters are the agent's reading totals so far.
func (a *Agent) Counters() (requests, pids float64) {
	return counterValue(a.metrics.requests), counterValue(a.metrics.pids)
}

// Published is how many messages, and samples in them, the broker has
// acknowledged so far.
func (a *Agent) Published() (messages, samples float64) {
	for _, k := range []wire.Kind{wire.KindTelemetry, wire.KindDTC, wire.KindEvent, wire.KindStatus, wire.KindCommandResult} {
		messages += counterValue(a.metrics.published.WithLabelValues(string(k)))
	}
	return messages, counterValue(a.metrics.samples)
}
