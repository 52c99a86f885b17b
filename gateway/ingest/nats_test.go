package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// pubackCluster is a cluster with the partition mapping, a car that may
// publish anything and a server user.
func pubackCluster(t *testing.T) *testserver.NATSCluster {
	t.Helper()
	conf := `accounts {
  PITWALL {
    jetstream: enabled
    users: [{user: car, password: car-secret}, {user: srv, password: srv-secret}]
` + wire.NATSMappingsConfig(16) + `
  }
  SYS {}
}
system_account: SYS
`
	return testserver.StartNATSCluster(t, testserver.NATSOptions{Config: conf})
}

// Does a car's PUBACK mean its message is stored in the replicated
// stream? A car publishes at QoS 1 with up to 16 messages in flight; right
// after a PUBACK, a node is SIGKILLed: in turn the node the car is
// connected to, the leader of the stream the ingest consumes ($MQTT_msgs)
// and the leader of a stream of our own that captures the same subjects.
// Every message the car had a PUBACK for must be in $MQTT_msgs. The
// stream of our own is only counted (logged): NATS stores it from the
// core publish, which the PUBACK does not wait for (docs/scale.md).
func TestNATSPubAckMeansStored(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node NATS cluster")
	}
	t.Parallel()
	c := pubackCluster(t)
	// Generous: three kills, restarts and elections on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nc, err := nats.Connect(c.URLs(), nats.UserInfo("srv", "srv-secret"), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	src := &natsSource{cfg: NATSConfig{Partitions: 16, Replicas: 3, AckWait: time.Minute, MaxAckPending: 100000, Fetch: 1000}, nc: nc, js: js}
	if err := src.setup(ctx); err != nil {
		t.Fatal(err)
	}
	own, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CAPTURE", Subjects: []string{wire.NATSPartPrefix + ">"}, Replicas: 3, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}

	acked := map[int]bool{}
	seq := 0
	// leader waits (up to two minutes: an election on a loaded machine is
	// slow) for the stream's leader and returns its node.
	leader := func(stream string) int {
		var last error
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			info, err := js.Stream(rctx, stream)
			var si *jetstream.StreamInfo
			if err == nil {
				si, err = info.Info(rctx)
			}
			rcancel()
			switch {
			case err != nil:
				last = err
			case si.Cluster == nil || si.Cluster.Leader == "":
				last = errors.New("no leader elected yet")
			default:
				n, _ := strconv.Atoi(strings.TrimPrefix(si.Cluster.Leader, "n"))
				return n - 1
			}
		}
		for _, n := range c.Nodes {
			t.Logf("--- %s:\n%s", n.Name, n.Log())
		}
		t.Fatalf("no leader for %s within 2 minutes: %v", stream, last)
		return 0
	}
	for round, victimOf := range []string{"car's node", natsStream, "CAPTURE"} {
		var victim, via int
		switch victimOf {
		case "car's node":
			victim = round % 3
			via = victim
		default:
			victim = leader(victimOf)
			via = (victim + 1) % 3
		}
		cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(c.Nodes[via].MQTTURL()).SetClientID(fmt.Sprintf("car-%d", round)).
			SetUsername("car").SetPassword("car-secret").SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false))
		// A node just restarted may refuse MQTT for a moment.
		for try := 0; ; try++ {
			tk := cl.Connect()
			if tk.WaitTimeout(20*time.Second) && tk.Error() == nil {
				break
			}
			if try == 30 {
				t.Fatalf("round %d: connecting: %v", round, tk.Error())
			}
			time.Sleep(time.Second)
		}
		type sent struct {
			seq int
			tk  mqtt.Token
		}
		var window []sent
		killAt := 300 + 37*round
		pubacks := 0
		for pubacks < killAt {
			for len(window) < 16 {
				seq++
				window = append(window, sent{seq, cl.Publish(wire.Topic("car", wire.KindTelemetry), 1, false, []byte(strconv.Itoa(seq)))})
			}
			w := window[0]
			window = window[1:]
			if !w.tk.WaitTimeout(20*time.Second) || w.tk.Error() != nil {
				t.Fatalf("round %d: message %d: %v", round, w.seq, w.tk.Error())
			}
			acked[w.seq] = true
			pubacks++
		}
		c.Nodes[victim].Kill()
		// A message whose PUBACK arrived before the node died counts as
		// acknowledged; one with none, or an error, does not.
		for _, w := range window {
			if w.tk.WaitTimeout(5*time.Second) && w.tk.Error() == nil {
				acked[w.seq] = true
			}
		}
		cl.Disconnect(0)
		t.Logf("round %d: SIGKILLed %s (%s) right after PUBACK %d; %d acknowledged so far", round, c.Nodes[victim].Name, victimOf, killAt, len(acked))
		c.Nodes[victim].Restart(t)
	}

	// What the ingest reads: every partition's consumer, to the end, once
	// the last restart's election is over.
	leader(natsStream)
	got := map[int]int{}
	for p := range 16 {
		var cons jetstream.Consumer
		for try := 0; ; try++ {
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			cons, err = js.Consumer(cctx, natsStream, ConsumerName(p))
			ccancel()
			if err == nil {
				break
			}
			if try == 10 {
				t.Fatalf("partition %d's consumer: %v", p, err)
			}
			time.Sleep(time.Second)
		}
		for {
			b, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for m := range b.Messages() {
				s, _ := strconv.Atoi(string(m.Data()))
				got[s]++
				n++
				_ = m.Ack()
			}
			if n == 0 {
				break
			}
		}
	}
	var lost []int
	for s := range acked {
		if got[s] == 0 {
			lost = append(lost, s)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d messages acknowledged to the car are not in %s: %v", len(lost), len(acked), natsStream, lost)
	}
	// The stream of our own, for the record.
	oc, err := own.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	inOwn := map[int]bool{}
	for {
		b, err := oc.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			s, _ := strconv.Atoi(string(m.Data()))
			inOwn[s] = true
			n++
		}
		if n == 0 {
			break
		}
	}
	missingOwn := 0
	for s := range acked {
		if !inOwn[s] {
			missingOwn++
		}
	}
	t.Logf("%s holds all %d acknowledged messages (%d deliveries, duplicates included); a stream of our own on the same subjects lacks %d of them",
		natsStream, len(acked), sum(got), missingOwn)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// A delivery that never reaches the server (a pull whose answer died with
// a NATS node) must not be acknowledged by the acknowledgement of a later
// message, nor wait minutes for its redelivery: the partition starts again
// from its last stored message. A thief on the same consumers takes a few
// deliveries and never acknowledges them; every sample must be stored all
// the same, long before the consumers' ack wait would hand them over again.
func TestNATSLostDeliveriesComeAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node NATS cluster and PostgreSQL")
	}
	t.Parallel()
	c := pubackCluster(t)
	dsn := testserver.PostgresURL(t)
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sr, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(dir, "series.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	cfg := testConfig(c.URLs())
	cfg.Broker.Username, cfg.Broker.Password = "srv", "srv-secret"
	cfg.NATS = NATSConfig{Partitions: 16, AckWait: 10 * time.Minute, Fetch: 4, Rebalance: 500 * time.Millisecond}
	logs := &syncBuffer{}
	in, err := New(cfg, sr, st, WithLogger(slog.New(slog.NewTextHandler(logs, nil))), WithLeases(func(ctx context.Context) (Leases, error) {
		return store.OpenLeases(ctx, dsn, store.LeaseOptions{Class: store.IngestLeaseClass})
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, time.Minute, "the ingest to own every partition", func() bool { return in.Ready() == nil && len(in.Owned()) == 16 })

	// The thief: pulls of one message on every partition's consumer, side
	// by side with the ingest's, never acknowledged, at most 40 of them.
	tc, err := nats.Connect(c.URLs(), nats.UserInfo("srv", "srv-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tjs, _ := jetstream.New(tc)
	stolen := 0
	stop := make(chan struct{})
	thiefDone := make(chan struct{})
	go func() {
		defer close(thiefDone)
		for try := 0; try < 400 && stolen < 40; try++ {
			select {
			case <-stop:
				return
			default:
			}
			cons, err := tjs.Consumer(ctx, natsStream, ConsumerName(try%16))
			if err != nil {
				continue
			}
			b, err := cons.Fetch(1, jetstream.FetchMaxWait(100*time.Millisecond))
			if err != nil {
				continue
			}
			for range b.Messages() {
				stolen++
			}
		}
	}()
	res := flood(t, fleet.FloodConfig{Broker: c.Nodes[0].MQTTURL(), Vehicles: 16, Messages: 40, Rate: 20, Signals: 4, Instants: 2,
		Prefix: "lost", Username: "car", Password: "car-secret", Resend: true})
	close(stop)
	<-thiefDone
	if stolen == 0 {
		t.Fatal("the thief took no delivery: the test proves nothing")
	}
	eventually(t, time.Minute, "every sample stored", func() bool { return count(t, sr, "lost", 16) >= res.Samples })
	if got := count(t, sr, "lost", 16); got != res.Samples {
		t.Errorf("stored %d samples, the cars had %d acknowledged", got, res.Samples)
	}
	if !strings.Contains(logs.String(), "messages were lost in delivery") {
		t.Errorf("no partition was started again after %d stolen deliveries:\n%s", stolen, logs.String())
	}
	t.Logf("%d deliveries stolen; all %d samples stored", stolen, res.Samples)
}
