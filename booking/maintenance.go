package booking

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pitwall-io/pitwall/store"
)

//go:embed maintenance.yaml
var maintenanceYAML []byte

// Item is a maintenance job done on a schedule.
type Item struct {
	ID          string  `yaml:"-"`
	Name        string  `yaml:"name"`
	EveryKm     float64 `yaml:"every_km"`     // 0: by time only
	EveryMonths int     `yaml:"every_months"` // 0: by distance only
	// Class overrides the interval for small, medium or large cars.
	Class map[string]struct {
		EveryKm     float64 `yaml:"every_km"`
		EveryMonths int     `yaml:"every_months"`
	} `yaml:"class"`
	Note string `yaml:"note"`
}

var items = func() []Item {
	var f struct {
		Items map[string]Item `yaml:"items"`
	}
	if err := yaml.Unmarshal(maintenanceYAML, &f); err != nil {
		panic(err) // embedded and tested
	}
	var out []Item
	for id, it := range f.Items {
		it.ID = id
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int { return stringsCompare(a.ID, b.ID) })
	return out
}()

func stringsCompare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Items lists the maintenance items with their default intervals.
func Items() []Item { return items }

// ItemByID finds an item.
func ItemByID(id string) (Item, bool) {
	i := slices.IndexFunc(items, func(it Item) bool { return it.ID == id })
	if i < 0 {
		return Item{}, false
	}
	return items[i], true
}

// interval is the item's interval for a class and a car's overrides.
func (it Item) interval(class string, overrides []store.MaintenanceOverride) (float64, int) {
	km, months := it.EveryKm, it.EveryMonths
	if c, ok := it.Class[class]; ok {
		if c.EveryKm > 0 {
			km = c.EveryKm
		}
		if c.EveryMonths > 0 {
			months = c.EveryMonths
		}
	}
	for _, o := range overrides {
		if o.Item == it.ID {
			km, months = o.EveryKm, o.EveryMonths
		}
	}
	return km, months
}

// Reminder is one item's state on one car.
type Reminder struct {
	Item   string `json:"item"`
	Name   string `json:"name"`
	Status string `json:"status"` // ok, soon, due, unknown
	// EveryKm and EveryMonths are the interval that applies: the car's
	// class's, or the owner's own.
	EveryKm     float64 `json:"every_km,omitempty"`
	EveryMonths int     `json:"every_months,omitempty"`
	// LastDone, LastKm: the last time it was done; zero without a record.
	LastDone time.Time `json:"last_done,omitzero"`
	LastKm   float64   `json:"last_km,omitempty"`
	// DueKm and DueDate: when it is next due (zero when that measure does
	// not apply).
	DueKm   float64   `json:"due_km,omitempty"`
	DueDate time.Time `json:"due_date,omitzero"`
	Message string    `json:"message"`
	// Shops offering the item as a package, ranked; filled for soon and
	// due reminders.
	Shops []Suggestion `json:"shops,omitempty"`
}

// Reminders works out every item's state for a car: soon within 1,000 km
// or 30 days of due, due once passed. An item never recorded is unknown,
// not guessed.
func Reminders(class string, odometer float64, services []store.Service, overrides []store.MaintenanceOverride, now time.Time) []Reminder {
	var out []Reminder
	for _, it := range items {
		km, months := it.interval(class, overrides)
		r := Reminder{Item: it.ID, Name: it.Name, EveryKm: km, EveryMonths: months}
		i := slices.IndexFunc(services, func(sv store.Service) bool { return sv.Kind == it.ID })
		if i < 0 {
			r.Status = "unknown"
			r.Message = fmt.Sprintf("Every %s. No record of the last %s; add it and Pitwall will remind you.", every(km, months), lower(it.Name))
			out = append(out, r)
			continue
		}
		last := services[i]
		r.LastDone, r.LastKm = last.Date, last.OdometerKm
		r.Status = "ok"
		var msgs []string
		if km > 0 {
			r.DueKm = last.OdometerKm + km
			left := r.DueKm - odometer
			switch {
			case odometer > 0 && left <= 0:
				r.Status = "due"
				msgs = append(msgs, fmt.Sprintf("%.0f km overdue", -left))
			case odometer > 0 && left <= 1000:
				r.Status = worse(r.Status, "soon")
				msgs = append(msgs, fmt.Sprintf("due in %.0f km", left))
			}
		}
		if months > 0 {
			r.DueDate = last.Date.AddDate(0, months, 0)
			switch {
			case !now.Before(r.DueDate):
				r.Status = "due"
				msgs = append(msgs, "due since "+r.DueDate.Format("2 Jan 2006"))
			case r.DueDate.Sub(now) <= 30*24*time.Hour:
				r.Status = worse(r.Status, "soon")
				msgs = append(msgs, "due on "+r.DueDate.Format("2 Jan 2006"))
			}
		}
		switch {
		case len(msgs) > 0:
			r.Message = it.Name + ": " + join(msgs)
		default:
			r.Message = it.Name + ": next " + nextText(r)
		}
		out = append(out, r)
	}
	rank := map[string]int{"due": 0, "soon": 1, "ok": 2, "unknown": 3}
	slices.SortStableFunc(out, func(a, b Reminder) int { return rank[a.Status] - rank[b.Status] })
	return out
}

// every says an interval in words: "15,000 km or 12 months".
func every(km float64, months int) string {
	var parts []string
	if km > 0 {
		parts = append(parts, thousands(km)+" km")
	}
	if months > 0 {
		parts = append(parts, fmt.Sprintf("%d months", months))
	}
	return strings.Join(parts, " or ")
}

func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func worse(a, b string) string {
	rank := map[string]int{"ok": 0, "soon": 1, "due": 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func join(xs []string) string {
	if len(xs) == 2 {
		return xs[0] + " or " + xs[1] + ", whichever comes first"
	}
	return xs[0]
}

func nextText(r Reminder) string {
	switch {
	case r.DueKm > 0 && !r.DueDate.IsZero():
		return fmt.Sprintf("at %.0f km or on %s", r.DueKm, r.DueDate.Format("2 Jan 2006"))
	case r.DueKm > 0:
		return fmt.Sprintf("at %.0f km", r.DueKm)
	}
	return "on " + r.DueDate.Format("2 Jan 2006")
}

func lower(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}

// Reminders gives an owner's car its reminders; those soon or due carry
// the shops that offer the item as a package, ranked.
func (s *Service) Reminders(ctx context.Context, ownerID, vehicleID string, odometer float64) ([]Reminder, error) {
	v, err := s.ownedVehicle(ctx, ownerID, vehicleID)
	if err != nil {
		return nil, err
	}
	class, err := s.Store.VehicleClass(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	services, err := s.Store.Services(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	overrides, err := s.Store.MaintenanceOverrides(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	rs := Reminders(class, odometer, services, overrides, s.now())
	var cands []Candidate
	lat, lon, hasHome, err := s.Store.OwnerHome(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	for i, r := range rs {
		if r.Status != "soon" && r.Status != "due" {
			continue
		}
		if cands == nil {
			if cands, err = s.candidates(ctx); err != nil {
				return nil, err
			}
		}
		rs[i].Shops = Match(Need{Lat: lat, Lon: lon, HasLocation: hasHome, Make: v.Make, Class: class, Package: r.Item}, cands, s.now())
	}
	return rs, nil
}

// Override sets an owner's own interval for an item on a car.
func (s *Service) Override(ctx context.Context, ownerID, vehicleID, item string, everyKm float64, everyMonths int) error {
	if _, err := s.ownedVehicle(ctx, ownerID, vehicleID); err != nil {
		return err
	}
	switch _, ok := ItemByID(item); {
	case !ok:
		return invalid("item", "%q is no maintenance item", item)
	case everyKm < 0 || everyKm > 500000:
		return invalid("every_km", "%v: want 0–500000", everyKm)
	case everyMonths < 0 || everyMonths > 240:
		return invalid("every_months", "%d: want 0–240", everyMonths)
	case everyKm == 0 && everyMonths == 0:
		return invalid("every_km", "give a distance, a time, or both")
	}
	return s.Store.SetMaintenanceOverride(ctx, store.MaintenanceOverride{VehicleID: vehicleID, Item: item, EveryKm: everyKm, EveryMonths: everyMonths})
}
