package demo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/demo"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
)

func login(base, email string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(base + "/login"),
		chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#password", demo.Password, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("header nav", chromedp.ByQuery),
	}
}

// The whole first minute, in a real browser: the owner signs in, sees the
// overheat alert, opens the diagnosis, consents and asks for quotes; the
// shop signs in and accepts with a quote and a slot; the owner books; the
// shop accepts the booking and confirms the drop-off.
func TestOwnerAndShopInTheBrowser(t *testing.T) {
	exe := testserver.Chromium(t)
	dir := testserver.Artefacts(t)
	d, err := demo.Start(context.Background(), demo.Options{HTTP: "127.0.0.1:0", Vehicles: 3, Speed: 30, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	}()
	st := d.Server.Store
	overheating := d.OwnerVehicles[0]
	// Wait for the overheat to be diagnosed: its trouble code stored.
	deadline := time.Now().Add(4 * time.Minute)
	for {
		rep, err := d.Server.Diagnose(context.Background(), overheating)
		if err == nil && len(rep.Codes) > 0 && rep.Codes[0].Code == "P0217" {
			alerts, _ := st.Alerts(context.Background(), "demo-00001", true, 10)
			if len(alerts) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no P0217 alert within four minutes: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	ctx, cancel := testserver.Browser(t, exe, 4*time.Minute)
	defer cancel()
	var safe, summary string
	testserver.Step(t, ctx, dir,
		login(d.URL, "owner@pitwall.demo"),
		chromedp.WaitVisible(".alerts-list li.alert", chromedp.ByQuery),
		chromedp.Sleep(2500*time.Millisecond), // a live update over server-sent events
		testserver.Shot(dir, "1-owner-garage"),
		chromedp.Navigate(d.URL+"/vehicles/"+overheating),
		chromedp.WaitVisible("#charts .uplot", chromedp.ByQuery),
		testserver.Shot(dir, "1b-owner-vehicle"),
		chromedp.Click("#open-diagnosis", chromedp.ByID),
		chromedp.WaitVisible("#summary", chromedp.ByID),
		chromedp.Text("#safe", &safe, chromedp.ByID),
		chromedp.Text("#summary", &summary, chromedp.ByID),
		testserver.Shot(dir, "2-owner-diagnosis"),
		chromedp.Click("#share-vin", chromedp.ByID),
		chromedp.Click("#request-quotes", chromedp.ByID),
		chromedp.WaitVisible(".lead", chromedp.ByQuery),
		testserver.Shot(dir, "3-owner-quotes-requested"),
	)
	if safe != "no" || !strings.Contains(summary, "P0217") {
		t.Errorf("diagnosis: safe %q, summary %q", safe, summary)
	}
	leads, err := st.Leads(context.Background(), ownerID(t, st))
	if err != nil || len(leads) != 1 || !leads[0].ShareVIN || !leads[0].ShareReport || leads[0].ShareLocation {
		t.Fatalf("the lead and its consent: %+v %v", leads, err)
	}
	lead := leads[0]
	offers, _ := st.Offers(context.Background(), lead.ID)
	shopID := ""
	for _, o := range offers {
		if o.State == store.OfferSent {
			shopID = o.ShopID
			break
		}
	}
	shopEmail := shopID + "@pitwall.demo"

	// The shop, in its own browser session.
	sctx, scancel := testserver.Browser(t, exe, 4*time.Minute) // a browser of its own: its own cookies
	defer scancel()
	quote := fmt.Sprintf("%.0f", (lead.FairLow+lead.FairHigh)/2)
	testserver.Step(t, sctx, dir,
		login(d.URL, shopEmail),
		chromedp.WaitVisible(`a[href="/shop/leads/`+lead.ID+`"]`, chromedp.ByQuery),
		testserver.Shot(dir, "4-shop-inbox"),
		chromedp.Click(`a[href="/shop/leads/`+lead.ID+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#quote-form", chromedp.ByID),
		chromedp.SendKeys("#quote", quote, chromedp.ByID),
		testserver.Shot(dir, "5-shop-lead"),
		chromedp.Click("#send-quote", chromedp.ByID),
		chromedp.WaitVisible(".flash.ok", chromedp.ByQuery),
	)
	// The owner books the quote.
	testserver.Step(t, ctx, dir,
		chromedp.Navigate(d.URL+"/leads"),
		chromedp.WaitVisible("button.book", chromedp.ByQuery),
		testserver.Shot(dir, "6-owner-quote"),
		chromedp.Click("button.book", chromedp.ByQuery),
		chromedp.WaitVisible("tr.booking.requested", chromedp.ByQuery),
		testserver.Shot(dir, "7-owner-booked"),
	)
	bs, _ := st.Bookings(context.Background(), store.BookingFilter{ShopID: shopID})
	if len(bs) != 1 {
		t.Fatalf("bookings %+v", bs)
	}
	// The shop accepts the booking and confirms the drop-off.
	testserver.Step(t, sctx, dir,
		chromedp.Navigate(d.URL+"/shop/bookings/"+bs[0].ID),
		chromedp.WaitVisible("#accept-booking", chromedp.ByID),
		chromedp.Click("#accept-booking", chromedp.ByID),
		chromedp.WaitVisible("#schedule-booking", chromedp.ByID),
		chromedp.Click("#schedule-booking", chromedp.ByID),
		chromedp.WaitVisible("#start-booking", chromedp.ByID), // only a scheduled booking offers it
		testserver.Shot(dir, "8-shop-booking-scheduled"),
	)
	b, _ := st.Booking(context.Background(), bs[0].ID)
	if b.Status != "scheduled" || fmt.Sprintf("%.0f", b.Price) != quote {
		t.Errorf("booking %+v", b)
	}
	t.Logf("screenshots in %s", dir)
}

func ownerID(t *testing.T, st *store.Store) string {
	u, err := st.UserByEmail(context.Background(), "owner@pitwall.demo")
	if err != nil {
		t.Fatal(err)
	}
	return u.OwnerID
}
