package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/server"
)

// shiftClock is the wall clock moved on by what the test adds: the store
// stamps rows with the wall clock, the booking service with this.
type shiftClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *shiftClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.d) }
func (c *shiftClock) add(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

// upload posts a multipart progress step with the files given.
func (f *fixture) upload(t *testing.T, token, path string, fields map[string]string, files ...[]byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for i, data := range files {
		fw, _ := mw.CreateFormFile("photo", fmt.Sprintf("photo-%d.jpg", i))
		_, _ = fw.Write(data)
	}
	_ = mw.Close()
	return f.do(t, token, "POST", path, mw.FormDataContentType(), body.String())
}

// commentedJPEG is a JPEG carrying a comment segment (metadata the
// upload must lose).
func commentedJPEG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 16, 12)), nil); err != nil {
		t.Fatal(err)
	}
	com := []byte("taken at 38.7223,-9.1393 by SECRET-CAMERA")
	seg := append([]byte{0xFF, 0xFE, byte((len(com) + 2) >> 8), byte(len(com) + 2)}, com...)
	raw := buf.Bytes()
	return append(append(append([]byte{}, raw[:2]...), seg...), raw[2:]...)
}

// The loop after the booking through the API: an itemised quote, an
// extra the owner approves, completion refused above the approved total,
// progress with a photo, payment, the bill, a low follow-up that opens a
// complaint, its escalation when the promise passes, and a warranty
// claim from a returning fault.
func TestAfterTheBookingAPI(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.Booking.SweepInterval = time.Hour })
	clock := &shiftClock{}
	f.s.Booking.Now = clock.now
	ctx := context.Background()
	ana, bo, shop, other := f.token(t, "ana@example.com"), f.token(t, "bo@example.com"), f.token(t, "shop-1@example.com"), f.token(t, "shop-2@example.com")
	code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","shops":["shop-1"]}`)
	if code != 201 {
		t.Fatalf("lead: %d %s", code, b)
	}
	var lead struct{ ID string }
	decodeJSON(t, b, &lead)
	_, b = f.do(t, shop, "GET", "/api/v1/shop/leads/"+lead.ID, "", "")
	var view struct {
		Fair struct{ Low, High float64 } `json:"fair_price"`
	}
	decodeJSON(t, b, &view)
	part := view.Fair.High - 100 // and an hour at the shop's rate of 100
	if part <= 0 {
		t.Fatalf("fair range: %s", b)
	}
	slot := f.nextSlot(t)
	lines := fmt.Sprintf(`[{"kind":"part","description":"Water pump","quantity":1,"unit_price":%.2f,"warranty_months":12},{"kind":"labour","description":"Fitting","quantity":1}]`, part)
	for _, c := range []struct {
		body  string
		code  int
		field string
	}{
		{`{"lines":[{"kind":"part","description":"Pump","quantity":0,"unit_price":50}],"slot":"` + slot + `"}`, 422, "lines[0].quantity"},
		{`{"lines":[{"kind":"labour","description":"Fit","quantity":1,"unit_price":1}],"slot":"` + slot + `"}`, 422, "lines[0].unit_price"},
		{`{"lines":[{"kind":"part","description":"Pump","quantity":1,"unit_price":"cheap"}],"slot":"` + slot + `"}`, 400, "unit_price"},
		{`{"lines":[{"kind":"part","description":"Pump","qty":1}],"slot":"` + slot + `"}`, 400, "qty"},
		{`{"quote":100,"lines":` + lines + `,"slot":"` + slot + `"}`, 422, "quote"},
	} {
		if code, b := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json", c.body); code != c.code || !strings.Contains(b, c.field) {
			t.Errorf("quote %s: %d %s", c.body, code, b)
		}
	}
	if code, b := f.do(t, shop, "POST", "/api/v1/shop/leads/"+lead.ID+"/quote", "application/json", `{"lines":`+lines+`,"slot":"`+slot+`"}`); code != 200 {
		t.Fatalf("quote: %d %s", code, b)
	}
	code, b = f.do(t, ana, "POST", "/api/v1/leads/"+lead.ID+"/book", "application/json", `{"shop_id":"shop-1"}`)
	if code != 201 {
		t.Fatalf("book: %d %s", code, b)
	}
	var bk struct{ ID string }
	decodeJSON(t, b, &bk)
	base := "/api/v1/bookings/" + bk.ID
	var bill booking.Bill
	_, b = f.do(t, ana, "GET", base+"/bill", "", "")
	decodeJSON(t, b, &bill)
	if len(bill.Lines) != 2 || bill.Total != bill.Subtotal || bill.Lines[1].Amount != 100 {
		t.Fatalf("the booked bill: %s", b)
	}
	approved := bill.Total
	if code, _ := f.do(t, bo, "GET", base+"/bill", "", ""); code != 404 {
		t.Errorf("Bo reads Ana's bill: %d", code)
	}
	for _, a := range []string{"accept", "schedule", "start"} {
		if code, b := f.do(t, shop, "POST", base+"/"+a, "", ""); code != 200 {
			t.Fatalf("%s: %d %s", a, code, b)
		}
	}

	// An extra: the shop's, with a reason; the owner's to decide, once.
	extra := `{"kind":"part","description":"Coolant","quantity":2,"unit_price":12.5,"reason":"The old coolant is rusty"}`
	for _, c := range []struct {
		token, body string
		code        int
	}{
		{ana, extra, 403}, {other, extra, 404},
		{shop, `{"kind":"part","description":"Coolant","quantity":2,"unit_price":12.5}`, 422},
		{shop, `{"kind":"part","description":"Coolant","quantity":2,"unit_price":1e308,"reason":"x"}`, 422},
		{shop, `{"kind":"part","description":"Coolant","price":3,"reason":"x"}`, 400},
	} {
		if code, b := f.do(t, c.token, "POST", base+"/lines", "application/json", c.body); code != c.code {
			t.Errorf("extra %s: %d %s", c.body, code, b)
		}
	}
	if code, b := f.do(t, shop, "POST", base+"/lines", "application/json", extra); code != 201 || !strings.Contains(b, `"status":"proposed"`) {
		t.Fatalf("extra: %d %s", code, b)
	}
	f.smtp.WaitMail(t, "ana@example.com", regexpOf("proposes an extra line on your booking: Coolant"), 10e9)
	if code, b := f.do(t, shop, "POST", base+"/complete", "application/json", fmt.Sprintf(`{"work":"Water pump","odometer_km":61000,"price":%.2f}`, approved+25)); code != 409 {
		t.Errorf("completed above the approved total: %d %s", code, b)
	}
	for _, c := range []struct {
		token, path string
		code        int
	}{{shop, "/lines/3/approve", 403}, {bo, "/lines/3/approve", 404}, {ana, "/lines/9/approve", 404}, {ana, "/lines/3/maybe", 404}, {ana, "/lines/x/approve", 404}} {
		if code, b := f.do(t, c.token, "POST", base+c.path, "", ""); code != c.code {
			t.Errorf("%s: %d %s", c.path, code, b)
		}
	}
	if code, b := f.do(t, ana, "POST", base+"/lines/3/approve", "", ""); code != 200 || !strings.Contains(b, `"status":"approved"`) {
		t.Fatalf("approve: %d %s", code, b)
	}
	if code, _ := f.do(t, ana, "POST", base+"/lines/3/decline", "", ""); code != 409 {
		t.Errorf("decided twice: %d", code)
	}

	// Progress with a photo: images only, not too large, the shop's own.
	step := map[string]string{"step": "diagnosed", "note": "The pump leaks"}
	if code, b := f.upload(t, shop, base+"/progress", step, []byte("%PDF-1.4 not a photo")); code != 415 || errCode(b) != "not_an_image" {
		t.Errorf("a PDF as photo: %d %s", code, b)
	}
	if code, b := f.upload(t, shop, base+"/progress", step, append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, booking.MaxPhotoBytes)...)); code != 413 {
		t.Errorf("a photo over 8 MiB: %d %s", code, b)
	}
	if code, b := f.do(t, shop, "POST", base+"/progress", "application/json", `{"step":"diagnosed"}`); code != 415 {
		t.Errorf("progress as JSON: %d %s", code, b)
	}
	if code, b := f.upload(t, shop, base+"/progress", map[string]string{"step": "napping"}); code != 422 || !strings.Contains(b, "step") {
		t.Errorf("an unknown step: %d %s", code, b)
	}
	if code, _ := f.upload(t, ana, base+"/progress", step); code != 403 {
		t.Errorf("the owner posts progress: %d", code)
	}
	if code, _ := f.upload(t, other, base+"/progress", step); code != 404 {
		t.Errorf("another shop posts progress: %d", code)
	}
	if code, b := f.upload(t, shop, base+"/progress", step, commentedJPEG(t)); code != 201 {
		t.Fatalf("progress: %d %s", code, b)
	}
	var prog struct {
		Progress []struct{ Photos []struct{ URL string } }
	}
	_, b = f.do(t, ana, "GET", base+"/progress", "", "")
	decodeJSON(t, b, &prog)
	if len(prog.Progress) != 1 || len(prog.Progress[0].Photos) != 1 {
		t.Fatalf("progress as the owner sees it: %s", b)
	}
	req, _ := http.NewRequest("GET", f.base+prog.Progress[0].Photos[0].URL, nil)
	req.Header.Set("Authorization", "Bearer "+ana)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	photo, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || bytes.Contains(photo, []byte("SECRET")) {
		t.Errorf("the photo: %d %s, comment kept %v", resp.StatusCode, resp.Header.Get("Content-Type"), bytes.Contains(photo, []byte("SECRET")))
	}
	if code, _ := f.do(t, bo, "GET", prog.Progress[0].Photos[0].URL, "", ""); code != 404 {
		t.Errorf("Bo sees the photo: %d", code)
	}

	// Completion at the approved total, then payment.
	total := approved + 25
	if code, b := f.do(t, shop, "POST", base+"/payments", "application/json", `{"method":"card","amount":10}`); code != 409 {
		t.Errorf("paid before completion: %d %s", code, b)
	}
	if code, b := f.do(t, shop, "POST", base+"/complete", "application/json", fmt.Sprintf(`{"work":"Water pump and coolant","odometer_km":61000,"price":%.2f}`, total)); code != 200 {
		t.Fatalf("complete: %d %s", code, b)
	}
	for _, c := range []struct {
		token, body string
		code        int
	}{
		{shop, fmt.Sprintf(`{"method":"card","amount":%.2f}`, total+1), 422}, {shop, `{"method":"shells","amount":1}`, 422},
		{shop, `{"method":"card","amount":-5}`, 422}, {shop, `{"method":"card","amount":"all"}`, 400}, {ana, `{"method":"card","amount":1}`, 403},
		{other, `{"method":"card","amount":1}`, 404},
	} {
		if code, b := f.do(t, c.token, "POST", base+"/payments", "application/json", c.body); code != c.code {
			t.Errorf("payment %s: %d %s", c.body, code, b)
		}
	}
	if code, b := f.do(t, shop, "POST", base+"/payments", "application/json", fmt.Sprintf(`{"method":"cash","amount":%.2f}`, total)); code != 201 || !strings.Contains(b, `"due":0`) {
		t.Fatalf("payment: %d %s", code, b)
	}
	_, b = f.do(t, ana, "GET", base+"/bill", "", "")
	decodeJSON(t, b, &bill)
	if bill.Total != total || bill.Paid != total || len(bill.Lines) != 3 || len(bill.Payments) != 1 || bill.Payments[0].Method != "cash" {
		t.Errorf("the paid bill: %s", b)
	}

	// Follow-up: not yet; after three days once; a low answer opens a
	// complaint.
	if code, _ := f.do(t, ana, "GET", base+"/followup", "", ""); code != 404 {
		t.Errorf("a follow-up before it is due: %d", code)
	}
	clock.add(3*24*time.Hour + time.Minute)
	if a, err := f.s.Booking.SweepAftercare(ctx); err != nil || a.Followups != 1 {
		t.Fatalf("sweep: %+v %v", a, err)
	}
	f.smtp.WaitMail(t, "ana@example.com", regexpOf("Four quick questions"), 10e9)
	for _, c := range []struct {
		token, body string
		code        int
	}{
		{ana, `{"fixed":false,"price_as_agreed":true,"use_again":false}`, 422}, {ana, `{"fixed":"no","price_as_agreed":true,"use_again":false,"score":1}`, 400},
		{shop, `{"fixed":false,"price_as_agreed":true,"use_again":false,"score":1}`, 403}, {bo, `{"fixed":false,"price_as_agreed":true,"use_again":false,"score":1}`, 404},
	} {
		if code, b := f.do(t, c.token, "POST", base+"/followup", "application/json", c.body); code != c.code {
			t.Errorf("follow-up %s: %d %s", c.body, code, b)
		}
	}
	code, b = f.do(t, ana, "POST", base+"/followup", "application/json", `{"fixed":false,"price_as_agreed":true,"use_again":false,"score":2,"comment":"Still overheats"}`)
	if code != 200 || !strings.Contains(b, `"complaint"`) {
		t.Fatalf("a low follow-up: %d %s", code, b)
	}
	var fu struct {
		Complaint struct {
			ID     string
			Status string
			Due    time.Time `json:"answer_by"`
		}
	}
	decodeJSON(t, b, &fu)
	if code, _ := f.do(t, ana, "POST", base+"/followup", "application/json", `{"fixed":true,"price_as_agreed":true,"use_again":true,"score":5}`); code != 409 {
		t.Errorf("answered twice: %d", code)
	}
	if code, b := f.do(t, ana, "POST", base+"/complaints", "application/json", `{"category":"price","text":"again"}`); code != 409 {
		t.Errorf("a second open complaint: %d %s", code, b)
	}
	if code, b := f.do(t, ana, "POST", base+"/complaints", "application/json", `{"category":"weather","text":"x"}`); code != 422 || !strings.Contains(b, "category") {
		t.Errorf("an unknown category: %d %s", code, b)
	}

	// The shop lets the promise pass: the sweep escalates it to the
	// administrators.
	admin := f.admin(t)
	cpath := "/api/v1/complaints/" + fu.Complaint.ID
	if code, _ := f.do(t, other, "POST", cpath+"/answer", "application/json", `{"text":"not ours"}`); code != 404 {
		t.Errorf("another shop answers: %d", code)
	}
	if code, _ := f.do(t, ana, "POST", cpath+"/answer", "application/json", `{"text":"I answer myself"}`); code != 409 {
		t.Errorf("the owner answers: %d", code)
	}
	if code, _ := f.do(t, shop, "POST", cpath+"/shrug", "", ""); code != 404 {
		t.Errorf("an unknown complaint action: %d", code)
	}
	clock.add(time.Until(fu.Complaint.Due) + time.Minute - clock.d)
	if a, err := f.s.Booking.SweepAftercare(ctx); err != nil || a.Escalated != 1 {
		t.Fatalf("escalation: %+v %v", a, err)
	}
	if code, b := f.do(t, admin, "GET", "/api/v1/complaints?status=escalated", "", ""); code != 200 || !strings.Contains(b, fu.Complaint.ID) {
		t.Errorf("the administrators' list: %d %s", code, b)
	}
	if code, b := f.do(t, bo, "GET", "/api/v1/complaints", "", ""); code != 200 || strings.Contains(b, fu.Complaint.ID) {
		t.Errorf("Bo's complaints: %d %s", code, b)
	}
	if code, _ := f.do(t, admin, "GET", "/api/v1/complaints?status=lost", "", ""); code != 422 {
		t.Errorf("an unknown status: %d", code)
	}
	if code, b := f.do(t, shop, "POST", cpath+"/answer", "application/json", `{"text":"Bring it back, we check it for free"}`); code != 200 || !strings.Contains(b, `"status":"escalated"`) {
		t.Errorf("a late answer: %d %s", code, b)
	}
	if code, b := f.do(t, admin, "POST", cpath+"/resolve", "application/json", `{"text":"The shop redoes it"}`); code != 200 || !strings.Contains(b, `"status":"resolved"`) {
		t.Errorf("resolve: %d %s", code, b)
	}
	_, b = f.do(t, ana, "GET", base+"/history", "", "")
	for _, want := range []string{"Line 3 proposed", "approved by the owner", "Paid", "Follow-up answered", "Escalated", "resolved"} {
		if !strings.Contains(b, want) {
			t.Errorf("the history lacks %q: %s", want, b)
		}
	}
	if code, b := f.do(t, "", "GET", "/api/v1/shops/shop-1/answer-times", "", ""); code != 401 && !strings.Contains(b, "complaints") {
		t.Errorf("answer times: %d %s", code, b)
	}
	if code, b := f.do(t, bo, "GET", "/api/v1/shops/shop-1/answer-times", "", ""); code != 200 || !strings.Contains(b, `"complaints":{"answered":1`) {
		t.Errorf("answer times: %d %s", code, b)
	}

	// The fault returns within the pump's warranty: a claim opens to the
	// shop with the evidence.
	if err := f.s.Booking.ObserveReport(ctx, f.carA, booking.CodeReport{Active: []string{"P0217"}, At: clock.now()}); err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Claims []struct {
			ID, Status string
			Evidence   struct{ Warranty string }
		}
	}
	_, b = f.do(t, shop, "GET", "/api/v1/warranty-claims", "", "")
	decodeJSON(t, b, &claims)
	if len(claims.Claims) != 1 || claims.Claims[0].Status != "open" || !strings.Contains(claims.Claims[0].Evidence.Warranty, "Water pump") {
		t.Fatalf("claims: %s", b)
	}
	if _, b := f.do(t, other, "GET", "/api/v1/warranty-claims", "", ""); strings.Contains(b, claims.Claims[0].ID) {
		t.Errorf("another shop sees the claim: %s", b)
	}
	wpath := "/api/v1/warranty-claims/" + claims.Claims[0].ID
	if code, _ := f.do(t, shop, "POST", wpath+"/decline", "application/json", `{}`); code != 422 {
		t.Errorf("declined without a reason: %d", code)
	}
	if code, _ := f.do(t, ana, "POST", wpath+"/accept", "", ""); code != 403 {
		t.Errorf("the owner accepts: %d", code)
	}
	if code, b := f.do(t, shop, "POST", wpath+"/accept", "application/json", `{"text":"Bring it in"}`); code != 200 || !strings.Contains(b, `"accepted"`) {
		t.Errorf("accept: %d %s", code, b)
	}
	if code, _ := f.do(t, shop, "POST", wpath+"/accept", "", ""); code != 409 {
		t.Errorf("accepted twice: %d", code)
	}
	if code, b := f.do(t, ana, "GET", "/api/v1/vehicles/"+f.carA+"/record", "", ""); code != 200 || !strings.Contains(b, `"verify":"returned"`) || !strings.Contains(b, "Water pump") {
		t.Errorf("the record: %d %s", code, b)
	}
	if code, _ := f.do(t, bo, "GET", "/api/v1/vehicles/"+f.carA+"/record", "", ""); code != 404 {
		t.Errorf("Bo reads Ana's record: %d", code)
	}

	// The owner's pages: the booking with its loop, the printable bill
	// and the PDF with its lines and total.
	browser, _ := browserSession(t, f, "ana@example.com")
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Get(f.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	totalText := fmt.Sprintf("%.2f", total)
	if resp, page := get("/bookings/" + bk.ID); resp.StatusCode != 200 || !strings.Contains(page, `id="bill-total">`+totalText) || !strings.Contains(page, `class="photo"`) ||
		!strings.Contains(page, "data-booking-live") || !strings.Contains(page, "Water pump") {
		t.Errorf("the booking page: %d %s", resp.StatusCode, page)
	}
	if resp, page := get("/bookings/" + bk.ID + "/bill"); resp.StatusCode != 200 || !strings.Contains(page, `id="printable-total">`+totalText) {
		t.Errorf("the printable bill: %d %s", resp.StatusCode, page)
	}
	resp, pdf := get("/bookings/" + bk.ID + "/bill.pdf")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-") ||
		!strings.Contains(pdf, "(Water pump") || !strings.Contains(pdf, "(Coolant") || !strings.Contains(pdf, "("+totalText+")") || !strings.Contains(pdf, "Paid by cash") {
		t.Errorf("the PDF bill: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(pdf))
	}
	if resp, pdf := get("/vehicles/" + f.carA + "/record.pdf"); resp.StatusCode != 200 || !strings.Contains(pdf, "returned") || !strings.Contains(pdf, "(Service record") {
		t.Errorf("the record PDF: %d, %d bytes", resp.StatusCode, len(pdf))
	}
	bob, _ := browserSession(t, f, "bo@example.com")
	if resp, err := bob.Get(f.base + "/bookings/" + bk.ID + "/bill.pdf"); err != nil || resp.StatusCode != 404 {
		t.Errorf("Bo downloads Ana's bill: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
}

// A lead carries the car's service record only when the owner ticks it.
func TestLeadSharesTheRecordOnlyWithConsent(t *testing.T) {
	f := newFixture(t)
	ana, shop := f.token(t, "ana@example.com"), f.token(t, "shop-1@example.com")
	for _, c := range []struct {
		consent string
		shared  bool
	}{{`{}`, false}, {`{"history":true}`, true}} {
		code, b := f.do(t, ana, "POST", "/api/v1/leads", "application/json", `{"vehicle_id":"`+f.carA+`","consent":`+c.consent+`,"shops":["shop-1"]}`)
		if code != 201 {
			t.Fatalf("lead: %d %s", code, b)
		}
		var lead struct{ ID string }
		decodeJSON(t, b, &lead)
		_, b = f.do(t, shop, "GET", "/api/v1/shop/leads/"+lead.ID, "", "")
		if got := strings.Contains(b, `"history":{"vehicle"`); got != c.shared {
			t.Errorf("consent %s: the shop sees the record %v: %s", c.consent, got, b)
		}
		if code, _ := f.do(t, ana, "DELETE", "/api/v1/leads/"+lead.ID, "", ""); code != 200 && code != 204 {
			t.Errorf("withdraw: %d", code)
		}
	}
}
