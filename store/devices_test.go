package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// Device ids follow the wire's rules wherever a device is created: an id
// that is not one topic level of letters, digits, '-' and '_' is refused
// before anything is stored.
func TestDeviceIDs(t *testing.T) { onEach(t, testDeviceIDs) }

func testDeviceIDs(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	for _, bad := range []string{"", "+", "#", "a/b#", "car 1", "car\n1", "car:1", strings.Repeat("x", 300), "é"} {
		if _, _, err := s.AddDevice(ctx, bad, ""); !errors.Is(err, ErrInvalid) || !errors.Is(err, wire.ErrDevice) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if list, err := s.Devices(ctx); err != nil || len(list) != 0 {
		var ids []string
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		t.Errorf("stored %q, %v", ids, err)
	}
	if _, _, err := s.AddDevice(ctx, strings.Repeat("x", wire.MaxDeviceIDLen), ""); err != nil {
		t.Errorf("the longest id: %v", err)
	}
}

// A device gets a command key when added and a new one when its
// credentials rotate; the server reads it back to sign with.
func TestCommandKeys(t *testing.T) { onEach(t, testCommandKeys) }

func testCommandKeys(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	d, _, err := s.AddDevice(ctx, "car-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.CommandKey) != wire.CommandKeySize {
		t.Fatalf("key %x", d.CommandKey)
	}
	got, err := s.Device(ctx, "car-1")
	if err != nil || !bytes.Equal(got.CommandKey, d.CommandKey) {
		t.Fatalf("read back %x, %v", got.CommandKey, err)
	}
	other, _, _ := s.AddDevice(ctx, "car-2", "")
	if bytes.Equal(other.CommandKey, d.CommandKey) {
		t.Fatal("two devices share a key")
	}
	_ = s.RevokeDevice(ctx, "car-1")
	secret, key, err := s.RotateCredentials(ctx, "car-1")
	if err != nil || bytes.Equal(key, d.CommandKey) || len(key) != wire.CommandKeySize || s.Authenticate(ctx, "car-1", secret) != nil {
		t.Fatalf("rotated: %x, %v", key, err)
	}
	if got, _ := s.Device(ctx, "car-1"); !bytes.Equal(got.CommandKey, key) || !got.Active() {
		t.Errorf("after rotation: %+v", got)
	}
	if _, _, err := s.RotateCredentials(ctx, "car-9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown device: %v", err)
	}
}

// Revocations can be listed by time, for brokers in other processes.
func TestRevokedSince(t *testing.T) { onEach(t, testRevokedSince) }

func testRevokedSince(t *testing.T, s *Store, _ string) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	now := t0
	s.now = func() time.Time { return now }
	for _, id := range []string{"a", "b", "c"} {
		if _, _, err := s.AddDevice(ctx, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.RevokeDevice(ctx, "a")
	now = t0.Add(time.Minute)
	_ = s.RevokeDevice(ctx, "b")
	got, err := s.RevokedSince(ctx, t0.Add(time.Second))
	if err != nil || len(got) != 1 || got[0] != "b" {
		t.Errorf("revoked since: %v, %v", got, err)
	}
	if got, _ := s.RevokedSince(ctx, t0); len(got) != 2 {
		t.Errorf("revoked since the start: %v", got)
	}
	for id, want := range map[string]bool{"a": false, "b": false, "c": true, "nobody": false} {
		if ok, err := s.DeviceActive(ctx, id); ok != want || err != nil {
			t.Errorf("%s active: %v, %v", id, ok, err)
		}
	}
}
