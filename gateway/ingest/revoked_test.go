package ingest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// revocationList is a changeable list of revoked devices.
type revocationList struct {
	mu  sync.Mutex
	ids []string
}

func (r *revocationList) RevokedSince(_ context.Context, t time.Time) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !t.IsZero() {
		panic("the ingest reads the revoked devices whole")
	}
	return append([]string(nil), r.ids...), nil
}

func (r *revocationList) set(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = ids
}

// A revoked device's messages are refused with reason "revoked" and
// nothing of them is stored, whatever let them through the broker; a
// device revoked by this server is refused at once; one given a new
// secret (no longer revoked) is stored again after the next reload.
func TestRevokedDevicesRefused(t *testing.T) {
	revs := &revocationList{}
	revs.set("car-revoked")
	in, _, sr, logs := runDirect(t, WithRevocations(revs))
	ctx := context.Background()
	now := time.Now()
	for _, d := range []string{"car-revoked", "car-ok"} {
		deliver(t, in, d, wire.KindStatus, birth(d, 1, 1))
		deliver(t, in, d, wire.KindTelemetry, telemetry(d, 1, 2, now, 50))
	}
	eventually(t, 10*time.Second, "car-ok stored", func() bool {
		l, err := sr.Latest(ctx, "car-ok", nil)
		return err == nil && len(l) > 0
	})
	if got := in.Stats().RejectedBy["revoked"]; got != 2 {
		t.Errorf("%d messages refused as revoked, want 2 (all: %v)", got, in.Stats().RejectedBy)
	}
	if l, err := sr.Latest(ctx, "car-revoked", nil); err != nil || len(l) != 0 {
		t.Errorf("the revoked device's values were stored: %v, %v", l, err)
	}
	if !strings.Contains(logs.String(), "reason=revoked") || !strings.Contains(logs.String(), "car-revoked is revoked") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}

	in.Revoked("car-ok")
	deliver(t, in, "car-ok", wire.KindTelemetry, telemetry("car-ok", 1, 3, now.Add(time.Second), 60))
	if got := in.Stats().RejectedBy["revoked"]; got != 3 {
		t.Errorf("after revoking car-ok here: %d refused, want 3", got)
	}

	revs.set() // both given new secrets
	if err := in.loadRevoked(ctx); err != nil {
		t.Fatal(err)
	}
	deliver(t, in, "car-revoked", wire.KindStatus, birth("car-revoked", 2, 4))
	deliver(t, in, "car-revoked", wire.KindTelemetry, telemetry("car-revoked", 2, 5, now.Add(2*time.Second), 70))
	eventually(t, 10*time.Second, "car-revoked stored once it is no longer revoked", func() bool {
		l, err := sr.Latest(ctx, "car-revoked", nil)
		return err == nil && len(l) > 0
	})
}
