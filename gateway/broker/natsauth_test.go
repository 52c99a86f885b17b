package broker_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/pitwall-io/pitwall/gateway/broker"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// A NATS node whose auth callout is answered by NATSAuth: a registered
// device logs in over MQTT with its id and secret and its QoS 1 messages
// land in its partition of $MQTT_msgs; a wrong secret, an unknown device
// and a device over NATS's own protocol are refused; a device publishing
// as another car stores nothing.
func TestNATSAuthCallout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server")
	}
	t.Parallel()
	const partitions = 8
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, secret, err := st.AddDevice(context.Background(), "car-00001", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddDevice(context.Background(), "car-00002", ""); err != nil {
		t.Fatal(err)
	}
	issuer, _ := nkeys.CreateAccount()
	seed, _ := issuer.Seed()
	pub, _ := issuer.PublicKey()
	conf, err := broker.NATSAccounts{Partitions: partitions, IssuerPublicKey: pub, ServerUser: "srv", ServerPassword: "srv-secret",
		AuthUser: "auth", AuthPassword: "auth-secret"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	c := testserver.StartNATSCluster(t, testserver.NATSOptions{Nodes: 1, Config: conf})
	node := c.Nodes[0]

	if _, err := broker.StartNATSAuth(broker.NATSAuthOptions{URL: node.URL(), User: "auth", Password: "auth-secret", IssuerSeed: "SUnot-a-seed",
		Partitions: partitions, Devices: st}); !errors.Is(err, broker.ErrIssuer) {
		t.Errorf("a bad issuer seed: %v, want ErrIssuer", err)
	}
	auth, err := broker.StartNATSAuth(broker.NATSAuthOptions{URL: node.URL(), User: "auth", Password: "auth-secret", IssuerSeed: string(seed),
		Partitions: partitions, Devices: st})
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	deadline := time.Now().Add(20 * time.Second)
	for auth.Ready() != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := auth.Ready(); err != nil {
		t.Fatal(err)
	}

	connect := func(id, user, password string) (mqtt.Client, error) {
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(node.MQTTURL()).SetClientID(id).SetUsername(user).SetPassword(password).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
		tk := cl.Connect()
		if !tk.WaitTimeout(20 * time.Second) {
			return nil, fmt.Errorf("%s: no CONNACK within 20 s", id)
		}
		return cl, tk.Error()
	}
	for _, bad := range []struct{ name, user, password string }{
		{"a wrong secret", "car-00001", "not-the-secret"},
		{"an unknown device", "car-00099", secret},
		{"not a device id", "car 1", secret},
	} {
		if cl, err := connect("probe", bad.user, bad.password); err == nil {
			cl.Disconnect(0)
			t.Errorf("%s: the login was accepted", bad.name)
		}
	}
	if nc, err := nats.Connect(node.URL(), nats.UserInfo("car-00001", secret), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a device logged in over NATS's own protocol")
	}

	car, err := connect("car-00001", "car-00001", secret)
	if err != nil {
		t.Fatalf("the registered device: %v", err)
	}
	defer car.Disconnect(0)
	// The car's connection made $MQTT_msgs; a consumer on every partition
	// keeps what is stored (interest retention).
	nc, err := nats.Connect(node.URL(), nats.UserInfo("srv", "srv-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, "$MQTT_msgs", jetstream.ConsumerConfig{Durable: "test", FilterSubject: "$MQTT.msgs." + wire.NATSPartPrefix + ">",
		AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ topic, body string }{
		{wire.Topic("car-00002", wire.KindTelemetry), "as another car"},
		{wire.Topic("car-00001", wire.KindTelemetry), "its own"},
	} {
		tk := car.Publish(m.topic, 1, false, m.body)
		if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
			t.Fatalf("publishing %q: %v", m.body, tk.Error())
		}
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject()+" "+string(m.Data()))
		_ = m.Ack()
	}
	want := "$MQTT.msgs." + wire.NATSPartSubject("car-00001", wire.KindTelemetry, partitions) + " its own"
	if len(got) != 1 || got[0] != want {
		t.Errorf("stored %q, want only %q", got, want)
	}
}
