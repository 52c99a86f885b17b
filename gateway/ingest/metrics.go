package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	stored       *prometheus.CounterVec
	samples      prometheus.Counter
	dropped      *prometheus.CounterVec
	writeSeconds *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	queued       prometheus.Gauge
	parked       prometheus.Gauge
	gaps         prometheus.Counter
	missing      prometheus.Gauge
	duplicates   prometheus.Counter
	late         prometheus.Counter
	restarts     prometheus.Counter
	online       prometheus.Gauge
	partitions   prometheus.Gauge
	held         *prometheus.GaugeVec
	takeovers    prometheus.Counter
	rewinds      prometheus.Counter

	listenerErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_ingest_messages_received_total",
			Help: "Messages received from the broker, by kind."}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_ingest_messages_rejected_total",
			Help: "Messages refused (acknowledged, not stored), by reason."}, []string{"reason"}),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_ingest_messages_stored_total",
			Help: "Messages durably stored and acknowledged, by kind."}, []string{"kind"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_samples_stored_total",
			Help: "Telemetry samples durably written to the series store."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_ingest_samples_dropped_total",
			Help: "Samples left out of otherwise good messages, by reason."}, []string{"reason"}),
		writeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pitwall_ingest_write_seconds",
			Help: "Time to durably write one batch, by store.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"store"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_ingest_write_retries_total",
			Help: "Failed writes that were retried, by store."}, []string{"store"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pitwall_ingest_queue_messages",
			Help: "Messages received and not yet stored."}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pitwall_ingest_parked_messages",
			Help: "Telemetry waiting for its birth message."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_seq_skipped_total",
			Help: "Sequence numbers skipped when a newer one arrived."}),
		missing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pitwall_ingest_seq_missing",
			Help: "Sequence numbers skipped that have not arrived since, over all devices."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_seq_duplicates_total",
			Help: "Messages whose sequence number had been seen (redeliveries; stored again harmlessly)."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_seq_late_total",
			Help: "Messages that arrived after a newer one and filled a gap."}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_device_restarts_total",
			Help: "Devices seen with a new boot id."}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pitwall_ingest_devices_online",
			Help: "Devices whose last status said online."}),
		listenerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_ingest_listener_errors_total",
			Help: "Stored batches a listener failed on, by listener (the batch stays stored and acknowledged)."}, []string{"listener"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pitwall_ingest_partitions_owned",
			Help: "NATS partitions this server consumes now."}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pitwall_ingest_partition_held",
			Help: "1 for each NATS partition this server consumes now, 0 for one it held before."}, []string{"partition"}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_partition_takeovers_total",
			Help: "NATS partitions this server took over (at start, from a server that left, or on a rebalance)."}),
		rewinds: prometheus.NewCounter(prometheus.CounterOpts{Name: "pitwall_ingest_partition_rewinds_total",
			Help: "Times a NATS partition was started again from its last stored message because deliveries were lost."}),
	}
	reg.MustRegister(m.received, m.rejected, m.stored, m.samples, m.dropped, m.writeSeconds, m.retries,
		m.queued, m.parked, m.gaps, m.missing, m.duplicates, m.late, m.restarts, m.online, m.listenerErrors,
		m.partitions, m.held, m.takeovers, m.rewinds)
	return m
}
