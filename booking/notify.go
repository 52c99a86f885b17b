package booking

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/alerting"
	"github.com/pitwall-io/pitwall/store"
)

// Note is something a shop or an owner is told about a lead or booking.
type Note struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"` // lead, lead-withdrawn, quote, booking-requested, booking-<status>, verify-fixed, verify-returned, reminder
	Subject   string    `json:"subject"`
	Text      string    `json:"text"`
	LeadID    string    `json:"lead_id,omitempty"`
	BookingID string    `json:"booking_id,omitempty"`
	VehicleID string    `json:"vehicle_id,omitempty"`
	Time      time.Time `json:"time"`
	// Lead is the lead as the shop may see it, on lead notes to shops.
	Lead *ShopView `json:"lead,omitempty"`
	// Path is the page the note is about ("/bookings/ID"), for links.
	Path string `json:"path,omitempty"`
	// EmailLink, on a note to an owner, is a one-use page that answers it
	// without signing in ("/extras?token=..."): in the email only, never
	// in the feed or a webhook.
	EmailLink string `json:"-"`
}

// Notifier tells shops and owners.
type Notifier interface {
	ToShop(ctx context.Context, shop Shop, n Note) error
	ToOwner(ctx context.Context, owner store.Owner, n Note) error
}

// Dispatch is the Notifier Pitwall runs: shops by their webhook (signed
// like alert webhooks) and email, with the lead in their inbox anyway;
// owners in their in-app feed and by email.
type Dispatch struct {
	Feed  *alerting.Feed  // nil: no feed
	Email *alerting.Email // nil: no email
	// BaseURL is how people reach the server ("https://pitwall.example"):
	// an emailed note about a page ends with a link to it.
	BaseURL string
}

// mailText is a note's text for an email: with a link to its page when
// the note has one and the server's address is known.
func (d *Dispatch) mailText(n Note) string {
	if n.Path == "" || d.BaseURL == "" {
		return n.Text
	}
	base := strings.TrimSuffix(d.BaseURL, "/")
	text := n.Text
	if n.EmailLink != "" {
		text += fmt.Sprintf("\n\nApprove or decline it here, without signing in (the link works once, for %d days): %s%s", ExtraLinkDays, base, n.EmailLink)
	}
	return text + "\n\nOpen it in Pitwall: " + base + n.Path
}

// ToShop posts the note to the shop's webhook and mails it.
func (d *Dispatch) ToShop(ctx context.Context, shop Shop, n Note) error {
	var errs []error
	if shop.WebhookURL != "" {
		body, err := json.Marshal(n)
		if err == nil {
			err = (&alerting.Webhook{URL: shop.WebhookURL, Secret: shop.WebhookSecret, Attempts: 3}).Post(ctx, body, n.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if d.Email != nil && shop.Email != "" {
		if err := d.Email.Send(ctx, shop.Email, n.ID, n.Subject, d.mailText(n), n.Time); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("telling shop %s: %v", shop.ID, errs)
	}
	return nil
}

// ToOwner adds the note to the owner's feed and mails it.
func (d *Dispatch) ToOwner(ctx context.Context, owner store.Owner, n Note) error {
	var errs []error
	if d.Feed != nil {
		ref := n.BookingID
		if ref == "" {
			ref = n.LeadID
		}
		item := store.FeedItem{ID: n.ID, OwnerID: owner.ID, Device: n.VehicleID, Fingerprint: n.Kind + ":" + ref, State: n.Kind, Severity: "info", Summary: n.Subject + ". " + n.Text, Time: n.Time}
		if err := d.Feed.Add(ctx, []store.FeedItem{item}); err != nil {
			errs = append(errs, err)
		}
	}
	if d.Email != nil && owner.Email != "" {
		if err := d.Email.Send(ctx, owner.Email, n.ID, n.Subject, d.mailText(n), n.Time); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("telling owner %s: %v", owner.ID, errs)
	}
	return nil
}
