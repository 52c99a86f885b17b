package broker

import (
	"net"
	"testing"
)

// fakeConn is a connection from a given address.
type fakeConn struct {
	net.Conn
	from net.Addr
}

func (c fakeConn) RemoteAddr() net.Addr { return c.from }
func (c fakeConn) Close() error         { return nil }

// One host that opens connections and never logs in takes at most its
// per-address share of the places cars need to log in; others still get
// theirs, a login or a close gives its place back, and this machine's
// own loopback is not bounded per address.
func TestConnectingPerAddress(t *testing.T) {
	s := newSlots(Options{MaxClients: 100, MaxConnecting: 10, MaxConnectingPerAddress: 3})
	g := &guard{slots: s}
	conn := func(addr string) *guardedConn {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := fakeConn{from: a}
		return &guardedConn{Conn: c, g: g, connecting: true, addr: addressOf(a)}
	}
	var held []*guardedConn
	for i := range 3 {
		c := conn("203.0.113.7:4000")
		if why := s.take(c); why != "" {
			t.Fatalf("connection %d from one host refused: %s", i, why)
		}
		held = append(held, c)
	}
	if why := s.take(conn("203.0.113.7:4001")); why != refusedAddress {
		t.Fatalf("a fourth from the same host: %q, want %q", why, refusedAddress)
	}
	if why := s.take(conn("[2001:db8::1]:5000")); why != "" {
		t.Fatalf("another host refused: %s", why)
	}
	// An IPv6 host's /64 is one address: it cannot spread over its own.
	var more []*guardedConn
	for i, a := range []string{"[2001:db8::2]:5000", "[2001:db8::3]:5000"} {
		c := conn(a)
		if why := s.take(c); why != "" {
			t.Fatalf("IPv6 connection %d: %s", i+2, why)
		}
		more = append(more, c)
	}
	if why := s.take(conn("[2001:db8::ffff:1]:5000")); why != refusedAddress {
		t.Fatalf("a fourth from the same /64: %q", why)
	}
	for _, c := range more {
		c.Close()
	}
	held[0].loggedIn()
	held[1].Close()
	for i := range 2 {
		if why := s.take(conn("203.0.113.7:4002")); why != "" {
			t.Fatalf("after a login and a close, place %d: %s", i, why)
		}
	}
	if why := s.take(conn("203.0.113.7:4003")); why != refusedAddress {
		t.Fatalf("over the bound again: %q", why)
	}
	// Loopback: bounded only by MaxConnecting (10 in all; 4 taken).
	for i := range 6 {
		if why := s.take(conn("127.0.0.1:6000")); why != "" {
			t.Fatalf("loopback connection %d: %s", i, why)
		}
	}
	if why := s.take(conn("[::1]:6001")); why != refusedConnecting {
		t.Fatalf("past max_connecting: %q, want %q", why, refusedConnecting)
	}
	// Open: the logged-in one and the one still connecting of the first
	// three, the other host, the two new and the six on loopback.
	if open, connecting := s.counts(); open != 11 || connecting != 10 {
		t.Errorf("open %d, connecting %d", open, connecting)
	}
	if n := s.fromAddr["203.0.113.7"]; n != 3 {
		t.Errorf("counted from the host: %d", n)
	}
}
