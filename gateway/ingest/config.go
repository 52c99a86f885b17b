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
}

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
	if u, err := url.Parse(c.Broker.URL); c.Broker.URL != "" && (err != nil || !strings.Contains("tcp ssl tls mqtt mqtts ws wss", u.Scheme) || u.Scheme == "" || u.Host == "") {
		bad("broker.url", "%q: want tcp://HOST:PORT, or ssl://HOST:PORT for TLS", c.Broker.URL)
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
