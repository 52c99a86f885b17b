package broker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

// Packets of a device's session as Pitwall's agent sends them (MQTT 3.1.1
// or 5), encoded by mochi's own encoder, for seeds and for the logins the
// fuzzer's bytes follow.
func encode(pk packets.Packet) []byte {
	var b bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&b)
	case packets.Publish:
		err = pk.PublishEncode(&b)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&b)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&b)
	case packets.Puback:
		err = pk.PubackEncode(&b)
	case packets.Pingreq:
		err = pk.PingreqEncode(&b)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&b)
	}
	if err != nil {
		panic(err)
	}
	return b.Bytes()
}

func connectPacket(version byte, client, user, secret string, will bool) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: client,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: []byte(secret)}}
	if will {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillQos, pk.Connect.WillRetain = true, wire.Topic(client, wire.KindStatus), 1, true
		pk.Connect.WillPayload, _ = wire.Encode(&wirepb.Status{Header: wire.NewHeader(client, 1, 0)})
	}
	return encode(pk)
}

func publishPacket(version byte, topic string, qos byte, retain bool, id uint16, payload []byte) []byte {
	return encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain}, ProtocolVersion: version,
		TopicName: topic, PacketID: id, Payload: payload})
}

// Whatever bytes a client sends, before or after logging in as a device
// or a server, the broker does not crash, ends the connection once the
// client has finished, delivers only the logged-in device's own messages,
// and goes on serving.
func FuzzBrokerPackets(f *testing.F) {
	var mu sync.Mutex
	var wrong []string
	r := startWith(f, 1, func(o *broker.Options) {
		o.ConnectTimeout = 2 * time.Second
		o.Deliver = func(_ context.Context, topic string, payload []byte) error {
			if device, _, err := wire.ParseTopic(topic); err != nil || device != "car-00001" {
				mu.Lock()
				wrong = append(wrong, topic)
				mu.Unlock()
			}
			return nil
		}
	})
	id, secret := "car-00001", r.secrets["car-00001"]
	logins := [][]byte{
		nil,
		connectPacket(4, id, id, secret, true),
		connectPacket(5, id, id, secret, false),
		connectPacket(4, "pitwall-fuzz", "pitwall-server", serverSecret, false),
	}
	birth, _ := wire.Encode(&wirepb.Status{Header: wire.NewHeader(id, 1, 1), Online: true, Signals: []*wirepb.SignalDef{{Alias: 1, Name: "Vehicle.Speed", Unit: "km/h", Scale: 1}}})
	var batch wire.Batch
	a, _ := wire.AliasesFromBirth(&wirepb.Status{Signals: []*wirepb.SignalDef{{Alias: 1, Name: "Vehicle.Speed", Scale: 1}}})
	s, _ := a.ByName("Vehicle.Speed")
	batch.Add(s, time.UnixMilli(1763800000000), 88)
	tel, _ := wire.Encode(batch.Telemetry(wire.NewHeader(id, 1, 2)))
	for _, v := range []byte{4, 5} {
		session := bytes.Join([][]byte{
			publishPacket(v, wire.Topic(id, wire.KindStatus), 1, true, 1, birth),
			encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: v, PacketID: 2,
				Filters: packets.Subscriptions{{Filter: wire.Topic(id, wire.KindCommand), Qos: 1}}}),
			publishPacket(v, wire.Topic(id, wire.KindTelemetry), 1, false, 3, tel),
			publishPacket(v, wire.Topic(id, wire.KindTelemetry), 0, false, 0, tel),
			encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}, ProtocolVersion: v}),
			encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, ProtocolVersion: v, PacketID: 4,
				Filters: packets.Subscriptions{{Filter: wire.Topic(id, wire.KindCommand)}}}),
			encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: v}),
		}, nil)
		login := uint8(1)
		if v == 5 {
			login = 2
		}
		f.Add(login, session)
		f.Add(uint8(0), append(append([]byte{}, logins[login]...), session...))
	}
	f.Add(uint8(1), publishPacket(4, wire.Topic("car-00002", wire.KindTelemetry), 1, false, 1, tel))
	f.Add(uint8(1), publishPacket(4, wire.Topic(id, wire.KindCommand), 1, true, 1, []byte{1}))
	f.Add(uint8(3), publishPacket(4, wire.Topic(id, wire.KindCommand), 1, true, 1, []byte{1}))
	f.Add(uint8(0), announce128MiB)
	f.Add(uint8(0), []byte{0x10, 0xFF})
	f.Add(uint8(1), []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F})

	f.Fuzz(func(t *testing.T, login uint8, data []byte) {
		// A pipe, not TCP: the same broker code from the first byte read,
		// and no ports left in TIME_WAIT by a hundred thousand runs.
		client, server := net.Pipe()
		served := make(chan error, 1)
		go func() { served <- r.b.ServeConn(server) }()
		go func() { _, _ = io.Copy(io.Discard, client) }() // the broker's answers
		in := append(append([]byte{}, logins[int(login)%len(logins)]...), data...)
		_ = client.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, _ = client.Write(in) // an error: the broker closed the connection first
		client.Close()
		select {
		case err := <-served:
			if errors.Is(err, broker.ErrNoPlace) {
				t.Fatalf("the broker has no place for a connection while none is open: %v", err)
			}
		case <-time.After(20 * time.Second):
			var dump bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
			t.Fatalf("the connection is still served 20 s after the client sent %d bytes and hung up; the broker's goroutines:\n%s", len(in), dump.String())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(wrong) > 0 {
			t.Fatalf("delivered messages of other devices: %q", wrong)
		}
	})
}
