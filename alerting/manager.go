// Package alerting turns the rules' alerts into notifications an owner
// trusts, the way Prometheus Alertmanager does for servers, adapted to
// cars: each alert has a fingerprint from its labels; alerts are grouped
// per vehicle and told together; an alert is told once (and again only
// after the repeat interval while it still fires); an overheat inhibits
// the cooling warnings it explains; owners silence or snooze alerts and
// set quiet hours, which hold back all but critical alerts. Alerts and
// what was sent are kept in the store, so a restart neither loses a
// firing alert nor tells it twice.
package alerting

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// Store keeps alerts, the notification log, silences and who owns what;
// *store.Store is one. Several servers may share it: the log's claims
// decide which of them tells an alert.
type Store interface {
	SaveAlerts(ctx context.Context, alerts []store.Alert) error
	AlertsUpdatedSince(ctx context.Context, t time.Time) ([]store.Alert, error)
	Alerts(ctx context.Context, device string, firingOnly bool, limit int) ([]store.Alert, error)
	ClaimNotifications(ctx context.Context, claimer string, ts []store.Telling, now, lapsed time.Time) ([]store.Telling, error)
	RecordNotifications(ctx context.Context, claimer string, ts []store.Telling, id string, sent time.Time) error
	ReleaseNotifications(ctx context.Context, claimer string, ts []store.Telling) error
	LastNotified(ctx context.Context, notifier, fingerprint string, starts time.Time, state string) (store.Told, error)
	Silences(ctx context.Context, device string, t time.Time) ([]store.Silence, error)
	AddSilence(ctx context.Context, s store.Silence) (store.Silence, error)
	RecipientOfDevice(ctx context.Context, device string) (store.Recipient, error)
}

// Notifier tells someone about a group of alerts.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, n *Notification) error
}

// Notification is what a notifier sends: one vehicle's alerts that are
// new, repeated or over.
type Notification struct {
	// ID is the same for the same content, so a receiver can tell a
	// resend (after a crash between sending and logging) from news.
	ID        string
	Device    string
	Vehicle   string
	Recipient store.Recipient // zero when the device is on no owner's vehicle
	Firing    []store.Alert
	Resolved  []store.Alert
	Time      time.Time
}

// Config tunes the timing.
type Config struct {
	// GroupWait delays the first notification of a vehicle's alerts so
	// that alerts starting together go out together (0 by default:
	// at once). Critical alerts never wait.
	GroupWait time.Duration
	// GroupInterval is how long a vehicle's later changes wait after a
	// notification (30 s by default).
	GroupInterval time.Duration
	// RepeatInterval is how long before a still-firing alert is told
	// again (4 h by default).
	RepeatInterval time.Duration
	Inhibits       []rules.Inhibit
}

// Manager runs the alert pipeline.
type Manager struct {
	cfg       Config
	store     Store
	notifiers []Notifier
	log       *slog.Logger
	now       func() time.Time

	id string // this manager's name in the notification log's claims

	mu     sync.Mutex
	alerts map[string]*store.Alert // by fingerprint: firing, and resolved ones not yet done with
	groups map[string]*group       // by device
	sent   map[sentKey]store.Told  // what was told, as the store's log says
	wake   chan struct{}
}

// ClaimLease is how long a claim on a telling holds without the send
// being recorded: past it, the server that claimed is taken to have died
// mid-send and another tells the alert (with the same notification id,
// so a receiver can drop the duplicate). It is longer than a notifier's
// one-minute timeout.
const ClaimLease = 2 * time.Minute

type group struct {
	due       time.Time // when to look at the group; zero: nothing to do
	lastFlush time.Time
	failures  int
}

type sentKey struct {
	notifier, fingerprint string
	starts                int64
	state                 string
}

// Option changes a Manager.
type Option func(*Manager)

// WithLogger sends the manager's logs to l.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithClock sets the manager's clock.
func WithClock(now func() time.Time) Option { return func(m *Manager) { m.now = now } }

// New makes a manager that tells notifiers.
func New(cfg Config, st Store, notifiers []Notifier, opts ...Option) *Manager {
	if cfg.GroupInterval == 0 {
		cfg.GroupInterval = 30 * time.Second
	}
	if cfg.RepeatInterval == 0 {
		cfg.RepeatInterval = 4 * time.Hour
	}
	m := &Manager{cfg: cfg, store: st, notifiers: notifiers, log: slog.New(slog.DiscardHandler), now: time.Now,
		alerts: map[string]*store.Alert{}, groups: map[string]*group{}, sent: map[sentKey]store.Told{}, wake: make(chan struct{}, 1), id: claimerID()}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Fingerprint identifies an alert by its labels.
func Fingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Receive takes the rules' alerts, stores them durably, and schedules
// their vehicles' notifications. An error means they were not stored.
func (m *Manager) Receive(ctx context.Context, in []rules.Alert) error {
	if len(in) == 0 {
		return nil
	}
	now := m.now()
	recs := make([]store.Alert, 0, len(in))
	for _, a := range in {
		recs = append(recs, store.Alert{Fingerprint: Fingerprint(a.Labels), Device: a.Device, Vehicle: a.Vehicle, Rule: a.Rule,
			Severity: string(a.Severity), Labels: a.Labels, State: string(a.State), StartsAt: a.StartsAt, EndsAt: a.EndsAt,
			Summary: a.Summary, Values: a.Values, Codes: a.Codes, OneShot: a.OneShot, SendResolved: a.SendResolved, Updated: now})
	}
	if err := m.store.SaveAlerts(ctx, recs); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	m.mu.Lock()
	for i := range recs {
		r := recs[i]
		m.alerts[r.Fingerprint] = &r
		m.scheduleLocked(r.Device, now, r.Severity == string(rules.Critical) && r.State == string(rules.Firing))
	}
	m.mu.Unlock()
	m.poke()
	return nil
}

// scheduleLocked sets when a device's group is looked at next.
func (m *Manager) scheduleLocked(device string, now time.Time, urgent bool) {
	g := m.groups[device]
	if g == nil {
		g = &group{}
		m.groups[device] = g
	}
	at := now.Add(m.cfg.GroupWait)
	if !g.lastFlush.IsZero() {
		at = later(at, g.lastFlush.Add(m.cfg.GroupInterval))
	}
	if urgent {
		at = now
	}
	if g.due.IsZero() || at.Before(g.due) {
		g.due = at
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run sends notifications until ctx ends. It first takes up the alerts
// the store holds (a restart), telling what was not told yet.
func (m *Manager) Run(ctx context.Context) error {
	now := m.now()
	recs, err := m.store.AlertsUpdatedSince(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return fmt.Errorf("alerting: loading alerts: %w", err)
	}
	m.mu.Lock()
	for i := range recs {
		r := recs[i]
		if _, ok := m.alerts[r.Fingerprint]; !ok {
			m.alerts[r.Fingerprint] = &r
			m.scheduleLocked(r.Device, now, true)
		}
	}
	m.mu.Unlock()
	if len(recs) > 0 {
		m.log.Info("alerting: took up stored alerts", "alerts", len(recs))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.wake:
		}
		next := m.flushDue(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = max(0, next.Sub(m.now()))
		}
		timer.Reset(wait)
	}
}

// flushDue looks at every group that is due and returns when the next is.
func (m *Manager) flushDue(ctx context.Context) time.Time {
	now := m.now()
	var due []string
	m.mu.Lock()
	for d, g := range m.groups {
		if !g.due.IsZero() && !g.due.After(now) {
			due = append(due, d)
			g.due = time.Time{}
		}
	}
	m.mu.Unlock()
	sort.Strings(due)
	for _, d := range due {
		m.flush(ctx, d, now)
	}
	var next time.Time
	m.mu.Lock()
	for _, g := range m.groups {
		if !g.due.IsZero() && (next.IsZero() || g.due.Before(next)) {
			next = g.due
		}
	}
	m.mu.Unlock()
	return next
}

// Flush looks at one vehicle's alerts now, for tests and tools.
func (m *Manager) Flush(ctx context.Context, device string) { m.flush(ctx, device, m.now()) }

// flush decides what each notifier must be told about a device's alerts
// and tells it. The device's alerts are read again from the store first:
// another server may have changed them.
func (m *Manager) flush(ctx context.Context, device string, now time.Time) {
	m.refresh(ctx, device, now)
	m.mu.Lock()
	var alerts []store.Alert
	for _, a := range m.alerts {
		if a.Device == device {
			alerts = append(alerts, *a)
		}
	}
	g := m.groups[device]
	m.mu.Unlock()
	sort.Slice(alerts, func(i, j int) bool {
		if !alerts[i].StartsAt.Equal(alerts[j].StartsAt) {
			return alerts[i].StartsAt.Before(alerts[j].StartsAt)
		}
		return alerts[i].Fingerprint < alerts[j].Fingerprint
	})
	silences, err := m.store.Silences(ctx, device, now)
	if err != nil {
		m.log.Warn("alerting: reading silences", "device", device, "err", err)
	}
	rcpt, err := m.store.RecipientOfDevice(ctx, device)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("alerting: finding the owner", "device", device, "err", err)
	}
	quiet, quietEnd := inQuietHours(rcpt.Quiet, now)
	var retry, nextRepeat, deferTo time.Time
	failed, sent := false, false
	for _, n := range m.notifiers {
		note := &Notification{Device: device, Recipient: rcpt, Time: now}
		var tellings []store.Telling
		tell := func(a store.Alert, state string, nth int) {
			tellings = append(tellings, store.Telling{Notifier: n.Name(), Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, State: state, Nth: nth})
			if state == string(rules.Firing) {
				note.Firing = append(note.Firing, a)
			} else {
				note.Resolved = append(note.Resolved, a)
			}
		}
		for _, a := range alerts {
			if note.Vehicle == "" {
				note.Vehicle = a.Vehicle
			}
			if silenced(a, silences) || m.inhibited(a, alerts) {
				continue
			}
			firing := a.State == string(rules.Firing) || a.OneShot
			told := m.told(ctx, n.Name(), a, string(rules.Firing))
			var state string
			switch {
			case firing && !(a.OneShot && a.State == string(rules.Resolved) && told.Nth > 0):
				state = string(rules.Firing)
			case a.State == string(rules.Resolved) && a.SendResolved && told.Nth > 0:
				state, told = string(rules.Resolved), m.told(ctx, n.Name(), a, string(rules.Resolved))
			default:
				continue
			}
			repeats := state == string(rules.Firing) && a.State == string(rules.Firing) && !a.OneShot
			nth, next := m.nextTelling(told, repeats, now)
			if nth == 0 {
				nextRepeat = earliest(nextRepeat, next)
				continue
			}
			if quiet && a.Severity != string(rules.Critical) {
				deferTo = quietEnd
				continue
			}
			tell(a, state, nth)
		}
		if len(tellings) == 0 {
			continue
		}
		// Claim before sending: what another server holds is its to tell.
		claimed, err := m.store.ClaimNotifications(ctx, m.id, tellings, now, now.Add(-ClaimLease))
		if err != nil {
			failed = true
			m.log.Warn("alerting: claiming a notification; it will be tried again", "notifier", n.Name(), "device", device, "err", err)
			continue
		}
		if len(claimed) < len(tellings) {
			m.keepClaimed(note, tellings, claimed)
			// Look again once the other server's claim could have lapsed.
			nextRepeat = earliest(nextRepeat, now.Add(ClaimLease))
		}
		if len(claimed) == 0 {
			continue
		}
		note.ID = notificationID(n.Name(), note, claimed)
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = n.Notify(sctx, note)
		cancel()
		if err != nil {
			failed = true
			m.log.Warn("alerting: a notification failed; it will be tried again", "notifier", n.Name(), "device", device, "err", err)
			if err := m.store.ReleaseNotifications(context.WithoutCancel(ctx), m.id, claimed); err != nil {
				m.log.Warn("alerting: giving back a claim; it lapses by itself", "notifier", n.Name(), "err", err, "lease", ClaimLease)
			}
			continue
		}
		sent = true
		if repeat := m.logSent(ctx, note, claimed, now); !repeat.IsZero() {
			nextRepeat = earliest(nextRepeat, repeat)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if g == nil {
		return
	}
	if sent {
		g.lastFlush = now // group_interval counts from the last notification
	}
	if failed {
		g.failures++
		retry = now.Add(min(time.Duration(1<<min(g.failures, 8))*5*time.Second, 10*time.Minute))
	} else {
		g.failures = 0
	}
	for _, t := range []time.Time{retry, nextRepeat, deferTo} {
		if !t.IsZero() && (g.due.IsZero() || t.Before(g.due)) {
			g.due = t
		}
	}
	// Forget what is over and told.
	for fp, a := range m.alerts {
		if a.Device == device && a.State == string(rules.Resolved) && now.Sub(a.Updated) > time.Hour {
			delete(m.alerts, fp)
		}
	}
}

// refresh takes the store's newer versions of a device's alerts: another
// server sharing the database may have received them.
func (m *Manager) refresh(ctx context.Context, device string, now time.Time) {
	stored, err := m.store.Alerts(ctx, device, false, 500)
	if err != nil {
		m.log.Warn("alerting: reading a device's alerts", "device", device, "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range stored {
		a := stored[i]
		cur, ok := m.alerts[a.Fingerprint]
		switch {
		case ok && a.Updated.Before(cur.Updated):
		case !ok && a.State != string(rules.Firing) && now.Sub(a.Updated) > time.Hour:
		default:
			m.alerts[a.Fingerprint] = &a
		}
	}
}

// nextTelling says which telling is due after the latest, told: the
// first, a repeat once the repeat interval passed (when repeats is set),
// or the same one again when its claim lapsed unsent. 0 is none yet, and
// next is when to look again (zero: never).
func (m *Manager) nextTelling(told store.Told, repeats bool, now time.Time) (nth int, next time.Time) {
	switch {
	case told.Nth == 0:
		return 1, time.Time{}
	case told.Pending && now.Sub(told.At) >= ClaimLease:
		return told.Nth, time.Time{}
	case told.Pending:
		return 0, told.At.Add(ClaimLease)
	case repeats && now.Sub(told.At) >= m.cfg.RepeatInterval:
		return told.Nth + 1, time.Time{}
	case repeats:
		return 0, told.At.Add(m.cfg.RepeatInterval)
	}
	return 0, time.Time{}
}

// keepClaimed leaves in a note only the alerts whose tellings this
// manager claimed, and forgets what it knew of the others so that the
// log is read again next time.
func (m *Manager) keepClaimed(note *Notification, tellings, claimed []store.Telling) {
	got := map[store.Telling]bool{}
	for _, t := range claimed {
		got[t] = true
	}
	var firing, resolved []store.Alert
	m.mu.Lock()
	for _, t := range tellings {
		if !got[t] {
			delete(m.sent, sentKey{t.Notifier, t.Fingerprint, t.StartsAt.UnixMilli(), t.State})
		}
	}
	m.mu.Unlock()
	for _, a := range note.Firing {
		if slices.ContainsFunc(claimed, func(t store.Telling) bool { return t.Fingerprint == a.Fingerprint && t.State == string(rules.Firing) }) {
			firing = append(firing, a)
		}
	}
	for _, a := range note.Resolved {
		if slices.ContainsFunc(claimed, func(t store.Telling) bool { return t.Fingerprint == a.Fingerprint && t.State == string(rules.Resolved) }) {
			resolved = append(resolved, a)
		}
	}
	note.Firing, note.Resolved = firing, resolved
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// told is the latest telling by a notifier of an alert's start in a
// state: from memory, else from the store's log.
func (m *Manager) told(ctx context.Context, notifier string, a store.Alert, state string) store.Told {
	k := sentKey{notifier, a.Fingerprint, a.StartsAt.UnixMilli(), state}
	m.mu.Lock()
	t, ok := m.sent[k]
	m.mu.Unlock()
	if ok {
		return t
	}
	t, err := m.store.LastNotified(ctx, notifier, a.Fingerprint, a.StartsAt, state)
	if err != nil {
		m.log.Warn("alerting: reading the notification log", "err", err)
	}
	if t.Nth > 0 && !t.Pending {
		m.mu.Lock()
		m.sent[k] = t
		m.mu.Unlock()
	}
	return t
}

// logSent records the claimed tellings of a sent notification and
// returns when its firing alerts repeat.
func (m *Manager) logSent(ctx context.Context, n *Notification, claimed []store.Telling, now time.Time) time.Time {
	var repeat time.Time
	m.mu.Lock()
	for _, t := range claimed {
		m.sent[sentKey{t.Notifier, t.Fingerprint, t.StartsAt.UnixMilli(), t.State}] = store.Told{Nth: t.Nth, At: now, ID: n.ID}
		if t.State == string(rules.Firing) {
			for _, a := range n.Firing {
				if a.Fingerprint == t.Fingerprint && a.State == string(rules.Firing) && !a.OneShot {
					repeat = earliest(repeat, now.Add(m.cfg.RepeatInterval))
				}
			}
		}
	}
	m.mu.Unlock()
	if err := m.store.RecordNotifications(context.WithoutCancel(ctx), m.id, claimed, n.ID, now); err != nil {
		m.log.Error("alerting: recording a sent notification; its claim lapses and it may be sent again", "err", err, "lease", ClaimLease)
	}
	return repeat
}

// notificationID hashes what a notification says and which telling of
// each alert it is: a resend of the same tellings (a lapsed claim taken
// over) has the same id, a repeat a new one.
func notificationID(notifier string, n *Notification, ts []store.Telling) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s", notifier, n.Device)
	for _, t := range ts {
		fmt.Fprintf(h, "|%s:%s:%d:%d", t.State, t.Fingerprint, t.StartsAt.UnixMilli(), t.Nth)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// claimerID names a manager in the notification log: the host and a
// random part, so that two processes on one host differ.
func claimerID() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// silenced reports whether a silence in force matches the alert.
func silenced(a store.Alert, silences []store.Silence) bool {
	for _, s := range silences {
		if matches(a.Labels, s.Matchers) {
			return true
		}
	}
	return false
}

func matches(labels, matchers map[string]string) bool {
	for k, v := range matchers {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// inhibited reports whether a firing alert mutes a: the source matchers
// match it, the target matchers match a, they agree on the Equal labels,
// and a is not itself a source.
func (m *Manager) inhibited(a store.Alert, all []store.Alert) bool {
	for _, in := range m.cfg.Inhibits {
		if !matches(a.Labels, in.Target) || matches(a.Labels, in.Source) {
			continue
		}
		for _, s := range all {
			if s.State != string(rules.Firing) || s.Fingerprint == a.Fingerprint || !matches(s.Labels, in.Source) {
				continue
			}
			same := true
			for _, l := range in.Equal {
				same = same && s.Labels[l] == a.Labels[l]
			}
			if same {
				return true
			}
		}
	}
	return false
}

// inQuietHours reports whether t falls in an owner's quiet hours, and
// when they end.
func inQuietHours(q store.QuietHours, t time.Time) (bool, time.Time) {
	if q.Start == "" || q.End == "" {
		return false, time.Time{}
	}
	loc, err := time.LoadLocation(q.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	start, err1 := time.Parse("15:04", q.Start)
	end, err2 := time.Parse("15:04", q.End)
	if err1 != nil || err2 != nil {
		return false, time.Time{}
	}
	lt := t.In(loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	at := func(d time.Time, hm time.Time) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), hm.Hour(), hm.Minute(), 0, 0, loc)
	}
	s, e := at(day, start), at(day, end)
	if !s.Before(e) { // across midnight: 22:00 to 07:00
		if lt.Before(e) {
			return true, e
		}
		if !lt.Before(s) {
			return true, at(day.AddDate(0, 0, 1), end)
		}
		return false, time.Time{}
	}
	if !lt.Before(s) && lt.Before(e) {
		return true, e
	}
	return false, time.Time{}
}

// Snooze holds back one alert of a device for d: a silence whose matchers
// are the alert's labels.
func (m *Manager) Snooze(ctx context.Context, fingerprint string, d time.Duration, by string) (store.Silence, error) {
	m.mu.Lock()
	a, ok := m.alerts[fingerprint]
	var labels map[string]string
	var device string
	if ok {
		labels, device = a.Labels, a.Device
	}
	m.mu.Unlock()
	if !ok {
		return store.Silence{}, fmt.Errorf("alerting: no alert %s to snooze", fingerprint)
	}
	if d <= 0 || d > 30*24*time.Hour {
		return store.Silence{}, fmt.Errorf("alerting: snooze for %v: want up to 30 days", d)
	}
	now := m.now()
	return m.store.AddSilence(ctx, store.Silence{Device: device, Matchers: labels, StartsAt: now, EndsAt: now.Add(d), CreatedBy: by, Comment: "snoozed"})
}
