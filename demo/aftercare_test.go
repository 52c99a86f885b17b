package demo_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/demo"
	"github.com/pitwall-io/pitwall/store"
)

// The demo shows the loop after the booking on its own: the seeded
// repairs' follow-ups are out and a complaint waits; the overheating
// car's fault returns and opens a warranty claim; the healthy car's
// thermostat holds once the fleet has driven three trips.
func TestDemoReachesVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs a fleet for up to three minutes")
	}
	d, err := demo.Start(context.Background(), demo.Options{HTTP: "127.0.0.1:0", Vehicles: 3, Speed: 180, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	ctx := context.Background()
	st := d.Server.Store
	owner, err := st.UserByEmail(ctx, "owner@pitwall.demo")
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := st.Complaints(ctx, store.ComplaintFilter{OwnerID: owner.OwnerID}); err != nil || len(cs) != 1 || cs[0].Status != booking.ComplaintOpen {
		t.Fatalf("the seeded complaint: %+v %v", cs, err)
	}
	verdicts := func() map[string]string {
		bs, _ := st.Bookings(ctx, store.BookingFilter{OwnerID: owner.OwnerID})
		out := map[string]string{}
		for _, b := range bs {
			out[b.VehicleID] = b.Verify
			if f, err := st.Followup(ctx, b.ID); err != nil || f.Sent.IsZero() {
				t.Errorf("booking %s has no follow-up sent: %v", b.ID, err)
			}
		}
		return out
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		v := verdicts()
		claims, _ := st.WarrantyClaims(ctx, store.ClaimFilter{OwnerID: owner.OwnerID})
		if v[d.OwnerVehicles[0]] == booking.VerifyReturned && v[d.OwnerVehicles[1]] == booking.VerifyFixed && len(claims) == 1 {
			break
		}
		if time.Now().After(deadline) || t.Failed() {
			t.Fatalf("after 3 minutes: verdicts %v, %d warranty claim(s)", v, len(claims))
		}
		time.Sleep(time.Second)
	}
}
