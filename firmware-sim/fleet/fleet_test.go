package fleet

import (
	"context"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/testserver"
)

// brokerURL starts a Mosquitto for the test.
func brokerURL(t *testing.T) string {
	return testserver.StartMosquitto(t, testserver.MosquittoOptions{}).URL()
}

// A small fleet against the real broker: every car announces its signals,
// every acknowledged sample reaches a subscriber and decodes with the
// announced aliases, and each car's sequence numbers run without gaps.
func TestFleetThroughMosquitto(t *testing.T) {
	broker := brokerURL(t)
	prefix := "fleettest" + time.Now().Format("150405")
	var mu sync.Mutex
	births := map[string]*wire.Aliases{}
	seqs := map[string][]uint64{}
	var samples int64
	var decodeErrs []error
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(prefix + "-watch"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		dev, kind, err := wire.ParseTopic(msg.Topic())
		if err != nil || len(dev) < len(prefix) || dev[:len(prefix)] != prefix {
			return
		}
		m, err := wire.Decode(kind, msg.Payload())
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			decodeErrs = append(decodeErrs, err)
			return
		}
		seqs[dev] = append(seqs[dev], m.GetHeader().GetSeq())
		switch x := m.(type) {
		case *wirepb.Status:
			if x.GetOnline() {
				a, err := wire.AliasesFromBirth(x)
				if err != nil {
					decodeErrs = append(decodeErrs, err)
				}
				births[dev] = a
			}
		case *wirepb.Telemetry:
			a := births[dev]
			if a == nil {
				decodeErrs = append(decodeErrs, err)
				return
			}
			s, err := wire.Samples(x, a)
			if err != nil {
				decodeErrs = append(decodeErrs, err)
			}
			samples += int64(len(s))
		}
	}
	if tok := sub.Subscribe(wire.Prefix+"+/#", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	res, err := Run(context.Background(), Config{Broker: broker, Vehicles: 6, Rate: 5, Duration: 2 * time.Second, Scenario: "mix", Seed: 1, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the last deliveries to the subscriber
	mu.Lock()
	defer mu.Unlock()
	if res.Connected != 6 || res.Errors != 0 || res.Samples == 0 {
		t.Fatalf("result %+v", res)
	}
	if samples != res.Samples {
		t.Errorf("subscriber decoded %d samples, the fleet had %d acknowledged", samples, res.Samples)
	}
	if len(decodeErrs) > 0 {
		t.Errorf("decode errors: %v", decodeErrs)
	}
	for dev, s := range seqs {
		for i, q := range s {
			if q != uint64(i+1) {
				t.Errorf("%s: sequence %v is not 1, 2, 3, ...", dev, s)
				break
			}
		}
	}
	if len(births) != 6 {
		t.Errorf("births from %d cars", len(births))
	}
	t.Logf("%+v", res)
}

// Through the real agent: each car's emulated adapter is polled by an
// edge agent that publishes what it reads.
func TestFleetThroughAgent(t *testing.T) {
	broker := brokerURL(t)
	res, err := RunThroughAgent(context.Background(), Config{Broker: broker, Vehicles: 2, Duration: 6 * time.Second, Scenario: "healthy", Seed: 1, Prefix: "agentfleet"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != 2 || res.Errors != 0 || res.Samples < 100 || res.Messages < 10 {
		t.Fatalf("%+v", res)
	}
}
