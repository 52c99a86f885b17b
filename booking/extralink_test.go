package booking

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// ownerNotes keeps what the owner is told, beside the usual telling.
type ownerNotes struct {
	Notifier
	mu    sync.Mutex
	notes []Note
}

func (o *ownerNotes) ToOwner(ctx context.Context, owner store.Owner, n Note) error {
	o.mu.Lock()
	o.notes = append(o.notes, n)
	o.mu.Unlock()
	return o.Notifier.ToOwner(ctx, owner, n)
}

func (o *ownerNotes) link(t *testing.T, kind string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.notes) - 1; i >= 0; i-- {
		if n := o.notes[i]; n.Kind == kind && n.EmailLink != "" {
			u, err := url.Parse(n.EmailLink)
			if err != nil || u.Path != ExtraLinkPath {
				t.Fatalf("the emailed link %q", n.EmailLink)
			}
			return u.Query().Get("token")
		}
	}
	t.Fatalf("no %s note with an emailed link", kind)
	return ""
}

// An extra proposed during the job comes with a one-use link for the
// owner's email: it shows the extra, answers it once, and then, like a
// made-up, an expired or another line's answered link, no longer works.
// Two answers at once count once.
func TestExtraAnsweredByEmailedLink(t *testing.T) {
	r := newRig(t)
	r.st.SetClock(r.clock.now)
	rec := &ownerNotes{Notifier: r.svc.Notify}
	r.svc.Notify = rec
	ctx := context.Background()
	r.shop(t, "a", 0.01, profile(nil))
	b, shop := r.itemisedBooking(t, "P0128")
	propose := func(desc string) string {
		t.Helper()
		if _, err := r.svc.ProposeLine(ctx, shop, b.ID, LineInput{Kind: PartLine, Description: desc, Quantity: 1, UnitPrice: 20, Reason: "Worn out"}); err != nil {
			t.Fatal(err)
		}
		r.svc.Wait()
		return rec.link(t, "booking-extra")
	}
	tok := propose("Hose clamp")
	v, err := r.svc.ExtraByLink(ctx, tok)
	if err != nil || v.Description != "Hose clamp" || v.Reason != "Worn out" || v.BookingID != b.ID || v.WithTax < 2000 {
		t.Fatalf("the extra by its link: %+v %v", v, err)
	}
	if _, err := r.svc.ExtraByLink(ctx, tok+"x"); !errors.Is(err, ErrLinkGone) {
		t.Errorf("a made-up link: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, gone int
	for range 8 {
		wg.Go(func() {
			_, line, err := r.svc.DecideByLink(ctx, tok, true)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && line.Status == LineApproved:
				ok++
			case errors.Is(err, ErrLinkGone):
				gone++
			default:
				t.Errorf("an answer: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || gone != 7 {
		t.Errorf("eight answers at once: %d counted, %d refused", ok, gone)
	}
	if _, err := r.svc.ExtraByLink(ctx, tok); !errors.Is(err, ErrLinkGone) {
		t.Errorf("a used link still shows: %v", err)
	}

	// Answered in the app first: the link then says so.
	tok2 := propose("Gasket")
	lines, _ := r.st.BookingLines(ctx, b.ID)
	if _, err := r.svc.DecideLine(ctx, r.owner.ID, b.ID, lines[len(lines)-1].N, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.ExtraByLink(ctx, tok2); !errors.Is(err, ErrLinkGone) || !strings.Contains(err.Error(), "answered already") {
		t.Errorf("a link to an answered line: %v", err)
	}

	// Eight days later a link has expired.
	tok3 := propose("Wiper")
	r.clock.add((ExtraLinkDays + 1) * 24 * time.Hour)
	if _, _, err := r.svc.DecideByLink(ctx, tok3, true); !errors.Is(err, ErrLinkGone) {
		t.Errorf("an expired link: %v", err)
	}
}
