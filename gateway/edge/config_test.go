package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	p := writeConfig(t, `device_id: car-42
adapter: tcp://127.0.0.1:35000
broker:
  url: tcp://127.0.0.1:1883
  reconnect_max: 10s
spool:
  max_bytes: 2MiB
poll:
  tiers:
    - {hz: 2, pids: ["0C", vehicle_speed]}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Spool.MaxBytes != 2<<20 || c.Broker.ReconnectMax != 10*time.Second || c.Broker.KeepAlive != 30*time.Second {
		t.Errorf("spool %d, reconnect_max %v, keep_alive %v", c.Spool.MaxBytes, c.Broker.ReconnectMax, c.Broker.KeepAlive)
	}
	if got := c.Poll.Tiers[0].PIDs; len(got) != 2 || got[1] != "vehicle_speed" {
		t.Errorf("tier PIDs %v", got)
	}
	if c.Poll.MaxRequestsPerSecond != 25 || c.Spool.Dir == "" || c.Trips.EndAfter != 5*time.Minute || c.Poll.TestsInterval != 5*time.Minute {
		t.Errorf("defaults not filled: %+v", c)
	}
}

// Every bad value is reported at once, each with its file and line.
func TestLoadConfigErrors(t *testing.T) {
	p := writeConfig(t, `device_id: "car 42"
adapter: bluetooth://dongle
broker:
  url: tcp://127.0.0.1:1883
  reconnect_max: 100ms
spool:
  max_bytes: 1KiB
poll:
  tiers:
    - {hz: 5, pids: ["0C"]}
    - {hz: 0, pids: ["00", bogus]}
  tests_interval: 1s
trips:
  end_after: 10s
`)
	_, err := Load(p)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		p + ":1: device_id",
		p + ":2: adapter",
		p + ":5: broker.reconnect_max: 100ms",
		p + ":7: spool.max_bytes",
		p + ":11: poll.tiers[1].hz",
		p + ":11: poll.tiers[1].pids[0]: \"00\" is a supported-PID bitmap",
		p + ":11: poll.tiers[1].pids[1]: \"bogus\" is not a PID",
		p + ":12: poll.tests_interval: 1s: want 30s to 24h",
		p + ":14: trips.end_after: 10s: want 30s to 2h",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A misspelt key is an error naming it and its line, not a silent default.
func TestLoadConfigUnknownKey(t *testing.T) {
	p := writeConfig(t, "device_id: car-1\nadapter: tcp://127.0.0.1:1\nbroker:\n  url: tcp://127.0.0.1:1883\n  keepalive: 10s\n")
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+": line 5: field keepalive not found") || strings.Contains(err.Error(), "edge.") {
		t.Fatalf("got %v", err)
	}
}

func TestRedacted(t *testing.T) {
	c := Config{Broker: BrokerConfig{Password: "hunter2"}, Commands: CommandsConfig{ClearToken: "s3cret"}}
	r := c.Redacted()
	if strings.Contains(r.Broker.Password+r.Commands.ClearToken, "hunter2") || strings.Contains(r.Commands.ClearToken, "s3cret") {
		t.Errorf("secrets in %+v", r)
	}
	if c.Broker.Password != "hunter2" {
		t.Error("Redacted changed the original")
	}
}

// A duration without a unit is refused, with its line; one far too short
// fails the range check.
func TestLoadConfigUnitlessDuration(t *testing.T) {
	p := writeConfig(t, "device_id: car-1\nadapter: tcp://127.0.0.1:1\nbroker:\n  url: tcp://127.0.0.1:1883\nspool:\n  sync_every: 1\n")
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+": line 6: cannot unmarshal !!int `1` into time.Duration") {
		t.Fatalf("got %v", err)
	}
	p = writeConfig(t, "device_id: car-1\nadapter: tcp://127.0.0.1:1\nbroker:\n  url: tcp://127.0.0.1:1883\nspool:\n  sync_every: 1us\n")
	if _, err = Load(p); err == nil || !strings.Contains(err.Error(), p+":6: spool.sync_every: 1µs: want 10ms to 1h") {
		t.Fatalf("got %v", err)
	}
}
