package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/store"
)

// liveMemory is the heap and the stacks in use once garbage is collected.
func liveMemory() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// announce128MiB is a CONNECT fixed header announcing 128 MiB to follow
// (remaining length 2^27 as MQTT's variable-length integer), and the
// first bytes of a body.
var announce128MiB = []byte{0x10, 0x80, 0x80, 0x80, 0x40, 0x00, 0x04, 'M', 'Q', 'T', 'T'}

// closedWithin reports whether the server closes c within d: a read
// returns EOF or a reset, not a timeout.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A client that announces a 128 MiB CONNECT and then says nothing is cut
// off at once and costs the broker no memory.
func TestHugeConnect(t *testing.T) {
	r := startWith(t, 1, func(o *broker.Options) { o.ConnectTimeout = 3 * time.Second })
	before := liveMemory()
	c := dial(t, r.b.Addr())
	if _, err := c.Write(announce128MiB); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // time for the broker to read the header and act on it
	grew := int64(liveMemory()) - int64(before)
	t.Logf("live memory grew by %d KiB", grew/1024)
	if grew > 16<<20 {
		t.Errorf("the broker's memory grew by %d MiB for one CONNECT header", grew>>20)
	}
	if !closedWithin(c, 30*time.Second) {
		t.Fatal("the connection is still open 30 s after a CONNECT announcing 128 MiB")
	}
	// The broker still serves.
	if _, err := connect(t, r.b.URL(), "car-00001", "car-00001", r.secrets["car-00001"]); err != nil {
		t.Fatal(err)
	}
}

// Many clients, some announcing 128 MiB, some stopping in the middle of
// the length, some sending nothing at all: each is cut off (the silent
// ones when the CONNECT deadline passes), the memory they hold while
// connecting stays small, and a device logs in afterwards.
func TestManyStalledConnects(t *testing.T) {
	const n = 300
	r := startWith(t, 1, func(o *broker.Options) { o.ConnectTimeout = 2 * time.Second })
	before := liveMemory()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, r.b.Addr())
		var err error
		switch i % 3 {
		case 0:
			_, err = conns[i].Write(announce128MiB)
		case 1:
			_, err = conns[i].Write([]byte{0x10, 0xFF}) // the length goes on ... and stops
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	grew := int64(liveMemory()) - int64(before)
	t.Logf("%d stalled connections: live memory grew by %d KiB (%d bytes each)", n, grew/1024, grew/n)
	if grew > 64<<20 {
		t.Errorf("%d stalled CONNECTs hold %d MiB", n, grew>>20)
	}
	var wg sync.WaitGroup
	var open atomic.Int32
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !closedWithin(c, 60*time.Second) {
				open.Add(1)
			}
		}()
	}
	wg.Wait()
	if open.Load() > 0 {
		t.Fatalf("%d of %d stalled connections still open after 60 s", open.Load(), n)
	}
	if _, err := connect(t, r.b.URL(), "car-00001", "car-00001", r.secrets["car-00001"]); err != nil {
		t.Fatal(err)
	}
}

// The broker holds at most MaxConnecting connections that have not logged
// in and MaxClients in all; beyond them, a connection is closed at once.
func TestConnectionCaps(t *testing.T) {
	// The CONNECT deadline is far beyond the waits below: a connection
	// closed within them was refused by a cap.
	r := startWith(t, 3, func(o *broker.Options) { o.MaxConnecting, o.MaxClients, o.ConnectTimeout = 4, 6, time.Minute })
	silent := make([]net.Conn, 4)
	for i := range silent {
		silent[i] = dial(t, r.b.Addr())
	}
	time.Sleep(300 * time.Millisecond) // accepted, in order
	extra := dial(t, r.b.Addr())
	if !closedWithin(extra, 10*time.Second) {
		t.Fatal("a fifth connection was kept while four had not logged in")
	}
	for _, c := range silent {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	var logged []paho.Client
	for i := 1; len(logged) < 3 && time.Now().Before(deadline); i = i%3 + 1 {
		id := fmt.Sprintf("car-%05d", i)
		if c, err := connect(t, r.b.URL(), id, id, r.secrets[id]); err == nil {
			logged = append(logged, c)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(logged) != 3 {
		t.Fatalf("%d devices logged in once the silent connections were gone", len(logged))
	}
	for range 3 { // 4, 5 and 6 of MaxClients, 3 of MaxConnecting
		dial(t, r.b.Addr())
	}
	time.Sleep(300 * time.Millisecond)
	seventh := dial(t, r.b.Addr())
	if !closedWithin(seventh, 10*time.Second) {
		t.Error("a seventh connection was kept beyond MaxClients")
	}
}

// Only a device's status may be retained, up to wire.MaxStatus; any other
// retained publish, by a device or a server, and a 16 MiB one, costs the
// client its connection and leaves nothing behind.
func TestRetainRefused(t *testing.T) {
	var delivered atomic.Int32
	r := startWith(t, 1, func(o *broker.Options) {
		o.Deliver = func(context.Context, string, []byte) error { delivered.Add(1); return nil }
	})
	id := "car-00001"
	birth, _ := wire.Encode(&wirepb.Status{Header: wire.NewHeader(id, 1, 1), Online: true})
	for _, c := range []struct {
		name, topic string
		payload     []byte
		server      bool
	}{
		{"retained telemetry", wire.Topic(id, wire.KindTelemetry), []byte{1, 2, 3}, false},
		{"a retained command result", wire.Topic(id, wire.KindCommandResult), []byte{1}, false},
		{"a 100 KiB retained status", wire.Topic(id, wire.KindStatus), make([]byte, 100<<10), false},
		{"a 16 MiB retained status", wire.Topic(id, wire.KindStatus), make([]byte, 16<<20), false},
		{"a retained command from a server", wire.Topic(id, wire.KindCommand), []byte{1}, true},
	} {
		user, client, secret := id, id, r.secrets[id]
		if c.server {
			user, client, secret = "pitwall-server", "pitwall-tools", serverSecret
		}
		cl, err := connect(t, r.b.URL(), client, user, secret)
		if err != nil {
			t.Fatal(err)
		}
		before := delivered.Load()
		tok := cl.Publish(c.topic, 1, true, c.payload)
		tok.WaitTimeout(10 * time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for cl.IsConnectionOpen() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if cl.IsConnectionOpen() {
			t.Errorf("%s: the client is still connected", c.name)
		}
		if delivered.Load() != before {
			t.Errorf("%s: delivered to the ingest", c.name)
		}
		cl.Disconnect(0)
	}
	dev, err := connect(t, r.b.URL(), id, id, r.secrets[id])
	if err != nil {
		t.Fatal(err)
	}
	if tok := dev.Publish(wire.Topic(id, wire.KindStatus), 1, true, birth); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the device's own birth, retained: %v", tok.Error())
	}
	if err := r.b.Publish(wire.Topic(id, wire.KindCommand), []byte{1}, true); !errors.Is(err, broker.ErrRetained) {
		t.Errorf("the server's own retained command: %v", err)
	}
	// A new subscriber gets what is retained: the birth, nothing else.
	srv, err := connect(t, r.b.URL(), "pitwall-tools", "pitwall-server", serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var retained []string
	srv.Subscribe(wire.Prefix+"#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		defer mu.Unlock()
		if m.Retained() {
			retained = append(retained, fmt.Sprintf("%s (%d bytes)", m.Topic(), len(m.Payload())))
		}
	}).WaitTimeout(10 * time.Second)
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(retained) != 1 || !strings.HasPrefix(retained[0], wire.Topic(id, wire.KindStatus)+" ("+fmt.Sprint(len(birth))) {
		t.Errorf("retained: %v", retained)
	}
}

// A device's last will must be its own status; a server user may leave
// none.
func TestWillRules(t *testing.T) {
	r := startWith(t, 2, nil)
	try := func(client, user, secret, topic string, payload []byte) error {
		o := paho.NewClientOptions().AddBroker(r.b.URL()).SetClientID(client).SetUsername(user).SetPassword(secret).
			SetAutoReconnect(false).SetConnectTimeout(5*time.Second).SetBinaryWill(topic, payload, 1, true)
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			return errors.New("timed out")
		}
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	id, other := "car-00001", "car-00002"
	for _, c := range []struct {
		name, client, user, secret, topic string
		payload                           []byte
		ok                                bool
	}{
		{"its own status", id, id, r.secrets[id], wire.Topic(id, wire.KindStatus), []byte{1}, true},
		{"another device's status", id, id, r.secrets[id], wire.Topic(other, wire.KindStatus), []byte{1}, false},
		{"a command to another device", id, id, r.secrets[id], wire.Topic(other, wire.KindCommand), []byte{1}, false},
		{"its own telemetry", id, id, r.secrets[id], wire.Topic(id, wire.KindTelemetry), []byte{1}, false},
		{"a 5 KiB will", id, id, r.secrets[id], wire.Topic(id, wire.KindStatus), make([]byte, 5<<10), false},
		{"a server's will", "pitwall-tools", "pitwall-server", serverSecret, wire.Topic(id, wire.KindCommand), []byte{1}, false},
	} {
		if err := try(c.client, c.user, c.secret, c.topic, c.payload); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Revoking a device through the broker cuts its session at once, its last
// will unsent; revoked by another process (the CLI on the same database),
// it is cut within RevocationCheck. What it publishes once revoked is not
// delivered.
func TestRevokeCutsSession(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	r := startWith(t, 2, func(o *broker.Options) {
		o.RevocationCheck = 500 * time.Millisecond
		o.Deliver = func(_ context.Context, topic string, _ []byte) error {
			mu.Lock()
			got[topic]++
			mu.Unlock()
			return nil
		}
	})
	delivered := func(topic string) int { mu.Lock(); defer mu.Unlock(); return got[topic] }
	ctx := context.Background()
	for _, how := range []string{"here", "elsewhere"} {
		id := map[string]string{"here": "car-00001", "elsewhere": "car-00002"}[how]
		o := paho.NewClientOptions().AddBroker(r.b.URL()).SetClientID(id).SetUsername(id).SetPassword(r.secrets[id]).
			SetAutoReconnect(false).SetConnectTimeout(5*time.Second).SetBinaryWill(wire.Topic(id, wire.KindStatus), []byte("will"), 1, false)
		c := paho.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		topic := wire.Topic(id, wire.KindTelemetry)
		if tok := c.Publish(topic, 1, false, []byte("before")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		if how == "here" {
			if err := r.st.RevokeDevice(ctx, id); err != nil {
				t.Fatal(err)
			}
			r.b.Revoked(id)
		} else {
			other := openStore(t, r)
			if err := other.RevokeDevice(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for c.IsConnectionOpen() && time.Since(start) < 20*time.Second {
			time.Sleep(10 * time.Millisecond)
		}
		if c.IsConnectionOpen() {
			t.Fatalf("revoked %s: the session is still open after 20 s", how)
		}
		t.Logf("revoked %s: cut after %v", how, time.Since(start).Round(time.Millisecond))
		c.Publish(topic, 1, false, []byte("after")).WaitTimeout(time.Second)
		time.Sleep(200 * time.Millisecond)
		if n := delivered(topic); n != 1 {
			t.Errorf("revoked %s: %d messages delivered, want the one from before", how, n)
		}
		if n := delivered(wire.Topic(id, wire.KindStatus)); n != 0 {
			t.Errorf("revoked %s: its last will was delivered", how)
		}
		if _, err := connect(t, r.b.URL(), id, id, r.secrets[id]); err == nil {
			t.Errorf("revoked %s: it logged in again", how)
		}
	}
}

// noSweep is a store whose list of revocations fails, so that the broker
// cannot trust its cache and asks about the device at each packet.
type noSweep struct{ *store.Store }

func (noSweep) RevokedSince(context.Context, time.Time) ([]string, error) {
	return nil, errors.New("the database is busy")
}

// A publish is checked against the device's state: with the broker unable
// to sweep for revocations, a device revoked by another process gets
// nothing more through; its next publish is refused and its session cut.
func TestRevokedPublishRefused(t *testing.T) {
	var delivered atomic.Int32
	r := startWith(t, 1, nil)
	id := "car-00001"
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Devices: noSweep{r.st}, CheckSecret: store.CheckSecret, RevocationCheck: 100 * time.Millisecond,
		Deliver: func(context.Context, string, []byte) error { delivered.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := connect(t, b.URL(), id, id, r.secrets[id])
	if err != nil {
		t.Fatal(err)
	}
	topic := wire.Topic(id, wire.KindTelemetry)
	if tok := c.Publish(topic, 1, false, []byte("before")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	time.Sleep(300 * time.Millisecond) // the sweep has failed: the cache is not trusted
	if err := openStore(t, r).RevokeDevice(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	c.Publish(topic, 1, false, []byte("after")).WaitTimeout(5 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Error("the revoked device is still connected after its refused publish")
	}
	if n := delivered.Load(); n != 1 {
		t.Errorf("%d messages delivered, want the one from before the revocation", n)
	}
}
