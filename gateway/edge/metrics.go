package edge

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// metrics are the agent's Prometheus metrics, on their own registry so
// that several agents can live in one process (tests).
type metrics struct {
	reg         *prometheus.Registry
	requests    prometheus.Counter
	pids        prometheus.Counter
	errors      *prometheus.CounterVec
	published   *prometheus.CounterVec
	samples     prometheus.Counter
	samplesLost prometheus.Counter
	repeated    prometheus.Counter
	spoolBytes  prometheus.GaugeFunc
	dropped     *prometheus.GaugeVec
	corrupt     prometheus.GaugeFunc
	state       *prometheus.GaugeVec
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_agent_obd_requests_total", Help: "OBD requests sent to the car."})
	m.pids = prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_agent_pids_read_total", Help: "PID values read from the car."})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_agent_errors_total", Help: "Errors by kind."}, []string{"kind"})
	m.published = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_agent_published_total", Help: "Messages the broker acknowledged, by kind."}, []string{"kind"})
	m.samples = prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_agent_samples_published_total", Help: "Samples in telemetry the broker acknowledged."})
	m.samplesLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_agent_samples_lost_total", Help: "Samples read from the car but never stored: the spool could not be written for too long."})
	m.repeated = prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_agent_samples_repeated_total",
		Help: "Values a second ECU reported for a signal that only repeated the first ECU's, and were not sent."})
	m.spoolBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pitwall_agent_spool_bytes", Help: "Bytes waiting in the spool."},
		func() float64 { return float64(a.spool.Stats().Bytes) })
	m.dropped = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pitwall_agent_spool_dropped_records", Help: "Records the full spool dropped, by class."}, []string{"class"})
	m.corrupt = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pitwall_agent_spool_corrupt_records", Help: "Records set aside for a bad checksum."},
		func() float64 { return float64(a.spool.Stats().Corrupt) })
	m.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pitwall_agent_state", Help: "1 for the car's current state."}, []string{"state"})
	m.reg.MustRegister(m.requests, m.pids, m.errors, m.published, m.samples, m.samplesLost, m.repeated, m.spoolBytes, m.dropped, m.corrupt, m.state)
	return m
}

// counterValue reads a counter's current value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
