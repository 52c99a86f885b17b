package ingest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// A listener that fails is counted and logged, by name, once per ten
// seconds however often it fails; the batch stays stored and
// acknowledged, and the other listeners are told as before.
func TestListenerErrorCountedAndLogged(t *testing.T) {
	var mu sync.Mutex
	var good, bad int
	in, _, sr, logs := runDirect(t,
		WithListener("rules", func(ctx context.Context, rs []Record) error {
			mu.Lock()
			defer mu.Unlock()
			bad += len(rs)
			if _, ok := ctx.Deadline(); !ok {
				t.Error("a listener's context has no deadline")
			}
			return errors.New("the alert store is down")
		}),
		WithListener("counter", func(_ context.Context, rs []Record) error {
			mu.Lock()
			defer mu.Unlock()
			good += len(rs)
			return nil
		}))

	now := time.Now()
	deliver(t, in, "car-l", wire.KindStatus, birth("car-l", 1, 1))
	for i := range 5 {
		deliver(t, in, "car-l", wire.KindTelemetry, telemetry("car-l", 1, uint64(2+i), now.Add(time.Duration(i)*time.Second), 50))
	}
	// Listeners are told after the acknowledgement: wait for the last.
	var gotGood, gotBad int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		gotGood, gotBad = good, bad
		mu.Unlock()
		if gotGood == 6 && gotBad == 6 {
			break
		}
	}
	if gotGood != 6 || gotBad != 6 {
		t.Fatalf("the listeners were told of %d and %d records; want 6 each", gotGood, gotBad)
	}
	calls := testutil.ToFloat64(in.metrics.listenerErrors.WithLabelValues("rules"))
	if calls < 1 || calls > 6 {
		t.Errorf("pitwall_ingest_listener_errors_total{listener=rules} = %v; want one per failed batch", calls)
	}
	if v := testutil.ToFloat64(in.metrics.listenerErrors.WithLabelValues("counter")); v != 0 {
		t.Errorf("the healthy listener counted %v failures", v)
	}
	if n, err := sr.Count(context.Background(), "car-l", now.Add(-time.Minute), now.Add(time.Minute)); err != nil || n != 10 {
		t.Errorf("stored %d samples (%v); want all 10 despite the listener", n, err)
	}
	if s := in.Stats(); s.Stored != 6 {
		t.Errorf("stored %d messages; want 6", s.Stored)
	}
	log := logs.String()
	if n := strings.Count(log, "a listener failed"); n != 1 || !strings.Contains(log, "listener=rules") || !strings.Contains(log, "the alert store is down") {
		t.Errorf("logged %d times; want once, naming the listener and its error:\n%s", n, log)
	}
}
