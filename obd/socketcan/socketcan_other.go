//go:build !linux

package socketcan

import (
	"context"

	"github.com/pitwall-io/pitwall/obd/isotp"
)

// Bus is unavailable off Linux.
type Bus struct{}

// Send reports that SocketCAN needs Linux.
func (b *Bus) Send(ctx context.Context, f isotp.Frame) error { return ErrUnsupported }

// Receive reports that SocketCAN needs Linux.
func (b *Bus) Receive(ctx context.Context) (isotp.Frame, error) { return isotp.Frame{}, ErrUnsupported }

// Close does nothing.
func (b *Bus) Close() error { return nil }

// OpenOBD reports that SocketCAN needs Linux.
func OpenOBD(cfg Config, opt isotp.OBDOptions) (*isotp.OBD, *Bus, error) {
	return nil, nil, ErrUnsupported
}

// OpenIDs reports that SocketCAN needs Linux.
func OpenIDs(iface string, ids []uint32, extended bool) (*Bus, error) { return nil, ErrUnsupported }
