package booking

import (
	"context"
	"slices"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// Record is a car's service record: every completed booking, repairs and
// maintenance, with the shop, the lines, the odometer, the codes fixed
// and what verify-the-fix found, and the services the owner entered
// themselves. It is what an owner exports for a buyer, and what a lead's
// shops see when the owner ticks it.
type Record struct {
	Vehicle RecordVehicle `json:"vehicle"`
	Entries []RecordEntry `json:"entries"`
	Made    time.Time     `json:"made"`
}

// RecordVehicle is the car a record is of.
type RecordVehicle struct {
	Make  string `json:"make"`
	Model string `json:"model"`
	Year  int    `json:"year"`
	VIN   string `json:"vin,omitempty"`
}

// RecordEntry is one job in a car's record, newest first.
type RecordEntry struct {
	Date       time.Time `json:"date"`
	Kind       string    `json:"kind"` // repair, maintenance, or service (entered by the owner)
	Shop       string    `json:"shop,omitempty"`
	OdometerKm float64   `json:"odometer_km,omitempty"`
	Work       string    `json:"work"`
	Codes      []string  `json:"codes_fixed,omitempty"`
	Verify     string    `json:"verify,omitempty"` // watching, fixed, returned
	VerifyNote string    `json:"verify_note,omitempty"`
	Lines      []Line    `json:"lines,omitempty"`
	Total      float64   `json:"total,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	BookingID  string    `json:"booking_id,omitempty"`
}

// Record reads the service record of an owner's car.
func (s *Service) Record(ctx context.Context, ownerID, vehicleID string) (Record, error) {
	v, err := s.ownedVehicle(ctx, ownerID, vehicleID)
	if err != nil {
		return Record{}, err
	}
	return s.record(ctx, v, true)
}

// record builds a car's record; the VIN only when withVIN.
func (s *Service) record(ctx context.Context, v store.Vehicle, withVIN bool) (Record, error) {
	r := Record{Vehicle: RecordVehicle{Make: v.Make, Model: v.Model, Year: v.Year}, Entries: []RecordEntry{}, Made: s.now()}
	if withVIN {
		r.Vehicle.VIN = v.VIN
	}
	bs, err := s.Store.Bookings(ctx, store.BookingFilter{VehicleID: v.ID})
	if err != nil {
		return Record{}, err
	}
	names := map[string]string{}
	for _, b := range bs {
		if b.Status != Completed && b.Status != Reviewed {
			continue
		}
		if _, ok := names[b.ShopID]; !ok {
			if st, err := s.Store.Shop(ctx, b.ShopID); err == nil {
				names[b.ShopID] = st.Name
			}
		}
		bill, err := s.billOfBooking(ctx, b)
		if err != nil {
			return Record{}, err
		}
		var lines []Line
		for _, l := range bill.Lines {
			if l.Counts {
				l.Fair, l.Proposed, l.Decided = nil, time.Time{}, time.Time{}
				lines = append(lines, l)
			}
		}
		r.Entries = append(r.Entries, RecordEntry{Date: b.Completed, Kind: b.Kind, Shop: names[b.ShopID], OdometerKm: b.CompletedOdometer, Work: b.Work, Codes: b.Codes,
			Verify: b.Verify, VerifyNote: b.VerifyNote, Lines: lines, Total: bill.Total, Currency: b.Currency, BookingID: b.ID})
	}
	svs, err := s.Store.Services(ctx, v.ID)
	if err != nil {
		return Record{}, err
	}
	for _, sv := range svs {
		if sv.BookingID != "" {
			continue // the booking's entry says it, with its shop and lines
		}
		work := sv.Notes
		if it, ok := ItemByID(sv.Kind); ok {
			work = it.Name
			if sv.Notes != "" && sv.Notes != it.Name {
				work += ": " + sv.Notes
			}
		}
		r.Entries = append(r.Entries, RecordEntry{Date: sv.Date, Kind: "service", OdometerKm: sv.OdometerKm, Work: work})
	}
	slices.SortStableFunc(r.Entries, func(a, b RecordEntry) int { return b.Date.Compare(a.Date) })
	return r, nil
}
