// Package broker is Pitwall's embedded MQTT broker (mochi-mqtt), for the
// demo and small installs: devices log in with their id and secret, may
// publish only under their own id and read only their own commands, and
// only while they are not revoked; the server's users may read every
// device and send commands. With a Deliver function, a device's message is
// handed to the ingest and stored before the broker acknowledges it to
// the device, so a crash of the process loses nothing a car was told is
// safe.
//
// What a client can make the broker hold is bounded before it logs in:
// the number of connections, the time to send a CONNECT, the CONNECT's
// size (checked from its fixed header), and any packet's size
// (wire.MaxPacket). Only a device's own status is retained, and never
// beyond wire.MaxStatus. It listens in the clear, over TLS, or both.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// Devices is what the broker asks about devices; *store.Store is one.
type Devices interface {
	// Authenticate checks a device's credentials.
	Authenticate(ctx context.Context, device, secret string) error
	// DeviceActive reports whether a device is registered and not revoked.
	DeviceActive(ctx context.Context, device string) (bool, error)
	// RevokedSince lists the devices revoked at t or later.
	RevokedSince(ctx context.Context, t time.Time) ([]string, error)
}

// Options configure the broker.
type Options struct {
	// Addr is the TCP address to listen on in the clear ("127.0.0.1:1883";
	// port 0 picks a free one); empty for none.
	Addr string
	// TLSAddr is the address of the TLS listener, with TLSConfig; empty
	// for none. At least one of Addr and TLSAddr is needed.
	TLSAddr   string
	TLSConfig *tls.Config
	// Devices checks device logins and whether a device is still active.
	Devices Devices
	// Servers maps the user names of Pitwall servers and tools to their
	// secrets' hashes ($7$, as store.HashSecret makes them).
	Servers map[string]string
	// ServerUsers, when set, reads more of them (the store's broker users,
	// as `pitwall users add NAME --role server` adds them): at start and
	// every RevocationCheck, so a new one logs in within that bound and a
	// removed one is refused.
	ServerUsers func(ctx context.Context) (map[string]string, error)
	// CheckSecret checks a secret against a hash (store.CheckSecret).
	CheckSecret func(hash, secret string) bool
	// Deliver, when set, receives each device message before the broker
	// acknowledges it; an error leaves the message unacknowledged, so the
	// device sends it again.
	Deliver func(ctx context.Context, topic string, payload []byte) error

	// MaxClients bounds the connections open at once, logged in or not
	// (DefaultMaxClients when 0); more are closed as they are accepted.
	MaxClients int
	// MaxConnecting bounds the connections that have not logged in yet
	// (DefaultMaxConnecting when 0).
	MaxConnecting int
	// MaxConnectingPerAddress bounds those of them from one remote
	// address (DefaultMaxConnectingPerAddress, or MaxConnecting if lower,
	// when 0): a host that opens connections and never logs in takes no
	// more places than this from the cars. Logged-in connections are not
	// bounded per address: many cars may share one behind a carrier's NAT;
	// nor are this machine's own loopback connections (the simulator, the
	// demo and the benchmarks run hundreds of cars there).
	MaxConnectingPerAddress int
	// ConnectTimeout is how long a connection has to send its CONNECT
	// (DefaultConnectTimeout when 0).
	ConnectTimeout time.Duration
	// RevocationCheck is how often the broker looks for devices revoked
	// by another process (DefaultRevocationCheck when 0): the bound on how
	// long such a device keeps publishing.
	RevocationCheck time.Duration

	// Registry, when set, gets the broker's metrics.
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Defaults for Options.
const (
	DefaultMaxClients    = 10000
	DefaultMaxConnecting = 1000
	// DefaultMaxConnectingPerAddress lets a depot's or a carrier's NAT
	// reconnect a hundred cars at once.
	DefaultMaxConnectingPerAddress = 100
	DefaultConnectTimeout          = 10 * time.Second
	DefaultRevocationCheck         = 5 * time.Second
	// maxKeepAlive replaces a keep-alive of 0 (never) or one longer: a
	// client silent for 1.5 times it is disconnected.
	maxKeepAlive = time.Hour
	// writesPending bounds the packets queued for one client. The queue
	// is made when a connection is accepted, before it logs in, so it is
	// kept small; a client that falls further behind misses messages.
	writesPending = 1024
)

// Broker is a running embedded broker.
type Broker struct {
	srv     *mqtt.Server
	opt     Options
	addr    string
	tlsAddr string
	guards  []*guard
	slots   *slots
	active  *activeCache
	metrics *brokerMetrics
	// servers is Options.Servers with ServerUsers' read over it.
	servers atomic.Pointer[map[string]string]

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start listens and serves until Close.
func Start(opt Options) (_ *Broker, err error) {
	if opt.Devices == nil || opt.CheckSecret == nil {
		return nil, errors.New("broker: Devices and CheckSecret are required")
	}
	if opt.Addr == "" && opt.TLSAddr == "" {
		return nil, errors.New("broker: give Addr, TLSAddr or both")
	}
	if opt.TLSAddr != "" && opt.TLSConfig == nil {
		return nil, errors.New("broker: a TLS listener needs TLSConfig")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	for p, d := range map[*int]int{&opt.MaxClients: DefaultMaxClients, &opt.MaxConnecting: DefaultMaxConnecting} {
		if *p <= 0 {
			*p = d
		}
	}
	if opt.MaxConnectingPerAddress <= 0 {
		opt.MaxConnectingPerAddress = min(DefaultMaxConnectingPerAddress, opt.MaxConnecting)
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = DefaultConnectTimeout
	}
	if opt.RevocationCheck <= 0 {
		opt.RevocationCheck = DefaultRevocationCheck
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = wire.MaxPacket
	caps.MaximumClients = int64(opt.MaxClients)
	caps.MaximumClientWritesPending = writesPending
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: opt.Log.With("component", "broker")})
	b := &Broker{srv: srv, opt: opt, slots: newSlots(opt), active: newActiveCache(opt.Devices, opt.RevocationCheck), metrics: newBrokerMetrics()}
	if opt.Registry != nil {
		if err := b.metrics.register(opt.Registry, b); err != nil {
			return nil, err
		}
	}
	b.servers.Store(&opt.Servers)
	b.loadServers(context.Background())
	if err := srv.AddHook(&hook{opt: opt, b: b}, nil); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, g := range b.guards {
				g.Close()
			}
		}
	}()
	for _, l := range []struct {
		id, addr string
		tls      *tls.Config
		dst      *string
	}{{"tcp", opt.Addr, nil, &b.addr}, {"tls", opt.TLSAddr, opt.TLSConfig, &b.tlsAddr}} {
		if l.addr == "" {
			continue
		}
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			return nil, fmt.Errorf("broker: listening on %s: %w", l.addr, err)
		}
		if l.tls != nil {
			nl = tls.NewListener(nl, l.tls)
		}
		g := newGuard(l.id, nl, b, b.slots, opt.ConnectTimeout)
		b.guards = append(b.guards, g)
		if err := srv.AddListener(listeners.NewNet(l.id, g)); err != nil {
			return nil, fmt.Errorf("broker: listening on %s: %w", l.addr, err)
		}
		*l.dst = nl.Addr().String()
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.sweepRevoked(ctx) }()
	return b, nil
}

// Addr is the address of the listener in the clear ("" without one).
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as a client would write it: the listener in
// the clear if there is one, else the TLS one.
func (b *Broker) URL() string {
	if b.addr == "" {
		return b.TLSURL()
	}
	return "tcp://" + b.addr
}

// TLSURL is the TLS listener's address as a client writes it ("" without
// one).
func (b *Broker) TLSURL() string {
	if b.tlsAddr == "" {
		return ""
	}
	return "ssl://" + b.tlsAddr
}

// ErrRetained: the server itself tried to retain a message on a device
// topic.
var ErrRetained = errors.New("broker: messages on device topics are not retained")

// Publish sends a message from the server itself (a command to a device,
// an owner's notification). Device topics are never retained.
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	if retain && strings.HasPrefix(topic, wire.Prefix) {
		return fmt.Errorf("%w: %s", ErrRetained, topic)
	}
	return b.srv.Publish(topic, payload, retain, 1)
}

// Revoked tells the broker a device has been revoked: from now on its
// publishes and subscriptions are refused and its session, if it has
// one, is cut at once (without its last will).
func (b *Broker) Revoked(device string) {
	b.active.set(device, false)
	b.cut(device, "revoked on this server")
}

// cut disconnects a device's session.
func (b *Broker) cut(device, why string) {
	cl, ok := b.srv.Clients.Get(device)
	if !ok || cl.Net.Inline || cl.Closed() {
		return
	}
	atomic.StoreUint32(&cl.Properties.Will.Flag, 0) // a revoked device's will is not published
	b.opt.Log.Info("broker: cutting a revoked device's session", "device", device, "remote", cl.Net.Remote, "why", why)
	b.metrics.cut.Inc()
	_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
}

// loadServers reads ServerUsers over the configured servers; on an error
// the last good list stays.
func (b *Broker) loadServers(ctx context.Context) {
	if b.opt.ServerUsers == nil {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, b.opt.RevocationCheck)
	more, err := b.opt.ServerUsers(qctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			b.opt.Log.Warn("broker: reading the server users; the last list stays", "err", err)
		}
		return
	}
	all := make(map[string]string, len(b.opt.Servers)+len(more))
	for n, h := range more {
		all[n] = h
	}
	for n, h := range b.opt.Servers {
		all[n] = h // the configuration's win
	}
	b.servers.Store(&all)
}

// serverHash is a server user's secret hash.
func (b *Broker) serverHash(user string) (string, bool) {
	h, ok := (*b.servers.Load())[user]
	return h, ok
}

// sweepRevoked looks for devices revoked by another process (a `pitwall
// devices revoke` on the same database) every RevocationCheck, and cuts
// their sessions.
func (b *Broker) sweepRevoked(ctx context.Context) {
	t := time.NewTicker(b.opt.RevocationCheck)
	defer t.Stop()
	since := time.Now().Add(-b.opt.RevocationCheck)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.loadServers(ctx)
		start := time.Now()
		qctx, cancel := context.WithTimeout(ctx, b.opt.RevocationCheck)
		// The window overlaps the last one: a revocation committed while
		// the last query ran is not missed.
		ids, err := b.opt.Devices.RevokedSince(qctx, since.Add(-b.opt.RevocationCheck))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				b.opt.Log.Warn("broker: looking for revoked devices; until it works, each publish asks the database", "err", err)
			}
			b.active.stale()
			continue
		}
		since = start
		for _, id := range ids {
			b.active.set(id, false)
			b.cut(id, "revoked elsewhere")
		}
		b.active.swept(start)
	}
}

// Close disconnects everyone and stops listening; it is safe to call twice.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() {
		b.cancel()
		b.wg.Wait()
		err = b.srv.Close() // closes the guards, and with them every connection
	})
	return err
}

// refused counts and logs a connection dropped before it logged in, the
// log at most once every ten seconds per reason.
func (b *Broker) refused(reason string, remote net.Addr) {
	b.metrics.refused.WithLabelValues(reason).Inc()
	if b.metrics.quiet(reason) {
		return
	}
	b.opt.Log.Warn("broker: a connection was dropped before it logged in (further ones within 10 s only counted, in pitwall_broker_connections_refused_total)",
		"reason", reason, "remote", remote)
}

// hook authenticates, authorises and delivers.
type hook struct {
	mqtt.HookBase
	opt Options
	b   *Broker
}

func (h *hook) ID() string { return "pitwall" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPacketRead, mqtt.OnDisconnect:
		return true
	case mqtt.OnPublish, mqtt.OnWillSent:
		return h.opt.Deliver != nil
	}
	return false
}

// role of a logged-in client.
func (h *hook) isServer(user string) bool { _, ok := h.b.serverHash(user); return ok }

// OnConnect runs once the CONNECT is read, before the broker sets the
// connection's deadline from its keep-alive: a keep-alive of 0 (never) or
// beyond maxKeepAlive becomes maxKeepAlive, so no connection may sit
// silent for ever.
func (h *hook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if max := uint16(maxKeepAlive / time.Second); cl.State.Keepalive == 0 || cl.State.Keepalive > max {
		cl.State.Keepalive, cl.State.ServerKeepalive = max, true
	}
	return nil
}

// OnConnectAuthenticate lets in Pitwall's servers and registered devices.
// A device must use its id as its client id, so one device cannot take
// over another's session, and its last will, if any, must be its own
// status; a server user may leave no will.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, secret := string(pk.Connect.Username), string(pk.Connect.Password)
	if hash, ok := h.b.serverHash(user); ok {
		if !h.opt.CheckSecret(hash, secret) {
			h.opt.Log.Warn("broker: a server login was refused", "user", user, "remote", cl.Net.Remote)
			return false
		}
		if pk.Connect.WillFlag {
			h.opt.Log.Warn("broker: refused a server login with a last will", "user", user, "will_topic", pk.Connect.WillTopic, "remote", cl.Net.Remote)
			return false
		}
		h.loggedIn(cl)
		return true
	}
	if wire.ValidDeviceID(user) != nil || cl.ID != user {
		h.opt.Log.Warn("broker: refused a client whose id is not its device id", "user", user, "client_id", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	if pk.Connect.WillFlag && (pk.Connect.WillTopic != wire.Topic(user, wire.KindStatus) || len(pk.Connect.WillPayload) > maxWill) {
		h.opt.Log.Warn("broker: refused a device whose last will is not its own status", "device", user, "will_topic", pk.Connect.WillTopic,
			"will_bytes", len(pk.Connect.WillPayload), "remote", cl.Net.Remote)
		return false
	}
	if err := h.opt.Devices.Authenticate(context.Background(), user, secret); err != nil {
		h.opt.Log.Warn("broker: a device login was refused", "device", user, "remote", cl.Net.Remote, "err", err)
		return false
	}
	h.b.active.set(user, true)
	h.loggedIn(cl)
	return true
}

// loggedIn frees the connection's place among those connecting.
func (h *hook) loggedIn(cl *mqtt.Client) {
	if gc, ok := cl.Net.Conn.(*guardedConn); ok {
		gc.loggedIn()
	}
}

// OnDisconnect forgets a device's state when it goes.
func (h *hook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if user := string(cl.Properties.Username); !h.isServer(user) && cl.ID == user {
		h.b.active.forget(user)
	}
}

// deviceWrites are the kinds a device publishes.
var deviceWrites = []wire.Kind{wire.KindTelemetry, wire.KindDTC, wire.KindEvent, wire.KindStatus, wire.KindCommandResult}

// OnPacketRead refuses a retained publish anywhere but on a device's
// status topic, and a retained status larger than wire.MaxStatus: the
// client is disconnected and nothing is kept. Commands in particular are
// never retained, so none can run again when a device reconnects.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || !pk.FixedHeader.Retain {
		return pk, nil
	}
	_, kind, err := wire.ParseTopic(pk.TopicName)
	if err == nil && kind == wire.KindStatus && len(pk.Payload) <= wire.MaxStatus {
		return pk, nil
	}
	h.b.metrics.publishRefused.WithLabelValues("retain").Inc()
	h.opt.Log.Warn("broker: refused a retained message; only a device's status of up to 64 KiB is retained",
		"client", cl.ID, "topic", pk.TopicName, "bytes", len(pk.Payload), "remote", cl.Net.Remote)
	return pk, packets.ErrRejectPacket
}

// OnACLCheck: a device writes only its own messages and reads only its
// own commands, and only while it is active; a server reads every device
// (shared subscriptions too) and writes only commands.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if h.isServer(user) {
		if write {
			device, kind, err := wire.ParseTopic(topic)
			return err == nil && device != "" && kind == wire.KindCommand
		}
		filter := topic
		if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
			if _, f, ok := strings.Cut(rest, "/"); ok {
				filter = f
			}
		}
		return strings.HasPrefix(filter, wire.Prefix) || filter == "pitwall/#"
	}
	if !h.allowedDevice(user, topic, write) {
		return false
	}
	if ok, err := h.b.active.check(user); !ok {
		h.b.metrics.publishRefused.WithLabelValues("revoked").Inc()
		h.opt.Log.Warn("broker: refused a revoked device; cutting its session", "device", user, "topic", topic, "err", err)
		h.b.cut(user, "refused on its next packet")
		return false
	}
	return true
}

// allowedDevice is a device's topic rights.
func (h *hook) allowedDevice(user, topic string, write bool) bool {
	if write {
		device, kind, err := wire.ParseTopic(topic)
		if err != nil || device != user {
			return false
		}
		for _, k := range deviceWrites {
			if k == kind {
				return true
			}
		}
		return false
	}
	return topic == wire.Topic(user, wire.KindCommand)
}

// OnPublish hands a device's message to Deliver and returns once it is
// stored; a failure rejects the packet, which is then not acknowledged.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.isServer(string(cl.Properties.Username)) || !strings.HasPrefix(pk.TopicName, wire.Prefix) {
		return pk, nil
	}
	if err := h.opt.Deliver(context.Background(), pk.TopicName, pk.Payload); err != nil {
		h.opt.Log.Warn("broker: a message could not be stored; left unacknowledged", "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnWillSent hands a device's last will (it went offline without a
// goodbye) to Deliver too, unless the device has been revoked.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	user := string(cl.Properties.Username)
	if h.isServer(user) || !strings.HasPrefix(pk.TopicName, wire.Prefix) {
		return
	}
	if ok, _ := h.b.active.check(user); !ok {
		return
	}
	if err := h.opt.Deliver(context.Background(), pk.TopicName, pk.Payload); err != nil {
		h.opt.Log.Warn("broker: a last will could not be stored", "topic", pk.TopicName, "err", err)
	}
}

// counts reports the connections open and those of them not logged in
// yet.
func (b *Broker) counts() (open, connecting int) { return b.slots.counts() }

// LoadTLS is the TLS a broker listener serves: TLS 1.2 or later with the
// certificate (and its chain) and key in PEM files. Clients check the
// certificate; they log in with their secrets as in the clear.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("broker: TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}
