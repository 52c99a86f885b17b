package server

import "context"

// RevokeDevice stops a device logging in and cuts its open session on
// the embedded broker at once.
func (s *Server) RevokeDevice(ctx context.Context, id string) error {
	if err := s.Store.RevokeDevice(ctx, id); err != nil {
		return err
	}
	if s.Broker != nil && s.Broker.Disconnect(id) {
		s.log.Info("a revoked device's session was cut", "device", id)
	}
	return nil
}

// EraseDevice cuts an erased device's session and erases its series and
// what is kept of it in memory; the store's rows are gone already.
func (s *Server) EraseDevice(ctx context.Context, id string) error {
	if s.Broker != nil {
		s.Broker.Disconnect(id)
	}
	s.live.forget(id)
	return s.Series.Delete(ctx, id)
}
