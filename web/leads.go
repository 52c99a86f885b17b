package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// LeadView is a lead with its quotes, for its owner.
type LeadView struct {
	ID        string          `json:"id"`
	VehicleID string          `json:"vehicle_id"`
	Status    string          `json:"status"`
	Codes     []string        `json:"codes"`
	Symptoms  []string        `json:"symptoms,omitempty"`
	Summary   string          `json:"summary"`
	Fair      diagnosis.Money `json:"fair_price"`
	Consent   booking.Consent `json:"consent"`
	Created   time.Time       `json:"created"`
	Offers    []OfferView     `json:"offers"`
}

// OfferView is one shop's handling of a lead.
type OfferView struct {
	ShopID   string    `json:"shop_id"`
	ShopName string    `json:"shop_name"`
	Rank     int       `json:"rank"`
	State    string    `json:"state"`
	Quote    float64   `json:"quote,omitempty"`
	Slot     time.Time `json:"slot,omitzero"`
	Note     string    `json:"note,omitempty"`
	Due      time.Time `json:"answer_by,omitzero"`
	Reasons  []string  `json:"reasons,omitempty"`
	// Bill is an accepted quote's lines beside their fair ranges, with
	// its tax and total.
	Bill *booking.Bill `json:"bill,omitempty"`
}

func (w *Web) leadView(ctx context.Context, l store.Lead, offers []store.Offer) LeadView {
	lv := LeadView{ID: l.ID, VehicleID: l.VehicleID, Status: l.Status, Codes: l.Codes, Symptoms: l.Symptoms, Summary: l.Summary, Created: l.Created,
		Fair: diagnosis.Money{Low: l.FairLow, High: l.FairHigh, Currency: l.Currency}, Consent: booking.Consent{Report: l.ShareReport, VIN: l.ShareVIN, Location: l.ShareLocation, History: l.ShareHistory},
		Offers: []OfferView{}}
	for _, o := range offers {
		name := o.ShopID
		if sh, err := w.st.Shop(ctx, o.ShopID); err == nil {
			name = sh.Name
		}
		ov := OfferView{ShopID: o.ShopID, ShopName: name, Rank: o.Rank, State: o.State, Quote: o.Quote, Slot: o.Slot, Note: o.Note, Due: o.Due, Reasons: o.Reasons}
		if lines, err := w.st.OfferLines(ctx, l.ID, o.ShopID); err == nil && len(lines) > 0 {
			bill := w.bk.BillOf(lines, o.TaxBP, l.Currency, append(slices.Clip(l.Codes), l.Symptoms...), nil)
			ov.Bill = &bill
		}
		lv.Offers = append(lv.Offers, ov)
	}
	return lv
}

func (w *Web) createLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		VehicleID string          `json:"vehicle_id"`
		Consent   booking.Consent `json:"consent"`
		// Shops, when given, are who gets the lead (each among the
		// vehicle's matching shops); else the best few, in turn.
		Shops []string `json:"shops"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	lv, err := w.newLead(r.Context(), c, in.VehicleID, in.Consent, in.Shops)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, lv)
	return nil
}

func (w *Web) newLead(ctx context.Context, c *caller, vehicleID string, consent booking.Consent, shops []string) (LeadView, error) {
	if vehicleID == "" {
		return LeadView{}, fail(http.StatusUnprocessableEntity, "invalid", "vehicle_id: missing")
	}
	v, err := w.vehicleFor(ctx, c, vehicleID)
	if err != nil {
		return LeadView{}, err
	}
	rep, err := w.cars.Diagnose(ctx, v.ID)
	if err != nil {
		return LeadView{}, err
	}
	l, _, err := w.bk.CreateLead(ctx, c.OwnerID, v.ID, rep, consent, shops)
	if err != nil {
		return LeadView{}, err
	}
	offers, err := w.st.Offers(ctx, l.ID)
	if err != nil {
		return LeadView{}, err
	}
	return w.leadView(ctx, l, offers), nil
}

func (w *Web) listLeads(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ls, err := w.st.Leads(r.Context(), c.OwnerID)
	if err != nil {
		return err
	}
	out := []LeadView{}
	for _, l := range ls {
		offers, err := w.st.Offers(r.Context(), l.ID)
		if err != nil {
			return err
		}
		out = append(out, w.leadView(r.Context(), l, offers))
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"leads": out})
	return nil
}

func (w *Web) getLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	l, offers, err := w.bk.Quotes(r.Context(), c.OwnerID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, w.leadView(r.Context(), l, offers))
	return nil
}

func (w *Web) withdrawLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.bk.Withdraw(r.Context(), c.OwnerID, r.PathValue("id")); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"status": store.LeadWithdrawn})
	return nil
}

func (w *Web) bookLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		ShopID  string          `json:"shop_id"`
		Contact booking.Contact `json:"contact"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	b, err := w.bk.Book(r.Context(), c.OwnerID, r.PathValue("id"), in.ShopID, in.Contact)
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusCreated, w.bookingView(r.Context(), b))
	return nil
}

func (w *Web) leadPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	consent := booking.Consent{Report: r.PostFormValue("report") != "", VIN: r.PostFormValue("vin") != "", Location: r.PostFormValue("location") != "",
		History: r.PostFormValue("history") != ""}
	shops := r.PostForm["shop"]
	if len(shops) == 0 && r.PostFormValue("pick") != "" {
		return invalid("shops", "tick at least one shop to send the request to")
	}
	lv, err := w.newLead(r.Context(), c, r.PathValue("id"), consent, shops)
	if err != nil {
		return err
	}
	sent := 0
	for _, o := range lv.Offers {
		if o.State == store.OfferSent {
			sent++
		}
	}
	http.Redirect(rw, r, fmt.Sprintf("/leads?notice=%s#lead-%s", url.QueryEscape(fmt.Sprintf("Sent to %d shops; their quotes will appear here.", sent)), lv.ID), http.StatusSeeOther)
	return nil
}

func (w *Web) leadsPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ls, err := w.st.Leads(r.Context(), c.OwnerID)
	if err != nil {
		return err
	}
	var out []LeadView
	for _, l := range ls {
		offers, err := w.st.Offers(r.Context(), l.ID)
		if err != nil {
			return err
		}
		out = append(out, w.leadView(r.Context(), l, offers))
	}
	w.render(rw, r, http.StatusOK, "leads.html", pageData{Title: "Quotes", Data: map[string]any{"Leads": out}})
	return nil
}

func (w *Web) bookPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := w.bk.Book(r.Context(), c.OwnerID, r.PathValue("id"), r.PostFormValue("shop_id"), formContact(r)); err != nil {
		return err
	}
	http.Redirect(rw, r, "/bookings?notice="+url.QueryEscape("Booked. The shop confirms the booking and the drop-off time."), http.StatusSeeOther)
	return nil
}

func (w *Web) withdrawPost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.bk.Withdraw(r.Context(), c.OwnerID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/leads?notice="+url.QueryEscape("Withdrawn: the shops no longer see it, and what you shared is erased."), http.StatusSeeOther)
	return nil
}

func (w *Web) inbox(rw http.ResponseWriter, r *http.Request, c *caller) error {
	ls, err := w.bk.Inbox(r.Context(), c.ShopID)
	if err != nil {
		return err
	}
	if ls == nil {
		ls = []*booking.ShopView{}
	}
	w.writeJSON(rw, http.StatusOK, map[string]any{"leads": ls})
	return nil
}

func (w *Web) shopLead(rw http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := w.bk.ShopLead(r.Context(), c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, v)
	return nil
}

func (w *Web) quote(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Quote float64             `json:"quote"` // the job at one price before tax, or:
		Lines []booking.LineInput `json:"lines"` // the quote itemised
		Slot  time.Time           `json:"slot"`
		Note  string              `json:"note"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.bk.Quote(r.Context(), c.ShopID, r.PathValue("id"), booking.QuoteInput{Lines: in.Lines, Amount: in.Quote, Slot: in.Slot, Note: in.Note}); err != nil {
		return err
	}
	v, err := w.bk.ShopLead(r.Context(), c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, v)
	return nil
}

func (w *Web) decline(rw http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Note string `json:"note"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := w.bk.Answer(r.Context(), c.ShopID, r.PathValue("id"), false, 0, time.Time{}, in.Note); err != nil {
		return err
	}
	w.writeJSON(rw, http.StatusOK, map[string]string{"state": store.OfferDeclined})
	return nil
}

func (w *Web) shopPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	ls, err := w.bk.Inbox(r.Context(), c.ShopID)
	if err != nil {
		return err
	}
	w.render(rw, r, http.StatusOK, "shop.html", pageData{Title: "Leads", Data: map[string]any{"ShopName": sh.Name, "Leads": ls, "Status": sh.Status, "StatusNote": sh.StatusNote}})
	return nil
}

func (w *Web) shopLeadPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	l, err := w.bk.ShopLead(r.Context(), c.ShopID, r.PathValue("id"))
	if err != nil {
		return err
	}
	var rep *diagnosis.Report
	if len(l.Report) > 0 {
		rep = &diagnosis.Report{}
		if err := json.Unmarshal(l.Report, rep); err != nil {
			return err
		}
	}
	var rec *booking.Record // the car's service record, when the owner shared it
	if len(l.History) > 0 {
		rec = &booking.Record{}
		if err := json.Unmarshal(l.History, rec); err != nil {
			return err
		}
	}
	slot := ""
	if t, ok := sh.Earliest(time.Now(), nil); ok {
		slot = t.In(shopLoc(sh)).Format("2006-01-02T15:04")
	}
	w.render(rw, r, http.StatusOK, "shoplead.html", pageData{Title: "Lead", Data: map[string]any{"Lead": l, "Report": rep, "Record": rec, "SuggestedSlot": slot,
		"LineRows": []int{1, 2, 3, 4}}})
	return nil
}

func (w *Web) quotePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	sh, err := w.shopOf(r.Context(), c)
	if err != nil {
		return err
	}
	in, err := formInput(r, shopLoc(sh))
	if err != nil {
		return err
	}
	q := booking.QuoteInput{Slot: in.Slot, Note: r.PostFormValue("note")}
	if s := r.PostFormValue("quote"); s != "" {
		if q.Amount, err = strconv.ParseFloat(s, 64); err != nil {
			return fail(http.StatusUnprocessableEntity, "invalid", "quote: %q is not a number", s)
		}
	}
	if q.Lines, err = formLines(r); err != nil {
		return err
	}
	if err := w.bk.Quote(r.Context(), c.ShopID, r.PathValue("id"), q); err != nil {
		return err
	}
	http.Redirect(rw, r, "/shop?notice="+url.QueryEscape("Quote sent to the owner."), http.StatusSeeOther)
	return nil
}

func (w *Web) declinePost(rw http.ResponseWriter, r *http.Request, c *caller) error {
	if err := w.bk.Answer(r.Context(), c.ShopID, r.PathValue("id"), false, 0, time.Time{}, r.PostFormValue("note")); err != nil {
		return err
	}
	http.Redirect(rw, r, "/shop?notice="+url.QueryEscape("Declined; the lead moves on to another shop."), http.StatusSeeOther)
	return nil
}

// formContact reads what the owner chose to tell the shop they book.
func formContact(r *http.Request) booking.Contact {
	return booking.Contact{ShareEmail: r.PostFormValue("share_email") != "", SharePhone: r.PostFormValue("share_phone") != ""}
}
