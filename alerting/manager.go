// Package alerting turns the rules' alerts into notifications an owner
// trusts, the way Prometheus Alertmanager does for servers, adapted to
// cars: each alert has a fingerprint from its labels; alerts are grouped
// per vehicle and told together; an alert is told once (and again only
// after the repeat interval while it still fires); an overheat inhibits
// the cooling warnings it explains; owners silence or snooze alerts and
// set quiet hours, which hold back all but critical alerts.
//
// Telling a vehicle's alerts to one notifier is a chain of stages, as in
// Alertmanager's notify pipeline: mute (silences, inhibition, quiet
// hours) → dedup against the notification log, claiming what is due →
// send → record. Alerts and the notification log are kept in the shared
// database, so a restart neither loses a firing alert nor tells it
// twice, and several servers tell each alert once; the log's old rows
// are deleted after Config.LogRetention.
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
	LogStore
	SaveAlerts(ctx context.Context, alerts []store.Alert) error
	AlertsUpdatedSince(ctx context.Context, t time.Time) ([]store.Alert, error)
	Alerts(ctx context.Context, device string, firingOnly bool, limit int) ([]store.Alert, error)
	Silences(ctx context.Context, device string, t time.Time) ([]store.Silence, error)
	AddSilence(ctx context.Context, s store.Silence) (store.Silence, error)
	RecipientOfDevice(ctx context.Context, device string) (store.Recipient, error)
}

var _ Store = (*store.Store)(nil)

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
	Firing    []Alert
	Resolved  []Alert
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
	// LogRetention is how long the notification log keeps a telling
	// (7 days by default, at least MinLogRetention): older rows are
	// deleted hourly, but for each firing alert the latest telling of
	// its start, which says when it repeats.
	LogRetention time.Duration
	Inhibits     []rules.Inhibit
}

// MinLogRetention is the shortest LogRetention: a restarted manager
// looks again at the alerts of the last day, and must still find what
// it told of them.
const MinLogRetention = 48 * time.Hour

// NotifyTimeout bounds one notifier's send.
const NotifyTimeout = time.Minute

// Manager runs the alert lifecycle: it keeps each vehicle's alerts, and
// when a vehicle's group falls due tells each notifier through the chain
// of stages.
type Manager struct {
	cfg       Config
	store     Store
	notifiers []Notifier
	log       *slog.Logger
	now       func() time.Time
	nflog     *NotificationLog
	stages    Chain

	mu     sync.Mutex
	alerts map[string]*Alert // by fingerprint: firing, and resolved ones not yet done with
	groups map[string]*group // by device
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
	if cfg.LogRetention == 0 {
		cfg.LogRetention = 7 * 24 * time.Hour
	}
	cfg.LogRetention = max(cfg.LogRetention, MinLogRetention)
	m := &Manager{cfg: cfg, store: st, notifiers: notifiers, log: slog.New(slog.DiscardHandler), now: time.Now,
		alerts: map[string]*Alert{}, groups: map[string]*group{}, wake: make(chan struct{}, 1)}
	for _, o := range opts {
		o(m)
	}
	m.nflog = NewNotificationLog(st, claimerID(), m.log)
	m.stages = Chain{
		MuteStage{Silenced, Inhibitor(cfg.Inhibits), Quiet},
		DedupStage{Log: m.nflog, Repeat: cfg.RepeatInterval},
		SendStage{Log: m.nflog, Timeout: NotifyTimeout},
		RecordStage{Log: m.nflog, Repeat: cfg.RepeatInterval},
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
	recs := make([]Alert, 0, len(in))
	rows := make([]store.Alert, 0, len(in))
	for _, a := range in {
		x := fromRules(a, now)
		recs, rows = append(recs, x), append(rows, x.Stored())
	}
	if err := m.store.SaveAlerts(ctx, rows); err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	m.mu.Lock()
	for i := range recs {
		r := recs[i]
		m.alerts[r.Fingerprint] = &r
		m.scheduleLocked(r.Device, now, r.Critical() && r.Firing())
	}
	m.mu.Unlock()
	m.poke()
	return nil
}

// TakeUp makes the manager answer for devices another server answered
// for: it reads their stored alerts and looks at those it must tell at
// once (what the other server stored and had not told yet).
func (m *Manager) TakeUp(ctx context.Context, devices []string) error {
	now := m.now()
	var errs []error
	for _, d := range devices {
		n, err := m.load(ctx, d, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n > 0 {
			m.mu.Lock()
			m.scheduleLocked(d, now, true)
			m.mu.Unlock()
		}
	}
	m.poke()
	return errors.Join(errs...)
}

// Forget drops what the manager holds of devices another server now
// answers for.
func (m *Manager) Forget(devices []string) {
	gone := map[string]bool{}
	for _, d := range devices {
		gone[d] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for fp, a := range m.alerts {
		if gone[a.Device] {
			delete(m.alerts, fp)
		}
	}
	for _, d := range devices {
		delete(m.groups, d)
	}
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
// the store holds (a restart), telling what was not told yet; hourly it
// deletes the notification log's rows older than LogRetention.
func (m *Manager) Run(ctx context.Context) error {
	now := m.now()
	recs, err := m.store.AlertsUpdatedSince(ctx, now.Add(-24*time.Hour))
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: nothing was lost
		}
		return fmt.Errorf("alerting: loading alerts: %w", err)
	}
	m.mu.Lock()
	for _, r := range recs {
		if _, ok := m.alerts[r.Fingerprint]; !ok {
			a := FromStore(r)
			m.alerts[r.Fingerprint] = &a
			m.scheduleLocked(r.Device, now, true)
		}
	}
	m.mu.Unlock()
	if len(recs) > 0 {
		m.log.Info("alerting: took up stored alerts", "alerts", len(recs))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	m.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prune.C:
			m.prune(ctx)
			continue
		case <-timer.C:
		case <-m.wake:
		}
		m.nflog.Retry(ctx)
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

// prune deletes the notification log's rows past retention.
func (m *Manager) prune(ctx context.Context) {
	n, err := m.nflog.Prune(ctx, m.now().Add(-m.cfg.LogRetention))
	switch {
	case err != nil && ctx.Err() == nil:
		m.log.Warn("alerting: pruning the notification log", "err", err)
	case n > 0:
		m.log.Info("alerting: pruned the notification log", "rows", n, "retention", m.cfg.LogRetention)
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

// flush runs a device's alerts through the stages for each notifier. The
// device's alerts are read again from the store first: another server
// may have changed them.
func (m *Manager) flush(ctx context.Context, device string, now time.Time) {
	if _, err := m.load(ctx, device, now); err != nil {
		m.log.Warn("alerting: reading a device's alerts", "device", device, "err", err)
	}
	m.mu.Lock()
	var alerts []Alert
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
	vehicle := ""
	for _, a := range alerts {
		if vehicle == "" {
			vehicle = a.Vehicle
		}
	}
	var next time.Time
	failed, sent := false, false
	for _, n := range m.notifiers {
		r := &Round{Notifier: n, Device: device, Vehicle: vehicle, Now: now, Recipient: rcpt, Silences: silences, All: alerts}
		_, err := m.stages.Exec(ctx, r, alerts)
		next = earliest(next, r.next)
		switch {
		case err != nil:
			failed = true
			m.log.Warn("alerting: telling failed; it will be tried again", "notifier", n.Name(), "device", device, "err", err)
		case r.note != nil:
			sent = true
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
	var retry time.Time
	if failed {
		g.failures++
		retry = now.Add(min(time.Duration(1<<min(g.failures, 8))*5*time.Second, 10*time.Minute))
	} else {
		g.failures = 0
	}
	for _, t := range []time.Time{retry, next} {
		if !t.IsZero() && (g.due.IsZero() || t.Before(g.due)) {
			g.due = t
		}
	}
	// Forget what is over and told.
	for fp, a := range m.alerts {
		if a.Device == device && a.State == rules.Resolved && now.Sub(a.Updated) > time.Hour {
			delete(m.alerts, fp)
		}
	}
}

// load takes the store's newer versions of a device's alerts (another
// server sharing the database may have received them) and returns how
// many it holds of the device.
func (m *Manager) load(ctx context.Context, device string, now time.Time) (int, error) {
	stored, err := m.store.Alerts(ctx, device, false, 500)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range stored {
		a := FromStore(s)
		cur, ok := m.alerts[a.Fingerprint]
		switch {
		case ok && a.Updated.Before(cur.Updated):
		case !ok && !a.Firing() && now.Sub(a.Updated) > time.Hour:
			continue
		default:
			m.alerts[a.Fingerprint] = &a
		}
		n++
	}
	return n, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
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

func matches(labels, matchers map[string]string) bool {
	for k, v := range matchers {
		if labels[k] != v {
			return false
		}
	}
	return true
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
