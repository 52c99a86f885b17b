package booking

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// onEach runs a test on every engine the store runs on.
func onEach(t *testing.T, f func(t *testing.T, r *rig)) {
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) { f(t, newRigOn(t, db.DSN)) })
	}
}

// server is another server's booking service on the rig's database and
// clock, telling the same shops.
func (r *rig) server() *Service {
	svc := New(r.st, r.kb, diagnosis.DefaultPricing(), &Dispatch{Feed: &alerting.Feed{Store: r.st}})
	svc.Now = r.clock.now
	return svc
}

// at once runs f on n goroutines released together.
func atOnce(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// Twelve owners racing for a day with three places: exactly three book.
func TestRacingOwnersForLastPlaces(t *testing.T) {
	onEach(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.shop(t, "a", 0.01, profile(func(p *Profile) { p.Capacity = 3 }))
		type car struct{ owner, vehicle string }
		var cars []car
		for i := range 12 {
			o, err := r.st.AddOwner(ctx, store.Owner{Email: fmt.Sprintf("owner%d@example.com", i)})
			if err != nil {
				t.Fatal(err)
			}
			v, err := r.st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Chevrolet"})
			if err != nil {
				t.Fatal(err)
			}
			cars = append(cars, car{o.ID, v.ID})
		}
		slot := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
		var booked, full atomic.Int32
		atOnce(len(cars), func(i int) {
			_, err := r.svc.BookPackage(ctx, cars[i].owner, cars[i].vehicle, "a", "oil-service", slot, Contact{})
			switch {
			case err == nil:
				booked.Add(1)
			case errors.Is(err, ErrInvalid):
				full.Add(1)
			default:
				t.Error(err)
			}
		})
		if booked.Load() != 3 || full.Load() != 9 {
			t.Errorf("%d booked, %d refused; want 3 and 9", booked.Load(), full.Load())
		}
	})
}

// Three servers sweep at the same moment: the overdue offer expires
// once, and the next shop is sent the lead once.
func TestSeveralServersSweepOnce(t *testing.T) {
	onEach(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.svc.Fanout = 1
		r.shop(t, "slow", 0.01, profile(func(p *Profile) { p.ResponseMinutes = 30 }))
		r.shop(t, "next", 0.02, profile(nil))
		r.shop(t, "last", 0.03, profile(nil))
		lead, sugg, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, r.report(t, "P0562"), Consent{}, nil)
		if err != nil || sugg[0].ShopID != "slow" {
			t.Fatalf("lead %v, %v", sugg, err)
		}
		servers := []*Service{r.svc, r.server(), r.server()}
		for _, s := range servers {
			s.Fanout = 1
			t.Cleanup(s.Wait)
		}
		r.clock.add(31 * time.Minute)
		var expired atomic.Int32
		atOnce(len(servers), func(i int) {
			n, err := servers[i].Sweep(ctx)
			if err != nil {
				t.Error(err)
			}
			expired.Add(int32(n))
		})
		for _, s := range servers {
			s.Wait()
		}
		offers, _ := r.st.Offers(ctx, lead.ID)
		states := map[string]string{}
		for _, o := range offers {
			states[o.ShopID] = o.State
		}
		if expired.Load() != 1 || states["slow"] != OfferExpired || states["next"] != OfferSent || states["last"] != OfferWaiting {
			t.Fatalf("%d expired; offers %v", expired.Load(), states)
		}
		if got := r.hooks.kinds("next"); len(got) != 1 || got[0] != "lead" {
			t.Fatalf("the next shop was told %v", got)
		}
	})
}

// A shop answering at the moment its answer falls due while servers
// sweep: the offer is answered or expired, and the lead moves on only
// when it expired.
func TestAnswerRacesSweep(t *testing.T) {
	onEach(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.svc.Fanout = 1
		r.shop(t, "a", 0.01, profile(func(p *Profile) { p.ResponseMinutes = 30 }))
		r.shop(t, "b", 0.02, profile(nil))
		lead, _, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, r.report(t, "P0562"), Consent{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		other := r.server()
		other.Fanout = 1
		t.Cleanup(other.Wait)
		r.clock.add(30 * time.Minute) // due now: both may act
		var answered, expired atomic.Int32
		slot := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
		atOnce(4, func(i int) {
			switch i {
			case 0, 1:
				if err := r.svc.Answer(ctx, "a", lead.ID, i == 0, 400, slot, ""); err == nil {
					answered.Add(1)
				} else if !errors.Is(err, ErrIllegal) {
					t.Error(err)
				}
			default:
				n, err := other.Sweep(ctx)
				if err != nil {
					t.Error(err)
				}
				expired.Add(int32(n))
			}
		})
		r.svc.Wait()
		other.Wait()
		offers, _ := r.st.Offers(ctx, lead.ID)
		if answered.Load()+expired.Load() != 1 {
			t.Fatalf("%d answers and %d expiries of one offer: %+v", answered.Load(), expired.Load(), offers)
		}
		moved := offers[1].State == OfferSent
		if moved != (expired.Load() == 1 || offers[0].State == OfferDeclined) {
			t.Fatalf("the lead moved on: %v, with offers %+v", moved, offers)
		}
	})
}

// The last drive cycle of a watched repair seen by two servers at once:
// the verdict is given, and told, once.
func TestVerdictOnce(t *testing.T) {
	onEach(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.shop(t, "a", 0.01, profile(nil))
		b := r.bookAndComplete(t, "P0171")
		other := r.server()
		t.Cleanup(other.Wait)
		servers := []*Service{r.svc, other}
		needed := r.svc.VerifyCycles * 2 // the car reported no readiness monitors
		for cycle := range needed {
			r.clock.add(time.Hour)
			at := r.clock.now()
			atOnce(len(servers), func(i int) {
				if err := servers[i].ObserveDriveCycle(ctx, r.car.ID, at); err != nil {
					t.Error(err)
				}
			})
			got, _ := r.st.Booking(ctx, b.ID)
			if got.VerifyCycles != cycle+1 {
				t.Fatalf("drive cycle %d seen by two servers counted as %d", cycle+1, got.VerifyCycles)
			}
		}
		r.svc.Wait()
		other.Wait()
		got, _ := r.st.Booking(ctx, b.ID)
		verdicts := 0
		for _, k := range r.hooks.kinds("a") {
			if k == "verify-fixed" {
				verdicts++
			}
		}
		if got.Verify != VerifyFixed || verdicts != 1 {
			t.Fatalf("verify %s, the shop was told %d times", got.Verify, verdicts)
		}
	})
}
