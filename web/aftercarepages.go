package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/store"
)

// loopData is what the booking pages show of the loop after the booking.
type loopData struct {
	Booking     BookingView
	Base        string // the booking's page: /bookings/ID or /shop/bookings/ID
	Owner, Shop bool
	Version     int
	Bill        booking.Bill
	Progress    []ProgressView
	History     []EventView
	Followup    *store.Followup
	Complaints  []store.Complaint
	Claims      []ClaimView
	Steps       []string
	// What the booking's status allows.
	DuringJob, AtShop, Done, CanComplain bool
}

func (w *Web) loop(ctx context.Context, c *caller, b store.Booking) (loopData, error) {
	role, actor := roleOf(c)
	l := loopData{Booking: w.bookingView(ctx, b), Owner: role == booking.OwnerRole, Shop: role == booking.ShopRole, Steps: booking.ProgressSteps,
		DuringJob: slices.Contains([]string{booking.Accepted, booking.Scheduled, booking.InProgress}, b.Status),
		AtShop:    b.Status == booking.Scheduled || b.Status == booking.InProgress,
		Done:      b.Status == booking.Completed || b.Status == booking.Reviewed}
	l.Base = "/bookings/" + b.ID
	if l.Shop {
		l.Base = "/shop/bookings/" + b.ID
	}
	var err error
	if l.Version, err = w.st.BookingVersion(ctx, b.ID); err != nil {
		return l, err
	}
	if _, l.Bill, err = w.bk.Bill(ctx, role, actor, b.ID); err != nil {
		return l, err
	}
	ps, err := w.st.BookingProgress(ctx, b.ID)
	if err != nil {
		return l, err
	}
	l.Progress = progressViews(b.ID, ps)
	if l.History, err = w.bookingHistory(ctx, b.ID); err != nil {
		return l, err
	}
	if f, err := w.st.Followup(ctx, b.ID); err == nil {
		l.Followup = &f
	} else if !errors.Is(err, store.ErrNotFound) {
		return l, err
	}
	if l.Complaints, err = w.st.Complaints(ctx, store.ComplaintFilter{BookingID: b.ID}); err != nil {
		return l, err
	}
	l.CanComplain = b.Status != booking.Requested && b.Status != booking.Cancelled && !slices.ContainsFunc(l.Complaints, func(c store.Complaint) bool {
		return c.Status != booking.ComplaintResolved
	})
	cs, err := w.st.WarrantyClaims(ctx, store.ClaimFilter{BookingID: b.ID})
	if err != nil {
		return l, err
	}
	l.Claims = claimViews(cs)
	return l, nil
}

func (w *Web) ownerBookingPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	l, err := w.loop(r.Context(), c, b)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "booking.html", pageData{Title: "Booking", Data: map[string]any{"Booking": l.Booking, "Loop": l}})
	return nil
}

// bookingLive streams the booking's version as server-sent events: a
// page that sees it grow fetches itself again and redraws what changed.
// The versions come from the server's one watch of every open booking.
func (w *Web) bookingLive(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	fl, ok := rw.(http.Flusher)
	if !ok {
		return fail(http.StatusInternalServerError, "internal", "streaming is not supported here")
	}
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	changes, stop := w.bookings.watch(b.ID)
	defer stop()
	v, err := w.st.BookingVersion(r.Context(), b.ID)
	if err != nil {
		return nil // the stream is open: the client reconnects
	}
	last := -1
	for {
		if v != last {
			last = v
			if _, err := fmt.Fprintf(rw, "event: booking\ndata: {\"version\":%d}\n\n", v); err != nil {
				return nil
			}
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return nil
		case v = <-changes:
		}
	}
}

// back redirects to a booking's page with a notice, at a section.
func back(rw http.ResponseWriter, r *http.Request, page, notice, section string) {
	http.Redirect(rw, r, page+"?notice="+url.QueryEscape(notice)+section, http.StatusSeeOther)
}

// formFloat reads a number field; empty is 0.
func formFloat(r *http.Request, name string) (float64, error) {
	s := r.PostFormValue(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fail(http.StatusUnprocessableEntity, "invalid", "%s: %q is not a number", name, s)
	}
	return v, nil
}

func formBool(r *http.Request, name string) (*bool, error) {
	switch r.PostFormValue(name) {
	case "true":
		t := true
		return &t, nil
	case "false":
		f := false
		return &f, nil
	case "":
		return nil, nil
	}
	return nil, fail(http.StatusUnprocessableEntity, "invalid", "%s: want yes or no", name)
}

func (w *Web) decideLinePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	n, err := lineNumber(r)
	if err != nil {
		return err
	}
	d := r.PathValue("decision")
	if d != "approve" && d != "decline" {
		return fail(http.StatusNotFound, "not_found", "no such decision")
	}
	if _, err := w.bk.DecideLine(r.Context(), c.OwnerID, r.PathValue("id"), n, d == "approve"); err != nil {
		return err
	}
	back(rw, r, "/bookings/"+r.PathValue("id"), map[string]string{"approve": "Approved.", "decline": "Declined."}[d], "#bill")
	return nil
}

func (w *Web) followupPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var a booking.FollowupAnswer
	var err error
	for name, dst := range map[string]**bool{"fixed": &a.Fixed, "price_as_agreed": &a.PriceAsAgreed, "use_again": &a.UseAgain} {
		if *dst, err = formBool(r, name); err != nil {
			return err
		}
	}
	if a.Score, err = strconv.Atoi(r.PostFormValue("score")); err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "score: %q: want 1 to 5", r.PostFormValue("score"))
	}
	a.Comment = r.PostFormValue("comment")
	_, opened, err := w.bk.AnswerFollowup(r.Context(), c.OwnerID, r.PathValue("id"), a)
	if err != nil {
		return err
	}
	notice := "Thank you."
	if opened != nil {
		notice = "Thank you. We opened a complaint the shop must answer."
	}
	back(rw, r, "/bookings/"+r.PathValue("id"), notice, "#followup")
	return nil
}

func (w *Web) complaintPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := w.bk.OpenComplaint(r.Context(), c.OwnerID, r.PathValue("id"), r.PostFormValue("category"), r.PostFormValue("text")); err != nil {
		return err
	}
	back(rw, r, "/bookings/"+r.PathValue("id"), "Your complaint is with the shop.", "#followup")
	return nil
}

// complaintActPost moves a complaint from a page: the owner's resolve and
// escalate, the shop's answer, an administrator's resolve.
func (w *Web) complaintActPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.ComplaintAction(r.PathValue("action"))
	if c.Role == RoleShop {
		a = booking.AnswerComplaint
	}
	role, actor := roleOf(c)
	cp, err := w.bk.ActOnComplaint(r.Context(), role, actor, r.PathValue("id"), a, r.PostFormValue("text"))
	if err != nil {
		return err
	}
	switch c.Role {
	case RoleAdmin:
		back(rw, r, "/admin", "Complaint "+cp.Status+".", "#complaints")
	case RoleShop:
		back(rw, r, "/shop/bookings/"+cp.BookingID, "Answered.", "#followup")
	default:
		back(rw, r, "/bookings/"+cp.BookingID, "Complaint "+cp.Status+".", "#followup")
	}
	return nil
}

func (w *Web) proposeLinePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	in := booking.LineInput{Kind: r.PostFormValue("kind"), Description: r.PostFormValue("description"), Reason: r.PostFormValue("reason")}
	var err error
	if in.Quantity, err = formFloat(r, "quantity"); err != nil {
		return err
	}
	if in.UnitPrice, err = formFloat(r, "unit_price"); err != nil {
		return err
	}
	if _, err := w.bk.ProposeLine(r.Context(), c.ShopID, r.PathValue("id"), in); err != nil {
		return err
	}
	back(rw, r, "/shop/bookings/"+r.PathValue("id"), "Sent to the owner for approval.", "#bill")
	return nil
}

func (w *Web) paymentPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	in := booking.PaymentInput{Method: r.PostFormValue("method"), Note: r.PostFormValue("note")}
	var err error
	if in.Amount, err = formFloat(r, "amount"); err != nil {
		return err
	}
	if _, err := w.bk.RecordPayment(r.Context(), c.ShopID, r.PathValue("id"), in); err != nil {
		return err
	}
	back(rw, r, "/shop/bookings/"+r.PathValue("id"), "Payment recorded.", "#bill")
	return nil
}

func (w *Web) claimPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := r.PathValue("answer")
	if a != "accept" && a != "decline" {
		return fail(http.StatusNotFound, "not_found", "no such answer")
	}
	cl, err := w.bk.AnswerClaim(r.Context(), c.ShopID, r.PathValue("id"), a == "accept", r.PostFormValue("text"))
	if err != nil {
		return err
	}
	back(rw, r, "/shop/bookings/"+cl.BookingID, "Claim "+cl.Status+".", "#warranty")
	return nil
}

// uploadPage is page for a multipart form: the body may hold photos, so
// it is bounded by maxProgressBody rather than MaxBody, and its CSRF
// token is the form's csrf field, checked by h (progressPost).
func (w *Web) uploadPage(roles []string, h func(rw http.ResponseWriter, r *http.Request, c *caller) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := w.identify(r)
		if c == nil || c.bearer {
			http.Redirect(rw, r, "/login", http.StatusSeeOther)
			return
		}
		if !contains(roles, c.Role) {
			w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Not for this account", Data: "This page is for shop accounts."})
			return
		}
		if err := h(rw, r, c); err != nil {
			ae := classify(err)
			if ae.Status >= 500 {
				w.log.Error("web: upload failed", "path", r.URL.Path, "err", err)
			}
			if ae.Code == "csrf" {
				w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Form expired", Data: ae.Message})
				return
			}
			http.Redirect(rw, r, "/shop/bookings/"+url.PathEscape(r.PathValue("id"))+"?error="+url.QueryEscape(ae.Message)+"#progress", http.StatusSeeOther)
		}
	})
}

func (w *Web) progressPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	step, note, csrf, photos, err := readProgress(rw, r)
	if err != nil {
		return err
	}
	if csrf == "" || subtle.ConstantTimeCompare([]byte(csrf), []byte(c.csrf)) != 1 {
		return fail(http.StatusForbidden, "csrf", "The form's security token is missing or belongs to another session. Go back, reload the page and try again.")
	}
	if _, err := w.bk.Progress(r.Context(), c.ShopID, r.PathValue("id"), step, note, photos); err != nil {
		return err
	}
	back(rw, r, "/shop/bookings/"+r.PathValue("id"), "Posted; the owner sees it now.", "#progress")
	return nil
}

// escalated lists the complaints on the administrators' page.
func (w *Web) escalated(ctx context.Context) ([]store.Complaint, error) {
	return w.st.Complaints(ctx, store.ComplaintFilter{Status: booking.ComplaintEscalated})
}

// formLines reads a quote's lines from the lead page's rows: the rows
// with a description, each row's fields at the same index.
func formLines(r *http.Request) ([]booking.LineInput, error) {
	f := r.PostForm
	var out []booking.LineInput
	for i, desc := range f["line_description"] {
		if desc == "" {
			continue
		}
		at := func(name string) string {
			if vs := f[name]; i < len(vs) {
				return vs[i]
			}
			return ""
		}
		l := booking.LineInput{Kind: at("line_kind"), Description: desc, Repair: at("line_repair")}
		for name, dst := range map[string]*float64{"line_quantity": &l.Quantity, "line_unit_price": &l.UnitPrice} {
			if s := at(name); s != "" {
				v, err := strconv.ParseFloat(s, 64)
				if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fail(http.StatusUnprocessableEntity, "invalid", "line %d: %s: %q is not a number", i+1, strings.TrimPrefix(name, "line_"), s)
				}
				*dst = v
			}
		}
		if s := at("line_warranty_months"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, fail(http.StatusUnprocessableEntity, "invalid", "line %d: warranty_months: %q is not a whole number", i+1, s)
			}
			l.WarrantyMonths = n
		}
		out = append(out, l)
	}
	return out, nil
}
