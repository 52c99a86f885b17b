package booking

import (
	"errors"
	"fmt"
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
