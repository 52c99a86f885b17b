package demo

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
)

// pastClock is the wall clock moved back by an offset: the demo seeds
// jobs done days ago with it, then sets the offset to zero.
type pastClock struct{ back atomic.Int64 }

func (c *pastClock) now() time.Time { return time.Now().Add(-time.Duration(c.back.Load())) }

// seedAftercare gives the owner's first two cars a repair finished three
// days ago, so the loop after the booking shows within minutes of the
// start: the overheating car's water pump (with a 12-month warranty) at
// Oficina Alfama, whose fault returns when the car overheats again and
// opens a warranty claim; the healthy car's thermostat at Auto Campo de
// Ourique, which holds once the fleet has reported three trips. Both
// owners' follow-ups go out; the first is answered low (not the price
// agreed), so a complaint waits for the shop's answer, and escalates
// to the administrators when the shop lets an hour of opening time pass.
func (d *Demo) seedAftercare(ctx context.Context, s *server.Server, clock *pastClock) error {
	if len(d.OwnerVehicles) < 2 {
		return nil // a fleet of one car shows the journey only
	}
	owner, err := s.Store.UserByEmail(ctx, "owner@pitwall.demo")
	if err != nil {
		return err
	}
	jobs := []struct {
		vehicle, shop, code, work string
		lines                     []store.Line
	}{
		{d.OwnerVehicles[0], "oficina-alfama", "P0217", "Replaced the water pump and refilled the coolant", []store.Line{
			{Kind: booking.PartLine, Description: "Water pump", Repair: "coolant-leak", QtyHundredths: 100, UnitCents: 14500, AmountCents: 14500, WarrantyMonths: 12},
			{Kind: booking.LabourLine, Description: "Fitting the pump, bleeding the system", QtyHundredths: 150, UnitCents: 6200, AmountCents: 9300},
		}},
		{d.OwnerVehicles[1], "auto-campo", "P0128", "Replaced the thermostat", []store.Line{
			{Kind: booking.PartLine, Description: "Thermostat with seal", Repair: "replace:thermostat", QtyHundredths: 100, UnitCents: 4800, AmountCents: 4800, WarrantyMonths: 12},
			{Kind: booking.LabourLine, Description: "Fitting the thermostat", QtyHundredths: 100, UnitCents: 7000, AmountCents: 7000},
		}},
	}
	done := time.Now().AddDate(0, 0, -3).Add(-2 * time.Hour)
	clock.back.Store(int64(time.Since(done)))
	var ids []string
	for _, j := range jobs {
		st, err := s.Store.Shop(ctx, j.shop)
		if err != nil {
			return err
		}
		sh, err := booking.ReadShop(st)
		if err != nil {
			return err
		}
		var sub int64
		for _, l := range j.lines {
			sub += l.AmountCents
		}
		b, err := s.Store.AddBooking(ctx, store.Booking{ShopID: j.shop, OwnerID: owner.OwnerID, VehicleID: j.vehicle, Kind: "repair", Status: booking.InProgress,
			Slot: clock.now().Add(-time.Hour), Day: sh.Day(clock.now()), Price: float64(sub) / 100, Currency: sh.Profile.Currency, Codes: []string{j.code},
			Work: "Repair for " + j.code, Lines: j.lines, ContactName: "Ana Demo"}, sh.Profile.Capacity)
		if err != nil {
			return fmt.Errorf("a past repair: %w", err)
		}
		if _, err := s.Booking.Act(ctx, booking.ShopRole, j.shop, b.ID, booking.Complete, booking.Input{Work: j.work, Odometer: 48000}); err != nil {
			return fmt.Errorf("completing a past repair: %w", err)
		}
		ids = append(ids, b.ID)
	}
	// An hour ago the follow-ups fell due.
	clock.back.Store(int64(time.Hour))
	if _, err := s.Booking.SweepAftercare(ctx); err != nil {
		return err
	}
	no, yes := false, true
	if _, _, err := s.Booking.AnswerFollowup(ctx, owner.OwnerID, ids[0], booking.FollowupAnswer{Fixed: &yes, PriceAsAgreed: &no, UseAgain: &no, Score: 2,
		Comment: "The pump was fine, but the bill had a fluid I never agreed to"}); err != nil {
		return err
	}
	clock.back.Store(0)
	return nil
}
