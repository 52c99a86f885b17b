package server_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/server"
)

// A database that is not what it looks like is a clear error naming the
// key, and never a file created under a mistyped name.
func TestStoreConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	cases := []struct {
		st   server.StoreConfig
		want string
	}{
		{server.StoreConfig{Path: "postgress://db.example/pitwall"}, `store.path: "postgress://db.example/pitwall" is a URL, not a file`},
		{server.StoreConfig{Path: "mysql://x:y@db.example/pitwall"}, `"mysql://x:xxxxx@db.example/pitwall" is a URL`},
		{server.StoreConfig{URL: "/var/lib/pitwall/pitwall.db"}, "store.url: \"/var/lib/pitwall/pitwall.db\": want postgres://"},
		{server.StoreConfig{URL: "postgres://db/p", Path: filepath.Join(dir, "x.db")}, "not both"},
		{server.StoreConfig{Path: filepath.Join(dir, "missing", "x.db")}, "the directory " + filepath.Join(dir, "missing") + " does not exist"},
		{server.StoreConfig{Path: filepath.Join(dir, "x.db"), PasswordFile: pw}, "store.password_file: a password is for store.url"},
		{server.StoreConfig{URL: "postgres://u@db/p", PasswordFile: filepath.Join(dir, "nope")}, "store.password_file"},
	}
	for _, c := range cases {
		cfg := server.Config{Store: c.st, EmbeddedBroker: server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0"}, HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"}}
		_, err := server.New(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want %q", c.st, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files were made: %v", entries)
	}
	if _, err := os.Stat("postgress:"); err == nil {
		t.Error("a file named after the mistyped URL was made")
	}
}

// A PostgreSQL server that is not there fails the start within the
// connect timeout, saying which database, without its password.
func TestUnreachableDatabase(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cfg := server.Config{Store: server.StoreConfig{URL: "postgres://pitwall:hunter2@" + addr + "/pitwall?sslmode=disable"},
		EmbeddedBroker: server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0"}, HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"}}
	cfg.Store.Pool.ConnectTimeout = 2 * time.Second
	_, err := server.New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "postgres://pitwall:xxxxx@"+addr) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("start against a missing database: %v", err)
	}
}
