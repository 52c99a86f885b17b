package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// An owner's export holds their rows and no secret; erasing the owner
// leaves a shop's booking, pointed at the tombstone and stripped, and
// nothing else of theirs.
func TestExportAndEraseOwner(t *testing.T) { onEach(t, testExportAndEraseOwner) }

func testExportAndEraseOwner(t *testing.T, s *Store, _ string) {
	s, o, v, sh := bookingFixture(t, s)
	ctx := context.Background()
	if _, err := s.AddUser(ctx, User{Email: o.Email, PasswordHash: "$2a$10$secret-hash", Role: "owner", OwnerID: o.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToken(ctx, "token-hash-1", mustUser(t, s, o.Email), "api"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddDevice(ctx, "car-1", v.ID); err != nil {
		t.Fatal(err)
	}
	booked, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0217"}, ShareVIN: true, VIN: v.VIN, ShareReport: true, Report: []byte(`{"x":1}`)},
		[]Offer{{ShopID: sh.ID, Rank: 1, State: OfferAccepted, Quote: 100, Slot: time.Now().Add(24 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.BookLead(ctx, Booking{LeadID: booked.ID, ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "requested",
		Slot: time.Now().Add(24 * time.Hour), Day: "2030-01-01", Price: 100, Currency: "EUR", ContactName: "Ana", ContactEmail: o.Email, Plate: "AA-00-BB"}, 3,
		LeadMoves{Lead: Move{From: LeadOpen, To: LeadBooked}, Chosen: Move{From: OfferAccepted, To: OfferBooked}})
	if err != nil {
		t.Fatal(err)
	}
	open, err := s.AddLead(ctx, Lead{OwnerID: o.ID, VehicleID: v.ID, Codes: []string{"P0420"}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	data, err := s.ExportOwner(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(data)
	for _, table := range []string{"owners", "users", "api_tokens", "vehicles", "devices", "leads", "lead_offers", "bookings", "booking_events"} {
		if len(data[table]) == 0 {
			t.Errorf("the export has no %s", table)
		}
	}
	for _, secret := range []string{"secret-hash", "token-hash-1", "$7$"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the export holds %q", secret)
		}
	}
	if data["vehicles"][0]["created_ms"] == nil || !strings.Contains(string(raw), `"created_ms":"20`) {
		t.Errorf("times are not written as times: %s", raw)
	}

	devices, err := s.EraseOwner(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != 1 || devices[0] != "car-1" {
		t.Errorf("erased devices %v", devices)
	}
	if _, err := s.Owner(ctx, o.ID); err == nil {
		t.Error("the owner is still there")
	}
	if _, err := s.UserByEmail(ctx, o.Email); err == nil {
		t.Error("the user is still there")
	}
	if _, err := s.Device(ctx, "car-1"); err == nil {
		t.Error("the device is still there")
	}
	if _, err := s.Lead(ctx, open.ID); err == nil {
		t.Error("a lead no booking came of is still there")
	}
	got, err := s.Booking(ctx, b.ID)
	if err != nil || got.OwnerID != Tombstone || got.ContactName != "" || got.ContactEmail != "" || got.Plate != "" || got.Price != 100 {
		t.Errorf("the shop's booking after the owner left: %+v %v", got, err)
	}
	l, err := s.Lead(ctx, booked.ID)
	if err != nil || l.OwnerID != Tombstone || l.VIN != "" || l.Report != nil {
		t.Errorf("the booked lead after the owner left: %+v %v", l, err)
	}
	car, err := s.Vehicle(ctx, v.ID)
	if err != nil || car.OwnerID != Tombstone || car.VIN != "" || car.Make != "Chevrolet" {
		t.Errorf("the booked car after the owner left: %+v %v", car, err)
	}
	if _, err := s.ExportOwner(ctx, o.ID); err == nil {
		t.Error("an erased owner still exports")
	}
}

func mustUser(t *testing.T, s *Store, email string) string {
	t.Helper()
	u, err := s.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
