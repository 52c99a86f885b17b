package booking

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/store"
)

// ErrInvalid is wrapped by every complaint about a value; the message
// names the field.
var ErrInvalid = errors.New("booking: invalid")

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Profile is what a shop offers.
type Profile struct {
	// Systems are the knowledge base's systems the shop repairs (fuel-air,
	// emissions, ignition, engine, cooling, electrical, transmission,
	// chassis, hybrid, network, body).
	Systems []string `json:"systems" yaml:"systems"`
	// Brands, when set, are the makes the shop specialises in and the only
	// ones it takes.
	Brands     []string `json:"brands,omitempty" yaml:"brands"`
	LabourRate float64  `json:"labour_rate" yaml:"labour_rate"` // per hour, in Currency
	Currency   string   `json:"currency" yaml:"currency"`
	// Jobs are fixed prices for repairs ("replace:thermostat", "fuel-cap"),
	// Packages for maintenance items ("oil-service"), per vehicle class
	// (small, medium, large; empty for every class).
	Jobs     []Price `json:"jobs,omitempty" yaml:"jobs"`
	Packages []Price `json:"packages,omitempty" yaml:"packages"`
	// Hours are opening hours per weekday: "mon": "08:00-17:30". A day
	// left out is closed.
	Hours map[string]string `json:"hours" yaml:"hours"`
	// Capacity is how many jobs the shop takes a day.
	Capacity int `json:"capacity" yaml:"capacity"`
	// ResponseMinutes is how soon the shop promises to answer a lead;
	// unanswered by then, the lead moves on to the next shop.
	ResponseMinutes int `json:"response_minutes" yaml:"response_minutes"`
	// TaxRate is the tax on its bills, in percent (23 for 23%; at most
	// two decimals); prices, rates and lines are given before tax.
	TaxRate float64 `json:"tax_rate,omitempty" yaml:"tax_rate"`
	// ComplaintMinutes is how soon, in opening hours, the shop promises
	// to answer a complaint (60 when 0); unanswered by then, it goes to
	// Pitwall's administrators.
	ComplaintMinutes int `json:"complaint_minutes,omitempty" yaml:"complaint_minutes"`
	// Roadside is what the shop does for a car that must not be driven:
	// towing, mobile (repairs where the car is). A stop-driving fault
	// lists such shops first.
	Roadside []string `json:"roadside,omitempty" yaml:"roadside"`
}

// Roadside services a shop may offer.
const (
	Towing = "towing" // tows the car to the shop
	Mobile = "mobile" // repairs the car where it stands
)

// DefaultComplaintMinutes is the complaint promise of a shop that gives
// none: an hour of opening time.
const DefaultComplaintMinutes = 60

// ComplaintPromise is how long the shop has to answer a complaint,
// counted in its opening hours.
func (p Profile) ComplaintPromise() time.Duration {
	if p.ComplaintMinutes == 0 {
		return DefaultComplaintMinutes * time.Minute
	}
	return time.Duration(p.ComplaintMinutes) * time.Minute
}

// TaxBP is the tax rate in basis points (2300 for 23%).
func (p Profile) TaxBP() int {
	h, _ := hundredths(p.TaxRate)
	return int(h)
}

// Price is a fixed price for a job or a package.
type Price struct {
	Job   string  `json:"job" yaml:"job"`
	Class string  `json:"class,omitempty" yaml:"class"`
	Price float64 `json:"price" yaml:"price"`
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Systems the knowledge base knows.
var Systems = []string{"fuel-air", "emissions", "ignition", "engine", "cooling", "electrical", "transmission", "chassis", "hybrid", "network", "body"}

// Classes are the vehicle price classes.
var Classes = []string{"small", "medium", "large"}

// Validate checks a profile, naming the first bad field.
func (p *Profile) Validate() error {
	if len(p.Systems) == 0 {
		return invalid("systems", "name at least one system the shop repairs")
	}
	for i, s := range p.Systems {
		if !slices.Contains(Systems, s) {
			return invalid(fmt.Sprintf("systems[%d]", i), "%q is none of %s", s, strings.Join(Systems, ", "))
		}
	}
	if len(p.Currency) != 3 || strings.ToUpper(p.Currency) != p.Currency {
		return invalid("currency", "%q: want a three-letter code like EUR", p.Currency)
	}
	if !(p.LabourRate >= 10 && p.LabourRate <= 2000) {
		return invalid("labour_rate", "%v: want 10–2000 per hour", p.LabourRate)
	}
	if p.Capacity < 1 || p.Capacity > 500 {
		return invalid("capacity", "%d: want 1–500 jobs a day", p.Capacity)
	}
	if p.ResponseMinutes < 5 || p.ResponseMinutes > 3*24*60 {
		return invalid("response_minutes", "%d: want 5 minutes to 3 days", p.ResponseMinutes)
	}
	if h, ok := hundredths(p.TaxRate); !ok || h < 0 || h > 5000 || math.Abs(float64(h)-p.TaxRate*100) > 1e-6 {
		return invalid("tax_rate", "%v: want a percentage from 0 to 50 with at most two decimals", p.TaxRate)
	}
	if p.ComplaintMinutes != 0 && (p.ComplaintMinutes < 15 || p.ComplaintMinutes > 3*24*60) {
		return invalid("complaint_minutes", "%d: want 15 minutes to 3 days (0 for an hour)", p.ComplaintMinutes)
	}
	for i, r := range p.Roadside {
		if r != Towing && r != Mobile || slices.Index(p.Roadside, r) != i {
			return invalid(fmt.Sprintf("roadside[%d]", i), "%q: want towing or mobile, each once", r)
		}
	}
	if len(p.Hours) == 0 {
		return invalid("hours", "a shop without opening hours cannot be booked; give at least one day like \"mon\": \"08:00-17:00\"")
	}
	for day, h := range p.Hours {
		if !slices.Contains(weekdays, day) {
			return invalid("hours."+day, "not a weekday; use %s", strings.Join(weekdays, ", "))
		}
		if _, _, err := parseHours(h); err != nil {
			return invalid("hours."+day, "%v", err)
		}
	}
	for _, list := range []struct {
		name string
		ps   []Price
	}{{"jobs", p.Jobs}, {"packages", p.Packages}} {
		for i, pr := range list.ps {
			f := fmt.Sprintf("%s[%d]", list.name, i)
			switch {
			case pr.Job == "":
				return invalid(f+".job", "empty")
			case pr.Class != "" && !slices.Contains(Classes, pr.Class):
				return invalid(f+".class", "%q: want small, medium or large", pr.Class)
			case !(pr.Price > 0 && pr.Price <= 50000):
				return invalid(f+".price", "%v: want more than 0 and at most 50000", pr.Price)
			}
		}
	}
	return nil
}

// parseHours reads "08:00-17:30" as minutes after midnight.
func parseHours(h string) (open, close int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(h), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want HH:MM-HH:MM", h)
	}
	open, err1 := clock(a)
	close, err2 := clock(b)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: want HH:MM-HH:MM", h)
	}
	if close <= open {
		return 0, 0, fmt.Errorf("%q: closes before it opens", h)
	}
	return open, close, nil
}

func clock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Shop is a stored shop with its profile read.
type Shop struct {
	store.Shop
	Profile Profile
	loc     *time.Location
}

// ReadShop reads a stored shop's profile.
func ReadShop(s store.Shop) (Shop, error) {
	sh := Shop{Shop: s}
	if err := json.Unmarshal(s.Profile, &sh.Profile); err != nil {
		return Shop{}, fmt.Errorf("shop %s: profile: %w", s.ID, err)
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return Shop{}, invalid("timezone", "%q: %v", s.TimeZone, err)
	}
	sh.loc = loc
	return sh, nil
}

// NewShop checks a shop before it is stored, naming the bad field.
func NewShop(s store.Shop, p Profile) (store.Shop, error) {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return s, invalid("name", "empty")
	case s.Lat < -90 || s.Lat > 90 || s.Lon < -180 || s.Lon > 180 || s.Lat == 0 && s.Lon == 0:
		return s, invalid("location", "%v,%v is not a place", s.Lat, s.Lon)
	case s.Email != "" && !strings.Contains(s.Email, "@"):
		return s, invalid("email", "%q", s.Email)
	case s.WebhookURL != "" && !strings.HasPrefix(s.WebhookURL, "https://") && !strings.HasPrefix(s.WebhookURL, "http://"):
		return s, invalid("webhook_url", "%q: want an http(s) URL", s.WebhookURL)
	case s.WebhookURL != "" && len(s.WebhookSecret) < 16:
		return s, invalid("webhook_secret", "a webhook needs a secret of at least 16 characters to sign with")
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return s, invalid("timezone", "%q is no IANA time zone", s.TimeZone)
	}
	if err := p.Validate(); err != nil {
		return s, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return s, err
	}
	s.Profile = b
	return s, nil
}

// open is the shop's opening and closing on t's local day, ok false when
// closed.
func (s Shop) open(day time.Time) (from, to time.Time, ok bool) {
	h, found := s.Profile.Hours[weekdays[day.Weekday()]]
	if !found {
		return time.Time{}, time.Time{}, false
	}
	o, c, err := parseHours(h)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	y, m, d := day.Date()
	base := time.Date(y, m, d, 0, 0, 0, 0, s.loc)
	return base.Add(time.Duration(o) * time.Minute), base.Add(time.Duration(c) * time.Minute), true
}

// AnswerBy is when a promise of d, started at sent, runs out counting only
// the shop's opening hours: a lead sent after closing is due d after the
// next opening. A shop open on no day counts the clock.
func (s Shop) AnswerBy(sent time.Time, d time.Duration) time.Time {
	left := d
	local := sent.In(s.loc)
	for i := 0; i < 21; i++ {
		from, to, ok := s.open(local.AddDate(0, 0, i))
		if !ok {
			continue
		}
		if from.Before(sent) {
			from = sent
		}
		if !to.After(from) {
			continue
		}
		open := to.Sub(from)
		if open >= left {
			return from.Add(left).UTC()
		}
		left -= open
	}
	return sent.Add(d).UTC()
}

// Day is a time's date in the shop's time zone, the unit of capacity.
func (s Shop) Day(t time.Time) string { return t.In(s.loc).Format("2006-01-02") }

// SlotHorizon is how far ahead slots are offered and booked.
const SlotHorizon = 60 * 24 * time.Hour

// CheckSlot says whether a slot can be booked: in the future, within the
// horizon, inside the day's opening hours leaving an hour for the job.
func (s Shop) CheckSlot(slot, now time.Time) error {
	switch {
	case slot.IsZero():
		return invalid("slot", "missing")
	case !slot.After(now):
		return invalid("slot", "%s is in the past", slot.Format(time.RFC3339))
	case slot.Sub(now) > SlotHorizon:
		return invalid("slot", "%s is more than 60 days ahead", slot.Format(time.RFC3339))
	}
	local := slot.In(s.loc)
	from, to, ok := s.open(local)
	if !ok {
		return invalid("slot", "%s: %s is closed on %s", local.Format("2006-01-02 15:04"), s.Name, local.Weekday())
	}
	if local.Before(from) || local.After(to.Add(-time.Hour)) {
		return invalid("slot", "%s: %s takes cars from %s to %s that day", local.Format("2006-01-02 15:04"), s.Name, from.Format("15:04"), to.Add(-time.Hour).Format("15:04"))
	}
	return nil
}

// Earliest is the first slot from now on a day with room, within 14
// days: the opening time, or the next full hour when the shop is open
// already with at least two hours left. load counts the live bookings per
// day.
func (s Shop) Earliest(now time.Time, load map[string]int) (time.Time, bool) {
	local := now.In(s.loc)
	for i := 0; i < 14; i++ {
		day := local.AddDate(0, 0, i)
		from, to, ok := s.open(day)
		if !ok || load[s.Day(from)] >= s.Profile.Capacity {
			continue
		}
		slot := from
		if i == 0 {
			next := local.Truncate(time.Hour).Add(time.Hour)
			if next.After(slot) {
				slot = next
			}
			if slot.After(to.Add(-2 * time.Hour)) {
				continue
			}
		}
		return slot, true
	}
	return time.Time{}, false
}

// price finds a shop's fixed price for a job and vehicle class.
func price(ps []Price, job, class string) (float64, bool) {
	best, found := 0.0, false
	for _, p := range ps {
		if p.Job != job {
			continue
		}
		if p.Class == class {
			return p.Price, true
		}
		if p.Class == "" {
			best, found = p.Price, true
		}
	}
	return best, found
}
