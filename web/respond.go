package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// MaxBody bounds a request body.
const MaxBody = 64 << 10

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
	case errors.Is(err, booking.ErrNotYours), errors.Is(err, store.ErrNotFound), errors.Is(err, diagnosis.ErrNoData):
		return fail(http.StatusNotFound, "not_found", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrInvalid), errors.Is(err, store.ErrInvalid), errors.Is(err, diagnosis.ErrBadCode), errors.Is(err, diagnosis.ErrBadVIN):
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrPhotoType):
		return fail(http.StatusUnsupportedMediaType, "not_an_image", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrPhotoTooLarge):
		return fail(http.StatusRequestEntityTooLarge, "too_large", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrNoShop):
		return fail(http.StatusUnprocessableEntity, "no_shop", "%s", cleanMsg(err))
	case errors.Is(err, booking.ErrIllegal), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists), errors.Is(err, store.ErrFull):
		return fail(http.StatusConflict, "conflict", "%s", cleanMsg(err))
	case errors.Is(err, errLogin):
		return fail(http.StatusUnauthorized, "unauthenticated", "%s", err.Error())
	case errors.Is(err, errUnconfirmed):
		return fail(http.StatusForbidden, "unconfirmed", "%s", err.Error())
	case errors.Is(err, ErrWeakPassword):
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", err.Error())
	case errors.Is(err, store.ErrExpired):
		return fail(http.StatusGone, "gone", "%s", cleanMsg(err))
	}
	return fail(http.StatusInternalServerError, "internal", "something went wrong on our side; it has been logged")
}

// cleanMsg drops the package prefixes ("booking: invalid: ") a person
// need not read.
func cleanMsg(err error) string {
	m := err.Error()
	for _, p := range []string{"booking: invalid: ", "booking: not allowed: ", "booking: not found: ", "booking: no shop can take this job: ", "store: not found: ", "store: invalid value: ", "store: the record changed state: ", "store: already exists: ", "store: expired or used: "} {
		m = strings.Replace(m, p, "", 1)
	}
	return m
}

// writeJSON answers with v as JSON. The body is encoded before the status
// line is written, so a value that cannot be encoded (a non-finite
// number, say) is a logged 500, never a 200 with an empty body.
func (w *Web) writeJSON(rw http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		w.log.Error("web: encoding an answer", "status", status, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		_ = enc.Encode(map[string]*apiError{"error": fail(status, "internal", "something went wrong on our side; it has been logged")})
	}
	h := rw.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
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
	w.writeJSON(rw, ae.Status, map[string]*apiError{"error": ae})
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

// pageData is what every page template gets.
type pageData struct {
	Title  string
	User   *store.User
	CSRF   string
	Error  string
	Notice string
	Charts bool
	Data   any
	// Loc is the account's time zone (UTC before sign-in): every time on
	// a page is shown in it, in one format (When).
	Loc *time.Location
}

// TimeFormat is how every page shows a moment.
const TimeFormat = "Mon 2 Jan 2006, 15:04 MST"

// When shows a time in the account's zone; a zero time is blank.
func (d pageData) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	loc := d.Loc
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(TimeFormat)
}

// Zone is the account's time zone name, for the scripts.
func (d pageData) Zone() string {
	if d.Loc == nil {
		return "UTC"
	}
	return d.Loc.String()
}

func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Loc = time.UTC
	if c := callerOf(r); c != nil {
		d.User, d.CSRF, d.Loc = &c.User, c.csrf, c.location()
	}
	q := r.URL.Query()
	if d.Error == "" {
		d.Error = q.Get("error")
	}
	d.Notice = q.Get("notice")
	var buf bytes.Buffer
	if err := w.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		w.log.Error("web: rendering a page", "page", name, "err", err)
		http.Error(rw, "the page could not be drawn; this has been logged", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// page wraps a page handler: not signed in goes to /login, a wrong role
// or a bad CSRF token gets a 403 page; an error from a POST goes back to
// the referring page with the message, from a GET renders an error page.
func (w *Web) page(roles []string, h func(rw http.ResponseWriter, r *http.Request, c *caller) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c := w.identify(r)
		if c == nil || c.bearer {
			http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, c))
		if len(roles) > 0 && !contains(roles, c.Role) {
			w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Not for this account", Data: "This page is for " + strings.Join(roles, " or ") + " accounts."})
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(rw, r.Body, MaxBody)
			if err := r.ParseForm(); err != nil {
				w.render(rw, r, http.StatusRequestEntityTooLarge, "error.html", pageData{Title: "Form too large", Data: err.Error()})
				return
			}
		}
		if !checkCSRF(c, r) {
			w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Form expired", Data: "The form's security token is missing or belongs to another session. Go back, reload the page and try again."})
			return
		}
		if err := h(rw, r, c); err != nil {
			ae := classify(err)
			if ae.Status >= 500 {
				w.log.Error("web: page failed", "path", r.URL.Path, "err", err)
			}
			if r.Method == http.MethodPost {
				back := r.Referer()
				if u, err := url.Parse(back); err != nil || back == "" || u.Host != "" && u.Host != r.Host {
					back = "/"
				} else {
					back = u.Path
				}
				http.Redirect(rw, r, back+"?error="+url.QueryEscape(ae.Message), http.StatusSeeOther)
				return
			}
			w.render(rw, r, ae.Status, "error.html", pageData{Title: http.StatusText(ae.Status), Data: ae.Message})
		}
	})
}

// harden sets the headers every answer carries: no sniffing of types, no
// framing, no referrer to other sites, and, over HTTPS, HSTS.
func (w *Web) harden(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hd := rw.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if w.secure(r) {
			hd.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		h.ServeHTTP(rw, r)
	})
}

// filesOnly answers 404 for a directory: no listings.
func filesOnly(fsys fs.FS, h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if fi, err := fs.Stat(fsys, name); err != nil || fi.IsDir() || name == "" {
			http.NotFound(rw, r)
			return
		}
		h.ServeHTTP(rw, r)
	})
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(rw, r)
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
