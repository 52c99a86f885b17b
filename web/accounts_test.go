package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
)

var (
	confirmLink = regexp.MustCompile(`/confirm\?token=([A-Za-z0-9_-]+)`)
	resetLink   = regexp.MustCompile(`/reset/new\?token=([A-Za-z0-9_-]+)`)
)

const newPassword = "a long and quiet drive"

// signUp opens and confirms an account through the API, reading the link
// from the mail, and returns its token.
func (f *fixture) signUp(t *testing.T, role, email, name string, extra string) string {
	t.Helper()
	body := fmt.Sprintf(`{"role":%q,"email":%q,"password":%q,"name":%q,"timezone":"Europe/Lisbon"%s}`, role, email, newPassword, name, extra)
	if code, b := f.do(t, "", "POST", "/api/v1/accounts", "application/json", body); code != 202 {
		t.Fatalf("sign-up of %s: %d %s", email, code, b)
	}
	tok := f.smtp.WaitMail(t, email, confirmLink, 10*time.Second)
	if code, b := f.do(t, "", "POST", "/api/v1/accounts/confirm", "application/json", fmt.Sprintf(`{"token":%q}`, tok)); code != 200 {
		t.Fatalf("confirming %s: %d %s", email, code, b)
	}
	code, b := f.do(t, "", "POST", "/api/v1/tokens", "application/json", fmt.Sprintf(`{"email":%q,"password":%q}`, email, newPassword))
	if code != 201 {
		t.Fatalf("token for %s: %d %s", email, code, b)
	}
	var out struct{ Token string }
	_ = json.Unmarshal([]byte(b), &out)
	return out.Token
}

func decodeJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

// An owner signs up, cannot sign in before confirming, confirms once by
// the emailed link, and then can; the same address again tells nobody
// anything but the address's holder.
func TestSignUpAndConfirm(t *testing.T) {
	f := newFixture(t)
	body := fmt.Sprintf(`{"email":"cleo@example.com","password":%q,"name":"Cleo","timezone":"Europe/Lisbon"}`, newPassword)
	if code, b := f.do(t, "", "POST", "/api/v1/accounts", "application/json", body); code != 202 {
		t.Fatalf("sign-up: %d %s", code, b)
	}
	tok := f.smtp.WaitMail(t, "cleo@example.com", confirmLink, 10*time.Second)
	signIn := fmt.Sprintf(`{"email":"cleo@example.com","password":%q}`, newPassword)
	if code, b := f.do(t, "", "POST", "/api/v1/tokens", "application/json", signIn); code != 403 || errCode(b) != "unconfirmed" {
		t.Errorf("sign-in before confirming: %d %s", code, b)
	}
	if code, b := f.do(t, "", "POST", "/api/v1/accounts/confirm", "application/json", `{"token":"`+tok+`"}`); code != 200 {
		t.Fatalf("confirm: %d %s", code, b)
	}
	if code, b := f.do(t, "", "POST", "/api/v1/accounts/confirm", "application/json", `{"token":"`+tok+`"}`); code != 410 {
		t.Errorf("the link used again: %d %s", code, b)
	}
	code, b := f.do(t, "", "POST", "/api/v1/tokens", "application/json", signIn)
	if code != 201 {
		t.Fatalf("sign-in after confirming: %d %s", code, b)
	}
	var tk struct{ Token string }
	decodeJSON(t, b, &tk)
	_, b = f.do(t, tk.Token, "GET", "/api/v1/me", "", "")
	var me struct {
		Role, Name, TimeZone string
		Confirmed            time.Time
		OwnerID              string `json:"owner_id"`
	}
	decodeJSON(t, b, &me)
	if me.Role != "owner" || me.Name != "Cleo" || me.OwnerID == "" || me.Confirmed.IsZero() {
		t.Errorf("me: %s", b)
	}
	// The same address again: the same answer, a note to the holder, no
	// second account.
	before := len(f.smtp.Mails())
	if code, b := f.do(t, "", "POST", "/api/v1/accounts", "application/json", body); code != 202 {
		t.Errorf("sign-up with a taken address: %d %s", code, b)
	}
	f.smtp.WaitMail(t, "cleo@example.com", regexp.MustCompile(`which has one already`), 10*time.Second)
	if n := len(f.smtp.Mails()); n != before+1 {
		t.Errorf("%d mails after signing up twice, want %d", n, before+1)
	}
}

// Bad sign-ups are refused with the field named, and nothing is made.
func TestSignUpBadInput(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ body, field string }{
		{`{"role":"admin","email":"x@example.com","password":"` + newPassword + `","name":"X"}`, "role"},
		{`{"email":"not an address","password":"` + newPassword + `","name":"X"}`, "email"},
		{`{"email":"x@example.com","password":"` + newPassword + `","name":""}`, "name"},
		{`{"email":"x@example.com","password":"` + newPassword + `","name":"X","timezone":"Mars/Olympus"}`, "timezone"},
		{`{"email":"x@example.com","password":"short","name":"X"}`, "password"},
		{`{"email":"x@example.com","password":"password123","name":"X"}`, "password"},
		{`{"email":"x@example.com","password":"x@example.com","name":"X"}`, "password"},
		{`{"email":"longname@example.com","password":"my longname password","name":"X"}`, "password"},
		{`{"role":"shop","email":"x@example.com","password":"` + newPassword + `","name":"X"}`, "shop_name"},
	} {
		code, b := f.do(t, "", "POST", "/api/v1/accounts", "application/json", c.body)
		if code != 422 || !strings.Contains(b, c.field) {
			t.Errorf("%s: %d %s", c.body, code, b)
		}
	}
	if code, b := f.do(t, "", "POST", "/api/v1/accounts", "application/json", `{"email":"x@example.com","admin":true}`); code != 400 || errCode(b) != "unknown_field" {
		t.Errorf("an unknown field: %d %s", code, b)
	}
	if _, err := f.s.Store.UserByEmail(context.Background(), "x@example.com"); err == nil {
		t.Error("a refused sign-up made a user")
	}
	if n := len(f.smtp.Mails()); n != 0 {
		t.Errorf("%d mails sent for refused sign-ups", n)
	}
}

// A reset link sets a new password once; a weak password does not spend
// it; an expired one is refused; the old password stops working and the
// other sessions end.
func TestPasswordReset(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.token(t, "ana@example.com")
	if code, _ := f.do(t, "", "POST", "/api/v1/password-resets", "application/json", `{"email":"nobody@example.com"}`); code != 202 {
		t.Errorf("a reset for an unknown address: %d", code)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/password-resets", "application/json", `{"email":"ana@example.com"}`); code != 202 {
		t.Fatalf("reset request: %d", code)
	}
	tok := f.smtp.WaitMail(t, "ana@example.com", resetLink, 10*time.Second)
	for _, m := range f.smtp.Mails() {
		if strings.Contains(m.Data, "nobody@example.com") {
			t.Error("a mail went to an address without an account")
		}
	}
	if code, b := f.do(t, "", "POST", "/api/v1/password-resets/complete", "application/json", `{"token":"`+tok+`","password":"1234567890"}`); code != 422 {
		t.Errorf("a weak new password: %d %s", code, b)
	}
	if code, b := f.do(t, "", "POST", "/api/v1/password-resets/complete", "application/json", fmt.Sprintf(`{"token":%q,"password":%q}`, tok, newPassword)); code != 200 {
		t.Fatalf("reset: %d %s", code, b)
	}
	if code, b := f.do(t, "", "POST", "/api/v1/password-resets/complete", "application/json", fmt.Sprintf(`{"token":%q,"password":%q}`, tok, newPassword+"!")); code != 410 {
		t.Errorf("the link used again: %d %s", code, b)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/tokens", "application/json", fmt.Sprintf(`{"email":"ana@example.com","password":%q}`, pw)); code != 401 {
		t.Errorf("the old password after a reset: %d", code)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/tokens", "application/json", fmt.Sprintf(`{"email":"ana@example.com","password":%q}`, newPassword)); code != 201 {
		t.Errorf("the new password: %d", code)
	}
	if code, _ := f.do(t, old, "GET", "/api/v1/me", "", ""); code != 200 {
		t.Errorf("an API token stops at a reset (only sessions end): %d", code)
	}
	// An expired link.
	u, _ := f.s.Store.UserByEmail(ctx, "ana@example.com")
	if err := f.s.Store.AddLink(ctx, store.Link{TokenHash: hash("expired-token"), UserID: u.ID, Purpose: store.LinkReset, Email: u.Email, Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if code, b := f.do(t, "", "POST", "/api/v1/password-resets/complete", "application/json", fmt.Sprintf(`{"token":"expired-token","password":%q}`, newPassword+"!")); code != 410 || !strings.Contains(b, "expired") {
		t.Errorf("an expired link: %d %s", code, b)
	}
	// A confirmation link is no reset link.
	if err := f.s.Store.AddLink(ctx, store.Link{TokenHash: hash("confirm-token"), UserID: u.ID, Purpose: store.LinkConfirm, Email: u.Email, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/password-resets/complete", "application/json", fmt.Sprintf(`{"token":"confirm-token","password":%q}`, newPassword+"!")); code != 410 {
		t.Errorf("a confirmation link used as a reset link: %d", code)
	}
}

// The password is changed only with the current one, and the profile's
// time zone is checked.
func TestAccountChanges(t *testing.T) {
	f := newFixture(t)
	ana := f.token(t, "ana@example.com")
	if code, b := f.do(t, ana, "PUT", "/api/v1/me/password", "application/json", fmt.Sprintf(`{"current":"wrong","new":%q}`, newPassword)); code != 422 || !strings.Contains(b, "current") {
		t.Errorf("a wrong current password: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PUT", "/api/v1/me/password", "application/json", fmt.Sprintf(`{"current":%q,"new":%q}`, pw, newPassword)); code != 200 {
		t.Errorf("a password change: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PATCH", "/api/v1/me", "application/json", `{"timezone":"Nowhere/Else"}`); code != 422 || !strings.Contains(b, "timezone") {
		t.Errorf("a bad time zone: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PATCH", "/api/v1/me", "application/json", `{"timezone":"America/New_York","phone":"+351 912 345 678","name":"Ana Lima"}`); code != 200 ||
		!strings.Contains(b, "America/New_York") || !strings.Contains(b, "+351 912 345 678") {
		t.Errorf("a profile change: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PATCH", "/api/v1/me", "application/json", `{"phone":"<script>"}`); code != 422 || !strings.Contains(b, "phone") {
		t.Errorf("a bad phone: %d %s", code, b)
	}
}

const goodVIN = "1HGCM82633A004352"

// An owner adds a car by VIN or by make, model and year, edits and
// removes it; bad input names the field; another owner's car is not
// found; the maintenance intervals apply at once.
func TestVehicles(t *testing.T) {
	f := newFixture(t)
	ana, bo := f.token(t, "ana@example.com"), f.token(t, "bo@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/vehicles", "application/json", `{"vin":"`+goodVIN+`","model":"Accord","name":"Blue","odometer_km":84000,"plate":"aa-00-bb","home":{"lat":38.71,"lon":-9.13}}`)
	if code != 201 {
		t.Fatalf("add by VIN: %d %s", code, b)
	}
	var v struct {
		ID, Make, Model, Plate string
		Year                   int
		OdometerKm             float64 `json:"odometer_km"`
		Home                   *struct{ Lat, Lon float64 }
	}
	decodeJSON(t, b, &v)
	if v.Make != "Honda" || v.Year != 2003 || v.Model != "Accord" || v.OdometerKm != 84000 || v.Plate != "AA-00-BB" || v.Home == nil {
		t.Errorf("the car as added: %s", b)
	}
	if code, b := f.do(t, ana, "GET", "/api/v1/vehicles/"+v.ID+"/reminders", "", ""); code != 200 || !strings.Contains(b, `"every_km":15000`) || !strings.Contains(b, "Every 15,000 km or 12 months") {
		t.Errorf("the class's intervals right after adding a car: %d %s", code, b)
	}
	for _, c := range []struct{ body, field string }{
		{`{"vin":"1HGCM82643A004352","model":"Accord"}`, "position 9"},
		{`{"vin":"1HGCM826","model":"Accord"}`, "vin"},
		{`{"make":"Ford","year":2015}`, "model"},
		{`{"make":"Ford","model":"Focus"}`, "year"},
		{`{"make":"Ford","model":"Focus","year":1890}`, "year"},
		{`{"make":"Ford","model":"Focus","year":2015,"odometer_km":-1}`, "odometer_km"},
		{`{"make":"Ford","model":"Focus","year":2015,"odometer_km":1e308}`, "odometer_km"},
		{`{"make":"Ford","model":"Focus","year":2015,"class":"huge"}`, "class"},
		{`{"make":"Ford","model":"Focus","year":2015,"home":{"lat":91,"lon":0}}`, "home"},
		{`{"make":"Ford","model":"Focus","year":2015,"home":{"address":"Rua Augusta 1, Lisboa"}}`, "geocoder"},
	} {
		if code, b := f.do(t, ana, "POST", "/api/v1/vehicles", "application/json", c.body); code != 422 || !strings.Contains(b, c.field) {
			t.Errorf("%s: %d %s", c.body, code, b)
		}
	}
	if code, b := f.do(t, ana, "POST", "/api/v1/vehicles", "application/json", `{"vin":"`+goodVIN+`","model":"Accord"}`); code != 409 {
		t.Errorf("the same VIN twice: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PATCH", "/api/v1/vehicles/"+v.ID, "application/json", `{"name":"Old blue","odometer_km":85000}`); code != 200 || !strings.Contains(b, "Old blue") {
		t.Errorf("edit: %d %s", code, b)
	}
	for _, m := range []string{"PATCH", "DELETE"} {
		if code, _ := f.do(t, bo, m, "/api/v1/vehicles/"+v.ID, "application/json", `{"name":"mine now"}`); code != 404 {
			t.Errorf("Bo %s Ana's car: %d", m, code)
		}
	}
	if code, _ := f.do(t, bo, "POST", "/api/v1/vehicles/"+v.ID+"/pairing-codes", "", ""); code != 404 {
		t.Errorf("Bo asks a pairing code for Ana's car: %d", code)
	}
	if code, b := f.do(t, ana, "DELETE", "/api/v1/vehicles/"+v.ID, "", ""); code != 200 {
		t.Errorf("remove: %d %s", code, b)
	}
	if code, _ := f.do(t, ana, "GET", "/api/v1/vehicles/"+v.ID, "", ""); code != 404 {
		t.Errorf("a removed car: %d", code)
	}
	if code, b := f.do(t, ana, "POST", "/api/v1/vehicles", "application/json", `{"make":"Ford","model":"Fiesta","year":2012}`); code != 201 {
		t.Errorf("add by make, model and year: %d %s", code, b)
	}
}

// A pairing code gives one dongle its credentials, once, for 15 minutes;
// racing dongles get one device between them.
func TestPairing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ana := f.token(t, "ana@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/vehicles/"+f.carA+"/pairing-codes", "", "")
	if code != 201 {
		t.Fatalf("pairing code: %d %s", code, b)
	}
	var pc struct {
		Code    string
		Expires time.Time
	}
	decodeJSON(t, b, &pc)
	if !regexp.MustCompile(`^[A-Z2-9]{4}-[A-Z2-9]{4}$`).MatchString(pc.Code) || time.Until(pc.Expires) > 15*time.Minute || time.Until(pc.Expires) < 14*time.Minute {
		t.Fatalf("pairing code %+v", pc)
	}
	if code, b := f.do(t, "", "POST", "/api/v1/pair", "application/json", `{"code":"not a code"}`); code != 422 {
		t.Errorf("a malformed code: %d %s", code, b)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/pair", "application/json", `{"code":"ABCD-EFGH"}`); code != 410 {
		t.Errorf("an unknown code: %d", code)
	}
	// Ten dongles race with the same code, typed in lower case.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, b := f.do(t, "", "POST", "/api/v1/pair", "application/json", `{"code":"`+strings.ToLower(pc.Code)+`"}`)
			if code == 201 {
				mu.Lock()
				won = append(won, b)
				mu.Unlock()
			} else if code != 410 {
				t.Errorf("a racing pairing: %d %s", code, b)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d dongles paired with one code", len(won))
	}
	var p struct {
		DeviceID  string `json:"device_id"`
		VehicleID string `json:"vehicle_id"`
		Secret    string
		BrokerURL string `json:"broker_url"`
	}
	decodeJSON(t, won[0], &p)
	if p.VehicleID != f.carA || p.Secret == "" || !strings.HasPrefix(p.BrokerURL, "tcp://127.0.0.1:") {
		t.Errorf("paired: %s", won[0])
	}
	if err := f.s.Store.Authenticate(ctx, p.DeviceID, p.Secret); err != nil {
		t.Errorf("the paired secret does not log in: %v", err)
	}
	if d, err := f.s.Store.Device(ctx, p.DeviceID); err != nil || d.VehicleID != f.carA {
		t.Errorf("the device: %+v %v", d, err)
	}
	// An expired code.
	if err := f.s.Store.AddPairingCode(ctx, hash("WXYZ2345"), f.carA, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/pair", "application/json", `{"code":"WXYZ-2345"}`); code != 410 {
		t.Errorf("an expired code: %d", code)
	}
	// The owner revokes it from the car's page, through the API here.
	if code, b := f.do(t, f.token(t, "bo@example.com"), "DELETE", "/api/v1/devices/"+p.DeviceID, "", ""); code != 404 {
		t.Errorf("Bo revokes Ana's dongle: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "DELETE", "/api/v1/devices/"+p.DeviceID, "", ""); code != 200 {
		t.Errorf("Ana revokes her dongle: %d %s", code, b)
	}
	if err := f.s.Store.Authenticate(ctx, p.DeviceID, p.Secret); err == nil {
		t.Error("a revoked dongle still logs in")
	}
}

// Pairing attempts are limited per address.
func TestPairingAttemptsAreLimited(t *testing.T) {
	f := newFixture(t)
	limited := false
	for i := 0; i < 30 && !limited; i++ {
		code, _ := f.do(t, "", "POST", "/api/v1/pair", "application/json", `{"code":"ABCD-EFG`+string("23456789"[i%8])+`"}`)
		limited = code == 429
	}
	if !limited {
		t.Error("30 wrong pairing codes from one address were all tried")
	}
}

func hash(s string) string { return web.TokenHash(s) }
