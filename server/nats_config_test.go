package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pitwall-io/pitwall/configfile"
	"github.com/pitwall-io/pitwall/server"
)

// A NATS cluster needs PostgreSQL to share its partitions; the auth
// callout needs a NATS URL, its user and files that exist.
func TestNATSServerConfig(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "issuer.nk")
	if err := os.WriteFile(seed, []byte("SA...\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func() server.Config {
		var c server.Config
		c.Store.URL = "postgres://pitwall@db.internal/pitwall"
		c.Ingest.Broker.URL = "nats://nats-1:4222,nats://nats-2:4222"
		c.Series.Path = filepath.Join(dir, "series.db")
		return c
	}
	for _, tc := range []struct {
		name string
		edit func(*server.Config)
		want []string
	}{
		{"good", func(*server.Config) {}, nil},
		{"good with the callout", func(c *server.Config) { c.NATSAuth.IssuerSeedFile, c.NATSAuth.Username = seed, "auth" }, nil},
		{"SQLite", func(c *server.Config) { c.Store.URL, c.Store.Path = "", filepath.Join(dir, "pitwall.db") }, []string{"store.url"}},
		{"callout on an MQTT broker", func(c *server.Config) {
			c.NATSAuth.IssuerSeedFile, c.NATSAuth.Username, c.NATSAuth.URL = seed, "auth", "tcp://127.0.0.1:1883"
		}, []string{"nats_auth.url"}},
		{"callout without a user", func(c *server.Config) { c.NATSAuth.IssuerSeedFile = seed }, []string{"nats_auth.username"}},
		{"callout with missing files", func(c *server.Config) {
			c.NATSAuth.IssuerSeedFile, c.NATSAuth.Username, c.NATSAuth.PasswordFile = filepath.Join(dir, "nope.nk"), "auth", filepath.Join(dir, "nope")
		}, []string{"nats_auth.issuer_seed_file", "nats_auth.password_file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			c.Defaults()
			err := c.Validate()
			got := configfile.Fields(err)
			if len(got) != len(tc.want) {
				t.Fatalf("keys %v, want %v: %v", got, tc.want, err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("keys %v, want %v: %v", got, tc.want, err)
				}
			}
		})
	}
}
