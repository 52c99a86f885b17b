package web

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fifty pages on five bookings cost one query a tick; each page hears its
// own booking's changes, the newest only when it reads late; the watch
// stops once the last page leaves and starts again with the next.
func TestBookingWatchSharesOneQuery(t *testing.T) {
	var mu sync.Mutex
	version := map[string]int{}
	var calls, asked atomic.Int64
	bw := newBookingWatch(func(_ context.Context, ids []string) (map[string]int, error) {
		calls.Add(1)
		asked.Add(int64(len(ids)))
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for _, id := range ids {
			out[id] = version[id]
		}
		return out, nil
	}, 20*time.Millisecond)
	bump := func(id string) {
		mu.Lock()
		version[id]++
		mu.Unlock()
	}
	type page struct {
		booking string
		ch      <-chan int
		stop    func()
	}
	var pages []page
	for i := range 50 {
		id := fmt.Sprintf("b%d", i%5)
		ch, stop := bw.watch(id)
		pages = append(pages, page{id, ch, stop})
	}
	recv := func(p page) int {
		select {
		case v := <-p.ch:
			return v
		case <-time.After(2 * time.Second):
			t.Fatalf("page of %s heard nothing", p.booking)
			return -1
		}
	}
	for _, p := range pages { // the first tick: every page hears its booking's version
		if v := recv(p); v != 0 {
			t.Fatalf("first version %d", v)
		}
	}
	bump("b3")
	for _, p := range pages {
		if p.booking == "b3" {
			if v := recv(p); v != 1 {
				t.Errorf("a page of b3 heard %d", v)
			}
		}
	}
	// Two changes before a page reads: it hears the newest.
	bump("b3")
	bump("b3")
	time.Sleep(100 * time.Millisecond) // at least two ticks go by
	for _, p := range pages {
		if p.booking != "b3" {
			continue
		}
		v := recv(p)
		for v < 3 { // a tick fell between the two changes
			v = recv(p)
		}
		if v != 3 {
			t.Errorf("a page of b3 heard %d", v)
		}
	}
	for _, p := range pages {
		select {
		case v := <-p.ch:
			t.Errorf("page of %s heard %d with no change of its booking", p.booking, v)
		default:
		}
	}
	c, a := calls.Load(), asked.Load()
	if a != 5*c {
		t.Errorf("%d queries asked for %d bookings: want 5 a query, one query a tick", c, a)
	}
	for _, p := range pages {
		p.stop()
	}
	time.Sleep(100 * time.Millisecond)
	bw.mu.Lock()
	running, subs, last := bw.running, len(bw.subs), len(bw.last)
	bw.mu.Unlock()
	if running || subs != 0 || last != 0 {
		t.Errorf("after the last page left: running %v, %d bookings watched, %d remembered", running, subs, last)
	}
	before := calls.Load()
	time.Sleep(60 * time.Millisecond)
	if calls.Load() != before {
		t.Error("the watch still queries with no page open")
	}
	ch, stop := bw.watch("b3")
	defer stop()
	if v := recv(page{"b3", ch, stop}); v != 3 {
		t.Errorf("a page after the restart heard %d", v)
	}
}
