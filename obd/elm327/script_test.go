package elm327

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A transcript is the exact bytes an adapter exchanged with its host,
// written one line per direction:
//
//	> ATZ                      the host sends "ATZ\r"
//	< \r\rELM327 v2.1\r\r>     the adapter answers these bytes (\r \n \xNN escapes)
//	@include init-genuine.txt  the lines of another transcript
//	@eof                       the adapter closes the link after its answer
//	@connection                a new link begins (the client reconnected)
//	@baud 9600                 (serial) the rate the adapter listens at
//	@brd                       (serial) the command before it switches the rate the
//	                           way ATBRD does: OK, the new rate, the identity,
//	                           and OK once the host answers with a CR
//
// A command with no answer lines gets no answer at all: a hung adapter.
type exchange struct {
	send  string // what the host must send, without the CR
	reply []byte
	eof   bool
	brd   bool
}

type transcript struct {
	conns [][]exchange // one list per connection
	baud  int
}

func loadTranscript(t testing.TB, path string) *transcript {
	t.Helper()
	tr := &transcript{conns: [][]exchange{nil}}
	var read func(path string)
	read = func(path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			cur := &tr.conns[len(tr.conns)-1]
			switch {
			case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			case strings.HasPrefix(line, "> "):
				*cur = append(*cur, exchange{send: line[2:]})
			case strings.HasPrefix(line, "< "):
				if len(*cur) == 0 {
					t.Fatalf("%s:%d: an answer before any command", path, n)
				}
				b, err := unescape(line[2:])
				if err != nil {
					t.Fatalf("%s:%d: %v", path, n, err)
				}
				(*cur)[len(*cur)-1].reply = append((*cur)[len(*cur)-1].reply, b...)
			case line == "@eof":
				(*cur)[len(*cur)-1].eof = true
			case line == "@brd":
				(*cur)[len(*cur)-1].brd = true
			case strings.HasPrefix(line, "@baud "):
				tr.baud, _ = strconv.Atoi(strings.TrimPrefix(line, "@baud "))
			case line == "@connection":
				tr.conns = append(tr.conns, nil)
			case strings.HasPrefix(line, "@include "):
				read(filepath.Join(filepath.Dir(path), strings.TrimPrefix(line, "@include ")))
			default:
				t.Fatalf("%s:%d: cannot read %q", path, n, line)
			}
		}
	}
	read(path)
	return tr
}

func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("dangling backslash")
		}
		i++
		switch s[i] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}

// scriptConn plays the adapter's side of one connection of a transcript,
// handing out each answer in randomly sized pieces so that the client's
// reading is exercised across split reads.
type scriptConn struct {
	mu       sync.Mutex
	cond     *sync.Cond
	steps    []exchange
	pos      int
	in       []byte
	out      []byte
	eof      bool
	closed   bool
	deadline time.Time
	rng      *rand.Rand
	err      error // the first mismatch
}

func newScriptConn(steps []exchange, seed int64) *scriptConn {
	c := &scriptConn{steps: steps, rng: rand.New(rand.NewSource(seed))}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, io.ErrClosedPipe
	}
	c.in = append(c.in, p...)
	for {
		i := bytes.IndexByte(c.in, '\r')
		if i < 0 {
			return len(p), nil
		}
		got := string(c.in[:i])
		c.in = c.in[i+1:]
		if c.pos >= len(c.steps) {
			c.fail(fmt.Errorf("host sent %q after the transcript ended", got))
			return len(p), nil
		}
		st := c.steps[c.pos]
		if got != st.send {
			c.fail(fmt.Errorf("step %d: host sent %q, transcript expects %q", c.pos+1, got, st.send))
			return len(p), nil
		}
		c.pos++
		c.out = append(c.out, st.reply...)
		c.eof = st.eof
		c.cond.Broadcast()
	}
}

func (c *scriptConn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) == 0 {
		if c.closed {
			return 0, io.ErrClosedPipe
		}
		if c.eof {
			return 0, io.EOF
		}
		wait := time.Until(c.deadline)
		if wait <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.AfterFunc(wait, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
		c.cond.Wait()
		t.Stop()
	}
	n := 1 + c.rng.Intn(min(len(c.out), len(p), 24))
	copy(p, c.out[:n])
	c.out = c.out[n:]
	return n, nil
}

func (c *scriptConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (c *scriptConn) Discard() error {
	c.mu.Lock()
	c.out = nil
	c.mu.Unlock()
	return nil
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

// done reports a mismatch or an unfinished transcript.
func (c *scriptConn) done() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.pos < len(c.steps) {
		return fmt.Errorf("transcript not finished: next step %d expects %q", c.pos+1, c.steps[c.pos].send)
	}
	return nil
}

// player hands the client one scripted connection per dial.
type player struct {
	tr    *transcript
	conns []*scriptConn
	seed  int64
}

func (p *player) dial(ctx context.Context) (conn, error) {
	if len(p.conns) >= len(p.tr.conns) {
		return nil, fmt.Errorf("the transcript has no connection %d", len(p.conns)+1)
	}
	c := newScriptConn(p.tr.conns[len(p.conns)], p.seed+int64(len(p.conns)))
	p.conns = append(p.conns, c)
	return c, nil
}

func (p *player) check(t *testing.T) {
	t.Helper()
	if len(p.conns) != len(p.tr.conns) {
		t.Errorf("the client made %d connections, the transcript has %d", len(p.conns), len(p.tr.conns))
	}
	for i, c := range p.conns {
		if err := c.done(); err != nil {
			t.Errorf("connection %d: %v", i+1, err)
		}
	}
}
