package broker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

type rig struct {
	b       *broker.Broker
	st      *store.Store
	dbPath  string
	secrets map[string]string
}

const serverSecret = "server-secret"

func start(t *testing.T, devices int, deliver func(context.Context, string, []byte) error) *rig {
	t.Helper()
	return startWith(t, devices, func(o *broker.Options) { o.Deliver = deliver })
}

// startWith starts a broker on a fresh store of devices car-00001...,
// with the options mod sets.
func startWith(t testing.TB, devices int, mod func(*broker.Options)) *rig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pitwall.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, dbPath: path, secrets: map[string]string{}}
	for i := range devices {
		id := fmt.Sprintf("car-%05d", i+1)
		_, secret, err := st.AddDevice(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		r.secrets[id] = secret
	}
	opt := broker.Options{Addr: "127.0.0.1:0", Devices: st, CheckSecret: store.CheckSecret,
		Servers: map[string]string{"pitwall-server": store.HashSecret(serverSecret)}}
	if mod != nil {
		mod(&opt)
	}
	b, err := broker.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r.b = b
	return r
}

func connect(t *testing.T, url, clientID, user, password string) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

func TestLogins(t *testing.T) {
	r := start(t, 2, nil)
	if err := r.st.RevokeDevice(context.Background(), "car-00002"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, client, user, password string
		ok                           bool
	}{
		{"a device with its secret", "car-00001", "car-00001", r.secrets["car-00001"], true},
		{"a wrong secret", "car-00001", "car-00001", "guess", false},
		{"a revoked device", "car-00002", "car-00002", r.secrets["car-00002"], false},
		{"an unknown device", "car-00009", "car-00009", r.secrets["car-00001"], false},
		{"another client id", "car-00002", "car-00001", r.secrets["car-00001"], false},
		{"no credentials", "anon", "", "", false},
		{"the server", "pitwall-ingest", "pitwall-server", serverSecret, true},
		{"the server, wrong secret", "pitwall-ingest", "pitwall-server", "x", false},
	} {
		_, err := connect(t, r.b.URL(), c.client, c.user, c.password)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}

// A device publishes only under its own id and reads only its own
// commands; the server reads all (through a shared group too) and writes
// commands.
func TestTopicRights(t *testing.T) {
	r := start(t, 2, nil)
	srv, err := connect(t, r.b.URL(), "pitwall-ingest", "pitwall-server", serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	note := func(_ paho.Client, m paho.Message) { mu.Lock(); got[m.Topic()]++; mu.Unlock() }
	if tok := srv.Subscribe("$share/ingest/"+wire.Prefix+"+/telemetry", 1, note); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := srv.Subscribe(wire.Prefix+"+/status", 1, note); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	a, err := connect(t, r.b.URL(), "car-00001", "car-00001", r.secrets["car-00001"])
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	tok := a.Subscribe(wire.Topic("car-00001", wire.KindCommand), 1, func(_ paho.Client, m paho.Message) { mu.Lock(); cmds = append(cmds, string(m.Payload())); mu.Unlock() })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	st := a.Subscribe(wire.Topic("car-00002", wire.KindCommand), 1, nil).(*paho.SubscribeToken)
	if !st.WaitTimeout(5*time.Second) || st.Result()[wire.Topic("car-00002", wire.KindCommand)] != 0x80 {
		t.Errorf("a device subscribed to another's commands: %v", st.Result())
	}
	if tok := a.Publish(wire.Topic("car-00001", wire.KindTelemetry), 1, false, []byte("own")); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := srv.Publish(wire.Topic("car-00001", wire.KindCommand), 1, false, []byte("scan")); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// The broker's PUBACK to the server does not mean the device has the
	// command yet: wait for it before the device is cut off.
	waitFor := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(cmds)
		mu.Unlock()
		if n > 0 || time.Now().After(waitFor) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Under another's id: the broker drops the device's connection.
	a.Publish(wire.Topic("car-00002", wire.KindTelemetry), 1, false, []byte("forged")).WaitTimeout(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for a.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if a.IsConnectionOpen() {
		t.Error("a device that published under another's id is still connected")
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if got[wire.Topic("car-00001", wire.KindTelemetry)] != 1 || got[wire.Topic("car-00002", wire.KindTelemetry)] != 0 {
		t.Errorf("the server received %v", got)
	}
	if len(cmds) != 1 || cmds[0] != "scan" {
		t.Errorf("the device's commands: %v", cmds)
	}
}

// With the ingest behind it, a device's PUBACK means stored: when the
// cars have every acknowledgement, the store already holds every sample.
func TestAcknowledgedMeansStored(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "ingest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sr, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(dir, "series.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	in, err := ingest.New(ingest.Config{BatchDelay: 5 * time.Millisecond}, sr, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r := start(t, 5, in.Deliver)
	res, err := fleet.Flood(context.Background(), fleet.FloodConfig{Broker: r.b.URL(), Vehicles: 5, Messages: 20, Signals: 5, Instants: 4,
		Prefix: "car", Secret: func(id string) string { return r.secrets[id] }})
	if err != nil || res.Errors > 0 || res.Connected != 5 {
		t.Fatalf("flood %+v, %v", res, err)
	}
	var n int64
	for id := range r.secrets {
		c, err := sr.Count(context.Background(), id, time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		n += c
	}
	if n != res.Samples || n != 5*20*20 {
		t.Fatalf("stored %d samples when the cars had %d acknowledged", n, res.Samples)
	}
}

// openStore opens a second handle on a rig's database, as another process
// (the CLI) would.
func openStore(t *testing.T, r *rig) *store.Store {
	t.Helper()
	other, err := store.Open(context.Background(), r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return other
}

// Server users kept in the store (`pitwall users add NAME --role server`)
// log in within RevocationCheck of being added and read every device; a
// removed one is refused from the next check on.
func TestServerUsersFromTheStore(t *testing.T) {
	r := startWith(t, 1, func(o *broker.Options) {
		o.RevocationCheck = 200 * time.Millisecond
		o.ServerUsers = func(ctx context.Context) (map[string]string, error) { return o.Devices.(*store.Store).BrokerUsers(ctx) }
	})
	if _, err := connect(t, r.b.URL(), "tail-1", "tail", "nope"); err == nil {
		t.Fatal("an unknown server user logged in")
	}
	secret, err := r.st.AddBrokerUser(context.Background(), "tail")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.AddBrokerUser(context.Background(), "car-00001"); err == nil {
		t.Error("a server user named after a device")
	}
	var c paho.Client
	deadline := time.Now().Add(10 * time.Second)
	for c == nil {
		if c, err = connect(t, r.b.URL(), "tail-1", "tail", secret); err != nil && time.Now().After(deadline) {
			t.Fatalf("the new server user: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := c.Subscribe(wire.Prefix+"+/#", 1, nil).(*paho.SubscribeToken)
	if !st.WaitTimeout(5*time.Second) || st.Result()[wire.Prefix+"+/#"] >= 0x80 {
		t.Errorf("the server user's subscription: %v", st.Result())
	}
	if _, err := connect(t, r.b.URL(), "tail-2", "tail", "wrong"); err == nil {
		t.Error("a server user with a wrong secret logged in")
	}
	if err := r.st.RemoveBrokerUser(context.Background(), "tail"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := connect(t, r.b.URL(), "tail-3", "tail", secret); err == nil {
		t.Error("a removed server user logged in")
	}
}
