//go:build linux

package elm327

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

var termiosBauds = map[int]uint32{9600: unix.B9600, 38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200, 230400: unix.B230400, 500000: unix.B500000}

// ptyAdapter plays a transcript on the far side of a pseudo-terminal, like
// an adapter on a USB serial port. It checks the rate the client set on
// its side of the line: a command sent at the wrong rate is answered with
// the garbage a real adapter's UART would make of it.
type ptyAdapter struct {
	t      *testing.T
	master *os.File
	tty    *os.File // our handle on the client's side, to read its settings
	steps  []exchange
	mu     sync.Mutex
	baud   int
	pos    int
	err    error
	done   chan struct{}
}

func startPTYAdapter(t *testing.T, tr *transcript) (*ptyAdapter, string) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	// A non-blocking descriptor lets read deadlines and Close end a read.
	fd, err := unix.Dup(int(ptmx.Fd()))
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		t.Fatal(err)
	}
	ptmx.Close()
	master := os.NewFile(uintptr(fd), "ptmx")
	a := &ptyAdapter{t: t, master: master, tty: tty, steps: tr.conns[0], baud: tr.baud, done: make(chan struct{})}
	go a.serve()
	t.Cleanup(func() { master.Close(); <-a.done; tty.Close() })
	return a, tty.Name()
}

func (a *ptyAdapter) lineRate() int {
	tio, err := unix.IoctlGetTermios(int(a.tty.Fd()), unix.TCGETS)
	if err != nil {
		return 0
	}
	for b, c := range termiosBauds {
		if tio.Cflag&unix.CBAUD == c {
			return b
		}
	}
	return 0
}

func (a *ptyAdapter) send(b []byte) {
	if a.lineRate() != a.baud {
		b = bytes.Repeat([]byte{0xF8, 0x80}, len(b)/2+1) // framing garbage
	}
	_, _ = a.master.Write(b)
}

func (a *ptyAdapter) fail(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
}

func (a *ptyAdapter) serve() {
	defer close(a.done)
	var in []byte
	buf := make([]byte, 256)
	awaitCR := time.Time{} // set while an ATBRD switch waits for the host's CR
	var oldBaud int
	for {
		_ = a.master.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := a.master.Read(buf)
		if err != nil && !os.IsTimeout(err) {
			return
		}
		in = append(in, buf[:n]...)
		if !awaitCR.IsZero() && time.Now().After(awaitCR) {
			a.baud, awaitCR = oldBaud, time.Time{} // no CR in time: back to the old rate
			a.send([]byte("\r>"))
		}
		for {
			i := bytes.IndexByte(in, '\r')
			if i < 0 {
				break
			}
			line := string(in[:i])
			in = in[i+1:]
			if a.lineRate() != a.baud {
				a.send([]byte("?\r\r>")) // sent at our rate, it reaches the host as garbage
				continue
			}
			if !awaitCR.IsZero() {
				awaitCR = time.Time{}
				if line == "" {
					a.send([]byte("OK\r\r>"))
					continue
				}
			}
			if a.pos >= len(a.steps) {
				a.fail(fmt.Errorf("host sent %q after the transcript ended", line))
				continue
			}
			st := a.steps[a.pos]
			if line != st.send {
				a.fail(fmt.Errorf("step %d: host sent %q, transcript expects %q", a.pos+1, line, st.send))
				continue
			}
			a.pos++
			if !st.brd {
				a.send(st.reply)
				continue
			}
			var div int
			fmt.Sscanf(strings.TrimPrefix(line, "ATBRD"), "%X", &div)
			a.send([]byte("OK\r"))
			oldBaud = a.baud
			a.baud = map[int]int{0x23: 115200, 0x45: 57600, 0x11: 230400, 0x08: 500000}[div]
			time.Sleep(60 * time.Millisecond) // the adapter's BRT wait before it speaks
			a.send([]byte("ELM327 v2.1\r"))
			awaitCR = time.Now().Add(200 * time.Millisecond)
		}
	}
}

func (a *ptyAdapter) check(t *testing.T) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		t.Error(a.err)
	}
	if a.pos < len(a.steps) {
		t.Errorf("transcript not finished: next step %d expects %q", a.pos+1, a.steps[a.pos].send)
	}
}

// The client finds the adapter's rate, raises it with ATBRD, and works at
// the new rate, all through a real serial port (a pseudo-terminal).
func TestSerialProbeAndRaise(t *testing.T) {
	for _, c := range []struct{ name, query, wantQuirk string }{
		{"serial-baud-raise", "?raise=115200", ""},
		{"serial-brd-ignored", "?raise=115200", "does not switch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := loadTranscript(t, filepath.Join("testdata", "serial", c.name+".txt"))
			a, path := startPTYAdapter(t, tr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl, err := Open(ctx, "serial://"+path+c.query)
			if err != nil {
				a.check(t)
				t.Fatal(err)
			}
			defer cl.Close()
			v, err := cl.BatteryVoltage(ctx)
			if err != nil || v != 12.4 {
				t.Fatalf("voltage %v, %v", v, err)
			}
			info := cl.Info()
			want := 115200
			if c.wantQuirk != "" {
				want = tr.baud
			}
			if info.Baud != want || a.lineRate() != want {
				t.Errorf("running at %d baud (line %d), want %d", info.Baud, a.lineRate(), want)
			}
			if c.wantQuirk != "" && !strings.Contains(strings.Join(info.Quirks, ";"), c.wantQuirk) {
				t.Errorf("quirks %q lack %q", info.Quirks, c.wantQuirk)
			}
			a.check(t)
		})
	}
}
