package web

import (
	"context"
	"net/http"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// diagnose is a vehicle's pre-diagnosis and every shop that matches it, kept for
// ten seconds: pages and the alert list ask often, the data moves slowly.
func (w *Web) diagnose(ctx context.Context, v store.Vehicle) (diagnosis.Report, []booking.Suggestion, error) {
	w.mu.Lock()
	e, ok := w.diags[v.ID]
	w.mu.Unlock()
	if ok && time.Since(e.at) < 10*time.Second {
		return e.rep, e.sugg, e.err
	}
	rep, err := w.cars.Diagnose(ctx, v.ID)
	var sugg []booking.Suggestion
	if err == nil && (len(rep.Codes) > 0 || len(rep.Symptoms) > 0) {
		need, nerr := w.bk.NeedFor(ctx, v, rep)
		if nerr == nil {
			sugg, nerr = w.bk.Suggest(ctx, need)
		}
		if nerr != nil {
			return rep, nil, nerr
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
	w.writeJSON(rw, http.StatusOK, map[string]any{"diagnosis": rep, "suggestions": sugg})
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

// forgetDiagnosis drops a vehicle's cached pre-diagnosis after a change to it.
func (w *Web) forgetDiagnosis(vehicleID string) {
	w.mu.Lock()
	delete(w.diags, vehicleID)
	w.mu.Unlock()
}

// forgetDiagnoses drops every cached pre-diagnosis: the shops that match
// changed.
func (w *Web) forgetDiagnoses() {
	w.mu.Lock()
	w.diags = map[string]diagEntry{}
	w.mu.Unlock()
}
