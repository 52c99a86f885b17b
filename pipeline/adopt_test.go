package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// heldRange hands out what Range read and then waits for release before
// returning it: a rebuild's history read that other work overtakes.
type heldRange struct {
	series.Reader
	once    sync.Once
	reading chan struct{} // closed once the first read is done
	release chan struct{}
}

func (h *heldRange) Range(ctx context.Context, q series.Query) ([]series.Series, error) {
	got, err := h.Reader.Range(ctx, q)
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.reading)
		<-h.release
	}
	return got, err
}

// A batch of the car evaluated while its rebuild reads the history (the
// engine cooled down for ten seconds) is not lost when the rebuild lands:
// the history is read again holding the flow. Without it, the rebuild
// would restore the overheat pending from before the cool-down and it
// would fire on the next hot second, 20 s after the first hot one. Other
// cars' batches flow while a rebuild reads, rather than wait for it.
func TestRebuildDoesNotLoseABatchEvaluatedMeanwhile(t *testing.T) {
	s := openStores(t, filepath.Join(t.TempDir(), "pitwall.db"))
	ctx := context.Background()
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	writer, _, _ := s.server(t)
	if err := s.hot(t, writer, "car-1", t0, 10, 115); err != nil {
		t.Fatal(err)
	}

	held := &heldRange{Reader: s.sr, reading: make(chan struct{}), release: make(chan struct{})}
	eng := rules.NewEngine(rules.Builtin())
	al := &fakeAlerts{}
	p, err := New(Deps{Store: s.st, Series: held, Rules: eng, Alerts: al, Partitioned: true})
	if err != nil {
		t.Fatal(err)
	}
	adopted := make(chan error, 1)
	go func() { adopted <- p.Adopt(ctx, []string{"car-1"}) }()
	<-held.reading
	// While the rebuild holds its stale read: another car flows, and
	// car-1 cools down for ten seconds.
	flowed := make(chan error, 1)
	go func() { flowed <- s.hot(t, p, "car-2", t0, 1, 90) }()
	select {
	case err := <-flowed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("another car's batch waited for a rebuild's history read")
	}
	if err := s.hot(t, p, "car-1", t0.Add(10*time.Second), 10, 90); err != nil {
		t.Fatal(err)
	}
	close(held.release)
	if err := <-adopted; err != nil {
		t.Fatal(err)
	}
	if err := s.hot(t, p, "car-1", t0.Add(20*time.Second), 5, 116); err != nil {
		t.Fatal(err)
	}
	for _, a := range al.received {
		if a.Rule == "overheat" && a.State == rules.Firing {
			t.Fatalf("the overheat fired from %v: the rebuild restored the state from before the cool-down", a.StartsAt)
		}
	}
	if act := eng.Active("car-1"); len(act) != 1 {
		t.Errorf("car-1 active %v; want the overheat pending since %v", act, t0.Add(20*time.Second))
	}
}

// fakeRepairs records what verify-the-fix is handed.
type fakeRepairs struct {
	mu       sync.Mutex
	symptoms []string // vehicle/symptom@time
}

func (f *fakeRepairs) ObserveReport(context.Context, string, booking.CodeReport) error { return nil }
func (f *fakeRepairs) ObserveDriveCycle(_ context.Context, vehicle string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.symptoms = append(f.symptoms, fmt.Sprintf("%s/drive@%s", vehicle, at.UTC().Format(time.TimeOnly)))
	return nil
}
func (f *fakeRepairs) ObserveSymptom(_ context.Context, vehicle, symptom string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.symptoms = append(f.symptoms, fmt.Sprintf("%s/%s@%s", vehicle, symptom, at.UTC().Format(time.TimeOnly)))
	return nil
}

// An overheat that fires is handed to verify-the-fix as the car's
// symptom, once, from the instant it fired; a car's later hot seconds
// hand nothing more.
func TestFiringSymptomReachesVerify(t *testing.T) {
	s := openStores(t, filepath.Join(t.TempDir(), "pitwall.db"))
	ctx := context.Background()
	o, err := s.st.AddOwner(ctx, store.Owner{Email: "ana@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Ford"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.st.AddDevice(ctx, "car-1", v.ID); err != nil {
		t.Fatal(err)
	}
	rep := &fakeRepairs{}
	p, err := New(Deps{Store: s.st, Series: s.sr, Rules: rules.NewEngine(rules.Builtin()), Alerts: &fakeAlerts{}, Repairs: rep})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	if err := s.hot(t, p, "car-1", t0, 30, 118); err != nil {
		t.Fatal(err)
	}
	if err := s.hot(t, p, "car-1", t0.Add(30*time.Second), 5, 119); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s/overheat@%s", v.ID, t0.Add(20*time.Second).UTC().Format(time.TimeOnly))
	if len(rep.symptoms) != 1 || rep.symptoms[0] != want {
		t.Errorf("handed %v, want [%s]", rep.symptoms, want)
	}

	// The drive ends while it still overheats: verify-the-fix hears the
	// fault, then the drive, in that order.
	rep.symptoms = nil
	end := t0.Add(40 * time.Second)
	if err := p.Listen(ctx, []ingest.Record{{Device: "car-1", Kind: wire.KindEvent,
		Message: &wirepb.Event{TimeMs: end.UnixMilli(), Kind: &wirepb.Event_TripEnd{TripEnd: &wirepb.TripEnd{TripId: 1}}}}}); err != nil {
		t.Fatal(err)
	}
	at := end.UTC().Format(time.TimeOnly)
	if want := []string{v.ID + "/overheat@" + at, v.ID + "/drive@" + at}; !slices.Equal(rep.symptoms, want) {
		t.Errorf("at the trip's end: %v, want %v", rep.symptoms, want)
	}
}
