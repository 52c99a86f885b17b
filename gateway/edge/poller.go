package edge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/gateway/edge/spool"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/elm327"
)

// The car's states as the agent sees them.
const (
	stateNoAdapter = "no_adapter"
	stateAsleep    = "asleep"   // the ignition is off: nobody answers
	stateIgnition  = "ignition" // the ECUs answer, the engine is off
	stateRunning   = "running"
)

func (a *Agent) setState(s string) {
	for _, x := range []string{stateNoAdapter, stateAsleep, stateIgnition, stateRunning} {
		v := 0.0
		if x == s {
			v = 1
		}
		a.metrics.state.WithLabelValues(x).Set(v)
	}
}

// carSilent reports whether err means nobody on the car's bus answered (the
// ignition is off), as opposed to the adapter failing.
func carSilent(err error) bool {
	if errors.Is(err, obd.ErrNoData) || errors.Is(err, obd.ErrUnsupported) {
		return true
	}
	var re *elm327.ReplyError
	if errors.As(err, &re) {
		switch re.Kind {
		case elm327.KindUnableToConnect, elm327.KindCANError, elm327.KindBusError, elm327.KindBusInit, elm327.KindNoData, elm327.KindStopped:
			return true
		}
	}
	return false
}

// poll keeps an adapter open and runs sessions on it until ctx ends.
func (a *Agent) poll(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		a.setState(stateNoAdapter)
		tr, closeFn, err := a.open(ctx, a.cfg.Adapter)
		if err != nil {
			if ctx.Err() == nil {
				a.fail("adapter", err)
			}
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		a.event(func(e *wirepb.Event) { e.Kind = &wirepb.Event_Adapter{Adapter: &wirepb.Adapter{Connected: true}} })
		s := &session{a: a}
		err = s.run(ctx, tr)
		_ = closeFn()
		if ctx.Err() != nil {
			return
		}
		a.fail("adapter", err)
		a.event(func(e *wirepb.Event) {
			e.Kind = &wirepb.Event_Adapter{Adapter: &wirepb.Adapter{Connected: false, Detail: err.Error()}}
		})
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// session is the agent's work on one open adapter.
type session struct {
	a        *Agent
	client   *obd.Client
	volts    obd.VoltageReader
	state    string
	plan     Plan
	sched    *schedule
	batch    wire.Batch
	flushAt  time.Time
	dtcAt    time.Time
	voltAt   time.Time
	battAt   time.Time
	probeAt  time.Time
	silent   int // consecutive reads nobody answered
	broken   int // consecutive adapter failures
	mil      float64
	codes    string
	trips    trips
	tests    []*wirepb.TestResult // the latest service 06 results
	testsAt  time.Time            // when service 06 is next read
	offSince time.Time
	restWarn bool
	lowSince time.Time
	warned   map[string]bool
	minCrank float64
	vinRead  bool
}

func (s *session) run(ctx context.Context, tr obd.Transport) error {
	a := s.a
	lim := newLimiter(tr, a.cfg.Poll.MaxRequestsPerSecond, a.metrics.requests.Inc)
	s.client = obd.NewClient(lim, obd.WithClientLogger(a.log))
	s.volts = lim
	s.state = stateAsleep
	s.warned = map[string]bool{}
	s.mil = -1
	s.trips.endAfter = a.cfg.Trips.EndAfter
	now := time.Now()
	s.flushAt, s.voltAt, s.probeAt = now.Add(a.cfg.Poll.BatchInterval), now, now
	s.offSince = now
	a.setState(stateAsleep)
	defer s.flush()
	for ctx.Err() == nil {
		select {
		case c := <-a.cmds:
			a.runCommand(ctx, s, c)
			continue
		default:
		}
		var err error
		if s.state == stateAsleep {
			err = s.parked(ctx)
		} else {
			err = s.awake(ctx)
		}
		if err != nil {
			return err
		}
		if time.Now().After(s.flushAt) {
			s.flush()
		}
	}
	return nil
}

// flush turns the batch into a telemetry record.
func (s *session) flush() {
	s.flushAt = time.Now().Add(s.a.cfg.Poll.BatchInterval)
	if s.batch.Len() == 0 {
		return
	}
	_, err := s.a.emit(wire.KindTelemetry, spool.Telemetry, func(h *wirepb.Header) wire.Message { return s.batch.Telemetry(h) })
	if err != nil && s.batch.Len() < wire.MaxSamples/2 {
		return // kept, to be stored with the next batch once the spool can
	}
	if err != nil {
		s.a.metrics.samplesLost.Add(float64(s.batch.Len()))
	}
	s.batch.Reset()
}

func (s *session) sample(signal string, t time.Time, v float64) {
	if math.IsNaN(v) {
		return
	}
	sig, ok := s.a.aliases.ByName(signal)
	if !ok {
		// A secondary value of a PID outside the plan the birth announced.
		s.a.metrics.repeated.Inc()
		return
	}
	s.batch.Add(sig, t, v)
}

// adapterTrouble counts a failure that is not the car being silent; after
// three in a row the session ends and the adapter is opened again.
func (s *session) adapterTrouble(err error) error {
	s.broken++
	s.a.fail("obd", err)
	if s.broken >= 3 {
		return fmt.Errorf("edge: the adapter keeps failing: %w", err)
	}
	return nil
}

// parked watches the battery slowly and probes for the car waking.
func (s *session) parked(ctx context.Context) error {
	a := s.a
	now := time.Now()
	if !now.Before(s.voltAt) {
		s.voltAt = now.Add(a.cfg.Parked.VoltageEvery)
		if v, err := s.volts.BatteryVoltage(ctx); err == nil {
			s.sample(wire.BatteryVoltage, now, v)
			s.flush()
			// A resting voltage means something only once the battery has
			// settled after the engine stopped.
			if v < a.cfg.Parked.RestingLow && now.Sub(s.offSince) > 30*time.Minute && !s.restWarn {
				s.restWarn = true
				a.event(func(e *wirepb.Event) {
					e.Kind = &wirepb.Event_Battery{Battery: &wirepb.Battery{Condition: "resting-low", Volts: v}}
				})
			}
			if v > 13.2 {
				s.probeAt = now // charging: the engine is running
			}
		}
	}
	if !now.Before(s.probeAt) {
		s.probeAt = now.Add(a.cfg.Parked.ProbeEvery)
		s.client.Forget()
		sets, err := s.client.SupportedPIDs(ctx)
		switch {
		case err == nil:
			return s.wake(ctx, sets)
		case carSilent(err) || ctx.Err() != nil:
			s.broken = 0
		default:
			if err := s.adapterTrouble(err); err != nil {
				return err
			}
		}
	}
	sleepCtx(ctx, time.Until(earliest(s.voltAt, s.probeAt, s.flushAt)))
	return nil
}

func earliest(ts ...time.Time) time.Time {
	e := ts[0]
	for _, t := range ts[1:] {
		if t.Before(e) {
			e = t
		}
	}
	return e
}

// wake starts polling: the car answered.
func (s *session) wake(ctx context.Context, sets map[obd.ECU]obd.PIDSet) error {
	a := s.a
	var all obd.PIDSet
	for _, x := range sets {
		all.Union(x)
	}
	a.mu.Lock()
	tiers := a.tiers
	a.replan = false
	a.mu.Unlock()
	var left []obd.PID
	s.plan, left = BuildPlan(tiers, all)
	s.sched = newSchedule(s.plan, time.Now())
	a.log.Info("the car is awake", "plan", s.plan.String(), "pids_per_second", s.plan.PIDsPerSecond(), "unsupported", left)
	s.state, s.silent, s.broken = stateIgnition, 0, 0
	// The monitors' results soon, while they still hold the last drive's,
	// once the first readings are out.
	s.minCrank, s.dtcAt, s.testsAt = 99, time.Now(), time.Now().Add(testsAfterWake)
	a.setState(stateIgnition)
	a.event(func(e *wirepb.Event) { e.Kind = &wirepb.Event_Ignition{Ignition: &wirepb.Ignition{On: true}} })
	if !s.vinRead {
		s.vinRead = true
		vin, err := s.client.VIN(ctx)
		p := ""
		if r, ok := s.client.Transport().(interface{ Protocol() obd.Protocol }); ok {
			p = r.Protocol().String()
		}
		a.mu.Lock()
		changed := err == nil && vin != a.vin || p != a.protocol
		if err == nil {
			a.vin = vin
		}
		a.protocol = p
		a.mu.Unlock()
		if changed {
			_ = a.announce() // emit reports a failure
		}
	}
	return nil
}

// testsAfterWake is how long after the car wakes its monitors' test results
// are read: soon enough that they still hold the last drive's, late enough
// not to hold up the first readings.
const testsAfterWake = 15 * time.Second

// sleepCar ends polling: the car stopped answering, the ignition is off.
func (s *session) sleepCar() {
	if t := s.trips.ignitionOff(); t != nil {
		s.endTrip(t)
	}
	s.flush()
	s.state = stateAsleep
	s.offSince, s.restWarn = time.Now(), false
	s.probeAt = time.Now().Add(s.a.cfg.Parked.ProbeEvery)
	s.a.setState(stateAsleep)
	s.a.event(func(e *wirepb.Event) { e.Kind = &wirepb.Event_Ignition{Ignition: &wirepb.Ignition{On: false}} })
}

// awake reads the due PIDs, the battery and the codes.
func (s *session) awake(ctx context.Context) error {
	a := s.a
	a.mu.Lock()
	replan := a.replan
	a.mu.Unlock()
	if replan {
		sets, err := s.client.SupportedPIDs(ctx)
		if err == nil {
			return s.wake(ctx, sets)
		}
	}
	now := time.Now()
	pids, _ := s.sched.due(now)
	if len(pids) == 0 {
		sleepCtx(ctx, time.Until(earliest(s.sched.wake(), s.flushAt)))
		return nil
	}
	rs, err := s.client.Read(ctx, pids...)
	if ctx.Err() != nil {
		return nil
	}
	if len(rs) == 0 && err != nil {
		if carSilent(err) {
			if s.silent++; s.silent >= 3 {
				s.sleepCar()
			}
			return nil
		}
		return s.adapterTrouble(err)
	}
	s.silent, s.broken = 0, 0
	a.metrics.pids.Add(float64(len(rs)))
	var rpm, speed, coolant, fuelRate, maf, odo = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
	mil := math.NaN()
	// One value per signal and instant: the engine ECU's, and another
	// ECU's only where it differs (obd.OneValuePerSignal).
	vals, repeated := obd.OneValuePerSignal(rs)
	a.metrics.repeated.Add(float64(repeated))
	for _, v := range vals {
		s.sample(v.Signal, now, v.Value)
		switch v.Signal {
		case "Vehicle.Powertrain.CombustionEngine.Speed":
			rpm = v.Value
		case "Vehicle.Speed":
			speed = v.Value
		case "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature":
			coolant = v.Value
		case "Vehicle.OBD.FuelRate":
			fuelRate = v.Value
		case "Vehicle.Powertrain.CombustionEngine.MAF":
			maf = v.Value
		case "Vehicle.TraveledDistance":
			odo = v.Value
		case "Vehicle.OBD.Status.IsMILOn":
			mil = v.Value
		}
	}
	// The battery once a second, and at every pass while the engine is
	// off, to catch the dip of a crank.
	if !now.Before(s.battAt) || s.state == stateIgnition {
		s.battAt = now.Add(time.Second)
		if v, err := s.volts.BatteryVoltage(ctx); err == nil {
			s.sample(wire.BatteryVoltage, now, v)
			s.battery(now, v)
		}
	}
	if !math.IsNaN(rpm) {
		s.engine(now, rpm)
	}
	if t := s.trips.cur; t != nil {
		t.step(now, speed, coolant, fuelRate, maf, odo)
	}
	started, ended := s.trips.observe(now, s.state == stateRunning, speed)
	if ended != nil {
		s.endTrip(ended)
		s.testsAt = now // the car still answers: read the drive's results now
	}
	if started != nil {
		s.startTrip(started, odo)
	}
	if !math.IsNaN(mil) && mil != s.mil {
		s.mil = mil
		s.dtcAt = now // the lamp changed: read the codes now
	}
	if !now.Before(s.testsAt) {
		s.testsAt = now.Add(a.cfg.Poll.TestsInterval)
		if s.readTests(ctx, now) {
			s.dtcAt = now // new results: report them with the codes
		}
	}
	if !now.Before(s.dtcAt) {
		s.dtcAt = now.Add(a.cfg.Poll.DTCInterval)
		s.readCodes(ctx)
	}
	return nil
}

// readTests reads the on-board monitors' test results (service 06): the
// misfire counts become samples, every result goes with the next
// trouble-code report. It reports whether the results changed.
func (s *session) readTests(ctx context.Context, now time.Time) bool {
	res, err := s.client.MonitorTests(ctx)
	if len(res) == 0 {
		if err != nil && !carSilent(err) && ctx.Err() == nil {
			s.a.fail("obd", err)
		}
		return false
	}
	tests, values := wire.MonitorTests(res)
	for sig, v := range values {
		s.sample(sig, now, v)
	}
	changed := !wire.SameTests(tests, s.tests)
	s.tests = tests
	return changed
}

// engine tracks the engine starting and stopping.
func (s *session) engine(now time.Time, rpm float64) {
	a := s.a
	runs := engineRuns(s.state == stateRunning, rpm)
	switch {
	case runs && s.state != stateRunning:
		s.state = stateRunning
		a.setState(stateRunning)
		a.event(func(e *wirepb.Event) {
			e.Kind = &wirepb.Event_Ignition{Ignition: &wirepb.Ignition{On: true, EngineRunning: true}}
		})
		if s.minCrank < 9.6 {
			v := s.minCrank
			a.event(func(e *wirepb.Event) {
				e.Kind = &wirepb.Event_Battery{Battery: &wirepb.Battery{Condition: "cranking-low", Volts: v}}
			})
		}
	case !runs && s.state == stateRunning:
		// The engine stopped; the trip goes on (see trips).
		s.state = stateIgnition
		a.setState(stateIgnition)
		s.minCrank = 99
		a.event(func(e *wirepb.Event) {
			e.Kind = &wirepb.Event_Ignition{Ignition: &wirepb.Ignition{On: true, EngineRunning: false}}
		})
	}
}

// battery checks the charging system while the ignition is on.
func (s *session) battery(now time.Time, v float64) {
	if s.state == stateIgnition {
		s.minCrank = math.Min(s.minCrank, v)
		return
	}
	cond := ""
	switch {
	case v < 13.0:
		cond = "charging-low"
	case v > 15.0:
		cond = "charging-high"
	}
	if cond == "" || s.trips.cur == nil || now.Sub(s.trips.cur.start) < 30*time.Second {
		s.lowSince = time.Time{}
		return
	}
	if s.lowSince.IsZero() {
		s.lowSince = now
	}
	if now.Sub(s.lowSince) >= 30*time.Second && !s.warned[cond] {
		s.warned[cond] = true
		s.a.event(func(e *wirepb.Event) {
			e.Kind = &wirepb.Event_Battery{Battery: &wirepb.Battery{Condition: cond, Volts: v}}
		})
	}
}

func (s *session) startTrip(t *trip, odo float64) {
	s.warned = map[string]bool{}
	id := t.id
	start := &wirepb.TripStart{TripId: id}
	if !math.IsNaN(odo) {
		start.OdometerKm = odo
	}
	s.a.eventAt(t.start, func(e *wirepb.Event) { e.Kind = &wirepb.Event_TripStart{TripStart: start} })
}

// endTrip reports a trip that ended, stamped with when it ended.
func (s *session) endTrip(t *trip) {
	dist := t.distance
	if !math.IsNaN(t.startOdo) && t.odo-t.startOdo > 0.1 {
		dist = t.odo - t.startOdo // the odometer beats integrating speed
	}
	end := &wirepb.TripEnd{TripId: t.id, DistanceKm: round2(dist), DurationS: round2(t.end.Sub(t.start).Seconds()),
		FuelUsedL: round2(t.fuel), MaxCoolantC: t.maxCoolant, EngineStops: uint32(t.engineStops), EngineOffS: round2(t.engineOff.Seconds())}
	s.a.eventAt(t.end, func(e *wirepb.Event) { e.Kind = &wirepb.Event_TripEnd{TripEnd: end} })
	s.a.log.Info("trip ended", "distance_km", end.DistanceKm, "duration_s", end.DurationS, "engine_stops", end.EngineStops)
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// readCodes reads stored, pending and permanent codes and reports them
// when they changed, with the freeze frame.
func (s *session) readCodes(ctx context.Context) {
	a := s.a
	r := &wirepb.DTCReport{TimeMs: time.Now().UnixMilli(), Mil: s.mil == 1, Tests: s.tests}
	if st, err := s.client.Status(ctx); err == nil {
		r.Mil = false
		for _, x := range st {
			r.Mil = r.Mil || x.MIL
		}
		r.Monitors = mergeMonitors(st)
	}
	for _, k := range []struct {
		svc obd.Service
		dst *[]*wirepb.Code
	}{{obd.ServiceStoredDTCs, &r.Stored}, {obd.ServicePendingDTCs, &r.Pending}, {obd.ServicePermanentDTCs, &r.Permanent}} {
		codes, err := s.client.DTCs(ctx, k.svc)
		if err != nil && !carSilent(err) {
			a.fail("obd", err)
			return
		}
		for _, c := range codes {
			*k.dst = append(*k.dst, &wirepb.Code{Code: c.Code.String(), Ecu: string(c.ECU)})
		}
	}
	sig := fmt.Sprint(r.Mil, r.Stored, r.Pending, r.Permanent, r.Monitors, r.Tests)
	if sig == s.codes {
		return
	}
	s.codes = sig
	if len(r.Stored) > 0 {
		frames, _ := s.client.FreezeFrames(ctx, 0)
		for _, f := range frames {
			ff := &wirepb.FreezeFrame{Ecu: string(f.ECU), Dtc: f.DTC.String()}
			for _, v := range f.Values {
				for _, m := range v.Value.Measurements {
					ff.Values = append(ff.Values, &wirepb.Value{Signal: m.Signal, Value: m.Value, Unit: m.Unit})
				}
			}
			r.FreezeFrames = append(r.FreezeFrames, ff)
		}
	}
	_, _ = a.emit(wire.KindDTC, spool.Important, func(h *wirepb.Header) wire.Message { r.Header = h; return r })
	a.log.Info("trouble codes changed", "stored", codeList(r.Stored), "pending", codeList(r.Pending), "mil", r.Mil)
}

func codeList(cs []*wirepb.Code) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Code)
	}
	return strings.Join(out, ",")
}

// mergeMonitors folds the ECUs' readiness into one list: a monitor is
// supported when any ECU runs it and complete when every ECU that runs it
// has completed it.
func mergeMonitors(st map[obd.ECU]*obd.MonitorStatus) []*wirepb.Monitor {
	var out []*wirepb.Monitor
	at := map[string]*wirepb.Monitor{}
	ecus := make([]obd.ECU, 0, len(st))
	for e := range st {
		ecus = append(ecus, e)
	}
	slices.Sort(ecus)
	for _, e := range ecus {
		for _, m := range st[e].Monitors {
			w := at[m.Name]
			if w == nil {
				w = &wirepb.Monitor{Name: m.Name, Complete: true}
				at[m.Name] = w
				out = append(out, w)
			}
			if m.Supported {
				w.Supported = true
				w.Complete = w.Complete && m.Complete
			}
		}
	}
	for _, w := range out {
		w.Complete = w.Supported && w.Complete
	}
	return out
}
