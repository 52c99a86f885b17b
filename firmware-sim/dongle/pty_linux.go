//go:build linux

package dongle

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal the emulator serves, like a USB adapter's
// serial port.
type PTY struct {
	Path   string
	master *os.File
	tty    *os.File
}

// OpenPTY creates a pseudo-terminal; hosts open its Path as a serial port.
func OpenPTY() (*PTY, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("dongle: opening a pseudo-terminal: %w", err)
	}
	// A non-blocking descriptor lets Close end a pending read.
	fd, err := unix.Dup(int(ptmx.Fd()))
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	ptmx.Close()
	if err != nil {
		tty.Close()
		return nil, fmt.Errorf("dongle: %w", err)
	}
	// Raw until the host sets it up: no echo, no line editing.
	if t, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err == nil {
		t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Oflag &^= unix.OPOST
		t.Iflag &^= unix.ICRNL | unix.IXON
		_ = unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, t)
	}
	return &PTY{Path: tty.Name(), master: os.NewFile(uintptr(fd), "ptmx"), tty: tty}, nil
}

var termiosRates = map[uint32]int{unix.B9600: 9600, unix.B19200: 19200, unix.B38400: 38400, unix.B57600: 57600,
	unix.B115200: 115200, unix.B230400: 230400, unix.B500000: 500000}

// HostRate is the rate the host set on its side of the line.
func (p *PTY) HostRate() int {
	t, err := unix.IoctlGetTermios(int(p.tty.Fd()), unix.TCGETS)
	if err != nil {
		return 0
	}
	return termiosRates[t.Cflag&unix.CBAUD]
}

// Close removes the pseudo-terminal.
func (p *PTY) Close() error {
	p.master.Close()
	return p.tty.Close()
}

// ServePTY serves the pseudo-terminal until ctx ends. A host that closes
// the port and opens it again starts a new session, as after unplugging.
func (e *Emulator) ServePTY(ctx context.Context, p *PTY) error {
	go func() { <-ctx.Done(); p.master.Close() }()
	for ctx.Err() == nil {
		if err := e.Serve(ctx, p.master, p.HostRate); err != nil && ctx.Err() == nil {
			return err
		}
		if ctx.Err() == nil {
			// The host closed the port: wait for it to come back.
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
