package broker_test

import (
	"crypto/tls"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/testserver"
)

// The TLS listener: a device logs in over TLS, checking the broker's
// certificate, and publishes; the same port refuses MQTT in the clear,
// and a TLS client that stalls its handshake is cut off like a silent
// CONNECT.
func TestTLSListener(t *testing.T) {
	cert := testserver.SelfSigned(t)
	tc, err := broker.LoadTLS(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	r := startWith(t, 1, func(o *broker.Options) {
		o.Addr, o.TLSAddr, o.TLSConfig, o.ConnectTimeout = "", "127.0.0.1:0", tc, 2*time.Second
	})
	if r.b.Addr() != "" || r.b.URL() != r.b.TLSURL() || r.b.TLSURL() == "" {
		t.Fatalf("addresses %q %q %q", r.b.Addr(), r.b.URL(), r.b.TLSURL())
	}
	id := "car-00001"
	o := paho.NewClientOptions().AddBroker(r.b.TLSURL()).SetClientID(id).SetUsername(id).SetPassword(r.secrets[id]).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetTLSConfig(&tls.Config{RootCAs: cert.Pool, MinVersion: tls.VersionTLS12})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("over TLS: %v", tok.Error())
	}
	if tok := c.Publish(wire.Topic(id, wire.KindTelemetry), 1, false, []byte("x")); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Disconnect(50)

	// A client that does not check the certificate is refused by the
	// certificate it does not trust.
	untrusting := paho.NewClient(paho.NewClientOptions().AddBroker(r.b.TLSURL()).SetClientID(id).SetUsername(id).SetPassword(r.secrets[id]).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	if tok := untrusting.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		untrusting.Disconnect(0)
		t.Error("a client without the CA connected")
	}
	// In the clear on the TLS port: refused.
	addr := r.b.TLSURL()[len("ssl://"):]
	if _, err := connect(t, "tcp://"+addr, id, id, r.secrets[id]); err == nil {
		t.Fatal("MQTT in the clear was accepted on the TLS port")
	}
	raw := dial(t, addr)
	_, _ = raw.Write(announce128MiB)
	if !closedWithin(raw, 10*time.Second) {
		t.Error("plain bytes on the TLS port: the connection stayed open")
	}
	// Connected, silent, no handshake: cut off at the CONNECT deadline.
	silent := dial(t, addr)
	if !closedWithin(silent, 20*time.Second) {
		t.Error("a connection that never starts its TLS handshake stayed open")
	}
}
