package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

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
	writeJSON(rw, http.StatusCreated, map[string]any{"silence_id": sl.ID, "until": sl.EndsAt})
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
	if err := w.st.SetQuietHours(r.Context(), c.OwnerID, store.QuietHours{Start: in.Start, End: in.End, TimeZone: in.TimeZone}); err != nil {
		return err
	}
	writeJSON(rw, http.StatusOK, in)
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
	http.Redirect(rw, r, "/garage?notice="+url.QueryEscape("Snoozed until "+sl.EndsAt.UTC().Format("Mon 2 Jan 15:04 UTC")+"."), http.StatusSeeOther)
	return nil
}
