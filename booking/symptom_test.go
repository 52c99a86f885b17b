package booking

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// completeRepair leads, quotes with lines, books and completes a repair
// for a report, and returns the booking and its shop.
func (r *rig) completeRepair(t *testing.T, rep diagnosis.Report, lines []LineInput) (store.Booking, string, store.Lead) {
	t.Helper()
	ctx := context.Background()
	lead, sugg, err := r.svc.CreateLead(ctx, r.owner.ID, r.car.ID, rep, Consent{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shop := sugg[0].ShopID
	if err := r.svc.Quote(ctx, shop, lead.ID, QuoteInput{Slot: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), Lines: lines}); err != nil {
		t.Fatal(err)
	}
	b, err := r.svc.Book(ctx, r.owner.ID, lead.ID, shop, Contact{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []Action{Accept, Schedule, Start, Complete} {
		if b, err = r.svc.Act(ctx, ShopRole, shop, b.ID, a, Input{Work: "Repaired", Odometer: 50000}); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	return b, shop, lead
}

// symptomBooking books and completes a repair for an overheat seen in
// the live data, with no code: its lead and its booking carry the
// symptom, a part line under a year's warranty.
func (r *rig) symptomBooking(t *testing.T) (store.Booking, string) {
	t.Helper()
	ctx := context.Background()
	in := diagnosis.Input{Vehicle: diagnosis.Vehicle{ID: r.car.ID, Make: r.car.Make}, At: r.clock.now(),
		Symptoms: []diagnosis.Symptom{{ID: "overheat", Rule: "overheat", Since: r.clock.now().Add(-time.Minute)}}}
	rep, err := r.kb.Build(in, diagnosis.DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	b, shop, lead := r.completeRepair(t, rep, []LineInput{
		{Kind: PartLine, Description: "Radiator fan", Repair: "replace:cooling-fan", Quantity: 1, UnitPrice: 180, WarrantyMonths: 12},
		{Kind: LabourLine, Description: "Fitting", Quantity: 1},
	})
	if !slices.Equal(lead.Symptoms, []string{"overheat"}) || len(lead.Codes) != 0 {
		t.Fatalf("the lead: symptoms %v, codes %v", lead.Symptoms, lead.Codes)
	}
	if !slices.Equal(b.Symptoms, []string{"overheat"}) || !strings.Contains(b.Work, "Repaired") || b.Verify != VerifyWatching {
		t.Fatalf("the booking: symptoms %v, work %q, verify %q", b.Symptoms, b.Work, b.Verify)
	}
	full, _ := r.st.Booking(ctx, b.ID)
	if full.Verify != VerifyWatching {
		t.Fatalf("a symptom repair is not watched: %q", full.Verify)
	}
	_, bill, err := r.svc.Bill(ctx, OwnerRole, r.owner.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bill.Lines[0].Fair == nil {
		t.Errorf("the fan's line has no fair range beside it on a symptom's bill")
	}
	return b, shop
}

// A repair for an overheat with no code is watched like one for P0217:
// the overheat firing again after the repair says the fault is back and
// opens a warranty claim; drive cycles without it say the repair holds.
func TestSymptomRepairVerified(t *testing.T) {
	t.Run("returned", func(t *testing.T) {
		r := newRig(t)
		ctx := context.Background()
		r.shop(t, "a", 0.01, profile(nil))
		b, shop := r.symptomBooking(t)
		// An overheat from before the repair, or another symptom, changes nothing.
		if err := r.svc.ObserveSymptom(ctx, r.car.ID, "overheat", b.Completed.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		r.clock.add(time.Hour)
		if err := r.svc.ObserveSymptom(ctx, r.car.ID, "battery", r.clock.now()); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.st.Booking(ctx, b.ID); got.Verify != VerifyWatching {
			t.Fatalf("after an older overheat and another fault: %q", got.Verify)
		}
		if err := r.svc.ObserveSymptom(ctx, r.car.ID, "overheat", r.clock.now()); err != nil {
			t.Fatal(err)
		}
		got, _ := r.st.Booking(ctx, b.ID)
		if got.Verify != VerifyReturned || !strings.Contains(got.VerifyNote, "Engine overheating showed again in the live data") {
			t.Fatalf("after the overheat came back: %q %q", got.Verify, got.VerifyNote)
		}
		claims, err := r.st.WarrantyClaims(ctx, store.ClaimFilter{ShopID: shop})
		if err != nil || len(claims) != 1 {
			t.Fatalf("claims %+v %v", claims, err)
		}
		var ev Evidence
		if err := json.Unmarshal(claims[0].Evidence, &ev); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ev.Codes, []string{"overheat"}) || len(ev.Lines) != 1 || ev.Lines[0].Description != "Radiator fan" {
			t.Errorf("the claim's evidence: %+v", ev)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		r := newRig(t)
		ctx := context.Background()
		r.shop(t, "a", 0.01, profile(nil))
		b, _ := r.symptomBooking(t)
		// Without readiness reported, twice the drive cycles stand in.
		for i := range 2 * r.svc.VerifyCycles {
			r.clock.add(time.Hour)
			if err := r.svc.ObserveDriveCycle(ctx, r.car.ID, r.clock.now()); err != nil {
				t.Fatal(err)
			}
			if got, _ := r.st.Booking(ctx, b.ID); i < 2*r.svc.VerifyCycles-1 && got.Verify != VerifyWatching {
				t.Fatalf("after %d drives: %q", i+1, got.Verify)
			}
		}
		got, _ := r.st.Booking(ctx, b.ID)
		if got.Verify != VerifyFixed || !strings.Contains(got.VerifyNote, "Engine overheating stayed away") {
			t.Errorf("after the drives: %q %q", got.Verify, got.VerifyNote)
		}
	})
}

// An overheat the live data showed beside P0217 is that code's fault: the
// lead and the booking keep it, and the overheat firing again after the
// repair says the fault is back without waiting for the code.
func TestConfirmedSymptomWatchedWithItsCode(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	in := diagnosis.Input{Vehicle: diagnosis.Vehicle{ID: r.car.ID, Make: r.car.Make}, At: r.clock.now(), MIL: true,
		Codes:    []diagnosis.CodeState{{Code: "P0217", Status: "stored"}},
		Symptoms: []diagnosis.Symptom{{ID: "overheat", Rule: "overheat", Since: r.clock.now().Add(-time.Minute)}}}
	rep, err := r.kb.Build(in, diagnosis.DefaultPricing())
	if err != nil {
		t.Fatal(err)
	}
	b, _, lead := r.completeRepair(t, rep, []LineInput{{Kind: LabourLine, Description: "Fitting", Quantity: 1}})
	if !slices.Equal(lead.Codes, []string{"P0217"}) || !slices.Equal(lead.Symptoms, []string{"overheat"}) {
		t.Fatalf("the lead: codes %v, symptoms %v", lead.Codes, lead.Symptoms)
	}
	r.clock.add(time.Hour)
	if err := r.svc.ObserveSymptom(ctx, r.car.ID, "overheat", r.clock.now()); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.st.Booking(ctx, b.ID); got.Verify != VerifyReturned {
		t.Errorf("after the overheat came back: %q %q", got.Verify, got.VerifyNote)
	}
}
