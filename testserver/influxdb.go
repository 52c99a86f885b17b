package testserver

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Influx is one InfluxDB 1.8 (v2 write API, Flux enabled).
type Influx struct {
	Port int
	p    *process
}

// InfluxURL returns the InfluxDB that scripts/test started
// (PITWALL_TEST_INFLUX_URL), or starts one for this test.
func InfluxURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("PITWALL_TEST_INFLUX_URL"); u != "" {
		return u
	}
	return StartInflux(t).URL()
}

// StartInflux runs an InfluxDB of the test's own; it is stopped when the
// test ends.
func StartInflux(t testing.TB) *Influx {
	t.Helper()
	bin := find("influxd", cachedBin("influxd"))
	if bin == "" {
		missing(t, "influxd (InfluxDB 1.8)")
	}
	dir := t.TempDir()
	s := &Influx{Port: freePort(t)}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
`, freePort(t), dir, s.Port)
	path := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.p = &process{t: t, name: "influxd", bin: bin, args: []string{"run", "-config", path}, logPath: filepath.Join(dir, "influxd.log"),
		up: func() bool {
			resp, err := http.Get(s.URL() + "/ping")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusNoContent
		}}
	s.p.start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's HTTP address.
func (s *Influx) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.Port) }

// Stop shuts the server down cleanly.
func (s *Influx) Stop() { s.p.halt(syscall.SIGTERM) }

// Kill stops the server at once, as a crash would.
func (s *Influx) Kill() { s.p.halt(syscall.SIGKILL) }

// Restart starts the server again on the same ports and data.
func (s *Influx) Restart() { s.p.start() }

// Pid is the server's process id, 0 while it is stopped.
func (s *Influx) Pid() int { return s.p.pid() }
