package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/testserver"
)

// An installation's SQLite file copied into an empty PostgreSQL database:
// every table's rows, with their values; a second copy into the same
// database is refused and changes nothing.
func TestCopyToPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	src := open(t, filepath.Join(t.TempDir(), "pitwall.db"))
	src, o, v, sh := bookingFixture(t, src)
	_, secret, err := src.AddDevice(ctx, "car-1", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	body := []byte{0, 1, 2, 0xff, 0xfe}
	if err := src.SaveMessages(ctx, []Message{{Device: "car-1", Seq: 1, Boot: 1 << 63, Kind: "dtc", Time: t0, Body: body}}); err != nil {
		t.Fatal(err)
	}
	if err := src.SetOwnerHome(ctx, o.ID, 38.72, -9.14); err != nil {
		t.Fatal(err)
	}
	l := leadWithQuotes(t, src, o, v, sh.ID)
	b, err := src.BookLead(ctx, Booking{LeadID: l.ID, ShopID: sh.ID, OwnerID: o.ID, VehicleID: v.ID, Kind: "repair", Status: "requested", Slot: t0, Day: "2026-11-24", Price: 300, Currency: "USD", Codes: []string{"P0420"}}, 3, testBookMoves)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []BookingChange{{From: "requested", To: "accepted", Actor: "shop"}, {From: "accepted", To: "cancelled", Actor: "owner", Cancel: "moved away"}} {
		if _, err := src.ChangeBooking(ctx, b.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.ClaimNotifications(ctx, "a", []Telling{{Notifier: "feed", Fingerprint: "f", StartsAt: t0, State: "firing", Nth: 1}}, t0, t0); err != nil {
		t.Fatal(err)
	}

	dst := open(t, testserver.PostgresURL(t))
	counts, err := src.CopyTo(ctx, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	byTable := map[string]int{}
	for _, c := range counts {
		byTable[c.Table] = c.Rows
	}
	for table, want := range map[string]int{"owners": 1, "vehicles": 1, "devices": 1, "shops": 1, "leads": 1, "lead_offers": 1, "bookings": 1, "booking_events": 3, "device_messages": 1, "notifications": 1, "reviews": 0} {
		if got, ok := byTable[table]; !ok || got != want {
			t.Errorf("%s: %d rows copied (listed: %v); want %d", table, got, ok, want)
		}
	}
	if err := dst.Authenticate(ctx, "car-1", secret); err != nil {
		t.Errorf("the device's secret after the copy: %v", err)
	}
	if m, err := dst.LatestMessage(ctx, "car-1", "dtc"); err != nil || !bytes.Equal(m.Body, body) || m.Boot != 1<<63 {
		t.Errorf("message %+v, %v", m, err)
	}
	if lat, lon, ok, err := dst.OwnerHome(ctx, o.ID); err != nil || !ok || lat != 38.72 || lon != -9.14 {
		t.Errorf("home %v %v %v %v", lat, lon, ok, err)
	}
	ev, err := dst.BookingEvents(ctx, b.ID)
	if err != nil || len(ev) != 3 || ev[2].To != "cancelled" {
		t.Errorf("events %+v, %v", ev, err)
	}
	// The copy goes on where the source left off.
	if _, err := dst.ChangeBooking(ctx, b.ID, BookingChange{From: "accepted", To: "scheduled"}); !errors.Is(err, ErrConflict) {
		t.Errorf("a stale change after the copy: %v", err)
	}
	if _, err := src.CopyTo(ctx, dst, nil); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("a second copy: %v", err)
	}
	if n, _ := count(ctx, dst.db, "owners"); n != 1 {
		t.Errorf("%d owners after the refused copy", n)
	}
}

// Values SQLite kept under another type than the column's are converted
// or refused, never stored wrong.
func TestConvert(t *testing.T) {
	for _, c := range []struct {
		v      any
		typ    string
		want   any
		failed bool
	}{
		{int64(3), "double precision", 3.0, false},
		{3.0, "bigint", int64(3), false},
		{3.5, "bigint", nil, true},
		{[]byte("x"), "text", "x", false},
		{"x", "bytea", []byte("x"), false},
		{"x", "bigint", nil, true},
		{nil, "bigint", nil, false},
	} {
		got, err := convert(c.v, c.typ)
		if (err != nil) != c.failed || !c.failed && !equalValue(got, c.want) {
			t.Errorf("%v as %s: %v, %v", c.v, c.typ, got, err)
		}
	}
}

func equalValue(a, b any) bool {
	if x, ok := a.([]byte); ok {
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return a == b
}
