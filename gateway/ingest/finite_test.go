package ingest

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// runDirect runs an ingest that takes messages in process, as behind the
// embedded broker, with the options given (listeners, say).
func runDirect(t *testing.T, opts ...Option) (*Ingest, *store.Store, series.Store, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "pitwall.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sr, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(dir, "series.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sr.Close() })
	logs := &syncBuffer{}
	in, err := New(Config{Broker: BrokerConfig{ClientID: "direct"}, BatchDelay: 5 * time.Millisecond, BirthWait: time.Second}, sr, st,
		append([]Option{WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return in, st, sr, logs
}

func deliver(t *testing.T, in *Ingest, device string, k wire.Kind, m wire.Message) {
	t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := in.Deliver(ctx, wire.Topic(device, k), b); err != nil {
		t.Fatal(err)
	}
}

// A birth whose scale makes values infinite, and any NaN or infinity a
// message carries, are refused with their reason, counted and logged;
// nothing of them is stored, and the device's good messages are.
func TestRefusesNonFinite(t *testing.T) {
	in, st, sr, logs := runDirect(t)
	now := time.Now()
	huge := birth("car-inf", 1, 1)
	huge.Signals[0].Scale = 1e308
	deliver(t, in, "car-inf", wire.KindStatus, huge)
	deliver(t, in, "car-inf", wire.KindTelemetry, telemetry("car-inf", 1, 2, now, 100)) // its birth was refused: it waits, then is refused
	nanOffset := birth("car-inf", 2, 3)
	nanOffset.Signals[1].Offset = math.Inf(-1)
	deliver(t, in, "car-inf", wire.KindStatus, nanOffset)
	deliver(t, in, "car-inf", wire.KindEvent, &wirepb.Event{Header: wire.NewHeader("car-inf", 3, 4), TimeMs: now.UnixMilli(),
		Kind: &wirepb.Event_TripStart{TripStart: &wirepb.TripStart{TripId: 1, OdometerKm: math.NaN()}}})
	deliver(t, in, "car-inf", wire.KindDTC, &wirepb.DTCReport{Header: wire.NewHeader("car-inf", 3, 5), TimeMs: now.UnixMilli(),
		FreezeFrames: []*wirepb.FreezeFrame{{Dtc: "P0217", Values: []*wirepb.Value{{Signal: "Vehicle.Speed", Value: math.Inf(1)}}}}})
	// The same device behaving: stored.
	deliver(t, in, "car-inf", wire.KindStatus, birth("car-inf", 4, 6))
	deliver(t, in, "car-inf", wire.KindTelemetry, telemetry("car-inf", 4, 7, now, 88))

	eventually(t, 10*time.Second, "the refusals", func() bool { return in.Stats().RejectedBy["no_birth"] == 1 })
	got := in.Stats()
	if got.RejectedBy["non_finite"] != 4 {
		t.Errorf("refused as non_finite: %d, want 4 (all: %v)", got.RejectedBy["non_finite"], got.RejectedBy)
	}
	for _, boot := range []uint64{1, 2} {
		if _, err := st.Birth(context.Background(), "car-inf", boot); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the birth of boot %d was kept: %v", boot, err)
		}
	}
	for _, kind := range []string{"event", "dtc"} {
		if msgs, err := st.Messages(context.Background(), "car-inf", kind, now.Add(-time.Hour), 10); err != nil || len(msgs) != 0 {
			t.Errorf("%s kept: %d, %v", kind, len(msgs), err)
		}
	}
	latest, err := sr.Latest(context.Background(), "car-inf", nil)
	if err != nil || len(latest) != 2 || latest["Vehicle.Speed"].Value != 88 {
		t.Errorf("the good telemetry: %v, %v", latest, err)
	}
	for _, v := range latest {
		if math.IsInf(v.Value, 0) || math.IsNaN(v.Value) {
			t.Errorf("stored %v", v)
		}
	}
	if l := logs.String(); !strings.Contains(l, "reason=non_finite") || !strings.Contains(l, "scale 1e+308") {
		t.Errorf("the log does not name the reason and the scale:\n%s", l)
	}
}

// Trouble codes not written as J2012 writes them are refused before they
// reach an alert, with the reason "code".
func TestRefusesBadCodes(t *testing.T) {
	in, st, _, logs := runDirect(t)
	now := time.Now()
	for i, code := range []string{"P0217<img src=x onerror=alert(1)>", "p0217", "Q0217", "P02170", "P021"} {
		deliver(t, in, "car-code", wire.KindDTC, &wirepb.DTCReport{Header: wire.NewHeader("car-code", 1, uint64(i+1)), TimeMs: now.UnixMilli(), Mil: true,
			Stored: []*wirepb.Code{{Code: code, Ecu: "7E8"}}})
	}
	deliver(t, in, "car-code", wire.KindDTC, &wirepb.DTCReport{Header: wire.NewHeader("car-code", 1, 9), TimeMs: now.UnixMilli(), Mil: true,
		Stored: []*wirepb.Code{{Code: "P0217", Ecu: "7E8\nSubject: spam"}}})
	deliver(t, in, "car-code", wire.KindDTC, &wirepb.DTCReport{Header: wire.NewHeader("car-code", 1, 10), TimeMs: now.UnixMilli(), Mil: true,
		Stored: []*wirepb.Code{{Code: "P0217", Ecu: "7E8"}}})
	eventually(t, 10*time.Second, "the good report", func() bool { return in.Stats().Stored >= 1 })
	if n := in.Stats().RejectedBy["code"]; n != 6 {
		t.Errorf("refused as code: %d, want 6 (%v)", n, in.Stats().RejectedBy)
	}
	msgs, err := st.Messages(context.Background(), "car-code", "dtc", now.Add(-time.Hour), 10)
	if err != nil || len(msgs) != 1 || msgs[0].Seq != 10 {
		t.Errorf("kept %d reports, %v", len(msgs), err)
	}
	if l := logs.String(); !strings.Contains(l, "reason=code") || !strings.Contains(l, "P0133") {
		t.Errorf("the log does not say what a code looks like:\n%s", l)
	}
}
