package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// pageData is what every page template gets.
type pageData struct {
	Title  string
	User   *store.User
	CSRF   string
	Error  string
	Notice string
	Charts bool
	Data   any
}

var labels = map[string]string{
	diagnosis.SigCoolant: "coolant", diagnosis.SigRPM: "rpm", diagnosis.SigSpeed: "speed", diagnosis.SigLoad: "load",
	diagnosis.SigSTFT1: "short-term trim", diagnosis.SigLTFT1: "long-term trim", diagnosis.SigBattery: "battery",
}

func parsePages() (*template.Template, error) {
	funcs := template.FuncMap{
		"join": strings.Join,
		"inc":  func(i int) int { return i + 1 },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("Mon 2 Jan 15:04 UTC")
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"sig": func(m map[string]float64, k string, digits int) string {
			v, ok := m[k]
			if !ok {
				return "–"
			}
			return strconv.FormatFloat(v, 'f', digits, 64)
		},
		"label": func(s string) string {
			if l, ok := labels[s]; ok {
				return l
			}
			return path.Ext(s)[1:]
		},
		"stars": func() []int { return []int{5, 4, 3, 2, 1} },
		"item": func(id string) string {
			if it, ok := booking.ItemByID(id); ok {
				return it.Name
			}
			return id
		},
		"unit": func(u string) string {
			if t, ok := map[string]string{"celsius": "°C", "percent": "%", "degrees": "°", "ratio": ""}[u]; ok {
				return t
			}
			return u
		},
	}
	root := template.New("").Funcs(funcs)
	if _, err := root.ParseFS(files, "templates/layout.html"); err != nil {
		return nil, err
	}
	names, _ := fs.Glob(files, "templates/*.html")
	all := template.New("pages")
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := root.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(files, n); err != nil {
			return nil, err
		}
		if _, err := all.AddParseTree(base, t.Lookup("layout").Tree); err != nil {
			return nil, err
		}
		// AddParseTree shares nothing: keep the clone itself.
		pageSets[base] = t
	}
	return all, nil
}

var pageSets = map[string]*template.Template{}

func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	if c := callerOf(r); c != nil {
		d.User, d.CSRF = &c.User, c.csrf
	}
	q := r.URL.Query()
	if d.Error == "" {
		d.Error = q.Get("error")
	}
	d.Notice = q.Get("notice")
	var buf bytes.Buffer
	if err := pageSets[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		w.log.Error("web: rendering a page", "page", name, "err", err)
		http.Error(rw, "the page could not be drawn; this has been logged", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// page wraps a page handler: not signed in goes to /login, a wrong role
// or a bad CSRF token gets a 403 page; an error from a POST goes back to
// the referring page with the message, from a GET renders an error page.
func (w *Web) page(roles []string, h func(rw http.ResponseWriter, r *http.Request, c *caller) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := w.identify(r)
		if c == nil || c.bearer {
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, c))
		if len(roles) > 0 && !contains(roles, c.Role) {
			w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Not for this account", Data: "This page is for " + strings.Join(roles, " or ") + " accounts."})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(rw, r.Body, MaxBody)
			if err := r.ParseForm(); err != nil {
				w.render(rw, r, http.StatusRequestEntityTooLarge, "error.html", pageData{Title: "Form too large", Data: err.Error()})
				return
			}
		}
		if !checkCSRF(c, r) {
			w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Form expired", Data: "The form's security token is missing or belongs to another session. Go back, reload the page and try again."})
			return
		}
		if err := h(rw, r, c); err != nil {
			ae := classify(err)
			if ae.Status >= 500 {
				w.log.Error("web: page failed", "path", r.URL.Path, "err", err)
			}
			if r.Method == http.MethodPost {
				back := r.Referer()
				if u, err := url.Parse(back); err != nil || back == "" || u.Host != "" && u.Host != r.Host {
					back = "/"
				} else {
					back = u.Path
				}
				http.Redirect(rw, r, back+"?error="+url.QueryEscape(ae.Message), http.StatusSeeOther)
				return
			}
			w.render(rw, r, ae.Status, "error.html", pageData{Title: http.StatusText(ae.Status), Data: ae.Message})
		}
	})
}

func (w *Web) routesPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", w.loginPage)
	mux.HandleFunc("POST /login", w.loginPost)
	mux.Handle("POST /logout", w.page(anyone, func(rw http.ResponseWriter, r *http.Request, c *caller) error {
		w.endSession(rw, r)
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
		return nil
	}))
	mux.Handle("GET /{$}", w.page(anyone, func(rw http.ResponseWriter, r *http.Request, c *caller) error {
		to := "/garage"
		if c.Role == RoleShop {
			to = "/shop"
		}
		http.Redirect(rw, r, to, http.StatusSeeOther)
		return nil
	}))
	mux.Handle("GET /garage", w.page(ownerAdmin, w.garagePage))
	mux.Handle("GET /vehicles/{id}", w.page(ownerAdmin, w.vehiclePage))
	mux.Handle("GET /vehicles/{id}/diagnosis", w.page(ownerAdmin, w.diagnosisPage))
	mux.Handle("POST /vehicles/{id}/leads", w.page(owners, w.leadPost))
	mux.Handle("POST /alerts/{fingerprint}/snooze", w.page(owners, w.snoozePost))
	mux.Handle("POST /vehicles/{id}/packages", w.page(owners, w.packagePost))
	mux.Handle("GET /leads", w.page(owners, w.leadsPage))
	mux.Handle("POST /leads/{id}/book", w.page(owners, w.bookPost))
	mux.Handle("POST /leads/{id}/withdraw", w.page(owners, w.withdrawPost))
	mux.Handle("GET /bookings", w.page(owners, w.bookingsPage))
	mux.Handle("POST /bookings/{id}/{action}", w.page(owners, w.ownerActPost))
	mux.Handle("GET /shop", w.page(shops, w.shopPage))
	mux.Handle("GET /shop/leads/{id}", w.page(shops, w.shopLeadPage))
	mux.Handle("POST /shop/leads/{id}/quote", w.page(shops, w.quotePost))
	mux.Handle("POST /shop/leads/{id}/decline", w.page(shops, w.declinePost))
	mux.Handle("GET /shop/bookings", w.page(shops, w.bookingsPage))
	mux.Handle("GET /shop/bookings/{id}", w.page(shops, w.shopBookingPage))
	mux.Handle("POST /shop/bookings/{id}/{action}", w.page(shops, w.shopActPost))
}

type loginData struct {
	LoginCSRF, Next, Email string
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	tok := secret()
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600})
	w.render(rw, r, http.StatusOK, "login.html", pageData{Title: "Sign in", Data: loginData{LoginCSRF: tok, Next: safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a redirect on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.Contains(n, "\\") {
		return "/"
	}
	return n
}

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(rw, "the form is too large", http.StatusRequestEntityTooLarge)
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || r.PostFormValue("csrf") != ck.Value {
		w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Form expired", Data: "The sign-in form expired. Reload it and try again."})
		return
	}
	email, next := r.PostFormValue("email"), safeNext(r.PostFormValue("next"))
	u, err := w.login(r.Context(), clientIP(r), email, r.PostFormValue("password"))
	if err != nil {
		status := http.StatusUnauthorized
		var rl *rateLimited
		if errors.As(err, &rl) {
			status = http.StatusTooManyRequests
			rw.Header().Set("Retry-After", fmt.Sprint(int(rl.wait.Seconds())+1))
		}
		tok := secret()
		http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600})
		w.render(rw, r, status, "login.html", pageData{Title: "Sign in", Error: err.Error(), Data: loginData{LoginCSRF: tok, Next: next, Email: email}})
		return
	}
	if _, err := w.startSession(rw, r, u); err != nil {
		w.log.Error("web: starting a session", "err", err)
		http.Error(rw, "could not sign you in; this has been logged", http.StatusInternalServerError)
		return
	}
	if next == "/" && u.Role == RoleShop {
		next = "/shop"
	} else if next == "/" {
		next = "/garage"
	}
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func (w *Web) garagePage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	vs, err := w.vehiclesOf(r.Context(), c)
	if err != nil {
		return err
	}
	alerts, err := w.firing(r.Context(), c)
	if err != nil {
		return err
	}
	type alertRow struct {
		store.Alert
		VehicleID, VehicleName string
		Since                  time.Time
		Safe                   string // from the pre-diagnosis, when there is one
	}
	var rows []alertRow
	for _, a := range alerts {
		row := alertRow{Alert: a, Since: a.StartsAt}
		for _, v := range vs {
			if contains(v.Devices, a.Device) {
				row.VehicleID, row.VehicleName = v.ID, v.Name
				if row.VehicleName == "" {
					row.VehicleName = v.Make + " " + v.Model
				}
			}
		}
		if row.VehicleID != "" && len(a.Codes) > 0 {
			if veh, err := w.st.Vehicle(r.Context(), row.VehicleID); err == nil {
				if rep, _, err := w.diagnose(r.Context(), veh); err == nil && len(rep.Codes) > 0 {
					row.Safe = rep.Safe
				}
			}
		}
		rows = append(rows, row)
	}
	w.render(rw, r, http.StatusOK, "garage.html", pageData{Title: "Garage", Data: map[string]any{"Vehicles": vs, "Alerts": rows}})
	return nil
}

type gauge struct {
	Signal, Label, Unit string
	Min, Max            float64
	Digits              int
	Percent             float64
}

var gauges = []gauge{
	{Signal: diagnosis.SigSpeed, Label: "Speed", Unit: "km/h", Max: 200},
	{Signal: diagnosis.SigRPM, Label: "Engine", Unit: "rpm", Max: 7000},
	{Signal: diagnosis.SigCoolant, Label: "Coolant", Unit: "°C", Min: 0, Max: 130},
	{Signal: diagnosis.SigBattery, Label: "Battery", Unit: "V", Min: 10, Max: 16, Digits: 1},
	{Signal: diagnosis.SigFuelLevel, Label: "Fuel", Unit: "%", Max: 100},
}

func (w *Web) vehiclePage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	g, err := w.garageOne(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	v := g.Vehicle
	alerts, err := w.firing(r.Context(), c)
	if err != nil {
		return err
	}
	vv, err := w.view(r.Context(), g, alerts)
	if err != nil {
		return err
	}
	var mine []store.Alert
	for _, a := range alerts {
		if contains(vv.Devices, a.Device) {
			mine = append(mine, a)
		}
	}
	gs := make([]gauge, len(gauges))
	for i, g := range gauges {
		g.Percent = math.Round(math.Max(0, math.Min(1, (vv.Latest[g.Signal]-g.Min)/(g.Max-g.Min))) * 100)
		gs[i] = g
	}
	var rems []booking.Reminder
	if c.Role == RoleOwner {
		if rems, err = w.remindersOf(r.Context(), c, v); err != nil {
			return err
		}
	}
	svs, err := w.st.Services(r.Context(), v.ID)
	if err != nil {
		return err
	}
	type alertRow struct {
		Severity, Summary string
		Since             time.Time
	}
	var rows []alertRow
	for _, a := range mine {
		rows = append(rows, alertRow{a.Severity, a.Summary, a.StartsAt})
	}
	w.render(rw, r, http.StatusOK, "vehicle.html", pageData{Title: vv.Make + " " + vv.Model, Charts: true,
		Data: map[string]any{"Vehicle": vv, "Gauges": gs, "Alerts": rows, "Reminders": rems, "Services": svs}})
	return nil
}

func (w *Web) diagnosisPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	rep, sugg, err := w.diagnose(r.Context(), v)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "diagnosis.html", pageData{Title: "Pre-diagnosis", Data: map[string]any{"Vehicle": v, "Report": rep, "Suggestions": sugg}})
	return nil
}

func (w *Web) leadPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	consent := booking.Consent{Report: r.PostFormValue("report") != "", VIN: r.PostFormValue("vin") != "", Location: r.PostFormValue("location") != ""}
	lv, err := w.newLead(r.Context(), c, r.PathValue("id"), consent)
	if err != nil {
		return err
	}
	sent := 0
	for _, o := range lv.Offers {
		if o.State == store.OfferSent {
			sent++
		}
	}
	http.Redirect(rw, r, fmt.Sprintf("/leads?notice=%s#lead-%s", url.QueryEscape(fmt.Sprintf("Sent to %d shops; their quotes will appear here.", sent)), lv.ID), http.StatusSeeOther)
	return nil
}

func (w *Web) packagePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	slot, err := time.Parse(time.RFC3339, r.PostFormValue("slot"))
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "slot: %q is not a time", r.PostFormValue("slot"))
	}
	if _, err := w.bk.BookPackage(r.Context(), c.OwnerID, r.PathValue("id"), r.PostFormValue("shop_id"), r.PostFormValue("item"), slot); err != nil {
		return err
	}
	http.Redirect(rw, r, "/bookings?notice="+url.QueryEscape("Booking requested; the shop will confirm."), http.StatusSeeOther)
	return nil
}

func (w *Web) leadsPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ls, err := w.st.Leads(r.Context(), c.OwnerID)
	if err != nil {
		return err
	}
	var out []LeadView
	for _, l := range ls {
		offers, err := w.st.Offers(r.Context(), l.ID)
		if err != nil {
			return err
		}
		out = append(out, w.leadView(r.Context(), l, offers))
	}
	w.render(rw, r, http.StatusOK, "leads.html", pageData{Title: "Quotes", Data: map[string]any{"Leads": out}})
	return nil
}

func (w *Web) bookPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := w.bk.Book(r.Context(), c.OwnerID, r.PathValue("id"), r.PostFormValue("shop_id")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/bookings?notice="+url.QueryEscape("Booked. The shop confirms the booking and the drop-off time."), http.StatusSeeOther)
	return nil
}

func (w *Web) withdrawPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.bk.Withdraw(r.Context(), c.OwnerID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/leads?notice="+url.QueryEscape("Withdrawn: the shops no longer see it, and what you shared is erased."), http.StatusSeeOther)
	return nil
}

func (w *Web) bookingsPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	bs, err := w.bookingsOf(r.Context(), c)
	if err != nil {
		return err
	}
	var out []BookingView
	for _, b := range bs {
		out = append(out, bookingView(b))
	}
	w.render(rw, r, http.StatusOK, "bookings.html", pageData{Title: "Bookings", Data: map[string]any{"Bookings": out}})
	return nil
}

func formInput(r *http.Request, loc *time.Location) (booking.Input, error) {
	in := booking.Input{Work: r.PostFormValue("work"), Review: r.PostFormValue("review"), Reason: r.PostFormValue("reason")}
	for name, dst := range map[string]*float64{"price": &in.Price, "odometer_km": &in.Odometer} {
		if s := r.PostFormValue(name); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return in, fail(http.StatusUnprocessableEntity, "invalid", "%s: %q is not a number", name, s)
			}
			*dst = v
		}
	}
	if s := r.PostFormValue("stars"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return in, fail(http.StatusUnprocessableEntity, "invalid", "stars: %q is not a number", s)
		}
		in.Stars = n
	}
	if s := r.PostFormValue("slot"); s != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
		if err != nil {
			return in, fail(http.StatusUnprocessableEntity, "invalid", "slot: %q: want a date and time", s)
		}
		in.Slot = t
	}
	return in, nil
}

func (w *Web) ownerActPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.Action(r.PathValue("action"))
	if a != booking.Review && a != booking.Cancel {
		return fail(http.StatusNotFound, "not_found", "no such action")
	}
	in, err := formInput(r, time.UTC)
	if err != nil {
		return err
	}
	if _, err := w.act(r.Context(), c, r.PathValue("id"), a, in); err != nil {
		return err
	}
	http.Redirect(rw, r, "/bookings?notice="+url.QueryEscape("Done."), http.StatusSeeOther)
	return nil
}

func (w *Web) shopOf(ctx context.Context, c *caller) (booking.Shop, error) {
	st, err := w.st.Shop(ctx, c.ShopID)
	if err != nil {
		return booking.Shop{}, err
	}
	return booking.ReadShop(st)
}

func (w *Web) shopPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	ls, err := w.bk.Inbox(r.Context(), c.ShopID)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "shop.html", pageData{Title: "Leads", Data: map[string]any{"ShopName": sh.Name, "Leads": ls}})
	return nil
}

func (w *Web) shopLeadPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	l, err := w.bk.ShopLead(r.Context(), c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	var rep *diagnosis.Report
	if len(l.Report) > 0 {
		rep = &diagnosis.Report{}
		if err := json.Unmarshal(l.Report, rep); err != nil {
			return err
		}
	}
	slot := ""
	if t, ok := sh.Earliest(time.Now(), nil); ok {
		slot = t.In(shopLoc(sh)).Format("2006-01-02T15:04")
	}
	w.render(rw, r, http.StatusOK, "shoplead.html", pageData{Title: "Lead", Data: map[string]any{"Lead": l, "Report": rep, "SuggestedSlot": slot}})
	return nil
}

func shopLoc(sh booking.Shop) *time.Location {
	loc, err := time.LoadLocation(sh.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

func (w *Web) quotePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	in, err := formInput(r, shopLoc(sh))
	if err != nil {
		return err
	}
	q, err := strconv.ParseFloat(r.PostFormValue("quote"), 64)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "quote: %q is not a number", r.PostFormValue("quote"))
	}
	if err := w.bk.Answer(r.Context(), c.ShopID, r.PathValue("id"), true, q, in.Slot, r.PostFormValue("note")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/shop?notice="+url.QueryEscape("Quote sent to the owner."), http.StatusSeeOther)
	return nil
}

func (w *Web) declinePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.bk.Answer(r.Context(), c.ShopID, r.PathValue("id"), false, 0, time.Time{}, r.PostFormValue("note")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/shop?notice="+url.QueryEscape("Declined; the lead moves on to another shop."), http.StatusSeeOther)
	return nil
}

func (w *Web) shopBookingPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	var revs []store.Review
	all, err := w.st.Reviews(r.Context(), c.ShopID, 100)
	if err != nil {
		return err
	}
	for _, rv := range all {
		if rv.BookingID == b.ID {
			revs = append(revs, rv)
		}
	}
	w.render(rw, r, http.StatusOK, "shopbooking.html", pageData{Title: "Booking", Data: map[string]any{"Booking": bookingView(b), "Reviews": revs,
		"Slot": b.Slot.In(shopLoc(sh)).Format("2006-01-02T15:04")}})
	return nil
}

func (w *Web) shopActPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.Action(r.PathValue("action"))
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	in, err := formInput(r, shopLoc(sh))
	if err != nil {
		return err
	}
	if _, err := w.act(r.Context(), c, r.PathValue("id"), a, in); err != nil {
		return err
	}
	http.Redirect(rw, r, "/shop/bookings/"+r.PathValue("id")+"?notice="+url.QueryEscape("Saved."), http.StatusSeeOther)
	return nil
}
