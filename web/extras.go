package web

import (
	"errors"
	"net/http"

	"github.com/pitwall-io/pitwall/booking"
)

// The page an emailed extra link opens: the owner approves or declines a
// line the shop proposed without signing in. The link's token is the
// right to answer that one line, once; opening the page changes nothing
// (mail scanners open links), the form does.

func (w *Web) extraPage(rw http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	v, err := w.bk.ExtraByLink(r.Context(), token)
	if err != nil {
		w.extraGone(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "extra.html", pageData{Title: "An extra on your booking",
		Data: map[string]any{"Extra": v, "Token": token, "FormCSRF": w.formToken(rw, r)}})
}

func (w *Web) extraPost(rw http.ResponseWriter, r *http.Request) {
	if !w.publicForm(rw, r) {
		return
	}
	var approve bool
	switch r.PostFormValue("answer") {
	case "approve":
		approve = true
	case "decline":
	default:
		w.render(rw, r, http.StatusUnprocessableEntity, "error.html", pageData{Title: "No answer", Data: "Choose Approve or Decline."})
		return
	}
	b, line, err := w.bk.DecideByLink(r.Context(), r.PostFormValue("token"), approve)
	if err != nil {
		w.extraGone(rw, r, err)
		return
	}
	verb := "declined"
	if approve {
		verb = "approved"
	}
	w.render(rw, r, http.StatusOK, "message.html", pageData{Title: "Thank you",
		Data: "You " + verb + " " + line.Description + " on booking " + b.ID + ". The shop is told; sign in to see the bill as it stands."})
}

// extraGone answers a link that no longer works, or a failure.
func (w *Web) extraGone(rw http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, booking.ErrLinkGone):
		w.render(rw, r, http.StatusNotFound, "error.html", pageData{Title: "This link no longer works", Data: err.Error()})
	case errors.Is(err, booking.ErrIllegal):
		w.render(rw, r, http.StatusConflict, "error.html", pageData{Title: "It can no longer be answered", Data: err.Error()})
	default:
		w.log.Error("web: an extra's emailed link", "err", err)
		w.render(rw, r, http.StatusInternalServerError, "error.html", pageData{Title: "Something went wrong", Data: "Try again, or answer on the booking's page in Pitwall."})
	}
}
