package booking

import (
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// A shop's promise counts only its opening hours.
func TestAnswerByCountsOpeningHours(t *testing.T) {
	p := Profile{Systems: []string{"engine"}, LabourRate: 60, Currency: "EUR", Capacity: 2, ResponseMinutes: 60,
		Hours: map[string]string{"mon": "08:00-18:30", "tue": "08:00-18:30", "wed": "08:00-18:30", "thu": "08:00-18:30", "fri": "08:00-18:30", "sat": "09:00-13:00"}}
	st, err := NewShop(store.Shop{ID: "s", Name: "S", Lat: 38.7, Lon: -9.1, TimeZone: "Europe/Lisbon"}, p)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := ReadShop(st)
	if err != nil {
		t.Fatal(err)
	}
	lis, _ := time.LoadLocation("Europe/Lisbon")
	at := func(day, hm string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, lis)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		sent, want time.Time
		promise    time.Duration
	}{
		{at("2026-12-01", "10:00"), at("2026-12-01", "11:00"), time.Hour},     // a Tuesday morning
		{at("2026-12-01", "19:40"), at("2026-12-02", "09:00"), time.Hour},     // after closing: the next morning
		{at("2026-12-01", "18:00"), at("2026-12-02", "08:30"), time.Hour},     // half tonight, half tomorrow
		{at("2026-12-01", "06:00"), at("2026-12-01", "09:00"), time.Hour},     // before opening
		{at("2026-12-05", "12:30"), at("2026-12-07", "08:30"), time.Hour},     // Saturday noon: Sunday is closed
		{at("2026-12-04", "17:00"), at("2026-12-05", "11:30"), 4 * time.Hour}, // Friday 1.5 h, Saturday 2.5 h
	} {
		if got := sh.AnswerBy(c.sent, c.promise); !got.Equal(c.want) {
			t.Errorf("sent %s, %v: due %s, want %s", c.sent.Format("Mon 2 Jan 15:04"), c.promise, got.In(lis).Format("Mon 2 Jan 15:04"), c.want.Format("Mon 2 Jan 15:04"))
		}
	}
}
