package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/testserver"
	"github.com/pitwall-io/pitwall/web"
)

const pw = "correct horse battery"

type fixture struct {
	s          *server.Server
	base       string
	carA, carB string // Ana's and Bo's cars
	devA       string
	smtp       *testserver.SMTP // the server's mail goes here
}

func newFixture(t *testing.T, opts ...func(*server.Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	mail := testserver.StartSMTP(t, testserver.SMTPOptions{NoTLS: true})
	cfg := server.Config{Store: server.StoreConfig{Path: filepath.Join(dir, "pitwall.db")},
		Series: server.SeriesConfig{Path: filepath.Join(dir, "series.db")}, EmbeddedBroker: server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0"},
		HTTP: server.HTTPConfig{Addr: "127.0.0.1:0"}}
	cfg.Alerting.Email = server.EmailConfig{Addr: mail.Addr(), From: "pitwall@example.com", AllowPlain: true}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := server.New(ctx, cfg, server.WithBcryptCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f := &fixture{s: s, base: "http://" + s.HTTPAddr(), smtp: mail}
	st := s.Store
	hash, _ := web.HashPassword(pw, "", bcrypt.MinCost)
	for i, name := range []string{"ana", "bo"} {
		o, err := st.AddOwner(ctx, store.Owner{Email: name + "@example.com", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		_ = st.SetOwnerHome(ctx, o.ID, 38.72, -9.14)
		v, err := st.AddVehicle(ctx, store.Vehicle{OwnerID: o.ID, Make: "Ford", Model: "Focus", Year: 2015})
		if err != nil {
			t.Fatal(err)
		}
		dev := fmt.Sprintf("car-%d", i+1)
		if _, _, err := st.AddDevice(ctx, dev, v.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddUser(ctx, store.User{Email: name + "@example.com", PasswordHash: hash, Role: "owner", OwnerID: o.ID}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.carA, f.devA = v.ID, dev
		} else {
			f.carB = v.ID
		}
		// The car reported an overheat.
		body, _ := wire.Encode(&wirepb.DTCReport{Header: wire.NewHeader(dev, 1, 1), TimeMs: time.Now().UnixMilli(), Mil: true,
			Stored: []*wirepb.Code{{Code: "P0217", Ecu: "7E8"}}})
		if err := st.SaveMessages(ctx, []store.Message{{Device: dev, Seq: 1, Boot: 1, Kind: string(wire.KindDTC), Time: time.Now(), Body: body}}); err != nil {
			t.Fatal(err)
		}
	}
	prof := booking.Profile{Systems: []string{"cooling", "engine"}, LabourRate: 100, Currency: "USD", Capacity: 3, ResponseMinutes: 60,
		Hours: map[string]string{"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00", "sat": "08:00-18:00", "sun": "08:00-18:00"}}
	for _, id := range []string{"shop-1", "shop-2"} {
		if _, err := s.Booking.AddShop(ctx, store.Shop{ID: id, Name: id, Lat: 38.72, Lon: -9.14}, prof); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddUser(ctx, store.User{Email: id + "@example.com", PasswordHash: hash, Role: "shop", ShopID: id}); err != nil {
			t.Fatal(err)
		}
	}
	s.Booking.Fanout = 1 // shop-2 waits its turn
	return f
}

func (f *fixture) token(t *testing.T, email string) string {
	t.Helper()
	code, body := f.do(t, "", "POST", "/api/v1/tokens", "application/json", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw))
	if code != 201 {
		t.Fatalf("token for %s: %d %s", email, code, body)
	}
	var out struct{ Token string }
	_ = json.Unmarshal([]byte(body), &out)
	return out.Token
}

func (f *fixture) do(t *testing.T, token, method, path, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func errCode(body string) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

// An owner never sees another owner's car; shops see no cars at all.
func TestWhoSeesWhat(t *testing.T) {
	f := newFixture(t)
	ana, shop := f.token(t, "ana@example.com"), f.token(t, "shop-1@example.com")
	code, body := f.do(t, ana, "GET", "/api/v1/vehicles", "", "")
	if code != 200 || !strings.Contains(body, f.carA) || strings.Contains(body, f.carB) {
		t.Errorf("vehicles: %d %s", code, body)
	}
	for _, p := range []string{"/api/v1/vehicles/" + f.carB, "/api/v1/vehicles/" + f.carB + "/diagnosis", "/api/v1/vehicles/" + f.carB + "/history", "/api/v1/vehicles/nope"} {
		if code, body := f.do(t, ana, "GET", p, "", ""); code != 404 || errCode(body) != "not_found" {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	if code, body := f.do(t, shop, "GET", "/api/v1/vehicles", "", ""); code != 403 || errCode(body) != "forbidden" {
		t.Errorf("a shop lists vehicles: %d %s", code, body)
	}
	for _, tok := range []string{"", "pw_not-a-token"} {
		if code, body := f.do(t, tok, "GET", "/api/v1/alerts", "", ""); code != 401 || errCode(body) != "unauthenticated" {
			t.Errorf("token %q: %d %s", tok, code, body)
		}
	}
	if code, body := f.do(t, ana, "GET", "/api/v1/nothing-here", "", ""); code != 404 || errCode(body) != "not_found" {
		t.Errorf("unknown route: %d %s", code, body)
	}
}

// Each alert carries its diagnosis and its shop suggestions.
func TestAlertsCarryDiagnosisAndShops(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.s.Store.SaveAlerts(ctx, []store.Alert{{Fingerprint: "fp1", Device: f.devA, Rule: "mil-on", Severity: "warning", State: "firing",
		StartsAt: time.Now(), Summary: "The check-engine light is on (P0217).", Codes: []string{"P0217"}, Labels: map[string]string{}}}); err != nil {
		t.Fatal(err)
	}
	code, body := f.do(t, f.token(t, "ana@example.com"), "GET", "/api/v1/alerts", "", "")
	var out struct {
		Alerts []web.AlertView
	}
	if err := json.Unmarshal([]byte(body), &out); code != 200 || err != nil || len(out.Alerts) != 1 {
		t.Fatalf("alerts: %d %v %s", code, err, body)
	}
	a := out.Alerts[0]
	if a.VehicleID != f.carA || a.Diagnosis == nil || len(a.Diagnosis.Codes) == 0 || a.Diagnosis.Codes[0].Code != "P0217" || a.Diagnosis.Safe != "no" {
		t.Errorf("alert %+v", a)
	}
	if len(a.Suggestions) != 2 || len(a.Suggestions[0].Reasons) == 0 {
		t.Errorf("suggestions %+v", a.Suggestions)
	}
	bo := f.token(t, "bo@example.com")
	if code, body := f.do(t, bo, "GET", "/api/v1/alerts", "", ""); code != 200 || strings.Contains(body, "fp1") {
		t.Errorf("Bo sees Ana's alert: %s", body)
	}
	// Snooze: only the owner's own alert, for a sane time.
	ana := f.token(t, "ana@example.com")
	if code, body := f.do(t, bo, "POST", "/api/v1/alerts/fp1/snooze", "application/json", `{"hours": 24}`); code != 404 {
		t.Errorf("Bo snoozes Ana's alert: %d %s", code, body)
	}
	if code, body := f.do(t, ana, "POST", "/api/v1/alerts/fp1/snooze", "application/json", `{"hours": 0}`); code != 422 || !strings.Contains(body, "hours") {
		t.Errorf("a snooze of 0 hours: %d %s", code, body)
	}
	if code, body := f.do(t, ana, "POST", "/api/v1/alerts/fp1/snooze", "application/json", `{"hours": 24}`); code != 201 || !strings.Contains(body, "until") {
		t.Errorf("snooze: %d %s", code, body)
	}
	if sl, _ := f.s.Store.Silences(ctx, f.devA, time.Now()); len(sl) != 1 {
		t.Errorf("silences %+v", sl)
	}
	if code, body := f.do(t, ana, "PUT", "/api/v1/me/quiet-hours", "application/json", `{"start": "25:00", "end": "07:00"}`); code != 422 {
		t.Errorf("quiet hours at 25:00: %d %s", code, body)
	}
	if code, body := f.do(t, ana, "PUT", "/api/v1/me/quiet-hours", "application/json", `{"start": "22:00", "end": "07:00", "timezone": "Europe/Lisbon"}`); code != 200 {
		t.Errorf("quiet hours: %d %s", code, body)
	}
}

// Bad input gets the right status and names what is wrong; nothing is
// written.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	ana := f.token(t, "ana@example.com")
	lead := func(ctype, body string) (int, string) { return f.do(t, ana, "POST", "/api/v1/leads", ctype, body) }
	cases := []struct {
		ctype, body string
		status      int
		code, says  string
	}{
		{"text/plain", `{}`, 415, "unsupported_media_type", "application/json"},
		{"application/json", `{"vehicle_id": `, 400, "bad_json", "not valid JSON"},
		{"application/json", `{"vehicle_id": 7}`, 400, "bad_json", `want string, got number`},
		{"application/json", `{"vehicle": "x"}`, 400, "unknown_field", `unknown field`},
		{"application/json", `{"vehicle_id": "a"} {"vehicle_id": "b"}`, 400, "bad_json", "more than one"},
		{"application/json", ``, 400, "bad_json", "empty"},
		{"application/json", `{"vehicle_id": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "too_large", "over"},
		{"application/json", `{"consent": {"vin": true}}`, 422, "invalid", "vehicle_id"},
		{"application/json", `{"vehicle_id": "` + f.carB + `"}`, 404, "not_found", "vehicle"},
	}
	for _, c := range cases {
		code, body := lead(c.ctype, c.body)
		if code != c.status || errCode(body) != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%.40q: %d %s", c.body, code, body)
		}
	}
	if ls, _ := f.s.Store.Leads(context.Background(), ""); len(ls) != 0 {
		t.Errorf("a refused request left a lead")
	}
	// A good lead; then a shop's absurd quote and an illegal booking step.
	code, body := lead("application/json", `{"vehicle_id": "`+f.carA+`", "consent": {"report": true}}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, body)
	}
	var lv web.LeadView
	_ = json.Unmarshal([]byte(body), &lv)
	shop := f.token(t, "shop-1@example.com")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1)
	slot := time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
	for q, want := range map[string]string{"0": "quote", "99999999": "quote", "-5": "quote"} {
		code, body := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lv.ID+"/quote", "application/json", `{"quote": `+q+`, "slot": "`+slot+`"}`)
		if code != 422 || !strings.Contains(body, want) {
			t.Errorf("quote %s: %d %s", q, code, body)
		}
	}
	if code, body := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lv.ID+"/quote", "application/json", `{"quote": 300, "slot": "yesterday"}`); code != 400 {
		t.Errorf("a slot that is no time: %d %s", code, body)
	}
	if code, body := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lv.ID+"/quote", "application/json", fmt.Sprintf(`{"quote": %.0f, "slot": %q}`, lv.Fair.High, slot)); code != 200 {
		t.Fatalf("quote: %d %s", code, body)
	}
	code, body = f.do(t, ana, "POST", "/api/v1/leads/"+lv.ID+"/book", "application/json", `{"shop_id": "shop-1"}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, body)
	}
	var bv web.BookingView
	_ = json.Unmarshal([]byte(body), &bv)
	if code, body := f.do(t, shop, "POST", "/api/v1/bookings/"+bv.ID+"/complete", "application/json", `{"work": "done"}`); code != 409 || errCode(body) != "conflict" {
		t.Errorf("completing a requested booking: %d %s", code, body)
	}
	if code, body := f.do(t, ana, "POST", "/api/v1/bookings/"+bv.ID+"/accept", "", ""); code != 409 {
		t.Errorf("the owner accepting: %d %s", code, body)
	}
	if code, body := f.do(t, f.token(t, "bo@example.com"), "GET", "/api/v1/bookings/"+bv.ID, "", ""); code != 404 {
		t.Errorf("another owner reads the booking: %d %s", code, body)
	}
	if code, body := f.do(t, shop, "POST", "/api/v1/bookings/"+bv.ID+"/fly", "", ""); code != 404 || !strings.Contains(body, "accept, schedule") {
		t.Errorf("an unknown action: %d %s", code, body)
	}
}

// A shop sees a lead only once the owner consented and it was sent to
// that shop.
func TestShopSeesLeadsOnlyAfterConsent(t *testing.T) {
	f := newFixture(t)
	s1, s2 := f.token(t, "shop-1@example.com"), f.token(t, "shop-2@example.com")
	if _, body := f.do(t, s1, "GET", "/api/v1/shop/leads", "", ""); !strings.Contains(body, `"leads":[]`) {
		t.Errorf("inbox before any consent: %s", body)
	}
	code, body := f.do(t, f.token(t, "ana@example.com"), "POST", "/api/v1/leads", "application/json", `{"vehicle_id": "`+f.carA+`"}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, body)
	}
	var lv web.LeadView
	_ = json.Unmarshal([]byte(body), &lv)
	first := lv.Offers[0].ShopID
	other := map[string]string{"shop-1": s2, "shop-2": s1}[first]
	mine := map[string]string{"shop-1": s1, "shop-2": s2}[first]
	if code, body := f.do(t, mine, "GET", "/api/v1/shop/leads/"+lv.ID, "", ""); code != 200 || strings.Contains(body, `"report"`) {
		t.Errorf("the chosen shop: %d %s", code, body)
	}
	if code, _ := f.do(t, other, "GET", "/api/v1/shop/leads/"+lv.ID, "", ""); code != 404 {
		t.Errorf("the waiting shop reads the lead: %d", code)
	}
}

// browserSession signs in through the login form and returns a client
// with the session cookie and the session's CSRF token.
func browserSession(t *testing.T, f *fixture, email string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(f.base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login token in %s", page)
	}
	resp, err = c.PostForm(f.base+"/login", url.Values{"csrf": {string(m[1])}, "email": {email}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p := resp.Request.URL.Path; p != "/garage" && p != "/shop" { // owners' and shops' home
		t.Fatalf("after sign-in: %s", resp.Request.URL)
	}
	resp, _ = c.Get(f.base + "/api/v1/me")
	var me struct{ CSRF string }
	_ = json.NewDecoder(resp.Body).Decode(&me)
	resp.Body.Close()
	return c, me.CSRF
}

func post(t *testing.T, c *http.Client, url, csrf, body string) int {
	req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A session's writes need its CSRF token; a token from an ended session
// is refused.
func TestSessionsNeedTheirCSRFToken(t *testing.T) {
	f := newFixture(t)
	c, csrf := browserSession(t, f, "ana@example.com")
	body := `{"vehicle_id": "` + f.carA + `"}`
	if code := post(t, c, f.base+"/api/v1/leads", "", body); code != 403 {
		t.Errorf("without a token: %d", code)
	}
	if code := post(t, c, f.base+"/api/v1/leads", "wrong", body); code != 403 {
		t.Errorf("a wrong token: %d", code)
	}
	// Sign out and in again: the old token is dead.
	resp, err := c.PostForm(f.base+"/logout", url.Values{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c2, csrf2 := browserSession(t, f, "ana@example.com")
	if csrf2 == csrf || csrf2 == "" {
		t.Fatalf("the new session has the old token")
	}
	if code := post(t, c2, f.base+"/api/v1/leads", csrf, body); code != 403 {
		t.Errorf("a replayed token: %d", code)
	}
	if ls, _ := f.s.Store.Leads(context.Background(), ""); len(ls) != 0 {
		t.Errorf("a refused write left a lead")
	}
	if code := post(t, c2, f.base+"/api/v1/leads", csrf2, body); code != 201 {
		t.Errorf("with the session's token: %d", code)
	}
	// A form posted without the login form's own token is refused.
	resp, err = http.PostForm(f.base+"/login", url.Values{"email": {"ana@example.com"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("login without its form token: %d", resp.StatusCode)
	}
}

// Five wrong passwords lock the address out, even with the right one.
func TestSignInRateLimit(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 5; i++ {
		code, body := f.do(t, "", "POST", "/api/v1/tokens", "application/json", `{"email":"ana@example.com","password":"guess`+fmt.Sprint(i)+`"}`)
		if code != 401 || !strings.Contains(body, "wrong email or password") {
			t.Fatalf("attempt %d: %d %s", i, code, body)
		}
	}
	req, _ := http.NewRequest("POST", f.base+"/api/v1/tokens", strings.NewReader(fmt.Sprintf(`{"email":"ana@example.com","password":%q}`, pw)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after five failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// A revoked token stops working at once; one user cannot revoke
// another's.
func TestRevokeToken(t *testing.T) {
	f := newFixture(t)
	ana, bo := f.token(t, "ana@example.com"), f.token(t, "bo@example.com")
	_, body := f.do(t, ana, "GET", "/api/v1/tokens", "", "")
	var list struct {
		Tokens []struct{ ID, Name string }
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Tokens) != 1 || len(list.Tokens[0].ID) != 12 {
		t.Fatalf("tokens: %v %s", err, body)
	}
	id := list.Tokens[0].ID
	if code, _ := f.do(t, bo, "DELETE", "/api/v1/tokens/"+id, "", ""); code != 404 {
		t.Errorf("Bo revoked Ana's token: %d", code)
	}
	if code, _ := f.do(t, ana, "GET", "/api/v1/vehicles", "", ""); code != 200 {
		t.Fatalf("before revoking: %d", code)
	}
	if code, body := f.do(t, ana, "DELETE", "/api/v1/tokens/"+id, "", ""); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, _ := f.do(t, ana, "GET", "/api/v1/vehicles", "", ""); code != 401 {
		t.Errorf("a revoked token still works: %d", code)
	}
}
