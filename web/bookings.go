package web

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/store"
)

// BookingView is a booking as owners and shops see it.
type BookingView struct {
	ID           string    `json:"id"`
	LeadID       string    `json:"lead_id,omitempty"`
	ShopID       string    `json:"shop_id"`
	VehicleID    string    `json:"vehicle_id"`
	Kind         string    `json:"kind"`
	Status       string    `json:"status"`
	Slot         time.Time `json:"slot"`
	Price        float64   `json:"price"`
	Currency     string    `json:"currency"`
	Codes        []string  `json:"codes,omitempty"`
	Symptoms     []string  `json:"symptoms,omitempty"` // faults seen in the live data the job is to fix
	Work         string    `json:"work"`
	Cancel       string    `json:"cancel_reason,omitempty"`
	Completed    time.Time `json:"completed,omitzero"`
	Verify       string    `json:"verify,omitempty"`
	VerifyNote   string    `json:"verify_note,omitempty"`
	VerifyCycles int       `json:"verify_cycles,omitempty"`
	// The car and who brings it, as the owner chose to tell the shop.
	Vehicle  BookedVehicle `json:"vehicle"`
	Contact  BookedContact `json:"contact"`
	ShopName string        `json:"shop_name,omitempty"`
}

// BookedVehicle is the car a booking is for.
type BookedVehicle struct {
	Make  string `json:"make"`
	Model string `json:"model"`
	Year  int    `json:"year"`
	Plate string `json:"plate,omitempty"`
}

// BookedContact is who is coming: the owner's name and what they chose to
// give.
type BookedContact struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// bookingViews reads each booking's car and shop once.
func (w *Web) bookingViews(ctx context.Context, bs []store.Booking) []BookingView {
	cars := map[string]store.Vehicle{}
	shopNames := map[string]string{}
	out := make([]BookingView, 0, len(bs))
	for _, b := range bs {
		v, ok := cars[b.VehicleID]
		if !ok {
			v, _ = w.st.Vehicle(ctx, b.VehicleID)
			cars[b.VehicleID] = v
		}
		name, ok := shopNames[b.ShopID]
		if !ok {
			if sh, err := w.st.Shop(ctx, b.ShopID); err == nil {
				name = sh.Name
			}
			shopNames[b.ShopID] = name
		}
		out = append(out, BookingView{ID: b.ID, LeadID: b.LeadID, ShopID: b.ShopID, VehicleID: b.VehicleID, Kind: b.Kind, Status: b.Status, Slot: b.Slot, Price: b.Price,
			Currency: b.Currency, Codes: b.Codes, Symptoms: b.Symptoms, Work: b.Work, Cancel: b.Cancel, Completed: b.Completed, Verify: b.Verify, VerifyNote: b.VerifyNote, VerifyCycles: b.VerifyCycles,
			Vehicle:  BookedVehicle{Make: v.Make, Model: v.Model, Year: v.Year, Plate: b.Plate},
			Contact:  BookedContact{Name: b.ContactName, Email: b.ContactEmail, Phone: b.ContactPhone},
			ShopName: name})
	}
	return out
}

func (w *Web) bookingView(ctx context.Context, b store.Booking) BookingView {
	return w.bookingViews(ctx, []store.Booking{b})[0]
}

func (w *Web) bookPackage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		VehicleID string          `json:"vehicle_id"`
		ShopID    string          `json:"shop_id"`
		Item      string          `json:"item"`
		Slot      time.Time       `json:"slot"`
		Contact   booking.Contact `json:"contact"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	b, err := w.bk.BookPackage(r.Context(), c.OwnerID, in.VehicleID, in.ShopID, in.Item, in.Slot, in.Contact)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, w.bookingView(r.Context(), b))
	return nil
}

func (w *Web) bookingsOf(ctx context.Context, c *caller) ([]store.Booking, error) {
	if c.Role == RoleShop {
		return w.st.Bookings(ctx, store.BookingFilter{ShopID: c.ShopID})
	}
	return w.st.Bookings(ctx, store.BookingFilter{OwnerID: c.OwnerID})
}

func (w *Web) listBookings(rw http.ResponseWriter, r *http.Request, c *caller) error {
	bs, err := w.bookingsOf(r.Context(), c)
	if err != nil {
		return err
	}
	out := w.bookingViews(r.Context(), bs)
	w.writeJSON(rw, http.StatusOK, map[string]any{"bookings": out})
	return nil
}

// bookingFor reads a booking the caller is party to.
func (w *Web) bookingFor(ctx context.Context, c *caller, id string) (store.Booking, error) {
	b, err := w.st.Booking(ctx, id)
	if err != nil {
		return b, err
	}
	if c.Role == RoleOwner && b.OwnerID == c.OwnerID || c.Role == RoleShop && b.ShopID == c.ShopID {
		return b, nil
	}
	return store.Booking{}, fail(http.StatusNotFound, "not_found", "booking %s: not found", id)
}

func (w *Web) getBooking(rw http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, w.bookingView(r.Context(), b))
	return nil
}

func (w *Web) actBooking(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.Action(r.PathValue("action"))
	if !slices.Contains(booking.Actions(), a) {
		return fail(http.StatusNotFound, "not_found", "no booking action %q; want one of accept, schedule, start, complete, review, cancel", a)
	}
	var in struct {
		Slot     time.Time `json:"slot"`
		Price    float64   `json:"price"`
		Work     string    `json:"work"`
		Odometer float64   `json:"odometer_km"`
		Stars    int       `json:"stars"`
		Review   string    `json:"review"`
		Reason   string    `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	b, err := w.act(r.Context(), c, r.PathValue("id"), a, booking.Input{Slot: in.Slot, Price: in.Price, Work: in.Work, Odometer: in.Odometer, Stars: in.Stars, Review: in.Review, Reason: in.Reason})
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, w.bookingView(r.Context(), b))
	return nil
}

func (w *Web) act(ctx context.Context, c *caller, id string, a booking.Action, in booking.Input) (store.Booking, error) {
	role, actor := booking.OwnerRole, c.OwnerID
	if c.Role == RoleShop {
		role, actor = booking.ShopRole, c.ShopID
	}
	return w.bk.Act(ctx, role, actor, id, a, in)
}

func (w *Web) reviews(rw http.ResponseWriter, r *http.Request, c *caller) error {
	rs, err := w.st.Reviews(r.Context(), r.PathValue("id"), 100)
	if err != nil {
		return err
	}
	type rv struct {
		Stars   int       `json:"stars"`
		Review  string    `json:"review"`
		Created time.Time `json:"created"`
	}
	out := []rv{}
	for _, x := range rs {
		out = append(out, rv{x.Stars, x.Body, x.Created})
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"reviews": out})
	return nil
}

func (w *Web) bookingsPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	bs, err := w.bookingsOf(r.Context(), c)
	if err != nil {
		return err
	}
	out := w.bookingViews(r.Context(), bs)
	w.render(rw, r, http.StatusOK, "bookings.html", pageData{Title: "Bookings", Data: map[string]any{"Bookings": out}})
	return nil
}

func formInput(r *http.Request, loc *time.Location) (booking.Input, error) {
	in := booking.Input{Work: r.PostFormValue("work"), Review: r.PostFormValue("review"), Reason: r.PostFormValue("reason")}
	for name, dst := range map[string]*float64{"price": &in.Price, "odometer_km": &in.Odometer} {
		if s := r.PostFormValue(name); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return in, fail(http.StatusUnprocessableEntity, "invalid", "%s: %q is not a number", name, s)
			}
			*dst = v
		}
	}
	if s := r.PostFormValue("stars"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return in, fail(http.StatusUnprocessableEntity, "invalid", "stars: %q is not a number", s)
		}
		in.Stars = n
	}
	if s := r.PostFormValue("slot"); s != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
		if err != nil {
			return in, fail(http.StatusUnprocessableEntity, "invalid", "slot: %q: want a date and time", s)
		}
		in.Slot = t
	}
	return in, nil
}

func (w *Web) ownerActPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.Action(r.PathValue("action"))
	if a != booking.Review && a != booking.Cancel {
		return fail(http.StatusNotFound, "not_found", "no such action")
	}
	in, err := formInput(r, time.UTC)
	if err != nil {
		return err
	}
	if _, err := w.act(r.Context(), c, r.PathValue("id"), a, in); err != nil {
		return err
	}
	http.Redirect(rw, r, "/bookings?notice="+url.QueryEscape("Done."), http.StatusSeeOther)
	return nil
}

func (w *Web) shopBookingPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	b, err := w.bookingFor(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	var revs []store.Review
	all, err := w.st.Reviews(r.Context(), c.ShopID, 100)
	if err != nil {
		return err
	}
	for _, rv := range all {
		if rv.BookingID == b.ID {
			revs = append(revs, rv)
		}
	}
	l, err := w.loop(r.Context(), c, b)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "shopbooking.html", pageData{Title: "Booking", Data: map[string]any{"Booking": l.Booking, "Reviews": revs, "Loop": l,
		"Slot": b.Slot.In(shopLoc(sh)).Format("2006-01-02T15:04")}})
	return nil
}

func (w *Web) shopActPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	a := booking.Action(r.PathValue("action"))
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	in, err := formInput(r, shopLoc(sh))
	if err != nil {
		return err
	}
	if _, err := w.act(r.Context(), c, r.PathValue("id"), a, in); err != nil {
		return err
	}
	http.Redirect(rw, r, "/shop/bookings/"+r.PathValue("id")+"?notice="+url.QueryEscape("Saved."), http.StatusSeeOther)
	return nil
}
