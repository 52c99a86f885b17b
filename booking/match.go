package booking

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/store"
)

// Need is what a car needs done, for matching.
type Need struct {
	// Lat and Lon are where the car usually is; HasLocation false when the
	// owner gave none (distance then plays no part).
	Lat, Lon    float64
	HasLocation bool
	Make        string
	Class       string
	// Systems the job touches; Repairs the most likely fixes, priced by
	// the knowledge base; Fair their fair range together.
	Systems []string
	Repairs []diagnosis.Repair
	Fair    diagnosis.Money
	// Package, instead of repairs, is a maintenance item by name.
	Package string
	// MaxKm bounds the distance (50 km when 0).
	MaxKm float64
	// StopDriving is a fault the car must not be driven with: shops that
	// tow or repair where the car is come first.
	StopDriving bool
}

// Candidate is a shop with what matching needs to know of it.
type Candidate struct {
	Shop   Shop
	Rating store.Rating
	Load   map[string]int // live bookings per day
}

// Suggestion is a shop ranked for a need, with the reasons.
type Suggestion struct {
	ShopID     string    `json:"shop_id"`
	Name       string    `json:"name"`
	Address    string    `json:"address,omitempty"`
	DistanceKm float64   `json:"distance_km,omitempty"`
	Rating     float64   `json:"rating,omitempty"` // the reviews' mean; absent without reviews
	Reviews    int       `json:"reviews"`
	Price      float64   `json:"price"`
	Fixed      bool      `json:"fixed_price"` // the shop's own fixed price, not an estimate from its labour rate
	Currency   string    `json:"currency"`
	Earliest   time.Time `json:"earliest_slot"`
	Respond    int       `json:"response_minutes"`
	Score      float64   `json:"score"`
	Reasons    []string  `json:"reasons"`
	// Roadside is what the shop does for a car that cannot be driven
	// (towing, mobile); Phone is how to call it.
	Roadside []string `json:"roadside,omitempty"`
	Phone    string   `json:"phone,omitempty"`

	distance string // the reason that says how far the car is, if any
}

// withoutDistance is the reasons but how far the car is.
func (sg Suggestion) withoutDistance() []string {
	var out []string
	for _, r := range sg.Reasons {
		if r != sg.distance {
			out = append(out, r)
		}
	}
	return out
}

// Match ranks the shops that can do the job, best first. A shop is left
// out when it does not repair a system the job needs, does not take the
// make, is farther than MaxKm, has no free day within two weeks, or
// (for a package) does not offer it.
func Match(need Need, cands []Candidate, now time.Time) []Suggestion {
	maxKm := need.MaxKm
	if maxKm <= 0 {
		maxKm = 50
	}
	var out []Suggestion
	for _, c := range cands {
		p := c.Shop.Profile
		if missing := missingSystems(p.Systems, need.Systems); len(missing) > 0 {
			continue
		}
		specialist := false
		if len(p.Brands) > 0 {
			if !slices.ContainsFunc(p.Brands, func(b string) bool { return strings.EqualFold(b, need.Make) }) {
				continue
			}
			specialist = true
		}
		sg := Suggestion{ShopID: c.Shop.ID, Name: c.Shop.Name, Address: c.Shop.Address, Currency: p.Currency, Respond: p.ResponseMinutes, Reviews: c.Rating.Reviews,
			Roadside: p.Roadside, Phone: c.Shop.Phone}
		if need.HasLocation {
			sg.DistanceKm = math.Round(haversine(need.Lat, need.Lon, c.Shop.Lat, c.Shop.Lon)*10) / 10
			if sg.DistanceKm > maxKm {
				continue
			}
		}
		slot, ok := c.Shop.Earliest(now, c.Load)
		if !ok {
			continue
		}
		sg.Earliest = slot
		if need.Package != "" {
			pr, ok := price(p.Packages, need.Package, need.Class)
			if !ok {
				continue
			}
			sg.Price, sg.Fixed = pr, true
		} else {
			sg.Price, sg.Fixed = estimate(p, need)
		}
		// Ranking takes a Bayesian mean: a shop with few reviews is pulled
		// towards 4 stars. What is shown is the owners' own mean, and only
		// when there are reviews or follow-up answers.
		rated := c.Rating.Reviews + c.Rating.Followups
		bayes := (c.Rating.Mean*float64(rated) + 4*5) / float64(rated+5)
		if rated > 0 {
			sg.Rating = math.Round(c.Rating.Mean*10) / 10
		}

		var score float64
		var reasons []string
		if need.HasLocation {
			score += 25 * (1 - sg.DistanceKm/maxKm)
			sg.distance = fmt.Sprintf("%.1f km away", sg.DistanceKm)
			reasons = append(reasons, sg.distance)
		}
		score += 25 * (bayes - 1) / 4
		switch {
		case c.Rating.Followups > 0:
			reasons = append(reasons, fmt.Sprintf("rated %.1f from %d review(s) and %d follow-up(s)", c.Rating.Mean, c.Rating.Reviews, c.Rating.Followups))
		case c.Rating.Reviews > 0:
			reasons = append(reasons, fmt.Sprintf("rated %.1f from %d review(s)", c.Rating.Mean, c.Rating.Reviews))
		default:
			reasons = append(reasons, "no reviews yet")
		}
		kind := "estimated from its labour rate"
		if sg.Fixed {
			kind = "fixed price"
		}
		if need.Fair.High > 0 && need.Fair.Currency == p.Currency {
			pos := (need.Fair.High - sg.Price) / math.Max(need.Fair.High-need.Fair.Low, 1)
			score += 25 * clamp(pos, 0, 1)
			where := "within"
			switch {
			case sg.Price < need.Fair.Low:
				where = "below"
			case sg.Price > need.Fair.High:
				where = "above"
			}
			reasons = append(reasons, fmt.Sprintf("%s %s %.0f, %s the fair range %s", kind, p.Currency, sg.Price, where, need.Fair))
		} else {
			reasons = append(reasons, fmt.Sprintf("%s %s %.0f", kind, p.Currency, sg.Price))
		}
		days := slot.Sub(now).Hours() / 24
		score += 15 * clamp(1-days/14, 0, 1)
		reasons = append(reasons, "free "+when(slot, now, c.Shop.loc))
		if specialist {
			score += 10
			reasons = append(reasons, "specialises in "+need.Make)
		}
		reasons = append(reasons, fmt.Sprintf("answers within %s", minutes(p.ResponseMinutes)))
		if need.StopDriving {
			if slices.Contains(p.Roadside, Towing) {
				reasons = append(reasons, "tows the car: it should not be driven")
			}
			if slices.Contains(p.Roadside, Mobile) {
				reasons = append(reasons, "repairs where the car stands")
			}
		}
		sg.Score, sg.Reasons = math.Round(score*10)/10, reasons
		out = append(out, sg)
	}
	slices.SortStableFunc(out, func(a, b Suggestion) int {
		if need.StopDriving {
			// A car that must not be driven needs a tow or a mobile
			// mechanic first.
			if c := cmp.Compare(min(len(b.Roadside), 1), min(len(a.Roadside), 1)); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ShopID, b.ShopID)
	})
	return out
}

func missingSystems(has, want []string) []string {
	var out []string
	for _, w := range want {
		if w != "" && !slices.Contains(has, w) {
			out = append(out, w)
		}
	}
	return out
}

// estimate prices the repairs at a shop: its fixed price where it has
// one, else the parts midpoint and the labour midpoint at its rate.
func estimate(p Profile, need Need) (float64, bool) {
	total, fixed := 0.0, len(need.Repairs) > 0
	for _, r := range need.Repairs {
		if pr, ok := price(p.Jobs, r.ID, need.Class); ok {
			total += pr
			continue
		}
		fixed = false
		total += (r.Parts.Low+r.Parts.High)/2 + (r.Hours[0]+r.Hours[1])/2*p.LabourRate
	}
	return math.Round(total), fixed
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

func when(slot, now time.Time, loc *time.Location) string {
	l, n := slot.In(loc), now.In(loc)
	switch {
	case l.YearDay() == n.YearDay() && l.Year() == n.Year():
		return "today at " + l.Format("15:04")
	case l.YearDay() == n.AddDate(0, 0, 1).YearDay():
		return "tomorrow at " + l.Format("15:04")
	}
	return l.Format("Mon 2 Jan at 15:04")
}

func minutes(m int) string {
	switch {
	case m%(24*60) == 0:
		return fmt.Sprintf("%d day(s)", m/(24*60))
	case m%60 == 0:
		return fmt.Sprintf("%d hour(s)", m/60)
	}
	return fmt.Sprintf("%d minutes", m)
}
