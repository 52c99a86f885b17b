package alerting

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// recorder is a notifier that keeps what it was told, and can fail.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []*Notification
	fail error
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, n *Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, n)
	return nil
}

// told lists what was told, as "rule:state" per notification.
func (r *recorder) told() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		var parts []string
		for _, a := range n.Firing {
			parts = append(parts, a.Rule+":firing")
		}
		for _, a := range n.Resolved {
			parts = append(parts, a.Rule+":resolved")
		}
		sort.Strings(parts)
		out = append(out, strings.Join(parts, "+"))
	}
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// rig is a manager on a real store, with an owner, a vehicle and a device.
type rig struct {
	m     *Manager
	st    *store.Store
	path  string
	clk   *clock
	rec   *recorder
	owner store.Owner
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pitwall.db")
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o, _ := st.AddOwner(context.Background(), store.Owner{Email: "ana@example.com", Name: "Ana"})
	v, _ := st.AddVehicle(context.Background(), store.Vehicle{OwnerID: o.ID, Name: "the van"})
	if _, _, err := st.AddDevice(context.Background(), "car-1", v.ID); err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, path: path, clk: &clock{t: t0}, rec: &recorder{name: "rec"}, owner: o}
	r.m = New(cfg, st, []Notifier{r.rec}, WithClock(r.clk.now))
	return r
}

func alert(rule string, sev rules.Severity, state rules.State, starts time.Time, labels ...string) rules.Alert {
	l := map[string]string{"alertname": rule, "device": "car-1", "severity": string(sev)}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	a := rules.Alert{Rule: rule, Severity: sev, Labels: l, Device: "car-1", State: state, StartsAt: starts, Summary: rule + " summary", SendResolved: true}
	if state == rules.Resolved {
		a.EndsAt = starts.Add(time.Minute)
	}
	return a
}

// receive hands alerts over and runs whatever is due.
func (r *rig) receive(t *testing.T, as ...rules.Alert) {
	t.Helper()
	if err := r.m.Receive(context.Background(), as); err != nil {
		t.Fatal(err)
	}
	r.m.flushDue(context.Background())
}

func (r *rig) advance(d time.Duration) {
	r.clk.add(d)
	r.m.flushDue(context.Background())
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Fatalf("told %q, want %q", got, want)
	}
}

// Alerts of one vehicle that start together go out together; a repeated
// firing is not told again until the repeat interval; the end is told
// once.
func TestGroupDedupRepeatResolve(t *testing.T) {
	r := newRig(t, Config{GroupWait: 10 * time.Second, GroupInterval: time.Minute, RepeatInterval: time.Hour})
	r.receive(t, alert("low-fuel", rules.Info, rules.Firing, t0))
	r.advance(5 * time.Second)
	r.receive(t, alert("mil-on", rules.Warning, rules.Firing, t0.Add(5*time.Second)))
	want(t, r.rec.told()) // still waiting for the group
	r.advance(5 * time.Second)
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing")
	if n := r.rec.got[0]; n.Recipient.Owner.Email != "ana@example.com" || n.ID == "" || len(n.Firing) != 2 {
		t.Fatalf("notification %+v", n)
	}
	r.receive(t, alert("low-fuel", rules.Info, rules.Firing, t0)) // the same again
	r.advance(2 * time.Minute)
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing")
	r.receive(t, alert("low-fuel", rules.Info, rules.Resolved, t0))
	r.advance(time.Minute)
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing", "low-fuel:resolved")
	r.advance(time.Hour)
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing", "low-fuel:resolved", "mil-on:firing")
}

// A critical alert does not wait for the group.
func TestCriticalAtOnce(t *testing.T) {
	r := newRig(t, Config{GroupWait: time.Minute})
	r.receive(t, alert("overheat", rules.Critical, rules.Firing, t0, "system", "cooling"))
	want(t, r.rec.told(), "overheat:firing")
}

// An overheat inhibits the cooling warnings it explains, not itself and
// not other systems.
func TestInhibition(t *testing.T) {
	r := newRig(t, Config{Inhibits: rules.Builtin().Inhibits})
	r.receive(t,
		alert("overheat", rules.Critical, rules.Firing, t0, "system", "cooling"),
		alert("coolant-warms-slowly", rules.Warning, rules.Firing, t0, "system", "cooling"),
		alert("low-fuel", rules.Info, rules.Firing, t0, "system", "fuel"))
	want(t, r.rec.told(), "low-fuel:firing+overheat:firing")
	// Once the overheat is over, the cooling warning still firing is told.
	r.receive(t, alert("overheat", rules.Critical, rules.Resolved, t0, "system", "cooling"))
	r.advance(time.Minute)
	want(t, r.rec.told(), "low-fuel:firing+overheat:firing", "coolant-warms-slowly:firing+overheat:resolved")
}

// A silence holds matching alerts back while it lasts.
func TestSilence(t *testing.T) {
	r := newRig(t, Config{})
	if _, err := r.st.AddSilence(context.Background(), store.Silence{Device: "car-1", Matchers: map[string]string{"alertname": "low-fuel"},
		StartsAt: t0, EndsAt: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r.receive(t, alert("low-fuel", rules.Info, rules.Firing, t0), alert("mil-on", rules.Warning, rules.Firing, t0))
	want(t, r.rec.told(), "mil-on:firing")
	r.clk.add(3 * time.Hour)
	r.m.Flush(context.Background(), "car-1")
	want(t, r.rec.told(), "mil-on:firing", "low-fuel:firing")
}

// A snoozed alert is held back until the snooze ends; the others are not.
func TestSnooze(t *testing.T) {
	r := newRig(t, Config{RepeatInterval: time.Hour})
	r.receive(t, alert("low-fuel", rules.Info, rules.Firing, t0), alert("mil-on", rules.Warning, rules.Firing, t0))
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing")
	low := Fingerprint(alert("low-fuel", rules.Info, rules.Firing, t0).Labels)
	if _, err := r.m.Snooze(context.Background(), low, 3*time.Hour, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Snooze(context.Background(), "nope", time.Hour, "ana"); err == nil {
		t.Fatal("snoozed an unknown alert")
	}
	r.advance(time.Hour) // both would repeat; only mil-on does
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing", "mil-on:firing")
	r.advance(2*time.Hour + time.Minute)
	want(t, r.rec.told(), "low-fuel:firing+mil-on:firing", "mil-on:firing", "low-fuel:firing+mil-on:firing")
}

// In quiet hours only critical alerts go out; the rest wait for the end.
func TestQuietHours(t *testing.T) {
	r := newRig(t, Config{RepeatInterval: 24 * time.Hour})
	if err := r.st.SetQuietHours(context.Background(), r.owner.ID, store.QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	night := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC) // 00:30 in Paris
	r.clk.t = night
	r.receive(t, alert("low-fuel", rules.Info, rules.Firing, night), alert("overheat", rules.Critical, rules.Firing, night))
	want(t, r.rec.told(), "overheat:firing")
	r.advance(5 * time.Hour) // 05:30 in Paris
	want(t, r.rec.told(), "overheat:firing")
	r.advance(90 * time.Minute) // 07:00
	want(t, r.rec.told(), "overheat:firing", "low-fuel:firing")
}

// A failing notifier is tried again later; the others are not held up.
func TestNotifierFailure(t *testing.T) {
	r := newRig(t, Config{})
	other := &recorder{name: "other"}
	r.m.notifiers = append(r.m.notifiers, other)
	r.rec.fail = errors.New("smtp down")
	r.receive(t, alert("mil-on", rules.Warning, rules.Firing, t0))
	want(t, other.told(), "mil-on:firing")
	want(t, r.rec.told())
	r.rec.fail = nil
	r.advance(time.Second)
	want(t, r.rec.told())
	r.advance(15 * time.Second)
	want(t, r.rec.told(), "mil-on:firing")
	want(t, other.told(), "mil-on:firing")
}

// One-shot alerts (an event, a new code) are told once and their end is
// never told.
func TestOneShot(t *testing.T) {
	r := newRig(t, Config{})
	a := alert("new-code", rules.Info, rules.Firing, t0)
	a.OneShot, a.SendResolved = true, false
	b := a
	b.State, b.EndsAt = rules.Resolved, t0
	r.receive(t, a, b)
	r.advance(5 * time.Hour)
	want(t, r.rec.told(), "new-code:firing")
}

// A restart neither loses a firing alert nor tells one twice: a new
// manager on the same store tells what the old one had not, and nothing
// the old one had.
func TestRestart(t *testing.T) {
	r := newRig(t, Config{})
	r.receive(t, alert("mil-on", rules.Warning, rules.Firing, t0))
	want(t, r.rec.told(), "mil-on:firing")
	r.rec.fail = errors.New("down")
	r.receive(t, alert("low-fuel", rules.Info, rules.Firing, t0.Add(time.Second)))
	want(t, r.rec.told(), "mil-on:firing")

	// The process dies here; a new one starts on the same database.
	rec2 := &recorder{name: "rec"}
	m2 := New(Config{}, r.st, []Notifier{rec2}, WithClock(r.clk.now))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m2.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec2.told()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	want(t, rec2.told(), "low-fuel:firing")
}

func TestQuietHoursMath(t *testing.T) {
	q := store.QuietHours{Start: "22:00", End: "07:00", TimeZone: "UTC"}
	for _, c := range []struct {
		at    string
		quiet bool
		end   string
	}{
		{"2026-11-20T21:59:00Z", false, ""},
		{"2026-11-20T22:00:00Z", true, "2026-11-21T07:00:00Z"},
		{"2026-11-21T03:00:00Z", true, "2026-11-21T07:00:00Z"},
		{"2026-11-21T07:00:00Z", false, ""},
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		quiet, end := inQuietHours(q, at)
		if quiet != c.quiet || (c.end != "" && end.UTC().Format(time.RFC3339) != c.end) {
			t.Errorf("%s: quiet %v until %v", c.at, quiet, end)
		}
	}
	day := store.QuietHours{Start: "12:00", End: "14:00", TimeZone: "UTC"}
	if q, _ := inQuietHours(day, time.Date(2026, 1, 1, 13, 0, 0, 0, time.UTC)); !q {
		t.Error("13:00 is within 12:00-14:00")
	}
	if q, _ := inQuietHours(store.QuietHours{}, t0); q {
		t.Error("no quiet hours set")
	}
}

// A manager stopped while it is still starting (loading the stored
// alerts) ends without an error: a server shut down at once is no fault.
func TestRunStoppedWhileStarting(t *testing.T) {
	r := newRig(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
