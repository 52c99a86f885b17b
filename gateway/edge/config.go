package edge

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pitwall-io/pitwall/configfile"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/obd"
)

// Config is the agent's configuration. Load reads it from YAML; unknown
// keys and bad values are errors with file:line.
type Config struct {
	DeviceID string `yaml:"device_id"`
	// StateDir keeps what the agent learns and must not lose: the
	// credentials a pairing gave it, the poll plan a command set, and the
	// spool unless spool.dir says otherwise.
	StateDir string         `yaml:"state_dir"`
	Adapter  string         `yaml:"adapter"`
	Broker   BrokerConfig   `yaml:"broker"`
	Spool    SpoolConfig    `yaml:"spool"`
	Poll     PollConfig     `yaml:"poll"`
	Trips    TripsConfig    `yaml:"trips"`
	Parked   ParkedConfig   `yaml:"parked"`
	Commands CommandsConfig `yaml:"commands"`
	// Metrics is the address of the /metrics listener; empty for none.
	Metrics string `yaml:"metrics"`
}

// BrokerConfig says how to reach the MQTT broker.
type BrokerConfig struct {
	URL          string        `yaml:"url"` // tcp://, ssl:// or tls://HOST:PORT
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	CAFile       string        `yaml:"ca_file"`
	CertFile     string        `yaml:"cert_file"`
	KeyFile      string        `yaml:"key_file"`
	KeepAlive    time.Duration `yaml:"keep_alive"`
	// ReconnectMax caps the wait between connection attempts; the wait
	// doubles from half a second up to it, with full jitter.
	ReconnectMax time.Duration `yaml:"reconnect_max"`
}

// SpoolConfig places and bounds the spool.
type SpoolConfig struct {
	Dir       string        `yaml:"dir"`
	MaxBytes  ByteSize      `yaml:"max_bytes"`
	SyncEvery time.Duration `yaml:"sync_every"`
}

// PollConfig is the poll plan.
type PollConfig struct {
	Tiers []TierConfig `yaml:"tiers"`
	// MaxRequestsPerSecond caps OBD requests to protect the car's bus.
	MaxRequestsPerSecond float64       `yaml:"max_requests_per_second"`
	BatchInterval        time.Duration `yaml:"batch_interval"`
	DTCInterval          time.Duration `yaml:"dtc_interval"`
	// TestsInterval is how often the on-board monitors' test results
	// (service 06) are read while the car is awake; they are read at
	// every wake and trip end too.
	TestsInterval time.Duration `yaml:"tests_interval"`
}

// TripsConfig says when a drive ends. The ignition going off always ends
// it; so does the car standing still with the engine off for EndAfter.
// An engine that stops and starts again sooner (stop-start, a hybrid)
// stays within the trip.
type TripsConfig struct {
	EndAfter time.Duration `yaml:"end_after"`
}

// TierConfig is PIDs read at one rate. PIDs are hex ("0C") or the PID
// table's keys ("engine_speed").
type TierConfig struct {
	Hz   float64  `yaml:"hz"`
	PIDs []string `yaml:"pids"`
}

// ParkedConfig is what the agent does while the ignition is off: watch the
// battery and look for the car waking, rarely enough not to drain it.
type ParkedConfig struct {
	VoltageEvery time.Duration `yaml:"voltage_every"`
	ProbeEvery   time.Duration `yaml:"probe_every"`
	RestingLow   float64       `yaml:"resting_low"` // volts; below it after settling, a battery event
}

// CommandsConfig governs remote commands.
type CommandsConfig struct {
	// KeyFile holds the device's command key (as `pitwall devices add`
	// prints it); without it (or PITWALL_COMMAND_KEY in the environment)
	// commands that write to the car, such as clearing trouble codes, are
	// refused.
	KeyFile string `yaml:"key_file"`
	// ClearToken and ClearTokenFile are no longer used: a static token
	// could be replayed by anyone who saw it. Validate says so.
	ClearToken     string `yaml:"clear_token"`
	ClearTokenFile string `yaml:"clear_token_file"`
}

// ByteSize reads sizes like 64MiB or 500KB.
type ByteSize int64

// UnmarshalYAML reads a size with an optional unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*b = v
	return nil
}

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMG]i?B|B)?\s*$`)

// ParseByteSize reads "67108864", "64MiB", "500KB".
func ParseByteSize(s string) (ByteSize, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size like 64MiB", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	mult := map[string]int64{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1000000, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30}[m[2]]
	return ByteSize(n * mult), nil
}

// DefaultTiers are the plan's rates: engine speed, speed, throttle and
// load five times a second; temperatures, airflow, trims, O2 sensors and
// the warning lamp every second; fuel, ambient, distances and odometer
// every ten seconds.
var DefaultTiers = []TierConfig{
	{Hz: 5, PIDs: []string{"0C", "0D", "11", "04"}},
	{Hz: 1, PIDs: []string{"01", "05", "0F", "10", "0B", "0E", "06", "07", "08", "09", "14", "15", "5C", "3C", "42", "5E"}},
	{Hz: 0.1, PIDs: []string{"2F", "46", "33", "31", "21", "4D", "4E", "30", "A6", "1F"}},
}

// DefaultStateDir is where an agent keeps its state unless told.
const DefaultStateDir = "/var/lib/pitwall/agent"

// Defaults fills what the configuration leaves out.
func (c *Config) Defaults() {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Spool.Dir == "" {
		c.Spool.Dir = filepath.Join(c.StateDir, "spool")
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = 64 << 20
	}
	if c.Spool.SyncEvery == 0 {
		c.Spool.SyncEvery = time.Second
	}
	if len(c.Poll.Tiers) == 0 {
		c.Poll.Tiers = DefaultTiers
	}
	if c.Poll.MaxRequestsPerSecond == 0 {
		c.Poll.MaxRequestsPerSecond = 25
	}
	if c.Poll.BatchInterval == 0 {
		c.Poll.BatchInterval = time.Second
	}
	if c.Poll.DTCInterval == 0 {
		c.Poll.DTCInterval = 30 * time.Second
	}
	if c.Poll.TestsInterval == 0 {
		c.Poll.TestsInterval = 5 * time.Minute
	}
	if c.Trips.EndAfter == 0 {
		c.Trips.EndAfter = 5 * time.Minute
	}
	if c.Parked.VoltageEvery == 0 {
		c.Parked.VoltageEvery = time.Minute
	}
	if c.Parked.ProbeEvery == 0 {
		c.Parked.ProbeEvery = 30 * time.Second
	}
	if c.Parked.RestingLow == 0 {
		c.Parked.RestingLow = 12.2
	}
	if c.Broker.KeepAlive == 0 {
		c.Broker.KeepAlive = 30 * time.Second
	}
	if c.Broker.ReconnectMax == 0 {
		c.Broker.ReconnectMax = time.Minute
	}
}

// Validate checks the configuration, reporting every problem.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, configfile.Bad(field, format, args...))
	}
	if err := wire.ValidDeviceID(c.DeviceID); err != nil {
		bad("device_id", "%v", err)
	}
	if u, err := url.Parse(c.Adapter); err != nil || !strings.Contains("serial tcp socketcan", u.Scheme) || u.Scheme == "" {
		bad("adapter", "%q: want serial:///dev/ttyUSB0, tcp://HOST:PORT or socketcan://can0", c.Adapter)
	}
	if u, err := url.Parse(c.Broker.URL); err != nil || !strings.Contains("tcp ssl tls mqtt mqtts", u.Scheme) || u.Scheme == "" || u.Host == "" {
		bad("broker.url", "%q: want tcp://HOST:PORT, or ssl://HOST:PORT for TLS", c.Broker.URL)
	}
	for field, path := range map[string]string{"broker.ca_file": c.Broker.CAFile, "broker.cert_file": c.Broker.CertFile,
		"broker.key_file": c.Broker.KeyFile, "broker.password_file": c.Broker.PasswordFile, "commands.key_file": c.Commands.KeyFile} {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				bad(field, "%v", err)
			}
		}
	}
	if c.Commands.ClearToken != "" || c.Commands.ClearTokenFile != "" {
		bad("commands.clear_token", "no longer used: clearing trouble codes needs a command signed with the device's key; give commands.key_file (docs/agent.md)")
	}
	if (c.Broker.CertFile == "") != (c.Broker.KeyFile == "") {
		bad("broker.cert_file", "a client certificate needs both cert_file and key_file")
	}
	if c.Broker.Password != "" && c.Broker.PasswordFile != "" {
		bad("broker.password", "give password or password_file, not both")
	}
	if r := c.Broker.ReconnectMax; r < time.Second || r > time.Hour {
		bad("broker.reconnect_max", "%v: want 1s to 1h", r)
	}
	if k := c.Broker.KeepAlive; k < time.Second || k > 18*time.Hour {
		bad("broker.keep_alive", "%v: want 1s to 18h (the protocol's limit)", k)
	}
	if d := c.Spool.SyncEvery; d < 10*time.Millisecond || d > time.Hour {
		bad("spool.sync_every", "%v: want 10ms to 1h", d)
	}
	if c.Spool.MaxBytes < 64<<10 {
		bad("spool.max_bytes", "%d bytes is too small; at least 64KiB", c.Spool.MaxBytes)
	}
	for i, t := range c.Poll.Tiers {
		if t.Hz <= 0 || t.Hz > 50 {
			bad(fmt.Sprintf("poll.tiers[%d].hz", i), "%v: want more than 0 and at most 50", t.Hz)
		}
		if len(t.PIDs) == 0 {
			bad(fmt.Sprintf("poll.tiers[%d].pids", i), "no PIDs")
		}
		for j, p := range t.PIDs {
			if _, err := ParsePID(p); err != nil {
				bad(fmt.Sprintf("poll.tiers[%d].pids[%d]", i, j), "%v", err)
			}
		}
	}
	if r := c.Poll.MaxRequestsPerSecond; r <= 0 || r > 100 {
		bad("poll.max_requests_per_second", "%v: want more than 0 and at most 100", r)
	}
	if c.Poll.BatchInterval < 100*time.Millisecond || c.Poll.BatchInterval > time.Minute {
		bad("poll.batch_interval", "%v: want 100ms to 1m", c.Poll.BatchInterval)
	}
	if c.Poll.DTCInterval < 5*time.Second {
		bad("poll.dtc_interval", "%v: at least 5s", c.Poll.DTCInterval)
	}
	if d := c.Poll.TestsInterval; d < 30*time.Second || d > 24*time.Hour {
		bad("poll.tests_interval", "%v: want 30s to 24h", d)
	}
	if d := c.Trips.EndAfter; d < 30*time.Second || d > 2*time.Hour {
		bad("trips.end_after", "%v: want 30s to 2h (minutes, so that an engine stopping at a light does not end the trip)", d)
	}
	if c.Parked.ProbeEvery < time.Second || c.Parked.VoltageEvery < time.Second {
		bad("parked", "probe_every and voltage_every must be at least 1s")
	}
	return errors.Join(errs...)
}

// ParsePID reads a service 01 PID as hex ("0C") or by its key
// ("engine_speed").
func ParsePID(s string) (obd.PID, error) {
	if n, err := strconv.ParseUint(s, 16, 8); err == nil && len(s) <= 2 {
		if obd.PID(n).IsBitmap() {
			return 0, fmt.Errorf("%q is a supported-PID bitmap, not a value", s)
		}
		return obd.PID(n), nil
	}
	for _, p := range obd.PIDs() {
		if p.Key == s {
			return p.PID, nil
		}
	}
	return 0, fmt.Errorf("%q is not a PID (hex like 0C, or a key like engine_speed)", s)
}

// Load reads a configuration file: strict YAML (unknown keys are errors),
// defaults filled in, then validated. Errors name the file and line.
func Load(path string) (Config, error) {
	var c Config
	err := configfile.Load(path, &c)
	return c, err
}

// Redacted is the configuration safe to log: passwords and tokens hidden.
func (c Config) Redacted() Config {
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return "(redacted)"
	}
	c.Broker.Password = hide(c.Broker.Password)
	c.Commands.ClearToken = hide(c.Commands.ClearToken)
	if u, err := url.Parse(c.Broker.URL); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		c.Broker.URL = u.String()
	}
	return c
}
