package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/store"
)

// The routes after the booking: the bill and its extras, payments,
// progress with photos, the history, follow-ups, complaints and warranty
// claims. Who may do what is booking's; these read the request and say
// what went wrong where.

// roleOf is the caller as the booking package names it, and its id.
func roleOf(c *caller) (booking.Role, string) {
	switch c.Role {
	case RoleShop:
		return booking.ShopRole, c.ShopID
	case RoleAdmin:
		return booking.AdminRole, c.ID
	}
	return booking.OwnerRole, c.OwnerID
}

func (w *Web) getBill(rw http.ResponseWriter, r *http.Request, c *caller) error {
	role, actor := roleOf(c)
	_, bill, err := w.bk.Bill(r.Context(), role, actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, bill)
	return nil
}

func (w *Web) proposeLine(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in booking.LineInput
	if err := decode(r, &in); err != nil {
		return err
	}
	l, err := w.bk.ProposeLine(r.Context(), c.ShopID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return w.writeBillLine(rw, r, c, http.StatusCreated, l.N)
}

// writeBillLine answers with one line of the booking's bill as it now is.
func (w *Web) writeBillLine(rw http.ResponseWriter, r *http.Request, c *caller, status, n int) error {
	role, actor := roleOf(c)
	_, bill, err := w.bk.Bill(r.Context(), role, actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	for _, l := range bill.Lines {
		if l.N == n {
			w.writeJSON(rw, status, map[string]any{"line": l, "total": bill.Total, "pending": bill.Pending})
			return nil
		}
	}
	return fail(http.StatusNotFound, "not_found", "line %d: not found", n)
}

func lineNumber(r *http.Request) (int, error) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return 0, fail(http.StatusNotFound, "not_found", "line %q: not found", r.PathValue("n"))
	}
	return n, nil
}

func (w *Web) decideLine(rw http.ResponseWriter, r *http.Request, c *caller) error {
	n, err := lineNumber(r)
	if err != nil {
		return err
	}
	var approve bool
	switch r.PathValue("decision") {
	case "approve":
		approve = true
	case "decline":
	default:
		return fail(http.StatusNotFound, "not_found", "no line decision %q; want approve or decline", r.PathValue("decision"))
	}
	if _, err := w.bk.DecideLine(r.Context(), c.OwnerID, r.PathValue("id"), n, approve); err != nil {
		return err
	}
	return w.writeBillLine(rw, r, c, http.StatusOK, n)
}

func (w *Web) recordPayment(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in booking.PaymentInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if _, err := w.bk.RecordPayment(r.Context(), c.ShopID, r.PathValue("id"), in); err != nil {
		return err
	}
	_, bill, err := w.bk.Bill(r.Context(), booking.ShopRole, c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, bill)
	return nil
}

// ProgressView is a progress step as owners and shops read it.
type ProgressView struct {
	N      int         `json:"n"`
	Step   string      `json:"step"`
	Name   string      `json:"name"`
	Note   string      `json:"note,omitempty"`
	Time   time.Time   `json:"time"`
	Photos []PhotoView `json:"photos"`
}

// PhotoView is a stored photo and where to fetch it.
type PhotoView struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

func progressViews(bookingID string, ps []store.Progress) []ProgressView {
	out := make([]ProgressView, 0, len(ps))
	for _, p := range ps {
		v := ProgressView{N: p.N, Step: p.Step, Name: booking.StepName(p.Step), Note: p.Note, Time: p.Time, Photos: []PhotoView{}}
		for _, ph := range p.Photos {
			v.Photos = append(v.Photos, PhotoView{URL: "/api/v1/bookings/" + bookingID + "/photos/" + ph.ID, ContentType: ph.ContentType, Width: ph.Width, Height: ph.Height})
		}
		out = append(out, v)
	}
	return out
}

func (w *Web) listProgress(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	ps, err := w.st.BookingProgress(r.Context(), b.ID)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"progress": progressViews(b.ID, ps)})
	return nil
}

// maxProgressBody bounds a progress upload: its photos and a little more
// for the step and the note.
const maxProgressBody = booking.MaxPhotosPerStep*booking.MaxPhotoBytes + 1<<20

// readProgress reads a progress step sent as multipart/form-data: the
// fields step and note, and up to MaxPhotosPerStep files named photo.
// A photo over MaxPhotoBytes is refused as soon as it is seen, without
// reading the rest of it.
// A form's csrf field is returned for the page that checks it.
func readProgress(rw http.ResponseWriter, r *http.Request) (step, note, csrf string, photos [][]byte, err error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return "", "", "", nil, fail(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the step as multipart/form-data with the fields step, note and photo (got %q)", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(rw, r.Body, maxProgressBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return "", "", "", nil, fail(http.StatusBadRequest, "bad_form", "the form cannot be read: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return step, note, csrf, photos, nil
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", "", "", nil, fail(http.StatusRequestEntityTooLarge, "too_large", "the upload is over %d bytes", int64(maxProgressBody))
		}
		if err != nil {
			return "", "", "", nil, fail(http.StatusBadRequest, "bad_form", "the form cannot be read: %v", err)
		}
		switch p.FormName() {
		case "step", "note", "csrf":
			v, err := io.ReadAll(io.LimitReader(p, 4001))
			if err != nil {
				return "", "", "", nil, formErr(err)
			}
			if len(v) > 4000 {
				return "", "", "", nil, fail(http.StatusUnprocessableEntity, "invalid", "%s: at most 4000 characters", p.FormName())
			}
			switch p.FormName() {
			case "step":
				step = string(v)
			case "note":
				note = string(v)
			default:
				csrf = string(v)
			}
		case "photo":
			if len(photos) == booking.MaxPhotosPerStep {
				return "", "", "", nil, fail(http.StatusUnprocessableEntity, "invalid", "photos: at most %d a step", booking.MaxPhotosPerStep)
			}
			data, err := io.ReadAll(io.LimitReader(p, booking.MaxPhotoBytes+1))
			if err != nil {
				return "", "", "", nil, formErr(err)
			}
			if len(data) > booking.MaxPhotoBytes {
				return "", "", "", nil, fmt.Errorf("%w: photos[%d] (%s) is over %d bytes (8 MiB)", booking.ErrPhotoTooLarge, len(photos), partName(p), booking.MaxPhotoBytes)
			}
			if len(data) == 0 && p.FileName() == "" {
				continue // a form's empty file field
			}
			photos = append(photos, data)
		default:
			return "", "", "", nil, fail(http.StatusBadRequest, "unknown_field", "unknown field %q; send step, note and photo", p.FormName())
		}
	}
}

func partName(p *multipart.Part) string {
	if p.FileName() == "" {
		return "unnamed"
	}
	return strconv.Quote(p.FileName())
}

func formErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fail(http.StatusRequestEntityTooLarge, "too_large", "the upload is over %d bytes", int64(maxProgressBody))
	}
	return fail(http.StatusBadRequest, "bad_form", "the form cannot be read: %v", err)
}

func (w *Web) postProgress(rw http.ResponseWriter, r *http.Request, c *caller) error {
	step, note, _, photos, err := readProgress(rw, r)
	if err != nil {
		return err
	}
	p, err := w.bk.Progress(r.Context(), c.ShopID, r.PathValue("id"), step, note, photos)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, progressViews(r.PathValue("id"), []store.Progress{p})[0])
	return nil
}

func (w *Web) getPhoto(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	ph, err := w.st.BookingPhoto(r.Context(), b.ID, r.PathValue("photo"))
	if err != nil {
		return err
	}
	rw.Header().Set("Content-Type", ph.ContentType)
	rw.Header().Set("Content-Length", strconv.Itoa(len(ph.Data)))
	rw.Header().Set("Cache-Control", "private, max-age=86400")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	_, err = rw.Write(ph.Data)
	return err
}

// EventView is a step of a booking's history.
type EventView struct {
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	Actor string    `json:"actor"`
	Note  string    `json:"note,omitempty"`
}

func (w *Web) bookingHistory(ctx context.Context, id string) ([]EventView, error) {
	evs, err := w.st.BookingEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]EventView, 0, len(evs))
	for _, e := range evs {
		out = append(out, EventView{Time: e.Time, Kind: e.Kind, From: e.From, To: e.To, Actor: e.Actor, Note: e.Note})
	}
	return out, nil
}

func (w *Web) getHistory(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := w.bookingHistory(r.Context(), b.ID)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"history": out})
	return nil
}

// FollowupView is a follow-up survey and its answers.
type FollowupView struct {
	Sent          time.Time `json:"sent"`
	Answered      time.Time `json:"answered,omitzero"`
	Fixed         *bool     `json:"fixed,omitempty"`
	PriceAsAgreed *bool     `json:"price_as_agreed,omitempty"`
	UseAgain      *bool     `json:"use_again,omitempty"`
	Score         int       `json:"score,omitempty"`
	Comment       string    `json:"comment,omitempty"`
	ComplaintID   string    `json:"complaint_id,omitempty"`
}

func followupView(f store.Followup) FollowupView {
	v := FollowupView{Sent: f.Sent, Answered: f.Answered, ComplaintID: f.ComplaintID}
	if !f.Answered.IsZero() {
		v.Fixed, v.PriceAsAgreed, v.UseAgain, v.Score, v.Comment = &f.Fixed, &f.PriceAgreed, &f.UseAgain, f.Score, f.Comment
	}
	return v
}

func (w *Web) getFollowup(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	f, err := w.st.Followup(r.Context(), b.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fail(http.StatusNotFound, "not_found", "no follow-up has been asked on booking %s yet", b.ID)
	}
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, followupView(f))
	return nil
}

func (w *Web) answerFollowup(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in booking.FollowupAnswer
	if err := decode(r, &in); err != nil {
		return err
	}
	f, opened, err := w.bk.AnswerFollowup(r.Context(), c.OwnerID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	out := map[string]any{"followup": followupView(f)}
	if opened != nil {
		out["complaint"] = complaintView(*opened)
	}
	w.writeJSON(rw, http.StatusOK, out)
	return nil
}

// ComplaintView is a complaint as its owner, its shop and the
// administrators read it.
type ComplaintView struct {
	ID         string    `json:"id"`
	BookingID  string    `json:"booking_id"`
	ShopID     string    `json:"shop_id"`
	Category   string    `json:"category"`
	Text       string    `json:"text"`
	Source     string    `json:"source"`
	Status     string    `json:"status"`
	Opened     time.Time `json:"opened"`
	Due        time.Time `json:"answer_by"`
	Answered   time.Time `json:"answered,omitzero"`
	Answer     string    `json:"answer,omitempty"`
	Escalated  time.Time `json:"escalated,omitzero"`
	Resolved   time.Time `json:"resolved,omitzero"`
	Resolution string    `json:"resolution,omitempty"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
}

func complaintView(c store.Complaint) ComplaintView {
	return ComplaintView{ID: c.ID, BookingID: c.BookingID, ShopID: c.ShopID, Category: c.Category, Text: c.Body, Source: c.Source, Status: c.Status,
		Opened: c.Opened, Due: c.Due, Answered: c.Answered, Answer: c.Answer, Escalated: c.Escalated, Resolved: c.Resolved, Resolution: c.Resolution, ResolvedBy: c.ResolvedBy}
}

func complaintViews(cs []store.Complaint) []ComplaintView {
	out := make([]ComplaintView, 0, len(cs))
	for _, c := range cs {
		out = append(out, complaintView(c))
	}
	return out
}

func (w *Web) openComplaint(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Category string `json:"category"`
		Text     string `json:"text"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	cp, err := w.bk.OpenComplaint(r.Context(), c.OwnerID, r.PathValue("id"), in.Category, in.Text)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, complaintView(cp))
	return nil
}

// complaintFilter is what the caller may list: an owner's own, a
// shop's own, and for administrators any (by status, escalated first).
func complaintFilter(c *caller, status string) store.ComplaintFilter {
	switch c.Role {
	case RoleShop:
		return store.ComplaintFilter{ShopID: c.ShopID, Status: status}
	case RoleAdmin:
		return store.ComplaintFilter{Status: status}
	}
	return store.ComplaintFilter{OwnerID: c.OwnerID, Status: status}
}

func (w *Web) listComplaints(rw http.ResponseWriter, r *http.Request, c *caller) error {
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{booking.ComplaintOpen, booking.ComplaintAnswered, booking.ComplaintEscalated, booking.ComplaintResolved}, status) {
		return fail(http.StatusUnprocessableEntity, "invalid", "status: %q: want open, answered, escalated or resolved", status)
	}
	f := complaintFilter(c, status)
	f.BookingID = r.URL.Query().Get("booking")
	cs, err := w.st.Complaints(r.Context(), f)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"complaints": complaintViews(cs)})
	return nil
}

func (w *Web) actOnComplaint(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.ComplaintAction(r.PathValue("action"))
	if !slices.Contains([]booking.ComplaintAction{booking.AnswerComplaint, booking.EscalateComplaint, booking.ResolveComplaint}, a) {
		return fail(http.StatusNotFound, "not_found", "no complaint action %q; want answer, escalate or resolve", a)
	}
	var in struct {
		Text string `json:"text"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	role, actor := roleOf(c)
	cp, err := w.bk.ActOnComplaint(r.Context(), role, actor, r.PathValue("id"), a, in.Text)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, complaintView(cp))
	return nil
}

// ClaimView is a warranty claim with its evidence.
type ClaimView struct {
	ID        string          `json:"id"`
	BookingID string          `json:"booking_id"`
	ShopID    string          `json:"shop_id"`
	VehicleID string          `json:"vehicle_id"`
	Status    string          `json:"status"`
	Codes     []string        `json:"codes"`
	Evidence  json.RawMessage `json:"evidence"`
	Opened    time.Time       `json:"opened"`
	Answered  time.Time       `json:"answered,omitzero"`
	Answer    string          `json:"answer,omitempty"`
}

func claimViews(cs []store.WarrantyClaim) []ClaimView {
	out := make([]ClaimView, 0, len(cs))
	for _, c := range cs {
		ev := json.RawMessage(c.Evidence)
		if len(ev) == 0 {
			ev = json.RawMessage("{}")
		}
		out = append(out, ClaimView{ID: c.ID, BookingID: c.BookingID, ShopID: c.ShopID, VehicleID: c.VehicleID, Status: c.Status, Codes: c.Codes, Evidence: ev,
			Opened: c.Opened, Answered: c.Answered, Answer: c.Answer})
	}
	return out
}

func (w *Web) listClaims(rw http.ResponseWriter, r *http.Request, c *caller) error {
	f := store.ClaimFilter{OwnerID: c.OwnerID, BookingID: r.URL.Query().Get("booking")}
	if c.Role == RoleShop {
		f = store.ClaimFilter{ShopID: c.ShopID, BookingID: f.BookingID}
	}
	cs, err := w.st.WarrantyClaims(r.Context(), f)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"claims": claimViews(cs)})
	return nil
}

func (w *Web) answerClaim(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var accept bool
	switch r.PathValue("answer") {
	case "accept":
		accept = true
	case "decline":
	default:
		return fail(http.StatusNotFound, "not_found", "no claim answer %q; want accept or decline", r.PathValue("answer"))
	}
	var in struct {
		Text string `json:"text"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	cl, err := w.bk.AnswerClaim(r.Context(), c.ShopID, r.PathValue("id"), accept, in.Text)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, claimViews([]store.WarrantyClaim{cl})[0])
	return nil
}

func (w *Web) getRecord(rw http.ResponseWriter, r *http.Request, c *caller) error {
	rec, err := w.bk.Record(r.Context(), c.OwnerID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, rec)
	return nil
}

func (w *Web) answerTimes(rw http.ResponseWriter, r *http.Request, c *caller) error {
	at, err := w.bk.AnswerTimes(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, at)
	return nil
}
