package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// Complaint statuses.
const (
	ComplaintOpen      = "open"      // waiting for the shop's answer, due by its promise
	ComplaintAnswered  = "answered"  // the shop answered; the owner may resolve or escalate it
	ComplaintEscalated = "escalated" // on the administrators' page: the shop let its promise pass, or the owner was not satisfied
	ComplaintResolved  = "resolved"
)

// ComplaintCategories are what a complaint is about.
var ComplaintCategories = []string{"price", "quality", "delay", "conduct", "other"}

// The roles that act on complaints beside the owner and the shop.
const (
	AdminRole  Role = "admin"  // Pitwall's administrators
	SystemRole Role = "system" // the sweep, when a promise passes
)

// ComplaintAction moves a complaint.
type ComplaintAction string

// The complaint actions.
const (
	AnswerComplaint   ComplaintAction = "answer"
	EscalateComplaint ComplaintAction = "escalate"
	ResolveComplaint  ComplaintAction = "resolve"
)

// complaintMoves is the whole complaint lifecycle: anything not here is
// refused. The shop may still answer an escalated complaint; the
// administrators decide it.
var complaintMoves = map[string]map[ComplaintAction]step{
	ComplaintOpen: {AnswerComplaint: {ComplaintAnswered, []Role{ShopRole}}, EscalateComplaint: {ComplaintEscalated, []Role{SystemRole}},
		ResolveComplaint: {ComplaintResolved, []Role{OwnerRole}}},
	ComplaintAnswered: {ResolveComplaint: {ComplaintResolved, []Role{OwnerRole, AdminRole}}, EscalateComplaint: {ComplaintEscalated, []Role{OwnerRole}}},
	ComplaintEscalated: {AnswerComplaint: {ComplaintEscalated, []Role{ShopRole}},
		ResolveComplaint: {ComplaintResolved, []Role{AdminRole, OwnerRole}}},
}

// NextComplaint is the status an action takes a complaint to, or
// ErrIllegal saying why not.
func NextComplaint(status string, a ComplaintAction, who Role) (string, error) {
	st, ok := complaintMoves[status][a]
	if !ok {
		return "", fmt.Errorf("%w: a complaint that is %s cannot be %s", ErrIllegal, status, pastOf(a))
	}
	if !slices.Contains(st.who, who) {
		return "", fmt.Errorf("%w: the %s cannot %s a complaint that is %s", ErrIllegal, who, a, status)
	}
	return st.to, nil
}

func pastOf(a ComplaintAction) string {
	return map[ComplaintAction]string{AnswerComplaint: "answered", EscalateComplaint: "escalated", ResolveComplaint: "resolved"}[a]
}

// OpenComplaint opens an owner's complaint on one of their bookings. The
// shop must answer within its promise counted in its opening hours
// (ComplaintPromise), or the complaint goes to the administrators.
func (s *Service) OpenComplaint(ctx context.Context, ownerID, bookingID, category, text string) (store.Complaint, error) {
	b, err := s.bookingOf(ctx, OwnerRole, ownerID, bookingID)
	if err != nil {
		return store.Complaint{}, err
	}
	text = strings.TrimSpace(text)
	switch {
	case !slices.Contains(ComplaintCategories, category):
		return store.Complaint{}, invalid("category", "%q: want one of %s", category, strings.Join(ComplaintCategories, ", "))
	case text == "":
		return store.Complaint{}, invalid("text", "say what went wrong")
	case len(text) > 4000:
		return store.Complaint{}, invalid("text", "%d characters, at most 4000", len(text))
	}
	return s.openComplaint(ctx, b, category, text, "owner")
}

func (s *Service) openComplaint(ctx context.Context, b store.Booking, category, text, source string) (store.Complaint, error) {
	sh, err := s.shopOf(ctx, b.ShopID)
	if err != nil {
		return store.Complaint{}, err
	}
	now := s.now()
	due := sh.AnswerBy(now, sh.Profile.ComplaintPromise())
	c, err := s.Store.AddComplaint(ctx, store.Complaint{BookingID: b.ID, ShopID: b.ShopID, OwnerID: b.OwnerID, Category: category, Body: text, Source: source,
		Status: ComplaintOpen, Opened: now, Due: due}, store.Event{Kind: store.EventComplaint, Actor: string(OwnerRole),
		Note: fmt.Sprintf("Complaint opened (%s): %s. The shop answers by %s", category, text, due.In(sh.loc).Format("Mon 2 Jan 15:04 MST"))})
	if errors.Is(err, store.ErrExists) {
		return store.Complaint{}, fmt.Errorf("%w: a complaint on this booking is open already; add to it there", ErrIllegal)
	}
	if err != nil {
		return store.Complaint{}, err
	}
	s.tellShop(b.ShopID, Note{ID: noteID("complaint", c.ID), Kind: "complaint", BookingID: b.ID, Time: now, Path: "/shop/bookings/" + b.ID + "#complaints",
		Subject: "A complaint about a booking (" + category + ")",
		Text: fmt.Sprintf("The owner complains: %s\nPlease answer by %s (your promise: %s of opening hours); unanswered, it goes to Pitwall's administrators.",
			text, due.In(sh.loc).Format("Mon 2 Jan 2006, 15:04 MST"), minutes(int(sh.Profile.ComplaintPromise()/time.Minute)))})
	s.tellOwner(b.OwnerID, Note{ID: noteID("complaint", c.ID, "opened"), Kind: "complaint-opened", BookingID: b.ID, VehicleID: b.VehicleID, Time: now,
		Path: "/bookings/" + b.ID + "#complaints", Subject: "Your complaint is with " + sh.Name,
		Text: fmt.Sprintf("%s must answer by %s; if it does not, Pitwall's administrators take it up.", sh.Name, due.UTC().Format("Mon 2 Jan 2006, 15:04 MST"))})
	return c, nil
}

// ActOnComplaint moves a complaint: the shop answers; the owner resolves
// it (satisfied) or escalates an answer that does not satisfy; an
// administrator resolves an escalated one. text is the answer, the
// reason or the resolution. Anyone else's complaint is ErrNotYours.
func (s *Service) ActOnComplaint(ctx context.Context, who Role, actorID, complaintID string, a ComplaintAction, text string) (store.Complaint, error) {
	c, err := s.Store.Complaint(ctx, complaintID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (who == OwnerRole && c.OwnerID != actorID || who == ShopRole && c.ShopID != actorID) {
		return store.Complaint{}, fmt.Errorf("%w: complaint %s", ErrNotYours, complaintID)
	}
	if err != nil {
		return store.Complaint{}, err
	}
	to, err := NextComplaint(c.Status, a, who)
	if err != nil {
		return store.Complaint{}, err
	}
	text = strings.TrimSpace(text)
	switch {
	case len(text) > 4000:
		return store.Complaint{}, invalid("text", "%d characters, at most 4000", len(text))
	case text == "" && (a == AnswerComplaint || a == EscalateComplaint || who == AdminRole):
		return store.Complaint{}, invalid("text", "%s", map[ComplaintAction]string{AnswerComplaint: "write the answer the owner reads",
			EscalateComplaint: "say why the answer does not settle it", ResolveComplaint: "say what was decided"}[a])
	}
	now := s.now()
	m := store.ComplaintMove{From: c.Status, To: to, At: now, Event: store.Event{Kind: store.EventComplaint, Actor: string(who)}}
	switch a {
	case AnswerComplaint:
		m.Answer, m.Event.Note = text, "The shop answered the complaint: "+text
	case EscalateComplaint:
		m.Event.Note = "The owner escalated the complaint to Pitwall's administrators: " + text
	case ResolveComplaint:
		m.Resolution, m.By = text, string(who)
		m.Event.Note = fmt.Sprintf("Complaint resolved by the %s%s", who, withComment(text))
	}
	nc, err := s.Store.MoveComplaint(ctx, c.ID, m)
	if err != nil {
		return store.Complaint{}, illegalOf(err)
	}
	n := Note{ID: noteID("complaint", c.ID, string(a), fmt.Sprint(now.UnixMilli())), Kind: "complaint-" + to, BookingID: c.BookingID, Time: now}
	switch {
	case a == AnswerComplaint:
		n.Subject, n.Text, n.Path = "The shop answered your complaint", text, "/bookings/"+c.BookingID+"#complaints"
		s.tellOwner(c.OwnerID, n)
	case a == EscalateComplaint:
		n.Subject, n.Text, n.Path = "A complaint went to Pitwall's administrators", "The owner was not satisfied with the answer: "+text, "/shop/bookings/"+c.BookingID+"#complaints"
		s.tellShop(c.ShopID, n)
	default:
		n.Subject, n.Text = "Complaint resolved", fmt.Sprintf("The complaint on the booking was resolved by the %s%s.", who, withComment(text))
		n.Path = "/shop/bookings/" + c.BookingID + "#complaints"
		s.tellShop(c.ShopID, n)
		if who != OwnerRole {
			n.Path = "/bookings/" + c.BookingID + "#complaints"
			s.tellOwner(c.OwnerID, n)
		}
	}
	return nc, nil
}

// complaintBatch bounds the complaints one sweep escalates at once.
const complaintBatch = 100

// escalateDue sends the complaints whose answer is overdue to the
// administrators. With several servers each complaint moves once: the
// move is compare-and-set from open.
func (s *Service) escalateDue(ctx context.Context) (int, error) {
	n := 0
	for {
		now := s.now()
		due, err := s.Store.DueComplaints(ctx, ComplaintOpen, now, complaintBatch)
		if err != nil {
			return n, err
		}
		moved := 0
		for _, c := range due {
			_, err := s.Store.MoveComplaint(ctx, c.ID, store.ComplaintMove{From: ComplaintOpen, To: ComplaintEscalated, At: now,
				Event: store.Event{Kind: store.EventComplaint, Actor: string(SystemRole),
					Note: "Escalated to Pitwall's administrators: the shop did not answer by " + c.Due.UTC().Format("Mon 2 Jan 15:04 MST")}})
			if errors.Is(err, store.ErrConflict) {
				continue // answered, or escalated by another server, meanwhile
			}
			if err != nil {
				return n, err
			}
			n, moved = n+1, moved+1
			note := Note{ID: noteID("complaint", c.ID, "escalated"), Kind: "complaint-escalated", BookingID: c.BookingID, Time: now,
				Subject: "A complaint went to Pitwall's administrators"}
			note.Text, note.Path = "The shop did not answer your complaint in time; Pitwall's administrators take it up.", "/bookings/"+c.BookingID+"#complaints"
			s.tellOwner(c.OwnerID, note)
			note.Text, note.Path = "You did not answer the complaint by "+c.Due.UTC().Format("Mon 2 Jan 15:04 MST")+"; Pitwall's administrators take it up. You may still answer it.", "/shop/bookings/"+c.BookingID+"#complaints"
			s.tellShop(c.ShopID, note)
		}
		if len(due) < complaintBatch || moved == 0 || ctx.Err() != nil {
			return n, nil
		}
	}
}

// ResponseStats says how a shop answers one kind of request.
type ResponseStats struct {
	Answered      int `json:"answered"`
	Missed        int `json:"missed"` // never answered in time: leads let expire, complaints escalated unanswered
	WithinPromise int `json:"within_promise"`
	// MedianMinutes is the median time to answer, in opening hours.
	MedianMinutes float64 `json:"median_minutes"`
}

// AnswerTimes are a shop's answer times over the last 90 days, measured
// in its opening hours: how soon it answers leads and complaints.
type AnswerTimes struct {
	Leads      ResponseStats `json:"leads"`
	Complaints ResponseStats `json:"complaints"`
}

// AnswerTimes measures how a shop answers, for its profile.
func (s *Service) AnswerTimes(ctx context.Context, shopID string) (AnswerTimes, error) {
	sh, err := s.shopOf(ctx, shopID)
	if err != nil {
		return AnswerTimes{}, err
	}
	since := s.now().Add(-90 * 24 * time.Hour)
	leads, err := s.Store.LeadAnswers(ctx, shopID, since)
	if err != nil {
		return AnswerTimes{}, err
	}
	complaints, err := s.Store.ComplaintAnswers(ctx, shopID, since)
	if err != nil {
		return AnswerTimes{}, err
	}
	return AnswerTimes{Leads: sh.stats(leads), Complaints: sh.stats(complaints)}, nil
}

func (sh Shop) stats(rs []store.AnswerRecord) ResponseStats {
	var st ResponseStats
	var mins []float64
	for _, r := range rs {
		if r.Answered.IsZero() {
			st.Missed++
			continue
		}
		st.Answered++
		if !r.Answered.After(r.Due) {
			st.WithinPromise++
		}
		mins = append(mins, sh.OpenBetween(r.Asked, r.Answered).Minutes())
	}
	if len(mins) > 0 {
		sort.Float64s(mins)
		m := mins[len(mins)/2]
		if len(mins)%2 == 0 {
			m = (mins[len(mins)/2-1] + m) / 2
		}
		st.MedianMinutes = float64(int(m*10+0.5)) / 10
	}
	return st
}

// OpenBetween is how much of the time from a to b the shop was open:
// the inverse of AnswerBy. Periods over 60 days count their first 60.
func (s Shop) OpenBetween(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if b.Sub(a) > 60*24*time.Hour {
		b = a.Add(60 * 24 * time.Hour)
	}
	var total time.Duration
	open := false
	local := a.In(s.loc)
	for day := time.Date(local.Year(), local.Month(), local.Day(), 12, 0, 0, 0, s.loc); !day.After(b.Add(24 * time.Hour)); day = day.AddDate(0, 0, 1) {
		from, to, ok := s.open(day)
		if !ok {
			continue
		}
		open = true
		if from.Before(a) {
			from = a
		}
		if to.After(b) {
			to = b
		}
		if to.After(from) {
			total += to.Sub(from)
		}
	}
	if !open {
		return b.Sub(a) // a shop open on no day counts the clock, as AnswerBy does
	}
	return total
}
