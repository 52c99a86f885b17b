package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// race runs f n times at once, each on its own goroutine (so on
// PostgreSQL on its own connection), and counts the nil results and the
// errors that are want.
func race(t *testing.T, n int, want error, f func(i int) error) (ok, refused int) {
	t.Helper()
	var wg sync.WaitGroup
	var okN, refusedN atomic.Int32
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch err := f(i); {
			case err == nil:
				okN.Add(1)
			case errors.Is(err, want):
				refusedN.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return int(okN.Load()), int(refusedN.Load())
}

// Owners racing to move their bookings onto one day: the day's capacity
// holds for moves as for new bookings.
func TestMovesHoldCapacity(t *testing.T) { onEach(t, testMovesHoldCapacity) }

func testMovesHoldCapacity(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	var ids []string
	for i := range 8 {
		b, err := s.AddBooking(ctx, Booking{ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "accepted", Slot: time.Now(), Day: fmt.Sprintf("2026-11-%02d", 10+i), Price: 100, Currency: "USD"}, 3)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	ok, full := race(t, len(ids), ErrFull, func(i int) error {
		_, err := s.ChangeBooking(ctx, ids[i], BookingChange{From: "accepted", To: "scheduled", Actor: "shop", Slot: time.Now(), Day: "2026-11-30", Capacity: 3})
		return err
	})
	if ok != 3 || full != 5 {
		t.Errorf("%d moved, %d refused; want 3 and 5", ok, full)
	}
}

// A booking's status is compare-and-set: of racing changes from one
// status exactly one wins, and the history has one event for it.
func TestChangeBookingRace(t *testing.T) { onEach(t, testChangeBookingRace) }

func testChangeBookingRace(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	for round := range 5 {
		b, err := s.AddBooking(ctx, Booking{ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "requested", Slot: time.Now(), Day: fmt.Sprintf("2026-12-%02d", round+1), Price: 100, Currency: "USD"}, 3)
		if err != nil {
			t.Fatal(err)
		}
		ok, lost := race(t, 10, ErrConflict, func(i int) error {
			to := "accepted"
			if i%2 == 1 {
				to = "cancelled"
			}
			_, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "requested", To: to, Actor: "shop", Cancel: "x"})
			return err
		})
		ev, err := s.BookingEvents(ctx, b.ID)
		if ok != 1 || lost != 9 || err != nil || len(ev) != 2 {
			t.Fatalf("%d changes won, %d lost; events %+v, %v", ok, lost, ev, err)
		}
	}
}

// testBookMoves are the moves the booking package makes when a lead is
// booked.
var testBookMoves = LeadMoves{Lead: Move{LeadOpen, LeadBooked}, Chosen: Move{OfferAccepted, OfferBooked},
	OthersFrom: []string{OfferWaiting, OfferSent, OfferAccepted}, OthersTo: OfferWithdrawn}

// leadWithQuotes is an open lead with an accepted quote from each shop.
func leadWithQuotes(t *testing.T, s *Store, o Owner, v Vehicle, shops ...string) Lead {
	t.Helper()
	ctx := context.Background()
	var offers []Offer
	for i, id := range shops {
		offers = append(offers, Offer{ShopID: id, Rank: i + 1, State: OfferSent, Sent: time.Now(), Due: time.Now().Add(time.Hour)})
	}
	l, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}, Make: "Chevrolet", Class: "medium", Currency: "USD"}, offers)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range shops {
		if err := s.AnswerOffer(ctx, Offer{LeadID: l.ID, ShopID: id, State: OfferAccepted, Quote: 300, Slot: time.Now().Add(48 * time.Hour)}, OfferSent); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// The owner books quotes on one lead from several tabs at once: the lead
// is booked once.
func TestQuoteBookedOnce(t *testing.T) { onEach(t, testQuoteBookedOnce) }

func testQuoteBookedOnce(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	if _, err := s.AddShop(ctx, Shop{ID: "shop-b", Name: "B", Lat: 38.7, Lon: -9.1, Profile: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	l := leadWithQuotes(t, s, o, v, sh.ID, "shop-b")
	ok, lost := race(t, 10, ErrConflict, func(i int) error {
		shop := []string{sh.ID, "shop-b"}[i%2]
		_, err := s.BookLead(ctx, Booking{LeadID: l.ID, ShopID: shop, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "requested", Slot: time.Now(), Day: "2026-11-25", Price: 300, Currency: "USD"}, 20, testBookMoves)
		return err
	})
	bs, _ := s.Bookings(ctx, BookingFilter{OwnerID: o.ID})
	got, _ := s.Lead(ctx, l.ID)
	if ok != 1 || lost != 9 || len(bs) != 1 || got.Status != LeadBooked {
		t.Fatalf("%d booked, %d refused, %d bookings, lead %s", ok, lost, len(bs), got.Status)
	}
}

// A shop answering at the moment its offer falls due, while sweepers on
// other servers expire it: the offer ends in one state, answered or
// expired, never both.
func TestAnswerRacesSweep(t *testing.T) { onEach(t, testAnswerRacesSweep) }

func testAnswerRacesSweep(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	for round := range 6 {
		due := time.Now()
		l, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}, Currency: "USD"},
			[]Offer{{ShopID: sh.ID, Rank: 1, State: OfferSent, Sent: due.Add(-time.Hour), Due: due}})
		if err != nil {
			t.Fatal(err)
		}
		var expired atomic.Int32
		ok, lost := race(t, 6, ErrConflict, func(i int) error {
			if i%2 == 0 {
				state := OfferAccepted
				if i == 2 {
					state = OfferDeclined
				}
				return s.AnswerOffer(ctx, Offer{LeadID: l.ID, ShopID: sh.ID, State: state, Quote: 200, Slot: due.Add(24 * time.Hour)}, OfferSent)
			}
			got, err := s.ExpireDueOffers(ctx, OfferSent, OfferExpired, due, 10)
			expired.Add(int32(len(got)))
			return err
		})
		offers, _ := s.Offers(ctx, l.ID)
		answered := ok - 3 // the three sweeps always succeed, expiring or not
		if answered+int(expired.Load()) != 1 || lost != 3-answered || len(offers) != 1 {
			t.Fatalf("round %d: %d answers won, %d lost, %d expiries; offer %+v", round, answered, lost, expired.Load(), offers)
		}
	}
}

// Servers moving one lead on at once, each after its own shop dropped
// out (a decline here, an expiry there): between them they send it to
// as many new shops as dropped out, never more, never fewer.
func TestPromotionRace(t *testing.T) { onEach(t, testPromotionRace) }

func testPromotionRace(t *testing.T, s *Store, _ string) {
	s, o, v, _ := bookingFixture(t, s)
	ctx := context.Background()
	now := time.Now()
	for i := range 9 {
		id := fmt.Sprint("shop-", i)
		if _, err := s.AddShop(ctx, Shop{ID: id, Name: id, Lat: 38.7, Lon: -9.1, Profile: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 15 {
		promotionRound(t, s, o, v, now, round)
	}
}

func promotionRound(t *testing.T, s *Store, o Owner, v Vehicle, now time.Time, round int) {
	ctx := context.Background()
	var offers []Offer
	for i := range 9 {
		id := fmt.Sprint("shop-", i)
		o := Offer{ShopID: id, Rank: i + 1, State: OfferWaiting}
		if i < 3 {
			o.State, o.Sent, o.Due = OfferSent, now, now.Add(time.Hour)
		}
		offers = append(offers, o)
	}
	l, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}, Currency: "USD"}, offers)
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int32
	race(t, 3, ErrConflict, func(i int) error {
		if err := s.SetOfferState(ctx, l.ID, fmt.Sprint("shop-", i), OfferSent, OfferExpired, time.Time{}, time.Time{}); err != nil {
			return err
		}
		got, err := s.PromoteOffers(ctx, l.ID, Promotion{LeadOpen: LeadOpen, Waiting: OfferWaiting, Sent: OfferSent, Live: 3, Now: now,
			Due: func(string) time.Time { return now.Add(time.Hour) }})
		sent.Add(int32(len(got)))
		return err
	})
	got, _ := s.Offers(ctx, l.ID)
	live := 0
	for _, o := range got {
		if o.State == OfferSent {
			live++
		}
	}
	if sent.Load() != 3 || live != 3 {
		t.Fatalf("round %d: %d promotions, %d sent offers; want 3 and 3", round, sent.Load(), live)
	}
}

// A drive cycle two servers see at once counts once, and the verdict is
// given once.
func TestVerifyIsCompareAndSet(t *testing.T) { onEach(t, testVerifyIsCompareAndSet) }

func testVerifyIsCompareAndSet(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	b, err := s.AddBooking(ctx, Booking{ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "in_progress", Slot: time.Now(), Day: "2026-11-24", Price: 100, Currency: "USD", Codes: []string{"P0420"}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeBooking(ctx, b.ID, BookingChange{From: "in_progress", To: "completed", Actor: "shop", Completed: time.Now(), Verify: "watching"}); err != nil {
		t.Fatal(err)
	}
	ok, lost := race(t, 6, ErrConflict, func(int) error {
		return s.SetVerify(ctx, b.ID, Verify{State: "watching"}, Verify{State: "watching", Cycles: 1, At: time.Now().Add(time.Minute)}, "1 of 3")
	})
	if ok != 1 || lost != 5 {
		t.Fatalf("one drive cycle counted %d times (%d refused)", ok, lost)
	}
	ok, lost = race(t, 6, ErrConflict, func(i int) error {
		verdict := []string{"fixed", "returned"}[i%2]
		return s.SetVerify(ctx, b.ID, Verify{State: "watching", Cycles: 1}, Verify{State: verdict, Cycles: 1, At: time.Now().Add(time.Hour)}, verdict)
	})
	got, _ := s.Booking(ctx, b.ID)
	if ok != 1 || lost != 5 || got.Verify == "watching" {
		t.Fatalf("%d verdicts given, %d refused; booking %s", ok, lost, got.Verify)
	}
}

// Racing rotations of a device's secret: one hands out a secret, the
// others are refused, and the secret handed out is the one that works.
func TestRotationRace(t *testing.T) { onEach(t, testRotationRace) }

func testRotationRace(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	if _, _, err := s.AddDevice(ctx, "car-1", ""); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var secrets []string
	ok, lost := race(t, 8, ErrConflict, func(int) error {
		sec, err := s.RotateSecret(ctx, "car-1")
		if err == nil {
			mu.Lock()
			secrets = append(secrets, sec)
			mu.Unlock()
		}
		return err
	})
	if ok < 1 || ok+lost != 8 {
		t.Fatalf("%d rotations, %d refused", ok, lost)
	}
	// Rotations that did not overlap may each win; only the last one's
	// secret may work, and it must.
	works := 0
	for _, sec := range secrets {
		if s.Authenticate(ctx, "car-1", sec) == nil {
			works++
		}
	}
	if works != 1 {
		t.Fatalf("%d of the %d secrets handed out work; want exactly one", works, len(secrets))
	}
	// The rotation that read the secret before another replaced it is
	// the one refused.
	d, _ := s.Device(ctx, "car-1")
	if _, _, err := s.replaceCredentials(ctx, "car-1", d.SecretHash); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.replaceCredentials(ctx, "car-1", d.SecretHash); !errors.Is(err, ErrConflict) {
		t.Fatalf("a rotation from a replaced secret: %v", err)
	}
}
