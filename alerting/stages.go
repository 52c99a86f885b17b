package alerting

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// Round is one notifier's look at one vehicle's alerts: what the stages
// of the notify chain share, and what they leave the manager.
type Round struct {
	Notifier  Notifier
	Device    string
	Vehicle   string
	Now       time.Time
	Recipient store.Recipient // zero when the device is on no owner's vehicle
	Silences  []store.Silence // the device's silences in force
	// All is every alert of the vehicle the manager holds, muted or not:
	// inhibition reads them.
	All []Alert

	tell []telling     // what dedup claimed to tell
	note *Notification // what send sent
	next time.Time     // when to look again; zero: no need
}

// Again asks the manager to look at the vehicle again at t (a repeat
// falls due, a silence or quiet hours end, a claim lapses).
func (r *Round) Again(t time.Time) { r.next = earliest(r.next, t) }

// Sent is the notification the round sent; nil when none was.
func (r *Round) Sent() *Notification { return r.note }

// telling is an alert to tell in a state (a one-shot alert that is over
// is told firing) and the log's row for it.
type telling struct {
	alert Alert
	row   store.Telling
}

// Stage is one step of the notify chain: it takes the alerts the step
// before left and returns those left for the next. An error ends the
// round as failed; the manager tries the vehicle again with backoff.
type Stage interface {
	Exec(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error)
}

// StageFunc makes a function a Stage.
type StageFunc func(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error)

// Exec calls f.
func (f StageFunc) Exec(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error) {
	return f(ctx, r, alerts)
}

// Chain runs stages in order, each on what the one before left, until
// no alert is left or a stage fails.
type Chain []Stage

// Exec runs the chain.
func (c Chain) Exec(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error) {
	for _, s := range c {
		if len(alerts) == 0 {
			return nil, nil
		}
		var err error
		if alerts, err = s.Exec(ctx, r, alerts); err != nil {
			return alerts, err
		}
	}
	return alerts, nil
}

// Muter holds an alert back while it says so.
type Muter interface {
	Mutes(r *Round, a Alert) bool
}

// MuteFunc makes a function a Muter.
type MuteFunc func(r *Round, a Alert) bool

// Mutes calls f.
func (f MuteFunc) Mutes(r *Round, a Alert) bool { return f(r, a) }

// MuteStage drops the alerts any of its muters holds back.
type MuteStage []Muter

// Exec keeps the alerts no muter holds back.
func (m MuteStage) Exec(_ context.Context, r *Round, alerts []Alert) ([]Alert, error) {
	out := alerts[:0:0]
	for _, a := range alerts {
		if !slices.ContainsFunc(m, func(x Muter) bool { return x.Mutes(r, a) }) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Silenced mutes an alert an owner's silence or snooze in force matches,
// and asks to look again when the silence ends.
var Silenced MuteFunc = func(r *Round, a Alert) bool {
	for _, s := range r.Silences {
		if matches(a.Labels, s.Matchers) {
			r.Again(s.EndsAt)
			return true
		}
	}
	return false
}

// Inhibitor mutes an alert a firing alert of the same vehicle explains:
// the source matchers match the firing one, the target matchers match
// this one, they agree on the Equal labels, and this one is not itself a
// source.
type Inhibitor []rules.Inhibit

// Mutes reports whether another of the round's alerts inhibits a.
func (in Inhibitor) Mutes(r *Round, a Alert) bool {
	for _, rule := range in {
		if !matches(a.Labels, rule.Target) || matches(a.Labels, rule.Source) {
			continue
		}
		for _, s := range r.All {
			if !s.Firing() || s.Fingerprint == a.Fingerprint || !matches(s.Labels, rule.Source) {
				continue
			}
			same := true
			for _, l := range rule.Equal {
				same = same && s.Labels[l] == a.Labels[l]
			}
			if same {
				return true
			}
		}
	}
	return false
}

// Quiet mutes all but critical alerts in the owner's quiet hours, and
// asks to look again when they end.
var Quiet MuteFunc = func(r *Round, a Alert) bool {
	if a.Critical() {
		return false
	}
	quiet, end := inQuietHours(r.Recipient.Quiet, r.Now)
	if quiet {
		r.Again(end)
	}
	return quiet
}

// DedupStage keeps the alerts due to be told by the round's notifier, as
// the shared notification log says (never told; due to repeat; or
// claimed by a server that never recorded the send, once its claim has
// lapsed), and claims them in the log: what another server claimed is
// its to tell, and left out.
type DedupStage struct {
	Log    *NotificationLog
	Repeat time.Duration // how long before a still-firing alert is told again
}

// Exec keeps and claims what is due.
func (d DedupStage) Exec(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error) {
	name := r.Notifier.Name()
	var due []telling
	for _, a := range alerts {
		told := d.Log.Told(ctx, name, a, rules.Firing)
		var state rules.State
		switch {
		case (a.Firing() || a.OneShot) && !(a.OneShot && a.State == rules.Resolved && told.Nth > 0):
			state = rules.Firing
		case a.State == rules.Resolved && a.SendResolved && told.Nth > 0:
			state, told = rules.Resolved, d.Log.Told(ctx, name, a, rules.Resolved)
		default:
			continue
		}
		repeats := state == rules.Firing && a.Firing() && !a.OneShot
		nth, next := d.nextTelling(told, repeats, r.Now)
		if nth == 0 {
			r.Again(next)
			continue
		}
		due = append(due, telling{a, store.Telling{Notifier: name, Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, State: string(state), Nth: nth}})
	}
	if len(due) == 0 {
		return nil, nil
	}
	rows := make([]store.Telling, len(due))
	for i, t := range due {
		rows[i] = t.row
	}
	claimed, err := d.Log.Claim(ctx, rows, r.Now)
	if err != nil {
		return nil, fmt.Errorf("alerting: claiming %d tellings: %w", len(rows), err)
	}
	if len(claimed) < len(rows) {
		// Look again once the other server's claim could have lapsed.
		r.Again(r.Now.Add(ClaimLease))
	}
	got := map[store.Telling]bool{}
	for _, c := range claimed {
		got[c] = true
	}
	var out []Alert
	r.tell = r.tell[:0]
	for _, t := range due {
		if got[t.row] {
			r.tell = append(r.tell, t)
			out = append(out, t.alert)
		}
	}
	return out, nil
}

// nextTelling says which telling is due after the latest, told: the
// first, a repeat once the repeat interval passed (when repeats is set),
// or the same one again when its claim lapsed unsent. 0 is none yet, and
// next is when to look again (zero: never).
func (d DedupStage) nextTelling(told store.Told, repeats bool, now time.Time) (nth int, next time.Time) {
	switch {
	case told.Nth == 0:
		return 1, time.Time{}
	case told.Pending && now.Sub(told.At) >= ClaimLease:
		return told.Nth, time.Time{}
	case told.Pending:
		return 0, told.At.Add(ClaimLease)
	case repeats && now.Sub(told.At) >= d.Repeat:
		return told.Nth + 1, time.Time{}
	case repeats:
		return 0, told.At.Add(d.Repeat)
	}
	return 0, time.Time{}
}

// SendStage tells the round's notifier what dedup claimed, in one
// notification, bounded by Timeout; when it fails, the claims are given
// back at once so that any server may try again.
type SendStage struct {
	Log     *NotificationLog
	Timeout time.Duration
}

// Exec sends.
func (s SendStage) Exec(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error) {
	note := &Notification{Device: r.Device, Vehicle: r.Vehicle, Recipient: r.Recipient, Time: r.Now}
	rows := make([]store.Telling, 0, len(r.tell))
	for _, t := range r.tell {
		if t.row.State == string(rules.Firing) {
			note.Firing = append(note.Firing, t.alert)
		} else {
			note.Resolved = append(note.Resolved, t.alert)
		}
		rows = append(rows, t.row)
	}
	note.ID = notificationID(r.Notifier.Name(), note, rows)
	sctx, cancel := context.WithTimeout(ctx, s.Timeout)
	err := r.Notifier.Notify(sctx, note)
	cancel()
	if err != nil {
		if rerr := s.Log.Release(context.WithoutCancel(ctx), rows); rerr != nil {
			err = fmt.Errorf("%w (and giving back its claims: %v; they lapse in %v)", err, rerr, ClaimLease)
		}
		return nil, fmt.Errorf("alerting: %s: %w", r.Notifier.Name(), err)
	}
	r.note = note
	return alerts, nil
}

// RecordStage records what was sent in the notification log, and asks to
// look again when the firing alerts it told repeat. A record the store
// refuses is kept and tried again (NotificationLog.Retry); meanwhile this manager
// knows it was sent, and other servers wait for its claim to lapse.
type RecordStage struct {
	Log    *NotificationLog
	Repeat time.Duration
}

// Exec records.
func (s RecordStage) Exec(ctx context.Context, r *Round, alerts []Alert) ([]Alert, error) {
	if r.note == nil {
		return alerts, nil
	}
	rows := make([]store.Telling, 0, len(r.tell))
	for _, t := range r.tell {
		rows = append(rows, t.row)
		if t.row.State == string(rules.Firing) && t.alert.Firing() && !t.alert.OneShot {
			r.Again(r.Now.Add(s.Repeat))
		}
	}
	s.Log.Record(ctx, rows, r.note.ID, r.Now)
	return alerts, nil
}

var (
	_ Stage = Chain(nil)
	_ Stage = MuteStage(nil)
	_ Stage = DedupStage{}
	_ Stage = SendStage{}
	_ Stage = RecordStage{}
	_ Muter = Inhibitor(nil)
	_ Muter = Silenced
	_ Muter = Quiet
)
