// Package demo runs everything in one process for a first look: the
// embedded broker and stores, the server with its pages, a simulated
// fleet whose faults develop within the first minute, and shops around
// a demo city, with logins for an owner, a shop and an administrator.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pitwall-io/pitwall/booking"
	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/server"
	"github.com/pitwall-io/pitwall/store"
)

// Options shape a demo.
type Options struct {
	HTTP     string  // listen address (127.0.0.1:8080)
	Vehicles int     // simulated cars (12)
	Speed    float64 // simulated seconds per real second (10)
	Dir      string  // where the stores live; a temporary directory when empty
	Seed     uint64
	Log      *slog.Logger
	// BcryptCost for the demo logins (bcrypt's default when 0).
	BcryptCost int
}

// Login is a demo account.
type Login struct {
	Role, Email, Password string
}

// Password is every demo account's password.
const Password = "pitwall-demo"

// Demo is a running demo.
type Demo struct {
	Server *server.Server
	URL    string
	Logins []Login
	// OwnerVehicles are the demo owner's cars: an overheating one, a
	// healthy one and a lean one.
	OwnerVehicles []string
	dir           string
	temp          bool
	cancel        context.CancelFunc
	done          chan error
	fleetDone     chan struct{}
	reused        bool // the data directory was seeded by an earlier run
}

// Scenarios are the fleet's cars in order: the demo owner has the first
// three; the faults start within the first simulated minutes.
var Scenarios = []string{"overheat", "healthy", "lean", "weak-battery", "healthy", "misfire", "catalyst", "healthy", "alternator", "evap-leak", "healthy", "o2-sensor"}

var models = []struct{ make, model, class string }{
	{"Volkswagen", "Golf", "medium"}, {"Toyota", "Corolla", "medium"}, {"Renault", "Clio", "small"}, {"Peugeot", "3008", "large"},
	{"Ford", "Focus", "medium"}, {"Fiat", "500", "small"}, {"BMW", "320d", "large"}, {"Seat", "Ibiza", "small"},
}

// Lisbon: the demo city.
const cityLat, cityLon = 38.7223, -9.1393

// Start seeds the stores, starts the server and the fleet.
func Start(ctx context.Context, o Options) (_ *Demo, err error) {
	if o.HTTP == "" {
		o.HTTP = "127.0.0.1:8080"
	}
	if o.Vehicles <= 0 {
		o.Vehicles = 12
	}
	if o.Speed <= 0 {
		o.Speed = 10
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	d := &Demo{dir: o.Dir, done: make(chan error, 1), fleetDone: make(chan struct{})}
	if d.dir == "" {
		if d.dir, err = os.MkdirTemp("", "pitwall-demo-"); err != nil {
			return nil, err
		}
		d.temp = true
	}
	defer func() {
		if err != nil && d.temp {
			os.RemoveAll(d.dir)
		}
	}()
	cfg := server.Config{
		Store:          server.StoreConfig{Path: filepath.Join(d.dir, "pitwall.db")},
		Series:         server.SeriesConfig{Engine: "embedded", Path: filepath.Join(d.dir, "series.db")},
		EmbeddedBroker: server.EmbeddedBrokerConfig{Addr: "127.0.0.1:0"},
		HTTP:           server.HTTPConfig{Addr: o.HTTP},
		Diagnosis:      server.DiagnosisConfig{Currency: "EUR", PerUSD: 0.92, LabourRate: []float64{55, 90}},
		Booking:        server.BookingConfig{SweepInterval: 10 * time.Second},
	}
	s, err := server.New(ctx, cfg, server.WithLogger(o.Log))
	if err != nil {
		return nil, err
	}
	d.Server = s
	// Seeding writes jobs done days ago: the stores take the demo's clock,
	// which runs with the wall clock once seeding is over.
	clock := &pastClock{}
	s.Store.SetClock(clock.now)
	s.Booking.Now = clock.now
	passwords, err := d.seed(ctx, s, o)
	if err == nil && !d.reused {
		err = d.seedAftercare(ctx, s, clock)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("demo: seeding: %w", err)
	}
	d.URL = "http://" + s.HTTPAddr()
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() { d.done <- s.Run(runCtx) }()
	go func() {
		defer close(d.fleetDone)
		_, err := fleet.Run(runCtx, fleet.Config{Broker: s.Broker.URL(), Vehicles: o.Vehicles, Rate: 1, Duration: 100 * 365 * 24 * time.Hour,
			Scenarios: Scenarios, Seed: o.Seed, Speed: o.Speed, Prefix: "demo", Passwords: passwords, Log: o.Log})
		if err != nil && runCtx.Err() == nil {
			o.Log.Error("demo: the fleet stopped", "err", err)
		}
	}()
	return d, nil
}

// Wait blocks until the demo stops.
func (d *Demo) Wait() error { return <-d.done }

// Stop stops the fleet and the server and removes a temporary directory.
func (d *Demo) Stop() error {
	d.cancel()
	<-d.fleetDone
	err := <-d.done
	if d.temp {
		os.RemoveAll(d.dir)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Dir is where the demo keeps its stores.
func (d *Demo) Dir() string { return d.dir }

func (d *Demo) seed(ctx context.Context, s *server.Server, o Options) (map[string]string, error) {
	st := s.Store
	if _, err := st.UserByEmail(ctx, "owner@pitwall.demo"); err == nil {
		d.reused = true
		return d.reuse(ctx, s, o)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(Password), o.BcryptCost)
	if err != nil {
		return nil, err
	}
	user := func(email, role, owner, shop string) error {
		_, err := st.AddUser(ctx, store.User{Email: email, PasswordHash: string(hash), Role: role, OwnerID: owner, ShopID: shop})
		if err == nil {
			d.Logins = append(d.Logins, Login{Role: role, Email: email, Password: Password})
		}
		return err
	}
	if err := user("admin@pitwall.demo", "admin", "", ""); err != nil {
		return nil, err
	}
	owners := []struct{ email, name string }{{"owner@pitwall.demo", "Ana Demo"}, {"rui@pitwall.demo", "Rui"}, {"marta@pitwall.demo", "Marta"}, {"joao@pitwall.demo", "João"}}
	var ownerIDs []string
	for i, ow := range owners {
		rec, err := st.AddOwner(ctx, store.Owner{Email: ow.email, Name: ow.name})
		if err != nil {
			return nil, err
		}
		// Homes spread a few kilometres around the centre.
		if err := st.SetOwnerHome(ctx, rec.ID, cityLat+0.01*float64(i%3), cityLon-0.012*float64(i%2)); err != nil {
			return nil, err
		}
		ownerIDs = append(ownerIDs, rec.ID)
		if i == 0 {
			if err := user(ow.email, "owner", rec.ID, ""); err != nil {
				return nil, err
			}
		}
	}
	if err := d.seedShops(ctx, s, user); err != nil {
		return nil, err
	}
	passwords := map[string]string{}
	now := time.Now()
	for i := 0; i < o.Vehicles; i++ {
		owner := ownerIDs[0]
		if i >= 3 {
			owner = ownerIDs[1+(i-3)%(len(ownerIDs)-1)]
		}
		m := models[i%len(models)]
		vin := car.VINFor(uint64(i))
		year := 2012 + i%10
		if dv, err := diagnosis.DecodeVIN(vin, now); err == nil {
			year = dv.ModelYear // what the simulated car's VIN says
		}
		v, err := st.AddVehicle(ctx, store.Vehicle{OwnerID: owner, VIN: vin, Make: m.make, Model: m.model, Year: year,
			Name: []string{"Family car", "Commuter", "Weekend car"}[i%3]})
		if err != nil {
			return nil, err
		}
		if err := st.SetVehicleClass(ctx, v.ID, m.class); err != nil {
			return nil, err
		}
		id := fmt.Sprintf("demo-%05d", i+1)
		_, secret, err := st.AddDevice(ctx, id, v.ID)
		if err != nil {
			return nil, err
		}
		passwords[id] = secret
		if i < 3 {
			d.OwnerVehicles = append(d.OwnerVehicles, v.ID)
			// A service history: the oil is nearly due, the brake fluid
			// overdue, so reminders have something to say.
			for _, sv := range []store.Service{
				{VehicleID: v.ID, Date: now.AddDate(0, -11, -15), OdometerKm: 34500, Kind: "oil-service", Notes: "Oil and filter"},
				{VehicleID: v.ID, Date: now.AddDate(-2, -1, 0), OdometerKm: 21000, Kind: "brake-fluid", Notes: "Brake fluid"},
				{VehicleID: v.ID, Date: now.AddDate(0, -11, -15), OdometerKm: 34500, Kind: "inspection", Notes: "Annual inspection"},
			} {
				if _, err := st.AddService(ctx, sv); err != nil {
					return nil, err
				}
			}
		}
	}
	rank := map[string]int{"owner": 0, "shop": 1, "admin": 2}
	sort.SliceStable(d.Logins, func(i, j int) bool { return rank[d.Logins[i].Role] < rank[d.Logins[j].Role] })
	return passwords, nil
}

type shopSeed struct {
	id, name, address string
	dLat, dLon        float64
	brands            []string
	systems           []string
	rate              float64
	capacity          int
	respond           int
	jobs              []booking.Price
}

var allSystems = []string{"fuel-air", "emissions", "ignition", "engine", "cooling", "electrical", "transmission", "chassis", "body", "network"}

var shopSeeds = []shopSeed{
	{id: "oficina-alfama", name: "Oficina Alfama", address: "Rua dos Remédios 12, Lisboa", dLat: 0.004, dLon: 0.01, systems: allSystems, rate: 62, capacity: 4, respond: 60,
		jobs: []booking.Price{{Job: "coolant-leak", Price: 180}, {Job: "replace:thermostat", Price: 210}, {Job: "smoke-test", Price: 95}}},
	{id: "auto-campo", name: "Auto Campo de Ourique", address: "Rua Ferreira Borges 40, Lisboa", dLat: 0.0, dLon: -0.025, systems: allSystems, rate: 70, capacity: 3, respond: 120},
	{id: "garagem-benfica", name: "Garagem Benfica", address: "Estrada de Benfica 300, Lisboa", dLat: 0.03, dLon: -0.04, systems: []string{"engine", "cooling", "electrical", "fuel-air", "ignition"}, rate: 55, capacity: 5, respond: 240},
	{id: "vw-especialista", name: "VW Especialista Lisboa", address: "Av. de Roma 88, Lisboa", dLat: 0.027, dLon: 0.002, brands: []string{"Volkswagen", "Seat", "Audi", "Skoda"}, systems: allSystems, rate: 85, capacity: 3, respond: 60},
	{id: "electro-auto", name: "Electro Auto Alcântara", address: "Rua de Alcântara 5, Lisboa", dLat: -0.015, dLon: -0.04, systems: []string{"electrical", "network", "body"}, rate: 60, capacity: 4, respond: 120,
		jobs: []booking.Price{{Job: "replace:battery", Price: 160}, {Job: "replace:alternator", Price: 420}}},
	{id: "pneus-escape", name: "Escapes & Catalisadores Sacavém", address: "Rua da República 20, Sacavém", dLat: 0.07, dLon: 0.02, systems: []string{"emissions", "fuel-air"}, rate: 58, capacity: 6, respond: 180,
		jobs: []booking.Price{{Job: "replace:catalytic-converter", Price: 690}}},
	{id: "almada-motor", name: "Almada Motor", address: "Av. D. Nuno Álvares Pereira 9, Almada", dLat: -0.045, dLon: 0.01, systems: allSystems, rate: 50, capacity: 2, respond: 480},
	{id: "toyota-oeiras", name: "Oeiras Japan Cars", address: "Rua Cândido dos Reis 3, Oeiras", dLat: -0.03, dLon: -0.12, brands: []string{"Toyota", "Honda", "Mazda", "Nissan"}, systems: allSystems, rate: 78, capacity: 3, respond: 90},
}

var weekHours = map[string]string{"mon": "08:30-18:30", "tue": "08:30-18:30", "wed": "08:30-18:30", "thu": "08:30-18:30", "fri": "08:30-18:30", "sat": "09:00-13:00"}

func (d *Demo) seedShops(ctx context.Context, s *server.Server, user func(email, role, owner, shop string) error) error {
	for i, sd := range shopSeeds {
		p := booking.Profile{Systems: sd.systems, Brands: sd.brands, LabourRate: sd.rate, Currency: "EUR", Hours: weekHours, Capacity: sd.capacity,
			ResponseMinutes: sd.respond, Jobs: sd.jobs,
			Packages: []booking.Price{
				{Job: "oil-service", Class: "small", Price: 75 + float64(i*5)}, {Job: "oil-service", Class: "medium", Price: 95 + float64(i*5)},
				{Job: "oil-service", Class: "large", Price: 125 + float64(i*5)}, {Job: "brake-fluid", Price: 55 + float64(i*3)},
				{Job: "inspection", Price: 45 + float64(i*4)}, {Job: "air-filter", Price: 35 + float64(i*2)},
			}}
		if _, err := s.Booking.AddShop(ctx, store.Shop{ID: sd.id, Name: sd.name, Address: sd.address, Lat: cityLat + sd.dLat, Lon: cityLon + sd.dLon,
			TimeZone: "Europe/Lisbon", Email: ""}, p); err != nil {
			return err
		}
		// Every shop has a login: its id at pitwall.demo.
		if err := user(sd.id+"@pitwall.demo", "shop", "", sd.id); err != nil {
			return err
		}
	}
	return nil
}

// reuse takes up a demo directory seeded before: the same accounts and
// cars, with new device secrets for this run's fleet.
func (d *Demo) reuse(ctx context.Context, s *server.Server, o Options) (map[string]string, error) {
	st := s.Store
	owner, err := st.UserByEmail(ctx, "owner@pitwall.demo")
	if err != nil {
		return nil, err
	}
	vs, err := st.Vehicles(ctx, owner.OwnerID)
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		if i < 3 {
			d.OwnerVehicles = append(d.OwnerVehicles, v.ID)
		}
	}
	d.Logins = append(d.Logins, Login{Role: "owner", Email: "owner@pitwall.demo", Password: Password})
	for _, sd := range shopSeeds {
		d.Logins = append(d.Logins, Login{Role: "shop", Email: sd.id + "@pitwall.demo", Password: Password})
	}
	d.Logins = append(d.Logins, Login{Role: "admin", Email: "admin@pitwall.demo", Password: Password})
	passwords := map[string]string{}
	for i := 0; i < o.Vehicles; i++ {
		id := fmt.Sprintf("demo-%05d", i+1)
		sec, err := st.RotateSecret(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("%w (the directory was seeded for fewer cars; use a new --data directory)", err)
		}
		passwords[id] = sec
	}
	return passwords, nil
}
