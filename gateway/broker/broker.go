// Package broker is Pitwall's embedded MQTT broker (mochi-mqtt), for the
// demo and small installs: devices log in with their id and secret, may
// publish only under their own id and read only their own commands; the
// server's users may read every device and send commands. With a Deliver
// function, a device's message is handed to the ingest and stored before
// the broker acknowledges it to the device, so a crash of the process
// loses nothing a car was told is safe.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// Authenticator checks a device's credentials; *store.Store is one.
type Authenticator interface {
	Authenticate(ctx context.Context, device, secret string) error
}

// Options configure the broker.
type Options struct {
	// Addr is the TCP address to listen on ("127.0.0.1:1883"; port 0
	// picks a free one).
	Addr string
	// Devices checks device logins.
	Devices Authenticator
	// Servers maps the user names of Pitwall servers and tools to their
	// secrets' hashes ($7$, as store.HashSecret makes them).
	Servers map[string]string
	// CheckSecret checks a secret against a hash (store.CheckSecret).
	CheckSecret func(hash, secret string) bool
	// Deliver, when set, receives each device message before the broker
	// acknowledges it; an error leaves the message unacknowledged, so the
	// device sends it again.
	Deliver func(ctx context.Context, topic string, payload []byte) error
	Log     *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	srv  *mqtt.Server
	addr string
	once sync.Once
}

// Start listens and serves until Close.
func Start(opt Options) (*Broker, error) {
	if opt.Devices == nil || opt.CheckSecret == nil {
		return nil, errors.New("broker: Devices and CheckSecret are required")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: opt.Log.With("component", "broker")})
	h := &hook{opt: opt}
	if err := srv.AddHook(h, nil); err != nil {
		return nil, err
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: opt.Addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("broker: listening on %s: %w", opt.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &Broker{srv: srv, addr: tcp.Address()}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address as a client would write it.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Publish sends a message from the server itself (a command to a device).
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	return b.srv.Publish(topic, payload, retain, 1)
}

// Close disconnects everyone and stops listening; it is safe to call twice.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() { err = b.srv.Close() })
	return err
}

// hook authenticates, authorises and delivers.
type hook struct {
	mqtt.HookBase
	opt Options
}

func (h *hook) ID() string { return "pitwall" }

func (h *hook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || (b == mqtt.OnPublish || b == mqtt.OnWillSent) && h.opt.Deliver != nil
}

// role of a logged-in client.
func (h *hook) isServer(user string) bool { _, ok := h.opt.Servers[user]; return ok }

// OnConnectAuthenticate lets in Pitwall's servers and registered devices.
// A device must use its id as its client id, so one device cannot take
// over another's session.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, secret := string(pk.Connect.Username), string(pk.Connect.Password)
	if hash, ok := h.opt.Servers[user]; ok {
		if h.opt.CheckSecret(hash, secret) {
			return true
		}
		h.opt.Log.Warn("broker: a server login was refused", "user", user, "remote", cl.Net.Remote)
		return false
	}
	if wire.ValidDeviceID(user) != nil || cl.ID != user {
		h.opt.Log.Warn("broker: refused a client whose id is not its device id", "user", user, "client_id", cl.ID, "remote", cl.Net.Remote)
		return false
	}
	if err := h.opt.Devices.Authenticate(context.Background(), user, secret); err != nil {
		h.opt.Log.Warn("broker: a device login was refused", "device", user, "remote", cl.Net.Remote, "err", err)
		return false
	}
	return true
}

// deviceWrites are the kinds a device publishes.
var deviceWrites = []wire.Kind{wire.KindTelemetry, wire.KindDTC, wire.KindEvent, wire.KindStatus, wire.KindCommandResult}

// OnACLCheck: a device writes only its own messages and reads only its
// own commands; a server reads every device (shared subscriptions too)
// and writes only commands.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if h.isServer(user) {
		if write {
			device, kind, err := wire.ParseTopic(topic)
			return err == nil && device != "" && kind == wire.KindCommand
		}
		filter := topic
		if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
			if _, f, ok := strings.Cut(rest, "/"); ok {
				filter = f
			}
		}
		return strings.HasPrefix(filter, wire.Prefix) || filter == "pitwall/#"
	}
	if write {
		device, kind, err := wire.ParseTopic(topic)
		if err != nil || device != user {
			return false
		}
		for _, k := range deviceWrites {
			if k == kind {
				return true
			}
		}
		return false
	}
	return topic == wire.Topic(user, wire.KindCommand)
}

// OnPublish hands a device's message to Deliver and returns once it is
// stored; a failure rejects the packet, which is then not acknowledged.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.isServer(string(cl.Properties.Username)) || !strings.HasPrefix(pk.TopicName, wire.Prefix) {
		return pk, nil
	}
	if err := h.opt.Deliver(context.Background(), pk.TopicName, pk.Payload); err != nil {
		h.opt.Log.Warn("broker: a message could not be stored; left unacknowledged", "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnWillSent hands a device's last will (it went offline without a
// goodbye) to Deliver too.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if h.isServer(string(cl.Properties.Username)) || !strings.HasPrefix(pk.TopicName, wire.Prefix) {
		return
	}
	if err := h.opt.Deliver(context.Background(), pk.TopicName, pk.Payload); err != nil {
		h.opt.Log.Warn("broker: a last will could not be stored", "topic", pk.TopicName, "err", err)
	}
}
