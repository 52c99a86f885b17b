package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/series"
)

// liveValues keeps each device's newest value per signal in memory, fed
// by the ingest as batches are stored, so pages and the API read live
// values without asking the series engine. A device not seen since start
// is read from the engine once.
type liveValues struct {
	mu      sync.RWMutex
	devices map[string]map[string]series.Value
}

func (l *liveValues) update(device string, t time.Time, fields []series.Field) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.devices == nil {
		l.devices = map[string]map[string]series.Value{}
	}
	m := l.devices[device]
	if m == nil {
		m = map[string]series.Value{}
		l.devices[device] = m
	}
	for _, f := range fields {
		if old, ok := m[f.Signal]; !ok || !t.Before(old.Time) {
			m[f.Signal] = series.Value{Time: t, Value: f.Value}
		}
	}
}

func (l *liveValues) list() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]string, 0, len(l.devices))
	for d := range l.devices {
		out = append(out, d)
	}
	return out
}

func (l *liveValues) forget(device string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.devices, device)
}

// Latest is a device's newest values of the signals (all it has for
// nil), from memory when the device sent since start, else from the
// series engine.
func (p *Pipeline) Latest(ctx context.Context, device string, signals []string) (map[string]series.Value, error) {
	p.live.mu.RLock()
	m, ok := p.live.devices[device]
	out := map[string]series.Value{}
	if ok {
		if signals == nil {
			for k, v := range m {
				out[k] = v
			}
		}
		for _, sig := range signals {
			if v, found := m[sig]; found {
				out[sig] = v
			}
		}
	}
	p.live.mu.RUnlock()
	if ok {
		return out, nil
	}
	all, err := p.d.Series.Latest(ctx, device, nil)
	if err != nil {
		return nil, err
	}
	p.live.mu.Lock()
	if p.live.devices == nil {
		p.live.devices = map[string]map[string]series.Value{}
	}
	if _, raced := p.live.devices[device]; !raced {
		p.live.devices[device] = all
	}
	p.live.mu.Unlock()
	for k, v := range all {
		if signals == nil {
			out[k] = v
		}
	}
	for _, sig := range signals {
		if v, found := all[sig]; found {
			out[sig] = v
		}
	}
	return out, nil
}
