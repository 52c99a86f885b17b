package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

var (
	owners     = []string{RoleOwner}
	shops      = []string{RoleShop}
	admins     = []string{RoleAdmin}
	ownerAdmin = []string{RoleOwner, RoleAdmin}
	anyone     = []string(nil)
)

func (w *Web) routesAPI(mux *http.ServeMux) {
	api := func(pattern string, roles []string, h func(http.ResponseWriter, *http.Request, *caller) error) {
		mux.Handle(pattern, w.handler(roles, h))
	}
	mux.HandleFunc("POST /api/v1/tokens", w.createToken)
	api("GET /api/v1/me", anyone, w.me)
	api("GET /api/v1/tokens", anyone, w.listTokens)
	api("DELETE /api/v1/tokens/{id}", anyone, w.revokeToken)
	api("GET /api/v1/vehicles", ownerAdmin, w.listVehicles)
	api("GET /api/v1/vehicles/{id}", ownerAdmin, w.getVehicle)
	api("GET /api/v1/vehicles/{id}/history", ownerAdmin, w.history)
	api("GET /api/v1/vehicles/{id}/diagnosis", ownerAdmin, w.getDiagnosis)
	api("GET /api/v1/vehicles/{id}/reminders", owners, w.reminders)
	api("PUT /api/v1/vehicles/{id}/maintenance/{item}", owners, w.setInterval)
	api("GET /api/v1/vehicles/{id}/services", ownerAdmin, w.services)
	api("POST /api/v1/vehicles/{id}/services", owners, w.addService)
	api("GET /api/v1/alerts", ownerAdmin, w.alerts)
	api("POST /api/v1/alerts/{fingerprint}/snooze", owners, w.snooze)
	api("PUT /api/v1/me/quiet-hours", owners, w.quietHours)
	api("GET /api/v1/feed", owners, w.feed)
	api("GET /api/v1/live", ownerAdmin, w.live)
	api("POST /api/v1/leads", owners, w.createLead)
	api("GET /api/v1/leads", owners, w.listLeads)
	api("GET /api/v1/leads/{id}", owners, w.getLead)
	api("DELETE /api/v1/leads/{id}", owners, w.withdrawLead)
	api("POST /api/v1/leads/{id}/book", owners, w.bookLead)
	api("GET /api/v1/shop/leads", shops, w.inbox)
	api("GET /api/v1/shop/leads/{id}", shops, w.shopLead)
	api("POST /api/v1/shop/leads/{id}/quote", shops, w.quote)
	api("POST /api/v1/shop/leads/{id}/decline", shops, w.decline)
	api("POST /api/v1/bookings", owners, w.bookPackage)
	api("GET /api/v1/bookings", []string{RoleOwner, RoleShop}, w.listBookings)
	api("GET /api/v1/bookings/{id}", []string{RoleOwner, RoleShop}, w.getBooking)
	api("POST /api/v1/bookings/{id}/{action}", []string{RoleOwner, RoleShop}, w.actBooking)
	api("GET /api/v1/shops/{id}/reviews", anyone, w.reviews)
	api("GET /api/v1/devices", ownerAdmin, w.listDevices)
	api("POST /api/v1/devices", admins, w.addDevice)
	api("DELETE /api/v1/devices/{id}", admins, w.revokeDevice)
	mux.HandleFunc("/api/", func(rw http.ResponseWriter, r *http.Request) {
		w.writeError(rw, r, fail(http.StatusNotFound, "not_found", "no API route %s %s", r.Method, r.URL.Path))
	})
}

// createToken trades an email and password for an API token.
func (w *Web) createToken(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	u, err := w.login(r.Context(), clientIP(r), in.Email, in.Password)
	if err != nil {
		w.writeError(rw, r, err)
		return
	}
	tok := "pw_" + secret()
	if in.Name == "" {
		in.Name = "api"
	}
	if err := w.st.AddToken(r.Context(), hashSecret(tok), u.ID, in.Name); err != nil {
		w.writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusCreated, map[string]any{"token": tok, "role": u.Role})
}

func (w *Web) me(rw http.ResponseWriter, r *http.Request, c *caller) error {
	writeJSON(rw, http.StatusOK, map[string]any{"id": c.ID, "email": c.Email, "role": c.Role, "owner_id": c.OwnerID, "shop_id": c.ShopID, "csrf": c.csrf})
	return nil
}

// vehicleFor reads a vehicle the caller may see: the owner's own, any
// for an admin. Anything else is not found.
func (w *Web) vehicleFor(ctx context.Context, c *caller, id string) (store.Vehicle, error) {
	v, err := w.st.Vehicle(ctx, id)
	if err != nil || c.Role == RoleAdmin || v.OwnerID == c.OwnerID && c.OwnerID != "" {
		return v, err
	}
	return store.Vehicle{}, fail(http.StatusNotFound, "not_found", "vehicle %s: not found", id)
}

// VehicleView is a vehicle with its devices and newest values.
type VehicleView struct {
	ID      string             `json:"id"`
	Name    string             `json:"name"`
	VIN     string             `json:"vin,omitempty"`
	Make    string             `json:"make"`
	Model   string             `json:"model"`
	Year    int                `json:"year"`
	Class   string             `json:"class"`
	Online  bool               `json:"online"`
	Seen    time.Time          `json:"seen,omitzero"`
	Devices []string           `json:"devices"`
	Latest  map[string]float64 `json:"latest"`
	Alerts  int                `json:"firing_alerts"`
	Worst   string             `json:"worst_severity,omitempty"`
}

// liveSignals are what the garage and the gauges show.
var liveSignals = []string{diagnosis.SigSpeed, diagnosis.SigRPM, diagnosis.SigCoolant, diagnosis.SigBattery, diagnosis.SigFuelLevel, diagnosis.SigOdometer, diagnosis.SigLoad}

func (w *Web) view(ctx context.Context, g store.GarageVehicle, alerts []store.Alert) (VehicleView, error) {
	vv := VehicleView{ID: g.ID, Name: g.Name, VIN: g.VIN, Make: g.Make, Model: g.Model, Year: g.Year, Class: g.Class, Latest: map[string]float64{}, Devices: []string{}}
	for _, d := range g.Devices {
		vv.Devices = append(vv.Devices, d.ID)
		vv.Online = vv.Online || d.Online
		if d.Seen.After(vv.Seen) {
			vv.Seen = d.Seen
		}
		latest, err := w.srv.Latest(ctx, d.ID, liveSignals)
		if err != nil {
			return vv, err
		}
		for k, x := range latest {
			vv.Latest[k] = x.Value
		}
	}
	rank := map[string]int{"info": 1, "warning": 2, "critical": 3}
	for _, a := range alerts {
		if slices.Contains(vv.Devices, a.Device) {
			vv.Alerts++
			if rank[a.Severity] > rank[vv.Worst] {
				vv.Worst = a.Severity
			}
		}
	}
	return vv, nil
}

// garageOne reads one vehicle the caller may see, with its devices.
func (w *Web) garageOne(ctx context.Context, c *caller, id string) (store.GarageVehicle, error) {
	gs, err := w.st.Garage(ctx, "", id)
	if err != nil {
		return store.GarageVehicle{}, err
	}
	if len(gs) == 0 || c.Role != RoleAdmin && (gs[0].OwnerID != c.OwnerID || c.OwnerID == "") {
		return store.GarageVehicle{}, fail(http.StatusNotFound, "not_found", "vehicle %s: not found", id)
	}
	return gs[0], nil
}

// firing lists the firing alerts the caller may see, kept for a second:
// an alert's notification is what tells people at once, pages and the
// API may be a second behind.
func (w *Web) firing(ctx context.Context, c *caller) ([]store.Alert, error) {
	key := c.OwnerID
	if c.Role == RoleAdmin {
		key = "*admin"
	}
	w.mu.Lock()
	e, ok := w.firingBy[key]
	w.mu.Unlock()
	if ok && time.Since(e.at) < time.Second {
		return e.alerts, nil
	}
	var alerts []store.Alert
	var err error
	if c.Role == RoleAdmin {
		alerts, err = w.st.Alerts(ctx, "", true, 10000)
	} else {
		alerts, err = w.st.FiringAlertsOfOwner(ctx, c.OwnerID, 1000)
	}
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	if len(w.firingBy) > 100000 {
		w.firingBy = map[string]alertEntry{}
	}
	w.firingBy[key] = alertEntry{at: time.Now(), alerts: alerts}
	w.mu.Unlock()
	return alerts, nil
}

func (w *Web) vehiclesOf(ctx context.Context, c *caller) ([]VehicleView, error) {
	owner := c.OwnerID
	if c.Role == RoleAdmin {
		owner = ""
	}
	gs, err := w.st.Garage(ctx, owner, "")
	if err != nil {
		return nil, err
	}
	alerts, err := w.firing(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]VehicleView, 0, len(gs))
	for _, g := range gs {
		vv, err := w.view(ctx, g, alerts)
		if err != nil {
			return nil, err
		}
		out = append(out, vv)
	}
	return out, nil
}

func (w *Web) listVehicles(rw http.ResponseWriter, r *http.Request, c *caller) error {
	vs, err := w.vehiclesOf(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]any{"vehicles": vs})
	return nil
}

func (w *Web) getVehicle(rw http.ResponseWriter, r *http.Request, c *caller) error {
	g, err := w.garageOne(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	alerts, err := w.firing(r.Context(), c)
	if err != nil {
		return err
	}
	vv, err := w.view(r.Context(), g, alerts)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, vv)
	return nil
}

// history returns signals over a range, downsampled to at most ~2,000
// points each: ?signals=a,b&from=RFC3339&to=RFC3339 (the last 24 h by
// default).
func (w *Web) history(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	to, from := time.Now(), time.Now().Add(-24*time.Hour)
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return fail(http.StatusUnprocessableEntity, "invalid", "%s: %q is not an RFC 3339 time", name, s)
			}
			*dst = t
		}
	}
	if !from.Before(to) || to.Sub(from) > 31*24*time.Hour {
		return fail(http.StatusUnprocessableEntity, "invalid", "from: the range must be positive and at most 31 days")
	}
	signals := liveSignals[:4]
	if s := q.Get("signals"); s != "" {
		signals = strings.Split(s, ",")
		if len(signals) > 12 {
			return fail(http.StatusUnprocessableEntity, "invalid", "signals: at most 12")
		}
	}
	// About 2,000 points a signal by default; at most 10,000.
	step := (to.Sub(from)/2000 + time.Second - 1).Truncate(time.Second)
	if st := q.Get("step"); st != "" {
		d, err := time.ParseDuration(st)
		if err != nil || d < time.Second {
			return fail(http.StatusUnprocessableEntity, "invalid", "step: %q: want a duration of at least 1s", st)
		}
		step = d.Truncate(time.Second)
	}
	step = max(step, time.Second)
	if to.Sub(from)/step > 10000 {
		return fail(http.StatusUnprocessableEntity, "invalid", "step: %v over %v is more than 10,000 points a signal; take a longer step", step, to.Sub(from).Round(time.Second))
	}
	devs, err := w.st.DevicesOfVehicle(r.Context(), v.ID)
	if err != nil {
		return err
	}
	out := map[string][][2]float64{}
	for _, d := range devs {
		ss, err := w.srv.Series.Range(r.Context(), series.Query{Device: d.ID, Signals: signals, From: from, To: to, Step: step})
		if err != nil {
			return err
		}
		for _, s := range ss {
			for _, x := range s.Values {
				out[s.Signal] = append(out[s.Signal], [2]float64{float64(x.Time.UnixMilli()) / 1000, x.Value})
			}
		}
	}
	if len(devs) > 1 {
		for _, pts := range out {
			sort.Slice(pts, func(i, j int) bool { return pts[i][0] < pts[j][0] })
		}
	}
	writeJSON(rw, http.StatusOK, map[string]any{"from": from.UTC(), "to": to.UTC(), "step_s": step.Seconds(), "series": out})
	return nil
}

// diagnose is a vehicle's pre-diagnosis and the shops for it, kept for
// ten seconds: pages and the alert list ask often, the data moves slowly.
func (w *Web) diagnose(ctx context.Context, v store.Vehicle) (diagnosis.Report, []booking.Suggestion, error) {
	w.mu.Lock()
	e, ok := w.diags[v.ID]
	w.mu.Unlock()
	if ok && time.Since(e.at) < 10*time.Second {
		return e.rep, e.sugg, e.err
	}
	rep, err := w.srv.Diagnose(ctx, v.ID)
	var sugg []booking.Suggestion
	if err == nil && len(rep.Codes) > 0 {
		need, nerr := w.bk.NeedFor(ctx, v, rep)
		if nerr == nil {
			sugg, nerr = w.bk.Suggest(ctx, need)
		}
		if nerr != nil {
			return rep, nil, nerr
		}
		if len(sugg) > 5 {
			sugg = sugg[:5]
		}
	}
	if ctx.Err() == nil {
		w.mu.Lock()
		if len(w.diags) > 10000 {
			w.diags = map[string]diagEntry{}
		}
		w.diags[v.ID] = diagEntry{at: time.Now(), rep: rep, sugg: sugg, err: err}
		w.mu.Unlock()
	}
	return rep, sugg, err
}

func (w *Web) getDiagnosis(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	rep, sugg, err := w.diagnose(r.Context(), v)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "text" {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := rw.Write([]byte(rep.Text()))
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]any{"diagnosis": rep, "suggestions": sugg})
	return nil
}

// AlertView is a firing alert with what explains it and who can fix it.
type AlertView struct {
	Fingerprint string               `json:"fingerprint"`
	VehicleID   string               `json:"vehicle_id"`
	Device      string               `json:"device"`
	Rule        string               `json:"rule"`
	Severity    string               `json:"severity"`
	Summary     string               `json:"summary"`
	Since       time.Time            `json:"since"`
	Values      map[string]float64   `json:"values,omitempty"`
	Codes       []string             `json:"codes,omitempty"`
	Diagnosis   *diagnosis.Report    `json:"diagnosis,omitempty"`
	Suggestions []booking.Suggestion `json:"suggestions"`
}

func (w *Web) alertViews(ctx context.Context, c *caller) ([]AlertView, error) {
	alerts, err := w.firing(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]AlertView, 0, len(alerts))
	vehicles := map[string]store.Vehicle{}
	for _, a := range alerts {
		av := AlertView{Fingerprint: a.Fingerprint, Device: a.Device, Rule: a.Rule, Severity: a.Severity, Summary: a.Summary, Since: a.StartsAt,
			Values: a.Values, Codes: a.Codes, Suggestions: []booking.Suggestion{}}
		v, ok := vehicles[a.Device]
		if !ok {
			if v, err = w.st.VehicleOfDevice(ctx, a.Device); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			vehicles[a.Device] = v
		}
		av.VehicleID = v.ID
		if v.ID != "" {
			rep, sugg, err := w.diagnose(ctx, v)
			if err == nil {
				av.Diagnosis, av.Suggestions = &rep, append(av.Suggestions, sugg...)
			} else if !errors.Is(err, store.ErrNotFound) && !isNoData(err) {
				return nil, err
			}
		}
		out = append(out, av)
	}
	return out, nil
}

func (w *Web) alerts(rw http.ResponseWriter, r *http.Request, c *caller) error {
	out, err := w.alertViews(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]any{"alerts": out})
	return nil
}

func (w *Web) reminders(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	rs, err := w.remindersOf(r.Context(), c, v)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]any{"reminders": rs})
	return nil
}

func (w *Web) remindersOf(ctx context.Context, c *caller, v store.Vehicle) ([]booking.Reminder, error) {
	odo := 0.0
	devs, err := w.st.DevicesOfVehicle(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		l, err := w.srv.Latest(ctx, d.ID, []string{diagnosis.SigOdometer})
		if err != nil {
			return nil, err
		}
		odo = max(odo, l[diagnosis.SigOdometer].Value)
	}
	return w.bk.Reminders(ctx, c.OwnerID, v.ID, odo)
}

func (w *Web) setInterval(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		EveryKm     float64 `json:"every_km"`
		EveryMonths int     `json:"every_months"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.bk.Override(r.Context(), c.OwnerID, r.PathValue("id"), r.PathValue("item"), in.EveryKm, in.EveryMonths); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]any{"item": r.PathValue("item"), "every_km": in.EveryKm, "every_months": in.EveryMonths})
	return nil
}

func (w *Web) services(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	svs, err := w.st.Services(r.Context(), v.ID)
	if err != nil {
		return err
	}
	type sv struct {
		Date       time.Time `json:"date"`
		OdometerKm float64   `json:"odometer_km"`
		Kind       string    `json:"kind"`
		Notes      string    `json:"notes"`
	}
	out := []sv{}
	for _, s := range svs {
		out = append(out, sv{s.Date, s.OdometerKm, s.Kind, s.Notes})
	}
	writeJSON(rw, http.StatusOK, map[string]any{"services": out})
	return nil
}

func (w *Web) addService(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	var in struct {
		Date       string  `json:"date"` // 2006-01-02
		OdometerKm float64 `json:"odometer_km"`
		Kind       string  `json:"kind"`
		Notes      string  `json:"notes"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := time.Parse("2006-01-02", in.Date)
	switch {
	case err != nil || d.After(time.Now()):
		return fail(http.StatusUnprocessableEntity, "invalid", "date: %q: want a past date like 2026-03-14", in.Date)
	case in.OdometerKm < 0 || in.OdometerKm > 3_000_000:
		return fail(http.StatusUnprocessableEntity, "invalid", "odometer_km: %v", in.OdometerKm)
	case in.Kind != "" && !validItem(in.Kind):
		return fail(http.StatusUnprocessableEntity, "invalid", "kind: %q is no maintenance item", in.Kind)
	case len(in.Notes) > 2000:
		return fail(http.StatusUnprocessableEntity, "invalid", "notes: at most 2000 characters")
	}
	sv, err := w.st.AddService(r.Context(), store.Service{VehicleID: v.ID, Date: d, OdometerKm: in.OdometerKm, Kind: in.Kind, Notes: in.Notes})
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusCreated, map[string]any{"id": sv.ID})
	return nil
}

func validItem(id string) bool { _, ok := booking.ItemByID(id); return ok }

func (w *Web) feed(rw http.ResponseWriter, r *http.Request, c *caller) error {
	w.srv.Feed.ServeSSE(rw, r, c.OwnerID)
	return nil
}

// live streams the owner's garage as server-sent events: every two
// seconds, the vehicles whose view changed.
func (w *Web) live(rw http.ResponseWriter, r *http.Request, c *caller) error {
	fl, ok := rw.(http.Flusher)
	if !ok {
		return fail(http.StatusInternalServerError, "internal", "streaming is not supported here")
	}
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	only := r.URL.Query().Get("vehicle")
	last := map[string]string{}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		vs, err := w.vehiclesOf(r.Context(), c)
		if err != nil {
			return nil // the stream is open: the client reconnects
		}
		for _, v := range vs {
			if only != "" && v.ID != only {
				continue
			}
			b := mustJSON(v)
			if last[v.ID] == b {
				continue
			}
			last[v.ID] = b
			if _, err := rw.Write([]byte("event: vehicle\ndata: " + b + "\n\n")); err != nil {
				return nil
			}
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}

func isNoData(err error) bool { return strings.Contains(err.Error(), "no data for a pre-diagnosis") }

// LeadView is a lead with its quotes, for its owner.
type LeadView struct {
	ID        string          `json:"id"`
	VehicleID string          `json:"vehicle_id"`
	Status    string          `json:"status"`
	Codes     []string        `json:"codes"`
	Summary   string          `json:"summary"`
	Fair      diagnosis.Money `json:"fair_price"`
	Consent   booking.Consent `json:"consent"`
	Created   time.Time       `json:"created"`
	Offers    []OfferView     `json:"offers"`
}

// OfferView is one shop's handling of a lead.
type OfferView struct {
	ShopID   string    `json:"shop_id"`
	ShopName string    `json:"shop_name"`
	Rank     int       `json:"rank"`
	State    string    `json:"state"`
	Quote    float64   `json:"quote,omitempty"`
	Slot     time.Time `json:"slot,omitzero"`
	Note     string    `json:"note,omitempty"`
	Due      time.Time `json:"answer_by,omitzero"`
	Reasons  []string  `json:"reasons,omitempty"`
}

func (w *Web) leadView(ctx context.Context, l store.Lead, offers []store.Offer) LeadView {
	lv := LeadView{ID: l.ID, VehicleID: l.VehicleID, Status: l.Status, Codes: l.Codes, Summary: l.Summary, Created: l.Created,
		Fair: diagnosis.Money{Low: l.FairLow, High: l.FairHigh, Currency: l.Currency}, Consent: booking.Consent{Report: l.ShareReport, VIN: l.ShareVIN, Location: l.ShareLocation},
		Offers: []OfferView{}}
	for _, o := range offers {
		name := o.ShopID
		if sh, err := w.st.Shop(ctx, o.ShopID); err == nil {
			name = sh.Name
		}
		lv.Offers = append(lv.Offers, OfferView{ShopID: o.ShopID, ShopName: name, Rank: o.Rank, State: o.State, Quote: o.Quote, Slot: o.Slot, Note: o.Note, Due: o.Due, Reasons: o.Reasons})
	}
	return lv
}

func (w *Web) createLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		VehicleID string          `json:"vehicle_id"`
		Consent   booking.Consent `json:"consent"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	lv, err := w.newLead(r.Context(), c, in.VehicleID, in.Consent)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusCreated, lv)
	return nil
}

func (w *Web) newLead(ctx context.Context, c *caller, vehicleID string, consent booking.Consent) (LeadView, error) {
	if vehicleID == "" {
		return LeadView{}, fail(http.StatusUnprocessableEntity, "invalid", "vehicle_id: missing")
	}
	v, err := w.vehicleFor(ctx, c, vehicleID)
	if err != nil {
		return LeadView{}, err
	}
	rep, err := w.srv.Diagnose(ctx, v.ID)
	if err != nil {
		return LeadView{}, err
	}
	l, _, err := w.bk.CreateLead(ctx, c.OwnerID, v.ID, rep, consent)
	if err != nil {
		return LeadView{}, err
	}
	offers, err := w.st.Offers(ctx, l.ID)
	if err != nil {
		return LeadView{}, err
	}
	return w.leadView(ctx, l, offers), nil
}

func (w *Web) listLeads(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ls, err := w.st.Leads(r.Context(), c.OwnerID)
	if err != nil {
		return err
	}
	out := []LeadView{}
	for _, l := range ls {
		offers, err := w.st.Offers(r.Context(), l.ID)
		if err != nil {
			return err
		}
		out = append(out, w.leadView(r.Context(), l, offers))
	}
	writeJSON(rw, http.StatusOK, map[string]any{"leads": out})
	return nil
}

func (w *Web) getLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	l, offers, err := w.bk.Quotes(r.Context(), c.OwnerID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, w.leadView(r.Context(), l, offers))
	return nil
}

func (w *Web) withdrawLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.bk.Withdraw(r.Context(), c.OwnerID, r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]string{"status": store.LeadWithdrawn})
	return nil
}

func (w *Web) bookLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		ShopID string `json:"shop_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	b, err := w.bk.Book(r.Context(), c.OwnerID, r.PathValue("id"), in.ShopID)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusCreated, bookingView(b))
	return nil
}

func (w *Web) inbox(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ls, err := w.bk.Inbox(r.Context(), c.ShopID)
	if err != nil {
		return err
	}
	if ls == nil {
		ls = []*booking.ShopView{}
	}
	writeJSON(rw, http.StatusOK, map[string]any{"leads": ls})
	return nil
}

func (w *Web) shopLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.bk.ShopLead(r.Context(), c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, v)
	return nil
}

func (w *Web) quote(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Quote float64   `json:"quote"`
		Slot  time.Time `json:"slot"`
		Note  string    `json:"note"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.bk.Answer(r.Context(), c.ShopID, r.PathValue("id"), true, in.Quote, in.Slot, in.Note); err != nil {
		return err
	}
	v, err := w.bk.ShopLead(r.Context(), c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, v)
	return nil
}

func (w *Web) decline(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Note string `json:"note"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.bk.Answer(r.Context(), c.ShopID, r.PathValue("id"), false, 0, time.Time{}, in.Note); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]string{"state": store.OfferDeclined})
	return nil
}

// BookingView is a booking as owners and shops see it.
type BookingView struct {
	ID           string    `json:"id"`
	LeadID       string    `json:"lead_id,omitempty"`
	ShopID       string    `json:"shop_id"`
	VehicleID    string    `json:"vehicle_id"`
	Kind         string    `json:"kind"`
	Status       string    `json:"status"`
	Slot         time.Time `json:"slot"`
	Price        float64   `json:"price"`
	Currency     string    `json:"currency"`
	Codes        []string  `json:"codes,omitempty"`
	Work         string    `json:"work"`
	Cancel       string    `json:"cancel_reason,omitempty"`
	Completed    time.Time `json:"completed,omitzero"`
	Verify       string    `json:"verify,omitempty"`
	VerifyNote   string    `json:"verify_note,omitempty"`
	VerifyCycles int       `json:"verify_cycles,omitempty"`
}

func bookingView(b store.Booking) BookingView {
	return BookingView{ID: b.ID, LeadID: b.LeadID, ShopID: b.ShopID, VehicleID: b.VehicleID, Kind: b.Kind, Status: b.Status, Slot: b.Slot, Price: b.Price,
		Currency: b.Currency, Codes: b.Codes, Work: b.Work, Cancel: b.Cancel, Completed: b.Completed, Verify: b.Verify, VerifyNote: b.VerifyNote, VerifyCycles: b.VerifyCycles}
}

func (w *Web) bookPackage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		VehicleID string    `json:"vehicle_id"`
		ShopID    string    `json:"shop_id"`
		Item      string    `json:"item"`
		Slot      time.Time `json:"slot"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	b, err := w.bk.BookPackage(r.Context(), c.OwnerID, in.VehicleID, in.ShopID, in.Item, in.Slot)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusCreated, bookingView(b))
	return nil
}

func (w *Web) bookingsOf(ctx context.Context, c *caller) ([]store.Booking, error) {
	if c.Role == RoleShop {
		return w.st.Bookings(ctx, store.BookingFilter{ShopID: c.ShopID})
	}
	return w.st.Bookings(ctx, store.BookingFilter{OwnerID: c.OwnerID})
}

func (w *Web) listBookings(rw http.ResponseWriter, r *http.Request, c *caller) error {
	bs, err := w.bookingsOf(r.Context(), c)
	if err != nil {
		return err
	}
	out := []BookingView{}
	for _, b := range bs {
		out = append(out, bookingView(b))
	}
	writeJSON(rw, http.StatusOK, map[string]any{"bookings": out})
	return nil
}

// bookingFor reads a booking the caller is party to.
func (w *Web) bookingFor(ctx context.Context, c *caller, id string) (store.Booking, error) {
	b, err := w.st.Booking(ctx, id)
	if err != nil {
		return b, err
	}
	if c.Role == RoleOwner && b.OwnerID == c.OwnerID || c.Role == RoleShop && b.ShopID == c.ShopID {
		return b, nil
	}
	return store.Booking{}, fail(http.StatusNotFound, "not_found", "booking %s: not found", id)
}

func (w *Web) getBooking(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, bookingView(b))
	return nil
}

func (w *Web) actBooking(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.Action(r.PathValue("action"))
	if !slices.Contains(booking.Actions(), a) {
		return fail(http.StatusNotFound, "not_found", "no booking action %q; want one of accept, schedule, start, complete, review, cancel", a)
	}
	var in struct {
		Slot     time.Time `json:"slot"`
		Price    float64   `json:"price"`
		Work     string    `json:"work"`
		Odometer float64   `json:"odometer_km"`
		Stars    int       `json:"stars"`
		Review   string    `json:"review"`
		Reason   string    `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	b, err := w.act(r.Context(), c, r.PathValue("id"), a, booking.Input{Slot: in.Slot, Price: in.Price, Work: in.Work, Odometer: in.Odometer, Stars: in.Stars, Review: in.Review, Reason: in.Reason})
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, bookingView(b))
	return nil
}

func (w *Web) act(ctx context.Context, c *caller, id string, a booking.Action, in booking.Input) (store.Booking, error) {
	role, actor := booking.OwnerRole, c.OwnerID
	if c.Role == RoleShop {
		role, actor = booking.ShopRole, c.ShopID
	}
	return w.bk.Act(ctx, role, actor, id, a, in)
}

func (w *Web) reviews(rw http.ResponseWriter, r *http.Request, c *caller) error {
	rs, err := w.st.Reviews(r.Context(), r.PathValue("id"), 100)
	if err != nil {
		return err
	}
	type rv struct {
		Stars   int       `json:"stars"`
		Review  string    `json:"review"`
		Created time.Time `json:"created"`
	}
	out := []rv{}
	for _, x := range rs {
		out = append(out, rv{x.Stars, x.Body, x.Created})
	}
	writeJSON(rw, http.StatusOK, map[string]any{"reviews": out})
	return nil
}

func (w *Web) listDevices(rw http.ResponseWriter, r *http.Request, c *caller) error {
	type dv struct {
		ID        string    `json:"id"`
		VehicleID string    `json:"vehicle_id,omitempty"`
		Created   time.Time `json:"created"`
		Revoked   bool      `json:"revoked"`
		Online    bool      `json:"online"`
		Seen      time.Time `json:"seen,omitzero"`
	}
	var devs []store.Device
	if c.Role == RoleAdmin {
		all, err := w.st.Devices(r.Context())
		if err != nil {
			return err
		}
		devs = all
	} else {
		vs, err := w.st.Vehicles(r.Context(), c.OwnerID)
		if err != nil {
			return err
		}
		for _, v := range vs {
			ds, err := w.st.DevicesOfVehicle(r.Context(), v.ID)
			if err != nil {
				return err
			}
			devs = append(devs, ds...)
		}
	}
	out := []dv{}
	for _, d := range devs {
		x := dv{ID: d.ID, VehicleID: d.VehicleID, Created: d.Created, Revoked: !d.Active()}
		if st, err := w.st.Status(r.Context(), d.ID); err == nil {
			x.Online, x.Seen = st.Online, st.Seen
		}
		out = append(out, x)
	}
	writeJSON(rw, http.StatusOK, map[string]any{"devices": out})
	return nil
}

func (w *Web) addDevice(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		ID        string `json:"id"`
		VehicleID string `json:"vehicle_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	d, sec, err := w.st.AddDevice(r.Context(), in.ID, in.VehicleID)
	if err != nil {
		return err
	}
	writeJSON(rw, http.StatusCreated, map[string]any{"id": d.ID, "vehicle_id": d.VehicleID, "secret": sec})
	return nil
}

func (w *Web) revokeDevice(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.srv.RevokeDevice(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, map[string]string{"id": r.PathValue("id"), "status": "revoked"})
	return nil
}

func mustJSON(v any) string {
	b, _ := jsonMarshal(v)
	return string(b)
}
