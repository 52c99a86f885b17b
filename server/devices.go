package server

import (
	"context"

	"github.com/pitwall-io/pitwall/series"
)

// EraseDevice cuts an erased device's session (it cannot log in again:
// the store no longer knows it) and erases its series and what is kept of
// it in memory; the store's rows are gone already.
func (s *Server) EraseDevice(ctx context.Context, id string) error {
	if s.Broker != nil {
		s.Broker.Revoked(id)
	}
	s.Pipeline.Forget(id)
	return s.Series.Delete(ctx, id)
}

// Latest is a device's newest values of the signals (all it has for
// nil), as the pipeline keeps them.
func (s *Server) Latest(ctx context.Context, device string, signals []string) (map[string]series.Value, error) {
	return s.Pipeline.Latest(ctx, device, signals)
}
