package booking

import (
	"errors"
	"fmt"

	"github.com/pitwall-io/pitwall/store"
)

// Booking statuses, in the order a job goes through them.
const (
	Requested  = "requested"   // the owner asked for the slot
	Accepted   = "accepted"    // the shop takes the job
	Scheduled  = "scheduled"   // the drop-off time is fixed
	InProgress = "in_progress" // the car is at the shop
	Completed  = "completed"   // the work is done
	Reviewed   = "reviewed"    // the owner said how it went
	Cancelled  = "cancelled"
)

// Action is what moves a booking.
type Action string

// The actions.
const (
	Accept   Action = "accept"
	Schedule Action = "schedule"
	Start    Action = "start"
	Complete Action = "complete"
	Review   Action = "review"
	Cancel   Action = "cancel"
)

// Role is who acts.
type Role string

// The roles that act on bookings.
const (
	OwnerRole Role = "owner"
	ShopRole  Role = "shop"
)

type step struct {
	to  string
	who []Role
}

// transitions is the whole lifecycle: anything not here is refused.
var transitions = map[string]map[Action]step{
	Requested:  {Accept: {Accepted, []Role{ShopRole}}, Cancel: {Cancelled, []Role{OwnerRole, ShopRole}}},
	Accepted:   {Schedule: {Scheduled, []Role{ShopRole}}, Cancel: {Cancelled, []Role{OwnerRole, ShopRole}}},
	Scheduled:  {Schedule: {Scheduled, []Role{ShopRole}}, Start: {InProgress, []Role{ShopRole}}, Cancel: {Cancelled, []Role{OwnerRole, ShopRole}}},
	InProgress: {Complete: {Completed, []Role{ShopRole}}},
	Completed:  {Review: {Reviewed, []Role{OwnerRole}}},
}

// ErrIllegal is an action the booking's status or the actor's role does
// not allow.
var ErrIllegal = errors.New("booking: not allowed")

// Next is the status an action leads to from a status, or ErrIllegal
// saying why not.
func Next(status string, a Action, who Role) (string, error) {
	st, ok := transitions[status][a]
	if !ok {
		return "", fmt.Errorf("%w: a booking that is %s cannot %s", ErrIllegal, status, a)
	}
	for _, r := range st.who {
		if r == who {
			return st.to, nil
		}
	}
	return "", fmt.Errorf("%w: the %s cannot %s a booking", ErrIllegal, who, a)
}

// Statuses lists every status, for tests and documentation.
func Statuses() []string {
	return []string{Requested, Accepted, Scheduled, InProgress, Completed, Reviewed, Cancelled}
}

// Actions lists every action.
func Actions() []Action { return []Action{Accept, Schedule, Start, Complete, Review, Cancel} }

// Lead statuses, as the store keeps them.
const (
	LeadOpen      = store.LeadOpen      // shops are being asked
	LeadBooked    = store.LeadBooked    // the owner booked one shop's quote
	LeadWithdrawn = store.LeadWithdrawn // the owner withdrew it; what was shared is erased
)

// Offer states: a lead as one shop holds it.
const (
	OfferWaiting   = store.OfferWaiting   // ranked, waiting its turn
	OfferSent      = store.OfferSent      // sent, waiting for the shop's answer
	OfferAccepted  = store.OfferAccepted  // the shop quoted and gave a slot
	OfferDeclined  = store.OfferDeclined  // the shop declined
	OfferExpired   = store.OfferExpired   // the shop did not answer in time
	OfferWithdrawn = store.OfferWithdrawn // the lead was withdrawn or booked elsewhere
	OfferBooked    = store.OfferBooked    // the owner booked this quote
)

// OfferEvent is what moves an offer.
type OfferEvent string

// The offer events.
const (
	SendOffer     OfferEvent = "send"     // its turn came
	AcceptOffer   OfferEvent = "accept"   // the shop quotes
	DeclineOffer  OfferEvent = "decline"  // the shop declines
	ExpireOffer   OfferEvent = "expire"   // the answer is overdue
	WithdrawOffer OfferEvent = "withdraw" // the lead was withdrawn or booked elsewhere
	BookOffer     OfferEvent = "book"     // the owner books the quote
	ReleaseOffer  OfferEvent = "release"  // the booking it became was cancelled
)

// offerMoves is the whole offer lifecycle: the store changes an offer
// only from the state an event starts from here, compare-and-set.
var offerMoves = map[string]map[OfferEvent]string{
	OfferWaiting:  {SendOffer: OfferSent, WithdrawOffer: OfferWithdrawn},
	OfferSent:     {AcceptOffer: OfferAccepted, DeclineOffer: OfferDeclined, ExpireOffer: OfferExpired, WithdrawOffer: OfferWithdrawn},
	OfferAccepted: {BookOffer: OfferBooked, WithdrawOffer: OfferWithdrawn},
	OfferBooked:   {ReleaseOffer: OfferWithdrawn},
}

// OfferMove is the state an event takes an offer from and to; ok is
// false for an event that applies in no state.
func OfferMove(e OfferEvent) (from []string, to string, ok bool) {
	for _, st := range []string{OfferWaiting, OfferSent, OfferAccepted, OfferBooked} {
		if next, ok := offerMoves[st][e]; ok {
			from, to = append(from, st), next
		}
	}
	return from, to, len(from) > 0
}

// mustMove is OfferMove for an event that moves from one state.
func mustMove(e OfferEvent) (from, to string) {
	f, to, ok := OfferMove(e)
	if !ok || len(f) != 1 {
		panic(fmt.Sprintf("booking: offer event %s does not move from one state", e))
	}
	return f[0], to
}

// leadMoves is the lead lifecycle: an open lead is booked (one shop's
// quote) or withdrawn (by its owner); a booked lead whose booking is
// cancelled is released, which erases what was shared as a withdrawal
// does; nothing else moves a lead.
var leadMoves = map[string]map[OfferEvent]string{
	LeadOpen:   {BookOffer: LeadBooked, WithdrawOffer: LeadWithdrawn},
	LeadBooked: {ReleaseOffer: LeadWithdrawn},
}

// leadChange is how a lead and its offers move together when an owner
// books a quote (BookOffer: the chosen offer is booked, the others
// withdrawn), withdraws the lead (WithdrawOffer: every live offer is
// withdrawn) or the booking is cancelled (ReleaseOffer: the booked offer
// is withdrawn), from the two tables.
func leadChange(e OfferEvent) store.LeadMoves {
	var m store.LeadMoves
	for from, next := range leadMoves {
		if to, ok := next[e]; ok {
			m.Lead = store.Move{From: from, To: to}
		}
	}
	if e == BookOffer {
		from, to := mustMove(BookOffer)
		m.Chosen = store.Move{From: from, To: to}
	}
	m.OthersFrom, m.OthersTo, _ = OfferMove(WithdrawOffer)
	return m
}
