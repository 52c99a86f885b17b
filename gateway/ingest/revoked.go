package ingest

import (
	"context"
	"sync"
	"time"
)

// Revocations lists the devices revoked at t or later (all of them for
// the zero time); *store.Store is one.
type Revocations interface {
	RevokedSince(ctx context.Context, t time.Time) ([]string, error)
}

// RevocationCheck is how often the ingest reloads the revoked devices:
// a device revoked on another server, or by `pitwall devices revoke`,
// has its messages refused within this long whatever the broker does.
const RevocationCheck = 5 * time.Second

// WithRevocations makes the ingest refuse (acknowledge and drop, reason
// "revoked") every message of a revoked device, however it reached the
// broker: on a NATS cluster a revoked device's open session lasts until
// its login expires, and Mosquitto knows of a revocation only from the
// next export.
func WithRevocations(r Revocations) Option { return func(in *Ingest) { in.revocations = r } }

// revokedSet is the devices whose messages are refused, replaced whole
// at each reload.
type revokedSet struct {
	mu  sync.RWMutex
	ids map[string]bool
}

func (s *revokedSet) has(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ids[id]
}

func (s *revokedSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
}

func (s *revokedSet) replace(ids []string) {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = m
}

// Revoked refuses a device's messages from now on (the revoking server
// tells its own ingest at once; the others learn within RevocationCheck).
func (in *Ingest) Revoked(id string) { in.revoked.add(id) }

// loadRevoked reads every revoked device: a device given a new secret is
// no longer revoked, so the set is read whole, not added to.
func (in *Ingest) loadRevoked(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, RevocationCheck)
	defer cancel()
	ids, err := in.revocations.RevokedSince(qctx, time.Time{})
	if err != nil {
		return err
	}
	in.revoked.replace(ids)
	return nil
}

// watchRevoked reloads the revoked devices until ctx ends.
func (in *Ingest) watchRevoked(ctx context.Context) {
	t := time.NewTicker(RevocationCheck)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := in.loadRevoked(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			in.log.Warn("ingest: reading the revoked devices; the last list read stands until it works", "err", err)
			failing = true
		case err == nil && failing:
			in.log.Info("ingest: reading the revoked devices works again")
			failing = false
		}
	}
}
