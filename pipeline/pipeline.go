package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// Store is what the pipeline reads of the relational store; *store.Store
// is one.
type Store interface {
	SeenSince(ctx context.Context, t time.Time) ([]string, error)
	Alerts(ctx context.Context, device string, firingOnly bool, limit int) ([]store.Alert, error)
	Messages(ctx context.Context, device, kind string, since time.Time, limit int) ([]store.Message, error)
	MessageBefore(ctx context.Context, device, kind string, t time.Time) (store.Message, error)
	LatestMessage(ctx context.Context, device, kind string) (store.Message, error)
	VehicleOfDevice(ctx context.Context, device string) (store.Vehicle, error)
}

// Alerts is the alert manager as the pipeline drives it;
// *alerting.Manager is one.
type Alerts interface {
	Receive(ctx context.Context, in []rules.Alert) error
	TakeUp(ctx context.Context, devices []string) error
	Forget(devices []string)
}

// Repairs is verify-the-fix; *booking.Service is one.
type Repairs interface {
	ObserveReport(ctx context.Context, vehicleID string, r booking.CodeReport) error
	ObserveDriveCycle(ctx context.Context, vehicleID string, at time.Time) error
	ObserveSymptom(ctx context.Context, vehicleID, symptom string, at time.Time) error
}

// Deps are the parts a pipeline joins.
type Deps struct {
	Store   Store
	Series  series.Reader
	Rules   *rules.Engine
	Alerts  Alerts
	Repairs Repairs // nil: no verify-the-fix
	Log     *slog.Logger
	Now     func() time.Time // time.Now when nil
	// Partitioned: the cars come to this server by partitions of a
	// clustered broker (AdoptWhere, ReleaseWhere), so Start takes up none.
	Partitioned bool
}

// Pipeline carries stored messages through the rules, alerting and
// verify-the-fix, for the cars this server answers for.
type Pipeline struct {
	d    Deps
	log  *slog.Logger
	now  func() time.Time
	live liveValues

	// flow orders a batch against a rebuild of its car: a batch is
	// either in the rebuilt history or evaluated on the rebuilt state.
	flow sync.Mutex
	// evaluated counts, per car, the batches evaluated (under flow): a
	// rebuild that read the history without the flow checks it. One entry
	// per car this server answers for; Release drops a car's.
	evaluated map[string]uint64
}

// adoptWorkers is how many cars an adoption rebuilds at once: their
// history reads overlap, their replays take the flow one at a time.
const adoptWorkers = 4

// New joins the parts.
func New(d Deps) (*Pipeline, error) {
	if d.Store == nil || d.Series == nil || d.Rules == nil || d.Alerts == nil {
		return nil, errors.New("pipeline: Store, Series, Rules and Alerts are needed")
	}
	p := &Pipeline{d: d, log: d.Log, now: d.Now, evaluated: map[string]uint64{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// Listen is the ingest's listener: it takes a stored batch through the
// rules, stores the alerts they raise with the alert manager, and hands
// codes and drives to verify-the-fix. An error means some alerts or
// repair observations were not stored: the batch itself is; a rebuild of
// the car (Adopt) finds what the rules would have raised.
func (p *Pipeline) Listen(ctx context.Context, records []ingest.Record) error {
	p.flow.Lock()
	defer p.flow.Unlock()
	var alerts []rules.Alert
	var errs []error
	for _, r := range records {
		p.evaluated[r.Device]++
		vehicle := ""
		var raised []rules.Alert
		switch m := r.Message.(type) {
		case *wirepb.Telemetry:
			var samples []rules.Sample
			for _, pt := range r.Points {
				vehicle = pt.Vehicle
				p.live.update(r.Device, pt.Time, pt.Fields)
				for _, f := range pt.Fields {
					samples = append(samples, rules.Sample{Signal: f.Signal, Time: pt.Time, Value: f.Value})
				}
			}
			raised = p.d.Rules.Samples(r.Device, vehicle, samples)
		case *wirepb.DTCReport:
			raised = p.d.Rules.Codes(r.Device, vehicle, ruleCodes(m))
		case *wirepb.Event:
			if ev, ok := ruleEvent(m); ok {
				raised = p.d.Rules.Event(r.Device, vehicle, ev)
			}
		}
		alerts = append(alerts, raised...)
		// Verify-the-fix hears of a returning fault before a drive cycle
		// that comes after it in the same batch.
		errs = append(errs, p.observeSymptoms(ctx, raised))
		switch m := r.Message.(type) {
		case *wirepb.DTCReport, *wirepb.Event:
			errs = append(errs, p.observeRepairs(ctx, r.Device, m))
		}
	}
	if len(alerts) > 0 {
		if err := p.d.Alerts.Receive(ctx, alerts); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: %d alerts could not be stored: %w", len(alerts), err))
		}
	}
	return errors.Join(errs...)
}

// observeSymptoms hands verify-the-fix the faults the live data shows
// again: the alerts that just fired whose rule names a symptom.
func (p *Pipeline) observeSymptoms(ctx context.Context, alerts []rules.Alert) error {
	if p.d.Repairs == nil {
		return nil
	}
	var errs []error
	for _, a := range alerts {
		symptom := a.Labels[rules.SymptomLabel]
		if a.State != rules.Firing || symptom == "" {
			continue
		}
		v, err := p.d.Store.VehicleOfDevice(ctx, a.Device)
		if err != nil {
			continue // a device with no car: no repair to watch
		}
		if err := p.d.Repairs.ObserveSymptom(ctx, v.ID, symptom, a.StartsAt); err != nil {
			errs = append(errs, fmt.Errorf("pipeline: verify-the-fix could not take %s's %s: %w", a.Device, symptom, err))
		}
	}
	return errors.Join(errs...)
}

// Start takes up every car: the alerts that were firing when the last
// server stopped, and a rebuild of each car seen within the rules'
// horizon. A single server calls it before its ingest runs; a clustered
// one calls Adopt for the cars it is handed instead.
func (p *Pipeline) Start(ctx context.Context) error {
	if p.d.Partitioned {
		return nil
	}
	firing, err := p.d.Store.Alerts(ctx, "", true, 1_000_000)
	if err != nil {
		return fmt.Errorf("pipeline: reading the firing alerts: %w", err)
	}
	restored := make([]rules.Alert, 0, len(firing))
	for _, a := range firing {
		restored = append(restored, ruleAlert(a))
	}
	p.d.Rules.Restore(restored)
	seen, err := p.d.Store.SeenSince(ctx, p.now().Add(-p.d.Rules.Horizon()))
	if err != nil {
		return fmt.Errorf("pipeline: listing the cars to rebuild: %w", err)
	}
	err = p.Adopt(ctx, seen)
	p.log.Info("pipeline: took up the cars", "firing_alerts", len(restored), "rebuilt", len(seen), "horizon", p.d.Rules.Horizon())
	return err
}

// Adopt makes this server answer for cars it did not (it starts, or a
// clustered broker moved their partition here): each car's rule state is
// rebuilt from the stored series and alerts, what the rebuild finds that
// no stored alert tells (an overheat that was pending on a server that
// died) goes to the alert manager, and the manager takes up the cars'
// stored alerts, telling what was stored and never told. Call it before
// the cars' new messages reach Listen; a batch of a car evaluated while
// its history is read makes the rebuild read it again, holding the flow,
// and one already evaluated is not evaluated again. adoptWorkers cars are
// rebuilt at once. A car whose history cannot be read keeps its state;
// the errors are joined.
func (p *Pipeline) Adopt(ctx context.Context, devices []string) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan string)
	)
	for range min(adoptWorkers, len(devices)) {
		wg.Go(func() {
			for d := range next {
				if err := p.rebuild(ctx, d); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, d := range devices {
		select {
		case next <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.d.Alerts.TakeUp(ctx, devices); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: taking up the alerts: %w", err))
	}
	return errors.Join(errs...)
}

// Release drops what this server holds of cars another server now
// answers for: rule state, alerts in memory and live values. Nothing
// stored changes; the new owner's Adopt rebuilds from it.
func (p *Pipeline) Release(devices []string) {
	p.flow.Lock()
	defer p.flow.Unlock()
	for _, d := range devices {
		p.d.Rules.Forget(d)
		p.live.forget(d)
		delete(p.evaluated, d)
	}
	p.d.Alerts.Forget(devices)
}

// AdoptWhere adopts the cars of a share this server was handed (a
// partition of a clustered broker, has telling its cars): those seen
// within the rules' horizon and those with a firing alert stored.
func (p *Pipeline) AdoptWhere(ctx context.Context, has func(device string) bool) error {
	seen, err := p.d.Store.SeenSince(ctx, p.now().Add(-p.d.Rules.Horizon()))
	if err != nil {
		return fmt.Errorf("pipeline: listing the cars to rebuild: %w", err)
	}
	firing, err := p.d.Store.Alerts(ctx, "", true, 1_000_000)
	if err != nil {
		return fmt.Errorf("pipeline: reading the firing alerts: %w", err)
	}
	for _, a := range firing {
		seen = append(seen, a.Device)
	}
	var mine []string
	taken := map[string]bool{}
	for _, d := range seen {
		if !taken[d] && has(d) {
			taken[d] = true
			mine = append(mine, d)
		}
	}
	err = p.Adopt(ctx, mine)
	p.log.Info("pipeline: took up a share of the cars", "cars", len(mine))
	return err
}

// ReleaseWhere releases every car this server holds anything of for
// which has is true (a partition it gave up).
func (p *Pipeline) ReleaseWhere(has func(device string) bool) {
	var mine []string
	taken := map[string]bool{}
	for _, d := range append(p.d.Rules.Devices(), p.live.list()...) {
		if !taken[d] && has(d) {
			taken[d] = true
			mine = append(mine, d)
		}
	}
	p.Release(mine)
}

// Forget drops a car's live values (an erased device).
func (p *Pipeline) Forget(device string) { p.live.forget(device) }

// observeRepairs hands trouble-code reports and drive cycles to
// verify-the-fix.
func (p *Pipeline) observeRepairs(ctx context.Context, device string, m any) error {
	if p.d.Repairs == nil {
		return nil
	}
	vehicle := func() (string, bool) {
		v, err := p.d.Store.VehicleOfDevice(ctx, device)
		return v.ID, err == nil
	}
	switch m := m.(type) {
	case *wirepb.DTCReport:
		id, ok := vehicle()
		if !ok {
			return nil
		}
		var in diagnosis.Input
		FillCodes(&in, m)
		var active []string
		for _, c := range in.Codes {
			if c.Status != "permanent" {
				active = append(active, c.Code)
			}
		}
		if err := p.d.Repairs.ObserveReport(ctx, id, booking.CodeReport{Active: active, Monitors: in.Monitors, Freeze: in.Freeze, At: in.At}); err != nil {
			return fmt.Errorf("pipeline: verify-the-fix could not read the codes of %s: %w", device, err)
		}
	case *wirepb.Event:
		if m.GetTripEnd() == nil {
			return nil
		}
		id, ok := vehicle()
		if !ok {
			return nil
		}
		// A fault still firing when a drive ends has not been fixed: an
		// alert that fired before the repair and never stopped.
		end := time.UnixMilli(m.GetTimeMs())
		for _, a := range p.d.Rules.Active(device) {
			if sy := a.Labels[rules.SymptomLabel]; sy != "" && a.State == rules.Firing {
				if err := p.d.Repairs.ObserveSymptom(ctx, id, sy, end); err != nil {
					return fmt.Errorf("pipeline: verify-the-fix could not take %s's %s: %w", device, sy, err)
				}
			}
		}
		if err := p.d.Repairs.ObserveDriveCycle(ctx, id, end); err != nil {
			return fmt.Errorf("pipeline: verify-the-fix could not count a drive of %s: %w", device, err)
		}
	}
	return nil
}

var (
	_ Store   = (*store.Store)(nil)
	_ Alerts  = (*alerting.Manager)(nil)
	_ Repairs = (*booking.Service)(nil)
)
