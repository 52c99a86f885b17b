package edge

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// Plan is what the agent reads and how often, built from the configured
// tiers and the PIDs the car supports.
type Plan struct {
	Tiers []Tier
}

// Tier is a set of PIDs read together at one rate.
type Tier struct {
	Period time.Duration
	PIDs   []obd.PID
}

// BuildPlan keeps the configured PIDs the car supports, each in the
// fastest tier that names it. It returns the PIDs left out.
func BuildPlan(tiers []TierConfig, supported obd.PIDSet) (Plan, []obd.PID) {
	sorted := append([]TierConfig(nil), tiers...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Hz > sorted[j].Hz })
	seen := map[obd.PID]bool{}
	var plan Plan
	var left []obd.PID
	for _, t := range sorted {
		var pids []obd.PID
		for _, s := range t.PIDs {
			p, err := ParsePID(s)
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			if !supported.Has(p) {
				left = append(left, p)
				continue
			}
			pids = append(pids, p)
		}
		if len(pids) > 0 {
			plan.Tiers = append(plan.Tiers, Tier{Period: time.Duration(float64(time.Second) / t.Hz), PIDs: pids})
		}
	}
	return plan, left
}

// PIDsPerSecond is the plan's reading rate.
func (p Plan) PIDsPerSecond() float64 {
	r := 0.0
	for _, t := range p.Tiers {
		r += float64(len(t.PIDs)) / t.Period.Seconds()
	}
	return r
}

func (p Plan) String() string {
	s := ""
	for _, t := range p.Tiers {
		s += fmt.Sprintf("[%.3g Hz %v] ", 1/t.Period.Seconds(), t.PIDs)
	}
	return s
}

// schedule says which tiers are due.
type schedule struct {
	plan Plan
	next []time.Time
}

func newSchedule(p Plan, now time.Time) *schedule {
	s := &schedule{plan: p, next: make([]time.Time, len(p.Tiers))}
	for i := range s.next {
		s.next[i] = now
	}
	return s
}

// due returns the PIDs of the tiers due at now and moves those tiers on;
// a tier that fell behind (a slow adapter) is read back to back at the
// adapter's pace, never in a burst to catch up.
func (s *schedule) due(now time.Time) (pids []obd.PID, tiers []int) {
	for i, t := range s.plan.Tiers {
		if now.Before(s.next[i]) {
			continue
		}
		pids = append(pids, t.PIDs...)
		tiers = append(tiers, i)
		s.next[i] = s.next[i].Add(t.Period)
		if s.next[i].Before(now) {
			// Behind: read again as soon as this read is done, once; no
			// backlog of missed passes.
			s.next[i] = now
		}
	}
	return pids, tiers
}

// wake is when the next tier is due.
func (s *schedule) wake() time.Time {
	var w time.Time
	for _, n := range s.next {
		if w.IsZero() || n.Before(w) {
			w = n
		}
	}
	return w
}

// limiter is a token bucket on OBD requests: the cap that protects the
// car's bus. It wraps the transport so that every request counts,
// whatever the client makes of a read.
type limiter struct {
	obd.Transport
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
	count  func()
}

func newLimiter(t obd.Transport, rate float64, count func()) *limiter {
	return &limiter{Transport: t, rate: rate, tokens: rate, last: time.Now(), count: count}
}

func (l *limiter) Do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	var wait time.Duration
	if l.tokens < 1 {
		wait = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	}
	l.tokens--
	l.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if l.count != nil {
		l.count()
	}
	return l.Transport.Do(ctx, req)
}

// Protocol passes the transport's protocol through.
func (l *limiter) Protocol() obd.Protocol {
	if r, ok := l.Transport.(obd.ProtocolReporter); ok {
		return r.Protocol()
	}
	return obd.ProtocolUnknown
}

// BatteryVoltage passes the adapter's voltage reading through.
func (l *limiter) BatteryVoltage(ctx context.Context) (float64, error) {
	if v, ok := l.Transport.(obd.VoltageReader); ok {
		return v.BatteryVoltage(ctx)
	}
	return 0, fmt.Errorf("edge: this adapter cannot measure the battery")
}
