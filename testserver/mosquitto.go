package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Mosquitto is one Mosquitto broker.
type Mosquitto struct {
	Port int
	p    *process
}

// MosquittoOptions shape the broker.
type MosquittoOptions struct {
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

// StartMosquitto runs a broker; it is stopped when the test ends.
func StartMosquitto(t testing.TB, opt MosquittoOptions) *Mosquitto {
	t.Helper()
	bin := find("mosquitto", "/usr/sbin/mosquitto")
	if bin == "" {
		missing(t, "mosquitto")
	}
	dir := t.TempDir()
	m := &Mosquitto{Port: freePort(t)}
	var conf strings.Builder
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\nlog_dest stderr\nmax_queued_messages 1000000\n", m.Port)
	if opt.Persistent {
		fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\nautosave_interval 1\n", dir)
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
	switch {
	case opt.PasswordFile != "":
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", opt.PasswordFile)
	case len(opt.Users) > 0:
		pw := filepath.Join(dir, "passwd")
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
			missing(t, "mosquitto_passwd (it comes with Debian's mosquitto)")
		}
		if out, err := exec.Command(hp, "-U", pw).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", pw)
	default:
		conf.WriteString("allow_anonymous true\n")
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	m.p = &process{t: t, name: "mosquitto", bin: bin, args: []string{"-c", path}, logPath: filepath.Join(dir, "mosquitto.log"),
		up: func() bool { return listening(m.Port) }}
	m.p.start()
	t.Cleanup(m.Stop)
	return m
}

// URL is the broker's address.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.Port) }

// Stop shuts the broker down (it saves its sessions when persistent);
// connected clients see the connection drop.
func (m *Mosquitto) Stop() { m.p.halt(syscall.SIGTERM) }

// Kill stops the broker at once, saving nothing.
func (m *Mosquitto) Kill() { m.p.halt(syscall.SIGKILL) }

// Restart starts the broker again on the same port.
func (m *Mosquitto) Restart() { m.p.start() }

// Log returns the last lines the broker logged.
func (m *Mosquitto) Log() string { return m.p.tail() }

// Pid is the broker's process id, 0 while it is stopped.
func (s *Mosquitto) Pid() int { return s.p.pid() }
