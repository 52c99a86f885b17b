package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
)

//go:embed static templates
var files embed.FS

// Web serves the API and the pages of one server.
type Web struct {
	srv     *server.Server
	st      *store.Store
	bk      *booking.Service
	log     *slog.Logger
	limiter *limiter
	// dummyHash is checked against when an email is unknown, so both
	// answers take as long.
	dummyHash []byte
	pages     *template.Template

	who whoCache

	mu       sync.Mutex
	diags    map[string]diagEntry  // per vehicle, for a few seconds
	firingBy map[string]alertEntry // firing alerts per owner, for a second
}

type alertEntry struct {
	at     time.Time
	alerts []store.Alert
}

type diagEntry struct {
	at   time.Time
	rep  diagnosis.Report
	sugg []booking.Suggestion
	err  error
}

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// New prepares the web side of a server.
func New(s *server.Server, log *slog.Logger) (*Web, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("no such user, no such password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	w := &Web{srv: s, st: s.Store, bk: s.Booking, log: log, limiter: newLimiter(), dummyHash: h, diags: map[string]diagEntry{}, firingBy: map[string]alertEntry{}}
	if w.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return w, nil
}

// Register adds the routes to the server's mux.
func (w *Web) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(files, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	w.routesAPI(mux)
	w.routesPages(mux)
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(rw, r)
	})
}

// apiError is an error with its HTTP status and a stable code.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

func fail(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// classify maps the packages' errors to statuses; the message is the
// error's own, which names the field or the thing.
func classify(err error) *apiError {
	var ae *apiError
	var rl *rateLimited
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &rl):
		return fail(http.StatusTooManyRequests, "rate_limited", "%s", rl.Error())
	case errors.Is(err, booking.ErrNotYours), errors.Is(err, store.ErrNotFound), errors.Is(err, server.ErrNoData):
		return fail(http.StatusNotFound, "not_found", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.Is(err, diagnosis.ErrBadCode), errors.Is(err, diagnosis.ErrBadVIN):
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrNoShop):
		return fail(http.StatusUnprocessableEntity, "no_shop", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrIllegal), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrFull):
		return fail(http.StatusConflict, "conflict", "%s", cleanMsg(err))
	case errors.Is(err, errLogin):
		return fail(http.StatusUnauthorized, "unauthenticated", "%s", err.Error())
	}
	return fail(http.StatusInternalServerError, "internal", "something went wrong on our side; it has been logged")
}

// cleanMsg drops the package prefixes ("booking: invalid: ") a person
// need not read.
func cleanMsg(err error) string {
	m := err.Error()
	for _, p := range []string{"booking: invalid: ", "booking: not allowed: ", "booking: not found: ", "booking: no shop can take this job: ", "store: not found: ", "store: invalid value: ", "store: the record changed state: ", "store: already exists: "} {
		m = strings.Replace(m, p, "", 1)
	}
	return m
}

func writeJSON(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	enc := json.NewEncoder(rw)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func (w *Web) writeError(rw http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.Status >= 500 {
		w.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if ae.Status == http.StatusTooManyRequests {
		var rl *rateLimited
		if errors.As(err, &rl) {
			rw.Header().Set("Retry-After", fmt.Sprint(int(rl.wait.Seconds())+1))
		}
	}
	writeJSON(rw, ae.Status, map[string]*apiError{"error": ae})
}

// decode reads one JSON object: application/json, at most MaxBody bytes,
// no unknown fields, nothing after it.
func decode(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fail(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json (got %q)", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return fail(http.StatusRequestEntityTooLarge, "too_large", "the body is over %d bytes", MaxBody)
		case errors.As(err, &se):
			return fail(http.StatusBadRequest, "bad_json", "the body is not valid JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return fail(http.StatusBadRequest, "bad_json", "field %q: want %s, got %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fail(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
		case errors.Is(err, io.EOF):
			return fail(http.StatusBadRequest, "bad_json", "the body is empty; send a JSON object")
		}
		return fail(http.StatusBadRequest, "bad_json", "the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "bad_json", "the body holds more than one JSON value")
	}
	return nil
}

// handler wraps an API handler: it names the caller (401 without one),
// checks the role (403) and the CSRF token of session requests (403),
// and renders errors.
func (w *Web) handler(roles []string, h func(rw http.ResponseWriter, r *http.Request, c *caller) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := w.identify(r)
		if c == nil {
			w.writeError(rw, r, fail(http.StatusUnauthorized, "unauthenticated", "sign in, or send Authorization: Bearer TOKEN"))
			return
		}
		if len(roles) > 0 && !contains(roles, c.Role) {
			w.writeError(rw, r, fail(http.StatusForbidden, "forbidden", "this is for %s accounts", strings.Join(roles, " or ")))
			return
		}
		if !checkCSRF(c, r) {
			w.writeError(rw, r, fail(http.StatusForbidden, "csrf", "missing or wrong CSRF token: send the session's token in X-CSRF-Token"))
			return
		}
		if err := h(rw, r, c); err != nil {
			w.writeError(rw, r, err)
		}
	})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
