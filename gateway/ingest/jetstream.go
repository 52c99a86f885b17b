package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// What NATS's MQTT listener keeps: every QoS 1 message a car publishes is
// stored in this stream, replicated, before the car gets its PUBACK, under
// the subject it was published on with this prefix (after the account's
// mapping, so with its partition). The ingest consumes its partitions
// straight from it: what a car was told is safe is what the ingest reads.
// The stream keeps a message while a consumer whose filter matches has
// not acknowledged it (interest retention), so the partitions' consumers
// must exist before cars publish: the ingest creates them, and the stream
// if no car has connected yet.
const (
	natsStream        = "$MQTT_msgs"
	natsStreamSubject = "$MQTT.msgs."
)

// ConsumerName is the durable consumer of partition p.
func ConsumerName(p int) string { return fmt.Sprintf("pitwall-p%03d", p) }

// Leases gives this server partitions, each to one server at a time (a
// *store.Leases, on PostgreSQL's advisory locks).
type Leases interface {
	// Members counts the servers sharing the partitions, this one included.
	Members(ctx context.Context) (int, error)
	TryAcquire(ctx context.Context, n int) (bool, error)
	Release(ctx context.Context, n int) error
	// Check fails once the leases' session is gone: every lease with it.
	Check(ctx context.Context) error
	Close() error
}

// Partition is one share of the cars: those whose id hashes to Index
// among Count.
type Partition struct{ Index, Count int }

// Has reports whether a device's messages are in the partition.
func (p Partition) Has(device string) bool { return wire.NATSPartition(device, p.Count) == p.Index }

// PartitionHooks are told when this server starts and stops handling a
// partition's cars.
type PartitionHooks struct {
	// Acquired runs when the server has taken a partition, before any of
	// its messages is handled: the place to rebuild the cars' state from
	// what is stored. An error gives the partition up again (another
	// server, or this one later, takes it).
	Acquired func(ctx context.Context, p Partition) error
	// Released runs once the server has given a partition up, after the
	// last of its messages in hand was stored (or abandoned to the next
	// owner), and when preparing a taken partition failed after Acquired
	// ran. It does not run for partitions lost with the server's own end.
	Released func(p Partition)
}

// WithLeases says how the ingest opens its leases on a NATS cluster;
// open is called at start and again after the session was lost.
func WithLeases(open func(ctx context.Context) (Leases, error)) Option {
	return func(in *Ingest) { in.openLeases = open }
}

// WithPartitionHooks calls h when partitions come and go.
func WithPartitionHooks(h PartitionHooks) Option { return func(in *Ingest) { in.hooks = h } }

// WithNATSOptions adds options to the NATS connection (tests use a dialer
// they can cut).
func WithNATSOptions(o ...nats.Option) Option {
	return func(in *Ingest) { in.natsOpts = append(in.natsOpts, o...) }
}

// ErrNoLeases: a NATS cluster's partitions are shared through leases,
// and none were given (WithLeases).
var ErrNoLeases = errors.New("ingest: a NATS cluster needs leases to share its partitions (a PostgreSQL store)")

// ErrMapping: the cluster does not map cars' messages to the partitions
// this server expects.
var ErrMapping = errors.New("ingest: the NATS account's subject mapping does not match")

// natsSource consumes a NATS cluster's partitions.
type natsSource struct {
	in   *Ingest
	cfg  NATSConfig
	nc   *nats.Conn
	js   jetstream.JetStream
	strm jetstream.Stream

	mu     sync.Mutex
	owned  map[int]*partition
	leases Leases
	state  error // why it is not ready; nil when it is
}

// partition is one partition being consumed.
type partition struct {
	p       Partition
	cancel  context.CancelFunc // stops the fetch loop
	done    chan struct{}      // the fetch loop ended
	acks    ackTracker
	ackStop chan struct{} // stops the acknowledging loop
	// lastDelivered is the consumer's delivery number of the last message
	// received, 0 after a reset (fetch loop only).
	lastDelivered uint64
	ackDone       chan struct{}
}

// connectNATS opens the server's connection to the cluster.
func (in *Ingest) connectNATS() (*nats.Conn, error) {
	b := in.cfg.Broker
	opts := []nats.Option{nats.Name(b.ClientID), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second), nats.Timeout(10 * time.Second), nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				in.log.Warn("ingest: NATS connection lost; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { in.log.Info("ingest: NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if b.PasswordFile != "" {
		pw, err := os.ReadFile(b.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ingest: broker.password_file: %w", err)
		}
		b.Password = strings.TrimSpace(string(pw))
	}
	if b.Username != "" {
		opts = append(opts, nats.UserInfo(b.Username, b.Password))
	}
	tc, err := wire.ClientTLS(b.URL, b.CAFile, b.CertFile, b.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(b.URL, append(opts, in.natsOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("ingest: connecting to %s: %w", b.URL, err)
	}
	return nc, nil
}

// runNATS consumes until ctx ends.
func (in *Ingest) runNATS(ctx context.Context) error {
	if in.openLeases == nil {
		return ErrNoLeases
	}
	nc, err := in.connectNATS()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	src := &natsSource{in: in, cfg: in.cfg.NATS, nc: nc, js: js, owned: map[int]*partition{}, state: errors.New("ingest: starting")}
	in.mu.Lock()
	in.nats = src
	in.mu.Unlock()
	err = src.run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (s *natsSource) setState(err error) {
	s.mu.Lock()
	s.state = err
	s.mu.Unlock()
}

// ready reports why the source is not consuming, or nil.
func (s *natsSource) ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != nil {
		return s.state
	}
	if !s.nc.IsConnected() {
		return fmt.Errorf("ingest: not connected to NATS (%s)", s.in.cfg.Broker.URL)
	}
	return nil
}

// Owned lists the partitions this server consumes now (NATS only).
func (in *Ingest) Owned() []int {
	in.mu.Lock()
	s := in.nats
	in.mu.Unlock()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.owned))
	for n := range s.owned {
		out = append(out, n)
	}
	return out
}

// run sets the stream and consumers up, then keeps this server's share of
// the partitions until ctx ends.
func (s *natsSource) run(ctx context.Context) error {
	log := s.in.log
	for attempt := 0; ; attempt++ {
		err := s.setup(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, ErrMapping) {
			s.setState(err)
			log.Error("ingest: the NATS cluster is not set up for this server", "err", err)
			return err
		}
		s.setState(fmt.Errorf("ingest: setting up the NATS consumers: %w", err))
		if attempt%10 == 0 {
			log.Warn("ingest: setting up the NATS consumers; retrying", "err", err)
		}
		if !sleep(ctx, time.Second) {
			return ctx.Err()
		}
	}
	defer s.releaseAll()
	tick := time.NewTicker(s.cfg.Rebalance)
	defer tick.Stop()
	for {
		s.rebalance(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// setup makes sure the message stream and every partition's consumer
// exist, and that the cluster maps cars to the same partitions.
func (s *natsSource) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	strm, err := s.js.Stream(ctx, natsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// No car has connected yet: make it as NATS's MQTT listener would.
		strm, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: natsStream, Subjects: []string{natsStreamSubject + ">"},
			Storage: jetstream.FileStorage, Retention: jetstream.InterestPolicy, Replicas: s.cfg.Replicas})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			strm, err = s.js.Stream(ctx, natsStream)
		}
	}
	if err != nil {
		return fmt.Errorf("the %s stream: %w", natsStream, err)
	}
	s.strm = strm
	for p := range s.cfg.Partitions {
		if _, err := strm.CreateOrUpdateConsumer(ctx, s.consumerConfig(p)); err != nil {
			return fmt.Errorf("consumer %s: %w", ConsumerName(p), err)
		}
	}
	return s.checkMapping(ctx)
}

func (s *natsSource) consumerConfig(p int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(p),
		Description:   fmt.Sprintf("Pitwall ingest, partition %d of %d", p, s.cfg.Partitions),
		FilterSubject: fmt.Sprintf("%s%s%d.>", natsStreamSubject, wire.NATSPartPrefix, p),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Acknowledging a message acknowledges those before it: the ingest
		// acknowledges a partition's messages only up to the first one not
		// yet stored.
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: s.cfg.MaxAckPending,
		MaxDeliver:    -1,
		Replicas:      0, // the stream's
	}
}

// checkMapping publishes a probe (core NATS, never stored) for a few made-up
// devices and checks that the account maps each to the partition this
// server computes.
func (s *natsSource) checkMapping(ctx context.Context) error {
	probes := make([]string, 4)
	want := map[string]int{}
	for i := range probes {
		probes[i] = fmt.Sprintf("_pitwall_probe_%016x", rand.Uint64())
		want[probes[i]] = wire.NATSPartition(probes[i], s.cfg.Partitions)
	}
	got := make(chan string, len(probes))
	sub, err := s.nc.Subscribe(wire.NATSPartPrefix+">", func(m *nats.Msg) {
		if _, topic, err := wire.ParseNATSPartSubject(m.Subject); err == nil {
			if dev, _, err := wire.ParseTopic(topic); err == nil {
				if _, ok := want[dev]; ok {
					select {
					case got <- m.Subject:
					default:
					}
				}
			}
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	if err := s.nc.FlushWithContext(ctx); err != nil {
		return err
	}
	for _, id := range probes {
		if err := s.nc.Publish(wire.NATSSubject(wire.Topic(id, wire.KindTelemetry)), nil); err != nil {
			return err
		}
	}
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	for range probes {
		select {
		case subj := <-got:
			p, topic, err := wire.ParseNATSPartSubject(subj)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrMapping, err)
			}
			dev, _, _ := wire.ParseTopic(topic)
			if p != want[dev] {
				return fmt.Errorf("%w: device %s went to partition %d, this server expects %d of ingest.nats.partitions %d: "+
					"give the cluster the mapping `pitwall nats config` prints, or the server the cluster's partition count", ErrMapping, dev, p, want[dev], s.cfg.Partitions)
			}
		case <-timer.C:
			return fmt.Errorf("%w: a probe published on %s did not come back on %s… within 5 s: the account has no partition mapping "+
				"(or this server may not publish to pitwall.v1.*.telemetry and subscribe to %s>)", ErrMapping, wire.NATSSubject(wire.Topic(probes[0], wire.KindTelemetry)), wire.NATSPartPrefix, wire.NATSPartPrefix)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// rebalance checks the leases and takes or gives up partitions towards
// this server's fair share: at most ⌈partitions / servers⌉.
func (s *natsSource) rebalance(ctx context.Context) {
	log := s.in.log
	if s.leases != nil {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Rebalance)
		err := s.leases.Check(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			// The session is gone, or cannot be told apart from gone:
			// another server may hold our partitions already. Stop at once.
			log.Error("ingest: lost the partition leases; stopping every partition", "err", err)
			s.loseAll()
			_ = s.leases.Close()
			s.leases = nil
		}
	}
	if s.leases == nil {
		l, err := s.in.openLeases(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.setState(fmt.Errorf("ingest: opening the partition leases: %w", err))
				log.Warn("ingest: opening the partition leases; retrying", "err", err)
			}
			return
		}
		s.leases = l
	}
	members, err := s.leases.Members(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("ingest: counting the servers", "err", err)
		}
		return
	}
	s.setState(nil)
	fair := (s.cfg.Partitions + members - 1) / max(members, 1)
	s.mu.Lock()
	held := len(s.owned)
	s.mu.Unlock()
	switch {
	case held > fair:
		// Give the excess up (the highest numbers), for the others to take.
		parts := s.ownedParts()
		sort.Slice(parts, func(i, j int) bool { return parts[i].p.Index < parts[j].p.Index })
		s.release(ctx, parts[fair:]...)
	case held < fair:
		// Lease what is free up to the fair share, then prepare the
		// partitions at once: each take rebuilds its cars' rule state
		// before its first message, and a server that died leaves several.
		var got []int
		start := rand.IntN(s.cfg.Partitions)
		for i := 0; i < s.cfg.Partitions && held+len(got) < fair && ctx.Err() == nil; i++ {
			n := (start + i) % s.cfg.Partitions
			s.mu.Lock()
			_, mine := s.owned[n]
			s.mu.Unlock()
			if mine {
				continue
			}
			ok, err := s.leases.TryAcquire(ctx, n)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("ingest: taking a partition", "partition", n, "err", err)
				}
				break
			}
			if ok {
				got = append(got, n)
			}
		}
		var wg sync.WaitGroup
		slots := make(chan struct{}, parallelTakes)
		for _, n := range got {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				s.take(ctx, n)
			})
		}
		wg.Wait()
	}
}

// parallelTakes is how many partitions a server prepares at once.
const parallelTakes = 4

// take starts consuming partition n, whose lease this server just got.
func (s *natsSource) take(ctx context.Context, n int) bool {
	log := s.in.log
	began := time.Now()
	p := Partition{Index: n, Count: s.cfg.Partitions}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Whatever the previous owner was handed and did not acknowledge
	// comes again, first and in order, before anything newer.
	if _, err := s.strm.ResetConsumer(cctx, ConsumerName(n)); err != nil {
		log.Warn("ingest: resetting a partition's consumer; giving it up", "partition", n, "err", err)
		_ = s.leases.Release(ctx, n)
		return false
	}
	// giveUp drops what preparing the partition built (the cars' state the
	// hook rebuilt before it failed) and frees the lease.
	giveUp := func() {
		if s.in.hooks.Released != nil && s.in.hooks.Acquired != nil {
			s.in.hooks.Released(p)
		}
		_ = s.leases.Release(ctx, n)
	}
	if s.in.hooks.Acquired != nil {
		if err := s.in.hooks.Acquired(cctx, p); err != nil {
			log.Error("ingest: preparing a partition failed; giving it up", "partition", n, "err", err)
			giveUp()
			return false
		}
	}
	cons, err := s.strm.Consumer(cctx, ConsumerName(n))
	if err != nil {
		log.Warn("ingest: a partition's consumer; giving it up", "partition", n, "err", err)
		giveUp()
		return false
	}
	fctx, stop := context.WithCancel(ctx)
	part := &partition{p: p, cancel: stop, done: make(chan struct{}), ackStop: make(chan struct{}), ackDone: make(chan struct{})}
	part.acks.init()
	s.mu.Lock()
	s.owned[n] = part
	s.in.metrics.partitions.Set(float64(len(s.owned))) // under the lock: takes run at once
	s.mu.Unlock()
	s.in.metrics.held.WithLabelValues(strconv.Itoa(n)).Set(1)
	s.in.metrics.takeovers.Inc()
	go func() { defer close(part.done); s.fetch(fctx, part, cons) }()
	go func() { defer close(part.ackDone); part.acks.run(part.ackStop) }()
	log.Info("ingest: consuming a partition", "partition", n, "of", s.cfg.Partitions, "took", time.Since(began).Round(time.Millisecond))
	return true
}

// errDeliveryGap: the consumer handed out messages this server never
// received (a pull whose answer died with a NATS node or a connection).
// Acknowledging anything after them would acknowledge them too (AckAll),
// and waiting for their redelivery would break the cars' order.
var errDeliveryGap = errors.New("ingest: the consumer delivered messages this server did not receive")

// fetch pulls a partition's messages into the ingest until ctx ends.
func (s *natsSource) fetch(ctx context.Context, part *partition, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		err := s.fetchOnce(ctx, part, cons)
		if errors.Is(err, errDeliveryGap) {
			s.in.metrics.rewinds.Inc()
			if err = s.rewind(ctx, part); err == nil {
				continue
			}
		}
		if err != nil && ctx.Err() == nil {
			s.in.log.Warn("ingest: fetching from a partition", "partition", part.p.Index, "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// rewind starts a partition over from its first message not yet stored:
// once what is in hand is stored and its acknowledgement confirmed, the
// consumer is reset to its acknowledged floor, so what was lost in
// delivery comes again, in order, before anything newer.
func (s *natsSource) rewind(ctx context.Context, part *partition) error {
	for !part.acks.allDone() {
		if !sleep(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := part.acks.flushSync(cctx); err != nil {
		return fmt.Errorf("confirming the acknowledgement before a rewind: %w", err)
	}
	if _, err := s.strm.ResetConsumer(cctx, ConsumerName(part.p.Index)); err != nil {
		return fmt.Errorf("rewinding the consumer: %w", err)
	}
	part.lastDelivered = 0
	s.in.log.Warn("ingest: messages were lost in delivery; the partition starts again from its last stored one", "partition", part.p.Index)
	return nil
}

// fetchOnce pulls one batch (waiting up to 5 s for it) and hands it to the
// ingest, blocking while its queue is full.
func (s *natsSource) fetchOnce(ctx context.Context, part *partition, cons jetstream.Consumer) error {
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	batch, err := cons.Fetch(s.cfg.Fetch, jetstream.FetchContext(fctx))
	if err != nil {
		return err
	}
	received := 0
	for m := range batch.Messages() {
		received++
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("%w: %v", errDeliveryGap, err)
		}
		// Every delivery, first or again, takes the consumer's next
		// number: a number skipped is a delivery that never arrived.
		if part.lastDelivered != 0 && md.Sequence.Consumer != part.lastDelivered+1 {
			return fmt.Errorf("%w: delivery %d after %d", errDeliveryGap, md.Sequence.Consumer, part.lastDelivered)
		}
		part.lastDelivered = md.Sequence.Consumer
		jm := &jsMessage{raw: m, tracker: &part.acks}
		jm.topic = s.topic(part.p, m.Subject())
		part.acks.add(jm)
		if !s.in.offer(jm, ctx.Done()) {
			return nil // given up: the next owner gets it again
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	if received == 0 && ctx.Err() == nil {
		return s.checkTail(ctx, part, cons)
	}
	return nil
}

// checkTail runs when a pull came back empty: a delivery lost after the
// partition's newest message is followed by none that would show the gap,
// so the consumer is asked whether it handed out more than arrived (and
// is still waiting for acknowledgements of it).
func (s *natsSource) checkTail(ctx context.Context, part *partition, cons jetstream.Consumer) error {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := cons.Info(ictx)
	if err != nil {
		return nil // the next pull tries again
	}
	if info.Delivered.Consumer > part.lastDelivered && info.NumAckPending > 0 {
		return fmt.Errorf("%w: %d delivered, the last received %d", errDeliveryGap, info.Delivered.Consumer, part.lastDelivered)
	}
	return nil
}

// topic is the MQTT topic a stored message was published on; a subject
// that is not a partition's, or whose device is not the partition's, comes
// out as a topic the ingest refuses (with the reason).
func (s *natsSource) topic(p Partition, subject string) string {
	n, topic, err := wire.ParseNATSPartSubject(subject)
	if err != nil {
		return subject
	}
	dev, _, err := wire.ParseTopic(topic)
	if err != nil || n != p.Index || !p.Has(dev) {
		return "partition-mismatch/" + subject
	}
	return topic
}

// release stops consuming partitions, waits (up to DrainTimeout) for
// their messages in hand to be stored and acknowledged, and gives their
// leases up.
func (s *natsSource) release(ctx context.Context, parts ...*partition) {
	for _, p := range parts {
		p.cancel()
	}
	for _, p := range parts {
		<-p.done
	}
	deadline := time.Now().Add(s.cfg.DrainTimeout)
	for _, p := range parts {
		for !p.acks.allDone() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		close(p.ackStop)
		<-p.ackDone
		if !p.acks.allDone() {
			s.in.log.Warn("ingest: gave a partition up with messages not yet stored; its next owner gets them again", "partition", p.p.Index)
		}
		s.mu.Lock()
		delete(s.owned, p.p.Index)
		s.in.metrics.partitions.Set(float64(len(s.owned)))
		s.mu.Unlock()
		s.in.metrics.held.WithLabelValues(strconv.Itoa(p.p.Index)).Set(0)
		if s.in.hooks.Released != nil {
			s.in.hooks.Released(p.p)
		}
		if s.leases != nil {
			if err := s.leases.Release(context.WithoutCancel(ctx), p.p.Index); err != nil {
				s.in.log.Warn("ingest: releasing a partition's lease", "partition", p.p.Index, "err", err)
			}
		}
		s.in.log.Info("ingest: gave a partition up", "partition", p.p.Index)
	}
}

// loseAll stops every partition at once, without waiting for what is in
// hand: their leases are gone already.
func (s *natsSource) loseAll() {
	s.mu.Lock()
	parts := s.owned
	s.owned = map[int]*partition{}
	s.mu.Unlock()
	for _, p := range parts {
		p.cancel()
		close(p.ackStop)
	}
	for _, p := range parts {
		<-p.done
		<-p.ackDone
		s.in.metrics.held.WithLabelValues(strconv.Itoa(p.p.Index)).Set(0)
	}
	s.in.metrics.partitions.Set(0)
}

// releaseAll gives every partition up on the way out.
func (s *natsSource) releaseAll() {
	s.release(context.Background(), s.ownedParts()...)
	if s.leases != nil {
		_ = s.leases.Close()
		s.leases = nil
	}
}

func (s *natsSource) ownedParts() []*partition {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*partition, 0, len(s.owned))
	for _, p := range s.owned {
		out = append(out, p)
	}
	return out
}

// publishNATS sends a command to a device: a core NATS message on the
// subject the car subscribes to, returning once the server has it. NATS
// hands a message from a NATS client to an MQTT subscriber at QoS 0, so a
// command reaches a car that is connected now; commands expire within
// minutes anyway.
func (in *Ingest) publishNATS(ctx context.Context, s *natsSource, topic string, payload []byte) error {
	if err := s.nc.Publish(wire.NATSSubject(topic), payload); err != nil {
		return fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	return s.nc.FlushWithContext(ctx)
}

// jsMessage is a stored message handed to the ingest; Ack marks it
// stored, and the partition's tracker acknowledges up to the first one
// that is not.
type jsMessage struct {
	raw     jetstream.Msg
	topic   string
	tracker *ackTracker
	done    bool // under tracker.mu
}

func (m *jsMessage) Duplicate() bool   { return false }
func (m *jsMessage) Qos() byte         { return 1 }
func (m *jsMessage) Retained() bool    { return false }
func (m *jsMessage) Topic() string     { return m.topic }
func (m *jsMessage) MessageID() uint16 { return 0 }
func (m *jsMessage) Payload() []byte   { return m.raw.Data() }
func (m *jsMessage) Ack()              { m.tracker.done(m) }

var _ mqtt.Message = (*jsMessage)(nil)

// ackTracker holds a partition's messages in the order they were handed
// over; the acknowledgement (which covers every earlier message of the
// consumer) goes out for the last of the leading run of stored ones, once
// per wake-up, so a batch of a hundred costs one.
type ackTracker struct {
	mu      sync.Mutex
	pending []*jsMessage
	wake    chan struct{}
}

func (t *ackTracker) init() { t.wake = make(chan struct{}, 1) }

func (t *ackTracker) add(m *jsMessage) {
	t.mu.Lock()
	t.pending = append(t.pending, m)
	t.mu.Unlock()
}

func (t *ackTracker) done(m *jsMessage) {
	t.mu.Lock()
	m.done = true
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// allDone reports whether every message handed over is stored.
func (t *ackTracker) allDone() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.pending {
		if !m.done {
			return false
		}
	}
	return true
}

// leading takes the leading run of stored messages off the list and
// returns its last, nil when the first message is not stored yet.
func (t *ackTracker) leading() *jsMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	var last *jsMessage
	i := 0
	for i < len(t.pending) && t.pending[i].done {
		last = t.pending[i]
		i++
	}
	t.pending = t.pending[i:]
	return last
}

// flush acknowledges the leading run of stored messages.
func (t *ackTracker) flush() {
	if last := t.leading(); last != nil {
		_ = last.raw.Ack()
	}
}

// flushSync acknowledges the leading run of stored messages and waits
// for NATS to confirm it.
func (t *ackTracker) flushSync(ctx context.Context) error {
	last := t.leading()
	if last == nil {
		return nil
	}
	if err := last.raw.DoubleAck(ctx); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		return err
	}
	return nil
}

func (t *ackTracker) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			t.flush()
			return
		case <-t.wake:
			t.flush()
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
