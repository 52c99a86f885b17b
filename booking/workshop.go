package booking

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pitwall-io/pitwall/store"
)

// Progress steps a shop shows the owner, in the order a job usually
// takes them.
var ProgressSteps = []string{"received", "diagnosed", "waiting_parts", "repairing", "testing", "ready"}

// stepNames are the steps as the owner reads them.
var stepNames = map[string]string{"received": "Car received", "diagnosed": "Diagnosed", "waiting_parts": "Waiting for parts",
	"repairing": "Repairing", "testing": "Testing", "ready": "Ready"}

// StepName is a progress step as people read it.
func StepName(step string) string {
	if n, ok := stepNames[step]; ok {
		return n
	}
	return step
}

// while the car is with the shop, it may post progress.
var atTheShop = []string{Scheduled, InProgress}

// Progress posts a step of the work with a note and photos: each photo
// checked and re-encoded (CleanPhoto), stored with the booking. The owner
// is told, and an open booking page shows it at once.
func (s *Service) Progress(ctx context.Context, shopID, bookingID, step, note string, photos [][]byte) (store.Progress, error) {
	b, err := s.bookingOf(ctx, ShopRole, shopID, bookingID)
	if err != nil {
		return store.Progress{}, err
	}
	note = strings.TrimSpace(note)
	switch {
	case !slices.Contains(atTheShop, b.Status):
		return store.Progress{}, fmt.Errorf("%w: the booking is %s; progress is shown while the car is at the shop (scheduled or in progress)", ErrIllegal, b.Status)
	case !slices.Contains(ProgressSteps, step):
		return store.Progress{}, invalid("step", "%q: want one of %s", step, strings.Join(ProgressSteps, ", "))
	case len(note) > 2000:
		return store.Progress{}, invalid("note", "%d characters, at most 2000", len(note))
	case len(photos) > MaxPhotosPerStep:
		return store.Progress{}, invalid("photos", "%d photos, at most %d a step", len(photos), MaxPhotosPerStep)
	}
	var clean []store.Photo
	for i, raw := range photos {
		ct, w, h, data, err := CleanPhoto(raw, fmt.Sprintf("photos[%d]", i))
		if err != nil {
			return store.Progress{}, err
		}
		clean = append(clean, store.Photo{PhotoInfo: store.PhotoInfo{ContentType: ct, Width: w, Height: h}, Data: data})
	}
	text := StepName(step)
	if note != "" {
		text += ": " + note
	}
	if len(clean) > 0 {
		if len(clean) == 1 {
			text += " (a photo)"
		} else {
			text += fmt.Sprintf(" (%d photos)", len(clean))
		}
	}
	p, err := s.Store.AddProgress(ctx, b.ID, atTheShop, store.Progress{Step: step, Note: note}, clean, store.Event{Kind: store.EventProgress, Actor: string(ShopRole), Note: text})
	if err != nil {
		return store.Progress{}, illegalOf(err)
	}
	sh, _ := s.shopOf(ctx, b.ShopID)
	s.tellOwner(b.OwnerID, Note{ID: noteID("progress", b.ID, fmt.Sprint(p.N)), Kind: "booking-progress", BookingID: b.ID, VehicleID: b.VehicleID, Time: s.now(),
		Path: "/bookings/" + b.ID + "#progress", Subject: fmt.Sprintf("%s: %s", sh.Name, StepName(step)), Text: text})
	return p, nil
}
