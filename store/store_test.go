package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/testserver"
)

// onEach runs a test on every engine, each with a fresh database: the
// store's one conformance suite.
func onEach(t *testing.T, f func(t *testing.T, s *Store, dsn string)) {
	t.Helper()
	for _, db := range testserver.Databases(t) {
		t.Run(db.Engine, func(t *testing.T) {
			f(t, open(t, db.DSN), db.DSN)
		})
	}
}

func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsOnceOnly(t *testing.T) { onEach(t, testMigrationsOnceOnly) }

func testMigrationsOnceOnly(t *testing.T, s *Store, path string) {
	ctx := context.Background()
	if _, err := s.AddOwner(ctx, Owner{Email: "ana@example.com", Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(ctx, path) // the migrations are not run again
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := readMigrations(migrations)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx); err != nil || v != list[len(list)-1].version || v < 2 {
		t.Fatalf("version %d, %v; migrations up to %d", v, err, list[len(list)-1].version)
	}
	if _, err := s.AddOwner(ctx, Owner{Email: "ANA@example.com "}); !errors.Is(err, ErrExists) {
		t.Fatalf("the same email again: %v", err)
	}
}

// A hash made by mosquitto_passwd (Debian's Mosquitto 2.0) checks here,
// and ours has its shape.
func TestSecretHashMatchesMosquitto(t *testing.T) {
	const fromMosquitto = "$7$101$qlOxzTB3R8Dzh3dy$x/0+Bds1JedSZQ4aDoucnLlByDUAcesq/xqMh0+uYigZyQOAH68YyiSeltCnow0xDHfS1yb/JTfB42haBXiqtA=="
	if !CheckSecret(fromMosquitto, "s3cret") || CheckSecret(fromMosquitto, "s3cret ") {
		t.Fatal("mosquitto's hash does not check")
	}
	h := HashSecret("s3cret")
	if !CheckSecret(h, "s3cret") || CheckSecret(h, "other") || h == HashSecret("s3cret") {
		t.Fatalf("our hash %q", h)
	}
	for _, bad := range []string{"", "$6$x$y", "$7$abc$c2FsdA==$aGFzaA==", "$7$1000$!!!$aGFzaA==", "$7$99999999999$c2FsdA==$aGFzaA=="} {
		if CheckSecret(bad, "s3cret") {
			t.Errorf("%q checked", bad)
		}
	}
}

func TestDevices(t *testing.T) { onEach(t, testDevices) }

func testDevices(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	o, err := s.AddOwner(ctx, Owner{Email: "ana@example.com", Name: "Ana"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.AddVehicle(ctx, Vehicle{OwnerID: o.ID, VIN: "1g1jc5444r7252367", Make: "Chevrolet", Model: "Cavalier", Year: 1994})
	if err != nil {
		t.Fatal(err)
	}
	d, secret, err := s.AddDevice(ctx, "car-1", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != 32 || bytes.Contains([]byte(d.SecretHash), []byte(secret)) {
		t.Fatalf("secret %q, hash %q", secret, d.SecretHash)
	}
	if _, _, err := s.AddDevice(ctx, "car-1", ""); !errors.Is(err, ErrExists) {
		t.Fatalf("the same id again: %v", err)
	}
	if _, _, err := s.AddDevice(ctx, "car-2", "no-such-vehicle"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a device on a missing vehicle: %v", err)
	}
	if err := s.Authenticate(ctx, "car-1", secret); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"car-1", "wrong"}, {"car-9", secret}, {"car-1", ""}} {
		if err := s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrDenied) {
			t.Errorf("%v: %v", c, err)
		}
	}
	got, err := s.VehicleOfDevice(ctx, "car-1")
	if err != nil || got.VIN != "1G1JC5444R7252367" || got.OwnerID != o.ID {
		t.Fatalf("vehicle of car-1: %+v, %v", got, err)
	}
	if err := s.RevokeDevice(ctx, "car-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Authenticate(ctx, "car-1", secret); !errors.Is(err, ErrDenied) {
		t.Fatalf("a revoked device: %v", err)
	}
	if err := s.RevokeDevice(ctx, "car-9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown device: %v", err)
	}
	secret2, err := s.RotateSecret(ctx, "car-1")
	if err != nil || s.Authenticate(ctx, "car-1", secret2) != nil || s.Authenticate(ctx, "car-1", secret) == nil {
		t.Fatalf("rotation: %v", err)
	}
	list, err := s.Devices(ctx)
	if err != nil || len(list) != 1 || !list[0].Active() || list[0].VehicleID != v.ID {
		t.Fatalf("devices %+v, %v", list, err)
	}
	if vs, err := s.Vehicles(ctx, o.ID); err != nil || len(vs) != 1 {
		t.Fatalf("vehicles of the owner: %v, %v", vs, err)
	}
}

func TestJournal(t *testing.T) { onEach(t, testJournal) }

func testJournal(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	msgs := []Message{
		{Device: "car-1", Seq: 7, Boot: 1 << 63, Kind: "dtc", Time: t0, Body: []byte{1}},
		{Device: "car-1", Seq: 9, Boot: 1 << 63, Kind: "event", Time: t0.Add(time.Second), Body: []byte{2}},
	}
	if err := s.SaveMessages(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	// Delivered again, with other bytes: the first stays.
	if err := s.SaveMessages(ctx, []Message{{Device: "car-1", Seq: 7, Boot: 1 << 63, Kind: "dtc", Time: t0, Body: []byte{9}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Messages(ctx, "car-1", "", t0, 10)
	if err != nil || len(got) != 2 || got[0].Body[0] != 1 || got[0].Boot != 1<<63 || !got[1].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("messages %+v, %v", got, err)
	}
	if got, _ := s.Messages(ctx, "car-1", "event", t0, 10); len(got) != 1 || got[0].Seq != 9 {
		t.Fatalf("events %+v", got)
	}

	if err := s.SaveBirth(ctx, "car-1", 42, 5, t0, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBirth(ctx, "car-1", 42, 1, t0, []byte("first, late")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Birth(ctx, "car-1", 42); err != nil || string(b) != "second" {
		t.Fatalf("birth %q, %v", b, err)
	}
	if _, err := s.Birth(ctx, "car-1", 43); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown boot: %v", err)
	}

	st := DeviceStatus{Device: "car-1", Online: true, Seen: t0.Add(time.Minute), Boot: 42, LastSeq: 9, VIN: "1G1JC5444R7252367", AgentVersion: "1.0"}
	if err := s.SaveStatuses(ctx, []DeviceStatus{st}); err != nil {
		t.Fatal(err)
	}
	older := DeviceStatus{Device: "car-1", Online: false, Seen: t0, Boot: 41, LastSeq: 3}
	newer := DeviceStatus{Device: "car-1", Online: false, Seen: t0.Add(2 * time.Minute), Boot: 42, LastSeq: 12}
	if err := s.SaveStatuses(ctx, []DeviceStatus{older, newer}); err != nil {
		t.Fatal(err)
	}
	got1, err := s.Status(ctx, "car-1")
	if err != nil || got1.Online || got1.LastSeq != 12 || got1.VIN != "1G1JC5444R7252367" || got1.AgentVersion != "1.0" || !got1.Seen.Equal(newer.Seen) {
		t.Fatalf("status %+v, %v", got1, err)
	}
}

func TestAlertsAndNotifications(t *testing.T) { onEach(t, testAlertsAndNotifications) }

func testAlertsAndNotifications(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	a := Alert{Fingerprint: "f1", Device: "car-1", Rule: "overheat", Severity: "critical", Labels: map[string]string{"alertname": "overheat"},
		State: "firing", StartsAt: t0, Summary: "hot", Values: map[string]float64{"Vehicle.X": 112}, SendResolved: true, Updated: t0}
	if err := s.SaveAlerts(ctx, []Alert{a}); err != nil {
		t.Fatal(err)
	}
	a.State, a.EndsAt, a.Updated = "resolved", t0.Add(time.Minute), t0.Add(time.Minute)
	if err := s.SaveAlerts(ctx, []Alert{a}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Alerts(ctx, "car-1", false, 10)
	if err != nil || len(got) != 1 || got[0].State != "resolved" || got[0].Values["Vehicle.X"] != 112 || !got[0].EndsAt.Equal(t0.Add(time.Minute)) || got[0].Codes == nil {
		t.Fatalf("alerts %+v, %v", got, err)
	}
	if firing, _ := s.Alerts(ctx, "", true, 10); len(firing) != 0 {
		t.Fatalf("firing %+v", firing)
	}
	n := Telling{Notifier: "email", Fingerprint: "f1", StartsAt: t0, State: "firing", Nth: 1}
	if got, err := s.ClaimNotifications(ctx, "a", []Telling{n}, t0, t0.Add(-time.Minute)); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v, %v", got, err)
	}
	if told, err := s.LastNotified(ctx, "email", "f1", t0, "firing"); err != nil || told.Nth != 1 || !told.Pending || !told.At.Equal(t0) {
		t.Fatalf("claimed: %+v, %v", told, err)
	}
	sent := t0.Add(time.Second)
	if err := s.RecordNotifications(ctx, "a", []Telling{n}, "n1", sent); err != nil {
		t.Fatal(err)
	}
	if told, err := s.LastNotified(ctx, "email", "f1", t0, "firing"); err != nil || told.Nth != 1 || told.Pending || !told.At.Equal(sent) || told.ID != "n1" {
		t.Fatalf("last notified %+v, %v", told, err)
	}
	if told, _ := s.LastNotified(ctx, "webhook", "f1", t0, "firing"); told.Nth != 0 {
		t.Fatal("another notifier counts as sent")
	}

	sl, err := s.AddSilence(ctx, Silence{Device: "car-1", Matchers: map[string]string{"alertname": "low-fuel"}, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Silences(ctx, "car-1", t0.Add(time.Minute)); len(got) != 1 || got[0].Matchers["alertname"] != "low-fuel" {
		t.Fatalf("silences %+v", got)
	}
	if got, _ := s.Silences(ctx, "car-1", t0.Add(2*time.Hour)); len(got) != 0 {
		t.Fatalf("an expired silence: %+v", got)
	}
	if _, err := s.AddSilence(ctx, Silence{Device: "car-1", StartsAt: t0, EndsAt: t0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an empty silence: %v", err)
	}
	_ = sl

	o, _ := s.AddOwner(ctx, Owner{Email: "ana@example.com", Name: "Ana"})
	v, _ := s.AddVehicle(ctx, Vehicle{OwnerID: o.ID})
	s.AddDevice(ctx, "car-2", v.ID)
	if err := s.SetQuietHours(ctx, o.ID, QuietHours{Start: "22:00", End: "07:00", TimeZone: "Europe/Paris"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQuietHours(ctx, o.ID, QuietHours{Start: "25:00"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad time: %v", err)
	}
	r, err := s.RecipientOfDevice(ctx, "car-2")
	if err != nil || r.Owner.Email != "ana@example.com" || r.Quiet.TimeZone != "Europe/Paris" || r.Quiet.Start != "22:00" {
		t.Fatalf("recipient %+v, %v", r, err)
	}
	if _, err := s.RecipientOfDevice(ctx, "car-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a device on no vehicle: %v", err)
	}
	if _, err := s.AddService(ctx, Service{VehicleID: v.ID, Date: t0.AddDate(0, -6, 0), OdometerKm: 40000}); err != nil {
		t.Fatal(err)
	}
	s.AddService(ctx, Service{VehicleID: v.ID, Date: t0.AddDate(-1, 0, 0), OdometerKm: 30000})
	if sv, err := s.LastService(ctx, "car-2"); err != nil || sv.OdometerKm != 40000 {
		t.Fatalf("last service %+v, %v", sv, err)
	}
	items, err := s.AddFeedItems(ctx, []FeedItem{{OwnerID: o.ID, Device: "car-2", Fingerprint: "f", State: "firing", Severity: "critical", Summary: "hot", Time: t0}})
	if err != nil || items[0].ID == "" {
		t.Fatal(err)
	}
	if feed, _ := s.Feed(ctx, o.ID, t0, 10); len(feed) != 1 || feed[0].Summary != "hot" {
		t.Fatalf("feed %+v", feed)
	}
}

// A telling is claimed by one server: the others are refused while the
// claim holds, a failed send gives it back, a lapsed claim is taken over,
// and a sent telling is never claimed again.
func TestNotificationClaims(t *testing.T) { onEach(t, testNotificationClaims) }

func testNotificationClaims(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	first := Telling{Notifier: "feed", Fingerprint: "f1", StartsAt: t0, State: "firing", Nth: 1}
	other := Telling{Notifier: "feed", Fingerprint: "f2", StartsAt: t0, State: "firing", Nth: 1}
	lease := 2 * time.Minute
	claim := func(who string, at time.Time, ts ...Telling) []Telling {
		t.Helper()
		got, err := s.ClaimNotifications(ctx, who, ts, at, at.Add(-lease))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := claim("a", t0, first); len(got) != 1 {
		t.Fatalf("a's claim: %+v", got)
	}
	if got := claim("b", t0.Add(time.Minute), first, other); len(got) != 1 || got[0] != other {
		t.Fatalf("b took a telling a holds: %+v", got)
	}
	if err := s.ReleaseNotifications(ctx, "b", []Telling{other}); err != nil {
		t.Fatal(err)
	}
	if got := claim("c", t0.Add(time.Minute), other); len(got) != 1 {
		t.Fatalf("a released claim was not free: %+v", got)
	}
	// a died without recording: after the lease its claim is taken over.
	if got := claim("b", t0.Add(lease+time.Second), first); len(got) != 1 {
		t.Fatalf("a lapsed claim was not taken over: %+v", got)
	}
	if err := s.RecordNotifications(ctx, "a", []Telling{first}, "late", t0.Add(lease+2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if told, _ := s.LastNotified(ctx, "feed", "f1", t0, "firing"); !told.Pending {
		t.Fatalf("a recorded a claim it no longer held: %+v", told)
	}
	if err := s.RecordNotifications(ctx, "b", []Telling{first}, "n1", t0.Add(lease+2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := claim("c", t0.Add(time.Hour), first); len(got) != 0 {
		t.Fatalf("a sent telling was claimed again: %+v", got)
	}
	second := first
	second.Nth = 2
	if got := claim("c", t0.Add(time.Hour), second); len(got) != 1 {
		t.Fatalf("the repeat: %+v", got)
	}
	if told, _ := s.LastNotified(ctx, "feed", "f1", t0, "firing"); told.Nth != 2 || !told.Pending {
		t.Fatalf("latest %+v", told)
	}
	if _, err := s.ClaimNotifications(ctx, "c", []Telling{{Notifier: "feed", Fingerprint: "f3", Nth: 0}}, t0, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("telling 0: %v", err)
	}
}

// Servers racing for one telling on parallel connections: one gets it.
func TestNotificationClaimRace(t *testing.T) { onEach(t, testNotificationClaimRace) }

func testNotificationClaimRace(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for round := range 5 {
		tell := Telling{Notifier: "feed", Fingerprint: fmt.Sprintf("f%d", round), StartsAt: t0, State: "firing", Nth: 1}
		var wg sync.WaitGroup
		var won atomic.Int32
		start := make(chan struct{})
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := s.ClaimNotifications(ctx, fmt.Sprint("server-", i), []Telling{tell}, t0, t0.Add(-time.Minute))
				if err != nil {
					t.Error(err)
				}
				won.Add(int32(len(got)))
			}()
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("round %d: %d servers claimed one telling", round, won.Load())
		}
	}
}

// A new SQLite database, and the files SQLite keeps beside it, are the
// owner's alone: they hold password and secret hashes.
func TestNewDatabaseIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pitwall.db")
	s := open(t, path)
	if _, err := s.AddOwner(context.Background(), Owner{Email: "ana@example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
