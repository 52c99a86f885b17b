package web

import (
	"context"
	"time"

	"github.com/pitwall-io/pitwall/booking"
)

func (w *Web) shopOf(ctx context.Context, c *caller) (booking.Shop, error) {
	st, err := w.st.Shop(ctx, c.ShopID)
	if err != nil {
		return booking.Shop{}, err
	}
	return booking.ReadShop(st)
}

func shopLoc(sh booking.Shop) *time.Location {
	loc, err := time.LoadLocation(sh.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}
