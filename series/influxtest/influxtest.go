// Package influxtest runs a real InfluxDB 1.8 for tests: on free loopback
// ports, in a temporary directory, with Flux enabled, and able to be
// killed and restarted on the same ports with its data. Tests skip with a
// clear message when influxd is missing, except under CI, where that is a
// failure (scripts/test builds it).
package influxtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one influxd process.
type Server struct {
	t    testing.TB
	bin  string
	conf string
	Port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *os.File
}

// binary finds influxd: on PATH, or where scripts/test caches it.
func binary() string {
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	if home, err := os.UserCacheDir(); err == nil {
		if p := filepath.Join(home, "pitwall", "bin", "influxd"); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Missing skips the test, or fails it under CI, when a server part is not
// installed.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; scripts/test installs it", what)
	}
	t.Skipf("%s is not installed: run ./scripts/test, which installs it", what)
}

// URL returns the InfluxDB that scripts/test started
// (PITWALL_TEST_INFLUX_URL), or starts one for this test.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("PITWALL_TEST_INFLUX_URL"); u != "" {
		return u
	}
	return Start(t).URL()
}

// Start runs an InfluxDB of the test's own; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary()
	if bin == "" {
		Missing(t, "influxd (InfluxDB 1.8)")
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, Port: freePort(t)}
	rpc := freePort(t)
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
`, rpc, dir, s.Port)
	s.conf = filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's HTTP address.
func (s *Server) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.Port) }

// Restart starts the server again on the same ports and data, and waits
// until it answers.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	log, err := os.CreateTemp(s.t.TempDir(), "influxd-*.log")
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "run", "-config", s.conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting influxd: %v", err)
	}
	s.cmd, s.log = cmd, log
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL() + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(log.Name())
	s.t.Fatalf("influxd did not answer on %s:\n%s", s.URL(), out)
}

// Stop shuts the server down cleanly.
func (s *Server) Stop() { s.halt(syscall.SIGTERM) }

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() { s.halt(syscall.SIGKILL) }

func (s *Server) halt(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
	s.log.Close()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
