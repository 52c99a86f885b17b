package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
)

// A car with no trouble code whose live data raised an overheat: the
// owner's alert list carries the pre-diagnosis with the symptom and the
// shops that fix it, the diagnosis page shows the symptom and the form to
// ask for quotes, the lead goes out, and the shop reads it. Another
// owner sees none of it.
func TestAlertFromLiveDataFindsShops(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st := f.s.Store
	ana, err := st.VehicleOfDevice(ctx, f.devA)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.AddVehicle(ctx, store.Vehicle{OwnerID: ana.OwnerID, Make: "Ford", Model: "Fiesta", Year: 2018})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddDevice(ctx, "car-hot", v.ID); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if err := st.SaveAlerts(ctx, []store.Alert{{Fingerprint: "fp-hot", Device: "car-hot", Vehicle: v.ID, Rule: "overheat", Severity: "critical",
		Labels: map[string]string{"alertname": "overheat", "system": "cooling", "symptom": "overheat"}, State: "firing", StartsAt: since,
		Summary: "Engine overheating: coolant at 121 °C.", Updated: since}}); err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, "ana@example.com")
	code, body := f.do(t, tok, "GET", "/api/v1/alerts", "", "")
	if code != 200 {
		t.Fatalf("alerts: %d %s", code, body)
	}
	var out struct {
		Alerts []struct {
			Device    string
			Diagnosis *struct {
				Codes    []json.RawMessage
				Symptoms []struct{ Symptom, Title, Observed string }
				Safe     string `json:"safe_to_drive"`
			}
			Suggestions []struct {
				ShopID string `json:"shop_id"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, a := range out.Alerts {
		if a.Device != "car-hot" {
			continue
		}
		found = true
		if a.Diagnosis == nil || len(a.Diagnosis.Codes) != 0 || len(a.Diagnosis.Symptoms) != 1 || a.Diagnosis.Symptoms[0].Symptom != "overheat" ||
			a.Diagnosis.Safe != "no" || !strings.Contains(a.Diagnosis.Symptoms[0].Observed, "121 °C") {
			t.Errorf("the alert's pre-diagnosis: %s", body)
		}
		if len(a.Suggestions) == 0 {
			t.Errorf("no shop suggested for an overheat seen in the live data")
		}
	}
	if !found {
		t.Fatalf("the alert is not listed: %s", body)
	}

	// The page shows it, with the form to ask for quotes but nothing to clear.
	browser, _ := browserSession(t, f, "ana@example.com")
	resp, err := browser.Get(f.base + "/vehicles/" + v.ID + "/diagnosis")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 {
		t.Fatalf("the diagnosis page: %d", resp.StatusCode)
	}
	for _, want := range []string{`data-symptom="overheat"`, "Engine overheating", `id="request-quotes"`, "seen in the live data since"} {
		if !strings.Contains(page, want) {
			t.Errorf("the diagnosis page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="clear-codes"`) {
		t.Error("the page offers to clear codes the car does not have")
	}

	// Bo cannot read it or ask for quotes for it.
	bo := f.token(t, "bo@example.com")
	if code, _ := f.do(t, bo, "GET", "/api/v1/vehicles/"+v.ID+"/diagnosis", "", ""); code != 404 {
		t.Errorf("another owner read the diagnosis: %d", code)
	}
	if code, _ := f.do(t, bo, "POST", "/api/v1/leads", "application/json", fmt.Sprintf(`{"vehicle_id":%q,"consent":{"report":true}}`, v.ID)); code != 404 {
		t.Errorf("another owner made a lead of it: %d", code)
	}

	code, body = f.do(t, tok, "POST", "/api/v1/leads", "application/json", fmt.Sprintf(`{"vehicle_id":%q,"consent":{"report":true}}`, v.ID))
	if code != 201 {
		t.Fatalf("the lead: %d %s", code, body)
	}
	var lv web.LeadView
	_ = json.Unmarshal([]byte(body), &lv)
	if len(lv.Symptoms) != 1 || lv.Symptoms[0] != "overheat" || len(lv.Codes) != 0 {
		t.Errorf("the lead: %s", body)
	}
	shop := f.token(t, "shop-1@example.com")
	code, body = f.do(t, shop, "GET", "/api/v1/shop/leads", "", "")
	if code != 200 || !strings.Contains(body, "Engine overheating") {
		t.Errorf("the shop's inbox: %d %s", code, body)
	}

	// Quoted and booked: both booking pages name the fault.
	tomorrow := time.Now().UTC().AddDate(0, 0, 1)
	slot := time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
	if code, body := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lv.ID+"/quote", "application/json", fmt.Sprintf(`{"quote": %.0f, "slot": %q}`, lv.Fair.High, slot)); code != 200 {
		t.Fatalf("quote: %d %s", code, body)
	}
	code, body = f.do(t, tok, "POST", "/api/v1/leads/"+lv.ID+"/book", "application/json", `{"shop_id": "shop-1"}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, body)
	}
	var bv web.BookingView
	_ = json.Unmarshal([]byte(body), &bv)
	if len(bv.Symptoms) != 1 || !strings.Contains(bv.Work, "Engine overheating") {
		t.Errorf("the booking: %s", body)
	}
	for _, pg := range []struct {
		email, path string
	}{{"ana@example.com", "/bookings/" + bv.ID}, {"shop-1@example.com", "/shop/bookings/" + bv.ID}} {
		b, _ := browserSession(t, f, pg.email)
		resp, err := b.Get(f.base + pg.path)
		if err != nil {
			t.Fatal(err)
		}
		html, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(html), "seen in the live data: engine overheating") {
			t.Errorf("%s: %d, fault named %v", pg.path, resp.StatusCode, strings.Contains(string(html), "seen in the live data"))
		}
	}
}
