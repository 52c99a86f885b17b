package ingest

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// writeLoop gathers queued jobs into batches and stores them, one batch
// at a time, acknowledging each batch's messages in the order received.
func (in *Ingest) writeLoop(ctx context.Context) {
	defer in.saveStatuses()
	for {
		batch := in.collect(ctx)
		if batch == nil {
			return
		}
		if !in.store(ctx, batch) {
			return // stopping: what is not acknowledged comes again
		}
	}
}

// saveStatuses saves the statuses not saved yet, on the way out.
func (in *Ingest) saveStatuses() {
	var save []store.DeviceStatus
	in.mu.Lock()
	for _, d := range in.devices {
		if d.dirty {
			save = append(save, d.status)
			d.dirty = false
		}
	}
	in.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.journal.SaveStatuses(ctx, save); err != nil {
		in.log.Warn("ingest: saving device statuses on the way out", "devices", len(save), "err", err)
	}
}

// collect waits for a first job, then takes more until the batch holds
// BatchSamples samples or BatchDelay has passed.
func (in *Ingest) collect(ctx context.Context) []*job {
	var batch []*job
	select {
	case j := <-in.queue:
		batch = append(batch, j)
	case <-ctx.Done():
		return nil
	}
	samples := batch[0].samples
	timer := time.NewTimer(in.cfg.BatchDelay)
	defer timer.Stop()
	for samples < in.cfg.BatchSamples {
		select {
		case j := <-in.queue:
			batch = append(batch, j)
			samples += j.samples
			continue
		default:
		}
		select {
		case j := <-in.queue:
			batch = append(batch, j)
			samples += j.samples
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// store writes a batch, retrying while the stores are out, then
// acknowledges it. It returns false when ctx ended first.
func (in *Ingest) store(ctx context.Context, batch []*job) bool {
	var points []series.Point
	var msgs, births []store.Message
	for _, j := range batch {
		points = append(points, j.points...)
		if j.message != nil {
			msgs = append(msgs, *j.message)
		}
		if j.birth != nil {
			births = append(births, *j.birth)
		}
	}
	if len(points) > 0 {
		err := in.retry(ctx, "series", func(ctx context.Context) error { return in.series.Write(ctx, points) })
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			// The engine refused the data for good: retrying cannot help.
			for _, j := range batch {
				if len(j.points) > 0 {
					in.rejected(j, "series_refused", err)
				}
			}
		}
	}
	if len(msgs)+len(births) > 0 {
		_ = in.retry(ctx, "store", func(ctx context.Context) error {
			for _, b := range births {
				if err := in.journal.SaveBirth(ctx, b.Device, b.Boot, b.Seq, b.Time, b.Body); err != nil {
					return err
				}
			}
			return in.journal.SaveMessages(ctx, msgs)
		})
		if ctx.Err() != nil {
			return false
		}
	}
	var records []Record
	stored, samples := 0, 0
	for _, j := range batch {
		j.msg.Ack()
		in.metrics.queued.Dec()
		if j.reject != "" {
			continue
		}
		stored++
		samples += j.samples
		in.metrics.stored.WithLabelValues(string(j.kind)).Inc()
		records = append(records, Record{Device: j.device, Kind: j.kind, Seq: j.seq, Message: j.decoded, Points: j.points})
	}
	in.metrics.samples.Add(float64(samples))
	in.statsMu.Lock()
	in.stats.Stored += uint64(stored)
	in.stats.Samples += uint64(samples)
	in.statsMu.Unlock()
	in.track(ctx, batch)
	in.tell(ctx, records)
	return true
}

// tell hands a stored batch to the listeners, counting and logging (at
// most once every ten seconds a listener) those that fail.
func (in *Ingest) tell(ctx context.Context, records []Record) {
	if len(records) == 0 || len(in.listeners) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ListenerTimeout)
	defer cancel()
	for _, l := range in.listeners {
		err := l.l(ctx, records)
		if err == nil {
			continue
		}
		in.metrics.listenerErrors.WithLabelValues(l.name).Inc()
		in.mu.Lock()
		key := "listener " + l.name
		quiet := in.now().Sub(in.rejectAt[key]) < 10*time.Second
		if !quiet {
			in.rejectAt[key] = in.now()
		}
		in.mu.Unlock()
		if !quiet {
			in.log.Error("ingest: a listener failed on a stored batch (further failures within 10 s are only counted, in pitwall_ingest_listener_errors_total)",
				"listener", l.name, "records", len(records), "err", err)
		}
	}
}

// retry runs a write until it succeeds, the engine refuses it for good,
// or ctx ends, backing off from 100 ms to 5 s with jitter between tries.
func (in *Ingest) retry(ctx context.Context, name string, write func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	var firstFail time.Time
	for {
		start := time.Now()
		err := write(ctx)
		in.metrics.writeSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if err == nil {
			if !firstFail.IsZero() {
				in.log.Info("ingest: writes succeed again", "store", name, "after", time.Since(firstFail).Round(time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if name == "series" && !series.IsTransient(err) {
			in.log.Error("ingest: the series store refused a batch; its messages are dropped", "err", err)
			return err
		}
		in.metrics.retries.WithLabelValues(name).Inc()
		if firstFail.IsZero() {
			firstFail = time.Now()
			in.log.Warn("ingest: write failed; retrying, and holding messages unacknowledged meanwhile", "store", name, "err", err)
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		backoff = min(2*backoff, 5*time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// track follows sequence numbers and statuses of a stored batch, and
// saves the statuses that changed (at most every ten seconds a device,
// at once when it went on or offline).
func (in *Ingest) track(ctx context.Context, batch []*job) {
	var save []store.DeviceStatus
	now := in.now()
	in.mu.Lock()
	for _, j := range batch {
		if j.reject != "" || j.device == "" {
			continue
		}
		d := in.deviceLocked(j.device)
		before, wasOnline := d.seq.missing, d.status.Online
		r := d.seq.observe(j.boot, j.seq)
		switch {
		case r.duplicate:
			in.metrics.duplicates.Inc()
		case r.late:
			in.metrics.late.Inc()
		}
		if r.gap > 0 {
			in.metrics.gaps.Add(float64(r.gap))
		}
		if r.restart {
			in.metrics.restarts.Inc()
		}
		st := &d.status
		st.Seen, st.Boot, st.LastSeq = now, j.boot, d.seq.newest
		urgent := false
		if j.online != nil && *j.online != st.Online {
			st.Online, urgent = *j.online, true
		}
		if j.kind != wire.KindStatus && !st.Online {
			st.Online, urgent = true, true // it speaks, so it is on
		}
		d.dirty = true
		if urgent || now.Sub(d.savedAt) >= 10*time.Second {
			save = append(save, *st)
			d.savedAt, d.dirty = now, false
		}
		// The gauges move by this device's change, not by a count over all.
		in.metrics.missing.Add(float64(d.seq.missing - before))
		if st.Online != wasOnline {
			in.metrics.online.Add(map[bool]float64{true: 1, false: -1}[st.Online])
		}
	}
	in.mu.Unlock()
	if len(save) > 0 {
		if err := in.journal.SaveStatuses(ctx, save); err != nil && ctx.Err() == nil {
			in.log.Warn("ingest: saving device statuses", "devices", len(save), "err", err)
		}
	}
}
