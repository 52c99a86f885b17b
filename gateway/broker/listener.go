package broker

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// MaxConnectPacket bounds a CONNECT packet: a client id, a user name and a
// secret of at most a few hundred bytes, and a last will no larger than
// a status message may be. Read before the client has logged in, it is
// checked from the fixed header, before a byte of the body is buffered.
const MaxConnectPacket = 1<<10 + maxWill

// maxWill bounds a last will's payload. A will is an offline status of a
// few dozen bytes.
const maxWill = 4 << 10

// Why the broker dropped a connection before it logged in (the reason
// label of pitwall_broker_connections_refused_total).
const (
	refusedFull       = "max_clients"
	refusedConnecting = "max_connecting"
	refusedAddress    = "max_connecting_per_address"
	refusedNotConnect = "not_connect"
	refusedTooLarge   = "connect_too_large"
)

var (
	errNotConnect = errors.New("broker: the first packet is not a CONNECT")
	errTooLarge   = errors.New("broker: the CONNECT packet announces more than the broker takes")
)

// slots counts the connections of every listener of a broker: at most
// maxClients are open, at most maxConnecting of them have not yet logged
// in, and at most maxPerAddress of those come from one address, so that
// one host cannot hold every place a car needs to log in.
type slots struct {
	maxClients, maxConnecting, maxPerAddress int

	mu         sync.Mutex
	open       map[*guardedConn]struct{}
	connecting int
	fromAddr   map[string]int // connections not logged in, per address
}

func newSlots(opt Options) *slots {
	return &slots{maxClients: opt.MaxClients, maxConnecting: opt.MaxConnecting, maxPerAddress: opt.MaxConnectingPerAddress,
		open: map[*guardedConn]struct{}{}, fromAddr: map[string]int{}}
}

// take gives a new connection its places, or says why there are none.
func (s *slots) take(c *guardedConn) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(s.open) >= s.maxClients:
		return refusedFull
	case s.connecting >= s.maxConnecting:
		return refusedConnecting
	case c.addr != "" && s.fromAddr[c.addr] >= s.maxPerAddress:
		return refusedAddress
	}
	s.open[c] = struct{}{}
	s.connecting++
	if c.addr != "" {
		s.fromAddr[c.addr]++
	}
	return ""
}

// doneConnecting gives back the places of a connection that logged in or
// closed before it did; s.mu is held.
func (s *slots) doneConnecting(c *guardedConn) {
	s.connecting--
	if c.addr == "" {
		return
	}
	if s.fromAddr[c.addr]--; s.fromAddr[c.addr] <= 0 {
		delete(s.fromAddr, c.addr)
	}
}

// addressOf is the host part of a remote address, an IPv6 address's /64,
// as the key of the per-address bound; "" (no bound) for this machine's
// own loopback, where the simulator, the demo and the benchmarks run
// hundreds of cars.
func addressOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		host = a.String()
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return host
	case ip.Unmap().IsLoopback():
		return ""
	case ip.Is6() && !ip.Is4In6():
		// A host holds a whole /64: counted as one.
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}

// counts reports the connections open and those not yet logged in.
func (s *slots) counts() (open, connecting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open), s.connecting
}

// guard is a listener that bounds what a connection costs before it has
// logged in: a connection beyond the slots is closed as soon as it is
// accepted; every connection must complete its CONNECT within timeout
// (the deadline is set at accept, and covers a TLS handshake; the broker
// replaces it with the keep-alive once the CONNECT is read); and a CONNECT
// larger than MaxConnectPacket is refused from its fixed header, before a
// byte of its body is buffered.
type guard struct {
	net.Listener
	id      string // the mochi listener's
	b       *Broker
	slots   *slots
	timeout time.Duration

	mu     sync.Mutex
	closed bool
}

func newGuard(id string, l net.Listener, b *Broker, s *slots, timeout time.Duration) *guard {
	return &guard{id: id, Listener: l, b: b, slots: s, timeout: timeout}
}

// Accept returns the next connection the bounds let in.
func (g *guard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		closed := g.closed
		g.mu.Unlock()
		if closed {
			c.Close()
			return nil, net.ErrClosed
		}
		if gc := g.admit(c); gc != nil {
			return gc, nil
		}
	}
}

// admit gives a new connection its places and its CONNECT deadline, or
// closes it when there are none.
func (g *guard) admit(c net.Conn) *guardedConn {
	gc := &guardedConn{Conn: c, g: g, connecting: true, addr: addressOf(c.RemoteAddr())}
	if reason := g.slots.take(gc); reason != "" {
		g.b.refused(reason, c.RemoteAddr())
		c.Close()
		return nil
	}
	_ = c.SetDeadline(time.Now().Add(g.timeout))
	return gc
}

// Close stops accepting and closes every connection of this listener
// still open, logged in or not, so that nothing outlives the broker.
func (g *guard) Close() error {
	err := g.Listener.Close()
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	var mine []*guardedConn
	g.slots.mu.Lock()
	for c := range g.slots.open {
		if c.g == g {
			mine = append(mine, c)
		}
	}
	g.slots.mu.Unlock()
	for _, c := range mine {
		c.Close()
	}
	return err
}

// guardedConn is one accepted connection: it checks the CONNECT's fixed
// header as the broker reads it and gives back its places when closed.
type guardedConn struct {
	net.Conn
	g    *guard
	addr string // the remote host

	mu         sync.Mutex // Read and Close may race
	connecting bool
	done       bool

	// The first packet's fixed header, as far as it has arrived.
	seen      int    // header bytes seen
	remaining uint32 // the remaining length so far
	checked   bool
}

// Read passes bytes through, refusing the connection as soon as its first
// fixed header shows it is not a CONNECT or is larger than the broker
// takes.
func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.checked && n > 0 {
		if cerr := c.inspect(p[:n]); cerr != nil {
			c.Close()
			return 0, cerr
		}
	}
	return n, err
}

// inspect reads the type byte and the remaining length (a variable-length
// integer of up to four bytes) of the first packet.
func (c *guardedConn) inspect(b []byte) error {
	for _, x := range b {
		if c.checked {
			return nil
		}
		if c.seen == 0 {
			c.seen++
			if x != 0x10 { // CONNECT, flags 0 [MQTT-2.2.2-1]
				c.g.b.refused(refusedNotConnect, c.RemoteAddr())
				return errNotConnect
			}
			continue
		}
		c.remaining |= uint32(x&0x7F) << (7 * (c.seen - 1))
		c.seen++
		if c.remaining > MaxConnectPacket || x&0x80 != 0 && c.seen > 4 {
			c.g.b.refused(refusedTooLarge, c.RemoteAddr())
			return fmt.Errorf("%w (%d bytes)", errTooLarge, MaxConnectPacket)
		}
		if x&0x80 == 0 {
			c.checked = true
		}
	}
	return nil
}

// loggedIn moves the connection from connecting to logged in.
func (c *guardedConn) loggedIn() {
	c.mu.Lock()
	was := c.connecting
	c.connecting = false
	c.mu.Unlock()
	if was {
		c.g.slots.mu.Lock()
		c.g.slots.doneConnecting(c)
		c.g.slots.mu.Unlock()
	}
}

// Close closes the connection once and frees its places.
func (c *guardedConn) Close() error {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return nil
	}
	c.done = true
	connecting := c.connecting
	c.connecting = false
	c.mu.Unlock()
	err := c.Conn.Close()
	c.g.slots.mu.Lock()
	delete(c.g.slots.open, c)
	if connecting {
		c.g.slots.doneConnecting(c)
	}
	c.g.slots.mu.Unlock()
	return err
}

var _ net.Listener = (*guard)(nil)
