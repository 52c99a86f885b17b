package booking

import (
	"context"
	"errors"
)

// Aftercare is what one aftercare sweep did.
type Aftercare struct {
	Followups int // follow-up surveys sent
	Escalated int // complaints sent to the administrators
}

// SweepAftercare does the work after the booking that falls due with
// time: it sends the follow-up surveys of the jobs completed FollowupDays
// ago and escalates the complaints whose promise passed unanswered. The
// clock is the service's (Now). Run it beside Sweep, on any number of
// servers: each follow-up is claimed under its booking's key and each
// escalation is compare-and-set, so every one happens once.
func (s *Service) SweepAftercare(ctx context.Context) (Aftercare, error) {
	var a Aftercare
	var errs []error
	var err error
	if a.Followups, err = s.sendFollowups(ctx); err != nil {
		errs = append(errs, err)
	}
	if a.Escalated, err = s.escalateDue(ctx); err != nil {
		errs = append(errs, err)
	}
	return a, errors.Join(errs...)
}
