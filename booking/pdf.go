package booking

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// BillDoc is what a printed bill says beside its lines: who, what, when.
type BillDoc struct {
	Number    string // the booking's id
	Shop      string
	ShopAddr  string
	Customer  string
	Vehicle   string // "2015 Ford Focus · 12-AB-34"
	Work      string
	Codes     []string
	Completed time.Time
	Odometer  float64
	Status    string
	Bill      Bill
}

// pdfDoc starts an A4 document in Helvetica. Its text streams are left
// uncompressed, so that a bill's lines and total can be found in its
// bytes by whoever checks it; a bill is a few kilobytes either way.
func pdfDoc(title string, made time.Time) (*fpdf.Fpdf, func(string) string) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(false)
	pdf.SetTitle(title, true)
	pdf.SetCreator("Pitwall", false)
	pdf.SetCreationDate(made)
	pdf.SetModificationDate(made)
	pdf.SetMargins(18, 18, 18)
	pdf.SetAutoPageBreak(true, 18)
	pdf.AddPage()
	return pdf, pdf.UnicodeTranslatorFromDescriptor("") // cp1252: €, –, accents
}

func pdfOut(pdf *fpdf.Fpdf) ([]byte, error) {
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("booking: writing the PDF: %w", err)
	}
	return buf.Bytes(), nil
}

// BillPDF is a booking's bill as a PDF: the shop and the customer, the
// car and the work, each line with its quantity, price and amount, the
// subtotal, tax and total, and the payments.
func BillPDF(d BillDoc) ([]byte, error) {
	pdf, tr := pdfDoc("Bill "+d.Number, d.Completed)
	pdf.SetFont("Helvetica", "B", 16)
	title := "Bill"
	if d.Status != Completed && d.Status != Reviewed {
		title = "Quote (job " + strings.ReplaceAll(d.Status, "_", " ") + ")"
	}
	pdf.CellFormat(0, 9, tr(title), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, l := range []string{
		d.Shop + optional(" · ", d.ShopAddr),
		"Booking " + d.Number + optional(" · completed ", dateOf(d.Completed)),
		"Customer: " + d.Customer,
		"Vehicle: " + d.Vehicle + optional(" · odometer ", kmOf(d.Odometer)),
		"Work: " + d.Work + optional(" · codes ", strings.Join(d.Codes, " ")),
	} {
		pdf.MultiCell(0, 5, tr(l), "", "L", false)
	}
	pdf.Ln(4)
	cols := []float64{10, 82, 18, 26, 28}
	pdf.SetFont("Helvetica", "B", 10)
	for i, h := range []string{"#", "Line", "Qty", "Each", "Amount"} {
		align := "R"
		if i == 1 {
			align = "L"
		}
		pdf.CellFormat(cols[i], 7, h, "B", 0, align, false, 0, "")
	}
	pdf.Ln(-1)
	pdf.SetFont("Helvetica", "", 10)
	for _, l := range d.Bill.Lines {
		if !l.Counts {
			continue // declined and withdrawn extras, and pending ones, are not billed
		}
		desc := l.Description
		if l.Kind == LabourLine {
			desc += " (labour, hours)"
		}
		if l.WarrantyMonths > 0 || l.WarrantyKm > 0 {
			desc += " · warranty " + warrantyText(l.WarrantyMonths, l.WarrantyKm)
		}
		pdf.CellFormat(cols[0], 6, fmt.Sprint(l.N), "", 0, "R", false, 0, "")
		pdf.CellFormat(cols[1], 6, tr(fit(desc, 52)), "", 0, "L", false, 0, "")
		pdf.CellFormat(cols[2], 6, trimNum(l.Quantity), "", 0, "R", false, 0, "")
		pdf.CellFormat(cols[3], 6, fmt.Sprintf("%.2f", l.UnitPrice), "", 0, "R", false, 0, "")
		pdf.CellFormat(cols[4], 6, fmt.Sprintf("%.2f", l.Amount), "", 1, "R", false, 0, "")
	}
	sum := func(label, v string, bold bool) {
		if bold {
			pdf.SetFont("Helvetica", "B", 11)
		}
		pdf.CellFormat(cols[0]+cols[1]+cols[2]+cols[3], 6, tr(label), "", 0, "R", false, 0, "")
		pdf.CellFormat(cols[4], 6, v, "", 1, "R", false, 0, "")
		pdf.SetFont("Helvetica", "", 10)
	}
	pdf.Ln(2)
	sum("Subtotal", fmt.Sprintf("%.2f", d.Bill.Subtotal), false)
	sum(fmt.Sprintf("Tax %s%%", trimNum(d.Bill.TaxRate)), fmt.Sprintf("%.2f", d.Bill.Tax), false)
	sum("Total "+d.Bill.Currency, fmt.Sprintf("%.2f", d.Bill.Total), true)
	for _, p := range d.Bill.Payments {
		sum(fmt.Sprintf("Paid by %s on %s", p.Method, p.Paid.UTC().Format("2 Jan 2006 15:04 MST")), fmt.Sprintf("%.2f", p.Amount), false)
	}
	if len(d.Bill.Payments) > 0 {
		sum("Due", fmt.Sprintf("%.2f", d.Bill.Due), false)
	}
	return pdfOut(pdf)
}

// RecordPDF is a car's service record as a PDF, for a buyer.
func RecordPDF(r Record) ([]byte, error) {
	pdf, tr := pdfDoc("Service record", r.Made)
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 9, tr(fmt.Sprintf("Service record: %d %s %s", r.Vehicle.Year, r.Vehicle.Make, r.Vehicle.Model)), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	if r.Vehicle.VIN != "" {
		pdf.CellFormat(0, 5, "VIN "+r.Vehicle.VIN, "", 1, "L", false, 0, "")
	}
	pdf.CellFormat(0, 5, "Made by Pitwall on "+r.Made.UTC().Format("2 Jan 2006"), "", 1, "L", false, 0, "")
	if len(r.Entries) == 0 {
		pdf.Ln(4)
		pdf.CellFormat(0, 6, "No jobs recorded yet.", "", 1, "L", false, 0, "")
	}
	for _, e := range r.Entries {
		pdf.Ln(4)
		pdf.SetFont("Helvetica", "B", 11)
		head := dateOf(e.Date) + " · " + e.Kind + optional(" · ", e.Shop) + optional(" · ", kmOf(e.OdometerKm))
		pdf.MultiCell(0, 6, tr(head), "B", "L", false)
		pdf.SetFont("Helvetica", "", 10)
		pdf.MultiCell(0, 5, tr(e.Work), "", "L", false)
		if len(e.Codes) > 0 {
			v := "codes fixed: " + strings.Join(e.Codes, " ")
			if e.Verify != "" {
				v += " · after the repair: " + e.Verify + optional(" (", e.VerifyNote) + map[bool]string{true: ")", false: ""}[e.VerifyNote != ""]
			}
			pdf.MultiCell(0, 5, tr(v), "", "L", false)
		}
		for _, l := range e.Lines {
			pdf.CellFormat(120, 5, tr(fit(fmt.Sprintf("%s × %s", trimNum(l.Quantity), l.Description), 70)), "", 0, "L", false, 0, "")
			pdf.CellFormat(0, 5, fmt.Sprintf("%.2f", l.Amount), "", 1, "R", false, 0, "")
		}
		if e.Total != 0 {
			pdf.CellFormat(120, 5, "Total "+e.Currency, "", 0, "L", false, 0, "")
			pdf.CellFormat(0, 5, fmt.Sprintf("%.2f", e.Total), "", 1, "R", false, 0, "")
		}
	}
	return pdfOut(pdf)
}

func optional(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006")
}

func kmOf(km float64) string {
	if km <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f km", km)
}

func trimNum(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func fit(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func warrantyText(months, km int) string {
	var parts []string
	if months > 0 {
		parts = append(parts, fmt.Sprintf("%d months", months))
	}
	if km > 0 {
		parts = append(parts, fmt.Sprintf("%d km", km))
	}
	return strings.Join(parts, " or ")
}
