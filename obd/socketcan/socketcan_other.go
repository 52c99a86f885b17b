//go:build !linux

package socketcan

import "github.com/pitwall-io/pitwall/obd/isotp"

// Bus is unavailable off Linux.
type Bus struct{}

// Close does nothing.
func (b *Bus) Close() error { return nil }

// OpenOBD reports that SocketCAN needs Linux.
func OpenOBD(cfg Config, opt isotp.OBDOptions) (*isotp.OBD, *Bus, error) {
	return nil, nil, ErrUnsupported
}
