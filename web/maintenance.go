package web

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

func (w *Web) reminders(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.vehicleFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	rs, err := w.remindersOf(r.Context(), c, v)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"reminders": rs})
	return nil
}

func (w *Web) remindersOf(ctx context.Context, c *caller, v store.Vehicle) ([]booking.Reminder, error) {
	odo := v.OdometerKm // what the owner said, until a dongle reads more
	devs, err := w.st.DevicesOfVehicle(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		l, err := w.cars.Latest(ctx, d.ID, []string{diagnosis.SigOdometer})
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"item": r.PathValue("item"), "every_km": in.EveryKm, "every_months": in.EveryMonths})
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"services": out})
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
	case in.OdometerKm < 0 || in.OdometerKm > 3_000_000 || math.IsNaN(in.OdometerKm):
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
	w.writeJSON(rw, http.StatusCreated, map[string]any{"id": sv.ID})
	return nil
}

func validItem(id string) bool { _, ok := booking.ItemByID(id); return ok }

func (w *Web) packagePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	slot, err := time.Parse(time.RFC3339, r.PostFormValue("slot"))
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "slot: %q is not a time", r.PostFormValue("slot"))
	}
	if _, err := w.bk.BookPackage(r.Context(), c.OwnerID, r.PathValue("id"), r.PostFormValue("shop_id"), r.PostFormValue("item"), slot, formContact(r)); err != nil {
		return err
	}
	http.Redirect(rw, r, "/bookings?notice="+url.QueryEscape("Booking requested; the shop will confirm."), http.StatusSeeOther)
	return nil
}
