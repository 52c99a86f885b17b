package alerting

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// servers are managers of several servers on one database, each with a
// notifier of the same name (one owner's feed, say), all on one clock.
type servers struct {
	st   *store.Store
	clk  *clock
	ms   []*Manager
	recs []*recorder
}

func newServers(t *testing.T, dsn string, n int, cfg Config) *servers {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o, _ := st.AddOwner(ctx, store.Owner{Email: "ana@example.com", Name: "Ana"})
	v, _ := st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Name: "the van"})
	if _, _, err := st.AddDevice(ctx, "car-1", v.ID); err != nil {
		t.Fatal(err)
	}
	s := &servers{st: st, clk: &clock{t: t0}}
	for range n {
		rec := &recorder{name: "feed"}
		s.recs = append(s.recs, rec)
		s.ms = append(s.ms, New(cfg, st, []Notifier{rec}, WithClock(s.clk.now)))
	}
	return s
}

// all runs f on every server at once.
func (s *servers) all(f func(m *Manager)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, m := range s.ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(m)
		}()
	}
	close(start)
	wg.Wait()
}

// told is what every server told, together, sorted.
func (s *servers) told() []string {
	var out []string
	for _, r := range s.recs {
		out = append(out, r.told()...)
	}
	sort.Strings(out)
	return out
}

// Three servers hold the same firing alert (each received it, or took
// it up from the store on start) and look at it at the same moment: the
// owner is told once, then once per repeat, and the end once.
func TestSeveralServersTellOnce(t *testing.T) {
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) {
			s := newServers(t, db.DSN, 3, Config{RepeatInterval: time.Hour})
			ctx := context.Background()
			hot := alert("overheat", rules.Critical, rules.Firing, t0)
			s.all(func(m *Manager) {
				if err := m.Receive(ctx, []rules.Alert{hot}); err != nil {
					t.Error(err)
				}
				m.flushDue(ctx)
			})
			want(t, s.told(), "overheat:firing")
			s.clk.add(30 * time.Minute)
			s.all(func(m *Manager) { m.Flush(ctx, "car-1") })
			want(t, s.told(), "overheat:firing")
			s.clk.add(31 * time.Minute)
			s.all(func(m *Manager) { m.Flush(ctx, "car-1") })
			want(t, s.told(), "overheat:firing", "overheat:firing")
			cool := hot
			cool.State, cool.EndsAt = rules.Resolved, t0.Add(time.Hour+time.Minute)
			// One server sees the end; the others learn it from the store.
			if err := s.ms[0].Receive(ctx, []rules.Alert{cool}); err != nil {
				t.Fatal(err)
			}
			s.all(func(m *Manager) { m.Flush(ctx, "car-1") })
			s.clk.add(2 * time.Hour)
			s.all(func(m *Manager) { m.Flush(ctx, "car-1") })
			want(t, s.told(), "overheat:firing", "overheat:firing", "overheat:resolved")
		})
	}
}

// A server that claimed a telling and died before it sent is waited for
// until its claim lapses; then another tells the owner.
func TestLapsedClaimIsTakenOver(t *testing.T) {
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) {
			s := newServers(t, db.DSN, 1, Config{})
			ctx := context.Background()
			hot := alert("overheat", rules.Critical, rules.Firing, t0)
			fp := Fingerprint(hot.Labels)
			if _, err := s.st.ClaimNotifications(ctx, "dead-server", []store.Telling{{Notifier: "feed", Fingerprint: fp, StartsAt: t0, State: "firing", Nth: 1}}, t0, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.ms[0].Receive(ctx, []rules.Alert{hot}); err != nil {
				t.Fatal(err)
			}
			s.ms[0].flushDue(ctx)
			want(t, s.told())
			s.clk.add(ClaimLease / 2)
			s.ms[0].Flush(ctx, "car-1")
			want(t, s.told())
			s.clk.add(ClaimLease)
			s.ms[0].flushDue(ctx)
			want(t, s.told(), "overheat:firing")
			if told, _ := s.st.LastNotified(ctx, "feed", fp, t0, "firing"); told.Nth != 1 || told.Pending {
				t.Fatalf("the log after the takeover: %+v", told)
			}
		})
	}
}

// A failed send gives its claim back at once: the next try, by any
// server, does not wait for the lease.
func TestFailedSendReleasesClaim(t *testing.T) {
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) {
			s := newServers(t, db.DSN, 2, Config{})
			ctx := context.Background()
			s.recs[0].fail = context.DeadlineExceeded
			hot := alert("overheat", rules.Critical, rules.Firing, t0)
			if err := s.ms[0].Receive(ctx, []rules.Alert{hot}); err != nil {
				t.Fatal(err)
			}
			s.ms[0].flushDue(ctx)
			want(t, s.told())
			s.clk.add(time.Second)
			s.ms[1].Flush(ctx, "car-1")
			want(t, s.told(), "overheat:firing")
		})
	}
}
