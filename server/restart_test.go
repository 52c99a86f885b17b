package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
)

const coolantSignal = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"

// coolantCar delivers one car's coolant values straight to a server's
// ingest, each run of a server on a new boot, one value a second from t0.
type coolantCar struct {
	t      *testing.T
	cfg    server.Config
	device string
	t0     time.Time
	seq    uint64
	boot   uint64
}

// drive runs a server on the car's stores, delivers a birth and n coolant
// values a second from t0+from, gives the alert manager its turn, and
// stops the server.
func (c *coolantCar) drive(from time.Duration, n int, value float64) {
	t := c.t
	t.Helper()
	aliases, _ := wire.NewAliases([]string{coolantSignal})
	sig, _ := aliases.ByName(coolantSignal)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	send := func(k wire.Kind, m wire.Message) {
		b, _ := wire.Encode(m)
		if err := s.Ingest.Deliver(ctx, wire.Topic(c.device, k), b); err != nil {
			t.Fatal(err)
		}
	}
	c.boot++
	c.seq++
	send(wire.KindStatus, &wirepb.Status{Header: wire.NewHeader(c.device, c.boot, c.seq), Online: true, Signals: aliases.Defs()})
	for i := range n {
		var b wire.Batch
		b.Add(sig, c.t0.Add(from+time.Duration(i)*time.Second), value)
		c.seq++
		send(wire.KindTelemetry, b.Telemetry(wire.NewHeader(c.device, c.boot, c.seq)))
	}
	time.Sleep(300 * time.Millisecond) // the manager's turn
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// An overheat whose for: (20 s) was running when the server stopped
// fires, once, on the server that starts next on the same stores: its
// pending timer is rebuilt from the stored series, not started afresh.
// Without the rebuild the second run's 15 hot seconds are too few to fire.
// A third server, the engine still hot, tells nothing again.
func TestPendingOverheatFiresOnceAfterRestart(t *testing.T) {
	onEach(t, testPendingOverheatFiresOnceAfterRestart)
}

func testPendingOverheatFiresOnceAfterRestart(t *testing.T, db server.StoreConfig) {
	dir := t.TempDir()
	cfg, hooks := embeddedConfig(t, dir)
	cfg.Store, cfg.Series.Path = db, filepath.Join(dir, "series.db")
	car := &coolantCar{t: t, cfg: cfg, device: "car-p", t0: time.Now().Add(-10 * time.Minute).Truncate(time.Second)}
	told := func() []alerting.Message {
		var out []alerting.Message
		for {
			select {
			case m := <-hooks:
				out = append(out, m)
			default:
				return out
			}
		}
	}

	car.drive(0, 10, 115) // hot for 10 s: pending
	if got := told(); len(got) != 0 {
		t.Fatalf("told before the for: ran out: %+v", got)
	}
	car.drive(10*time.Second, 15, 116) // restarted; hot from 10 s to 24 s
	var fired alerting.Message
	eventually(t, 10*time.Second, "the overheat to be told after the restart", func() bool {
		got := told()
		if len(got) > 1 || len(got) == 1 && fired.ID != "" {
			t.Fatalf("told more than once: %+v %+v", fired, got)
		}
		if len(got) == 1 {
			fired = got[0]
		}
		return fired.ID != ""
	})
	if len(fired.Firing) != 1 || fired.Firing[0].Rule != "overheat" || !fired.Firing[0].StartsAt.Equal(car.t0.Add(20*time.Second)) {
		t.Fatalf("after the restart: %+v; want the overheat firing from %v (20 s after it got hot)", fired, car.t0.Add(20*time.Second))
	}
	car.drive(25*time.Second, 10, 117) // every server restarted again, still hot
	if got := told(); len(got) != 0 {
		t.Fatalf("told again after another restart: %+v", got)
	}
}
