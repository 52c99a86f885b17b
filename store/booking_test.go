package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func bookingFixture(t *testing.T, s *Store) (*Store, Owner, Vehicle, Shop) {
	t.Helper()
	ctx := context.Background()
	o, err := s.AddOwner(ctx, Owner{Email: "ana@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.AddVehicle(ctx, Vehicle{OwnerID: o.ID, VIN: "1G1JC5444R7252367", Make: "Chevrolet"})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := s.AddShop(ctx, Shop{ID: "shop-a", Name: "A", Lat: 38.7, Lon: -9.1, Profile: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return s, o, v, sh
}

// Consent is the store's to keep: what the owner did not tick is not
// stored, whatever the caller passes, and a shop without an offer sees
// nothing.
func TestLeadKeepsOnlyWhatWasConsented(t *testing.T) { onEach(t, testLeadKeepsOnlyWhatWasConsented) }

func testLeadKeepsOnlyWhatWasConsented(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	l, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}, VIN: v.VIN, ApproxLat: 38.722345, ApproxLon: -9.139312, Report: []byte(`{"x":1}`)},
		[]Offer{{ShopID: sh.ID, Rank: 1, State: OfferSent, Sent: time.Now(), Due: time.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Lead(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.VIN != "" || got.ApproxLat != 0 || got.Report != nil {
		t.Errorf("kept what was not consented: %+v", got)
	}
	l2, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}, ShareVIN: true, ShareLocation: true, VIN: v.VIN, ApproxLat: 38.722345, ApproxLon: -9.139312},
		[]Offer{{ShopID: sh.ID, Rank: 1, State: OfferSent}})
	if err != nil {
		t.Fatal(err)
	}
	seen, _, err := s.ShopLead(ctx, sh.ID, l2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if seen.VIN != v.VIN || seen.ApproxLat != 38.72 || seen.ApproxLon != -9.14 || seen.OwnerID != "" {
		t.Errorf("the shop sees %+v", seen)
	}
	if _, _, err := s.ShopLead(ctx, "shop-b", l2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a shop without an offer: %v", err)
	}
}

// Two owners racing for the last place of a day: exactly the capacity
// is booked.
func TestCapacityHoldsUnderRace(t *testing.T) { onEach(t, testCapacityHoldsUnderRace) }

func testCapacityHoldsUnderRace(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddBooking(ctx, Booking{ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "maintenance", Status: "requested", Slot: time.Now(), Day: "2026-11-24", Price: 100, Currency: "USD"}, 3)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrFull):
				full++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 || full != 9 {
		t.Errorf("%d booked, %d refused; want 3 and 9", ok, full)
	}
}

// A change from a state the booking has left fails and changes nothing.
func TestChangeBookingIsCompareAndSet(t *testing.T) { onEach(t, testChangeBookingIsCompareAndSet) }

func testChangeBookingIsCompareAndSet(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b, err := s.AddBooking(ctx, Booking{ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "requested", Slot: time.Now(), Day: "2026-11-24", Price: 100, Currency: "USD"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "requested", To: "accepted", Actor: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "requested", To: "cancelled", Actor: "owner", Cancel: "late"}); !errors.Is(err, ErrConflict) {
		t.Errorf("a stale change: %v", err)
	}
	got, _ := s.Booking(ctx, b.ID)
	ev, _ := s.BookingEvents(ctx, b.ID)
	if got.Status != "accepted" || got.Cancel != "" || len(ev) != 2 || ev[1].Actor != "shop" {
		t.Errorf("booking %+v, events %+v", got, ev)
	}
}
