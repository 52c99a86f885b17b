package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/store"
)

// Roles.
const (
	RoleOwner = "owner"
	RoleShop  = "shop"
	RoleAdmin = "admin"
)

const (
	sessionCookie = "pitwall_session"
	loginCookie   = "pitwall_login" // the login form's CSRF pair
	sessionTTL    = 14 * 24 * time.Hour
)

// HashPassword checks a password against the password rule (see
// CheckPassword) and hashes it with bcrypt.
func HashPassword(pw, email string, cost int) (string, error) {
	if err := CheckPassword(pw, email); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	return string(h), err
}

func secret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// caller is who is asking.
type caller struct {
	store.User
	csrf   string // the session's CSRF token; empty for bearer tokens
	bearer bool
}

// location is the caller's time zone (UTC when unset or unknown).
func (c *caller) location() *time.Location {
	if loc, err := time.LoadLocation(c.TimeZone); err == nil && c.TimeZone != "" {
		return loc
	}
	return time.UTC
}

type ctxKey struct{}

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(ctxKey{}).(*caller)
	return c
}

// identify reads the bearer token or the session cookie. Who a secret
// belongs to is kept for a few seconds, so a busy client costs one store
// lookup every few seconds, not one a request; ending a session forgets
// it at once.
func (w *Web) identify(r *http.Request) *caller {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil
		}
		key := "b:" + hashSecret(strings.TrimSpace(tok))
		if c := w.who.get(key); c != nil {
			return c
		}
		u, err := w.st.TokenUser(ctx, key[2:])
		if err != nil {
			return nil
		}
		return w.who.put(key, &caller{User: u, bearer: true})
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	key := "s:" + hashSecret(ck.Value)
	if c := w.who.get(key); c != nil {
		return c
	}
	se, err := w.st.SessionByHash(ctx, key[2:])
	if err != nil {
		return nil
	}
	return w.who.put(key, &caller{User: se.User, csrf: se.CSRF})
}

// whoCache remembers callers by the hash of their secret for TTL.
type whoCache struct {
	mu sync.Mutex
	m  map[string]whoEntry
}

type whoEntry struct {
	c   *caller
	exp time.Time
}

const whoTTL = 5 * time.Second

func (c *whoCache) get(key string) *caller {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.exp) {
		return nil
	}
	return e.c
}

func (c *whoCache) put(key string, who *caller) *caller {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 100000 {
		c.m = map[string]whoEntry{}
	}
	c.m[key] = whoEntry{c: who, exp: time.Now().Add(whoTTL)}
	return who
}

func (c *whoCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// safe methods change nothing and need no CSRF token.
func safe(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF: a session's unsafe request must carry the session's token in
// the X-CSRF-Token header or the csrf form field. Bearer requests need
// none (a browser never sends them by itself).
func checkCSRF(c *caller, r *http.Request) bool {
	if c.bearer || safe(r.Method) {
		return true
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.csrf)) == 1
}

// startSession signs a user in: a new session, its cookie, its CSRF token.
func (w *Web) startSession(rw http.ResponseWriter, r *http.Request, u store.User) (string, error) {
	tok, csrf := secret(), secret()
	if err := w.st.AddSession(r.Context(), hashSecret(tok), u.ID, csrf, time.Now().Add(sessionTTL)); err != nil {
		return "", err
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: w.secure(r), MaxAge: int(sessionTTL.Seconds())})
	return csrf, nil
}

func (w *Web) endSession(rw http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		w.who.forget("s:" + hashSecret(ck.Value))
		_ = w.st.DeleteSession(r.Context(), hashSecret(ck.Value))
	}
	http.SetCookie(rw, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: w.secure(r), MaxAge: -1})
}

// errLogin is the one answer to a wrong email or password: it does not
// say which.
var errLogin = errors.New("wrong email or password")

// errUnconfirmed is a right password on an account whose address is not
// confirmed yet.
var errUnconfirmed = errors.New("confirm your email address first: follow the link we sent you, or ask for a new one")

// login checks a password. The attempt is counted against the address and
// the email before the password is checked, so guesses sent in parallel
// cannot all pass the limit while bcrypt runs; a success takes back its
// own count and clears the email's failures, never the address's.
func (w *Web) login(ctx context.Context, ip, email, password string) (store.User, error) {
	keys := signinKeys(ip, email)
	if wait := w.signins.attempt(keys...); wait > 0 {
		return store.User{}, &rateLimited{wait}
	}
	u, err := w.st.UserByEmail(ctx, email)
	if err != nil {
		// Spend the time a check would, so the answer does not tell which
		// addresses exist.
		_ = bcrypt.CompareHashAndPassword(w.dummyHash, []byte(password))
		return store.User{}, errLogin
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return store.User{}, errLogin
	}
	w.signins.takeBack(keys[0])
	w.signins.clear(keys[1])
	if u.Confirmed.IsZero() {
		return store.User{}, errUnconfirmed
	}
	return u, nil
}

func signinKeys(ip, email string) []string {
	return []string{"ip:" + ip, "email:" + strings.ToLower(strings.TrimSpace(email))}
}

type rateLimited struct{ wait time.Duration }

func (e *rateLimited) Error() string {
	return "too many attempts; try again in " + e.wait.Round(time.Second).String()
}

// limiter counts attempts per key: after Max attempts within Window, the
// key is refused until its oldest attempt leaves the window.
type limiter struct {
	Max    int
	Window time.Duration
	mu     sync.Mutex
	hits   map[string][]time.Time
	now    func() time.Time
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{Max: max, Window: window, hits: map[string][]time.Time{}, now: time.Now}
}

func (l *limiter) recent(k string, now time.Time) []time.Time {
	var keep []time.Time
	for _, t := range l.hits[k] {
		if now.Sub(t) < l.Window {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		delete(l.hits, k)
	} else {
		l.hits[k] = keep
	}
	return keep
}

// attempt counts one attempt against every key, in one step under the
// lock, unless one of them is over the limit: then nothing is counted and
// the wait is returned.
func (l *limiter) attempt(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		if r := l.recent(k, now); len(r) >= l.Max {
			wait = max(wait, l.Window-now.Sub(r[0]))
		}
	}
	if wait > 0 {
		return wait
	}
	if len(l.hits) > 100000 { // bounded: an attacker cannot grow it forever
		l.hits = map[string][]time.Time{}
	}
	for _, k := range keys {
		l.hits[k] = append(l.hits[k], now)
	}
	return 0
}

// takeBack forgets a key's newest attempt (a success that should not count).
func (l *limiter) takeBack(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hits[key]; len(h) > 0 {
		l.hits[key] = h[:len(h)-1]
	}
}

// clear forgets a key's attempts.
func (l *limiter) clear(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hits, key)
}

// clientIP is the address a request came from: the connection's, or,
// when that is a trusted proxy, the nearest address in X-Forwarded-For
// that is not one.
func (w *Web) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !w.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(h); err != nil {
			break
		}
		if !w.trusted(h) {
			return h
		}
	}
	return host
}

func (w *Web) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range w.proxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// secure says whether the browser reached us over HTTPS: directly, or
// through a trusted proxy that says so.
func (w *Web) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	return err == nil && w.trusted(host) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// TokenHash is how an API token is kept in the store; tools that mint
// tokens directly (the API benchmark) use it.
func TokenHash(tok string) string { return hashSecret(tok) }

func (w *Web) listTokens(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := w.st.Tokens(r.Context(), c.ID)
	if err != nil {
		return err
	}
	type tv struct {
		ID      string    `json:"id"`
		Name    string    `json:"name"`
		Created time.Time `json:"created"`
	}
	out := []tv{}
	for _, t := range ts {
		out = append(out, tv{t.ID, t.Name, t.Created})
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// revokeToken deletes one of the caller's tokens; it stops working at
// once on this server.
func (w *Web) revokeToken(rw http.ResponseWriter, r *http.Request, c *caller) error {
	hash, err := w.st.RevokeToken(r.Context(), c.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.who.forget("b:" + hash)
	w.writeJSON(rw, http.StatusOK, map[string]string{"id": r.PathValue("id"), "status": "revoked"})
	return nil
}
