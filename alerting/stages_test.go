package alerting

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// A server that takes a car up tells what another server stored and
// never told, once; a server that forgets a car holds none of its alerts.
func TestTakeUpTellsWhatWasStoredUntold(t *testing.T) {
	r := newRig(t, Config{})
	r.rec.fail = errors.New("down")
	r.receive(t, alert("overheat", rules.Critical, rules.Firing, t0))
	want(t, r.rec.told())

	rec2 := &recorder{name: "rec"}
	m2 := New(Config{}, r.st, []Notifier{rec2}, WithClock(r.clk.now))
	if err := m2.TakeUp(context.Background(), []string{"car-1"}); err != nil {
		t.Fatal(err)
	}
	m2.flushDue(context.Background())
	want(t, rec2.told(), "overheat:firing")
	m2.flushDue(context.Background())
	want(t, rec2.told(), "overheat:firing")

	r.m.Forget([]string{"car-1"})
	r.m.mu.Lock()
	n, g := len(r.m.alerts), len(r.m.groups)
	r.m.mu.Unlock()
	if n != 0 || g != 0 {
		t.Errorf("after Forget the manager holds %d alerts and %d groups", n, g)
	}
}

// Pruning the notification log past its retention keeps what a firing
// alert's repeat is reckoned from: a manager started after the prune does
// not tell it again before the repeat interval.
func TestPruneKeepsWhenAFiringAlertRepeats(t *testing.T) {
	cfg := Config{RepeatInterval: 30 * 24 * time.Hour, LogRetention: MinLogRetention}
	r := newRig(t, cfg)
	r.receive(t, alert("overheat", rules.Critical, rules.Firing, t0), alert("low-fuel", rules.Info, rules.Firing, t0))
	want(t, r.rec.told(), "low-fuel:firing+overheat:firing")
	r.receive(t, alert("low-fuel", rules.Info, rules.Resolved, t0))
	r.advance(time.Minute) // the group interval
	want(t, r.rec.told(), "low-fuel:firing+overheat:firing", "low-fuel:resolved")

	r.clk.add(5 * 24 * time.Hour)
	// The store's alerts are refreshed as a running engine would.
	if err := r.m.Receive(context.Background(), []rules.Alert{alert("overheat", rules.Critical, rules.Firing, t0)}); err != nil {
		t.Fatal(err)
	}
	r.m.prune(context.Background())
	told := func(rule, state string) store.Told {
		tl, err := r.st.LastNotified(context.Background(), "rec", Fingerprint(alert(rule, rules.Info, rules.Firing, t0).Labels), t0, state)
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	if tl := told("low-fuel", string(rules.Resolved)); tl.Nth != 0 {
		t.Errorf("the resolved alert's telling outlived the retention: %+v", tl)
	}

	rec2 := &recorder{name: "rec"}
	m2 := New(cfg, r.st, []Notifier{rec2}, WithClock(r.clk.now))
	if err := m2.TakeUp(context.Background(), []string{"car-1"}); err != nil {
		t.Fatal(err)
	}
	m2.flushDue(context.Background())
	want(t, rec2.told())
}

// The chain stops at the first stage that leaves nothing, and a stage's
// error ends the round.
func TestChainStops(t *testing.T) {
	var ran []string
	stage := func(name string, keep bool, err error) Stage {
		return StageFunc(func(_ context.Context, _ *Round, alerts []Alert) ([]Alert, error) {
			ran = append(ran, name)
			if !keep {
				return nil, err
			}
			return alerts, err
		})
	}
	in := []Alert{{Fingerprint: "a"}}
	if _, err := (Chain{stage("mute", false, nil), stage("send", true, nil)}).Exec(context.Background(), &Round{}, in); err != nil || len(ran) != 1 {
		t.Fatalf("ran %v (%v); want the chain to stop after mute left nothing", ran, err)
	}
	ran = nil
	boom := errors.New("boom")
	if _, err := (Chain{stage("dedup", true, boom), stage("send", true, nil)}).Exec(context.Background(), &Round{}, in); !errors.Is(err, boom) || len(ran) != 1 {
		t.Fatalf("ran %v (%v); want the chain to end at the failing stage", ran, err)
	}
}
