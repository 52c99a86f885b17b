package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/configfile"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/pipeline"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// DiagnosisConfig prices the pre-diagnoses.
type DiagnosisConfig struct {
	// Currency of the prices owners see (USD by default); PerUSD converts
	// the knowledge base's US-dollar figures into it.
	Currency string  `yaml:"currency"`
	PerUSD   float64 `yaml:"per_usd"`
	// LabourRate is a local shop's hourly rate, [low, high], in Currency.
	LabourRate []float64 `yaml:"labour_rate"`
}

// BookingConfig tunes leads and verify-the-fix.
type BookingConfig struct {
	// Fanout is how many shops a lead goes to at once (3).
	Fanout int `yaml:"fanout"`
	// VerifyCycles is how many drive cycles without the code, with its
	// monitors complete, confirm a repair (3).
	VerifyCycles int `yaml:"verify_cycles"`
	// SweepInterval is how often unanswered leads move on, follow-ups
	// are sent and overdue complaints escalated (30 s).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// FollowupDays is how many days after a completed job the owner is
	// asked how it went (3; 0 to 60).
	FollowupDays int `yaml:"followup_days"`
}

func (c *DiagnosisConfig) pricing() (diagnosis.Pricing, error) {
	p := diagnosis.DefaultPricing()
	if c.Currency != "" && c.Currency != "USD" {
		p.Currency = c.Currency
		p.PerBase = 0
	}
	if c.PerUSD != 0 {
		p.PerBase = c.PerUSD
	}
	if len(c.LabourRate) > 0 {
		if len(c.LabourRate) != 2 {
			return p, configfile.Bad("diagnosis.labour_rate", "want [low, high]")
		}
		p.LabourRate = [2]float64{c.LabourRate[0], c.LabourRate[1]}
	}
	if p.PerBase == 0 {
		return p, configfile.Bad("diagnosis.per_usd", "prices in %s need the exchange rate from US dollars", p.Currency)
	}
	if len(c.LabourRate) == 0 && p.Currency != "USD" {
		// The default rate is in dollars too.
		p.LabourRate = [2]float64{p.LabourRate[0] * p.PerBase, p.LabourRate[1] * p.PerBase}
	}
	if err := p.Check(); err != nil {
		return p, configfile.Bad("diagnosis", "%v", err)
	}
	return p, nil
}

// openBooking builds the knowledge base and the booking service.
func (s *Server) openBooking() error {
	p, err := s.cfg.Diagnosis.pricing()
	if err != nil {
		return err
	}
	kb, err := diagnosis.Builtin()
	if err != nil {
		return err
	}
	s.KB, s.Pricing = kb, p
	email, err := s.email()
	if err != nil {
		return err
	}
	s.Booking = booking.New(s.Store, kb, p, &booking.Dispatch{Feed: s.Feed, Email: email})
	if d := s.cfg.Booking.FollowupDays; d > 0 {
		s.Booking.FollowupDays = d
	}
	s.Booking.Log = s.log
	if b := s.cfg.Booking; b.Fanout > 0 {
		s.Booking.Fanout = b.Fanout
	}
	if b := s.cfg.Booking; b.VerifyCycles > 0 {
		s.Booking.VerifyCycles = b.VerifyCycles
	}
	return nil
}

// sweepLeads moves unanswered leads on until ctx ends.
func (s *Server) sweepLeads(ctx context.Context) {
	every := s.cfg.Booking.SweepInterval
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Booking.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("booking: moving unanswered leads on", "err", err)
			} else if n > 0 {
				s.log.Info("booking: leads moved on", "offers_expired", n)
			}
			if a, err := s.Booking.SweepAftercare(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("booking: follow-ups and complaint escalation", "err", err)
			} else if a.Followups+a.Escalated > 0 {
				s.log.Info("booking: aftercare", "followups_sent", a.Followups, "complaints_escalated", a.Escalated)
			}
		}
	}
}

// Diagnose writes a vehicle's pre-diagnosis: the newest trouble-code
// report of its devices, the faults its firing alerts saw in the live
// data (the rules' symptom labels), the history of the signals that
// matter for both over the last drive, and the odometer.
func (s *Server) Diagnose(ctx context.Context, vehicleID string) (diagnosis.Report, error) {
	v, err := s.Store.Vehicle(ctx, vehicleID)
	if err != nil {
		return diagnosis.Report{}, err
	}
	devs, err := s.Store.DevicesOfVehicle(ctx, vehicleID)
	if err != nil {
		return diagnosis.Report{}, err
	}
	var dev string
	var msg store.Message
	for _, d := range devs {
		m, err := s.Store.LatestMessage(ctx, d.ID, string(wire.KindDTC))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return diagnosis.Report{}, err
		}
		if dev == "" || m.Time.After(msg.Time) {
			dev, msg = d.ID, m
		}
	}
	in := diagnosis.Input{Vehicle: diagnosis.Vehicle{ID: v.ID, Name: v.Name, VIN: v.VIN, Make: v.Make, Model: v.Model, Year: v.Year}, At: time.Now()}
	if dev == "" {
		if len(devs) == 0 {
			return diagnosis.Report{}, fmt.Errorf("%w: vehicle %s has no device", diagnosis.ErrNoData, vehicleID)
		}
		dev = devs[0].ID
	} else {
		m, err := wire.Decode(wire.KindDTC, msg.Body)
		if err != nil {
			return diagnosis.Report{}, fmt.Errorf("server: the stored trouble-code report of %s: %w", dev, err)
		}
		pipeline.FillCodes(&in, m.(*wirepb.DTCReport))
	}
	codes := make([]string, 0, len(in.Codes))
	for _, c := range in.Codes {
		codes = append(codes, c.Code)
	}
	if in.Symptoms, err = s.symptoms(ctx, vehicleID, devs); err != nil {
		return diagnosis.Report{}, err
	}
	symptoms := make([]string, 0, len(in.Symptoms))
	for _, sy := range in.Symptoms {
		symptoms = append(symptoms, sy.ID)
	}
	latest, err := s.Series.Latest(ctx, dev, nil)
	if err != nil {
		return diagnosis.Report{}, err
	}
	in.Latest = map[string]float64{}
	var newest time.Time
	for sig, val := range latest {
		in.Latest[sig] = val.Value
		if val.Time.After(newest) {
			newest = val.Time
		}
	}
	if !newest.IsZero() {
		from := s.lastDriveStart(ctx, dev, newest)
		step := max(time.Second, newest.Sub(from)/1800).Truncate(time.Second)
		hist, err := s.Series.Range(ctx, series.Query{Device: dev, Signals: s.KB.Signals(codes, symptoms), From: from, To: newest.Add(time.Millisecond), Step: step})
		if err != nil {
			return diagnosis.Report{}, err
		}
		in.History = map[string][]diagnosis.Sample{}
		for _, h := range hist {
			for _, x := range h.Values {
				in.History[h.Signal] = append(in.History[h.Signal], diagnosis.Sample{Time: x.Time, Value: x.Value})
			}
		}
	}
	return s.KB.Build(in, s.Pricing)
}

// symptoms are the faults the devices' alerts saw in the live data: those
// whose rule names a symptom, while they fire, and those about a moment
// (a weak battery at a start: fired and over at once) for
// oneShotSymptomDays after it, unless a repair of that fault was completed
// since.
func (s *Server) symptoms(ctx context.Context, vehicleID string, devs []store.Device) ([]diagnosis.Symptom, error) {
	var out []diagnosis.Symptom
	since := time.Now().Add(-oneShotSymptomDays * 24 * time.Hour)
	var repaired map[string]time.Time // symptom → the last completed repair of it
	for _, d := range devs {
		alerts, err := s.Store.Alerts(ctx, d.ID, false, 200)
		if err != nil {
			return nil, err
		}
		for _, a := range alerts {
			id := a.Labels[rules.SymptomLabel]
			if _, labelled := a.Labels[rules.SymptomLabel]; !labelled {
				id = s.symptomOf[a.Rule] // stored before its rule named the symptom
			}
			switch {
			case id == "":
				continue
			case a.OneShot && a.StartsAt.After(since):
				if repaired == nil {
					if repaired, err = s.repairedSymptoms(ctx, vehicleID); err != nil {
						return nil, err
					}
				}
				if !a.StartsAt.After(repaired[id]) {
					continue // the repair came after it
				}
			case !a.OneShot && a.State == string(rules.Firing):
			default:
				continue
			}
			out = append(out, diagnosis.Symptom{ID: id, Rule: a.Rule, Since: a.StartsAt, Observed: a.Summary})
		}
	}
	return out, nil
}

// oneShotSymptomDays is how long a fault seen at a moment (an alert that
// fired and ended at once) stays in the car's pre-diagnosis.
const oneShotSymptomDays = 7

// repairedSymptoms is, per symptom, when the vehicle's last completed
// repair of it was: of the symptom itself, or of a code of its fault
// pattern.
func (s *Server) repairedSymptoms(ctx context.Context, vehicleID string) (map[string]time.Time, error) {
	bs, err := s.Store.Bookings(ctx, store.BookingFilter{VehicleID: vehicleID})
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, b := range bs {
		if b.Completed.IsZero() {
			continue
		}
		// A repair of a code fixes the symptoms of the code's fault pattern.
		ids := slices.Clone(b.Symptoms)
		for _, c := range b.Codes {
			if x, err := s.KB.Explain(c, s.Pricing); err == nil {
				ids = append(ids, s.KB.SymptomsOfProfile(x.Profile)...)
			}
		}
		for _, id := range ids {
			if b.Completed.After(out[id]) {
				out[id] = b.Completed
			}
		}
	}
	return out, nil
}

// lastDriveStart is when the last trip before end began: at least half
// an hour before end (a trip just begun says little), an hour when no
// trip is on record, at most twelve hours.
func (s *Server) lastDriveStart(ctx context.Context, dev string, end time.Time) time.Time {
	from := end.Add(-time.Hour)
	msgs, err := s.Store.Messages(ctx, dev, string(wire.KindEvent), end.Add(-12*time.Hour), 10000)
	if err != nil {
		return from
	}
	for _, m := range msgs {
		ev, err := wire.Decode(wire.KindEvent, m.Body)
		if err != nil {
			continue
		}
		if e, ok := ev.(*wirepb.Event); ok && e.GetTripStart() != nil && !m.Time.After(end) {
			from = time.UnixMilli(e.GetTimeMs())
		}
	}
	if floor := end.Add(-30 * time.Minute); floor.Before(from) {
		from = floor
	}
	return from
}
