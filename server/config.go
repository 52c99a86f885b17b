package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/configfile"
	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/store"
)

// Config is the server's configuration file.
type Config struct {
	Store          StoreConfig          `yaml:"store"`
	Series         SeriesConfig         `yaml:"series"`
	Ingest         ingest.Config        `yaml:"ingest"`
	EmbeddedBroker EmbeddedBrokerConfig `yaml:"embedded_broker"`
	HTTP           HTTPConfig           `yaml:"http"`
	Rules          RulesConfig          `yaml:"rules"`
	Alerting       AlertingConfig       `yaml:"alerting"`
	Diagnosis      DiagnosisConfig      `yaml:"diagnosis"`
	Booking        BookingConfig        `yaml:"booking"`
	Pairing        PairingConfig        `yaml:"pairing"`
	NATSAuth       NATSAuthConfig       `yaml:"nats_auth"`
}

// NATSAuthConfig makes the server answer a NATS cluster's auth callout
// for devices (see docs/scale.md): each device logs in with its id and
// secret, checked against the store, and may publish only its own
// messages and read only its own commands.
type NATSAuthConfig struct {
	// IssuerSeedFile holds the seed of the account key the cluster's
	// auth_callout names as issuer; without it the server answers no
	// callout (the cluster authenticates devices some other way).
	IssuerSeedFile string `yaml:"issuer_seed_file"`
	// URL is the cluster (ingest.broker.url by default).
	URL string `yaml:"url"`
	// Username and PasswordFile log the callout in: a user of the
	// callout's account listed in the cluster's auth_users.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// Account is where devices are placed (PITWALL by default).
	Account string `yaml:"account"`
	// SessionMax bounds a device's login; a revoked device keeps its open
	// session at most this long (1h by default).
	SessionMax time.Duration `yaml:"session_max"`
}

// PairingConfig is what a dongle is told when it pairs with a code.
type PairingConfig struct {
	// BrokerURL is the broker address dongles connect to
	// (ssl://mqtt.example.com:8883). With an embedded broker it defaults
	// to the broker's port on http.public_url's host.
	BrokerURL string `yaml:"broker_url"`
	// CAFile is the CA certificate (PEM) that signed the broker's, handed
	// to dongles with their credentials.
	CAFile string `yaml:"ca_file"`
}

// StoreConfig places the relational store: a SQLite file (the default)
// or a PostgreSQL database, which several servers can share.
type StoreConfig struct {
	// Path is the SQLite file; its directory must exist unless it is the
	// default.
	Path string `yaml:"path"`
	// URL is a PostgreSQL database, postgres://USER@HOST:5432/DB (libpq's
	// URL form and parameters, sslmode and all); given, Path is not used.
	URL string `yaml:"url"`
	// PasswordFile holds the URL's password, so that it is in neither the
	// file nor argv (PGPASSFILE and .pgpass work too).
	PasswordFile string `yaml:"password_file"`
	// Pool sizes the connection pool (each server's own).
	Pool store.Pool `yaml:"pool"`
}

// DefaultStorePath is the SQLite file when none is given.
const DefaultStorePath = "/var/lib/pitwall/pitwall.db"

// DSN is what the store opens: the URL with the password from
// PasswordFile, or the path.
func (c StoreConfig) DSN() (string, error) {
	if c.URL == "" {
		return c.Path, nil
	}
	if c.PasswordFile == "" {
		return c.URL, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("server: store.password_file: %w", err)
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.User == nil {
		return "", configfile.Bad("store.url", "a password_file needs a URL with a user name")
	}
	u.User = url.UserPassword(u.User.Username(), strings.TrimSpace(string(b)))
	return u.String(), nil
}

// DB names the database for logs, without a password.
func (c StoreConfig) DB() string {
	if c.URL != "" {
		return store.Redact(c.URL)
	}
	return c.Path
}

// SeriesConfig chooses the series engine.
type SeriesConfig struct {
	// Engine is "influxdb" or "embedded" (the default unless an InfluxDB
	// URL is given).
	Engine string `yaml:"engine"`
	// Path is the embedded engine's file.
	Path string `yaml:"path"`
	// Retention drops embedded values older than this (0 keeps all).
	Retention time.Duration `yaml:"retention"`
	Influx    InfluxConfig  `yaml:"influxdb"`
}

// InfluxConfig reaches InfluxDB.
type InfluxConfig struct {
	URL       string `yaml:"url"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	Org       string `yaml:"org"`
	Bucket    string `yaml:"bucket"`
	GZip      bool   `yaml:"gzip"`
}

// EmbeddedBrokerConfig starts Pitwall's own MQTT broker.
type EmbeddedBrokerConfig struct {
	// Addr to listen on in the clear; empty for none.
	Addr string `yaml:"addr"`
	// TLS is the TLS listener; with an Addr of its own, the broker runs
	// with it alone or beside the one in the clear.
	TLS BrokerTLSConfig `yaml:"tls"`
	// ServerUsers may read every device and send commands: user name to
	// secret hash ($7$..., as `pitwall devices hash` prints).
	ServerUsers map[string]string `yaml:"server_users"`
	// MaxClients bounds the connections open at once, logged in or not.
	MaxClients int `yaml:"max_clients"`
	// MaxConnecting bounds the connections that have not logged in yet.
	MaxConnecting int `yaml:"max_connecting"`
	// MaxConnectingPerAddress bounds those of them from one address.
	MaxConnectingPerAddress int `yaml:"max_connecting_per_address"`
	// ConnectTimeout is how long a new connection has to log in (its TLS
	// handshake and CONNECT).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RevocationCheck is how often the broker looks for devices revoked
	// by another process (`pitwall devices revoke` on this database): the
	// bound on how long such a device keeps its session.
	RevocationCheck time.Duration `yaml:"revocation_check"`
}

// BrokerTLSConfig is the embedded broker's TLS listener.
type BrokerTLSConfig struct {
	Addr     string `yaml:"addr"`      // HOST:PORT, usually :8883
	CertFile string `yaml:"cert_file"` // PEM, the chain after the certificate
	KeyFile  string `yaml:"key_file"`  // PEM
}

// Enabled reports whether the embedded broker runs.
func (c EmbeddedBrokerConfig) Enabled() bool { return c.Addr != "" || c.TLS.Addr != "" }

// HTTPConfig is the HTTP listener.
type HTTPConfig struct {
	Addr string `yaml:"addr"`
	// PublicURL is how people and dongles reach the server
	// (https://pitwall.example.com); emailed links and pairing start with
	// it. http://ADDR when empty.
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are the addresses (CIDR) of reverse proxies in front
	// of the server whose X-Forwarded-For and X-Forwarded-Proto headers are
	// believed: for the client's address (sign-in limits) and HTTPS
	// (secure cookies, HSTS).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MetricsAddr serves /metrics on an address of its own (a port only
	// the monitoring network reaches); MetricsTokenFile instead puts it on
	// the main listener behind a bearer token. With neither, /metrics is
	// served only when the main listener is a loopback address.
	MetricsAddr      string `yaml:"metrics_addr"`
	MetricsTokenFile string `yaml:"metrics_token_file"`
}

// Defaults fills what the file leaves out.
func (c *Config) Defaults() {
	if c.Store.Path == "" && c.Store.URL == "" {
		c.Store.Path = DefaultStorePath
	}
	if c.Series.Engine == "" {
		c.Series.Engine = "embedded"
		if c.Series.Influx.URL != "" {
			c.Series.Engine = "influxdb"
		}
	}
	if c.Series.Path == "" {
		dir := filepath.Dir(DefaultStorePath)
		if c.Store.Path != "" {
			dir = filepath.Dir(c.Store.Path)
		}
		c.Series.Path = filepath.Join(dir, "series.db")
	}
	if c.Series.Influx.Bucket == "" {
		c.Series.Influx.Bucket = "pitwall"
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = "127.0.0.1:8080"
	}
	if c.HTTP.PublicURL == "" {
		c.HTTP.PublicURL = "http://" + c.HTTP.Addr
	}
	if c.EmbeddedBroker.Enabled() {
		b := &c.EmbeddedBroker
		if b.MaxClients == 0 {
			b.MaxClients = broker.DefaultMaxClients
		}
		if b.MaxConnecting == 0 {
			b.MaxConnecting = min(broker.DefaultMaxConnecting, b.MaxClients)
		}
		if b.MaxConnectingPerAddress == 0 {
			b.MaxConnectingPerAddress = min(broker.DefaultMaxConnectingPerAddress, b.MaxConnecting)
		}
		if b.ConnectTimeout == 0 {
			b.ConnectTimeout = broker.DefaultConnectTimeout
		}
		if b.RevocationCheck == 0 {
			b.RevocationCheck = broker.DefaultRevocationCheck
		}
	}
	c.Ingest.Defaults()
	if a := &c.NATSAuth; a.IssuerSeedFile != "" {
		if a.URL == "" {
			a.URL = c.Ingest.Broker.URL
		}
		if a.Account == "" {
			a.Account = "PITWALL"
		}
		if a.SessionMax == 0 {
			a.SessionMax = time.Hour
		}
	}
}

// Validate reports every problem with its key.
func (c *Config) Validate() error {
	errs := c.Store.validate()
	switch c.Series.Engine {
	case "embedded":
	case "influxdb":
		if c.Series.Influx.URL == "" {
			errs = append(errs, configfile.Bad("series.influxdb.url", "the influxdb engine needs a URL"))
		}
	default:
		errs = append(errs, configfile.Bad("series.engine", "%q: want influxdb or embedded", c.Series.Engine))
	}
	if c.Series.Influx.Token != "" && c.Series.Influx.TokenFile != "" {
		errs = append(errs, configfile.Bad("series.influxdb.token", "give token or token_file, not both"))
	}
	if f := c.Series.Influx.TokenFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, configfile.Bad("series.influxdb.token_file", "%v", err))
		}
	}
	eb := c.EmbeddedBroker
	if !eb.Enabled() && c.Ingest.Broker.URL == "" {
		errs = append(errs, configfile.Bad("ingest.broker.url", "give a broker to consume from, or embedded_broker.addr (or embedded_broker.tls.addr)"))
	}
	if eb.Enabled() && c.Ingest.Broker.URL != "" {
		errs = append(errs, configfile.Bad("embedded_broker.addr", "with an embedded broker the ingest takes its messages directly; leave ingest.broker.url empty"))
	}
	if ingest.IsNATS(c.Ingest.Broker.URL) && c.Store.URL == "" {
		errs = append(errs, configfile.Bad("store.url", "a NATS cluster's servers share the cars through PostgreSQL: give store.url (postgres://…)"))
	}
	if a := c.NATSAuth; a.IssuerSeedFile != "" {
		if !ingest.IsNATS(a.URL) {
			errs = append(errs, configfile.Bad("nats_auth.url", "%q: the auth callout needs a NATS cluster (nats://…)", a.URL))
		}
		for key, f := range map[string]string{"nats_auth.issuer_seed_file": a.IssuerSeedFile, "nats_auth.password_file": a.PasswordFile} {
			if _, err := os.Stat(f); f != "" && err != nil {
				errs = append(errs, configfile.Bad(key, "%v", err))
			}
		}
		if a.Username == "" {
			errs = append(errs, configfile.Bad("nats_auth.username", "the callout logs in as a user of the callout's account"))
		}
		if a.SessionMax < time.Minute || a.SessionMax > 7*24*time.Hour {
			errs = append(errs, configfile.Bad("nats_auth.session_max", "%v: want 1m to 168h", a.SessionMax))
		}
	}
	if c.HTTP.MetricsAddr != "" && c.HTTP.MetricsTokenFile != "" {
		errs = append(errs, configfile.Bad("http.metrics_addr", "give metrics_addr or metrics_token_file, not both"))
	}
	if eb.TLS.Addr != "" || eb.TLS.CertFile != "" || eb.TLS.KeyFile != "" {
		if eb.TLS.Addr == "" || eb.TLS.CertFile == "" || eb.TLS.KeyFile == "" {
			errs = append(errs, configfile.Bad("embedded_broker.tls", "a TLS listener needs addr, cert_file and key_file"))
		}
		for field, path := range map[string]string{"embedded_broker.tls.cert_file": eb.TLS.CertFile, "embedded_broker.tls.key_file": eb.TLS.KeyFile} {
			if _, err := os.Stat(path); path != "" && err != nil {
				errs = append(errs, configfile.Bad(field, "%v", err))
			}
		}
	}
	if eb.Enabled() {
		if eb.MaxClients < 1 || eb.MaxClients > 1_000_000 {
			errs = append(errs, configfile.Bad("embedded_broker.max_clients", "%d: want 1 to 1000000", eb.MaxClients))
		}
		if eb.MaxConnecting < 1 || eb.MaxConnecting > eb.MaxClients {
			errs = append(errs, configfile.Bad("embedded_broker.max_connecting", "%d: want 1 to max_clients (%d)", eb.MaxConnecting, eb.MaxClients))
		}
		if eb.MaxConnectingPerAddress < 1 || eb.MaxConnectingPerAddress > eb.MaxConnecting {
			errs = append(errs, configfile.Bad("embedded_broker.max_connecting_per_address", "%d: want 1 to max_connecting (%d)", eb.MaxConnectingPerAddress, eb.MaxConnecting))
		}
		if eb.ConnectTimeout < time.Second || eb.ConnectTimeout > 2*time.Minute {
			errs = append(errs, configfile.Bad("embedded_broker.connect_timeout", "%v: want 1s to 2m", eb.ConnectTimeout))
		}
		if eb.RevocationCheck < 100*time.Millisecond || eb.RevocationCheck > time.Minute {
			errs = append(errs, configfile.Bad("embedded_broker.revocation_check", "%v: want 100ms to 1m", eb.RevocationCheck))
		}
	}
	for field, addr := range map[string]string{"embedded_broker.addr": eb.Addr, "embedded_broker.tls.addr": eb.TLS.Addr, "http.addr": c.HTTP.Addr, "http.metrics_addr": c.HTTP.MetricsAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, configfile.Bad(field, "%q: want HOST:PORT", addr))
		}
	}
	if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
		errs = append(errs, configfile.Bad("http.public_url", "%q: want https://HOST (no path)", c.HTTP.PublicURL))
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, configfile.Bad(fmt.Sprintf("http.trusted_proxies[%d]", i), "%q: want an address or CIDR like 10.0.0.0/8", p))
			}
		}
	}
	if b := c.Pairing.BrokerURL; b != "" {
		if u, err := url.Parse(b); err != nil || !strings.Contains("tcp ssl tls mqtt mqtts", u.Scheme) || u.Scheme == "" || u.Host == "" {
			errs = append(errs, configfile.Bad("pairing.broker_url", "%q: want tcp://HOST:PORT, or ssl://HOST:PORT for TLS", b))
		}
	}
	if f := c.Pairing.CAFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, configfile.Bad("pairing.ca_file", "%v", err))
		}
	}
	for user, hash := range c.EmbeddedBroker.ServerUsers {
		if !strings.HasPrefix(hash, "$7$") {
			errs = append(errs, configfile.Bad("embedded_broker.server_users."+user, "not a $7$ secret hash (make one with `pitwall devices hash`)"))
		}
	}
	for i, f := range c.Rules.Files {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, configfile.Bad(fmt.Sprintf("rules.files[%d]", i), "%v", err))
		}
	}
	a := c.Alerting
	if a.Webhook.URL != "" {
		if u, err := url.Parse(a.Webhook.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, configfile.Bad("alerting.webhook.url", "%q: want https://HOST/PATH", a.Webhook.URL))
		}
		if a.Webhook.Secret == "" && a.Webhook.SecretFile == "" {
			errs = append(errs, configfile.Bad("alerting.webhook.secret", "a webhook needs a secret to sign with"))
		}
	}
	if a.Email.Addr != "" {
		if _, _, err := net.SplitHostPort(a.Email.Addr); err != nil {
			errs = append(errs, configfile.Bad("alerting.email.addr", "%q: want HOST:PORT", a.Email.Addr))
		}
		if !strings.Contains(a.Email.From, "@") {
			errs = append(errs, configfile.Bad("alerting.email.from", "%q: want an address", a.Email.From))
		}
	}
	for key, d := range map[string]time.Duration{"alerting.group_wait": a.GroupWait, "alerting.group_interval": a.GroupInterval, "alerting.repeat_interval": a.RepeatInterval} {
		if d < 0 || d > 7*24*time.Hour {
			errs = append(errs, configfile.Bad(key, "%v: want 0 to 168h", d))
		}
	}
	if d := a.LogRetention; d != 0 && (d < alerting.MinLogRetention || d > 365*24*time.Hour) {
		errs = append(errs, configfile.Bad("alerting.log_retention", "%v: want 48h to 8760h (0 for the default, 7 days)", d))
	}
	if a.MQTT.Enabled && !c.EmbeddedBroker.Enabled() {
		errs = append(errs, configfile.Bad("alerting.mqtt.enabled", "app notifications go through the embedded broker; set embedded_broker.addr"))
	}
	if err := configfile.Within("ingest", c.Ingest.Validate()); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Diagnosis.pricing(); err != nil {
		errs = append(errs, err)
	}
	b := c.Booking
	if b.Fanout < 0 || b.Fanout > 20 {
		errs = append(errs, configfile.Bad("booking.fanout", "%d: want 1–20 shops", b.Fanout))
	}
	if b.VerifyCycles < 0 || b.VerifyCycles > 50 {
		errs = append(errs, configfile.Bad("booking.verify_cycles", "%d: want 1–50", b.VerifyCycles))
	}
	if b.SweepInterval < 0 || b.SweepInterval > time.Hour {
		errs = append(errs, configfile.Bad("booking.sweep_interval", "%v: want up to 1h", b.SweepInterval))
	}
	if b.FollowupDays < 0 || b.FollowupDays > 60 {
		errs = append(errs, configfile.Bad("booking.followup_days", "%d: want 1–60 days", b.FollowupDays))
	}
	return errors.Join(errs...)
}

// proxies reads http.trusted_proxies (checked by Validate).
func (c *Config) proxies() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.HTTP.TrustedProxies {
		if pre, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pre)
		} else if a, err := netip.ParseAddr(p); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func (c StoreConfig) validate() []error {
	var errs []error
	switch {
	case c.URL != "" && c.Path != "":
		errs = append(errs, configfile.Bad("store.url", "give store.url (PostgreSQL) or store.path (SQLite), not both"))
	case c.URL != "":
		if e, err := store.Engine(c.URL); err != nil || e != store.Postgres {
			errs = append(errs, configfile.Bad("store.url", "%q: want postgres://USER@HOST:PORT/DATABASE", store.Redact(c.URL)))
		}
	case c.Path != "":
		if e, err := store.Engine(c.Path); err != nil || e != store.SQLite {
			errs = append(errs, configfile.Bad("store.path", "%q is a URL, not a file: a PostgreSQL database goes in store.url (postgres://...)", store.Redact(c.Path)))
		} else if dir := filepath.Dir(c.Path); c.Path != DefaultStorePath {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				errs = append(errs, configfile.Bad("store.path", "%s: the directory %s does not exist", c.Path, dir))
			}
		}
	}
	if c.PasswordFile != "" {
		if c.URL == "" {
			errs = append(errs, configfile.Bad("store.password_file", "a password is for store.url"))
		} else if _, err := os.Stat(c.PasswordFile); err != nil {
			errs = append(errs, configfile.Bad("store.password_file", "%v", err))
		}
	}
	if err := c.Pool.Validate(); err != nil {
		errs = append(errs, configfile.Bad("store.pool", "%v", err))
	}
	return errs
}

// Load reads a configuration file.
func Load(path string) (Config, error) {
	var c Config
	err := configfile.Load(path, &c)
	return c, err
}
