//go:build !linux

package dongle

import (
	"context"
	"errors"
)

// PTY is unavailable off Linux.
type PTY struct{ Path string }

// OpenPTY reports that pseudo-terminals need Linux here.
func OpenPTY() (*PTY, error) {
	return nil, errors.New("dongle: the pseudo-terminal adapter needs Linux; use --listen tcp://HOST:PORT")
}

// HostRate is 0 off Linux.
func (p *PTY) HostRate() int { return 0 }

// Close does nothing.
func (p *PTY) Close() error { return nil }

// ServePTY reports that pseudo-terminals need Linux here.
func (e *Emulator) ServePTY(ctx context.Context, p *PTY) error {
	return errors.New("dongle: no pseudo-terminals here")
}
