package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// Verify states of a completed repair.
const (
	VerifyWatching = "watching" // Pitwall watches the next drive cycles
	VerifyFixed    = "fixed"    // the codes stayed away and their monitors completed
	VerifyReturned = "returned" // a code came back
)

// monitorsFor names the readiness monitors that test the fault of each
// pattern: completed with the code gone, they show the fix holds.
var monitorsFor = map[string][]string{
	"catalyst": {"catalyst"}, "evap-small-leak": {"evaporative_system"}, "evap-large-leak": {"evaporative_system"}, "evap-flow": {"evaporative_system"},
	"misfire": {"misfire"}, "lean": {"fuel_system"}, "rich": {"fuel_system"}, "slow-response": {"oxygen_sensor"}, "heater": {"oxygen_sensor_heater"},
	"egr-low": {"egr_vvt"}, "egr-high": {"egr_vvt"}, "secondary-air": {"secondary_air"}, "particulate-filter": {"pm_filter"},
	"scr": {"nox_scr_aftertreatment"}, "vvt": {"egr_vvt"}, "timing": {"egr_vvt"},
}

// CodeReport is what verify-the-fix reads of a car's trouble-code report.
type CodeReport struct {
	Active   []string // stored and pending codes (permanent ones do not count)
	Monitors []diagnosis.Monitor
	Freeze   []diagnosis.FreezeFrame
	// OdometerKm is the car's odometer when known (0: not known), for a
	// warranty given in km.
	OdometerKm float64
	At         time.Time
}

// ObserveCodes takes a car's trouble-code report: a code a watched repair
// was to fix that is back (stored or pending) ends the watch as returned.
// The monitors are kept for the next drive cycle.
func (s *Service) ObserveCodes(ctx context.Context, vehicleID string, active []string, monitors []diagnosis.Monitor, at time.Time) error {
	return s.ObserveReport(ctx, vehicleID, CodeReport{Active: active, Monitors: monitors, At: at})
}

// ObserveReport is ObserveCodes with the whole report: a fault that came
// back within the warranty of the repair's lines opens a warranty claim
// to the shop with the codes, their freeze frames and the drives since.
func (s *Service) ObserveReport(ctx context.Context, vehicleID string, r CodeReport) error {
	active, monitors, at := r.Active, r.Monitors, r.At
	if len(monitors) > 0 {
		s.mu.Lock()
		s.monitors[vehicleID] = monitors
		s.mu.Unlock()
	}
	watched, err := s.Store.Bookings(ctx, store.BookingFilter{VehicleID: vehicleID, Verify: VerifyWatching})
	if err != nil {
		return err
	}
	for _, b := range watched {
		if !at.After(b.Completed) {
			continue // a report from before the repair
		}
		var back []string
		for _, c := range b.Codes {
			if slices.Contains(active, c) {
				back = append(back, c)
			}
		}
		if len(back) == 0 {
			continue
		}
		note := fmt.Sprintf("%s came back on %s, %d drive cycle(s) after the repair", strings.Join(back, ", "), at.UTC().Format("2 Jan 2006 15:04 MST"), b.VerifyCycles)
		if err := s.Store.SetVerify(ctx, b.ID, store.Verify{State: VerifyWatching, Cycles: b.VerifyCycles}, store.Verify{State: VerifyReturned, Cycles: b.VerifyCycles, At: at}, note); err != nil {
			continue // another server gave the verdict, or counted a cycle meanwhile
		}
		s.verdict(b, VerifyReturned, note)
		s.claimWarranty(ctx, b, back, r, note)
	}
	return nil
}

// ObserveSymptom takes a fault the car's live data shows again (a rule
// naming the symptom fired at at): a watched repair that was to fix it
// ends as returned, and a warranty covering it opens a claim.
func (s *Service) ObserveSymptom(ctx context.Context, vehicleID, symptom string, at time.Time) error {
	watched, err := s.Store.Bookings(ctx, store.BookingFilter{VehicleID: vehicleID, Verify: VerifyWatching})
	if err != nil {
		return err
	}
	for _, b := range watched {
		if !at.After(b.Completed) || !slices.Contains(b.Symptoms, symptom) {
			continue
		}
		note := fmt.Sprintf("%s showed again in the live data on %s, %d drive cycle(s) after the repair", s.symptomTitles([]string{symptom})[0],
			at.UTC().Format("2 Jan 2006 15:04 MST"), b.VerifyCycles)
		if err := s.Store.SetVerify(ctx, b.ID, store.Verify{State: VerifyWatching, Cycles: b.VerifyCycles}, store.Verify{State: VerifyReturned, Cycles: b.VerifyCycles, At: at}, note); err != nil {
			continue // another server gave the verdict, or counted a cycle meanwhile
		}
		s.verdict(b, VerifyReturned, note)
		s.claimWarranty(ctx, b, []string{symptom}, CodeReport{At: at}, note)
	}
	return nil
}

// symptomTitles are the symptoms' titles, the id where the knowledge base
// has none.
func (s *Service) symptomTitles(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, title, err := s.KB.ExplainSymptom(id, s.Pricing); err == nil {
			out = append(out, title)
		} else {
			out = append(out, id)
		}
	}
	return out
}

// ObserveDriveCycle counts a completed drive (a trip's end) for the
// repairs being watched; after VerifyCycles without the codes, and with
// the monitors that test them complete, the repair is fixed.
func (s *Service) ObserveDriveCycle(ctx context.Context, vehicleID string, at time.Time) error {
	watched, err := s.Store.Bookings(ctx, store.BookingFilter{VehicleID: vehicleID, Verify: VerifyWatching})
	if err != nil {
		return err
	}
	s.mu.Lock()
	mons := s.monitors[vehicleID]
	s.mu.Unlock()
	for _, b := range watched {
		if !at.After(b.Completed) || !at.After(b.VerifyAt) {
			continue // before the repair, or a drive already counted
		}
		cycles := b.VerifyCycles + 1
		waiting := s.incompleteMonitors(b.Codes, b.Symptoms, mons)
		// Without the car's readiness (not reported since the server
		// started), twice the drive cycles stand in for the monitors.
		needed := s.VerifyCycles
		if len(mons) == 0 {
			needed *= 2
		}
		if cycles < needed || len(waiting) > 0 {
			note := fmt.Sprintf("%d of %d drive cycles without the fault", min(cycles, needed), needed)
			if len(mons) == 0 {
				note += "; the car has not reported its readiness monitors yet"
			}
			if len(waiting) > 0 {
				note += "; waiting for the " + strings.Join(waiting, ", ") + " monitor(s) to complete"
			}
			if err := s.Store.SetVerify(ctx, b.ID, store.Verify{State: VerifyWatching, Cycles: b.VerifyCycles}, store.Verify{State: VerifyWatching, Cycles: cycles, At: at}, note); err != nil {
				if errors.Is(err, store.ErrConflict) {
					continue // another server counted this drive meanwhile
				}
				return err
			}
			s.drive(ctx, b.ID, at)
			continue
		}
		note := fmt.Sprintf("%s stayed away for %d drive cycles", strings.Join(append(slices.Clip(b.Codes), s.symptomTitles(b.Symptoms)...), ", "), cycles)
		if len(mons) > 0 {
			note += " and the monitors that test it completed"
		} else {
			note += " (the car did not report its readiness monitors)"
		}
		if err := s.Store.SetVerify(ctx, b.ID, store.Verify{State: VerifyWatching, Cycles: b.VerifyCycles}, store.Verify{State: VerifyFixed, Cycles: cycles, At: at}, note); err != nil {
			continue // another server gave the verdict
		}
		s.drive(ctx, b.ID, at)
		s.verdict(b, VerifyFixed, note)
	}
	return nil
}

// drive records a drive counted after a repair, the evidence a warranty
// claim carries; a failure loses only that.
func (s *Service) drive(ctx context.Context, bookingID string, at time.Time) {
	if err := s.Store.AddDrive(ctx, bookingID, at); err != nil {
		s.Log.Warn("booking: recording a drive after a repair", "booking", bookingID, "err", err)
	}
}

// incompleteMonitors lists the supported monitors that test the codes
// and the symptoms' faults and have not completed.
func (s *Service) incompleteMonitors(codes, symptoms []string, mons []diagnosis.Monitor) []string {
	var out []string
	var profiles []string
	for _, c := range codes {
		if x, err := s.KB.Explain(c, s.Pricing); err == nil {
			profiles = append(profiles, x.Profile)
		}
	}
	for _, id := range symptoms {
		if x, _, err := s.KB.ExplainSymptom(id, s.Pricing); err == nil {
			profiles = append(profiles, x.Profile)
		}
	}
	for _, profile := range profiles {
		for _, name := range monitorsFor[profile] {
			for _, m := range mons {
				if m.Name == name && m.Supported && !m.Complete && !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

func (s *Service) verdict(b store.Booking, result, note string) {
	n := Note{ID: noteID("verify", b.ID, result), Kind: "verify-" + result, BookingID: b.ID, VehicleID: b.VehicleID, Time: s.now(), Path: "/bookings/" + b.ID}
	if result == VerifyFixed {
		n.Subject, n.Text = "The repair holds", "Pitwall watched the car after the repair: "+note+"."
	} else {
		n.Subject, n.Text = "The fault is back", "Pitwall watched the car after the repair: "+note+". Contact the shop; a returning fault is often covered by its warranty."
	}
	s.tellOwner(b.OwnerID, n)
	n.Path = "/shop/bookings/" + b.ID
	s.tellShop(b.ShopID, n)
}
