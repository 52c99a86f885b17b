package web

import (
	"context"
	"sync"
	"time"
)

// bookingWatch tells the booking pages open on this server when their
// booking changed: one query a tick for all of them, whatever their
// number, instead of one per page. Its goroutine runs while a page
// watches and ends a tick after the last one leaves.
type bookingWatch struct {
	versions func(ctx context.Context, ids []string) (map[string]int, error)
	every    time.Duration

	mu      sync.Mutex
	subs    map[string]map[chan int]struct{} // booking → its pages
	last    map[string]int                   // booking → the version last seen
	running bool
}

func newBookingWatch(versions func(ctx context.Context, ids []string) (map[string]int, error), every time.Duration) *bookingWatch {
	return &bookingWatch{versions: versions, every: every, subs: map[string]map[chan int]struct{}{}, last: map[string]int{}}
}

// watch gives a page the versions of a booking as they change (the newest
// only, when it reads slower than they come); stop ends it.
func (bw *bookingWatch) watch(bookingID string) (<-chan int, func()) {
	ch := make(chan int, 1)
	bw.mu.Lock()
	if bw.subs[bookingID] == nil {
		bw.subs[bookingID] = map[chan int]struct{}{}
	}
	bw.subs[bookingID][ch] = struct{}{}
	if !bw.running {
		bw.running = true
		go bw.run()
	}
	bw.mu.Unlock()
	return ch, func() {
		bw.mu.Lock()
		defer bw.mu.Unlock()
		delete(bw.subs[bookingID], ch)
		if len(bw.subs[bookingID]) == 0 {
			delete(bw.subs, bookingID)
			delete(bw.last, bookingID)
		}
	}
}

func (bw *bookingWatch) run() {
	tick := time.NewTicker(bw.every)
	defer tick.Stop()
	for range tick.C {
		bw.mu.Lock()
		if len(bw.subs) == 0 {
			bw.running = false
			bw.mu.Unlock()
			return
		}
		ids := make([]string, 0, len(bw.subs))
		for id := range bw.subs {
			ids = append(ids, id)
		}
		bw.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		vs, err := bw.versions(ctx, ids)
		cancel()
		if err != nil {
			continue // the pages keep what they have; the next tick asks again
		}
		bw.mu.Lock()
		for id, v := range vs {
			if bw.subs[id] == nil {
				continue // its last page left while the query ran
			}
			if prev, ok := bw.last[id]; ok && prev == v {
				continue
			}
			bw.last[id] = v
			for ch := range bw.subs[id] {
				select { // keep only the newest
				case <-ch:
				default:
				}
				ch <- v
			}
		}
		bw.mu.Unlock()
	}
}
