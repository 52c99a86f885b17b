package web

import (
	"context"
	"encoding/json"
	"math"
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
		latest, err := w.cars.Latest(ctx, d.ID, liveSignals)
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"vehicles": vs})
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
	w.writeJSON(rw, http.StatusOK, vv)
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
