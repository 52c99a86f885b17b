package dongle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
)

// Config puts an adapter in front of a car.
type Config struct {
	Profile Profile
	Car     *car.Car
	Clock   *car.Clock
	Modules []*ecu.Module
	// Protocol is the car's bus; ISO 15765-4 CAN 11/500 when zero.
	Protocol obd.Protocol
	// Timing paces output at the baud rate and waits out response times
	// and timeouts. Off, the emulator answers at once with the same bytes
	// (tests).
	Timing bool
	Log    *slog.Logger
}

// Emulator is an ELM327 in front of a simulated car. One host at a time
// talks to it, as with a real adapter.
type Emulator struct {
	cfg Config
	mu  sync.Mutex // one session at a time
}

// New builds an emulator.
func New(cfg Config) *Emulator {
	if cfg.Protocol == obd.ProtocolUnknown {
		cfg.Protocol = obd.ProtocolCAN11_500
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Emulator{cfg: cfg}
}

// state is the car now.
func (e *Emulator) state() car.State {
	e.cfg.Car.AdvanceTo(e.cfg.Clock.Sim())
	return e.cfg.Car.State()
}

// pause waits d when timing is on.
func (e *Emulator) pause(ctx context.Context, d time.Duration) {
	if !e.cfg.Timing || d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Serve talks to one host over rw until it goes away or ctx ends.
// hostRate, when not nil, reports the host's serial line rate (a pty).
func (e *Emulator) Serve(ctx context.Context, rw io.ReadWriter, hostRate func() int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := make(chan []byte, 64)
	go func() {
		defer close(in)
		buf := make([]byte, 256)
		for {
			n, err := rw.Read(buf)
			if n > 0 {
				select {
				case in <- append([]byte(nil), buf[:n]...):
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					continue
				}
				return
			}
		}
	}()
	u := &uart{w: rw, baud: e.cfg.Profile.Baud, hostRate: hostRate, timing: e.cfg.Timing}
	s := newSession(e, u, in)
	err := s.run(ctx)
	if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// ListenTCP serves hosts that connect to addr, one at a time, like a Wi-Fi
// adapter, until ctx ends. ready, if not nil, gets the address listened on.
func (e *Emulator) ListenTCP(ctx context.Context, addr string, ready func(net.Addr)) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dongle: %w", err)
	}
	if ready != nil {
		ready(l.Addr())
	}
	go func() { <-ctx.Done(); l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dongle: %w", err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		e.cfg.Log.Info("host connected", "remote", c.RemoteAddr())
		cctx, cancel := context.WithCancel(ctx)
		go func() { <-cctx.Done(); c.Close() }()
		if err := e.Serve(cctx, c, nil); err != nil {
			e.cfg.Log.Warn("session ended", "err", err)
		}
		cancel()
		e.cfg.Log.Info("host disconnected", "remote", c.RemoteAddr())
	}
}

// switchBaud handles ATBRD on the session's line.
func (s *session) switchBaud(ctx context.Context, divisor int) error {
	if !s.p.SwitchBaud || s.u.hostRate == nil {
		// TCP adapters and clones cannot change their serial rate.
		if s.p.ignores("BRD") {
			return s.reply("OK")
		}
		return s.reply("?")
	}
	rate := 4000000 / divisor
	if err := s.u.send([]byte("OK" + s.eol())); err != nil {
		return err
	}
	old := s.u.baud
	s.u.baud = nearestRate(rate)
	// The wait gives the host time to switch; it is part of the handshake,
	// so it holds even when timing is off.
	time.Sleep(s.brt)
	if err := s.u.send([]byte(s.p.Identity + s.eol())); err != nil {
		return err
	}
	deadline := time.Now().Add(max(s.brt, 50*time.Millisecond))
	for time.Now().Before(deadline) {
		if len(s.pend) > 0 || s.interrupted() {
			c := s.pend[0]
			s.pend = s.pend[1:]
			if c == '\r' && s.u.hostRate() == s.u.baud {
				return s.u.send([]byte("OK" + s.eol() + s.eol() + ">"))
			}
			continue
		}
		time.Sleep(time.Millisecond)
	}
	s.u.baud = old // no answer in time: back to the old rate
	return s.u.send([]byte(s.eol() + ">"))
}

// standardRates are the serial rates a host can set.
var standardRates = []int{9600, 19200, 38400, 57600, 115200, 230400, 500000}

// nearestRate maps 4 MHz / divisor to the standard rate a host would set.
func nearestRate(r int) int {
	best := 0
	for _, std := range standardRates {
		if best == 0 || abs(std-r) < abs(best-r) {
			best = std
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
