package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/edge"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

func pahoConnect(t *testing.T, url, id, secret string, tc *tls.Config) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(id).SetPassword(secret).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if tc != nil {
		o.SetTLSConfig(tc)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// embedded_broker.tls runs the broker's TLS listener (here alone): a
// device logs in over TLS; MQTT in the clear on that port is refused.
func TestEmbeddedBrokerTLS(t *testing.T) {
	dir := t.TempDir()
	cert := testserver.SelfSigned(t)
	cfg, _ := embeddedConfig(t, dir)
	cfg.EmbeddedBroker = server.EmbeddedBrokerConfig{TLS: server.BrokerTLSConfig{Addr: "127.0.0.1:0", CertFile: cert.CertFile, KeyFile: cert.KeyFile}}
	s, ctx := runServer(t, cfg)
	if s.Broker.Addr() != "" || !strings.HasPrefix(s.Broker.URL(), "ssl://127.0.0.1:") {
		t.Fatalf("listening on %q, %q", s.Broker.Addr(), s.Broker.URL())
	}
	_, secret, err := s.Store.AddDevice(ctx, "car-tls", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pahoConnect(t, s.Broker.TLSURL(), "car-tls", secret, &tls.Config{RootCAs: cert.Pool, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	plain := "tcp://" + strings.TrimPrefix(s.Broker.TLSURL(), "ssl://")
	if _, err := pahoConnect(t, plain, "car-tls", secret, nil); err == nil {
		t.Fatal("MQTT in the clear was accepted on the TLS port")
	}

	for name, c := range map[string]server.EmbeddedBrokerConfig{
		"no key":       {TLS: server.BrokerTLSConfig{Addr: "127.0.0.1:0", CertFile: cert.CertFile}},
		"no such cert": {TLS: server.BrokerTLSConfig{Addr: "127.0.0.1:0", CertFile: filepath.Join(dir, "nope.pem"), KeyFile: cert.KeyFile}},
		"no address":   {Addr: "127.0.0.1:0", TLS: server.BrokerTLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}},
	} {
		bad := cfg
		bad.EmbeddedBroker = c
		bad.Defaults()
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "embedded_broker.tls") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// RevokeDevice cuts the device's open session at once; the device cannot
// log in again.
func TestRevokeDeviceCutsSession(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := embeddedConfig(t, dir)
	s, ctx := runServer(t, cfg)
	_, secret, err := s.Store.AddDevice(ctx, "car-r", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pahoConnect(t, s.Broker.URL(), "car-r", secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, "car-r"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the session cut", func() bool { return !c.IsConnectionOpen() })
	if _, err := pahoConnect(t, s.Broker.URL(), "car-r", secret, nil); err == nil {
		t.Error("the revoked device logged in again")
	}
	if err := s.RevokeDevice(ctx, "car-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
	if _, err := s.ClearTroubleCodes(ctx, "car-r"); !errors.Is(err, server.ErrRevoked) {
		t.Errorf("clearing a revoked device's codes: %v", err)
	}
}

// ClearTroubleCodes reaches a real agent signed with the device's key
// and runs once: the result, ok, is stored under the command's id. Through
// the embedded broker and through Mosquitto (the ingest's connection).
func TestClearTroubleCodes(t *testing.T) {
	for _, via := range []string{"embedded", "mosquitto"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := embeddedConfig(t, dir)
			if via == "mosquitto" {
				b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
				cfg.EmbeddedBroker = server.EmbeddedBrokerConfig{}
				cfg.Ingest.Broker.URL, cfg.Ingest.Broker.ClientID = b.URL(), "pitwall-clear-test"
			}
			s, ctx := runServer(t, cfg)
			eventually(t, 20*time.Second, "the ingest ready", func() bool { return s.Ingest.Ready() == nil })
			d, secret, err := s.Store.AddDevice(ctx, "car-c", "")
			if err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(dir, "command.key")
			if err := os.WriteFile(keyFile, []byte(wire.FormatCommandKey(d.CommandKey)), 0o600); err != nil {
				t.Fatal(err)
			}
			url := cfg.Ingest.Broker.URL
			if s.Broker != nil {
				url = s.Broker.URL()
			}
			a, err := edge.New(edge.Config{DeviceID: "car-c", Adapter: startCar(t), Broker: edge.BrokerConfig{URL: url, Password: secret},
				Spool: edge.SpoolConfig{Dir: filepath.Join(dir, "spool")}, Commands: edge.CommandsConfig{KeyFile: keyFile},
				Poll: edge.PollConfig{BatchInterval: 200 * time.Millisecond, DTCInterval: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			actx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- a.Run(actx) }()
			defer func() { stop(); <-done }()
			eventually(t, 30*time.Second, "the trouble code", func() bool {
				msgs, _ := s.Store.Messages(ctx, "car-c", string(wire.KindDTC), time.Time{}, 10)
				return len(msgs) > 0
			})
			id, err := s.ClearTroubleCodes(ctx, "car-c")
			if err != nil {
				t.Fatal(err)
			}
			var res *wirepb.CommandResult
			eventually(t, 30*time.Second, "the result of "+id, func() bool {
				msgs, _ := s.Store.Messages(ctx, "car-c", string(wire.KindCommandResult), time.Time{}, 100)
				for _, m := range msgs {
					if dm, err := wire.Decode(wire.KindCommandResult, m.Body); err == nil && dm.(*wirepb.CommandResult).GetId() == id {
						res = dm.(*wirepb.CommandResult)
						return true
					}
				}
				return false
			})
			if !res.GetOk() {
				t.Fatalf("the car refused the server's command: %q", res.GetError())
			}
			eventually(t, 30*time.Second, "a report without stored codes", func() bool {
				m, err := s.Store.LatestMessage(ctx, "car-c", string(wire.KindDTC))
				if err != nil {
					return false
				}
				r, err := wire.Decode(wire.KindDTC, m.Body)
				return err == nil && len(r.(*wirepb.DTCReport).GetStored()) == 0
			})
		})
	}
}
