package broker_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// The exported password file and ACL give a real Mosquitto the embedded
// broker's rules: registered devices in, revoked ones out, each device
// under its own id only; the server reads through a shared group.
func TestMosquittoExport(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secrets := map[string]string{}
	for _, id := range []string{"car-1", "car-2", "car-3"} {
		_, s, err := st.AddDevice(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		secrets[id] = s
	}
	if err := st.RevokeDevice(ctx, "car-3"); err != nil {
		t.Fatal(err)
	}
	devs, _ := st.Devices(ctx)
	var logins []broker.Login
	for _, d := range devs {
		if d.Active() {
			logins = append(logins, broker.Login{User: d.ID, Hash: d.SecretHash})
		}
	}
	dir := t.TempDir()
	if err := broker.ExportMosquitto(dir, logins, []broker.Login{{User: "pitwall-server", Hash: store.HashSecret(serverSecret)}}); err != nil {
		t.Fatal(err)
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{PasswordFile: filepath.Join(dir, "passwd"), ACLFile: filepath.Join(dir, "acl")})

	if _, err := connect(t, b.URL(), "car-3", "car-3", secrets["car-3"]); err == nil {
		t.Error("a revoked device logged in")
	}
	if _, err := connect(t, b.URL(), "car-2", "car-2", "wrong"); err == nil {
		t.Error("a wrong secret logged in")
	}
	srv, err := connect(t, b.URL(), "pitwall-ingest", "pitwall-server", serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	tok := srv.Subscribe("$share/ingest/"+wire.Prefix+"+/telemetry", 1, func(_ paho.Client, m paho.Message) { mu.Lock(); got[m.Topic()]++; mu.Unlock() })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c1, err := connect(t, b.URL(), "car-1", "car-1", secrets["car-1"])
	if err != nil {
		t.Fatal(err)
	}
	var cmds int
	c1.Subscribe(wire.Topic("car-1", wire.KindCommand), 1, func(paho.Client, paho.Message) { mu.Lock(); cmds++; mu.Unlock() }).WaitTimeout(5 * time.Second)
	for _, topic := range []string{wire.Topic("car-1", wire.KindTelemetry), wire.Topic("car-2", wire.KindTelemetry)} {
		c1.Publish(topic, 1, false, []byte("x")).WaitTimeout(5 * time.Second)
	}
	srv.Publish(wire.Topic("car-1", wire.KindCommand), 1, false, []byte("scan")).WaitTimeout(5 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := got[wire.Topic("car-1", wire.KindTelemetry)] + cmds
		mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if got[wire.Topic("car-1", wire.KindTelemetry)] != 1 || got[wire.Topic("car-2", wire.KindTelemetry)] != 0 || cmds != 1 {
		t.Fatalf("the server received %v, the device %d commands", got, cmds)
	}
}
