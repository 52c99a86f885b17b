package broker

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// activeCache answers "may this device still publish?" without a database
// query per message. A device is marked active when it logs in (the store
// has just said so) and inactive when it is revoked through this broker
// (Revoked) or found revoked by the sweep. While the sweep runs on time the
// cache is trusted; when it has not succeeded for two intervals, or for a
// device the cache does not know, the store is asked.
type activeCache struct {
	devices  Devices
	interval time.Duration

	mu      sync.Mutex
	entries map[string]bool
	sweptAt time.Time // the last successful sweep began then
}

func newActiveCache(d Devices, interval time.Duration) *activeCache {
	return &activeCache{devices: d, interval: interval, entries: map[string]bool{}, sweptAt: time.Now()}
}

func (c *activeCache) set(device string, active bool) {
	c.mu.Lock()
	c.entries[device] = active
	c.mu.Unlock()
}

func (c *activeCache) forget(device string) {
	c.mu.Lock()
	delete(c.entries, device)
	c.mu.Unlock()
}

// swept records a successful sweep that began at t.
func (c *activeCache) swept(t time.Time) {
	c.mu.Lock()
	c.sweptAt = t
	c.mu.Unlock()
}

// stale stops trusting the cache until the next successful sweep.
func (c *activeCache) stale() {
	c.mu.Lock()
	c.sweptAt = time.Time{}
	c.mu.Unlock()
}

// check reports whether a device may publish. A store that cannot answer
// means no: the message is refused, and the device sends it again.
func (c *activeCache) check(device string) (bool, error) {
	c.mu.Lock()
	active, known := c.entries[device]
	fresh := time.Since(c.sweptAt) < 2*c.interval
	c.mu.Unlock()
	if known && (fresh || !active) {
		return active, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	active, err := c.devices.DeviceActive(ctx, device)
	if err != nil {
		return false, err
	}
	c.set(device, active)
	return active, nil
}

// brokerMetrics are pitwall_broker_*.
type brokerMetrics struct {
	refused        *prometheus.CounterVec
	publishRefused *prometheus.CounterVec
	cut            prometheus.Counter

	mu     sync.Mutex
	logged map[string]time.Time
}

func newBrokerMetrics() *brokerMetrics {
	return &brokerMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_broker_connections_refused_total",
			Help: "Connections dropped before they logged in, by reason."}, []string{"reason"}),
		publishRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_broker_publishes_refused_total",
			Help: "Packets refused from logged-in clients, by reason (retain, revoked)."}, []string{"reason"}),
		cut: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_broker_sessions_cut_total",
			Help: "Sessions of revoked devices cut."}),
		logged: map[string]time.Time{},
	}
}

func (m *brokerMetrics) register(r prometheus.Registerer, b *Broker) error {
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pitwall_broker_connections",
		Help: "Connections open, logged in or not."}, func() float64 { o, _ := b.counts(); return float64(o) })
	connecting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pitwall_broker_connections_connecting",
		Help: "Connections open that have not logged in yet."}, func() float64 { _, c := b.counts(); return float64(c) })
	for _, c := range []prometheus.Collector{m.refused, m.publishRefused, m.cut, open, connecting} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// quiet reports whether a line for reason was logged in the last ten
// seconds, and if not, notes one now.
func (m *brokerMetrics) quiet(reason string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.logged[reason]) < 10*time.Second {
		return true
	}
	m.logged[reason] = time.Now()
	return false
}
