package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
	"github.com/pitwall-io/pitwall/web"
	"golang.org/x/crypto/bcrypt"
)

const shopProfile = `{"name":"Oficina Nova","email":"nova@example.com","phone":"+351 21 000 0000","address":"Rua Nova 1, Lisboa","lat":38.73,"lon":-9.15,
	"timezone":"Europe/Lisbon","profile":{"systems":["cooling","engine"],"labour_rate":70,"currency":"USD","capacity":2,"response_minutes":60,
	"hours":{"mon":"00:00-23:59","tue":"00:00-23:59","wed":"00:00-23:59","thu":"00:00-23:59","fri":"00:00-23:59","sat":"00:00-23:59","sun":"00:00-23:59"}}}`

// A shop signs up, fills its profile (every error names its field), waits
// for an administrator, and is matched only once approved; the owner then
// picks it alone, and after booking it sees who is coming.
func TestShopJoinsAndIsBooked(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	nova := f.signUp(t, "shop", "nova@example.com", "Rita", `,"shop_name":"Oficina Nova"`)
	_, b := f.do(t, nova, "GET", "/api/v1/shop/profile", "", "")
	var prof struct{ ID, Status string }
	decodeJSON(t, b, &prof)
	if prof.Status != store.ShopDraft {
		t.Fatalf("a new shop: %s", b)
	}
	for _, c := range []struct{ from, to, field string }{
		{`"labour_rate":70`, `"labour_rate":0`, "labour_rate"},
		{`"systems":["cooling","engine"]`, `"systems":["teleportation"]`, "systems[0]"},
		{`"lat":38.73`, `"lat":138.73`, "location"},
		{`"mon":"00:00-23:59"`, `"mon":"18:00-08:00"`, "hours.mon"},
		{`"timezone":"Europe/Lisbon"`, `"timezone":"Lisbon"`, "timezone"},
		{`"capacity":2`, `"capacity":0`, "capacity"},
		{`"phone":"+351 21 000 0000"`, `"phone":"call me"`, "phone"},
	} {
		code, b := f.do(t, nova, "PUT", "/api/v1/shop/profile", "application/json", strings.Replace(shopProfile, c.from, c.to, 1))
		if code != 422 || !strings.Contains(b, c.field) {
			t.Errorf("%s: %d %s", c.to, code, b)
		}
	}
	if code, b := f.do(t, nova, "PUT", "/api/v1/shop/profile", "application/json", shopProfile); code != 200 || !strings.Contains(b, `"status":"pending"`) {
		t.Fatalf("a complete profile: %d %s", code, b)
	}
	// Pending: Ana's alert lists the operator's shops, not this one.
	ana := f.token(t, "ana@example.com")
	suggested := func() string {
		_, b := f.do(t, ana, "GET", "/api/v1/vehicles/"+f.carA+"/diagnosis", "", "")
		return b
	}
	if strings.Contains(suggested(), prof.ID) {
		t.Fatal("a pending shop is suggested")
	}
	if code, _ := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","shops":["`+prof.ID+`"]}`); code != 422 {
		t.Errorf("a lead picked for a pending shop: %d", code)
	}
	// Only an administrator approves.
	if code, _ := f.do(t, nova, "POST", "/api/v1/admin/shops/"+prof.ID+"/approve", "", ""); code != 403 {
		t.Errorf("a shop approves itself: %d", code)
	}
	admin := f.admin(t)
	_, b = f.do(t, admin, "GET", "/api/v1/admin/shops?status=pending", "", "")
	if !strings.Contains(b, prof.ID) || !strings.Contains(b, "nova@example.com") {
		t.Errorf("the pending list: %s", b)
	}
	if code, b := f.do(t, admin, "POST", "/api/v1/admin/shops/"+prof.ID+"/reject", "application/json", `{}`); code != 422 || !strings.Contains(b, "note") {
		t.Errorf("a rejection without a reason: %d %s", code, b)
	}
	if code, b := f.do(t, admin, "POST", "/api/v1/admin/shops/"+prof.ID+"/approve", "", ""); code != 200 {
		t.Fatalf("approve: %d %s", code, b)
	}
	if code, _ := f.do(t, admin, "POST", "/api/v1/admin/shops/"+prof.ID+"/approve", "", ""); code != 409 {
		t.Errorf("approved twice: %d", code)
	}
	f.smtp.WaitMail(t, "nova@example.com", regexpOf("is approved"), 10e9)
	if !strings.Contains(suggested(), prof.ID) {
		t.Fatal("an approved shop is not suggested")
	}
	// Ana picks Nova alone; an unknown pick is refused naming it.
	if code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","shops":["nope"]}`); code != 422 || !strings.Contains(b, "shops[0]") {
		t.Errorf("an unknown pick: %d %s", code, b)
	}
	code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","consent":{"report":true},"shops":["`+prof.ID+`"]}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	var lead struct {
		ID     string
		Offers []struct {
			ShopID string `json:"shop_id"`
			State  string
		}
	}
	decodeJSON(t, b, &lead)
	if len(lead.Offers) != 1 || lead.Offers[0].ShopID != prof.ID || lead.Offers[0].State != "sent" {
		t.Fatalf("the picked lead's offers: %s", b)
	}
	// Nova quotes; Ana books, giving her email and phone.
	_, b = f.do(t, nova, "GET", "/api/v1/shop/leads/"+lead.ID, "", "")
	if strings.Contains(b, "ana@example.com") {
		t.Errorf("the shop sees the owner's address before booking: %s", b)
	}
	slot := f.nextSlot(t)
	if code, b := f.do(t, nova, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json", fmt.Sprintf(`{"quote":200,"slot":%q}`, slot)); code != 200 {
		t.Fatalf("quote: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "POST", "/api/v1/leads/"+lead.ID+"/book", "application/json", `{"shop_id":"`+prof.ID+`","contact":{"share_phone":true}}`); code != 422 || !strings.Contains(b, "share_phone") {
		t.Errorf("sharing a phone the account has none of: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PATCH", "/api/v1/me", "application/json", `{"name":"Ana Lima","phone":"+351 912 000 111"}`); code != 200 {
		t.Fatalf("profile: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "PATCH", "/api/v1/vehicles/"+f.carA, "application/json", `{"plate":"12-AB-34"}`); code != 200 {
		t.Fatalf("plate: %d %s", code, b)
	}
	code, b = f.do(t, ana, "POST", "/api/v1/leads/"+lead.ID+"/book", "application/json", `{"shop_id":"`+prof.ID+`","contact":{"share_email":true,"share_phone":true}}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, b)
	}
	var bk struct{ ID string }
	decodeJSON(t, b, &bk)
	_, b = f.do(t, nova, "GET", "/api/v1/bookings/"+bk.ID, "", "")
	var view struct {
		Vehicle struct{ Make, Model, Plate string }
		Contact struct{ Name, Email, Phone string }
	}
	decodeJSON(t, b, &view)
	if view.Contact.Name != "Ana Lima" || view.Contact.Email != "ana@example.com" || view.Contact.Phone != "+351 912 000 111" || view.Vehicle.Plate != "12-AB-34" || view.Vehicle.Make != "Ford" {
		t.Errorf("what the shop sees of the booking: %s", b)
	}
	if sh, err := f.s.Store.Shop(ctx, prof.ID); err != nil || sh.Status != store.ShopApproved {
		t.Errorf("the shop: %+v %v", sh, err)
	}
}

// Shops browse: approved ones only, nearest first, no rating without
// reviews.
func TestBrowseShops(t *testing.T) {
	f := newFixture(t)
	ana := f.token(t, "ana@example.com")
	code, b := f.do(t, ana, "GET", "/api/v1/shops?vehicle_id="+f.carA+"&system=cooling", "", "")
	if code != 200 {
		t.Fatalf("browse: %d %s", code, b)
	}
	var out struct {
		Shops []struct {
			ShopID  string  `json:"shop_id"`
			Rating  float64 `json:"rating"`
			Reviews int
		}
	}
	decodeJSON(t, b, &out)
	if len(out.Shops) != 2 || strings.Contains(b, `"rating"`) {
		t.Errorf("browse: %s", b)
	}
	if code, b := f.do(t, ana, "GET", "/api/v1/shops?system=teleportation", "", ""); code != 422 {
		t.Errorf("a bad system: %d %s", code, b)
	}
	if code, _ := f.do(t, ana, "GET", "/api/v1/shops?vehicle_id="+f.carB, "", ""); code != 404 {
		t.Errorf("browsing near Bo's car: %d", code)
	}
}

// An owner's export holds everything of theirs; deleting the account
// erases it, keeps the shop's booking record without the owner, and
// cuts every credential.
func TestExportAndDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ana := f.token(t, "ana@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","consent":{"report":true,"vin":true,"location":true}}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	var lead struct {
		ID     string
		Offers []struct {
			ShopID string `json:"shop_id"`
			State  string
		}
	}
	decodeJSON(t, b, &lead)
	shop := lead.Offers[0].ShopID
	shopTok := f.token(t, shop+"@example.com")
	if code, b := f.do(t, shopTok, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json", fmt.Sprintf(`{"quote":200,"slot":%q}`, f.nextSlot(t))); code != 200 {
		t.Fatalf("quote: %d %s", code, b)
	}
	code, b = f.do(t, ana, "POST", "/api/v1/leads/"+lead.ID+"/book", "application/json", `{"shop_id":"`+shop+`","contact":{"share_email":true}}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, b)
	}
	var bk struct{ ID string }
	decodeJSON(t, b, &bk)

	code, b = f.do(t, ana, "GET", "/api/v1/me/export", "", "")
	if code != 200 {
		t.Fatalf("export: %d %s", code, b)
	}
	var exp struct {
		Format   string
		Account  struct{ Email string }
		Records  map[string][]map[string]any
		Messages []map[string]any
		Series   map[string]map[string][][2]float64
	}
	decodeJSON(t, b, &exp)
	for _, table := range []string{"owners", "users", "vehicles", "devices", "leads", "lead_offers", "bookings", "booking_events"} {
		if len(exp.Records[table]) == 0 {
			t.Errorf("the export has no %s", table)
		}
	}
	if exp.Account.Email != "ana@example.com" || len(exp.Messages) == 0 || exp.Format != "pitwall-export/1" {
		t.Errorf("export: account %+v, %d messages", exp.Account, len(exp.Messages))
	}
	if strings.Contains(b, "password_hash") || strings.Contains(b, "secret_hash") || strings.Contains(b, "$2a$") || strings.Contains(b, "$7$") {
		t.Error("the export holds a secret's hash")
	}
	if strings.Contains(b, "bo@example.com") || strings.Contains(b, f.carB) {
		t.Error("Ana's export holds Bo's data")
	}
	// Deleting takes the password.
	if code, b := f.do(t, ana, "DELETE", "/api/v1/me", "application/json", `{"password":"wrong"}`); code != 422 {
		t.Errorf("delete with a wrong password: %d %s", code, b)
	}
	if code, b := f.do(t, shopTok, "DELETE", "/api/v1/me", "application/json", `{"password":"`+pw+`"}`); code != 403 {
		t.Errorf("a shop deletes itself here: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "DELETE", "/api/v1/me", "application/json", `{"password":"`+pw+`"}`); code != 200 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, _ := f.do(t, ana, "GET", "/api/v1/me", "", ""); code != 401 {
		t.Errorf("a deleted account's token: %d", code)
	}
	if code, _ := f.do(t, "", "POST", "/api/v1/tokens", "application/json", `{"email":"ana@example.com","password":"`+pw+`"}`); code != 401 {
		t.Errorf("a deleted account signs in: %d", code)
	}
	if _, err := f.s.Store.Device(ctx, f.devA); err == nil {
		t.Error("the deleted owner's device is still there")
	}
	if n, err := f.s.Series.Count(ctx, f.devA, timeZero, timeFar); err != nil || n != 0 {
		t.Errorf("the deleted owner's series: %d %v", n, err)
	}
	// The shop keeps the job, not the person.
	_, b = f.do(t, shopTok, "GET", "/api/v1/bookings/"+bk.ID, "", "")
	var view struct {
		Status  string
		Work    string
		Contact struct{ Name, Email string }
		Vehicle struct{ Make, Plate string }
	}
	decodeJSON(t, b, &view)
	if view.Work == "" || view.Contact.Name != "" || view.Contact.Email != "" || view.Vehicle.Make != "Ford" {
		t.Errorf("the shop's booking after the owner left: %s", b)
	}
	l, err := f.s.Store.Lead(ctx, lead.ID)
	if err != nil || l.OwnerID != store.Tombstone || l.VIN != "" || l.Report != nil || l.ApproxLat != 0 {
		t.Errorf("the booked lead after the owner left: %+v %v", l, err)
	}
	// Bo is untouched.
	bo := f.token(t, "bo@example.com")
	if code, b := f.do(t, bo, "GET", "/api/v1/vehicles/"+f.carB, "", ""); code != 200 {
		t.Errorf("Bo's car after Ana left: %d %s", code, b)
	}
	var recs map[string]any
	_ = json.Unmarshal([]byte(b), &recs)
}

// admin makes an administrator and returns its token.
func (f *fixture) admin(t *testing.T) string {
	t.Helper()
	hash, _ := web.HashPassword(pw, "", bcrypt.MinCost)
	if _, err := f.s.Store.AddUser(context.Background(), store.User{Email: "root@example.com", PasswordHash: hash, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	return f.token(t, "root@example.com")
}

// nextSlot is tomorrow at 10:00 UTC, when every test shop is open.
func (f *fixture) nextSlot(t *testing.T) string {
	d := time.Now().UTC().AddDate(0, 0, 1)
	return time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
}

func regexpOf(s string) *regexp.Regexp { return regexp.MustCompile(regexp.QuoteMeta(s)) }

var timeZero, timeFar = time.Unix(0, 0), time.Now().Add(24 * time.Hour)
