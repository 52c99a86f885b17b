package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

// signIn signs a browser in.
func signIn(t *testing.T, ctx context.Context, dir, base, email string) {
	t.Helper()
	testserver.Step(t, ctx, dir,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#password", pw, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitNotPresent("#signin", chromedp.ByID),
	)
}

// The loop after the booking in two browsers, an owner's and a shop's,
// and an administrator's: an itemised quote, an extra the owner approves
// as it arrives, a progress step with a photo the owner sees arrive, a
// completion above the approved total refused and one at it accepted,
// the payment, the PDF bill checked for its lines and total, a low
// follow-up, its complaint escalated once the shop lets its promise pass
// (the clock moved, not slept), and a returning fault that opens a
// warranty claim.
func TestTheLoopInTheBrowser(t *testing.T) {
	exe := testserver.Chromium(t)
	dir := testserver.Artefacts(t)
	shot := func(name string) chromedp.Action { return testserver.Shot(dir, "loop-"+name) }
	f := newFixture(t, func(c *server.Config) { c.Booking.SweepInterval = time.Hour })
	clock := &shiftClock{}
	f.s.Booking.Now = clock.now
	ctx := context.Background()

	// Ana asks shop-1 for a quote on her overheating car.
	ana := f.token(t, "ana@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","shops":["shop-1"]}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	var lead struct{ ID string }
	decodeJSON(t, b, &lead)
	_, b = f.do(t, f.token(t, "shop-1@example.com"), "GET", "/api/v1/shop/leads/"+lead.ID, "", "")
	var view struct {
		Fair struct{ High float64 } `json:"fair_price"`
	}
	decodeJSON(t, b, &view)
	part := view.Fair.High - 100 // with an hour at the shop's 100
	quoted := part + 100

	shop, stopShop := testserver.Browser(t, exe, 8*time.Minute)
	defer stopShop()
	owner, stopOwner := testserver.Browser(t, exe, 8*time.Minute)
	defer stopOwner()
	signIn(t, shop, dir, f.base, "shop-1@example.com")
	signIn(t, owner, dir, f.base, "ana@example.com")

	// The shop quotes in lines.
	testserver.Step(t, shop, dir,
		chromedp.Navigate(f.base+"/shop/leads/"+lead.ID),
		chromedp.WaitVisible("#quote-lines", chromedp.ByID),
		chromedp.SetValue("#line-kind-1", "part", chromedp.ByID),
		chromedp.SendKeys("#line-description-1", "Water pump", chromedp.ByID),
		chromedp.SendKeys("#line-quantity-1", "1", chromedp.ByID),
		chromedp.SendKeys("#line-unit-price-1", fmt.Sprintf("%.2f", part), chromedp.ByID),
		chromedp.SendKeys("#line-warranty-1", "12", chromedp.ByID),
		chromedp.SetValue("#line-kind-2", "labour", chromedp.ByID),
		chromedp.SendKeys("#line-description-2", "Fitting the pump", chromedp.ByID),
		chromedp.SendKeys("#line-quantity-2", "1", chromedp.ByID),
		shot("01-shop-itemised-quote"),
		chromedp.Click("#send-quote", chromedp.ByID),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery),
	)
	// The owner books it.
	testserver.Step(t, owner, dir,
		chromedp.Navigate(f.base+"/leads"),
		chromedp.WaitVisible("button.book", chromedp.ByQuery),
		chromedp.Click("button.book", chromedp.ByQuery),
		chromedp.WaitVisible("tr.booking.requested", chromedp.ByQuery),
	)
	bs, err := f.s.Store.Bookings(ctx, store.BookingFilter{ShopID: "shop-1"})
	if err != nil || len(bs) != 1 {
		t.Fatalf("bookings %+v %v", bs, err)
	}
	id := bs[0].ID
	ownerPage, shopPage := f.base+"/bookings/"+id, f.base+"/shop/bookings/"+id
	// A booking page redraws its parts when the booking changes: open it
	// and wait until it shows the live stream's latest version, so that
	// what the test reads or clicks is not replaced under it.
	open := func(url string) chromedp.Tasks {
		return chromedp.Tasks{chromedp.Navigate(url), chromedp.WaitReady("[data-booking-live][data-synced]", chromedp.ByQuery)}
	}
	testserver.Step(t, shop, dir,
		open(shopPage),
		chromedp.Click("#accept-booking", chromedp.ByID), chromedp.WaitVisible("#schedule-booking", chromedp.ByID),
		chromedp.Click("#schedule-booking", chromedp.ByID), chromedp.WaitVisible("#start-booking", chromedp.ByID),
		chromedp.Click("#start-booking", chromedp.ByID), chromedp.WaitVisible("#propose-line", chromedp.ByID),
	)
	var total string
	testserver.Step(t, owner, dir,
		open(ownerPage),
		chromedp.WaitVisible("#bill-total", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("bill-total").textContent.trim()`, &total),
	)
	if total != fmt.Sprintf("%.2f", quoted) {
		t.Fatalf("the booked total %q, want %.2f", total, quoted)
	}

	// An extra: proposed by the shop, it appears on the owner's open
	// page, who approves it.
	testserver.Step(t, shop, dir,
		chromedp.SendKeys(`#propose-line input[name="description"]`, "Coolant", chromedp.ByQuery),
		chromedp.SendKeys(`#propose-line input[name="quantity"]`, "2", chromedp.ByQuery),
		chromedp.SendKeys(`#propose-line input[name="unit_price"]`, "12.50", chromedp.ByQuery),
		chromedp.SendKeys(`#propose-line input[name="reason"]`, "The old coolant is rusty", chromedp.ByQuery),
		chromedp.Click(`#propose-line button`, chromedp.ByQuery),
		chromedp.WaitVisible("#line-3", chromedp.ByID),
	)
	approved := quoted + 25
	testserver.Step(t, owner, dir,
		chromedp.WaitVisible("#approve-3", chromedp.ByID), // no reload: the page follows the booking
		shot("02-owner-extra-arrives"),
		chromedp.Click("#approve-3", chromedp.ByID),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("bill-total").textContent.trim()`, &total),
	)
	if total != fmt.Sprintf("%.2f", approved) {
		t.Errorf("the approved total %q, want %.2f", total, approved)
	}

	// A progress step with a photo, seen live by the owner.
	photo := filepath.Join(t.TempDir(), "pump.jpg")
	if err := os.WriteFile(photo, commentedJPEG(t), 0o600); err != nil {
		t.Fatal(err)
	}
	testserver.Step(t, shop, dir,
		open(shopPage),
		chromedp.WaitVisible("#post-progress", chromedp.ByID),
		chromedp.SetValue(`#post-progress select[name="step"]`, "repairing", chromedp.ByQuery),
		chromedp.SendKeys(`#post-progress input[name="note"]`, "The old pump is out", chromedp.ByQuery),
		chromedp.SetUploadFiles(`#post-progress input[type="file"]`, []string{photo}, chromedp.ByQuery),
		chromedp.Click(`#post-progress button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#progress li.step[data-step="repairing"]`, chromedp.ByQuery),
	)
	testserver.Step(t, owner, dir,
		chromedp.WaitVisible(`#progress li.step[data-step="repairing"] img.photo`, chromedp.ByQuery),
		shot("03-owner-sees-the-photo"),
	)

	// Completion above the approved total is refused; at it, accepted.
	complete := func(price float64) []chromedp.Action {
		return []chromedp.Action{
			open(shopPage),
			chromedp.WaitVisible(`form[action$="/complete"]`, chromedp.ByQuery),
			chromedp.SendKeys(`form[action$="/complete"] input[name="work"]`, "Replaced the water pump, new coolant", chromedp.ByQuery),
			chromedp.SetValue(`form[action$="/complete"] input[name="price"]`, fmt.Sprintf("%.2f", price), chromedp.ByQuery),
			chromedp.SendKeys(`form[action$="/complete"] input[name="odometer_km"]`, "61000", chromedp.ByQuery),
			chromedp.Click(`form[action$="/complete"] button`, chromedp.ByQuery),
		}
	}
	var refusal string
	testserver.Step(t, shop, dir, append(complete(approved+40),
		chromedp.WaitVisible(".flash.error", chromedp.ByQuery), chromedp.Text(".flash.error", &refusal, chromedp.ByQuery), shot("04-shop-refused-above-total"))...)
	if !strings.Contains(refusal, "above the approved total") {
		t.Errorf("the refusal says %q", refusal)
	}
	testserver.Step(t, shop, dir, append(complete(approved),
		chromedp.WaitVisible("#record-payment", chromedp.ByID),
		chromedp.Click("#record-payment button", chromedp.ByQuery),
		chromedp.WaitVisible("#bill-due", chromedp.ByID),
		shot("05-shop-paid"))...)

	// The owner downloads the PDF bill: its lines and total are in it.
	var pdf string
	testserver.Step(t, owner, dir,
		open(ownerPage),
		chromedp.WaitVisible("#bill-pdf", chromedp.ByID),
		chromedp.Evaluate(`fetch(document.getElementById("bill-pdf").href).then(r => r.text()).then(t => { window.billPDF = t; })`, nil),
		chromedp.Poll(`window.billPDF`, &pdf, chromedp.WithPollingTimeout(30*time.Second)),
	)
	for _, want := range []string{"%PDF-", "(Water pump", "(Coolant", "(Fitting the pump", fmt.Sprintf("(%.2f)", approved), "Paid by card"} {
		if !strings.Contains(pdf, want) {
			t.Errorf("the PDF bill lacks %q (%d bytes)", want, len(pdf))
		}
	}

	// Three days on, the follow-up: answered low, it opens a complaint.
	clock.add(3*24*time.Hour + time.Minute)
	if a, err := f.s.Booking.SweepAftercare(ctx); err != nil || a.Followups != 1 {
		t.Fatalf("follow-ups: %+v %v", a, err)
	}
	testserver.Step(t, owner, dir,
		open(ownerPage),
		chromedp.WaitVisible("#followup-form", chromedp.ByID),
		chromedp.SetValue(`#followup-form select[name="fixed"]`, "false", chromedp.ByQuery),
		chromedp.SetValue(`#followup-form select[name="score"]`, "2", chromedp.ByQuery),
		chromedp.SendKeys(`#followup-form input[name="comment"]`, "It still runs hot", chromedp.ByQuery),
		shot("06-owner-followup"),
		chromedp.Click(`#followup-form button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.complaint.open`, chromedp.ByQuery),
	)
	cs, err := f.s.Store.Complaints(ctx, store.ComplaintFilter{BookingID: id})
	if err != nil || len(cs) != 1 {
		t.Fatalf("complaints %+v %v", cs, err)
	}
	// The shop lets its promise pass: the clock moves past it and the
	// sweep escalates the complaint to the administrators.
	clock.add(time.Until(cs[0].Due) - clock.d + time.Minute)
	if a, err := f.s.Booking.SweepAftercare(ctx); err != nil || a.Escalated != 1 {
		t.Fatalf("escalation: %+v %v", a, err)
	}
	testserver.Step(t, owner, dir, chromedp.WaitVisible(`.complaint.escalated`, chromedp.ByQuery), shot("07-owner-complaint-escalated"))
	f.admin(t)
	admin, stopAdmin := testserver.Browser(t, exe, 8*time.Minute)
	defer stopAdmin()
	signIn(t, admin, dir, f.base, "root@example.com")
	testserver.Step(t, admin, dir,
		chromedp.Navigate(f.base+"/admin"),
		chromedp.WaitVisible(`#complaints [data-complaint="`+cs[0].ID+`"]`, chromedp.ByQuery),
		shot("08-admin-escalated"),
	)

	// The fault comes back within the pump's warranty: a claim opens,
	// and appears on both pages.
	if err := f.s.Booking.ObserveReport(ctx, f.carA, booking.CodeReport{Active: []string{"P0217"}, At: clock.now()}); err != nil {
		t.Fatal(err)
	}
	testserver.Step(t, owner, dir, chromedp.WaitVisible(`#warranty .claim.open`, chromedp.ByQuery), shot("09-owner-warranty-claim"))
	testserver.Step(t, shop, dir,
		open(shopPage),
		chromedp.WaitVisible(`#warranty .claim.open`, chromedp.ByQuery),
		chromedp.Click(`#warranty form[action$="/accept"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#warranty .claim.accepted`, chromedp.ByQuery),
		shot("10-shop-accepts-claim"),
	)
	t.Logf("screenshots in %s", dir)
}
