package elm327

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

const probeTimeout = 700 * time.Millisecond

// openSerialProbing opens the serial port at the configured rate, or finds
// the rate the adapter listens at by asking for its identity at each of
// ProbeBauds. A bare CR is never sent: it would repeat the adapter's last
// command, which could have been anything.
func (c *Client) openSerialProbing(ctx context.Context) (conn, error) {
	bauds := ProbeBauds
	if c.cfg.Baud > 0 {
		bauds = []int{c.cfg.Baud}
	}
	if c.info.Baud > 0 && c.cfg.Baud == 0 {
		// After a reconnect, try the rate that worked (perhaps raised) first.
		bauds = append([]int{c.info.Baud}, bauds...)
	}
	var sc *serialConn
	var tried []string
	for _, b := range bauds {
		var err error
		if sc == nil {
			sc, err = openSerial(c.cfg.Address, b)
			if err != nil {
				return nil, err
			}
		} else if err := sc.setBaud(b); err != nil {
			_ = sc.Close()
			return nil, err
		}
		c.c = sc
		c.dirty = true // leftovers at the old rate
		ok, raw, err := c.probe(ctx)
		if err != nil && ctx.Err() != nil {
			_ = sc.Close()
			return nil, err
		}
		if ok {
			c.info.Baud = b
			return sc, nil
		}
		tried = append(tried, fmt.Sprintf("%d baud: %q", b, raw))
	}
	_ = sc.Close()
	c.c = nil
	return nil, fmt.Errorf("%w on %s (%v)", ErrNotELM327, c.cfg.Address, tried)
}

// probe asks for the identity and reports whether the answer reads like an
// ELM327 at this rate: text ending with the prompt. A "?" counts too: the
// rate is right when the adapter merely disliked leftovers in its buffer.
func (c *Client) probe(ctx context.Context) (bool, []byte, error) {
	raw, err := c.exchange(ctx, "ATI", probeTimeout)
	if err != nil {
		return false, raw, err
	}
	for _, b := range raw {
		if b != '\r' && b != '\n' && b != 0 && (b < 0x20 || b > 0x7E) {
			return false, raw, nil // framing garbage: wrong rate
		}
	}
	return bytes.Contains(bytes.ToUpper(raw), []byte("ELM")) || bytes.Contains(raw, []byte("?")), raw, nil
}

// raiseBaud switches a serial adapter to Config.RaiseBaud with ATBRD. The
// handshake: the adapter answers OK (with no prompt), changes rate, waits
// the ATBRT time, sends its identity at the new rate and keeps the new rate
// only if the host answers with a CR in time; otherwise it falls back.
// Adapters that refuse, or say OK and do nothing, stay at the old rate.
func (c *Client) raiseBaud(ctx context.Context) error {
	sc, ok := c.c.(*serialConn)
	if !ok || c.cfg.RaiseBaud == 0 || sc.baud == c.cfg.RaiseBaud {
		return nil
	}
	divisor := (4000000 + c.cfg.RaiseBaud/2) / c.cfg.RaiseBaud
	if divisor < 8 || divisor > 0xFF {
		return fmt.Errorf("elm327: cannot set %d baud with ATBRD (the adapter runs 4 Mbaud / 8…255)", c.cfg.RaiseBaud)
	}
	if !c.versionAtLeast(1, 2) {
		c.info.Quirks = append(c.info.Quirks, "firmware older than v1.2 cannot change its baud rate")
		return nil
	}
	// A longer answer window than the default 75 ms leaves room for USB
	// latency; adapters without ATBRT simply keep the default.
	_ = c.atOK(ctx, "ATBRT28")
	old := sc.baud
	cmd := fmt.Sprintf("ATBRD%02X", divisor)
	if err := sc.Discard(); err != nil {
		return err
	}
	if _, err := io.WriteString(sc, cmd+"\r"); err != nil {
		return fmt.Errorf("elm327: sending %s: %w", cmd, err)
	}
	// Up to the OK line.
	raw, err := c.readUntil(ctx, cmd, atTimeout, func(b []byte) int {
		if bytes.IndexByte(b, '>') >= 0 {
			return len(b)
		}
		if i := bytes.Index(bytes.ToUpper(b), []byte("OK\r")); i >= 0 {
			return i + 3
		}
		return -1
	})
	if err != nil {
		return fmt.Errorf("elm327: %s: %w", cmd, err)
	}
	if !bytes.Contains(bytes.ToUpper(raw), []byte("OK")) {
		c.info.Quirks = append(c.info.Quirks, "refuses ATBRD")
		return nil
	}
	// A genuine adapter now goes quiet while it switches; a prompt at the
	// old rate means it said OK and will not switch.
	tail := raw
	if bytes.IndexByte(raw, '>') < 0 {
		tail, _ = c.readUntil(ctx, cmd, 40*time.Millisecond, func(b []byte) int {
			if bytes.IndexByte(b, '>') >= 0 {
				return len(b)
			}
			return -1
		})
	}
	if bytes.IndexByte(tail, '>') >= 0 {
		c.info.Quirks = append(c.info.Quirks, fmt.Sprintf("answers OK to ATBRD but does not switch to %d baud", c.cfg.RaiseBaud))
		return nil
	}
	if err := sc.setBaud(c.cfg.RaiseBaud); err != nil {
		return err
	}
	id, err := c.readUntil(ctx, cmd, time.Second, func(b []byte) int {
		u := bytes.ToUpper(b)
		if e := bytes.Index(u, []byte("ELM")); e >= 0 {
			if i := bytes.IndexByte(b[e:], '\r'); i >= 0 {
				return e + i
			}
		}
		return -1
	})
	if err == nil {
		_, err = io.WriteString(sc, "\r")
	}
	var confirm []byte
	if err == nil {
		confirm, err = c.readUntil(ctx, cmd, time.Second, func(b []byte) int { return bytes.IndexByte(b, '>') })
	}
	if err == nil && bytes.Contains(bytes.ToUpper(confirm), []byte("OK")) {
		c.info.Baud = c.cfg.RaiseBaud
		return nil
	}
	// The switch failed: back to the old rate, where the adapter returns
	// after its window closes.
	c.log.Debug("baud switch failed", "id", string(id), "confirm", string(confirm), "err", err)
	if err := sc.setBaud(old); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	if ok, raw, err := c.probe(ctx); !ok {
		if err == nil {
			err = errors.New("no answer")
		}
		return fmt.Errorf("elm327: adapter lost after a failed switch to %d baud (%q): %w", c.cfg.RaiseBaud, raw, err)
	}
	c.info.Quirks = append(c.info.Quirks, fmt.Sprintf("answers OK to ATBRD but does not switch to %d baud", c.cfg.RaiseBaud))
	return nil
}
