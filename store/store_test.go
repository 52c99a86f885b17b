package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pitwall.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestMigrationsOnceOnly(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	if _, err := s.AddOwner(ctx, Owner{Email: "ana@example.com", Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(ctx, path) // the migrations are not run again
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Version(ctx); err != nil || v != 1 {
		t.Fatalf("version %d, %v", v, err)
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

func TestDevices(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
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

func TestJournal(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
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
