package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

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
	u, err := w.login(r.Context(), clientIP(r), in.Email, in.Password)
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

func (w *Web) me(rw http.ResponseWriter, r *http.Request, c *caller) error {
	w.writeJSON(rw, http.StatusOK, map[string]any{"id": c.ID, "email": c.Email, "role": c.Role, "owner_id": c.OwnerID, "shop_id": c.ShopID, "csrf": c.csrf})
	return nil
}

type loginData struct {
	LoginCSRF, Next, Email string
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	tok := secret()
	http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600})
	w.render(rw, r, http.StatusOK, "login.html", pageData{Title: "Sign in", Data: loginData{LoginCSRF: tok, Next: safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a redirect on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.Contains(n, "\\") {
		return "/"
	}
	return n
}

func (w *Web) loginPost(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(rw, "the form is too large", http.StatusRequestEntityTooLarge)
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || r.PostFormValue("csrf") != ck.Value {
		w.render(rw, r, http.StatusForbidden, "error.html", pageData{Title: "Form expired", Data: "The sign-in form expired. Reload it and try again."})
		return
	}
	email, next := r.PostFormValue("email"), safeNext(r.PostFormValue("next"))
	u, err := w.login(r.Context(), clientIP(r), email, r.PostFormValue("password"))
	if err != nil {
		status := http.StatusUnauthorized
		var rl *rateLimited
		if errors.As(err, &rl) {
			status = http.StatusTooManyRequests
			rw.Header().Set("Retry-After", fmt.Sprint(int(rl.wait.Seconds())+1))
		}
		tok := secret()
		http.SetCookie(rw, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600})
		w.render(rw, r, status, "login.html", pageData{Title: "Sign in", Error: err.Error(), Data: loginData{LoginCSRF: tok, Next: next, Email: email}})
		return
	}
	if _, err := w.startSession(rw, r, u); err != nil {
		w.log.Error("web: starting a session", "err", err)
		http.Error(rw, "could not sign you in; this has been logged", http.StatusInternalServerError)
		return
	}
	if next == "/" && u.Role == RoleShop {
		next = "/shop"
	} else if next == "/" {
		next = "/garage"
	}
	http.Redirect(rw, r, next, http.StatusSeeOther)
}
