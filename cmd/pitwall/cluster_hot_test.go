package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

// sigCoolant is the signal the built-in overheat rule watches.
const sigCoolant = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"

// tellings counts the webhook notifications the cluster's servers send,
// by device and rule, with the time each arrived.
type tellings struct {
	mu     sync.Mutex
	got    map[string][]time.Time // device/rule → arrivals
	starts map[string][]time.Time // device/rule → the alerts' starts_at
}

func (tl *tellings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m struct {
		Device string `json:"device"`
		Firing []struct {
			Rule     string    `json:"rule"`
			StartsAt time.Time `json:"starts_at"`
		} `json:"firing"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.got == nil {
		tl.got, tl.starts = map[string][]time.Time{}, map[string][]time.Time{}
	}
	for _, a := range m.Firing {
		k := m.Device + "/" + a.Rule
		tl.got[k] = append(tl.got[k], time.Now())
		tl.starts[k] = append(tl.starts[k], a.StartsAt)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (tl *tellings) of(device, rule string) []time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]time.Time(nil), tl.got[device+"/"+rule]...)
}

// startsOf is the starts_at of each telling of device's rule.
func (tl *tellings) startsOf(device, rule string) []time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]time.Time(nil), tl.starts[device+"/"+rule]...)
}

// startTellings serves the webhook the cluster's servers tell.
func startTellings(t *testing.T) (*tellings, string) {
	tl := &tellings{}
	srv := httptest.NewServer(tl)
	t.Cleanup(srv.Close)
	return tl, srv.URL
}

var heldRE = regexp.MustCompile(`(?m)^pitwall_ingest_partition_held\{partition="(\d+)"\} 1$`)

// heldPartitions reads from a server's metrics the partitions it consumes
// now.
func heldPartitions(base string) (map[int]bool, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	held := map[int]bool{}
	for _, m := range heldRE.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[1])
		held[n] = true
	}
	return held, nil
}

// deviceIn is a device id whose messages fall in one of the partitions.
func deviceIn(prefix string, held map[int]bool) (string, error) {
	for i := range 100_000 {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if held[wire.NATSPartition(id, clusterPartitions)] {
			return id, nil
		}
	}
	return "", fmt.Errorf("no device id in partitions %v", held)
}

// hotCar is a car whose coolant stands at 120 °C: a birth, then a sample a
// second over MQTT at QoS 1 until ctx ends. It reports on first the
// time stamped on its first hot sample, once that is acknowledged.
func hotCar(ctx context.Context, broker, device string, first chan<- time.Time) error {
	aliases, err := wire.NewAliases([]string{sigCoolant})
	if err != nil {
		return err
	}
	coolant, _ := aliases.ByName(sigCoolant)
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(device).SetUsername("car").SetPassword("car-secret").
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return fmt.Errorf("hot car: connecting to %s: %v", broker, tok.Error())
	}
	defer c.Disconnect(250)
	boot := uint64(time.Now().UnixNano())
	seq := uint64(0)
	send := func(k wire.Kind, m wire.Message) error {
		b, err := wire.Encode(m)
		if err != nil {
			return err
		}
		tok := c.Publish(wire.Topic(device, k), 1, false, b)
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			return fmt.Errorf("hot car: no PUBACK for %s %d: %v", k, seq, tok.Error())
		}
		return nil
	}
	seq++
	if err := send(wire.KindStatus, &wirepb.Status{Header: wire.NewHeader(device, boot, seq), Online: true,
		TimeMs: time.Now().UnixMilli(), AgentVersion: "cluster-test", Signals: aliases.Defs()}); err != nil {
		return err
	}
	var b wire.Batch
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		seq++
		b.Reset()
		at := time.Now()
		b.Add(coolant, at, 120)
		if err := send(wire.KindTelemetry, b.Telemetry(wire.NewHeader(device, boot, seq))); err != nil {
			return err
		}
		if first != nil {
			first <- at
			first = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
