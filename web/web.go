package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
	"golang.org/x/crypto/bcrypt"
)

//go:embed static templates
var files embed.FS

// Cars is what the pages and the API ask of the running server about
// cars: their pre-diagnosis and newest values (*server.Server is one).
type Cars interface {
	Diagnose(ctx context.Context, vehicleID string) (diagnosis.Report, error)
	Latest(ctx context.Context, device string, signals []string) (map[string]series.Value, error)
}

// History reads stored series (series.Store is one).
type History interface {
	Range(ctx context.Context, q series.Query) ([]series.Series, error)
}

// Feed streams an owner's notifications (*alerting.Feed is one).
type Feed interface {
	ServeSSE(rw http.ResponseWriter, r *http.Request, owner string)
}

// Fleet is what the server does with devices beyond the store (*server.Server is one).
type Fleet interface {
	// RevokeDevice stops a device logging in and cuts its broker session.
	RevokeDevice(ctx context.Context, id string) error
	// EraseDevice cuts an erased device's session and erases its series.
	EraseDevice(ctx context.Context, id string) error
	// ClearTroubleCodes sends a device the signed, once-only command to
	// clear its car's trouble codes; it returns the command's id.
	ClearTroubleCodes(ctx context.Context, device string) (string, error)
}

// Mailer sends one email (*alerting.Email is one).
type Mailer interface {
	Send(ctx context.Context, to, id, subject, body string, at time.Time) error
}

// Deps are what the web side is built on.
type Deps struct {
	Store   *store.Store
	Booking *booking.Service
	Cars    Cars
	History History
	Feed    Feed
	Fleet   Fleet
	// Mailer sends account emails (confirmations, resets); without one
	// they are written to the log.
	Mailer Mailer
	// PublicURL is how people reach this server ("https://pitwall.example");
	// emailed links start with it.
	PublicURL string
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix
	// Pairing is what a dongle is told when it pairs.
	Pairing Pairing
	// Geocoder finds typed addresses; nil for none.
	Geocoder Geocoder
	// BcryptCost hashes new passwords (bcrypt.DefaultCost when 0).
	BcryptCost int
	Log        *slog.Logger
}

// Web serves the API and the pages of one server.
type Web struct {
	st      *store.Store
	bk      *booking.Service
	fleet   Fleet
	mailer  Mailer
	cars    Cars
	hist    History
	feedSrc Feed
	log     *slog.Logger
	// Attempts limited per address and email: sign-ins; sign-ups and
	// emailed links; pairing-code exchanges.
	signins, signups, mails, pairings *limiter
	// dummyHash is checked against when an email is unknown, so both
	// answers take as long.
	dummyHash []byte
	// pages holds each page's template set: the layout with that page.
	pages map[string]*template.Template

	publicURL string
	proxies   []netip.Prefix
	pairing   Pairing
	geocoder  Geocoder
	cost      int

	who whoCache

	// bookings tells the open booking pages of changes.
	bookings *bookingWatch

	mu       sync.Mutex
	diags    map[string]diagEntry  // per vehicle, for a few seconds
	firingBy map[string]alertEntry // firing alerts per owner, for a second
}

type alertEntry struct {
	at     time.Time
	alerts []store.Alert
}

type diagEntry struct {
	at   time.Time
	rep  diagnosis.Report
	sugg []booking.Suggestion
	err  error
}

// New prepares the web side of a server.
func New(d Deps) (*Web, error) {
	if d.Store == nil || d.Booking == nil || d.Cars == nil || d.History == nil || d.Feed == nil || d.Fleet == nil {
		return nil, errors.New("web: Store, Booking, Cars, History, Feed and Fleet are required")
	}
	if d.PublicURL == "" {
		return nil, errors.New("web: PublicURL is required: emailed links start with it")
	}
	if d.BcryptCost == 0 {
		d.BcryptCost = bcrypt.DefaultCost
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("no such user, no such password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	w := &Web{st: d.Store, bk: d.Booking, fleet: d.Fleet, mailer: d.Mailer, publicURL: d.PublicURL, proxies: d.TrustedProxies, pairing: d.Pairing, geocoder: d.Geocoder, cost: d.BcryptCost,
		cars: d.Cars, hist: d.History, feedSrc: d.Feed, log: d.Log, dummyHash: h,
		signins: newLimiter(5, 15*time.Minute), signups: newLimiter(10, time.Hour), mails: newLimiter(5, time.Hour), pairings: newLimiter(20, 15*time.Minute),
		diags: map[string]diagEntry{}, firingBy: map[string]alertEntry{}}
	if w.pages, err = parsePages(); err != nil {
		return nil, err
	}
	w.bookings = newBookingWatch(w.st.BookingVersions, time.Second)
	return w, nil
}

// Register adds the routes to a mux.
func (w *Web) Register(mux *http.ServeMux) {
	w.routes(mux.Handle)
}

var labels = map[string]string{
	diagnosis.SigCoolant: "coolant", diagnosis.SigRPM: "rpm", diagnosis.SigSpeed: "speed", diagnosis.SigLoad: "load",
	diagnosis.SigSTFT1: "short-term trim", diagnosis.SigLTFT1: "long-term trim", diagnosis.SigBattery: "battery",
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"join": strings.Join,
		"has":  slices.Contains[[]string],
		"inc":  func(i int) int { return i + 1 },
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"sig": func(m map[string]float64, k string, digits int) string {
			v, ok := m[k]
			if !ok {
				return "–"
			}
			return strconv.FormatFloat(v, 'f', digits, 64)
		},
		"label": func(s string) string {
			if l, ok := labels[s]; ok {
				return l
			}
			return path.Ext(s)[1:]
		},
		"stars": func() []int { return []int{5, 4, 3, 2, 1} },
		// symptoms says faults seen in the live data by their titles.
		"symptoms": func(ids []string) string {
			kb, err := diagnosis.Builtin()
			out := make([]string, 0, len(ids))
			for _, id := range ids {
				title := id
				if err == nil {
					if _, t, terr := kb.ExplainSymptom(id, diagnosis.DefaultPricing()); terr == nil {
						title = strings.ToLower(t[:1]) + t[1:]
					}
				}
				out = append(out, title)
			}
			return strings.Join(out, ", ")
		},
		"money": func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
		"num": func(v float64, digits int) string { // without trailing zeros: 1.5, 2
			s := strconv.FormatFloat(v, 'f', digits, 64)
			if strings.Contains(s, ".") {
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
			}
			return s
		},
		"stepname": booking.StepName,
		"yesno": func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		},
		"item": func(id string) string {
			if it, ok := booking.ItemByID(id); ok {
				return it.Name
			}
			return id
		},
		"unit": func(u string) string {
			if t, ok := map[string]string{"celsius": "°C", "percent": "%", "degrees": "°", "ratio": ""}[u]; ok {
				return t
			}
			return u
		},
	}
	root := template.New("").Funcs(funcs)
	if _, err := root.ParseFS(files, "templates/layout.html", "templates/partials/*.html"); err != nil {
		return nil, err
	}
	names, _ := fs.Glob(files, "templates/*.html")
	sets := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := root.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(files, n); err != nil {
			return nil, err
		}
		sets[base] = t
	}
	return sets, nil
}
