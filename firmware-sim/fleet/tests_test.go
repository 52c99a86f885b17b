package fleet

import (
	"context"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// A simulated car reads its monitors' test results (service 06) as the
// agent does: the misfire counts arrive as telemetry under the announced
// aliases, and every result with the trouble-code report. The developing
// misfire, driven an hour and a half of the car's time, shows in cylinder
// 3's counts and in no other cylinder's.
func TestFleetSendsMonitorTests(t *testing.T) {
	broker := brokerURL(t)
	prefix := "tests" + time.Now().Format("150405")
	var mu sync.Mutex
	var aliases *wire.Aliases
	misfires := map[string]float64{}
	var tests []*wirepb.TestResult
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(prefix + "-watch"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		_, kind, err := wire.ParseTopic(msg.Topic())
		if err != nil {
			return
		}
		m, err := wire.Decode(kind, msg.Payload())
		if err != nil {
			t.Errorf("%s: %v", msg.Topic(), err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch x := m.(type) {
		case *wirepb.Status:
			if x.GetOnline() {
				aliases, _ = wire.AliasesFromBirth(x)
			}
		case *wirepb.Telemetry:
			if aliases == nil {
				return
			}
			samples, err := wire.Samples(x, aliases)
			if err != nil {
				t.Error(err)
			}
			for _, s := range samples {
				if obd.IsMonitorSignal(s.Signal) {
					misfires[s.Signal] = max(misfires[s.Signal], s.Value)
				}
			}
		case *wirepb.DTCReport:
			if len(x.GetTests()) > 0 {
				tests = x.GetTests()
			}
		}
	}
	if tok := sub.Subscribe(wire.Prefix+prefix+"-00001/#", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	// 3 s of the run at 1,800× is an hour and a half of driving.
	res, err := Run(context.Background(), Config{Broker: broker, Vehicles: 1, Rate: 5, Duration: 3 * time.Second, Scenario: "misfire-developing", Speed: 1800, Prefix: prefix})
	if err != nil || res.Errors != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(tests) == 0 {
		t.Fatal("no trouble-code report carried the monitors' test results")
	}
	cyl3 := obd.MonitorSignal(obd.MIDMisfire+3, obd.TIDMisfireCount)
	cyl1 := obd.MonitorSignal(obd.MIDMisfire+1, obd.TIDMisfireCount)
	if _, ok := misfires[cyl1]; misfires[cyl3] <= 0 || !ok || misfires[cyl1] != 0 {
		t.Fatalf("misfire counts in the telemetry: %v; want cylinder 3's rising, cylinder 1's at 0", misfires)
	}
	t.Logf("misfire counts seen: %v; %d test results with the codes", misfires, len(tests))
}
