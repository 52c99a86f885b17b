package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pitwall-io/pitwall/server"
)

// Thirty guesses sent at once, the right password among them: the limit
// holds whatever the concurrency, so at most five are even checked.
func TestSignInLimitHoldsInParallel(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var limited, checked atomic.Int32
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
			case 401, 201:
				checked.Add(1)
			default:
				t.Errorf("a guess: %d", code)
			}
		}()
	}
	wg.Wait()
	if checked.Load() > 5 || limited.Load() < 25 {
		t.Errorf("%d guesses checked, %d limited; want at most 5 checked", checked.Load(), limited.Load())
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
