package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/internal/atomicfile"
)

// Credential is one simulated car's login.
type Credential struct {
	DeviceID string `json:"device_id"`
	Secret   string `json:"secret"`
}

// WriteCredentials writes a credentials file readable by its owner only,
// whole or not at all.
func WriteCredentials(path string, creds []Credential) error {
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	return nil
}

// ReadCredentials reads a credentials file as `pitwall devices add
// --count` writes it: device id to secret.
func ReadCredentials(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	var creds []Credential
	if err := json.Unmarshal(b, &creds); err != nil {
		return nil, fmt.Errorf("fleet: %s: %w", path, err)
	}
	out := map[string]string{}
	for i, c := range creds {
		if c.DeviceID == "" || c.Secret == "" {
			return nil, fmt.Errorf("fleet: %s: entry %d has no device_id or secret", path, i)
		}
		out[c.DeviceID] = c.Secret
	}
	return out, nil
}

// Provision registers the fleet's cars, Prefix-00001 on, as devices of a
// Pitwall server through its API (an administrator's token) and returns
// their secrets.
func Provision(ctx context.Context, client *http.Client, server, token, prefix string, n int) (map[string]string, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	out := map[string]string{}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		body, _ := json.Marshal(map[string]string{"id": id})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(server, "/")+"/api/v1/devices", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fleet: provisioning %s: %w", id, err)
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			var e struct {
				Error struct{ Code, Message string }
			}
			msg := resp.Status
			if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
				msg = e.Error.Message
			}
			if resp.StatusCode == http.StatusConflict {
				msg += " (a device of that id exists: pick another --prefix, or use the credentials file it was made with)"
			}
			return nil, fmt.Errorf("fleet: the server refused device %s: %s", id, msg)
		}
		var d struct {
			ID, Secret string
		}
		if err := json.Unmarshal(raw, &d); err != nil || d.Secret == "" {
			return nil, errors.New("fleet: the server's answer to a new device holds no secret")
		}
		out[id] = d.Secret
	}
	return out, nil
}
