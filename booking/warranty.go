package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// Warranty claim statuses.
const (
	ClaimOpen     = "open"     // with the shop
	ClaimAccepted = "accepted" // the shop takes it on
	ClaimDeclined = "declined" // the shop says it is not covered, and why
)

// Evidence is what a warranty claim carries: the codes that came back and
// their freeze frames, when the car reported them, the repair it follows
// and the drives between, and the lines whose warranty covers the fault.
type Evidence struct {
	Codes        []string                `json:"codes"`
	FreezeFrames []diagnosis.FreezeFrame `json:"freeze_frames,omitempty"`
	ReportedAt   time.Time               `json:"reported_at"`
	RepairedAt   time.Time               `json:"repaired_at"`
	// OdometerAtRepairKm and OdometerKm are 0 when not known.
	OdometerAtRepairKm float64     `json:"odometer_at_repair_km,omitempty"`
	OdometerKm         float64     `json:"odometer_km,omitempty"`
	Drives             []time.Time `json:"drives_since_repair"`
	Lines              []Line      `json:"lines"`
	Warranty           string      `json:"warranty"`
	Verify             string      `json:"verify_note"`
}

// covers says whether a line's warranty still runs at at, having driven
// km since the repair (negative: not known), and says until when.
func covers(l store.Line, repaired, at time.Time, km float64) (bool, string) {
	if l.WarrantyMonths == 0 && l.WarrantyKm == 0 {
		return false, ""
	}
	var terms []string
	ok := true
	if l.WarrantyMonths > 0 {
		until := repaired.AddDate(0, l.WarrantyMonths, 0)
		terms = append(terms, fmt.Sprintf("%d months (until %s)", l.WarrantyMonths, until.UTC().Format("2 Jan 2006")))
		ok = ok && at.Before(until)
	}
	if l.WarrantyKm > 0 {
		switch {
		case km < 0:
			terms = append(terms, fmt.Sprintf("%d km (the distance since the repair is not known)", l.WarrantyKm))
		default:
			terms = append(terms, fmt.Sprintf("%d km (%.0f km driven)", l.WarrantyKm, km))
			ok = ok && km <= float64(l.WarrantyKm)
		}
	}
	return ok, strings.Join(terms, " or ")
}

// claimWarranty opens a warranty claim to the shop when a repaired fault
// came back within the warranty of the booking's lines: those for the
// returned codes' repairs when any line names one, else any with a
// warranty. The owner and the shop are told.
func (s *Service) claimWarranty(ctx context.Context, b store.Booking, back []string, r CodeReport, note string) {
	lines, err := s.Store.BookingLines(ctx, b.ID)
	if err != nil {
		s.Log.Error("booking: reading lines for a warranty claim", "booking", b.ID, "err", err)
		return
	}
	odo, driven := r.OdometerKm, -1.0
	if odo == 0 {
		if v, err := s.Store.Vehicle(ctx, b.VehicleID); err == nil && v.OdometerAt.After(b.Completed) {
			odo = v.OdometerKm
		}
	}
	if odo > 0 && b.CompletedOdometer > 0 && odo >= b.CompletedOdometer {
		driven = odo - b.CompletedOdometer
	}
	repairs := s.repairsFor(back)
	named := slices.ContainsFunc(lines, func(l store.Line) bool { _, ok := repairs[l.Repair]; return ok && counts(l.Status) })
	var covering []store.Line
	var terms []string
	for _, l := range lines {
		if !counts(l.Status) {
			continue
		}
		if _, ok := repairs[l.Repair]; named && !ok {
			continue
		}
		if ok, t := covers(l, b.Completed, r.At, driven); ok {
			covering = append(covering, l)
			terms = append(terms, fmt.Sprintf("%s: %s", l.Description, t))
		}
	}
	if len(covering) == 0 {
		return // no warranty, or it ran out: the verdict alone is told
	}
	ev := Evidence{Codes: back, ReportedAt: r.At, RepairedAt: b.Completed, OdometerAtRepairKm: b.CompletedOdometer, Warranty: strings.Join(terms, "; "), Verify: note,
		Drives: []time.Time{}}
	if driven >= 0 {
		ev.OdometerKm = odo
	}
	for _, f := range r.Freeze {
		if slices.Contains(back, f.DTC) {
			ev.FreezeFrames = append(ev.FreezeFrames, f)
		}
	}
	if ds, err := s.Store.Drives(ctx, b.ID); err == nil {
		ev.Drives = append(ev.Drives, ds...)
	}
	ev.Lines = s.BillOf(covering, b.TaxBP, b.Currency, nil, nil).Lines
	raw, err := json.Marshal(ev)
	if err != nil {
		s.Log.Error("booking: a warranty claim's evidence", "booking", b.ID, "err", err)
		return
	}
	c, err := s.Store.AddWarrantyClaim(ctx, store.WarrantyClaim{BookingID: b.ID, ShopID: b.ShopID, OwnerID: b.OwnerID, VehicleID: b.VehicleID, Status: ClaimOpen,
		Codes: back, Evidence: raw, Opened: s.now()}, store.Event{Kind: store.EventWarranty, Actor: string(SystemRole),
		Note: fmt.Sprintf("Warranty claim opened: %s came back within the warranty (%s)", strings.Join(back, ", "), ev.Warranty)})
	if errors.Is(err, store.ErrExists) {
		return // claimed already (another server saw the same report)
	}
	if err != nil {
		s.Log.Error("booking: opening a warranty claim", "booking", b.ID, "err", err)
		return
	}
	sh, _ := s.shopOf(ctx, b.ShopID)
	s.tellShop(b.ShopID, Note{ID: noteID("warranty", c.ID), Kind: "warranty-claim", BookingID: b.ID, Time: s.now(), Path: "/shop/bookings/" + b.ID + "#warranty",
		Subject: "Warranty claim: " + strings.Join(back, ", ") + " came back",
		Text: fmt.Sprintf("%s. The repair's warranty covers it: %s. The claim carries the codes, the freeze frame and the %d drive(s) since the repair; accept it or say why it is not covered.",
			capitalize(note), ev.Warranty, len(ev.Drives))})
	s.tellOwner(b.OwnerID, Note{ID: noteID("warranty", c.ID, "owner"), Kind: "warranty-claim", BookingID: b.ID, VehicleID: b.VehicleID, Time: s.now(),
		Path: "/bookings/" + b.ID + "#warranty", Subject: "A warranty claim is open with " + sh.Name,
		Text: fmt.Sprintf("%s, within the repair's warranty (%s). Pitwall opened a claim with %s, with what the car reported; the shop answers it.", capitalize(note), ev.Warranty, sh.Name)})
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// AnswerClaim is the shop's answer to a warranty claim: accepted (it
// will put it right) or declined with the reason. The owner is told.
func (s *Service) AnswerClaim(ctx context.Context, shopID, claimID string, accept bool, answer string) (store.WarrantyClaim, error) {
	c, err := s.Store.WarrantyClaim(ctx, claimID)
	if errors.Is(err, store.ErrNotFound) || err == nil && c.ShopID != shopID {
		return store.WarrantyClaim{}, fmt.Errorf("%w: warranty claim %s", ErrNotYours, claimID)
	}
	if err != nil {
		return store.WarrantyClaim{}, err
	}
	answer = strings.TrimSpace(answer)
	to, verb := ClaimAccepted, "accepted"
	if !accept {
		to, verb = ClaimDeclined, "declined"
	}
	switch {
	case c.Status != ClaimOpen:
		return store.WarrantyClaim{}, fmt.Errorf("%w: the claim is %s already", ErrIllegal, c.Status)
	case !accept && answer == "":
		return store.WarrantyClaim{}, invalid("answer", "say why the warranty does not cover it; the owner reads it")
	case len(answer) > 4000:
		return store.WarrantyClaim{}, invalid("answer", "%d characters, at most 4000", len(answer))
	}
	now := s.now()
	nc, err := s.Store.AnswerWarrantyClaim(ctx, c.ID, ClaimOpen, to, answer, now, store.Event{Kind: store.EventWarranty, Actor: string(ShopRole),
		Note: "Warranty claim " + verb + " by the shop" + withComment(answer)})
	if err != nil {
		return store.WarrantyClaim{}, illegalOf(err)
	}
	s.tellOwner(c.OwnerID, Note{ID: noteID("warranty", c.ID, verb), Kind: "warranty-" + verb, BookingID: c.BookingID, VehicleID: c.VehicleID, Time: now,
		Path: "/bookings/" + c.BookingID + "#warranty", Subject: "The shop " + verb + " your warranty claim",
		Text: "The shop " + verb + " the warranty claim" + withComment(answer) + "."})
	return nc, nil
}
