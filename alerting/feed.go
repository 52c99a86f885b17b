package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/store"
)

// FeedStore keeps owners' feeds; *store.Store is one.
type FeedStore interface {
	AddFeedItems(ctx context.Context, items []store.FeedItem) ([]store.FeedItem, error)
	Feed(ctx context.Context, owner string, since time.Time, limit int) ([]store.FeedItem, error)
}

// Feed is the in-app feed: each notification becomes feed items in the
// store, pushed at once to the owner's open pages as server-sent events.
type Feed struct {
	Store FeedStore
	// Heartbeat is how often an idle stream sends a comment (15 s by
	// default), so proxies keep it open.
	Heartbeat time.Duration

	mu   sync.Mutex
	subs map[string]map[chan store.FeedItem]struct{}
}

// Name is "feed".
func (f *Feed) Name() string { return "feed" }

// Notify adds the notification's alerts to the owner's feed and pushes
// them to the owner's open streams.
func (f *Feed) Notify(ctx context.Context, n *Notification) error {
	owner := n.Recipient.Owner.ID
	if owner == "" {
		return nil
	}
	var items []store.FeedItem
	add := func(a Alert, state rules.State) {
		items = append(items, store.FeedItem{ID: n.ID + "-" + a.Fingerprint + "-" + string(state)[:1], OwnerID: owner, Device: n.Device,
			Fingerprint: a.Fingerprint, State: string(state), Severity: string(a.Severity), Summary: a.Summary, Time: n.Time})
	}
	for _, a := range n.Firing {
		add(a, rules.Firing)
	}
	for _, a := range n.Resolved {
		add(a, rules.Resolved)
	}
	return f.Add(ctx, items)
}

// Add stores items in their owners' feeds and pushes them to the owners'
// open streams. Other tellers (bookings, reminders) use it.
func (f *Feed) Add(ctx context.Context, items []store.FeedItem) error {
	items, err := f.Store.AddFeedItems(ctx, items)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		f.pushOwner(it.OwnerID, []store.FeedItem{it})
	}
	return nil
}

func (f *Feed) pushOwner(owner string, items []store.FeedItem) {
	for ch := range f.subs[owner] {
		if !push(ch, items) {
			// A reader this far behind reconnects and catches up from
			// the store with Last-Event-ID.
			delete(f.subs[owner], ch)
			close(ch)
		}
	}
}

// push hands items to a reader without waiting; false when it is full.
func push(ch chan store.FeedItem, items []store.FeedItem) bool {
	for _, it := range items {
		select {
		case ch <- it:
		default:
			return false
		}
	}
	return true
}

func (f *Feed) subscribe(owner string) chan store.FeedItem {
	ch := make(chan store.FeedItem, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[string]map[chan store.FeedItem]struct{}{}
	}
	if f.subs[owner] == nil {
		f.subs[owner] = map[chan store.FeedItem]struct{}{}
	}
	f.subs[owner][ch] = struct{}{}
	return ch
}

func (f *Feed) unsubscribe(owner string, ch chan store.FeedItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[owner][ch]; ok {
		delete(f.subs[owner], ch)
		close(ch)
	}
}

// FeedEvent is one item as a stream sends it.
type FeedEvent struct {
	Device      string    `json:"device"`
	Fingerprint string    `json:"fingerprint"`
	State       string    `json:"state"`
	Severity    string    `json:"severity"`
	Summary     string    `json:"summary"`
	Time        time.Time `json:"time"`
}

// eventID carries the item's time, so a reconnecting reader's
// Last-Event-ID says where to resume.
func eventID(it store.FeedItem) string {
	return strconv.FormatInt(it.Time.UnixMilli(), 10) + "-" + it.ID
}

// ServeSSE streams an owner's feed: first what came since Last-Event-ID
// (or the last day), then each new item, as `event: alert` with JSON
// data. The caller has checked that the request may read this owner's
// feed.
func (f *Feed) ServeSSE(w http.ResponseWriter, r *http.Request, owner string) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	ch := f.subscribe(owner) // before reading the backlog, so nothing falls between
	defer f.unsubscribe(owner, ch)
	since, lastID := time.Now().Add(-24*time.Hour), ""
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if msStr, id, ok := strings.Cut(last, "-"); ok {
			if ms, err := strconv.ParseInt(msStr, 10, 64); err == nil {
				since, lastID = time.UnixMilli(ms), id
			}
		}
	}
	backlog, err := f.Store.Feed(r.Context(), owner, since, 500)
	if err != nil {
		http.Error(w, "the feed cannot be read now", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	seen := map[string]bool{}
	write := func(it store.FeedItem) {
		if seen[it.ID] {
			return
		}
		seen[it.ID] = true
		b, _ := json.Marshal(FeedEvent{Device: it.Device, Fingerprint: it.Fingerprint, State: it.State, Severity: it.Severity, Summary: it.Summary, Time: it.Time})
		fmt.Fprintf(w, "id: %s\nevent: alert\ndata: %s\n\n", eventID(it), b)
	}
	skipping := lastID != ""
	for _, it := range backlog {
		if skipping {
			seen[it.ID] = true
			if it.ID == lastID {
				skipping = false
			}
			continue
		}
		write(it)
	}
	if skipping { // the last id was not found: send all of it
		clear(seen)
		for _, it := range backlog {
			write(it)
		}
	}
	flusher.Flush()
	beat := f.Heartbeat
	if beat <= 0 {
		beat = 15 * time.Second
	}
	tick := time.NewTicker(beat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case it, ok := <-ch:
			if !ok {
				return // too far behind: the client reconnects
			}
			write(it)
		case <-tick.C:
			fmt.Fprint(w, ": ping\n\n")
		}
		flusher.Flush()
	}
}

var _ Notifier = (*Feed)(nil)
