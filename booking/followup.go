package booking

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// DefaultFollowupDays is how long after a completed job the owner is
// asked how it went, unless the server says otherwise.
const DefaultFollowupDays = 3

// followupWindow is how late a follow-up is still sent: a job completed
// longer than this before its follow-up fell due (the server was down for
// weeks, or the job is older than follow-ups) is not asked about.
const followupWindow = 14 * 24 * time.Hour

// followupBatch bounds the follow-ups one sweep reads at once.
const followupBatch = 100

// sendFollowups asks the owners of the jobs completed FollowupDays ago
// how it went, in their feed and by email. Each follow-up is claimed in
// the store before it is sent, so with several servers it is sent once.
func (s *Service) sendFollowups(ctx context.Context) (int, error) {
	days := s.FollowupDays
	if days <= 0 {
		days = DefaultFollowupDays
	}
	now := s.now()
	due := now.Add(-time.Duration(days) * 24 * time.Hour)
	sent := 0
	for {
		bs, err := s.Store.DueFollowups(ctx, []string{Completed, Reviewed}, due.Add(-followupWindow), due, followupBatch)
		if err != nil {
			return sent, err
		}
		for _, b := range bs {
			ok, err := s.Store.ClaimFollowup(ctx, store.Followup{BookingID: b.ID, OwnerID: b.OwnerID, ShopID: b.ShopID, Sent: now},
				store.Event{Kind: store.EventFollowup, Actor: "system", Note: "Follow-up survey sent to the owner"})
			if err != nil {
				return sent, err
			}
			if !ok {
				continue // another server sent it
			}
			sent++
			sh, _ := s.shopOf(ctx, b.ShopID)
			s.tellOwner(b.OwnerID, Note{ID: noteID("followup", b.ID), Kind: "followup", BookingID: b.ID, VehicleID: b.VehicleID, Time: now,
				Path:    "/bookings/" + b.ID + "#followup",
				Subject: fmt.Sprintf("How did the job at %s go?", sh.Name),
				Text: fmt.Sprintf("%s finished %s on %s. Four quick questions: is it fixed? was the price as agreed? would you use the shop again? and 1 to 5 overall. "+
					"Your answers count in the shop's rating; a low one opens a complaint the shop must answer.", sh.Name, b.Work, b.Completed.Format("2 Jan"))})
		}
		if len(bs) < followupBatch || ctx.Err() != nil {
			return sent, nil
		}
	}
}

// FollowupAnswer is the owner's answers to a follow-up.
type FollowupAnswer struct {
	Fixed         *bool  `json:"fixed"`
	PriceAsAgreed *bool  `json:"price_as_agreed"`
	UseAgain      *bool  `json:"use_again"`
	Score         int    `json:"score"` // 1–5
	Comment       string `json:"comment"`
}

// Low is an answer that opens a complaint: not fixed, not the agreed
// price, or 2 of 5 or less.
func (a FollowupAnswer) Low() bool {
	return a.Fixed != nil && !*a.Fixed || a.PriceAsAgreed != nil && !*a.PriceAsAgreed || a.Score <= 2
}

// AnswerFollowup records the owner's answers to a follow-up once; they
// count in the shop's rating. A low answer opens a complaint on the
// booking (none when one is open already), returned with it.
func (s *Service) AnswerFollowup(ctx context.Context, ownerID, bookingID string, a FollowupAnswer) (store.Followup, *store.Complaint, error) {
	b, err := s.bookingOf(ctx, OwnerRole, ownerID, bookingID)
	if err != nil {
		return store.Followup{}, nil, err
	}
	a.Comment = strings.TrimSpace(a.Comment)
	switch {
	case a.Fixed == nil:
		return store.Followup{}, nil, invalid("fixed", "say whether the fault is fixed (true or false)")
	case a.PriceAsAgreed == nil:
		return store.Followup{}, nil, invalid("price_as_agreed", "say whether the price was as agreed (true or false)")
	case a.UseAgain == nil:
		return store.Followup{}, nil, invalid("use_again", "say whether you would use the shop again (true or false)")
	case a.Score < 1 || a.Score > 5:
		return store.Followup{}, nil, invalid("score", "%d: want 1 to 5", a.Score)
	case len(a.Comment) > 2000:
		return store.Followup{}, nil, invalid("comment", "%d characters, at most 2000", len(a.Comment))
	}
	yes := map[bool]string{true: "yes", false: "no"}
	summary := fmt.Sprintf("fixed %s, price as agreed %s, would use again %s, %d/5", yes[*a.Fixed], yes[*a.PriceAsAgreed], yes[*a.UseAgain], a.Score)
	now := s.now()
	f := store.Followup{BookingID: b.ID, Answered: now, Fixed: *a.Fixed, PriceAgreed: *a.PriceAsAgreed, UseAgain: *a.UseAgain, Score: a.Score, Comment: a.Comment}
	if err := s.Store.AnswerFollowup(ctx, f, store.Event{Kind: store.EventFollowup, Actor: string(OwnerRole), Note: "Follow-up answered: " + summary}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Followup{}, nil, fmt.Errorf("%w: no follow-up has been asked on this booking yet", ErrIllegal)
		}
		return store.Followup{}, nil, illegalOf(err)
	}
	s.tellShop(b.ShopID, Note{ID: noteID("followup", b.ID, "answered"), Kind: "followup-answered", BookingID: b.ID, Time: now, Path: "/shop/bookings/" + b.ID,
		Subject: fmt.Sprintf("Follow-up: %d/5", a.Score), Text: "The owner answered the follow-up: " + summary + withComment(a.Comment)})
	var opened *store.Complaint
	if a.Low() {
		category := "other"
		switch {
		case !*a.Fixed:
			category = "quality"
		case !*a.PriceAsAgreed:
			category = "price"
		}
		c, err := s.openComplaint(ctx, b, category, "From the follow-up: "+summary+withComment(a.Comment), "followup")
		switch {
		case err == nil:
			opened = &c
			if err := s.Store.SetFollowupComplaint(ctx, b.ID, c.ID); err != nil {
				s.Log.Error("booking: linking a follow-up's complaint", "booking", b.ID, "err", err)
			}
		case errors.Is(err, ErrIllegal):
			// A complaint on this booking is open already: it stands.
		default:
			return store.Followup{}, nil, err
		}
	}
	f, err = s.Store.Followup(ctx, b.ID)
	return f, opened, err
}

func withComment(c string) string {
	if c == "" {
		return ""
	}
	return ". " + c
}
