package web

import (
	"io/fs"
	"net/http"
)

var (
	owners     = []string{RoleOwner}
	shops      = []string{RoleShop}
	admins     = []string{RoleAdmin}
	ownerAdmin = []string{RoleOwner, RoleAdmin}
	anyone     = []string(nil)
)

// routes is the one table of what the web side serves: handle is given
// each pattern and its handler (http.ServeMux.Handle, or a test's list).
func (w *Web) routes(handle func(pattern string, h http.Handler)) {
	api := func(pattern string, roles []string, h func(http.ResponseWriter, *http.Request, *caller) error) {
		handle(pattern, w.handler(roles, h))
	}
	page := func(pattern string, roles []string, h func(http.ResponseWriter, *http.Request, *caller) error) {
		handle(pattern, w.page(roles, h))
	}
	static, _ := fs.Sub(files, "static")
	handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))

	handle("POST /api/v1/tokens", http.HandlerFunc(w.createToken))
	api("GET /api/v1/me", anyone, w.me)
	api("GET /api/v1/tokens", anyone, w.listTokens)
	api("DELETE /api/v1/tokens/{id}", anyone, w.revokeToken)
	api("GET /api/v1/vehicles", ownerAdmin, w.listVehicles)
	api("GET /api/v1/vehicles/{id}", ownerAdmin, w.getVehicle)
	api("GET /api/v1/vehicles/{id}/history", ownerAdmin, w.history)
	api("GET /api/v1/vehicles/{id}/diagnosis", ownerAdmin, w.getDiagnosis)
	api("GET /api/v1/vehicles/{id}/reminders", owners, w.reminders)
	api("PUT /api/v1/vehicles/{id}/maintenance/{item}", owners, w.setInterval)
	api("GET /api/v1/vehicles/{id}/services", ownerAdmin, w.services)
	api("POST /api/v1/vehicles/{id}/services", owners, w.addService)
	api("GET /api/v1/alerts", ownerAdmin, w.alerts)
	api("POST /api/v1/alerts/{fingerprint}/snooze", owners, w.snooze)
	api("PUT /api/v1/me/quiet-hours", owners, w.quietHours)
	api("GET /api/v1/feed", owners, w.feed)
	api("GET /api/v1/live", ownerAdmin, w.live)
	api("POST /api/v1/leads", owners, w.createLead)
	api("GET /api/v1/leads", owners, w.listLeads)
	api("GET /api/v1/leads/{id}", owners, w.getLead)
	api("DELETE /api/v1/leads/{id}", owners, w.withdrawLead)
	api("POST /api/v1/leads/{id}/book", owners, w.bookLead)
	api("GET /api/v1/shop/leads", shops, w.inbox)
	api("GET /api/v1/shop/leads/{id}", shops, w.shopLead)
	api("POST /api/v1/shop/leads/{id}/quote", shops, w.quote)
	api("POST /api/v1/shop/leads/{id}/decline", shops, w.decline)
	api("POST /api/v1/bookings", owners, w.bookPackage)
	api("GET /api/v1/bookings", []string{RoleOwner, RoleShop}, w.listBookings)
	api("GET /api/v1/bookings/{id}", []string{RoleOwner, RoleShop}, w.getBooking)
	api("POST /api/v1/bookings/{id}/{action}", []string{RoleOwner, RoleShop}, w.actBooking)
	api("GET /api/v1/shops/{id}/reviews", anyone, w.reviews)
	api("GET /api/v1/devices", ownerAdmin, w.listDevices)
	api("POST /api/v1/devices", admins, w.addDevice)
	api("DELETE /api/v1/devices/{id}", admins, w.revokeDevice)
	handle("/api/", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.writeError(rw, r, fail(http.StatusNotFound, "not_found", "no API route %s %s", r.Method, r.URL.Path))
	}))

	handle("GET /login", http.HandlerFunc(w.loginPage))
	handle("POST /login", http.HandlerFunc(w.loginPost))
	page("POST /logout", anyone, func(rw http.ResponseWriter, r *http.Request, c *caller) error {
		w.endSession(rw, r)
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
		return nil
	})
	page("GET /{$}", anyone, func(rw http.ResponseWriter, r *http.Request, c *caller) error {
		to := "/garage"
		if c.Role == RoleShop {
			to = "/shop"
		}
		http.Redirect(rw, r, to, http.StatusSeeOther)
		return nil
	})
	page("GET /garage", ownerAdmin, w.garagePage)
	page("GET /vehicles/{id}", ownerAdmin, w.vehiclePage)
	page("GET /vehicles/{id}/diagnosis", ownerAdmin, w.diagnosisPage)
	page("POST /vehicles/{id}/leads", owners, w.leadPost)
	page("POST /alerts/{fingerprint}/snooze", owners, w.snoozePost)
	page("POST /vehicles/{id}/packages", owners, w.packagePost)
	page("GET /leads", owners, w.leadsPage)
	page("POST /leads/{id}/book", owners, w.bookPost)
	page("POST /leads/{id}/withdraw", owners, w.withdrawPost)
	page("GET /bookings", owners, w.bookingsPage)
	page("POST /bookings/{id}/{action}", owners, w.ownerActPost)
	page("GET /shop", shops, w.shopPage)
	page("GET /shop/leads/{id}", shops, w.shopLeadPage)
	page("POST /shop/leads/{id}/quote", shops, w.quotePost)
	page("POST /shop/leads/{id}/decline", shops, w.declinePost)
	page("GET /shop/bookings", shops, w.bookingsPage)
	page("GET /shop/bookings/{id}", shops, w.shopBookingPage)
	page("POST /shop/bookings/{id}/{action}", shops, w.shopActPost)
}
