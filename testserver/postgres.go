package testserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, for creating and dropping test databases
)

// PostgresEnv names the PostgreSQL server scripts/test starts: an admin
// URL (a superuser, any database) of a throwaway cluster.
const PostgresEnv = "PITWALL_TEST_POSTGRES_URL"

// Postgres is one throwaway PostgreSQL cluster.
type Postgres struct {
	Port int
	p    *process
}

// PostgresURL returns the URL of a new, empty database of the test's
// own, dropped when the test ends: in the cluster scripts/test started
// (PITWALL_TEST_POSTGRES_URL), or in a cluster started for this test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		admin = StartPostgres(t).URL()
	}
	return NewDatabase(t, admin)
}

// NewDatabase creates a database of the test's own on the server admin
// reaches, drops it when the test ends, and returns its URL.
func NewDatabase(t testing.TB, admin string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "pitwall_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating a test database on %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// postgresBin finds initdb and postgres: on PATH, else in the newest of
// Debian's /usr/lib/postgresql/*/bin.
func postgresBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// PostgresOptions shape a cluster.
type PostgresOptions struct {
	// Durable keeps PostgreSQL's defaults (fsync, synchronous commit,
	// full page writes), for benchmarks that compare it with SQLite's
	// full sync; otherwise they are off, the cluster being thrown away.
	Durable bool
}

// StartPostgres initialises a cluster in a temporary directory and runs
// it on a free loopback port, with no durability (it is thrown away);
// it is stopped and removed when the test ends. As root the server runs
// as Debian's postgres user, since PostgreSQL refuses to run as root.
func StartPostgres(t testing.TB) *Postgres { return StartPostgresWith(t, PostgresOptions{}) }

// StartPostgresWith is StartPostgres shaped by opt.
func StartPostgresWith(t testing.TB, opt PostgresOptions) *Postgres {
	t.Helper()
	if why := postgresMissing(); why != "" {
		missing(t, why)
	}
	initdb, bin := postgresBin("initdb"), postgresBin("postgres")
	var attr *syscall.SysProcAttr
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	// Not t.TempDir: its parents are private to this user, and the server
	// may run as another.
	dir, err := os.MkdirTemp("", "pitwall-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		for _, p := range []string{dir, data} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	cmd.SysProcAttr = attr
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s := &Postgres{Port: freePort(t)}
	args := []string{"-D", data, "-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300"}
	if !opt.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.p = &process{t: t, name: "postgres", bin: bin, attr: attr, logPath: filepath.Join(dir, "postgres.log"), args: args,
		up: func() bool { return s.answers() }}
	s.p.start()
	t.Cleanup(s.Stop)
	return s
}

// answers reports whether the server takes queries (it accepts
// connections a moment before it does).
func (s *Postgres) answers() bool {
	db, err := sql.Open("pgx", s.URL()+"&connect_timeout=1")
	if err != nil {
		return false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

// URL is the superuser's URL of the postgres database.
func (s *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
}

// Stop shuts the server down at once (PostgreSQL's fast shutdown:
// clients are disconnected).
func (s *Postgres) Stop() { s.p.halt(syscall.SIGINT) }

// Kill stops the server as a crash would.
func (s *Postgres) Kill() { s.p.halt(syscall.SIGKILL) }

// Restart starts the server again on the same port and data.
func (s *Postgres) Restart() { s.p.start() }

// Database is one engine's database for a test: a SQLite file or a
// PostgreSQL URL.
type Database struct {
	Engine string // sqlite or postgres
	DSN    string
}

// Databases gives a test a fresh database on every engine the store
// runs on: a SQLite file in the test's directory and, unless -short, a
// PostgreSQL database of its own. Where PostgreSQL is not installed the
// test runs on SQLite alone and says so; under CI that fails it.
func Databases(t testing.TB) []Database {
	t.Helper()
	out := []Database{{Engine: "sqlite", DSN: filepath.Join(t.TempDir(), "pitwall.db")}}
	if testing.Short() {
		return out
	}
	if os.Getenv(PostgresEnv) == "" {
		if why := postgresMissing(); why != "" {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed; scripts/test installs it", why)
			}
			t.Logf("%s is not installed: this test runs on SQLite only (./scripts/test installs it)", why)
			return out
		}
	}
	return append(out, Database{Engine: "postgres", DSN: PostgresURL(t)})
}

// postgresMissing names what StartPostgres would lack, or "".
func postgresMissing() string {
	if postgresBin("initdb") == "" || postgresBin("postgres") == "" {
		return "PostgreSQL (initdb and postgres, Debian's postgresql package)"
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return "the postgres user (Debian's postgresql package makes it)"
		}
	}
	return ""
}
