package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// What a server reads to rebuild a car's state: which cars spoke lately,
// and the report in force when its replay begins.
func TestReplayReads(t *testing.T) { onEach(t, testReplayReads) }

func testReplayReads(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	if err := s.SaveStatuses(ctx, []DeviceStatus{{Device: "car-old", Seen: t0.Add(-2 * time.Hour)}, {Device: "car-b", Seen: t0},
		{Device: "car-a", Seen: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SeenSince(ctx, t0); err != nil || strings.Join(got, ",") != "car-a,car-b" {
		t.Fatalf("seen since t0: %v, %v", got, err)
	}
	if err := s.SaveMessages(ctx, []Message{
		{Device: "car-a", Seq: 1, Kind: "dtc", Time: t0, Body: []byte("first")},
		{Device: "car-a", Seq: 2, Kind: "event", Time: t0.Add(time.Second), Body: []byte("event")},
		{Device: "car-a", Seq: 3, Kind: "dtc", Time: t0.Add(2 * time.Second), Body: []byte("second")},
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{t0.Add(2 * time.Second), "first"}, {t0.Add(3 * time.Second), "second"}} {
		m, err := s.MessageBefore(ctx, "car-a", "dtc", c.at)
		if err != nil || string(m.Body) != c.want || m.Seq == 0 || m.Time.IsZero() {
			t.Errorf("the report before %v: %q %+v, %v; want %q", c.at, m.Body, m, err, c.want)
		}
	}
	if _, err := s.MessageBefore(ctx, "car-a", "dtc", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("nothing before the first report: %v", err)
	}
}

// The notification log keeps what dedup needs and lets the rest go: rows
// older than the retention are deleted, but a firing alert's latest
// telling stays (it says when the alert repeats), as do newer rows.
func TestPruneNotifications(t *testing.T) { onEach(t, testPruneNotifications) }

func testPruneNotifications(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	alerts := []Alert{
		{Fingerprint: "still-firing", Device: "car-1", Rule: "overheat", Severity: "critical", State: "firing", StartsAt: t0, Updated: t0},
		{Fingerprint: "over", Device: "car-1", Rule: "low-fuel", Severity: "info", State: "resolved", StartsAt: t0, EndsAt: t0.Add(time.Hour), Updated: t0},
		{Fingerprint: "recent", Device: "car-1", Rule: "mil-on", Severity: "warning", State: "resolved", StartsAt: t0.Add(9 * 24 * time.Hour), Updated: t0},
	}
	if err := s.SaveAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	tell := func(fp string, starts time.Time, state string, nth int, at time.Time, sent bool) {
		t.Helper()
		ts := []Telling{{Notifier: "feed", Fingerprint: fp, StartsAt: starts, State: state, Nth: nth}}
		if _, err := s.ClaimNotifications(ctx, "server-a", ts, at, at.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if sent {
			if err := s.RecordNotifications(ctx, "server-a", ts, "id", at); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The overheat was told, then repeated twice; the low fuel told and
	// its end told; a claim lapsed unsent long ago; mil-on told lately.
	tell("still-firing", t0, "firing", 1, t0, true)
	tell("still-firing", t0, "firing", 2, t0.Add(4*time.Hour), true)
	tell("still-firing", t0, "firing", 3, t0.Add(8*time.Hour), true)
	tell("over", t0, "firing", 1, t0, true)
	tell("over", t0, "resolved", 1, t0.Add(time.Hour), true)
	tell("lapsed", t0, "firing", 1, t0, false)
	tell("recent", t0.Add(9*24*time.Hour), "firing", 1, t0.Add(9*24*time.Hour), true)

	n, err := s.PruneNotifications(ctx, t0.Add(10*24*time.Hour).Add(-week))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("pruned %d rows; want 5 (two of the overheat's, the low fuel's two, the lapsed claim)", n)
	}
	for _, c := range []struct {
		fp    string
		start time.Time
		state string
		nth   int
	}{{"still-firing", t0, "firing", 3}, {"over", t0, "firing", 0}, {"over", t0, "resolved", 0}, {"lapsed", t0, "firing", 0},
		{"recent", t0.Add(9 * 24 * time.Hour), "firing", 1}} {
		told, err := s.LastNotified(ctx, "feed", c.fp, c.start, c.state)
		if err != nil || told.Nth != c.nth {
			t.Errorf("%s %s after pruning: telling %d (%v); want %d", c.fp, c.state, told.Nth, err, c.nth)
		}
	}
	if n, err := s.PruneNotifications(ctx, t0.Add(10*24*time.Hour).Add(-week)); err != nil || n != 0 {
		t.Errorf("pruning again: %d, %v; want nothing left to prune", n, err)
	}
}
