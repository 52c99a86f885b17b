package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// Journal keeps what is not a time series: births, trouble-code reports,
// events, command results and device statuses. *store.Store is one.
type Journal interface {
	SaveMessages(ctx context.Context, msgs []store.Message) error
	SaveBirth(ctx context.Context, device string, boot, seq uint64, t time.Time, body []byte) error
	Birth(ctx context.Context, device string, boot uint64) ([]byte, error)
	SaveStatuses(ctx context.Context, sts []store.DeviceStatus) error
	VehicleOfDevice(ctx context.Context, device string) (store.Vehicle, error)
}

// Record is one message the ingest stored, for listeners.
type Record struct {
	Device  string
	Kind    wire.Kind
	Seq     uint64
	Message wire.Message
	Points  []series.Point // telemetry only
}

// Option changes an Ingest.
type Option func(*Ingest)

// WithLogger sends the ingest's logs to l.
func WithLogger(l *slog.Logger) Option { return func(in *Ingest) { in.log = l } }

// WithRegistry registers the ingest's metrics with r (a private registry
// by default).
func WithRegistry(r prometheus.Registerer) Option { return func(in *Ingest) { in.reg = r } }

// Listener is told of every batch once it is stored and acknowledged, in
// order, on the write path: it must be quick. It runs to its end even
// when the ingest is stopping (its context outlives the ingest's by at
// most ListenerTimeout). An error is counted
// (pitwall_ingest_listener_errors_total) and logged, and does not hold
// back the acknowledgement: what a listener needs is in the stores by
// then, and a listener that fails must recover from them (the pipeline
// rebuilds a car's state from the stored series and alerts).
type Listener func(ctx context.Context, records []Record) error

// ListenerTimeout bounds one call of a listener.
const ListenerTimeout = 10 * time.Second

// WithListener adds a listener; name labels its failures in the metrics
// and the log.
func WithListener(name string, l Listener) Option {
	return func(in *Ingest) { in.listeners = append(in.listeners, namedListener{name, l}) }
}

type namedListener struct {
	name string
	l    Listener
}

// Ingest consumes the cars' messages into the stores.
type Ingest struct {
	cfg       Config
	series    series.Writer
	journal   Journal
	log       *slog.Logger
	reg       prometheus.Registerer
	metrics   *metrics
	listeners []namedListener
	now       func() time.Time

	// On a NATS cluster: how to open the partition leases, who to tell
	// of partitions, extra connection options, and the running source.
	openLeases func(ctx context.Context) (Leases, error)
	hooks      PartitionHooks
	natsOpts   []nats.Option
	nats       *natsSource

	// The revoked devices, whose messages are refused.
	revocations Revocations
	revoked     revokedSet
	revokedRead chan struct{} // closed once Run first read them (or tried)

	queue chan *job
	done  chan struct{} // closed when Run stops: handlers stop waiting

	mu          sync.Mutex
	devices     map[string]*device
	parked      map[birthKey][]*job
	parkedTotal int
	clients     []mqtt.Client
	ready       []bool // per consumer; none when messages are delivered in process
	running     bool
	rejectAt    map[string]time.Time // last log line per reject reason, and per failing listener

	statsMu sync.Mutex
	stats   Stats
}

// Stats are the ingest's totals, for tests and benchmarks.
type Stats struct {
	Received, Stored, Rejected uint64
	Samples                    uint64
	RejectedBy                 map[string]uint64
}

type birthKey struct {
	device string
	boot   uint64
}

// device is what the ingest knows of one device.
type device struct {
	seq      sequence
	aliases  map[uint64]*wire.Aliases // by boot; the last few boots
	boots    []uint64                 // oldest first
	status   store.DeviceStatus
	dirty    bool
	savedAt  time.Time
	vehicle  string
	vehicleT time.Time // when vehicle was looked up
}

// job is one received message on its way to the stores.
type job struct {
	msg      mqtt.Message
	device   string
	kind     wire.Kind
	boot     uint64
	seq      uint64
	decoded  wire.Message
	points   []series.Point
	samples  int
	message  *store.Message
	birth    *store.Message
	online   *bool
	reject   string
	deadline time.Time // parked until
}

// New prepares an ingest writing telemetry to w and the rest to j.
func New(cfg Config, w series.Writer, j Journal, opts ...Option) (*Ingest, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	in := &Ingest{cfg: cfg, series: w, journal: j, log: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry(), now: time.Now,
		devices: map[string]*device{}, parked: map[birthKey][]*job{}, rejectAt: map[string]time.Time{},
		stats: Stats{RejectedBy: map[string]uint64{}}}
	for _, o := range opts {
		o(in)
	}
	in.metrics = newMetrics(in.reg)
	in.queue = make(chan *job, cfg.Queue)
	in.done = make(chan struct{})
	if in.revocations != nil {
		in.revokedRead = make(chan struct{})
	}
	return in, nil
}

// Run consumes until ctx ends. Messages received but not yet stored when
// it ends are not acknowledged: the broker delivers them again. On a NATS
// cluster it first gives its partitions up, once what it holds of them is
// stored.
func (in *Ingest) Run(ctx context.Context) error {
	// The writer outlives ctx on a NATS cluster, to store what the
	// partitions being given up still hold.
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriter()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); in.writeLoop(wctx) }()
	go func() { defer wg.Done(); in.sweepParked(wctx) }()
	if in.revocations != nil {
		// Read before the first message, so that a revoked device's
		// backlog is not stored at start.
		if err := in.loadRevoked(ctx); err != nil {
			in.log.Warn("ingest: reading the revoked devices; retrying", "err", err)
		}
		close(in.revokedRead)
		wg.Add(1)
		go func() { defer wg.Done(); in.watchRevoked(wctx) }()
	}
	in.mu.Lock()
	in.running = true
	if in.cfg.Broker.URL != "" && !IsNATS(in.cfg.Broker.URL) {
		in.ready = make([]bool, in.cfg.Consumers)
	}
	in.mu.Unlock()
	defer func() { in.mu.Lock(); in.running = false; in.mu.Unlock() }()
	if IsNATS(in.cfg.Broker.URL) {
		err := in.runNATS(ctx)
		close(in.done)
		stopWriter()
		wg.Wait()
		return err
	}
	for i := range len(in.ready) {
		c, err := in.consumer(i)
		if err != nil {
			stopWriter()
			wg.Wait()
			return err
		}
		in.mu.Lock()
		in.clients = append(in.clients, c)
		in.mu.Unlock()
		c.Connect() // retries in the background until it succeeds
	}
	<-ctx.Done()
	close(in.done)
	stopWriter()
	in.mu.Lock()
	clients := in.clients
	in.mu.Unlock()
	for _, c := range clients {
		c.Disconnect(250)
	}
	wg.Wait()
	return nil
}

// Ready reports whether every consumer is connected and subscribed.
func (in *Ingest) Ready() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.running {
		return errors.New("ingest: not started")
	}
	if IsNATS(in.cfg.Broker.URL) {
		if in.nats == nil {
			return errors.New("ingest: connecting to NATS")
		}
		src := in.nats
		in.mu.Unlock()
		defer in.mu.Lock()
		return src.ready()
	}
	for i, ok := range in.ready {
		if !ok {
			return fmt.Errorf("ingest: consumer %d is not connected to %s", i+1, in.cfg.Broker.URL)
		}
	}
	return nil
}

// Stats returns the totals so far.
func (in *Ingest) Stats() Stats {
	in.statsMu.Lock()
	defer in.statsMu.Unlock()
	s := in.stats
	s.RejectedBy = map[string]uint64{}
	for k, v := range in.stats.RejectedBy {
		s.RejectedBy[k] = v
	}
	return s
}

// Devices returns what the ingest knows of every device it has heard.
func (in *Ingest) Devices() []store.DeviceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]store.DeviceStatus, 0, len(in.devices))
	for _, d := range in.devices {
		out = append(out, d.status)
	}
	return out
}

// consumer makes broker connection i.
func (in *Ingest) consumer(i int) (mqtt.Client, error) {
	b := in.cfg.Broker
	id := b.ClientID
	if in.cfg.Consumers > 1 {
		id += "-" + strconv.Itoa(i+1)
	}
	o := mqtt.NewClientOptions().AddBroker(b.URL).SetClientID(id).SetCleanSession(false).
		SetAutoAckDisabled(true).SetOrderMatters(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetPingTimeout(20 * time.Second).SetWriteTimeout(10 * time.Second).
		SetDefaultPublishHandler(in.handle)
	if b.PasswordFile != "" {
		pw, err := os.ReadFile(b.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ingest: broker.password_file: %w", err)
		}
		b.Password = strings.TrimSpace(string(pw))
	}
	if b.Username != "" {
		o.SetUsername(b.Username).SetPassword(b.Password)
	}
	tc, err := wire.ClientTLS(b.URL, b.CAFile, b.CertFile, b.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if tc != nil {
		o.SetTLSConfig(tc)
	}
	o.SetOnConnectHandler(func(c mqtt.Client) {
		// Telemetry, codes, events and results through the group; births
		// and statuses to every consumer, in order with the rest on its
		// connection, so each knows every device's signal aliases.
		group := in.cfg.Group
		if group == "" && in.cfg.Consumers > 1 {
			group = b.ClientID // this server's consumers split the stream among themselves
		}
		filters := map[string]byte{wire.Filter(wire.KindStatus, ""): 1}
		for _, k := range []wire.Kind{wire.KindTelemetry, wire.KindDTC, wire.KindEvent, wire.KindCommandResult} {
			filters[wire.Filter(k, group)] = 1
		}
		t := c.SubscribeMultiple(filters, in.handle)
		if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
			in.log.Error("ingest: subscribing", "consumer", i+1, "err", t.Error())
			c.Disconnect(0) // the retry loop is paho's: reconnect and try again
			return
		}
		in.setReady(i, true)
		in.log.Info("ingest: consuming", "consumer", i+1, "broker", b.URL, "client_id", id, "group", in.cfg.Group)
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		in.setReady(i, false)
		in.log.Warn("ingest: connection lost; reconnecting", "consumer", i+1, "err", err)
	})
	return mqtt.NewClient(o), nil
}

func (in *Ingest) setReady(i int, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if i < len(in.ready) {
		in.ready[i] = ok
	}
}

// ErrNotConnected: none of the ingest's broker connections is up.
var ErrNotConnected = errors.New("ingest: not connected to the broker")

// Publish sends a message (a command to a device) through one of the
// ingest's broker connections, at QoS 1, never retained, and returns once
// the broker has it.
func (in *Ingest) Publish(ctx context.Context, topic string, payload []byte) error {
	in.mu.Lock()
	clients, src := in.clients, in.nats
	in.mu.Unlock()
	if src != nil {
		return in.publishNATS(ctx, src, topic, payload)
	}
	for _, c := range clients {
		if !c.IsConnectionOpen() {
			continue
		}
		t := c.Publish(topic, 1, false, payload)
		select {
		case <-t.Done():
			return t.Error()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("%w %s", ErrNotConnected, in.cfg.Broker.URL)
}

// Deliver hands over one message in process (from the embedded broker)
// and returns once it is stored, or refused for good, which counts as
// handled. An error means it was not stored: the caller must not
// acknowledge it.
func (in *Ingest) Deliver(ctx context.Context, topic string, payload []byte) error {
	m := &directMessage{topic: topic, payload: bytes.Clone(payload), acked: make(chan struct{})}
	in.handle(nil, m)
	select {
	case <-m.acked:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-in.done:
		return errors.New("ingest: stopped")
	}
}

// directMessage is a message handed over in process; Ack wakes Deliver.
type directMessage struct {
	topic   string
	payload []byte
	acked   chan struct{}
	once    sync.Once
}

func (m *directMessage) Duplicate() bool   { return false }
func (m *directMessage) Qos() byte         { return 1 }
func (m *directMessage) Retained() bool    { return false }
func (m *directMessage) Topic() string     { return m.topic }
func (m *directMessage) MessageID() uint16 { return 0 }
func (m *directMessage) Payload() []byte   { return m.payload }
func (m *directMessage) Ack()              { m.once.Do(func() { close(m.acked) }) }

var _ mqtt.Message = (*directMessage)(nil)

// handle is paho's callback: it checks and converts one message and
// queues it for the writer, blocking while the queue is full, so the
// broker holds what the stores cannot take yet.
func (in *Ingest) handle(_ mqtt.Client, m mqtt.Message) { in.offer(m, nil) }

// offer is handle, giving up when stop closes first; it reports whether
// the message was taken (queued, parked or refused).
func (in *Ingest) offer(m mqtt.Message, stop <-chan struct{}) bool {
	j := in.prepare(m)
	if j == nil {
		return true // parked until its birth arrives
	}
	return in.enqueueOr(j, stop)
}

func (in *Ingest) enqueue(j *job) { in.enqueueOr(j, nil) }

func (in *Ingest) enqueueOr(j *job, stop <-chan struct{}) bool {
	select {
	case in.queue <- j:
		in.metrics.queued.Inc()
		return true
	case <-in.done:
	case <-stop:
	}
	return false
}

// prepare checks a message and turns it into a job; nil when it was
// parked.
func (in *Ingest) prepare(m mqtt.Message) *job {
	j := &job{msg: m}
	device, kind, err := wire.ParseTopic(m.Topic())
	if err != nil {
		return in.rejected(j, "topic", err)
	}
	j.device, j.kind = device, kind
	in.metrics.received.WithLabelValues(string(kind)).Inc()
	in.statsMu.Lock()
	in.stats.Received++
	in.statsMu.Unlock()
	if kind == wire.KindCommand {
		return in.rejected(j, "topic", fmt.Errorf("%s is a command to the device, not a message from it", m.Topic()))
	}
	if in.revokedRead != nil {
		// A message handed over before Run has read the revoked devices
		// (the embedded broker delivers from its start) waits for them.
		select {
		case <-in.revokedRead:
		case <-in.done:
		}
	}
	if in.revoked.has(device) {
		return in.rejected(j, "revoked", fmt.Errorf("device %s is revoked", device))
	}
	if len(m.Payload()) > wire.MaxPayload {
		return in.rejected(j, "size", fmt.Errorf("%d bytes, the limit is %d", len(m.Payload()), wire.MaxPayload))
	}
	msg, err := wire.Decode(kind, m.Payload())
	if err != nil {
		reason := "payload"
		switch {
		case errors.Is(err, wire.ErrSchema):
			reason = "schema"
		case errors.Is(err, wire.ErrDevice):
			reason = "device"
		case errors.Is(err, wire.ErrNonFinite):
			reason = "non_finite"
		case errors.Is(err, wire.ErrCode):
			reason = "code"
		}
		return in.rejected(j, reason, err)
	}
	h := msg.GetHeader()
	if h.GetDeviceId() != device {
		return in.rejected(j, "device_mismatch", fmt.Errorf("the header says device %q", h.GetDeviceId()))
	}
	j.decoded, j.boot, j.seq = msg, h.GetBootId(), h.GetSeq()
	switch x := msg.(type) {
	case *wirepb.Telemetry:
		return in.telemetry(j, x)
	case *wirepb.Status:
		return in.status(j, x, m.Payload())
	case *wirepb.DTCReport:
		j.message = in.keep(j, x.GetTimeMs(), m.Payload())
	case *wirepb.Event:
		j.message = in.keep(j, x.GetTimeMs(), m.Payload())
	case *wirepb.CommandResult:
		j.message = in.keep(j, 0, m.Payload())
	}
	if j.message != nil && !in.saneTime(j.message.Time) {
		return in.rejected(j, "time", fmt.Errorf("stamped %v", j.message.Time))
	}
	return j
}

// keep makes the journal entry for a non-telemetry message.
func (in *Ingest) keep(j *job, ms int64, payload []byte) *store.Message {
	t := in.now()
	if ms != 0 {
		t = time.UnixMilli(ms)
	}
	return &store.Message{Device: j.device, Seq: j.seq, Boot: j.boot, Kind: string(j.kind), Time: t, Body: payload}
}

func (in *Ingest) saneTime(t time.Time) bool {
	now := in.now()
	return t.After(now.Add(-in.cfg.MaxAge)) && t.Before(now.Add(in.cfg.MaxAhead))
}

// status handles a birth (online, with aliases) or a goodbye/last will.
func (in *Ingest) status(j *job, st *wirepb.Status, payload []byte) *job {
	online := st.GetOnline()
	j.online = &online
	if !online {
		return j
	}
	a, err := wire.AliasesFromBirth(st)
	if err != nil {
		reason := "birth"
		if errors.Is(err, wire.ErrNonFinite) {
			reason = "non_finite"
		}
		return in.rejected(j, reason, err)
	}
	t := in.now()
	if st.GetTimeMs() != 0 {
		t = time.UnixMilli(st.GetTimeMs())
	}
	j.birth = &store.Message{Device: j.device, Seq: j.seq, Boot: j.boot, Kind: string(wire.KindStatus), Time: t, Body: payload}
	in.mu.Lock()
	d := in.deviceLocked(j.device)
	d.remember(j.boot, a)
	d.status.VIN, d.status.AgentVersion, d.status.Adapter, d.status.Protocol = st.GetVin(), st.GetAgentVersion(), st.GetAdapter(), st.GetProtocol()
	waiting := in.parked[birthKey{j.device, j.boot}]
	delete(in.parked, birthKey{j.device, j.boot})
	in.parkedTotal -= len(waiting)
	in.mu.Unlock()
	if len(waiting) > 0 {
		in.metrics.parked.Sub(float64(len(waiting)))
		// The birth goes first, then the telemetry that waited for it.
		in.enqueue(j)
		for _, w := range waiting {
			if r := in.telemetry(w, w.decoded.(*wirepb.Telemetry)); r != nil {
				in.enqueue(r)
			}
		}
		return nil
	}
	return j
}

// remember keeps a boot's aliases, forgetting all but the last four boots.
func (d *device) remember(boot uint64, a *wire.Aliases) {
	if d.aliases == nil {
		d.aliases = map[uint64]*wire.Aliases{}
	}
	if _, ok := d.aliases[boot]; !ok {
		d.boots = append(d.boots, boot)
		if len(d.boots) > 4 {
			delete(d.aliases, d.boots[0])
			d.boots = d.boots[1:]
		}
	}
	d.aliases[boot] = a
}

func (in *Ingest) deviceLocked(id string) *device {
	d := in.devices[id]
	if d == nil {
		d = &device{status: store.DeviceStatus{Device: id}}
		in.devices[id] = d
	}
	return d
}

// aliases finds a boot's aliases: in memory, else from the journal (a
// server restarted after the device's birth).
func (in *Ingest) aliases(device string, boot uint64) *wire.Aliases {
	in.mu.Lock()
	a := in.deviceLocked(device).aliases[boot]
	in.mu.Unlock()
	if a != nil {
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, err := in.journal.Birth(ctx, device, boot)
	if err != nil {
		return nil
	}
	m, err := wire.Decode(wire.KindStatus, body)
	if err != nil {
		return nil
	}
	a, err = wire.AliasesFromBirth(m.(*wirepb.Status))
	if err != nil {
		return nil
	}
	in.mu.Lock()
	in.deviceLocked(device).remember(boot, a)
	in.mu.Unlock()
	return a
}

// How much telemetry may wait for its birth: per boot, and in all.
const (
	maxParkedPerBoot = 16
	maxParked        = 256
)

// telemetry turns samples into points, one per instant; samples out of
// the time bounds are left out and counted. Without the boot's aliases
// the message waits for its birth.
func (in *Ingest) telemetry(j *job, t *wirepb.Telemetry) *job {
	a := in.aliases(j.device, j.boot)
	if a == nil {
		if j.deadline.IsZero() {
			j.deadline = in.now().Add(in.cfg.BirthWait)
		}
		in.mu.Lock()
		k := birthKey{j.device, j.boot}
		if len(in.parked[k]) >= maxParkedPerBoot || in.parkedTotal >= maxParked {
			in.mu.Unlock()
			// Unacknowledged messages hold the broker's in-flight window:
			// a device that never announces itself must not stall the rest.
			return in.rejected(j, "no_birth", fmt.Errorf("no birth message for boot %016x, and too much telemetry already waits for one", j.boot))
		}
		in.parked[k] = append(in.parked[k], j)
		in.parkedTotal++
		in.mu.Unlock()
		in.metrics.parked.Inc()
		return nil
	}
	vehicle := in.vehicle(j.device)
	n := len(t.GetAlias())
	fields := make([]series.Field, 0, n)
	now := in.now()
	lo, hi := now.Add(-in.cfg.MaxAge).UnixMilli(), now.Add(in.cfg.MaxAhead).UnixMilli()
	ms := t.GetBaseMs()
	last := int64(-1 << 63)
	start := 0
	var outOfBounds int
	for i, x := range t.GetAlias() {
		ms += int64(t.GetDtMs()[i])
		s, ok := a.ByAlias(x)
		if !ok {
			return in.rejected(j, "alias", fmt.Errorf("sample %d has alias %d, which the birth of boot %016x did not announce", i, x, j.boot))
		}
		if ms < lo || ms > hi {
			outOfBounds++
			continue
		}
		if ms != last && len(fields) > start {
			j.points = append(j.points, series.Point{Device: j.device, Vehicle: vehicle, Time: time.UnixMilli(last), Fields: fields[start:len(fields):len(fields)]})
			start = len(fields)
		}
		last = ms
		v := s.Value(t.GetValue()[i])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			// AliasesFromBirth's bounds rule this out; the last guard
			// before the store.
			return in.rejected(j, "non_finite", fmt.Errorf("sample %d of %s comes out %v", i, s.Name, v))
		}
		fields = append(fields, series.Field{Signal: s.Name, Value: v})
	}
	if len(fields) > start {
		j.points = append(j.points, series.Point{Device: j.device, Vehicle: vehicle, Time: time.UnixMilli(last), Fields: fields[start:]})
	}
	if n := keepLastPerInstant(j); n > 0 {
		in.metrics.dropped.WithLabelValues("repeated").Add(float64(n))
	}
	j.samples = series.Samples(j.points)
	if outOfBounds > 0 {
		in.metrics.dropped.WithLabelValues("time").Add(float64(outOfBounds))
		if j.samples == 0 {
			return in.rejected(j, "time", fmt.Errorf("all %d samples lie outside %v back and %v ahead of the server's clock", outOfBounds, in.cfg.MaxAge, in.cfg.MaxAhead))
		}
		in.logReject("time", j, fmt.Errorf("%d of %d samples lie outside the accepted time range; stored the rest", outOfBounds, n))
	}
	return j
}

// keepLastPerInstant leaves one value per signal and instant in a job's
// points, the last one, as the series store would keep it (a later value
// of the same field and time overwrites the earlier), so that what is
// counted as stored is what is stored. It returns how many it left out.
func keepLastPerInstant(j *job) int {
	type key struct {
		ms     int64
		signal string
	}
	n := series.Samples(j.points)
	if n < 2 {
		return 0
	}
	last := make(map[key][2]int, n) // where each key's last value is
	for pi, p := range j.points {
		for fi, f := range p.Fields {
			last[key{p.Time.UnixMilli(), f.Signal}] = [2]int{pi, fi}
		}
	}
	if len(last) == n {
		return 0
	}
	dropped := 0
	points := j.points[:0]
	for pi, p := range j.points {
		fields := p.Fields[:0:0]
		for fi, f := range p.Fields {
			if last[key{p.Time.UnixMilli(), f.Signal}] == [2]int{pi, fi} {
				fields = append(fields, f)
			} else {
				dropped++
			}
		}
		if len(fields) > 0 {
			p.Fields = fields
			points = append(points, p)
		}
	}
	j.points = points
	return dropped
}

// vehicle is the tag for a device's points: the vehicle it is fitted to,
// looked up at most once a minute.
func (in *Ingest) vehicle(id string) string {
	in.mu.Lock()
	d := in.deviceLocked(id)
	if in.now().Sub(d.vehicleT) < time.Minute {
		v := d.vehicle
		in.mu.Unlock()
		return v
	}
	in.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := in.journal.VehicleOfDevice(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		in.log.Warn("ingest: looking up the vehicle of a device", "device", id, "err", err)
	}
	in.mu.Lock()
	d.vehicle, d.vehicleT = v.ID, in.now()
	in.mu.Unlock()
	return v.ID
}

// rejected marks a job refused: it is acknowledged in its turn, counted
// and logged, and nothing of it is stored.
func (in *Ingest) rejected(j *job, reason string, err error) *job {
	j.reject = reason
	j.points, j.message, j.birth, j.online = nil, nil, nil, nil
	in.metrics.rejected.WithLabelValues(reason).Inc()
	in.statsMu.Lock()
	in.stats.Rejected++
	in.stats.RejectedBy[reason]++
	in.statsMu.Unlock()
	in.logReject(reason, j, err)
	return j
}

// logReject logs a problem, at most once every ten seconds per reason.
func (in *Ingest) logReject(reason string, j *job, err error) {
	in.mu.Lock()
	last := in.rejectAt[reason]
	quiet := in.now().Sub(last) < 10*time.Second
	if !quiet {
		in.rejectAt[reason] = in.now()
	}
	in.mu.Unlock()
	if quiet {
		return
	}
	in.log.Warn("ingest: message refused (further ones of this kind within 10 s are only counted, in pitwall_ingest_messages_rejected_total)",
		"reason", reason, "topic", j.msg.Topic(), "bytes", len(j.msg.Payload()), "err", err)
}

// sweepParked rejects telemetry whose birth never came.
func (in *Ingest) sweepParked(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := in.now()
		var expired []*job
		in.mu.Lock()
		for k, js := range in.parked {
			keep := js[:0]
			for _, j := range js {
				if now.After(j.deadline) {
					expired = append(expired, j)
				} else {
					keep = append(keep, j)
				}
			}
			if len(keep) == 0 {
				delete(in.parked, k)
			} else {
				in.parked[k] = keep
			}
		}
		in.parkedTotal -= len(expired)
		in.mu.Unlock()
		for _, j := range expired {
			in.metrics.parked.Dec()
			in.rejected(j, "no_birth", fmt.Errorf("no birth message for boot %016x within %v", j.boot, in.cfg.BirthWait))
			in.enqueue(j)
		}
	}
}
