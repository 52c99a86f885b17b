package server

import "context"

// EraseDevice cuts an erased device's session (it cannot log in again:
// the store no longer knows it) and erases its series and what is kept of
// it in memory; the store's rows are gone already.
func (s *Server) EraseDevice(ctx context.Context, id string) error {
	if s.Broker != nil {
		s.Broker.Revoked(id)
	}
	s.live.forget(id)
	return s.Series.Delete(ctx, id)
}
