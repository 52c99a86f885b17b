package broker

import (
	"errors"
	"net"
)

// ErrNoPlace: ServeConn found every place taken.
var ErrNoPlace = errors.New("broker: no place for the connection")

// ServeConn serves one connection as the first listener would have, for
// the fuzz target: the same bounds and checks, the same broker, without
// the kernel's TCP (and its ports) between. It returns when the
// connection has ended.
func (b *Broker) ServeConn(c net.Conn) error {
	g := b.guards[0]
	gc := g.admit(c)
	if gc == nil {
		return ErrNoPlace
	}
	return b.srv.EstablishConnection(g.id, gc)
}
