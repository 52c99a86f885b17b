package web

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

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
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	VIN        string    `json:"vin,omitempty"`
	Make       string    `json:"make"`
	Model      string    `json:"model"`
	Year       int       `json:"year"`
	Class      string    `json:"class"`
	Plate      string    `json:"plate,omitempty"`
	OdometerKm float64   `json:"odometer_km"` // the device's reading, else what the owner said
	Home       *Place    `json:"home,omitempty"`
	Online     bool      `json:"online"`
	Seen       time.Time `json:"seen,omitzero"`
	Devices    []string  `json:"devices"`
	// DeviceOnline says which of the devices has a session now.
	DeviceOnline map[string]bool    `json:"device_online"`
	Latest       map[string]float64 `json:"latest"`
	Alerts       int                `json:"firing_alerts"`
	Worst        string             `json:"worst_severity,omitempty"`
	// ReportedVIN is a VIN a dongle read from the car that is not the
	// car's VIN on record (or the car has none): the owner decides.
	ReportedVIN string `json:"reported_vin,omitempty"`
	ReportedBy  string `json:"reported_by,omitempty"`
}

// Place is a latitude and longitude.
type Place struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// liveSignals are what the garage and the gauges show.
var liveSignals = []string{diagnosis.SigSpeed, diagnosis.SigRPM, diagnosis.SigCoolant, diagnosis.SigBattery, diagnosis.SigFuelLevel, diagnosis.SigOdometer, diagnosis.SigLoad}

func (w *Web) view(ctx context.Context, g store.GarageVehicle, alerts []store.Alert) (VehicleView, error) {
	vv := VehicleView{ID: g.ID, Name: g.Name, VIN: g.VIN, Make: g.Make, Model: g.Model, Year: g.Year, Class: g.Class, Plate: g.Plate,
		OdometerKm: g.OdometerKm, Latest: map[string]float64{}, Devices: []string{}, DeviceOnline: map[string]bool{}}
	if g.HasHome {
		vv.Home = &Place{g.HomeLat, g.HomeLon}
	}
	for _, d := range g.Devices {
		if d.Revoked {
			continue
		}
		vv.Devices = append(vv.Devices, d.ID)
		vv.DeviceOnline[d.ID] = d.Online
		if d.VIN != "" && d.VIN != g.VIN && vv.ReportedVIN == "" {
			vv.ReportedVIN, vv.ReportedBy = d.VIN, d.ID
		}
		vv.Online = vv.Online || d.Online
		if d.Seen.After(vv.Seen) {
			vv.Seen = d.Seen
		}
		latest, err := w.cars.Latest(ctx, d.ID, liveSignals)
		if err != nil {
			return vv, err
		}
		for k, x := range latest {
			vv.Latest[k] = x.Value
		}
	}
	if odo, ok := vv.Latest[diagnosis.SigOdometer]; ok && odo > vv.OdometerKm {
		vv.OdometerKm = odo
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"vehicles": vs})
	return nil
}

func (w *Web) getVehicle(rw http.ResponseWriter, r *http.Request, c *caller) error {
	return w.writeVehicle(rw, r, c, r.PathValue("id"), http.StatusOK)
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
		ss, err := w.hist.Range(r.Context(), series.Query{Device: d.ID, Signals: signals, From: from, To: to, Step: step})
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"from": from.UTC(), "to": to.UTC(), "step_s": step.Seconds(), "series": out})
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
			raw, err := json.Marshal(v)
			if err != nil {
				w.log.Error("web: encoding a live vehicle", "vehicle", v.ID, "err", err)
				continue
			}
			b := string(raw)
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
		if row.VehicleID != "" && (len(a.Codes) > 0 || a.Labels[rules.SymptomLabel] != "") {
			if veh, err := w.st.Vehicle(r.Context(), row.VehicleID); err == nil {
				if rep, _, err := w.diagnose(r.Context(), veh); err == nil && rep.Severity != 0 {
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
		Data: map[string]any{"Vehicle": vv, "Gauges": gs, "Alerts": rows, "Reminders": rems, "Services": svs, "Devices": g.Devices}})
	return nil
}

// Geocoder finds a typed address on the map. A server has none unless one
// is plugged in; then a home is given as coordinates (the pages offer the
// browser's location).
type Geocoder interface {
	Geocode(ctx context.Context, address string) (lat, lon float64, err error)
}

// vehicleInput is a car as its owner describes it. On an edit, absent
// fields stay as they are.
type vehicleInput struct {
	VIN        *string    `json:"vin"`
	Make       *string    `json:"make"`
	Model      *string    `json:"model"`
	Year       *int       `json:"year"`
	Name       *string    `json:"name"`
	Plate      *string    `json:"plate"`
	Class      *string    `json:"class"`
	OdometerKm *float64   `json:"odometer_km"`
	Home       *homeInput `json:"home"`
}

// homeInput is where the car usually is: coordinates, or an address for
// the geocoder; {} clears it.
type homeInput struct {
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
	Address string   `json:"address"`
}

// apply fills v from the input, decoding a VIN for the maker and model
// year, and names the first bad field.
func (w *Web) apply(ctx context.Context, v *store.Vehicle, in vehicleInput, creating bool) error {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&v.Make, in.Make)
	set(&v.Model, in.Model)
	set(&v.Name, in.Name)
	set(&v.Plate, in.Plate)
	set(&v.Class, in.Class)
	if in.Year != nil {
		v.Year = *in.Year
	}
	if in.VIN != nil {
		v.VIN = strings.ToUpper(strings.TrimSpace(*in.VIN))
		if v.VIN != "" {
			dv, err := diagnosis.DecodeVIN(v.VIN, time.Now())
			if err != nil {
				return invalid("vin", "%s", strings.TrimPrefix(err.Error(), diagnosis.ErrBadVIN.Error()+" "))
			}
			if v.Make == "" {
				v.Make = dv.Manufacturer
			}
			if v.Year == 0 {
				v.Year = dv.ModelYear
			}
		}
	}
	if in.OdometerKm != nil {
		v.OdometerKm = *in.OdometerKm
	}
	if h := in.Home; h != nil {
		switch {
		case h.Lat != nil && h.Lon != nil:
			v.HomeLat, v.HomeLon, v.HasHome = *h.Lat, *h.Lon, true
		case strings.TrimSpace(h.Address) != "":
			if w.geocoder == nil {
				return invalid("home.address", "this server has no geocoder: give home.lat and home.lon (the car's page can use your browser's location)")
			}
			lat, lon, err := w.geocoder.Geocode(ctx, strings.TrimSpace(h.Address))
			if err != nil {
				return invalid("home.address", "%q: %v", h.Address, err)
			}
			v.HomeLat, v.HomeLon, v.HasHome = lat, lon, true
		case h.Lat != nil || h.Lon != nil:
			return invalid("home", "give both lat and lon")
		default:
			v.HomeLat, v.HomeLon, v.HasHome = 0, 0, false
		}
	}
	maxYear := time.Now().Year() + 1
	switch {
	case v.Make == "":
		return invalid("make", "missing (the VIN's maker is not in Pitwall's table, or no VIN was given)")
	case v.Model == "":
		return invalid("model", "missing")
	case v.Year == 0 && creating:
		return invalid("year", "missing")
	case v.Year < 1950 || v.Year > maxYear:
		return invalid("year", "%d: want 1950 to %d", v.Year, maxYear)
	case math.IsNaN(v.OdometerKm) || math.IsInf(v.OdometerKm, 0) || v.OdometerKm < 0 || v.OdometerKm > 3_000_000:
		return invalid("odometer_km", "%v: want 0 to 3,000,000 km", v.OdometerKm)
	case v.HasHome && (math.IsNaN(v.HomeLat) || math.IsNaN(v.HomeLon) || v.HomeLat < -90 || v.HomeLat > 90 || v.HomeLon < -180 || v.HomeLon > 180 || v.HomeLat == 0 && v.HomeLon == 0):
		return invalid("home", "%v,%v is not a place", v.HomeLat, v.HomeLon)
	case v.Class != "" && !slices.Contains(store.Classes, v.Class):
		return invalid("class", "%q: want small, medium or large", v.Class)
	case len(v.Make) > 60 || len(v.Model) > 60:
		return invalid("model", "make and model have at most 60 characters")
	case len(v.Name) > 80:
		return invalid("name", "at most 80 characters")
	case len(v.Plate) > 20:
		return invalid("plate", "at most 20 characters")
	}
	return nil
}

// addVehicle records a new car of the caller's.
func (w *Web) addVehicle(ctx context.Context, c *caller, in vehicleInput) (store.Vehicle, error) {
	v := store.Vehicle{OwnerID: c.OwnerID}
	if err := w.apply(ctx, &v, in, true); err != nil {
		return store.Vehicle{}, err
	}
	v, err := w.st.AddVehicle(ctx, v)
	if errors.Is(err, store.ErrExists) {
		return store.Vehicle{}, fail(http.StatusConflict, "conflict", "vin: a car with VIN %s is on Pitwall already", v.VIN)
	}
	return v, err
}

func (w *Web) createVehicle(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in vehicleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := w.addVehicle(r.Context(), c, in)
	if err != nil {
		return err
	}
	return w.writeVehicle(rw, r, c, v.ID, http.StatusCreated)
}

func (w *Web) writeVehicle(rw http.ResponseWriter, r *http.Request, c *caller, id string, status int) error {
	g, err := w.garageOne(r.Context(), c, id)
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
	w.writeJSON(rw, status, vv)
	return nil
}

// editVehicle changes one of the caller's cars.
func (w *Web) editVehicle(ctx context.Context, c *caller, id string, in vehicleInput) error {
	v, err := w.vehicleFor(ctx, c, id)
	if err != nil {
		return err
	}
	if err := w.apply(ctx, &v, in, false); err != nil {
		return err
	}
	_, err = w.st.UpdateVehicle(ctx, v)
	if errors.Is(err, store.ErrExists) {
		return fail(http.StatusConflict, "conflict", "vin: a car with VIN %s is on Pitwall already", v.VIN)
	}
	w.forgetDiagnosis(id)
	return err
}

func (w *Web) patchVehicle(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in vehicleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.editVehicle(r.Context(), c, r.PathValue("id"), in); err != nil {
		return err
	}
	return w.writeVehicle(rw, r, c, r.PathValue("id"), http.StatusOK)
}

// removeVehicle erases one of the caller's cars and its dongles' data.
func (w *Web) removeVehicle(ctx context.Context, c *caller, id string) error {
	v, err := w.vehicleFor(ctx, c, id)
	if err != nil {
		return err
	}
	devices, err := w.st.EraseVehicle(ctx, v.ID)
	if err != nil {
		return err
	}
	w.eraseDevices(ctx, devices)
	w.forgetDiagnosis(id)
	return nil
}

func (w *Web) deleteVehicle(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.removeVehicle(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"id": r.PathValue("id"), "status": "removed"})
	return nil
}

// --- pages ---

type vehicleForm struct {
	V       store.Vehicle
	Classes []string
	Edit    bool
}

func (w *Web) newVehiclePage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	w.render(rw, r, http.StatusOK, "vehicleform.html", pageData{Title: "Add a car", Data: vehicleForm{V: store.Vehicle{Class: "medium"}, Classes: store.Classes}})
	return nil
}

func (w *Web) editVehiclePage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "vehicleform.html", pageData{Title: "Edit " + v.Make + " " + v.Model, Data: vehicleForm{V: v, Classes: store.Classes, Edit: true}})
	return nil
}

// formVehicle reads the car form.
func formVehicle(r *http.Request) (vehicleInput, error) {
	str := func(k string) *string { v := r.PostFormValue(k); return &v }
	in := vehicleInput{VIN: str("vin"), Make: str("make"), Model: str("model"), Name: str("name"), Plate: str("plate"), Class: str("class")}
	if s := strings.TrimSpace(r.PostFormValue("year")); s != "" {
		y, err := strconv.Atoi(s)
		if err != nil {
			return in, invalid("year", "%q is not a year", s)
		}
		in.Year = &y
	}
	num := func(k string) (*float64, error) {
		s := strings.TrimSpace(r.PostFormValue(k))
		if s == "" {
			return nil, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, invalid(k, "%q is not a number", s)
		}
		return &f, nil
	}
	var err error
	if in.OdometerKm, err = num("odometer_km"); err != nil {
		return in, err
	}
	h := homeInput{Address: r.PostFormValue("address")}
	if h.Lat, err = num("lat"); err != nil {
		return in, err
	}
	if h.Lon, err = num("lon"); err != nil {
		return in, err
	}
	in.Home = &h
	return in, nil
}

func (w *Web) newVehiclePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	in, err := formVehicle(r)
	if err != nil {
		return err
	}
	v, err := w.addVehicle(r.Context(), c, in)
	if err != nil {
		return err
	}
	http.Redirect(rw, r, "/vehicles/"+url.PathEscape(v.ID)+"?notice="+url.QueryEscape("Added. Pair a dongle to see it live."), http.StatusSeeOther)
	return nil
}

func (w *Web) editVehiclePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	in, err := formVehicle(r)
	if err != nil {
		return err
	}
	if err := w.editVehicle(r.Context(), c, r.PathValue("id"), in); err != nil {
		return err
	}
	http.Redirect(rw, r, "/vehicles/"+url.PathEscape(r.PathValue("id"))+"?notice="+url.QueryEscape("Saved."), http.StatusSeeOther)
	return nil
}

// adoptVINPost takes the VIN a dongle reported as the car's.
func (w *Web) adoptVINPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	g, err := w.garageOne(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	want := strings.ToUpper(strings.TrimSpace(r.PostFormValue("vin")))
	found := false
	for _, d := range g.Devices {
		found = found || !d.Revoked && d.VIN == want && want != ""
	}
	if !found {
		return invalid("vin", "%q is not what this car's dongle reported", want)
	}
	if err := w.editVehicle(r.Context(), c, g.ID, vehicleInput{VIN: &want}); err != nil {
		return err
	}
	http.Redirect(rw, r, "/vehicles/"+url.PathEscape(g.ID)+"?notice="+url.QueryEscape("The car's VIN is now "+want+"."), http.StatusSeeOther)
	return nil
}

func (w *Web) deleteVehiclePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.removeVehicle(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/garage?notice="+url.QueryEscape("The car and its data are removed."), http.StatusSeeOther)
	return nil
}
