package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/store"
)

func (w *Web) shopOf(ctx context.Context, c *caller) (booking.Shop, error) {
	st, err := w.st.Shop(ctx, c.ShopID)
	if err != nil {
		return booking.Shop{}, err
	}
	return booking.ReadShop(st)
}

func shopLoc(sh booking.Shop) *time.Location {
	loc, err := time.LoadLocation(sh.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// ShopProfileView is a shop's own record as it keeps it.
type ShopProfileView struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Email         string          `json:"email"`
	Phone         string          `json:"phone"`
	Address       string          `json:"address"`
	Lat           float64         `json:"lat"`
	Lon           float64         `json:"lon"`
	TimeZone      string          `json:"timezone"`
	WebhookURL    string          `json:"webhook_url,omitempty"`
	Status        string          `json:"status"`
	StatusNote    string          `json:"status_note,omitempty"`
	Profile       booking.Profile `json:"profile"`
	WebhookSecret string          `json:"-"`
}

func shopProfileView(sh booking.Shop) ShopProfileView {
	return ShopProfileView{ID: sh.ID, Name: sh.Name, Email: sh.Email, Phone: sh.Phone, Address: sh.Address, Lat: sh.Lat, Lon: sh.Lon, TimeZone: sh.TimeZone,
		WebhookURL: sh.WebhookURL, WebhookSecret: sh.WebhookSecret, Status: sh.Status, StatusNote: sh.StatusNote, Profile: sh.Profile}
}

// shopInput is a shop's whole record as it describes itself.
type shopInput struct {
	Name          string          `json:"name"`
	Email         string          `json:"email"`
	Phone         string          `json:"phone"`
	Address       string          `json:"address"`
	Lat           float64         `json:"lat"`
	Lon           float64         `json:"lon"`
	TimeZone      string          `json:"timezone"`
	WebhookURL    string          `json:"webhook_url"`
	WebhookSecret string          `json:"webhook_secret"`
	Profile       booking.Profile `json:"profile"`
}

// saveShop checks and stores the caller's shop with the same rules as
// `pitwall shops add`, naming the bad field.
func (w *Web) saveShop(ctx context.Context, c *caller, in shopInput) (booking.Shop, error) {
	old, err := w.st.Shop(ctx, c.ShopID)
	if err != nil {
		return booking.Shop{}, err
	}
	switch {
	case math.IsNaN(in.Lat) || math.IsNaN(in.Lon):
		return booking.Shop{}, invalid("location", "not a number")
	case in.Phone != "" && !validPhone(in.Phone):
		return booking.Shop{}, invalid("phone", "%q: digits, spaces and + - ( ) only, at most 30", in.Phone)
	case len(in.Name) > 100 || len(in.Address) > 300:
		return booking.Shop{}, invalid("name", "at most 100 characters (the address 300)")
	case in.Email != "" && checkEmail(strings.ToLower(strings.TrimSpace(in.Email))) != nil:
		return booking.Shop{}, checkEmail(strings.ToLower(strings.TrimSpace(in.Email)))
	}
	if in.WebhookSecret == "" {
		in.WebhookSecret = old.WebhookSecret // kept unless replaced: it is never shown again
	}
	sh := store.Shop{ID: old.ID, Name: strings.TrimSpace(in.Name), Email: strings.ToLower(strings.TrimSpace(in.Email)), Phone: strings.TrimSpace(in.Phone),
		Address: strings.TrimSpace(in.Address), Lat: in.Lat, Lon: in.Lon, TimeZone: strings.TrimSpace(in.TimeZone), WebhookURL: strings.TrimSpace(in.WebhookURL), WebhookSecret: in.WebhookSecret}
	saved, err := w.bk.SaveShop(ctx, sh, in.Profile)
	if err == nil {
		w.forgetDiagnoses()
	}
	return saved, err
}

func (w *Web) getShopProfile(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, shopProfileView(sh))
	return nil
}

func (w *Web) putShopProfile(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in shopInput
	if err := decode(r, &in); err != nil {
		return err
	}
	sh, err := w.saveShop(r.Context(), c, in)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, shopProfileView(sh))
	return nil
}

// AdminShopView is a shop as the administrator reviews it.
type AdminShopView struct {
	ShopProfileView
	Created time.Time `json:"created"`
	Users   []string  `json:"users"`
}

func (w *Web) adminShops(ctx context.Context, status string) ([]AdminShopView, error) {
	all, err := w.st.Shops(ctx)
	if err != nil {
		return nil, err
	}
	out := []AdminShopView{}
	for _, st := range all {
		if status != "" && st.Status != status {
			continue
		}
		sh, err := booking.ReadShop(st)
		if err != nil {
			sh = booking.Shop{Shop: st}
		}
		av := AdminShopView{ShopProfileView: shopProfileView(sh), Created: st.Created, Users: []string{}}
		us, err := w.st.Users(ctx, st.ID)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			av.Users = append(av.Users, u.Email)
		}
		out = append(out, av)
	}
	return out, nil
}

func (w *Web) listAdminShops(rw http.ResponseWriter, r *http.Request, c *caller) error {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{store.ShopDraft, store.ShopPending, store.ShopApproved, store.ShopRejected, store.ShopSuspended}, status) {
		return invalid("status", "%q: want draft, pending, approved, rejected or suspended", status)
	}
	out, err := w.adminShops(r.Context(), status)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"shops": out})
	return nil
}

func (w *Web) reviewShopAPI(rw http.ResponseWriter, r *http.Request, c *caller) error {
	action := r.PathValue("action")
	if action != "approve" && action != "reject" && action != "suspend" {
		return fail(http.StatusNotFound, "not_found", "no shop action %q; want approve, reject or suspend", action)
	}
	var in struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	st, err := w.bk.ReviewShop(r.Context(), r.PathValue("id"), action, in.Note)
	if err != nil {
		return err
	}
	w.forgetDiagnoses()
	w.writeJSON(rw, http.StatusOK, map[string]string{"id": st.ID, "status": st.Status})
	return nil
}

// browseShops lists approved shops: near one of the owner's cars
// (?vehicle_id=) or a place (?lat=&lon=), for a system (?system=).
func (w *Web) browse(ctx context.Context, c *caller, q url.Values) ([]booking.Browsed, error) {
	var lat, lon float64
	has := false
	if id := q.Get("vehicle_id"); id != "" {
		v, err := w.vehicleFor(ctx, c, id)
		if err != nil {
			return nil, err
		}
		lat, lon, has = v.HomeLat, v.HomeLon, v.HasHome
		if !has {
			// A car added before cars had homes of their own: the owner's.
			if lat, lon, has, err = w.st.OwnerHome(ctx, v.OwnerID); err != nil {
				return nil, err
			}
		}
	} else if q.Get("lat") != "" || q.Get("lon") != "" {
		var err1, err2 error
		lat, err1 = strconv.ParseFloat(q.Get("lat"), 64)
		lon, err2 = strconv.ParseFloat(q.Get("lon"), 64)
		if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return nil, invalid("lat", "give lat and lon as numbers on Earth")
		}
		has = true
	}
	return w.bk.Browse(ctx, q.Get("system"), lat, lon, has)
}

func (w *Web) browseShops(rw http.ResponseWriter, r *http.Request, c *caller) error {
	out, err := w.browse(r.Context(), c, r.URL.Query())
	if err != nil {
		return err
	}
	if out == nil {
		out = []booking.Browsed{}
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"shops": out})
	return nil
}

// --- pages ---

// profileForm is the shop profile form's fields as text.
type profileForm struct {
	Shop     ShopProfileView
	Systems  []string
	Days     []string
	Hours    map[string]string
	Jobs     string
	Packages string
	Zones    []string
	// AnswerTimes is how fast the shop answered leads and complaints.
	AnswerTimes booking.AnswerTimes
}

func pricesText(ps []booking.Price) string {
	var b strings.Builder
	for _, p := range ps {
		if p.Class != "" {
			fmt.Fprintf(&b, "%s %s %g\n", p.Job, p.Class, p.Price)
		} else {
			fmt.Fprintf(&b, "%s %g\n", p.Job, p.Price)
		}
	}
	return b.String()
}

// parsePrices reads "JOB [CLASS] PRICE" lines.
func parsePrices(field, text string) ([]booking.Price, error) {
	var out []booking.Price
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) > 3 || len(f) < 2 {
			return nil, invalid(fmt.Sprintf("%s line %d", field, i+1), "%q: want JOB [CLASS] PRICE, like \"oil-service medium 89\"", strings.TrimSpace(line))
		}
		p, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
			return nil, invalid(fmt.Sprintf("%s line %d", field, i+1), "%q is not a price", f[len(f)-1])
		}
		pr := booking.Price{Job: f[0], Price: p}
		if len(f) == 3 {
			pr.Class = f[1]
		}
		out = append(out, pr)
	}
	return out, nil
}

var weekdayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func (w *Web) shopProfilePage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	v := shopProfileView(sh)
	if v.Profile.Currency == "" {
		v.Profile.Currency = "EUR"
	}
	at, err := w.bk.AnswerTimes(r.Context(), c.ShopID)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "shopprofile.html", pageData{Title: "Shop profile", Data: profileForm{Shop: v, Systems: booking.Systems, Days: weekdayNames,
		Hours: v.Profile.Hours, Jobs: pricesText(v.Profile.Jobs), Packages: pricesText(v.Profile.Packages), Zones: zones, AnswerTimes: at}})
	return nil
}

func (w *Web) shopProfilePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	num := func(k string) (float64, error) {
		s := strings.TrimSpace(r.PostFormValue(k))
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, invalid(k, "%q is not a number", s)
		}
		return f, nil
	}
	integer := func(k string) (int, error) {
		s := strings.TrimSpace(r.PostFormValue(k))
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, invalid(k, "%q is not a whole number", s)
		}
		return n, nil
	}
	in := shopInput{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), Phone: r.PostFormValue("phone"), Address: r.PostFormValue("address"),
		TimeZone: r.PostFormValue("timezone"), WebhookURL: r.PostFormValue("webhook_url"), WebhookSecret: r.PostFormValue("webhook_secret")}
	var err error
	if in.Lat, err = num("lat"); err != nil {
		return err
	}
	if in.Lon, err = num("lon"); err != nil {
		return err
	}
	p := &in.Profile
	p.Systems = r.PostForm["systems"]
	for _, b := range strings.Split(r.PostFormValue("brands"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			p.Brands = append(p.Brands, b)
		}
	}
	p.Currency = strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency")))
	if p.LabourRate, err = num("labour_rate"); err != nil {
		return err
	}
	if p.Capacity, err = integer("capacity"); err != nil {
		return err
	}
	if p.ResponseMinutes, err = integer("response_minutes"); err != nil {
		return err
	}
	// After the booking: tax on bills, the complaint promise, roadside
	// help. Left empty they keep their defaults (no tax, an hour).
	if strings.TrimSpace(r.PostFormValue("tax_rate")) != "" {
		if p.TaxRate, err = num("tax_rate"); err != nil {
			return err
		}
	}
	if strings.TrimSpace(r.PostFormValue("complaint_minutes")) != "" {
		if p.ComplaintMinutes, err = integer("complaint_minutes"); err != nil {
			return err
		}
	}
	p.Roadside = r.PostForm["roadside"]
	p.Hours = map[string]string{}
	for _, d := range weekdayNames {
		if h := strings.TrimSpace(r.PostFormValue("hours_" + d)); h != "" {
			p.Hours[d] = h
		}
	}
	if p.Jobs, err = parsePrices("jobs", r.PostFormValue("jobs")); err != nil {
		return err
	}
	if p.Packages, err = parsePrices("packages", r.PostFormValue("packages")); err != nil {
		return err
	}
	sh, err := w.saveShop(r.Context(), c, in)
	if err != nil {
		return err
	}
	note := "Saved; new leads see the changes."
	if sh.Status == store.ShopPending {
		note = "Saved. An administrator reviews your shop; leads arrive once it is approved."
	}
	http.Redirect(rw, r, "/shop/profile?notice="+url.QueryEscape(note), http.StatusSeeOther)
	return nil
}

func (w *Web) adminPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	pending, err := w.adminShops(r.Context(), store.ShopPending)
	if err != nil {
		return err
	}
	all, err := w.adminShops(r.Context(), "")
	if err != nil {
		return err
	}
	complaints, err := w.escalated(r.Context())
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "admin.html", pageData{Title: "Administration", Data: map[string]any{"Pending": pending, "All": all, "Complaints": complaints}})
	return nil
}

func (w *Web) reviewShopPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	action := r.PathValue("action")
	if action != "approve" && action != "reject" && action != "suspend" {
		return fail(http.StatusNotFound, "not_found", "no such action")
	}
	st, err := w.bk.ReviewShop(r.Context(), r.PathValue("id"), action, r.PostFormValue("note"))
	if err != nil {
		return err
	}
	w.forgetDiagnoses()
	http.Redirect(rw, r, "/admin?notice="+url.QueryEscape(st.Name+" is "+st.Status+"."), http.StatusSeeOther)
	return nil
}

func (w *Web) shopsPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	vs, err := w.st.Vehicles(r.Context(), c.OwnerID)
	if err != nil {
		return err
	}
	if q.Get("vehicle_id") == "" && len(vs) > 0 {
		q.Set("vehicle_id", vs[0].ID)
	}
	shops, err := w.browse(r.Context(), c, q)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "shops.html", pageData{Title: "Shops", Data: map[string]any{"Shops": shops, "Vehicles": vs,
		"VehicleID": q.Get("vehicle_id"), "System": q.Get("system"), "Systems": booking.Systems}})
	return nil
}
