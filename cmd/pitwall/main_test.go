package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/obdtest"
	"github.com/pitwall-io/pitwall/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 0, "Usage: pitwall COMMAND", ""},
		{[]string{"help"}, 0, "scan ", ""},
		{[]string{"help", "scan"}, 0, "--adapter URL", ""},
		{[]string{"help", "nope"}, 2, "", "unknown command"},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"scan"}, 2, "", "--adapter is required"},
		{[]string{"scan", "--adaptr", "x"}, 2, "", "flag provided but not defined: -adaptr"},
		{[]string{"scan", "--adapter", "usb://x"}, 1, "", `unknown scheme "usb"`},
		{[]string{"scan", "--adapter", "tcp://127.0.0.1"}, 1, "", "want tcp://HOST:PORT"},
		{[]string{"bench"}, 2, "", "name what to measure"},
		{[]string{"bench", "obd", "--adapter", "x", "--pids", "ZZ"}, 2, "", `"ZZ" is not a hex PID`},
		{[]string{"demo", "--vehicles", "0"}, 2, "", "--vehicles 0: want 1 to 5000"},
		{[]string{"demo", "--http", "nowhere"}, 1, "", "http.addr"},
		{[]string{"explain"}, 2, "", "name at least one trouble code"},
		{[]string{"explain", "p0420", "--json"}, 0, `"code": "P0420"`, ""},
		{[]string{"explain", "P0420", "U1234"}, 0, "maker-specific network code", ""},
		{[]string{"explain", "P04"}, 1, "", "bad trouble code"},
		{[]string{"explain", "P0420", "--currency", "EUR"}, 2, "", "needs --per-usd"},
		{[]string{"explain", "P0420", "--labour", "cheap"}, 2, "", "want low-high"},
		{[]string{"explain", "1HGCM82633A004353"}, 1, "", "check digit"},
		{[]string{"explain", "1HGCM82633A004352"}, 0, "Honda", ""},
		{[]string{"server"}, 2, "", "give --config, --broker, --embedded-broker or --embedded-broker-tls"},
		{[]string{"server", "--broker", "tcp://127.0.0.1:1", "--embedded-broker", "127.0.0.1:0", "--db", "/nonexistent-dir/x.db"}, 1, "", "leave ingest.broker.url empty"},
		{[]string{"server", "--config", "/nonexistent.yaml"}, 1, "", "no such file"},
		{[]string{"bench", "ingest"}, 2, "", "--broker and --influx-url are required"},
		{[]string{"bench", "alerts", "--duration", "5s"}, 2, "", "at least 30s"},
		{[]string{"rules"}, 2, "", "name what to do"},
		{[]string{"rules", "check"}, 2, "", "needs at least one file"},
		{[]string{"rules", "check", "/nonexistent.yaml"}, 1, "no such file", "with problems: 1 found"},
		{[]string{"rules", "builtin"}, 0, "name: overheat", ""},
		{[]string{"devices"}, 2, "", "name what to do"},
		{[]string{"devices", "add"}, 2, "", "needs a device id"},
		{[]string{"devices", "add", "car/1"}, 2, "", "bad device id"},
		{[]string{"devices", "list", "--db", "/nonexistent.db"}, 1, "", "give --db"},
		{[]string{"version"}, 0, "pitwall ", ""},
		{[]string{"users"}, 2, "", "name what to do: add"},
		{[]string{"shops", "add"}, 2, "", "needs a YAML file"},
		{[]string{"shops", "add", "testdata/shop-bad.yaml", "--db", "/nonexistent-dir/x.db"}, 1, "", "shop-bad.yaml:6: profile.hours: a shop without opening hours"},
		{[]string{"users", "add", "x@y", "--role", "king"}, 2, "", `--role "king"`},
		{[]string{"users", "add", "x@y", "--role", "shop"}, 2, "", "needs --shop"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("pitwall %s: exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				strings.Join(c.args, " "), code, out.String(), errb.String(), c.code, c.stdout, c.stderr)
		}
	}
}

// The report a person reads, for the sample car.
func TestScanReportText(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := obd.Scan(ctx, obd.NewClient(obdtest.SampleCar()))
	if err != nil {
		t.Fatal(err)
	}
	r.Adapter = map[string]any{"url": "tcp://192.168.0.10:35000", "identity": "ELM327 v1.5", "clone": true,
		"quirks": []string{"answers OK to commands it does not know; settings are checked by their effect"}}
	var b bytes.Buffer
	writeReport(&b, r)
	path := filepath.Join("testdata", "scan-report.txt")
	if *update {
		_ = os.MkdirAll("testdata", 0o755)
		_ = os.WriteFile(path, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("report differs from %s:\n%s", path, b.String())
	}
}

// Devices through the command line: add prints a secret once, list shows
// the device, revoke marks it, export writes Mosquitto's files without it.
func TestDevicesCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "pitwall.db")
	if out := do0(t, 1, "devices", "add", "car-1", "--db", db); !strings.Contains(out, "pitwall server` creates the database") {
		t.Errorf("adding to a database that does not exist: %s", out)
	}
	st, err := store.Open(context.Background(), db) // as the server's first start makes it
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	do := func(code int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if got := run(context.Background(), args, &out, &errb); got != code {
			t.Fatalf("pitwall %s: exit %d, want %d; %s%s", strings.Join(args, " "), got, code, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	out := do(0, "devices", "add", "car-1", "--db", db)
	if !strings.Contains(out, "device_id: car-1") || !strings.Contains(out, "password_file: ") || !strings.Contains(out, "key_file: ") {
		t.Fatalf("add: %s", out)
	}
	st, err = store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := st.Device(context.Background(), "car-1")
	st.Close()
	if key := wire.FormatCommandKey(d.CommandKey); len(d.CommandKey) != wire.CommandKeySize || !strings.Contains(out, "command key: "+key+"\n") {
		t.Errorf("add does not print the stored command key %q:\n%s", key, out)
	}
	if out := do(2, "devices", "add", "a/b#", "--db", db); !strings.Contains(out, "bad device id") {
		t.Errorf("a wildcard id: %s", out)
	}
	creds := t.TempDir()
	out = do(0, "devices", "rotate", "car-1", "--db", db, "--out", creds)
	for _, f := range []string{"secret", "command.key"} {
		fi, err := os.Stat(filepath.Join(creds, f))
		if err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(out, filepath.Join(creds, f)) {
			t.Errorf("rotate --out: %s: %v %v\n%s", f, fi, err, out)
		}
	}
	keyText, _ := os.ReadFile(filepath.Join(creds, "command.key"))
	if _, err := wire.ParseCommandKey(string(keyText)); err != nil || strings.Contains(out, strings.TrimSpace(string(keyText))) {
		t.Errorf("the written key %q: %v; printed too: %s", keyText, err, out)
	}
	do(0, "devices", "add", "car-2", "--db", db)
	if out := do(1, "devices", "add", "car-2", "--db", db); !strings.Contains(out, "already exists") {
		t.Errorf("adding twice: %s", out)
	}
	do(0, "devices", "revoke", "car-2", "--db", db)
	out = do(0, "devices", "list", "--db", db)
	if !strings.Contains(out, "car-1") || !strings.Contains(out, "never heard") || !strings.Contains(out, "revoked") {
		t.Errorf("list: %s", out)
	}
	secret := filepath.Join(dir, "server-secret")
	os.WriteFile(secret, []byte("short\n"), 0o600)
	if out := do(1, "devices", "export", "--db", db, "--dir", dir, "--server-secret-file", secret); !strings.Contains(out, "at least 16") {
		t.Errorf("a short server secret: %s", out)
	}
	os.WriteFile(secret, []byte("a-long-enough-server-secret\n"), 0o600)
	do(0, "devices", "export", "--db", db, "--dir", dir, "--server-secret-file", secret)
	acl, _ := os.ReadFile(filepath.Join(dir, "acl"))
	passwd, _ := os.ReadFile(filepath.Join(dir, "passwd"))
	if !strings.Contains(string(acl), "user car-1\n") || strings.Contains(string(acl), "car-2") ||
		!strings.HasPrefix(string(passwd), "car-1:$7$1000$") || !strings.Contains(string(passwd), "pitwall-server:$7$") {
		t.Errorf("export:\n%s\n%s", acl, passwd)
	}
}

// do0 runs a command and checks its exit code.
func do0(t *testing.T, code int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if got := run(context.Background(), args, &out, &errb); got != code {
		t.Fatalf("pitwall %s: exit %d, want %d; %s%s", strings.Join(args, " "), got, code, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// The README's first command: the demo starts, prints its logins and
// stops cleanly when interrupted.
func TestDemoStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"demo", "--http", "127.0.0.1:0", "--vehicles", "2"}, &out, &errb) }()
	// Interrupted once it says it runs (a loaded machine takes a while).
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "Pitwall demo running at") && time.Now().Before(deadline); {
		select {
		case code := <-done:
			t.Fatalf("the demo exited with %d before it ran\nstdout %s\nstderr %s", code, out.String(), errb.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "owner  owner@pitwall.demo ") || !strings.Contains(out.String(), "Pitwall demo running at http://127.0.0.1:") {
			t.Errorf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop")
	}
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devices add --count writes a private credentials file with a secret
// for each car, which logs it in, and which sim fleet reads.
func TestDevicesAddCount(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "pitwall.db")
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	file := filepath.Join(dir, "cars.json")
	if out := do0(t, 2, "devices", "add", "x", "--count", "3", "--out", file, "--db", db); !strings.Contains(out, "without an id") {
		t.Errorf("an id with --count: %s", out)
	}
	do0(t, 0, "devices", "add", "--count", "3", "--out", file, "--prefix", "lab", "--db", db)
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the credentials file: %v %v", fi, err)
	}
	creds, err := fleet.ReadCredentials(file)
	if err != nil || len(creds) != 3 {
		t.Fatalf("credentials: %v %v", creds, err)
	}
	for id, secret := range creds {
		if err := st.Authenticate(context.Background(), id, secret); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, ok := creds["lab-00003"]; !ok {
		t.Errorf("ids: %v", creds)
	}
}
