// Package mosquittotest runs a real Mosquitto broker for tests: on a free
// loopback port, in a temporary directory, stoppable and restartable on the
// same port, with optional password authentication. Tests that need it skip
// with a clear message when the mosquitto binary is missing (scripts/test
// installs it), except under CI, where that fails them.
package mosquittotest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Broker is one Mosquitto process.
type Broker struct {
	t    testing.TB
	Port int
	dir  string
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *os.File
}

// Options shape the broker.
type Options struct {
	// Users maps user names to passwords; with any, anonymous clients are
	// refused.
	Users map[string]string
	// Persistent keeps sessions and queued messages across Stop and
	// Restart, so a subscriber with a persistent session misses nothing
	// published while it reconnects.
	Persistent bool
	// PasswordFile and ACLFile, when set, are used as they are (hashed
	// passwords, as `pitwall devices export` writes them).
	PasswordFile string
	ACLFile      string
}

// binary finds mosquitto.
func binary() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return ""
}

// Start runs a broker; it is stopped when the test ends.
func Start(t testing.TB, opt Options) *Broker {
	t.Helper()
	bin := binary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("mosquitto is not installed; scripts/test installs it")
		}
		t.Skip("mosquitto is not installed: run ./scripts/test, which installs it")
	}
	b := &Broker{t: t, Port: freePort(t), dir: t.TempDir()}
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nlog_dest stderr\nmax_queued_messages 1000000\n", b.Port)
	if opt.Persistent {
		fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\nautosave_interval 1\n", b.dir)
	} else {
		conf.WriteString("persistence false\n")
	}
	if os.Geteuid() == 0 {
		// Started as root, Mosquitto would switch to its own user, which
		// cannot read the test's private temporary directory.
		conf.WriteString("user root\n")
	}
	if opt.ACLFile != "" {
		fmt.Fprintf(&conf, "acl_file %s\n", opt.ACLFile)
	}
	if opt.PasswordFile != "" {
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", opt.PasswordFile)
	} else if len(opt.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		var lines []string
		for u, p := range opt.Users {
			lines = append(lines, u+":"+p)
		}
		if err := os.WriteFile(pw, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Mosquitto reads hashed passwords: mosquitto_passwd hashes the file
		// in place.
		hp, err := exec.LookPath("mosquitto_passwd")
		if err != nil {
			t.Skip("mosquitto_passwd is not installed (it comes with Debian's mosquitto)")
		}
		if out, err := exec.Command(hp, "-U", pw).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", pw)
	} else {
		conf.WriteString("allow_anonymous true\n")
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// URL is the broker's address.
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.Port) }

// Stop shuts the broker down (it saves its sessions when persistent);
// connected clients see the connection drop.
func (b *Broker) Stop() { b.halt(syscall.SIGTERM) }

// Kill stops the broker at once, saving nothing.
func (b *Broker) Kill() { b.halt(syscall.SIGKILL) }

func (b *Broker) halt(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
	if b.log != nil {
		b.log.Close()
	}
}

// Restart starts the broker again on the same port.
func (b *Broker) Restart() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return
	}
	log, err := os.OpenFile(filepath.Join(b.dir, "mosquitto.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.t.Fatal(err)
	}
	cmd := exec.Command(binary(), "-c", b.conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting mosquitto: %v", err)
	}
	b.cmd, b.log = cmd, log
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("mosquitto did not listen on port %d: %s", b.Port, b.Log())
}

// Log returns what the broker logged.
func (b *Broker) Log() string {
	f, err := os.Open(filepath.Join(b.dir, "mosquitto.log"))
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

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
