package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

const coolant = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"

// fakeAlerts is an alert manager that keeps what it received.
type fakeAlerts struct {
	mu       sync.Mutex
	received []rules.Alert
	takenUp  []string
	forgot   []string
	fail     error
}

func (f *fakeAlerts) Receive(_ context.Context, in []rules.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.received = append(f.received, in...)
	return nil
}

func (f *fakeAlerts) TakeUp(_ context.Context, devices []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.takenUp = append(f.takenUp, devices...)
	return nil
}

func (f *fakeAlerts) Forget(devices []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, devices...)
}

// stores are one database and one series engine, shared by the
// pipelines of several servers.
type stores struct {
	st *store.Store
	sr series.Store
}

func openStores(t *testing.T, dsn string) stores {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sr, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(t.TempDir(), "series.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sr.Close() })
	return stores{st, sr}
}

// server is one server's pipeline on the shared stores.
func (s stores) server(t *testing.T) (*Pipeline, *rules.Engine, *fakeAlerts) {
	t.Helper()
	eng := rules.NewEngine(rules.Builtin())
	al := &fakeAlerts{}
	p, err := New(Deps{Store: s.st, Series: s.sr, Rules: eng, Alerts: al})
	if err != nil {
		t.Fatal(err)
	}
	return p, eng, al
}

// hot does what the ingest does with n coolant values a second from
// from: it stores them (series, status) and tells the pipeline.
func (s stores) hot(t *testing.T, p *Pipeline, device string, from time.Time, n int, value float64) error {
	t.Helper()
	ctx := context.Background()
	var recs []ingest.Record
	for i := range n {
		pt := series.Point{Device: device, Time: from.Add(time.Duration(i) * time.Second), Fields: []series.Field{{Signal: coolant, Value: value}}}
		if err := s.sr.Write(ctx, []series.Point{pt}); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ingest.Record{Device: device, Kind: wire.KindTelemetry, Message: &wirepb.Telemetry{}, Points: []series.Point{pt}})
	}
	last := from.Add(time.Duration(n-1) * time.Second)
	if err := s.st.SaveStatuses(ctx, []store.DeviceStatus{{Device: device, Online: true, Seen: last}}); err != nil {
		t.Fatal(err)
	}
	return p.Listen(ctx, recs)
}

// A car's server dies with its overheat pending (hot for 10 of the 20 s
// of its for:); the server that adopts the car rebuilds the pending timer
// from the stored series, and the overheat fires after 10 more hot
// seconds, from the instant it would have on the first server. The server
// that released the car holds nothing of it. On both engines.
func TestAdoptTakesOverAPendingFor(t *testing.T) {
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) {
			s := openStores(t, db.DSN)
			ctx := context.Background()
			t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
			a, engA, alA := s.server(t)
			if err := s.hot(t, a, "car-1", t0, 10, 115); err != nil {
				t.Fatal(err)
			}
			if len(alA.received) != 0 || len(engA.Active("car-1")) != 1 {
				t.Fatalf("before the move: received %v, active %v; want one pending overheat", alA.received, engA.Active("car-1"))
			}

			b, engB, alB := s.server(t)
			a.Release([]string{"car-1"})
			if err := b.Adopt(ctx, []string{"car-1"}); err != nil {
				t.Fatal(err)
			}
			if got := engA.Active("car-1"); len(got) != 0 {
				t.Errorf("the releasing server still holds %v", got)
			}
			if len(alA.forgot) != 1 || len(alB.takenUp) != 1 {
				t.Errorf("the alert managers: forgot %v, took up %v", alA.forgot, alB.takenUp)
			}
			if len(alB.received) != 0 || len(engB.Active("car-1")) != 1 {
				t.Fatalf("the rebuild raised %v, holds %v; want the overheat pending", alB.received, engB.Active("car-1"))
			}
			// The values the first server stored again (a redelivery) change nothing.
			if err := s.hot(t, b, "car-1", t0, 10, 115); err != nil {
				t.Fatal(err)
			}
			if err := s.hot(t, b, "car-1", t0.Add(10*time.Second), 15, 116); err != nil {
				t.Fatal(err)
			}
			if len(alB.received) != 1 || alB.received[0].Rule != "overheat" || alB.received[0].State != rules.Firing ||
				!alB.received[0].StartsAt.Equal(t0.Add(20*time.Second)) {
				t.Fatalf("after the move: %+v; want one overheat firing from %v", alB.received, t0.Add(20*time.Second))
			}
		})
	}
}

// A server that starts rebuilds the cars seen within the rules' horizon,
// and only those.
func TestStartRebuildsTheCarsSeenWithinTheHorizon(t *testing.T) {
	s := openStores(t, filepath.Join(t.TempDir(), "pitwall.db"))
	p, eng, _ := s.server(t)
	now := time.Now()
	if err := s.hot(t, p, "recent", now.Add(-time.Minute), 10, 115); err != nil {
		t.Fatal(err)
	}
	if err := s.hot(t, p, "long-gone", now.Add(-eng.Horizon()-time.Hour), 10, 115); err != nil {
		t.Fatal(err)
	}
	p2, eng2, al2 := s.server(t)
	if err := p2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(eng2.Active("recent")) != 1 || len(eng2.Active("long-gone")) != 0 {
		t.Errorf("after start: recent %v, long-gone %v; want the recent car's overheat pending alone", eng2.Active("recent"), eng2.Active("long-gone"))
	}
	if len(al2.takenUp) != 1 || al2.takenUp[0] != "recent" {
		t.Errorf("the alert manager took up %v", al2.takenUp)
	}
}

// Alerts the manager cannot store make Listen fail, saying how many; the
// rules went on all the same.
func TestListenReportsAlertsNotStored(t *testing.T) {
	s := openStores(t, filepath.Join(t.TempDir(), "pitwall.db"))
	p, _, al := s.server(t)
	down := errors.New("the database is down")
	al.fail = down
	err := s.hot(t, p, "car-1", time.Now().Add(-time.Minute), 25, 115)
	if !errors.Is(err, down) {
		t.Fatalf("Listen: %v; want the manager's error", err)
	}
}

// A clustered server adopts and releases by share: AdoptWhere rebuilds
// only the cars of its share seen within the horizon, ReleaseWhere drops
// only the cars of the share it gave up, and Start takes up nothing.
func TestSharesAdoptedAndReleased(t *testing.T) {
	s := openStores(t, filepath.Join(t.TempDir(), "pitwall.db"))
	ctx := context.Background()
	eng := rules.NewEngine(rules.Builtin())
	al := &fakeAlerts{}
	p, err := New(Deps{Store: s.st, Series: s.sr, Rules: eng, Alerts: al, Partitioned: true})
	if err != nil {
		t.Fatal(err)
	}
	writer, _, _ := s.server(t)
	from := time.Now().Add(-time.Minute)
	for _, d := range []string{"even-1", "even-2", "odd-1"} {
		if err := s.hot(t, writer, d, from, 10, 115); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if len(eng.Devices()) != 0 || len(al.takenUp) != 0 {
		t.Fatalf("a partitioned start took up %v (alerts %v); want nothing", eng.Devices(), al.takenUp)
	}
	even := func(d string) bool { return strings.HasPrefix(d, "even-") }
	if err := p.AdoptWhere(ctx, even); err != nil {
		t.Fatal(err)
	}
	got := eng.Devices()
	slices.Sort(got)
	if !slices.Equal(got, []string{"even-1", "even-2"}) || len(eng.Active("even-1")) != 1 {
		t.Fatalf("after adopting the even share: holds %v, even-1 active %v", got, eng.Active("even-1"))
	}
	if err := s.hot(t, p, "odd-1", from.Add(10*time.Second), 1, 115); err != nil {
		t.Fatal(err)
	}
	p.ReleaseWhere(even)
	if got := eng.Devices(); !slices.Equal(got, []string{"odd-1"}) {
		t.Errorf("after releasing the even share: holds %v; want odd-1 alone", got)
	}
	slices.Sort(al.forgot)
	if !slices.Equal(al.forgot, []string{"even-1", "even-2"}) {
		t.Errorf("the alert manager forgot %v", al.forgot)
	}
}
