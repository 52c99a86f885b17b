package elm327

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.bug.st/serial"
)

// conn is a byte link to an adapter whose reads honour a deadline.
type conn interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	// Discard throws away whatever the adapter sent that nobody read.
	Discard() error
}

// Config says how to reach an adapter. ParseURL builds one from a URL.
type Config struct {
	// Network is "serial" or "tcp".
	Network string
	// Address is the device path (/dev/ttyUSB0) or host:port.
	Address string
	// Baud fixes the serial rate; 0 probes 38400, 9600 and 115200.
	Baud int
	// RaiseBaud is the rate to switch a serial adapter to with ATBRD once
	// connected; 0 keeps the rate found. Adapters that refuse stay where
	// they are.
	RaiseBaud int
	// Protocol forces an OBD protocol (ATSP) instead of automatic search;
	// 0 searches.
	Protocol int
	// Timeout bounds each OBD request, searching included (default 5 s;
	// the first request after a protocol search may take up to 20 s).
	Timeout time.Duration
}

// ProbeBauds are the serial rates tried, most common first.
var ProbeBauds = []int{38400, 9600, 115200}

// ParseURL reads an adapter address:
//
//	serial:///dev/ttyUSB0?baud=38400&raise=115200
//	tcp://192.168.0.10:35000
//
// Optional query keys: baud, raise (serial only), protocol (1–9, A–C) and
// timeout (a Go duration such as 3s). Unknown keys are an error.
func ParseURL(raw string) (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w %q: %s", ErrBadURL, raw, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("%v", err)
	}
	var c Config
	switch u.Scheme {
	case "serial":
		c.Network = "serial"
		c.Address = u.Path
		if u.Host != "" { // serial://dev/ttyUSB0 written with two slashes
			c.Address = "/" + u.Host + u.Path
		}
		if c.Address == "" {
			return bad("no device path; write serial:///dev/ttyUSB0")
		}
	case "tcp":
		c.Network = "tcp"
		c.Address = u.Host
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return bad("want tcp://HOST:PORT (Wi-Fi adapters usually listen on 192.168.0.10:35000)")
		}
	default:
		return bad("scheme %q; want serial:// or tcp://", u.Scheme)
	}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch key {
		case "baud", "raise":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad("%s=%q is not a baud rate", key, v)
			}
			if c.Network != "serial" {
				return bad("%s applies to serial adapters only", key)
			}
			if key == "baud" {
				c.Baud = n
			} else {
				c.RaiseBaud = n
			}
		case "protocol":
			n, err := strconv.ParseUint(v, 16, 8)
			if err != nil || n > 0xC {
				return bad("protocol=%q; want 0 (automatic) or 1–9, A–C", v)
			}
			c.Protocol = int(n)
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("timeout=%q is not a positive duration like 3s", v)
			}
			c.Timeout = d
		default:
			return bad("unknown option %q (known: baud, raise, protocol, timeout)", key)
		}
	}
	return c, nil
}

func (c Config) String() string {
	return c.Network + "://" + strings.TrimPrefix(c.Address, "/")
}

// dialTCP connects to a Wi-Fi adapter.
func dialTCP(ctx context.Context, addr string) (conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("elm327: connecting to %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // commands are tiny; send them at once
	}
	return &tcpConn{Conn: nc}, nil
}

type tcpConn struct{ net.Conn }

func (t *tcpConn) Discard() error {
	var buf [256]byte
	for {
		if err := t.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			return err
		}
		n, err := t.Read(buf[:])
		if n == 0 || err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
	}
}

// serialConn adapts go.bug.st/serial's relative read timeout to deadlines.
type serialConn struct {
	port     serial.Port
	path     string
	baud     int
	deadline time.Time
}

func openSerial(path string, baud int) (*serialConn, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("elm327: opening %s: %w", path, err)
	}
	return &serialConn{port: p, path: path, baud: baud}, nil
}

func (s *serialConn) Read(p []byte) (int, error) {
	if s.deadline.IsZero() {
		return 0, errors.New("elm327: serial read without a deadline")
	}
	d := time.Until(s.deadline)
	if d <= 0 {
		return 0, os.ErrDeadlineExceeded
	}
	if err := s.port.SetReadTimeout(d); err != nil {
		return 0, err
	}
	n, err := s.port.Read(p)
	if n == 0 && err == nil {
		return 0, os.ErrDeadlineExceeded
	}
	return n, err
}

func (s *serialConn) Write(p []byte) (int, error) { return s.port.Write(p) }

func (s *serialConn) SetReadDeadline(t time.Time) error { s.deadline = t; return nil }

func (s *serialConn) Discard() error { return s.port.ResetInputBuffer() }

func (s *serialConn) Close() error { return s.port.Close() }

// setBaud changes the host side's rate.
func (s *serialConn) setBaud(baud int) error {
	if err := s.port.SetMode(&serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}); err != nil {
		return fmt.Errorf("elm327: setting %s to %d baud: %w", s.path, baud, err)
	}
	s.baud = baud
	return nil
}
