package broker_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// An export refused for a bad login leaves the old files exactly as they
// were, and nothing half-written beside them; the files are 0600 and keep
// the owner an operator gave them.
func TestExportAtomic(t *testing.T) {
	dir := t.TempDir()
	hash := store.HashSecret("s3cret-s3cret-s3cret")
	servers := []broker.Login{{User: "pitwall-server", Hash: hash}}
	good := []broker.Login{{User: "car-1", Hash: hash}, {User: "car-2", Hash: hash}}
	if err := broker.ExportMosquitto(dir, good, servers); err != nil {
		t.Fatal(err)
	}
	read := func() map[string][]byte {
		out := map[string][]byte{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = b
			if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
			}
		}
		return out
	}
	before := read()
	if len(before) != 2 || !bytes.Contains(before["passwd"], []byte("car-2:$7$")) || !bytes.Contains(before["acl"], []byte("user car-2")) {
		t.Fatalf("exported %q", before)
	}
	for name, bad := range map[string]struct{ devices, servers []broker.Login }{
		"a wildcard id":                {append(good, broker.Login{User: "a/b#", Hash: hash}), servers},
		"a plus":                       {append(good, broker.Login{User: "+", Hash: hash}), servers},
		"a 300-character id":           {append(good, broker.Login{User: strings.Repeat("x", 300), Hash: hash}), servers},
		"a bad hash":                   {append(good, broker.Login{User: "car-3", Hash: "plain"}), servers},
		"a server user with a newline": {good, []broker.Login{{User: "pitwall\nuser car-1\ntopic write #", Hash: hash}}},
	} {
		if err := broker.ExportMosquitto(dir, bad.devices, bad.servers); err == nil {
			t.Errorf("%s: exported", name)
		}
		after := read()
		if len(after) != 2 || !bytes.Equal(after["passwd"], before["passwd"]) || !bytes.Equal(after["acl"], before["acl"]) {
			t.Errorf("%s: the files changed or others appeared: %v", name, keys(after))
		}
	}
	if os.Getuid() != 0 {
		t.Log("not root: the owner is not checked")
		return
	}
	for _, f := range []string{"passwd", "acl"} {
		if err := os.Chown(filepath.Join(dir, f), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := broker.ExportMosquitto(dir, good[:1], servers); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"passwd", "acl"} {
		fi, _ := os.Stat(filepath.Join(dir, f))
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s is owned by %d:%d after the export, want 65534:65534", f, st.Uid, st.Gid)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
