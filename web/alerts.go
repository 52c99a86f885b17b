package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// ownAlert finds a firing alert of the owner's cars by fingerprint.
func (w *Web) ownAlert(r *http.Request, c *caller, fp string) (store.Alert, error) {
	alerts, err := w.st.FiringAlertsOfOwner(r.Context(), c.OwnerID, 1000)
	if err != nil {
		return store.Alert{}, err
	}
	for _, a := range alerts {
		if a.Fingerprint == fp {
			return a, nil
		}
	}
	return store.Alert{}, fail(http.StatusNotFound, "not_found", "alert %s: not found among your firing alerts", fp)
}

// snooze silences one of the owner's firing alerts for some hours: it is
// not told again (nor repeated) until then.
func (w *Web) snooze(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Hours float64 `json:"hours"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	sl, err := w.snoozeFor(r, c, r.PathValue("fingerprint"), in.Hours)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, map[string]any{"silence_id": sl.ID, "until": sl.EndsAt})
	return nil
}

func (w *Web) snoozeFor(r *http.Request, c *caller, fp string, hours float64) (store.Silence, error) {
	if !(hours >= 1 && hours <= 30*24) {
		return store.Silence{}, fail(http.StatusUnprocessableEntity, "invalid", "hours: %v: want 1 to 720", hours)
	}
	a, err := w.ownAlert(r, c, fp)
	if err != nil {
		return store.Silence{}, err
	}
	// A silence matching the alert's own labels on its device, as the
	// alert manager's snooze makes one.
	now := time.Now()
	return w.st.AddSilence(r.Context(), store.Silence{Device: a.Device, Matchers: a.Labels, StartsAt: now,
		EndsAt: now.Add(time.Duration(hours * float64(time.Hour))), CreatedBy: c.Email, Comment: "snoozed"})
}

// quietHours sets when the owner hears only critical alerts.
func (w *Web) quietHours(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Start    string `json:"start"`
		End      string `json:"end"`
		TimeZone string `json:"timezone"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if (in.Start == "") != (in.End == "") {
		return fail(http.StatusUnprocessableEntity, "invalid", "start, end: give both (like 22:00 and 07:00) or neither")
	}
	if in.TimeZone == "" {
		in.TimeZone = c.TimeZone // the account's: quiet hours and the pages agree
	}
	if err := w.st.SetQuietHours(r.Context(), c.OwnerID, store.QuietHours{Start: in.Start, End: in.End, TimeZone: in.TimeZone}); err != nil {
		return err
	}
	if in.TimeZone != c.TimeZone {
		if err := w.updateProfile(r.Context(), c, profileInput{TimeZone: &in.TimeZone}); err != nil {
			return err
		}
	}
	w.writeJSON(rw, http.StatusOK, in)
	return nil
}

// snoozePost is the garage's snooze button.
func (w *Web) snoozePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	hours, err := strconv.ParseFloat(r.PostFormValue("hours"), 64)
	if err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "hours: %q is not a number", r.PostFormValue("hours"))
	}
	sl, err := w.snoozeFor(r, c, r.PathValue("fingerprint"), hours)
	if err != nil {
		return err
	}
	http.Redirect(rw, r, "/garage?notice="+url.QueryEscape("Snoozed until "+(pageData{Loc: c.location()}).When(sl.EndsAt)+"."), http.StatusSeeOther)
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
				av.Diagnosis, av.Suggestions = &rep, append(av.Suggestions, sugg[:min(len(sugg), 5)]...)
			} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, diagnosis.ErrNoData) {
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"alerts": out})
	return nil
}

func (w *Web) feed(rw http.ResponseWriter, r *http.Request, c *caller) error {
	w.feedSrc.ServeSSE(rw, r, c.OwnerID)
	return nil
}
