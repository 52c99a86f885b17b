package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pitwall-io/pitwall/booking"
)

// billDoc gathers what a printed bill says: the shop, the customer, the
// car, the work and the bill.
func (w *Web) billDoc(ctx context.Context, c *caller, id string) (booking.BillDoc, error) {
	b, err := w.bookingFor(ctx, c, id)
	if err != nil {
		return booking.BillDoc{}, err
	}
	role, actor := roleOf(c)
	_, bill, err := w.bk.Bill(ctx, role, actor, b.ID)
	if err != nil {
		return booking.BillDoc{}, err
	}
	v := w.bookingView(ctx, b)
	d := booking.BillDoc{Number: b.ID, Shop: v.ShopName, Customer: b.ContactName, Work: b.Work, Codes: b.Codes, Completed: b.Completed,
		Odometer: b.CompletedOdometer, Status: b.Status, Bill: bill,
		Vehicle: strings.TrimSpace(fmt.Sprintf("%d %s %s", v.Vehicle.Year, v.Vehicle.Make, v.Vehicle.Model))}
	if v.Vehicle.Plate != "" {
		d.Vehicle += " · " + v.Vehicle.Plate
	}
	if sh, err := w.st.Shop(ctx, b.ShopID); err == nil {
		d.ShopAddr = sh.Address
	}
	return d, nil
}

func (w *Web) billPage(rw http.ResponseWriter, r *http.Request, c *caller) error {
	d, err := w.billDoc(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	base := "/bookings/" + d.Number
	if c.Role == RoleShop {
		base = "/shop/bookings/" + d.Number
	}
	w.render(rw, r, http.StatusOK, "bill.html", pageData{Title: "Bill " + d.Number, Data: map[string]any{"Doc": d, "Base": base}})
	return nil
}

func (w *Web) billPDF(rw http.ResponseWriter, r *http.Request, c *caller) error {
	d, err := w.billDoc(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	pdf, err := booking.BillPDF(d)
	if err != nil {
		return err
	}
	writePDF(rw, "pitwall-bill-"+d.Number+".pdf", pdf)
	return nil
}

func (w *Web) recordPDF(rw http.ResponseWriter, r *http.Request, c *caller) error {
	rec, err := w.bk.Record(r.Context(), c.OwnerID, r.PathValue("id"))
	if err != nil {
		return err
	}
	pdf, err := booking.RecordPDF(rec)
	if err != nil {
		return err
	}
	writePDF(rw, "pitwall-service-record-"+r.PathValue("id")+".pdf", pdf)
	return nil
}

func writePDF(rw http.ResponseWriter, name string, pdf []byte) {
	rw.Header().Set("Content-Type", "application/pdf")
	rw.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(name))
	rw.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	rw.Header().Set("Cache-Control", "private, no-store")
	_, _ = rw.Write(pdf)
}
