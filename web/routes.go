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
func (w *Web) routes(register func(pattern string, h http.Handler)) {
	handle := func(pattern string, h http.Handler) { register(pattern, w.harden(h)) }
	api := func(pattern string, roles []string, h func(http.ResponseWriter, *http.Request, *caller) error) {
		handle(pattern, w.handler(roles, h))
	}
	page := func(pattern string, roles []string, h func(http.ResponseWriter, *http.Request, *caller) error) {
		handle(pattern, w.page(roles, h))
	}
	static, _ := fs.Sub(files, "static")
	handle("GET /static/", http.StripPrefix("/static/", cacheFor(filesOnly(static, http.FileServerFS(static)))))

	handle("POST /api/v1/tokens", http.HandlerFunc(w.createToken))
	handle("POST /api/v1/accounts", http.HandlerFunc(w.signUpAPI))
	handle("POST /api/v1/accounts/confirm", http.HandlerFunc(w.confirmAPI))
	handle("POST /api/v1/accounts/confirmation", http.HandlerFunc(w.resendAPI))
	handle("POST /api/v1/password-resets", http.HandlerFunc(w.resetRequestAPI))
	handle("POST /api/v1/password-resets/complete", http.HandlerFunc(w.resetAPI))
	handle("POST /api/v1/pair", http.HandlerFunc(w.pair))
	api("GET /api/v1/me", anyone, w.me)
	api("PATCH /api/v1/me", anyone, w.patchMe)
	api("DELETE /api/v1/me", owners, w.deleteMe)
	api("PUT /api/v1/me/password", anyone, w.putPassword)
	api("GET /api/v1/me/export", owners, w.exportMe)
	api("GET /api/v1/tokens", anyone, w.listTokens)
	api("DELETE /api/v1/tokens/{id}", anyone, w.revokeToken)
	api("GET /api/v1/vehicles", ownerAdmin, w.listVehicles)
	api("POST /api/v1/vehicles", owners, w.createVehicle)
	api("GET /api/v1/vehicles/{id}", ownerAdmin, w.getVehicle)
	api("PATCH /api/v1/vehicles/{id}", owners, w.patchVehicle)
	api("DELETE /api/v1/vehicles/{id}", owners, w.deleteVehicle)
	api("POST /api/v1/vehicles/{id}/pairing-codes", owners, w.createPairingCode)
	api("POST /api/v1/vehicles/{id}/clear-codes", owners, w.clearCodesAPI)
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
	api("GET /api/v1/shops", owners, w.browseShops)
	api("GET /api/v1/shops/{id}/reviews", anyone, w.reviews)
	api("GET /api/v1/shop/profile", shops, w.getShopProfile)
	api("PUT /api/v1/shop/profile", shops, w.putShopProfile)
	api("GET /api/v1/admin/shops", admins, w.listAdminShops)
	api("POST /api/v1/admin/shops/{id}/{action}", admins, w.reviewShopAPI)
	api("GET /api/v1/devices", ownerAdmin, w.listDevices)
	api("POST /api/v1/devices", admins, w.addDevice)
	api("DELETE /api/v1/devices/{id}", ownerAdmin, w.revokeDevice)
	handle("/api/", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.writeError(rw, r, fail(http.StatusNotFound, "not_found", "no API route %s %s", r.Method, r.URL.Path))
	}))

	handle("GET /login", http.HandlerFunc(w.loginPage))
	handle("POST /login", http.HandlerFunc(w.loginPost))
	handle("GET /signup", http.HandlerFunc(w.signUpPage))
	handle("POST /signup", http.HandlerFunc(w.signUpPost))
	handle("GET /confirm", http.HandlerFunc(w.confirmPage))
	handle("POST /confirm/resend", http.HandlerFunc(w.resendPost))
	handle("GET /reset", http.HandlerFunc(w.resetPage))
	handle("POST /reset", http.HandlerFunc(w.resetPost))
	handle("GET /reset/new", http.HandlerFunc(w.resetNewPage))
	handle("POST /reset/new", http.HandlerFunc(w.resetNewPost))
	page("GET /account", anyone, w.accountPage)
	page("POST /account/profile", anyone, w.profilePost)
	page("POST /account/password", anyone, w.passwordPost)
	page("POST /account/delete", owners, w.deletePost)
	page("GET /account/export", owners, w.exportPage)
	page("POST /logout", anyone, func(rw http.ResponseWriter, r *http.Request, c *caller) error {
		w.endSession(rw, r)
		http.Redirect(rw, r, "/login", http.StatusSeeOther)
		return nil
	})
	page("GET /{$}", anyone, func(rw http.ResponseWriter, r *http.Request, c *caller) error {
		to := landing(c.User, "/")
		http.Redirect(rw, r, to, http.StatusSeeOther)
		return nil
	})
	page("GET /garage", ownerAdmin, w.garagePage)
	page("GET /vehicles/new", owners, w.newVehiclePage)
	page("POST /vehicles/new", owners, w.newVehiclePost)
	page("GET /vehicles/{id}", ownerAdmin, w.vehiclePage)
	page("GET /vehicles/{id}/edit", owners, w.editVehiclePage)
	page("POST /vehicles/{id}/edit", owners, w.editVehiclePost)
	page("POST /vehicles/{id}/delete", owners, w.deleteVehiclePost)
	page("POST /vehicles/{id}/vin", owners, w.adoptVINPost)
	page("POST /vehicles/{id}/pair", owners, w.pairPost)
	page("POST /vehicles/{id}/clear-codes", owners, w.clearCodesPost)
	page("POST /vehicles/{id}/devices/{device}/revoke", owners, w.revokePost)
	page("GET /vehicles/{id}/diagnosis", ownerAdmin, w.diagnosisPage)
	page("POST /vehicles/{id}/leads", owners, w.leadPost)
	page("POST /alerts/{fingerprint}/snooze", owners, w.snoozePost)
	page("POST /vehicles/{id}/packages", owners, w.packagePost)
	page("GET /leads", owners, w.leadsPage)
	page("POST /leads/{id}/book", owners, w.bookPost)
	page("POST /leads/{id}/withdraw", owners, w.withdrawPost)
	page("GET /bookings", owners, w.bookingsPage)
	page("POST /bookings/{id}/{action}", owners, w.ownerActPost)
	page("GET /shops", owners, w.shopsPage)
	page("GET /shop", shops, w.shopPage)
	page("GET /shop/profile", shops, w.shopProfilePage)
	page("POST /shop/profile", shops, w.shopProfilePost)
	page("GET /admin", admins, w.adminPage)
	page("POST /admin/shops/{id}/{action}", admins, w.reviewShopPost)
	page("GET /shop/leads/{id}", shops, w.shopLeadPage)
	page("POST /shop/leads/{id}/quote", shops, w.quotePost)
	page("POST /shop/leads/{id}/decline", shops, w.declinePost)
	page("GET /shop/bookings", shops, w.bookingsPage)
	page("GET /shop/bookings/{id}", shops, w.shopBookingPage)
	page("POST /shop/bookings/{id}/{action}", shops, w.shopActPost)
}
