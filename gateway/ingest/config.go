package ingest

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/configfile"
)

// Config shapes the consumer.
type Config struct {
	Broker BrokerConfig `yaml:"broker"`
	// Group, when set, subscribes through the shared subscription
	// $share/Group/…, so the servers of one group split the stream.
	// Without it this server takes the whole stream (its consumers, when
	// several, split it in a group of their own).
	Group string `yaml:"group"`
	// Consumers is how many broker connections split the stream in this
	// process (1 by default).
	Consumers int `yaml:"consumers"`
	// BatchSamples is how many samples one write gathers at most
	// (20,000 by default); BatchDelay, how long a write waits to fill
	// (50 ms by default).
	BatchSamples int           `yaml:"batch_samples"`
	BatchDelay   time.Duration `yaml:"batch_delay"`
	// Queue bounds the messages received and not yet stored; when it is
	// full the consumer stops reading from the broker (10,000 by default).
	Queue int `yaml:"queue"`
	// MaxAge and MaxAhead bound sample timestamps against the server's
	// clock (365 days back, 10 minutes ahead by default).
	MaxAge   time.Duration `yaml:"max_age"`
	MaxAhead time.Duration `yaml:"max_ahead"`
	// BirthWait is how long telemetry whose birth message is unknown
	// waits for it before it is rejected (30 s by default).
	BirthWait time.Duration `yaml:"birth_wait"`
	// NATS shapes the consumer when broker.url is a NATS cluster
	// (nats://…).
	NATS NATSConfig `yaml:"nats"`
}

// NATSConfig shapes the consumer of a NATS cluster: the cars publish
// over MQTT to NATS's MQTT listeners, the account's subject mapping puts
// each car's messages in one of Partitions partitions of the replicated
// stream that holds MQTT messages, and the servers share the partitions,
// one server at a time each, through leases in PostgreSQL.
type NATSConfig struct {
	// Partitions must be the count in the cluster's mapping
	// (wire.NATSMappingsConfig; 16 by default). The server checks it at
	// start.
	Partitions int `yaml:"partitions"`
	// Replicas of the message stream, when the server creates it before
	// any car has connected (3 by default; the MQTT block's
	// stream_replicas should say the same).
	Replicas int `yaml:"replicas"`
	// AckWait is how long a message handed to this server may stay
	// unacknowledged before NATS hands it over again (2 minutes by
	// default; a partition's new owner does not wait for it).
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxAckPending bounds a partition's messages handed over and not yet
	// acknowledged (4,096 by default).
	MaxAckPending int `yaml:"max_ack_pending"`
	// Fetch is how many messages one pull asks for (256 by default).
	Fetch int `yaml:"fetch"`
	// Rebalance is how often the server checks its leases and takes or
	// gives up partitions (2 s by default): with the time PostgreSQL takes
	// to see a dead server's session end, it bounds a takeover.
	Rebalance time.Duration `yaml:"rebalance"`
	// LeaseTimeout is how long PostgreSQL waits for a silent server before
	// its leases are freed (10 s by default).
	LeaseTimeout time.Duration `yaml:"lease_timeout"`
	// DrainTimeout bounds how long a partition being given up waits for
	// its messages in hand to be stored (30 s by default).
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// IsNATS reports whether a broker URL is a NATS cluster.
func IsNATS(url string) bool { return strings.HasPrefix(url, "nats://") }

// BrokerConfig says how the server reaches the broker.
type BrokerConfig struct {
	// URL is the broker to consume from; empty when messages are handed
	// over in process (Deliver, from the embedded broker).
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// ClientID names the server's persistent session; a restarted server
	// must use the same one to receive what it had not acknowledged, and
	// two servers must not share one ("pitwall-" and the host name by
	// default; consumer n of several adds "-n").
	ClientID string `yaml:"client_id"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Defaults fills what the configuration leaves out.
func (c *Config) Defaults() {
	if c.Consumers == 0 {
		c.Consumers = 1
	}
	if c.BatchSamples == 0 {
		c.BatchSamples = 20000
	}
	if c.BatchDelay == 0 {
		c.BatchDelay = 50 * time.Millisecond
	}
	if c.Queue == 0 {
		c.Queue = 10000
	}
	if c.MaxAge == 0 {
		c.MaxAge = 365 * 24 * time.Hour
	}
	if c.MaxAhead == 0 {
		c.MaxAhead = 10 * time.Minute
	}
	if c.BirthWait == 0 {
		c.BirthWait = 30 * time.Second
	}
	if n := &c.NATS; IsNATS(c.Broker.URL) {
		if n.Partitions == 0 {
			n.Partitions = 16
		}
		if n.Replicas == 0 {
			n.Replicas = 3
		}
		if n.AckWait == 0 {
			n.AckWait = 2 * time.Minute
		}
		if n.MaxAckPending == 0 {
			n.MaxAckPending = 4096
		}
		if n.Fetch == 0 {
			n.Fetch = 256
		}
		if n.Rebalance == 0 {
			n.Rebalance = 2 * time.Second
		}
		if n.LeaseTimeout == 0 {
			n.LeaseTimeout = 10 * time.Second
		}
		if n.DrainTimeout == 0 {
			n.DrainTimeout = 30 * time.Second
		}
	}
	if c.Broker.ClientID == "" {
		host, _ := os.Hostname()
		c.Broker.ClientID = "pitwall-" + host
	}
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, configfile.Bad(key, format, args...))
	}
	if IsNATS(c.Broker.URL) {
		for _, one := range strings.Split(c.Broker.URL, ",") {
			if u, err := url.Parse(strings.TrimSpace(one)); err != nil || u.Scheme != "nats" || u.Host == "" {
				bad("broker.url", "%q: want nats://HOST:PORT, several separated by commas", one)
			}
		}
		n := c.NATS
		if n.Partitions < 1 || n.Partitions > 1024 {
			bad("nats.partitions", "%d: want 1 to 1024 (the count in the cluster's mapping)", n.Partitions)
		}
		if n.Replicas < 1 || n.Replicas > 5 {
			bad("nats.replicas", "%d: want 1 to 5", n.Replicas)
		}
		if n.AckWait < 10*time.Second || n.AckWait > time.Hour {
			bad("nats.ack_wait", "%v: want 10s to 1h", n.AckWait)
		}
		if n.MaxAckPending < 1 || n.MaxAckPending > 1_000_000 {
			bad("nats.max_ack_pending", "%d: want 1 to 1000000", n.MaxAckPending)
		}
		if n.Fetch < 1 || n.Fetch > n.MaxAckPending {
			bad("nats.fetch", "%d: want 1 to max_ack_pending (%d)", n.Fetch, n.MaxAckPending)
		}
		if n.Rebalance < 100*time.Millisecond || n.Rebalance > time.Minute {
			bad("nats.rebalance", "%v: want 100ms to 1m", n.Rebalance)
		}
		if n.LeaseTimeout < time.Second || n.LeaseTimeout > 5*time.Minute {
			bad("nats.lease_timeout", "%v: want 1s to 5m", n.LeaseTimeout)
		}
		if n.DrainTimeout < time.Second || n.DrainTimeout > 10*time.Minute {
			bad("nats.drain_timeout", "%v: want 1s to 10m", n.DrainTimeout)
		}
		if c.Group != "" || c.Consumers > 1 {
			bad("group", "a NATS cluster shares the cars between servers by partitions: leave group and consumers out")
		}
	} else if u, err := url.Parse(c.Broker.URL); c.Broker.URL != "" && (err != nil || !strings.Contains("tcp ssl tls mqtt mqtts ws wss", u.Scheme) || u.Scheme == "" || u.Host == "") {
		bad("broker.url", "%q: want tcp://HOST:PORT, ssl://HOST:PORT for TLS, or nats://HOST:PORT for a NATS cluster", c.Broker.URL)
	}
	if strings.ContainsAny(c.Group, "/+#") {
		bad("group", "%q: a group name cannot hold '/', '+' or '#'", c.Group)
	}
	if c.Consumers < 1 || c.Consumers > 64 {
		bad("consumers", "%d: want 1 to 64", c.Consumers)
	}
	if c.BatchSamples < 1 || c.BatchSamples > 1_000_000 {
		bad("batch_samples", "%d: want 1 to 1000000", c.BatchSamples)
	}
	if c.BatchDelay < time.Millisecond || c.BatchDelay > 10*time.Second {
		bad("batch_delay", "%v: want 1ms to 10s", c.BatchDelay)
	}
	if c.Queue < 1 {
		bad("queue", "%d: at least 1", c.Queue)
	}
	if c.MaxAge < time.Hour || c.MaxAhead < time.Second {
		bad("max_age", "max_age at least 1h and max_ahead at least 1s")
	}
	if c.Broker.Password != "" && c.Broker.PasswordFile != "" {
		bad("broker.password", "give password or password_file, not both")
	}
	for key, path := range map[string]string{"broker.password_file": c.Broker.PasswordFile, "broker.ca_file": c.Broker.CAFile,
		"broker.cert_file": c.Broker.CertFile, "broker.key_file": c.Broker.KeyFile} {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if (c.Broker.CertFile == "") != (c.Broker.KeyFile == "") {
		bad("broker.cert_file", "a client certificate needs both cert_file and key_file")
	}
	return errors.Join(errs...)
}
