package alerting

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// LogStore keeps the notification log in the shared database;
// *store.Store is one.
type LogStore interface {
	ClaimNotifications(ctx context.Context, claimer string, ts []store.Telling, now, lapsed time.Time) ([]store.Telling, error)
	RecordNotifications(ctx context.Context, claimer string, ts []store.Telling, id string, sent time.Time) error
	ReleaseNotifications(ctx context.Context, claimer string, ts []store.Telling) error
	LastNotified(ctx context.Context, notifier, fingerprint string, starts time.Time, state string) (store.Told, error)
	PruneNotifications(ctx context.Context, before time.Time) (int64, error)
}

// NotificationLog is the notification log as one manager sees it: the
// shared store's rows, which say what every server told and which of them
// holds a claim on what, with what this manager told kept in memory.
type NotificationLog struct {
	store   LogStore
	claimer string // this manager's name in the claims
	log     *slog.Logger

	mu         sync.Mutex
	sent       map[sentKey]store.Told
	unrecorded []unrecorded // sent, and not yet in the store
}

type sentKey struct {
	notifier, fingerprint string
	starts                int64
	state                 string
}

func keyOf(t store.Telling) sentKey {
	return sentKey{t.Notifier, t.Fingerprint, t.StartsAt.UnixMilli(), t.State}
}

type unrecorded struct {
	rows []store.Telling
	id   string
	at   time.Time
}

// NewNotificationLog is the log on a store, claiming as claimer.
func NewNotificationLog(st LogStore, claimer string, log *slog.Logger) *NotificationLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &NotificationLog{store: st, claimer: claimer, log: log, sent: map[sentKey]store.Told{}}
}

// Told is the latest telling by a notifier of an alert's start in a
// state: from memory, else from the store.
func (l *NotificationLog) Told(ctx context.Context, notifier string, a Alert, state rules.State) store.Told {
	k := sentKey{notifier, a.Fingerprint, a.StartsAt.UnixMilli(), string(state)}
	l.mu.Lock()
	t, ok := l.sent[k]
	l.mu.Unlock()
	if ok {
		return t
	}
	t, err := l.store.LastNotified(ctx, notifier, a.Fingerprint, a.StartsAt, string(state))
	if err != nil {
		// Telling it anyway is safe: the claim fails on a told row.
		l.log.Warn("alerting: reading the notification log", "err", err)
	}
	if t.Nth > 0 && !t.Pending {
		l.mu.Lock()
		l.sent[k] = t
		l.mu.Unlock()
	}
	return t
}

// Claim claims tellings before they are sent and returns those this
// manager got; it forgets what it knew of the others, so that the store
// is read again next time.
func (l *NotificationLog) Claim(ctx context.Context, rows []store.Telling, now time.Time) ([]store.Telling, error) {
	claimed, err := l.store.ClaimNotifications(ctx, l.claimer, rows, now, now.Add(-ClaimLease))
	if err != nil {
		return nil, err
	}
	if len(claimed) < len(rows) {
		got := map[store.Telling]bool{}
		for _, c := range claimed {
			got[c] = true
		}
		l.mu.Lock()
		for _, r := range rows {
			if !got[r] {
				delete(l.sent, keyOf(r))
			}
		}
		l.mu.Unlock()
	}
	return claimed, nil
}

// Release gives back claims whose send failed.
func (l *NotificationLog) Release(ctx context.Context, rows []store.Telling) error {
	return l.store.ReleaseNotifications(ctx, l.claimer, rows)
}

// Record notes claimed tellings as sent with the notification's id: in
// memory at once, in the store now or, if it refuses, at the next Retry.
func (l *NotificationLog) Record(ctx context.Context, rows []store.Telling, id string, at time.Time) {
	l.mu.Lock()
	for _, r := range rows {
		l.sent[keyOf(r)] = store.Told{Nth: r.Nth, At: at, ID: id}
	}
	l.mu.Unlock()
	if err := l.store.RecordNotifications(context.WithoutCancel(ctx), l.claimer, rows, id, at); err != nil {
		l.log.Warn("alerting: recording a sent notification; trying again (should this server stop first, its claim lapses and another may send it again, with the same id)",
			"err", err, "lease", ClaimLease)
		l.mu.Lock()
		l.unrecorded = append(l.unrecorded, unrecorded{rows, id, at})
		l.mu.Unlock()
	}
}

// Retry records what the store refused before.
func (l *NotificationLog) Retry(ctx context.Context) {
	l.mu.Lock()
	todo := l.unrecorded
	l.unrecorded = nil
	l.mu.Unlock()
	for i, u := range todo {
		if err := l.store.RecordNotifications(ctx, l.claimer, u.rows, u.id, u.at); err != nil {
			l.mu.Lock()
			l.unrecorded = append(l.unrecorded, todo[i:]...)
			l.mu.Unlock()
			return
		}
	}
}

// Prune deletes the store's rows sent before t (but each firing alert's
// latest telling) and forgets what this manager remembers of them.
func (l *NotificationLog) Prune(ctx context.Context, t time.Time) (int64, error) {
	n, err := l.store.PruneNotifications(ctx, t)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	for k, told := range l.sent {
		if told.At.Before(t) {
			delete(l.sent, k)
		}
	}
	l.mu.Unlock()
	return n, nil
}
