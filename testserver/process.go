// Package testserver runs the real servers Pitwall's tests talk to:
// Mosquitto, InfluxDB 1.8 and PostgreSQL, each on free loopback ports in a temporary
// directory, stoppable, killable and restartable on the same ports with
// their data. A test whose server is not installed is skipped with a
// clear message, except under CI, where that fails it (scripts/test
// installs them).
package testserver

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// missing skips the test, or fails it under CI.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; scripts/test installs it", what)
	}
	t.Skipf("%s is not installed: run ./scripts/test, which installs it", what)
}

// process is one server process that can be stopped and started again.
type process struct {
	t       testing.TB
	name    string
	bin     string
	args    []string
	logPath string
	up      func() bool // the server answers
	attr    *syscall.SysProcAttr

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// start runs the server and waits until it answers.
func (p *process) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = p.attr
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.cmd, p.log = cmd, log
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.up() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s did not come up:\n%s", p.name, p.tail())
}

// halt stops the server with sig, killing it if it lingers.
func (p *process) halt(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
	p.log.Close()
}

// pid is the running process's id, 0 when it is stopped.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// CPUSeconds is the processor time (user and system) process pid has
// used so far, from /proc (Linux; clock ticks of 1/100 s, as Linux reports
// them on every architecture Go runs on).
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing one. utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("testserver: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("testserver: /proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("testserver: /proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return (u + s) / 100, nil
}

// tail is the last lines the server logged.
func (p *process) tail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// find looks for a binary on PATH, then in the places given.
func find(name string, places ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range places {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func cachedBin(name string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "pitwall", "bin", name)
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
