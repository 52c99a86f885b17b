package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/configfile"
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
	// Addr to listen on; empty for none.
	Addr string `yaml:"addr"`
	// ServerUsers may read every device and send commands: user name to
	// secret hash ($7$..., as `pitwall devices hash` prints).
	ServerUsers map[string]string `yaml:"server_users"`
}

// HTTPConfig is the HTTP listener.
type HTTPConfig struct {
	Addr string `yaml:"addr"`
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
	c.Ingest.Defaults()
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
	if c.EmbeddedBroker.Addr == "" && c.Ingest.Broker.URL == "" {
		errs = append(errs, configfile.Bad("ingest.broker.url", "give a broker to consume from, or embedded_broker.addr"))
	}
	if c.EmbeddedBroker.Addr != "" && c.Ingest.Broker.URL != "" {
		errs = append(errs, configfile.Bad("embedded_broker.addr", "with an embedded broker the ingest takes its messages directly; leave ingest.broker.url empty"))
	}
	for field, addr := range map[string]string{"embedded_broker.addr": c.EmbeddedBroker.Addr, "http.addr": c.HTTP.Addr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, configfile.Bad(field, "%q: want HOST:PORT", addr))
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
	if a.MQTT.Enabled && c.EmbeddedBroker.Addr == "" {
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
	return errors.Join(errs...)
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
