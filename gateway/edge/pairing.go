package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/internal/atomicfile"
)

// Credentials are what a dongle learns when it pairs: who it is, its
// secret and where to send. They live in the state directory, readable by
// the agent's user only.
type Credentials struct {
	DeviceID  string `json:"device_id"`
	VehicleID string `json:"vehicle_id,omitempty"`
	Secret    string `json:"secret"`
	// CommandKey authorises the commands that write to the car (clearing
	// trouble codes); Save writes it beside the credentials as command.key.
	CommandKey string `json:"command_key,omitempty"`
	BrokerURL  string `json:"broker_url"`
	// CAPEM is the broker's CA certificate when it uses TLS; Save writes
	// it beside the credentials as ca.pem.
	CAPEM  string `json:"ca_pem,omitempty"`
	Server string `json:"server"` // the Pitwall server it paired with
}

// credentialsFile is where Save keeps the credentials in a state directory.
const credentialsFile = "credentials.json"

// ErrNotPaired is a state directory without credentials.
var ErrNotPaired = errors.New("edge: not paired")

// Pair trades a pairing code for credentials over HTTPS (plain HTTP only
// to a server on this machine). client may be nil.
func Pair(ctx context.Context, client *http.Client, server, code string) (Credentials, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return Credentials{}, fmt.Errorf("edge: --server %q: want https://HOST", server)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return Credentials{}, fmt.Errorf("edge: --server %q: pairing sends the dongle's secret back, so it needs https:// (plain http only to this machine)", server)
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	body, _ := json.Marshal(map[string]string{"code": code, "agent_version": Version})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String()+"/api/v1/pair", bytes.NewReader(body))
	if err != nil {
		return Credentials{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Credentials{}, fmt.Errorf("edge: pairing with %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Credentials{}, fmt.Errorf("edge: pairing with %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return Credentials{}, fmt.Errorf("edge: %s refused the pairing code: %s", u.Host, e.Error.Message)
		}
		return Credentials{}, fmt.Errorf("edge: %s answered %s to the pairing", u.Host, resp.Status)
	}
	var c Credentials
	if err := json.Unmarshal(raw, &c); err != nil {
		return Credentials{}, fmt.Errorf("edge: %s's pairing answer: %w", u.Host, err)
	}
	c.Server = u.String()
	if err := c.check(); err != nil {
		return Credentials{}, fmt.Errorf("edge: %s's pairing answer: %w", u.Host, err)
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Credentials) check() error {
	if err := wire.ValidDeviceID(c.DeviceID); err != nil {
		return err
	}
	if c.Secret == "" {
		return errors.New("no secret")
	}
	if c.CommandKey != "" {
		if _, err := wire.ParseCommandKey(c.CommandKey); err != nil {
			return err
		}
	}
	if u, err := url.Parse(c.BrokerURL); err != nil || u.Host == "" {
		return fmt.Errorf("broker_url %q is not a URL", c.BrokerURL)
	}
	return nil
}

// Save writes the credentials into dir (created 0700), the file 0600,
// replacing any earlier pairing in one rename.
func (c Credentials) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("edge: state directory: %w", err)
	}
	if c.CAPEM != "" {
		if err := writePrivate(filepath.Join(dir, "ca.pem"), []byte(c.CAPEM)); err != nil {
			return err
		}
	}
	if c.CommandKey != "" {
		if err := writePrivate(filepath.Join(dir, "command.key"), []byte(c.CommandKey+"\n")); err != nil {
			return err
		}
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return writePrivate(filepath.Join(dir, credentialsFile), b)
}

// LoadCredentials reads the credentials a pairing saved in dir;
// ErrNotPaired when there are none. A file others may read is refused:
// it holds the dongle's secret.
func LoadCredentials(dir string) (Credentials, error) {
	path := filepath.Join(dir, credentialsFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return Credentials{}, fmt.Errorf("%w: no %s", ErrNotPaired, path)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("edge: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Credentials{}, fmt.Errorf("edge: %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("edge: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return Credentials{}, fmt.Errorf("edge: %s: %w", path, err)
	}
	if err := c.check(); err != nil {
		return Credentials{}, fmt.Errorf("edge: %s: %w", path, err)
	}
	return c, nil
}

// Apply fills what the configuration leaves out from the credentials: the
// device id, the broker and its CA, the secret, the command key.
func (c Credentials) Apply(cfg *Config, dir string) {
	if cfg.DeviceID == "" {
		cfg.DeviceID = c.DeviceID
	}
	if cfg.Broker.URL == "" {
		cfg.Broker.URL = c.BrokerURL
	}
	if cfg.Broker.Password == "" && cfg.Broker.PasswordFile == "" {
		cfg.Broker.Password = c.Secret
	}
	if cfg.Broker.CAFile == "" && c.CAPEM != "" {
		cfg.Broker.CAFile = filepath.Join(dir, "ca.pem")
	}
	if cfg.Commands.KeyFile == "" && c.CommandKey != "" {
		cfg.Commands.KeyFile = filepath.Join(dir, "command.key")
	}
}

// writePrivate writes a file only the agent's user can read, whole or not at
// all.
func writePrivate(path string, b []byte) error {
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	return nil
}
