package broker

import "github.com/mochi-mqtt/server/v2/packets"

// Disconnect cuts a device's open session, if it has one, telling it it
// is no longer authorised; it reports whether there was one.
func (b *Broker) Disconnect(device string) bool {
	cl, ok := b.srv.Clients.Get(device)
	if !ok || cl.Closed() {
		return false
	}
	_ = b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
	return true
}
