package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pitwall-io/pitwall/server"
)

// Thirty guesses sent at once, the right password among them: the limit
// holds whatever the concurrency, so at most five wrong guesses are even
// checked. A success does not count against the address (people share
// one), so when the right one lands among the first five, one more wrong
// guess gets through: five wrong in all, never a sixth.
func TestSignInLimitHoldsInParallel(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var limited, wrong, right atomic.Int32
	for i := 0; i < 30; i++ {
		pass := fmt.Sprintf("guess-%d", i)
		if i == 17 {
			pass = pw
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := f.do(t, "", "POST", "/api/v1/tokens", "application/json", fmt.Sprintf(`{"email":"ana@example.com","password":%q}`, pass))
			switch code {
			case 429:
				limited.Add(1)
			case 401:
				wrong.Add(1)
			case 201:
				right.Add(1)
			default:
				t.Errorf("a guess: %d", code)
			}
		}()
	}
	wg.Wait()
	if wrong.Load() > 5 || right.Load() > 1 || wrong.Load()+right.Load()+limited.Load() != 30 {
		t.Errorf("%d wrong guesses checked, %d right, %d limited; want at most 5 wrong", wrong.Load(), right.Load(), limited.Load())
	}
	if wrong.Load() < 4 {
		t.Errorf("only %d wrong guesses checked: the limit refused before five", wrong.Load())
	}
}

// A success clears its email's failures, not the address's: an attacker
// who signs in to an account of their own does not reset the limit on the
// address they guess from.
func TestSuccessDoesNotClearTheAddress(t *testing.T) {
	f := newFixture(t)
	guess := func(email, pass string) int {
		code, _ := f.do(t, "", "POST", "/api/v1/tokens", "application/json", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pass))
		return code
	}
	for i := 0; i < 4; i++ {
		if code := guess("ana@example.com", fmt.Sprintf("guess-%d", i)); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	if code := guess("bo@example.com", pw); code != 201 {
		t.Fatalf("the attacker's own sign-in: %d", code)
	}
	if code := guess("ana@example.com", "guess-4"); code != 401 {
		t.Fatalf("the fifth failure: %d", code)
	}
	if code := guess("ana@example.com", pw); code != 429 {
		t.Errorf("after five failures from the address, with a success between: %d", code)
	}
}

// Every answer says nosniff and cannot be framed; HSTS and Secure
// cookies come with HTTPS, which only a trusted proxy may vouch for; an
// untrusted X-Forwarded-For does not move the sign-in limit.
func TestHardening(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.base+"/api/v1/me", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("headers without a trusted proxy: %v", resp.Header)
	}
	for _, p := range []string{"/static/", "/static/vendor/", "/static/vendor/uplot/", "/static/../templates/login.html"} {
		if code, _ := f.do(t, "", "GET", p, "", ""); code != 404 {
			t.Errorf("%s: %d, want no listing", p, code)
		}
	}
	if code, _ := f.do(t, "", "GET", "/static/app.js", "", ""); code != 200 {
		t.Errorf("/static/app.js: %d", code)
	}
	// Spoofed addresses from an untrusted client: still one address.
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("POST", f.base+"/api/v1/tokens", strings.NewReader(fmt.Sprintf(`{"email":"x%d@example.com","password":"nope"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/tokens", "application/json", `{"email":"ana@example.com","password":"`+pw+`"}`); code != 429 {
		t.Errorf("after five failures from one address spoofing others: %d", code)
	}

	// Behind a trusted proxy.
	p := newFixture(t, func(c *server.Config) { c.HTTP.TrustedProxies = []string{"127.0.0.1/32"} })
	jar := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = jar.Get(p.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", p.base+"/login", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = jar.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" || !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ";"), "Secure") {
		t.Errorf("HTTPS through a trusted proxy: %v", resp.Header)
	}
	// The proxy's X-Forwarded-For names the client: five failures from one
	// client do not block another.
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("POST", p.base+"/api/v1/tokens", strings.NewReader(fmt.Sprintf(`{"email":"y%d@example.com","password":"nope"}`, i)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		resp, _ := http.DefaultClient.Do(req)
		resp.Body.Close()
	}
	req, _ = http.NewRequest("POST", p.base+"/api/v1/tokens", strings.NewReader(`{"email":"ana@example.com","password":"`+pw+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "203.0.113.8")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Errorf("another client behind the proxy: %v %v", resp.StatusCode, err)
	}
}

// Without location consent a shop learns no distance; a cancelled
// booking releases what its lead shared, and the owner can withdraw it
// after a cancellation, whoever cancelled.
func TestConsentAfterCancellation(t *testing.T) {
	f := newFixture(t)
	ana, shop := f.token(t, "ana@example.com"), f.token(t, "shop-1@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","consent":{"report":true,"vin":true},"shops":["shop-1"]}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	var lead struct{ ID string }
	decodeJSON(t, b, &lead)
	_, b = f.do(t, shop, "GET", "/api/v1/shop/leads/"+lead.ID, "", "")
	if strings.Contains(b, "km away") || strings.Contains(b, "approx_lat") {
		t.Errorf("the shop learns how far the car is without consent: %s", b)
	}
	if !strings.Contains(b, `"report"`) {
		t.Fatalf("the shop does not see the report it was given: %s", b)
	}
	if code, b := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json", fmt.Sprintf(`{"quote":200,"slot":%q}`, f.nextSlot(t))); code != 200 {
		t.Fatalf("quote: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "DELETE", "/api/v1/leads/"+lead.ID, "", ""); code != 200 {
		t.Errorf("withdraw before booking: %d %s", code, b)
	}
	// Again, booked this time, then cancelled by the shop.
	code, b = f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","consent":{"report":true,"vin":true,"location":true},"shops":["shop-1"]}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	decodeJSON(t, b, &lead)
	if _, b := f.do(t, shop, "GET", "/api/v1/shop/leads/"+lead.ID, "", ""); !strings.Contains(b, "km away") {
		t.Errorf("with consent the shop is told the distance: %s", b)
	}
	f.do(t, shop, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json", fmt.Sprintf(`{"quote":200,"slot":%q}`, f.nextSlot(t)))
	code, b = f.do(t, ana, "POST", "/api/v1/leads/"+lead.ID+"/book", "application/json", `{"shop_id":"shop-1"}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, b)
	}
	var bk struct{ ID string }
	decodeJSON(t, b, &bk)
	if code, b := f.do(t, ana, "DELETE", "/api/v1/leads/"+lead.ID, "", ""); code != 409 {
		t.Errorf("withdrawing a lead whose booking stands: %d %s", code, b)
	}
	if code, b := f.do(t, shop, "POST", "/api/v1/bookings/"+bk.ID+"/cancel", "application/json", `{"reason":"the part is out of stock"}`); code != 200 {
		t.Fatalf("the shop cancels: %d %s", code, b)
	}
	l, err := f.s.Store.Lead(context.Background(), lead.ID)
	if err != nil || l.VIN != "" || l.Report != nil || l.ApproxLat != 0 {
		t.Errorf("a cancelled booking's lead still holds what was shared: %+v %v", l, err)
	}
	if code, b := f.do(t, shop, "GET", "/api/v1/shop/leads/"+lead.ID, "", ""); code != 404 && strings.Contains(b, "1G") {
		t.Errorf("the shop reads the lead after the cancellation: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "DELETE", "/api/v1/leads/"+lead.ID, "", ""); code != 200 {
		t.Errorf("withdrawing after a cancellation: %d %s", code, b)
	}
	if code, b := f.do(t, shop, "GET", "/api/v1/bookings/"+bk.ID, "", ""); code != 200 || !strings.Contains(b, "cancelled") {
		t.Errorf("the shop keeps its cancelled booking's record: %d %s", code, b)
	}
}
