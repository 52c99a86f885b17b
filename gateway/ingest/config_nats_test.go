package ingest

import (
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/configfile"
)

// A nats:// broker gets the cluster's defaults and has them checked; an
// MQTT broker gets none of them.
func TestNATSConfig(t *testing.T) {
	c := Config{Broker: BrokerConfig{URL: "nats://nats-1:4222,nats://nats-2:4222"}}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	n := c.NATS
	if n.Partitions != 16 || n.Replicas != 3 || n.AckWait != 2*time.Minute || n.Fetch != 256 || n.Rebalance != 2*time.Second ||
		n.LeaseTimeout != 10*time.Second || n.DrainTimeout != 30*time.Second || n.MaxAckPending != 4096 {
		t.Errorf("defaults: %+v", n)
	}
	m := Config{Broker: BrokerConfig{URL: "tcp://127.0.0.1:1883"}}
	m.Defaults()
	if m.NATS != (NATSConfig{}) {
		t.Errorf("an MQTT broker got NATS defaults: %+v", m.NATS)
	}

	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"a second URL of another scheme", func(c *Config) { c.Broker.URL = "nats://a:4222,tcp://b:1883" }, []string{"broker.url"}},
		{"no host", func(c *Config) { c.Broker.URL = "nats://" }, []string{"broker.url"}},
		{"partitions", func(c *Config) { c.NATS.Partitions = 2000 }, []string{"nats.partitions"}},
		{"replicas", func(c *Config) { c.NATS.Replicas = 7 }, []string{"nats.replicas"}},
		{"ack wait", func(c *Config) { c.NATS.AckWait = time.Second }, []string{"nats.ack_wait"}},
		{"fetch above max ack pending", func(c *Config) { c.NATS.MaxAckPending, c.NATS.Fetch = 10, 11 }, []string{"nats.fetch"}},
		{"rebalance", func(c *Config) { c.NATS.Rebalance = time.Millisecond }, []string{"nats.rebalance"}},
		{"lease timeout", func(c *Config) { c.NATS.LeaseTimeout = time.Hour }, []string{"nats.lease_timeout"}},
		{"drain timeout", func(c *Config) { c.NATS.DrainTimeout = -time.Second }, []string{"nats.drain_timeout"}},
		{"a shared group", func(c *Config) { c.Group = "ingest" }, []string{"group"}},
		{"several at once", func(c *Config) { c.NATS.Partitions, c.NATS.Replicas = 0, 0; c.NATS.Fetch = 0 },
			[]string{"nats.fetch", "nats.partitions", "nats.replicas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Broker: BrokerConfig{URL: "nats://127.0.0.1:4222"}}
			c.Defaults()
			tc.edit(&c)
			got := configfile.Fields(c.Validate())
			if len(got) != len(tc.want) {
				t.Fatalf("errors for %v, want %v: %v", got, tc.want, c.Validate())
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("errors for %v, want %v: %v", got, tc.want, c.Validate())
				}
			}
		})
	}
}
