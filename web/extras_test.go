package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/server"
)

// The owner answers an extra from the email without signing in: the link
// opens a page that changes nothing by itself (mail scanners open links),
// its form approves the line once, the bill counts it, the feed never
// shows the link, and the link then no longer works.
func TestExtraApprovedFromTheEmail(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.Booking.SweepInterval = time.Hour })
	ana, shop := f.token(t, "ana@example.com"), f.token(t, "shop-1@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","shops":["shop-1"]}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	var lead struct{ ID string }
	decodeJSON(t, b, &lead)
	if code, b := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json",
		`{"lines":[{"kind":"labour","description":"Fitting","quantity":1}],"slot":"`+f.nextSlot(t)+`"}`); code != 200 {
		t.Fatalf("quote: %d %s", code, b)
	}
	code, b = f.do(t, ana, "POST", "/api/v1/leads/"+lead.ID+"/book", "application/json", `{"shop_id":"shop-1"}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, b)
	}
	var bk struct{ ID string }
	decodeJSON(t, b, &bk)
	base := "/api/v1/bookings/" + bk.ID
	for _, a := range []string{"accept", "schedule", "start"} {
		if code, b := f.do(t, shop, "POST", base+"/"+a, "", ""); code != 200 {
			t.Fatalf("%s: %d %s", a, code, b)
		}
	}
	if code, b := f.do(t, shop, "POST", base+"/lines", "application/json", `{"kind":"part","description":"Radiator hose","quantity":1,"unit_price":42,"reason":"It is cracked"}`); code != 201 {
		t.Fatalf("extra: %d %s", code, b)
	}
	link := f.smtp.WaitMail(t, "ana@example.com", regexp.MustCompile(`without signing in \(the link works once, for 7 days\): (http://\S+/extras\?token=[A-Za-z0-9_-]{43})`), 10*time.Second)

	jar, _ := cookiejar.New(nil)
	phone := &http.Client{Jar: jar} // no session: a phone's mail app
	get := func(u string) (int, string) {
		resp, err := phone.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for range 2 { // opened twice (a scanner, then the owner): still unanswered
		code, page := get(link)
		if code != 200 || !strings.Contains(page, "Radiator hose") || !strings.Contains(page, "It is cracked") {
			t.Fatalf("the link's page: %d %.300s", code, page)
		}
	}
	_, page := get(link)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	token := strings.TrimPrefix(link[strings.Index(link, "token="):], "token=")
	if code, b := f.do(t, ana, "GET", base+"/bill", "", ""); code != 200 || !strings.Contains(b, `"status":"proposed"`) {
		t.Fatalf("opening the link answered it: %s", b)
	}
	post := func(answer, csrfValue string) (int, string) {
		resp, err := phone.PostForm(f.base+"/extras", url.Values{"csrf": {csrfValue}, "token": {token}, "answer": {answer}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := post("approve", "forged"); code != 403 {
		t.Errorf("a form without its token: %d", code)
	}
	if code, page := post("approve", csrf[1]); code != 200 || !strings.Contains(page, "You approved Radiator hose") {
		t.Fatalf("approving: %d %.300s", code, page)
	}
	if code, b := f.do(t, ana, "GET", base+"/bill", "", ""); code != 200 || !strings.Contains(b, `"description":"Radiator hose"`) || strings.Contains(b, `"status":"proposed"`) {
		t.Errorf("the bill after: %s", b)
	}
	if code, _ := get(link); code != 404 {
		t.Errorf("the used link's page: %d", code)
	}
	if code, _ := post("decline", csrf[1]); code != 404 {
		t.Errorf("the used link, again: %d", code)
	}
	if code, _ := get(f.base + "/extras?token=made-up"); code != 404 {
		t.Errorf("a made-up link: %d", code)
	}
	v, err := f.s.Store.Vehicle(context.Background(), f.carA)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := f.s.Store.Feed(context.Background(), v.OwnerID, time.Time{}, 100)
	if err != nil || len(feed) == 0 {
		t.Fatalf("feed %v %v", feed, err)
	}
	for _, it := range feed {
		if strings.Contains(it.Summary, token) || strings.Contains(it.Summary, "/extras") {
			t.Errorf("the feed shows the link: %s", it.Summary)
		}
	}
}
