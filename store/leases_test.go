package store_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// cuttable dials through a switch that can go silent: the holder's
// bytes stop reaching PostgreSQL and its answers stop coming back, while
// the process lives on. (The kernel still keeps the TCP connection up, so
// this plays a stalled link, not a dead one: PostgreSQL's keepalives do
// not fire.)
type cuttable struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (c *cuttable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns = append(c.conns, conn)
	return &silenced{Conn: conn, c: c}, nil
}

func (c *cuttable) silence() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
}

func (c *cuttable) silent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// silenced drops what it is asked to write once cut and blocks reads
// until their deadline, like a dead link.
type silenced struct {
	net.Conn
	c *cuttable
}

func (s *silenced) Write(b []byte) (int, error) {
	if s.c.silent() {
		return len(b), nil
	}
	return s.Conn.Write(b)
}

func (s *silenced) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	for s.c.silent() && err == nil {
		n, err = s.Conn.Read(b) // whatever arrives after the cut is lost
	}
	return n, err
}

// Leases on one PostgreSQL database: a share has one holder at a time,
// holders count each other, a released share is free for another, a
// share given up twice is an error, and a holder that closes or dies
// frees its shares at once.
func TestLeases(t *testing.T) {
	dsn := testserver.PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	open := func(opt store.LeaseOptions) *store.Leases {
		t.Helper()
		opt.Class = 0x7e570001
		l, err := store.OpenLeases(ctx, dsn, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	a, b := open(store.LeaseOptions{}), open(store.LeaseOptions{})
	if n, err := a.Members(ctx); err != nil || n != 2 {
		t.Fatalf("members: %d %v", n, err)
	}
	take := func(l *store.Leases, n int) bool {
		t.Helper()
		ok, err := l.TryAcquire(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take(a, 3) || take(b, 3) || !take(b, 4) {
		t.Fatal("share 3 to a alone, share 4 to b")
	}
	// Another class's shares are its own.
	other, err := store.OpenLeases(ctx, dsn, store.LeaseOptions{Class: 0x7e570100})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ok, err := other.TryAcquire(ctx, 3); err != nil || !ok {
		t.Errorf("another class's share 3: %v %v", ok, err)
	}
	if n, _ := a.Members(ctx); n != 2 {
		t.Errorf("another class counted among the members: %d", n)
	}

	if err := a.Release(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("releasing a share not held: %v", err)
	}
	if !take(b, 3) {
		t.Error("a released share is not free")
	}

	// b closes: its shares and its membership go with its session.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("closing twice: %v", err)
	}
	if !take(a, 3) || !take(a, 4) {
		t.Error("a closed holder's shares are not free")
	}
	if n, _ := a.Members(ctx); n != 1 {
		t.Errorf("members after a close: %d", n)
	}
	if err := a.Check(ctx); err != nil {
		t.Errorf("a live session's check: %v", err)
	}

	// c's link goes silent (its bytes stop getting through both ways):
	// its own check fails within the bound it is given, so its holder
	// stops every partition (the ingest does, then closes). Its share is
	// freed later, never before: pgx, after a failed query, tries a
	// cancel request and a goodbye for up to 15 s before it closes the
	// socket (pgconn's asyncClose), and the stalled link answers neither.
	sw := &cuttable{}
	c := open(store.LeaseOptions{Dial: sw.dial, KeepAlive: 3 * time.Second})
	if !take(c, 7) || take(a, 7) {
		t.Fatal("share 7 to c alone")
	}
	sw.silence()
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
	err = c.Check(cctx)
	ccancel()
	if err == nil {
		t.Fatal("a silent session passed its check")
	}
	if take(a, 7) {
		t.Fatal("the share was free while its holder's session still lived: two holders")
	}
	_ = c.Close()
	closed := time.Now()
	for !take(a, 7) {
		if time.Since(closed) > 30*time.Second {
			t.Fatal("a closed holder's share was not freed within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the silent holder's share free %v after it closed", time.Since(closed).Round(100*time.Millisecond))
}

// Leases need PostgreSQL: a SQLite store is refused with a clear error.
func TestLeasesNeedPostgres(t *testing.T) {
	_, err := store.OpenLeases(context.Background(), filepath.Join(t.TempDir(), "pitwall.db"), store.LeaseOptions{})
	if !errors.Is(err, store.ErrNotPostgres) {
		t.Errorf("on SQLite: %v", err)
	}
}
