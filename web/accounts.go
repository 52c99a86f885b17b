package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/store"
)

// How long emailed links work.
const (
	confirmTTL = 48 * time.Hour
	resetTTL   = time.Hour
)

// signUpInput is what a new account gives.
type signUpInput struct {
	Role     string `json:"role"` // owner or shop
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	TimeZone string `json:"timezone"`
	ShopName string `json:"shop_name"` // shops: the shop's name
}

// check cleans the input and names the first bad field.
func (in *signUpInput) check() error {
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	in.Name, in.ShopName, in.TimeZone = strings.TrimSpace(in.Name), strings.TrimSpace(in.ShopName), strings.TrimSpace(in.TimeZone)
	if in.Role == "" {
		in.Role = RoleOwner
	}
	if in.TimeZone == "" {
		in.TimeZone = "UTC"
	}
	switch {
	case in.Role != RoleOwner && in.Role != RoleShop:
		return invalid("role", "%q: want owner or shop", in.Role)
	case checkEmail(in.Email) != nil:
		return checkEmail(in.Email)
	case in.Name == "" || len(in.Name) > 100:
		return invalid("name", "give your name (at most 100 characters)")
	case !validZone(in.TimeZone):
		return invalid("timezone", "%q is no IANA time zone (like Europe/Lisbon)", in.TimeZone)
	case in.Role == RoleShop && (in.ShopName == "" || len(in.ShopName) > 100):
		return invalid("shop_name", "give the shop's name (at most 100 characters)")
	}
	if err := CheckPassword(in.Password, in.Email); err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", err)
	}
	return nil
}

// invalid is a 422 naming the field.
func invalid(field, format string, args ...any) *apiError {
	return fail(http.StatusUnprocessableEntity, "invalid", "%s: %s", field, fmt.Sprintf(format, args...))
}

func checkEmail(e string) error {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") {
		return invalid("email", "%q is not an email address", e)
	}
	return nil
}

func validZone(tz string) bool {
	if tz == "" || tz == "Local" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// signUp opens an account and emails its confirmation link. An address
// that has an account already gets a note saying so instead, and the
// answer is the same: sign-up does not tell who has an account.
func (w *Web) signUp(ctx context.Context, ip string, in signUpInput) error {
	if err := in.check(); err != nil {
		return err
	}
	if wait := w.signups.attempt("signup:" + ip); wait > 0 {
		return &rateLimited{wait}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), w.cost)
	if err != nil {
		return err
	}
	u := store.User{Email: in.Email, PasswordHash: string(hash), Role: in.Role, Name: in.Name, TimeZone: in.TimeZone}
	var sh *store.Shop
	if in.Role == RoleShop {
		sh = &store.Shop{Name: in.ShopName, Email: in.Email, TimeZone: in.TimeZone}
	}
	u, err = w.st.SignUp(ctx, u, sh)
	if errors.Is(err, store.ErrExists) {
		if old, err := w.st.UserByEmail(ctx, in.Email); err == nil {
			w.mail(ctx, old, "exists", "You already have an account",
				"Someone, probably you, tried to open a Pitwall account with this address, which has one already.\n\n"+
					"Sign in at "+w.url("/login")+", or set a new password at "+w.url("/reset")+".\n\nIf it was not you, you need do nothing.")
		}
		return nil
	}
	if err != nil {
		return err
	}
	return w.sendLink(ctx, u, store.LinkConfirm)
}

// url is an absolute link to a path of this server.
func (w *Web) url(path string) string { return strings.TrimRight(w.publicURL, "/") + path }

// sendLink emails a one-use link: a confirmation or a password reset. At
// most a few of each go to one account an hour.
func (w *Web) sendLink(ctx context.Context, u store.User, purpose string) error {
	if wait := w.mails.attempt("mail:" + purpose + ":" + u.ID); wait > 0 {
		w.log.Warn("web: not sending another link so soon", "user", u.ID, "purpose", purpose)
		return nil
	}
	tok := secret()
	ttl, path := confirmTTL, "/confirm"
	if purpose == store.LinkReset {
		ttl, path = resetTTL, "/reset/new"
	}
	if err := w.st.AddLink(ctx, store.Link{TokenHash: hashSecret(tok), UserID: u.ID, Purpose: purpose, Email: u.Email, Expires: time.Now().Add(ttl)}); err != nil {
		return err
	}
	link := w.url(path + "?token=" + url.QueryEscape(tok))
	hello := "Hello"
	if u.Name != "" {
		hello += " " + u.Name
	}
	switch purpose {
	case store.LinkConfirm:
		w.mail(ctx, u, purpose, "Confirm your account",
			fmt.Sprintf("%s,\n\nconfirm your address to start using Pitwall:\n\n%s\n\nThe link works once, for %d hours.", hello, link, int(ttl.Hours())))
	case store.LinkReset:
		w.mail(ctx, u, purpose, "Set a new password",
			fmt.Sprintf("%s,\n\nset a new Pitwall password here:\n\n%s\n\nThe link works once, for %d minutes. If you did not ask for it, ignore this email: your password stays as it is.", hello, link, int(ttl.Minutes())))
	}
	return nil
}

// mail sends an account email; without a mailer it goes to the log, so a
// server without SMTP can still be joined by its operator.
func (w *Web) mail(ctx context.Context, u store.User, kind, subject, body string) {
	if w.mailer == nil {
		w.log.Warn("web: no alerting.email configured; an account email is written to the log instead", "to", u.Email, "subject", subject, "body", body)
		return
	}
	id := kind + "-" + u.ID + "-" + fmt.Sprint(time.Now().UnixNano())
	if err := w.mailer.Send(ctx, u.Email, id, subject, body, time.Now()); err != nil {
		w.log.Error("web: sending an account email", "to", u.Email, "subject", subject, "err", err)
	}
}

// --- API ---

func (w *Web) signUpAPI(rw http.ResponseWriter, r *http.Request) {
	var in signUpInput
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	if err := w.signUp(r.Context(), w.clientIP(r), in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	w.writeJSON(rw, http.StatusAccepted, map[string]string{"status": "confirmation_sent", "email": in.Email,
		"message": "Check your email: follow the link in it to confirm the address, then sign in."})
}

func (w *Web) confirmAPI(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	u, err := w.useLink(r.Context(), in.Token, store.LinkConfirm)
	if err != nil {
		w.writeError(rw, r, err)
		return
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"confirmed": true, "email": u.Email})
}

// useLink spends an emailed link; a bad, expired or used one is a 410
// that says what to do.
func (w *Web) useLink(ctx context.Context, tok, purpose string) (store.User, error) {
	if tok == "" || len(tok) > 100 {
		return store.User{}, invalid("token", "missing or malformed")
	}
	u, err := w.st.UseLink(ctx, hashSecret(tok), purpose)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExpired) {
		what := "ask for a new confirmation email"
		if purpose == store.LinkReset {
			what = "ask for a new reset email"
		}
		return store.User{}, fail(http.StatusGone, "link_gone", "this link does not work any more (%s): %s", cleanMsg(err), what)
	}
	return u, err
}

func (w *Web) resendAPI(rw http.ResponseWriter, r *http.Request) {
	w.emailedLinkAPI(rw, r, store.LinkConfirm)
}

func (w *Web) resetRequestAPI(rw http.ResponseWriter, r *http.Request) {
	w.emailedLinkAPI(rw, r, store.LinkReset)
}

// emailedLinkAPI sends a link to an address if it has an account (and,
// for a confirmation, is not confirmed); the answer is the same either way.
func (w *Web) emailedLinkAPI(rw http.ResponseWriter, r *http.Request, purpose string) {
	var in struct {
		Email string `json:"email"`
	}
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	if err := w.emailLink(r.Context(), w.clientIP(r), in.Email, purpose); err != nil {
		w.writeError(rw, r, err)
		return
	}
	w.writeJSON(rw, http.StatusAccepted, map[string]string{"status": "sent_if_known", "message": "If the address has an account, an email is on its way."})
}

func (w *Web) emailLink(ctx context.Context, ip, email, purpose string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if err := checkEmail(email); err != nil {
		return err
	}
	if wait := w.mails.attempt("ip:" + ip); wait > 0 {
		return &rateLimited{wait}
	}
	u, err := w.st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) || err == nil && purpose == store.LinkConfirm && !u.Confirmed.IsZero() {
		return nil
	}
	if err != nil {
		return err
	}
	return w.sendLink(ctx, u, purpose)
}

func (w *Web) resetAPI(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	if err := w.reset(r.Context(), in.Token, in.Password); err != nil {
		w.writeError(rw, r, err)
		return
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"status": "password_set", "message": "Your password is set; sign in with it."})
}

// reset spends a reset link and sets the new password. The password is
// checked before the link is spent, so a weak one does not waste it.
func (w *Web) reset(ctx context.Context, tok, pw string) error {
	if err := CheckPassword(pw, ""); err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", err)
	}
	u, err := w.useLink(ctx, tok, store.LinkReset)
	if err != nil {
		return err
	}
	if err := CheckPassword(pw, u.Email); err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", err)
	}
	return w.setPassword(ctx, u, pw, "")
}

// setPassword sets a user's password and ends their other sessions, here
// and in the caller cache.
func (w *Web) setPassword(ctx context.Context, u store.User, pw, keepSession string) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), w.cost)
	if err != nil {
		return err
	}
	sessions, err := w.st.SessionsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := w.st.SetPassword(ctx, u.ID, string(hash), keepSession); err != nil {
		return err
	}
	for _, h := range sessions {
		if h != keepSession {
			w.who.forget("s:" + h)
		}
	}
	// A reset also proves the address.
	return nil
}

// AccountView is the caller's own account.
type AccountView struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"timezone"`
	Confirmed time.Time `json:"confirmed,omitzero"`
	OwnerID   string    `json:"owner_id,omitempty"`
	ShopID    string    `json:"shop_id,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	CSRF      string    `json:"csrf,omitempty"`
}

func (w *Web) account(ctx context.Context, c *caller) (AccountView, error) {
	u, err := w.st.User(ctx, c.ID)
	if err != nil {
		return AccountView{}, err
	}
	av := AccountView{ID: u.ID, Email: u.Email, Role: u.Role, Name: u.Name, TimeZone: u.TimeZone, Confirmed: u.Confirmed, OwnerID: u.OwnerID, ShopID: u.ShopID, CSRF: c.csrf}
	if u.OwnerID != "" {
		o, err := w.st.Owner(ctx, u.OwnerID)
		if err != nil {
			return AccountView{}, err
		}
		av.Phone = o.Phone
	}
	return av, nil
}

func (w *Web) me(rw http.ResponseWriter, r *http.Request, c *caller) error {
	av, err := w.account(r.Context(), c)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, av)
	return nil
}

// profileInput changes what the account says of its holder; absent
// fields stay.
type profileInput struct {
	Name     *string `json:"name"`
	TimeZone *string `json:"timezone"`
	Phone    *string `json:"phone"`
}

func (w *Web) updateProfile(ctx context.Context, c *caller, in profileInput) error {
	u, err := w.st.User(ctx, c.ID)
	if err != nil {
		return err
	}
	name, tz := u.Name, u.TimeZone
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
		if name == "" || len(name) > 100 {
			return invalid("name", "give a name of at most 100 characters")
		}
	}
	if in.TimeZone != nil {
		tz = strings.TrimSpace(*in.TimeZone)
		if !validZone(tz) {
			return invalid("timezone", "%q is no IANA time zone (like Europe/Lisbon)", tz)
		}
	}
	if in.Phone != nil {
		if c.OwnerID == "" {
			return invalid("phone", "only owners keep a phone number here; a shop's is in its profile")
		}
		p := strings.TrimSpace(*in.Phone)
		if !validPhone(p) {
			return invalid("phone", "%q: digits, spaces and + - ( ) only, at most 30", p)
		}
		if err := w.st.SetOwnerPhone(ctx, c.OwnerID, p); err != nil {
			return err
		}
	}
	if err := w.st.UpdateProfile(ctx, c.ID, name, tz); err != nil {
		return err
	}
	w.forgetCaller(ctx, c.ID)
	return nil
}

// forgetCaller drops a user's cached sessions, so a change to the account
// shows on the next request.
func (w *Web) forgetCaller(ctx context.Context, userID string) {
	if hs, err := w.st.SessionsOf(ctx, userID); err == nil {
		for _, h := range hs {
			w.who.forget("s:" + h)
		}
	}
}

func validPhone(p string) bool {
	if len(p) > 30 {
		return false
	}
	for _, r := range p {
		if !strings.ContainsRune("0123456789 +-()", r) {
			return false
		}
	}
	return true
}

func (w *Web) patchMe(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in profileInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.updateProfile(r.Context(), c, in); err != nil {
		return err
	}
	return w.me(rw, r, c)
}

func (w *Web) changePassword(ctx context.Context, r *http.Request, c *caller, current, next string) error {
	u, err := w.st.User(ctx, c.ID)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		return invalid("current", "that is not your current password")
	}
	if err := CheckPassword(next, u.Email); err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid", "%s", err)
	}
	keep := ""
	if ck, err := r.Cookie(sessionCookie); err == nil && !c.bearer {
		keep = hashSecret(ck.Value)
	}
	return w.setPassword(ctx, u, next, keep)
}

func (w *Web) putPassword(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.changePassword(r.Context(), r, c, in.Current, in.New); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"status": "password_changed", "message": "Your password is changed; your other sessions are signed out."})
	return nil
}

// deleteAccount erases an owner's account: the password confirms it.
func (w *Web) deleteAccount(ctx context.Context, c *caller, password string) error {
	if c.Role != RoleOwner {
		return fail(http.StatusForbidden, "forbidden", "only an owner's account is deleted here; a shop asks the administrator to close it")
	}
	u, err := w.st.User(ctx, c.ID)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return invalid("password", "that is not your password")
	}
	sessions, err := w.st.SessionsOf(ctx, u.ID)
	if err != nil {
		return err
	}
	tokens, err := w.st.TokenHashes(ctx, u.ID)
	if err != nil {
		return err
	}
	devices, err := w.st.EraseOwner(ctx, u.OwnerID)
	if err != nil {
		return err
	}
	for _, h := range sessions {
		w.who.forget("s:" + h)
	}
	for _, h := range tokens {
		w.who.forget("b:" + h)
	}
	w.eraseDevices(ctx, devices)
	w.log.Info("web: an owner deleted their account", "user", u.ID, "devices", len(devices))
	return nil
}

// eraseDevices cuts erased devices' broker sessions and erases their
// series; a failure is logged (the store no longer knows them, so they
// cannot log in again).
func (w *Web) eraseDevices(ctx context.Context, devices []string) {
	for _, d := range devices {
		if err := w.fleet.EraseDevice(ctx, d); err != nil {
			w.log.Error("web: erasing a device's data", "device", d, "err", err)
		}
	}
}

func (w *Web) deleteMe(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.deleteAccount(r.Context(), c, in.Password); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"status": "deleted", "message": "Your account and your cars' data are erased."})
	return nil
}

// --- pages ---

type loginData struct {
	LoginCSRF, Next, Email string
	Unconfirmed            bool
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "login.html", pageData{Title: "Sign in", Data: loginData{LoginCSRF: w.formToken(rw, r), Next: safeNext(r.URL.Query().Get("next"))}})
}

// formToken sets the double-submit token of the forms people use before
// they have a session (sign-in, sign-up, reset) and returns it.
func (w *Web) formToken(rw http.ResponseWriter, r *http.Request) string {
	tok := secret()
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: w.secure(r), MaxAge: 3600})
	return tok
}

// formOK checks a session-less form's double-submit token.
func formOK(r *http.Request) bool {
	ck, err := r.Cookie(loginCookie)
	return err == nil && ck.Value != "" && r.PostFormValue("csrf") == ck.Value
}

// publicForm parses a form posted without a session and checks its token;
// it renders the error itself and says whether to go on.
func (w *Web) publicForm(rw http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(rw, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		w.render(rw, r, http.StatusRequestEntityTooLarge, "error.html", pageData{Title: "Form too large", Data: err.Error()})
		return false
	}
	if !formOK(r) {
		w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Form expired", Data: "The form expired. Reload it and try again."})
		return false
	}
	return true
}

// safeNext keeps a redirect on this site: a path only, no scheme, no host
// (also none a browser would read into "//host" or "/\host"), no control
// characters.
func safeNext(n string) string {
	if n == "" || len(n) > 2000 || !strings.HasPrefix(n, "/") {
		return "/"
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(n, "//") {
		return "/"
	}
	// Browsers drop tabs and newlines and read "/%2F" variants as paths:
	// keep what the parser made of it, nothing else.
	out := u.EscapedPath()
	if strings.HasPrefix(out, "//") {
		return "/"
	}
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	if !w.publicForm(rw, r) {
		return
	}
	email, next := r.PostFormValue("email"), safeNext(r.PostFormValue("next"))
	u, err := w.login(r.Context(), w.clientIP(r), email, r.PostFormValue("password"))
	if err != nil {
		status := http.StatusUnauthorized
		var rl *rateLimited
		if errors.As(err, &rl) {
			status = http.StatusTooManyRequests
			rw.Header().Set("Retry-After", fmt.Sprint(int(rl.wait.Seconds())+1))
		}
		if errors.Is(err, errUnconfirmed) {
			status = http.StatusForbidden
		}
		w.render(rw, r, status, "login.html", pageData{Title: "Sign in", Error: err.Error(),
			Data: loginData{LoginCSRF: w.formToken(rw, r), Next: next, Email: email, Unconfirmed: errors.Is(err, errUnconfirmed)}})
		return
	}
	if _, err := w.startSession(rw, r, u); err != nil {
		w.log.Error("web: starting a session", "err", err)
		http.Error(rw, "could not sign you in; this has been logged", http.StatusInternalServerError)
		return
	}
	http.Redirect(rw, r, landing(u, next), http.StatusSeeOther)
}

// landing is where a user goes after signing in when next says nothing.
func landing(u store.User, next string) string {
	if next != "/" {
		return next
	}
	switch u.Role {
	case RoleShop:
		return "/shop"
	case RoleAdmin:
		return "/admin"
	}
	return "/garage"
}

type signUpData struct {
	FormCSRF string
	In       signUpInput
	Zones    []string
}

func (w *Web) signUpPage(rw http.ResponseWriter, r *http.Request) {
	in := signUpInput{Role: r.URL.Query().Get("role")}
	if in.Role != RoleShop {
		in.Role = RoleOwner
	}
	w.render(rw, r, http.StatusOK, "signup.html", pageData{Title: "Create an account", Data: signUpData{FormCSRF: w.formToken(rw, r), In: in, Zones: zones}})
}

func (w *Web) signUpPost(rw http.ResponseWriter, r *http.Request) {
	if !w.publicForm(rw, r) {
		return
	}
	in := signUpInput{Role: r.PostFormValue("role"), Email: r.PostFormValue("email"), Password: r.PostFormValue("password"),
		Name: r.PostFormValue("name"), TimeZone: r.PostFormValue("timezone"), ShopName: r.PostFormValue("shop_name")}
	if err := w.signUp(r.Context(), w.clientIP(r), in); err != nil {
		ae := classify(err)
		in.Password = ""
		w.render(rw, r, ae.Status, "signup.html", pageData{Title: "Create an account", Error: ae.Message, Data: signUpData{FormCSRF: w.formToken(rw, r), In: in, Zones: zones}})
		return
	}
	w.render(rw, r, http.StatusOK, "message.html", pageData{Title: "Check your email",
		Data: "We sent a link to " + strings.ToLower(strings.TrimSpace(in.Email)) + ". Follow it to confirm the address; it signs you in."})
}

// confirmPage spends a confirmation link and signs its holder in: the
// link proves the address.
func (w *Web) confirmPage(rw http.ResponseWriter, r *http.Request) {
	u, err := w.useLink(r.Context(), r.URL.Query().Get("token"), store.LinkConfirm)
	if err != nil {
		ae := classify(err)
		w.render(rw, r, ae.Status, "message.html", pageData{Title: "This link does not work", Error: ae.Message, Data: "Sign in and ask for a new confirmation email on the sign-in page."})
		return
	}
	if _, err := w.startSession(rw, r, u); err != nil {
		w.log.Error("web: starting a session", "err", err)
		http.Error(rw, "could not sign you in; this has been logged", http.StatusInternalServerError)
		return
	}
	to, note := "/garage", "Your address is confirmed. Add your car to start."
	if u.Role == RoleShop {
		to, note = "/shop/profile", "Your address is confirmed. Fill in your shop's profile; an administrator approves it before leads arrive."
	}
	http.Redirect(rw, r, to+"?notice="+url.QueryEscape(note), http.StatusSeeOther)
}

func (w *Web) resendPost(rw http.ResponseWriter, r *http.Request) {
	if !w.publicForm(rw, r) {
		return
	}
	if err := w.emailLink(r.Context(), w.clientIP(r), r.PostFormValue("email"), store.LinkConfirm); err != nil {
		ae := classify(err)
		w.render(rw, r, ae.Status, "message.html", pageData{Title: "Could not send", Error: ae.Message})
		return
	}
	w.render(rw, r, http.StatusOK, "message.html", pageData{Title: "Check your email", Data: "If the address has an unconfirmed account, a new link is on its way."})
}

func (w *Web) resetPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "reset.html", pageData{Title: "Forgot your password?", Data: map[string]string{"FormCSRF": w.formToken(rw, r)}})
}

func (w *Web) resetPost(rw http.ResponseWriter, r *http.Request) {
	if !w.publicForm(rw, r) {
		return
	}
	if err := w.emailLink(r.Context(), w.clientIP(r), r.PostFormValue("email"), store.LinkReset); err != nil {
		ae := classify(err)
		w.render(rw, r, ae.Status, "reset.html", pageData{Title: "Forgot your password?", Error: ae.Message, Data: map[string]string{"FormCSRF": w.formToken(rw, r)}})
		return
	}
	w.render(rw, r, http.StatusOK, "message.html", pageData{Title: "Check your email", Data: "If the address has an account, a link to set a new password is on its way. It works for an hour."})
}

func (w *Web) resetNewPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "resetnew.html", pageData{Title: "Set a new password",
		Data: map[string]string{"FormCSRF": w.formToken(rw, r), "Token": r.URL.Query().Get("token")}})
}

func (w *Web) resetNewPost(rw http.ResponseWriter, r *http.Request) {
	if !w.publicForm(rw, r) {
		return
	}
	tok := r.PostFormValue("token")
	if err := w.reset(r.Context(), tok, r.PostFormValue("password")); err != nil {
		ae := classify(err)
		w.render(rw, r, ae.Status, "resetnew.html", pageData{Title: "Set a new password", Error: ae.Message,
			Data: map[string]string{"FormCSRF": w.formToken(rw, r), "Token": tok}})
		return
	}
	http.Redirect(rw, r, "/login?notice="+url.QueryEscape("Your password is set. Sign in with it."), http.StatusSeeOther)
}

func (w *Web) accountPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	av, err := w.account(r.Context(), c)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "account.html", pageData{Title: "Your account", Data: map[string]any{"Account": av, "Zones": zones}})
	return nil
}

func (w *Web) profilePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	name, tz := r.PostFormValue("name"), r.PostFormValue("timezone")
	in := profileInput{Name: &name, TimeZone: &tz}
	if c.OwnerID != "" {
		phone := r.PostFormValue("phone")
		in.Phone = &phone
	}
	if err := w.updateProfile(r.Context(), c, in); err != nil {
		return err
	}
	http.Redirect(rw, r, "/account?notice="+url.QueryEscape("Saved."), http.StatusSeeOther)
	return nil
}

func (w *Web) passwordPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.changePassword(r.Context(), r, c, r.PostFormValue("current"), r.PostFormValue("new")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/account?notice="+url.QueryEscape("Password changed; your other sessions are signed out."), http.StatusSeeOther)
	return nil
}

func (w *Web) deletePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if r.PostFormValue("confirm") != "delete" {
		return invalid("confirm", "type delete to confirm")
	}
	if err := w.deleteAccount(r.Context(), c, r.PostFormValue("password")); err != nil {
		return err
	}
	w.endSession(rw, r)
	w.render(rw, r, http.StatusOK, "message.html", pageData{Title: "Account deleted", Data: "Your account, your cars and their data are erased. Shops you booked keep the job's record without your name or contact."})
	return nil
}

// zones are offered in the time-zone field; any IANA name is accepted.
var zones = []string{
	"UTC", "Europe/Lisbon", "Europe/London", "Europe/Dublin", "Europe/Madrid", "Europe/Paris", "Europe/Brussels", "Europe/Amsterdam",
	"Europe/Berlin", "Europe/Zurich", "Europe/Rome", "Europe/Vienna", "Europe/Prague", "Europe/Warsaw", "Europe/Stockholm", "Europe/Oslo",
	"Europe/Copenhagen", "Europe/Helsinki", "Europe/Athens", "Europe/Bucharest", "Europe/Istanbul", "Europe/Kyiv", "Atlantic/Azores",
	"Atlantic/Madeira", "Atlantic/Canary", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
	"America/Toronto", "America/Mexico_City", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "Africa/Johannesburg", "Africa/Lagos",
	"Africa/Cairo", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo", "Asia/Seoul", "Australia/Sydney",
	"Pacific/Auckland",
}

// createToken trades an email and password for an API token.
func (w *Web) createToken(rw http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		w.writeError(rw, r, err)
		return
	}
	u, err := w.login(r.Context(), w.clientIP(r), in.Email, in.Password)
	if err != nil {
		w.writeError(rw, r, err)
		return
	}
	tok := "pw_" + secret()
	if in.Name == "" {
		in.Name = "api"
	}
	if err := w.st.AddToken(r.Context(), hashSecret(tok), u.ID, in.Name); err != nil {
		w.writeError(rw, r, err)
		return
	}
	w.writeJSON(rw, http.StatusCreated, map[string]any{"token": tok, "role": u.Role})
}
