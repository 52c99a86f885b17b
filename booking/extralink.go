package booking

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// ExtraLinkDays is how long an emailed link to answer an extra works.
const ExtraLinkDays = 7

// ExtraLinkPath is the page an emailed extra link opens; the token goes
// in its query.
const ExtraLinkPath = "/extras"

// ErrLinkGone is a link that was used, has expired or never was.
var ErrLinkGone = errors.New("booking: this link was used, has expired or never was; open the booking in Pitwall to answer")

// newExtraLink makes the one-use link with which the owner answers an
// extra from the email, without signing in; "" when it cannot be kept
// (the email then only links to the booking's page).
func (s *Service) newExtraLink(ctx context.Context, b store.Booking, n int) string {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := s.Store.AddExtraLink(ctx, hashToken(token), store.ExtraLink{BookingID: b.ID, N: n, OwnerID: b.OwnerID,
		Expires: s.now().Add(ExtraLinkDays * 24 * time.Hour)}); err != nil {
		s.Log.Warn("booking: keeping an extra's emailed link", "booking", b.ID, "line", n, "err", err)
		return ""
	}
	return ExtraLinkPath + "?token=" + token
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// ExtraView is an extra as the page an emailed link opens shows it.
type ExtraView struct {
	BookingID   string
	Shop        string
	Work        string
	Description string
	Reason      string
	Currency    string
	WithTax     Cents // the line's amount with its tax
	Expires     time.Time
}

// ExtraByLink is the extra an emailed link answers, for the page that
// asks the owner; ErrLinkGone when the link no longer works or the extra
// was answered meanwhile.
func (s *Service) ExtraByLink(ctx context.Context, token string) (ExtraView, error) {
	l, err := s.Store.ExtraLinkOf(ctx, hashToken(token))
	if err != nil {
		return ExtraView{}, linkGone(err)
	}
	b, line, err := s.extraOf(ctx, l)
	if err != nil {
		return ExtraView{}, err
	}
	v := ExtraView{BookingID: b.ID, Work: b.Work, Description: line.Description, Reason: line.Reason, Currency: b.Currency,
		WithTax: Cents(line.AmountCents) + taxOn(Cents(line.AmountCents), b.TaxBP), Expires: l.Expires}
	if sh, err := s.shopOf(ctx, b.ShopID); err == nil {
		v.Shop = sh.Name
	}
	return v, nil
}

func (s *Service) extraOf(ctx context.Context, l store.ExtraLink) (store.Booking, store.Line, error) {
	b, err := s.bookingOf(ctx, OwnerRole, l.OwnerID, l.BookingID)
	if err != nil {
		return store.Booking{}, store.Line{}, linkGone(err)
	}
	lines, err := s.Store.BookingLines(ctx, b.ID)
	if err != nil {
		return store.Booking{}, store.Line{}, err
	}
	for _, line := range lines {
		if line.N == l.N && line.Status == LineProposed {
			return b, line, nil
		}
	}
	return store.Booking{}, store.Line{}, fmt.Errorf("%w (line %d was answered already)", ErrLinkGone, l.N)
}

// DecideByLink answers the extra an emailed link names, as its owner, and
// uses the link up: of two answers at once, one counts.
func (s *Service) DecideByLink(ctx context.Context, token string, approve bool) (store.Booking, store.Line, error) {
	l, err := s.Store.UseExtraLink(ctx, hashToken(token))
	if err != nil {
		return store.Booking{}, store.Line{}, linkGone(err)
	}
	b, _, err := s.extraOf(ctx, l)
	if err != nil {
		return store.Booking{}, store.Line{}, err
	}
	line, err := s.DecideLine(ctx, l.OwnerID, b.ID, l.N, approve)
	return b, line, err
}

func linkGone(err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotYours) {
		return ErrLinkGone
	}
	return err
}
