package isotp

import (
	"context"
	"errors"
	"time"
)

// Options tune the transport. The zero value is completed by defaults.
type Options struct {
	// Padding fills frames to 8 bytes (ISO 15765-4 requires it for OBD);
	// 0xCC unless set. NoPadding sends short frames instead.
	Padding   byte
	NoPadding bool
	// BlockSize and STmin are what our flow control asks of a sender:
	// frames per block before the next flow control (0 = no limit) and the
	// gap between consecutive frames.
	BlockSize byte
	STmin     time.Duration
	// TimeoutBs (N_Bs) bounds the wait for flow control after we send a
	// first frame or a block; TimeoutCr (N_Cr) bounds the wait for each
	// consecutive frame. Both default to 1 s.
	TimeoutBs time.Duration
	TimeoutCr time.Duration
	// MaxWaits caps flow-control wait frames accepted in a row (default 10).
	MaxWaits int
}

func (o Options) withDefaults() Options {
	if o.Padding == 0 && !o.NoPadding {
		o.Padding = 0xCC
	}
	if o.TimeoutBs <= 0 {
		o.TimeoutBs = time.Second
	}
	if o.TimeoutCr <= 0 {
		o.TimeoutCr = time.Second
	}
	if o.MaxWaits <= 0 {
		o.MaxWaits = 10
	}
	return o
}

// Conn is a physically addressed ISO-TP link between two CAN identifiers:
// it sends on TxID and receives on RxID.
type Conn struct {
	bus      Bus
	tx, rx   uint32
	extended bool
	opt      Options
}

// NewConn returns a link sending on tx and receiving on rx.
func NewConn(bus Bus, tx, rx uint32, extended bool, opt Options) *Conn {
	return &Conn{bus: bus, tx: tx, rx: rx, extended: extended, opt: opt.withDefaults()}
}

func (c *Conn) frame(id uint32, data []byte) Frame {
	return Frame{ID: id, Extended: c.extended, Data: c.opt.pad(data)}
}

// Send transmits one message, segmenting it and obeying the receiver's flow
// control (block size, STmin, wait and overflow).
func (c *Conn) Send(ctx context.Context, payload []byte) error {
	return send(ctx, c.bus, c.opt, c.tx, c.rx, c.extended, payload)
}

func send(ctx context.Context, bus Bus, opt Options, tx, rx uint32, ext bool, payload []byte) error {
	if len(payload) > MaxPayload {
		return ErrTooLong
	}
	mk := func(data []byte) Frame { return Frame{ID: tx, Extended: ext, Data: opt.pad(data)} }
	if len(payload) <= 7 {
		return bus.Send(ctx, mk(singleFrame(payload)))
	}
	if err := bus.Send(ctx, mk(firstFrame(payload))); err != nil {
		return err
	}
	rest := payload[6:]
	seq := byte(1)
	var last time.Time // when the previous consecutive frame went out
	for len(rest) > 0 {
		bs, gap, err := awaitFlowControl(ctx, bus, opt, rx)
		if err != nil {
			return err
		}
		for sent := 0; len(rest) > 0 && (bs == 0 || sent < int(bs)); sent++ {
			// STmin separates every pair of consecutive frames, across
			// block boundaries too.
			if wait := time.Until(last.Add(gap)); !last.IsZero() && wait > 0 {
				if err := sleep(ctx, wait); err != nil {
					return err
				}
			}
			n := min(7, len(rest))
			if err := bus.Send(ctx, mk(consecutiveFrame(seq, rest[:n]))); err != nil {
				return err
			}
			last = time.Now()
			rest = rest[n:]
			seq = (seq + 1) & 0x0F
		}
	}
	return nil
}

// awaitFlowControl waits for a continue-to-send from rx, honouring wait
// frames, and returns the block size and separation time it grants.
func awaitFlowControl(ctx context.Context, bus Bus, opt Options, rx uint32) (byte, time.Duration, error) {
	waits := 0
	for {
		f, err := receiveFrom(ctx, bus, rx, opt.TimeoutBs, ErrTimeoutBs)
		if err != nil {
			return 0, 0, err
		}
		p, err := decodePCI(f)
		if err != nil || p.kind != typeFlowControl {
			continue // not flow control: the peer is not listening to us yet
		}
		switch p.status {
		case flowContinue:
			return p.bs, stminDuration(p.stmin), nil
		case flowWait:
			waits++
			if waits > opt.MaxWaits {
				return 0, 0, ErrTooManyWaits
			}
		case flowOverflow:
			return 0, 0, ErrOverflow
		}
	}
}

// receiveFrom returns the next frame from id, or onTimeout if none arrives
// within d.
func receiveFrom(ctx context.Context, bus Bus, id uint32, d time.Duration, onTimeout error) (Frame, error) {
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		f, err := bus.Receive(tctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return Frame{}, onTimeout
			}
			return Frame{}, err
		}
		if f.ID == id {
			return f, nil
		}
	}
}

// Receive waits for the next message from the peer, sending flow control as
// the block size asks, and returns it reassembled.
func (c *Conn) Receive(ctx context.Context) ([]byte, error) {
	var r Reassembler
	r.opt = c.opt
	for {
		wait := time.Duration(0)
		if r.Active() {
			wait = c.opt.TimeoutCr
		}
		var f Frame
		var err error
		if wait > 0 {
			f, err = receiveFrom(ctx, c.bus, c.rx, wait, ErrTimeoutCr)
		} else {
			f, err = c.receiveAny(ctx)
		}
		if err != nil {
			return nil, err
		}
		msg, fc, err := r.Feed(f)
		if err != nil {
			return nil, err
		}
		if fc != nil {
			if err := c.bus.Send(ctx, c.frame(c.tx, fc)); err != nil {
				return nil, err
			}
		}
		if msg != nil {
			return msg, nil
		}
	}
}

func (c *Conn) receiveAny(ctx context.Context) (Frame, error) {
	for {
		f, err := c.bus.Receive(ctx)
		if err != nil || f.ID == c.rx {
			return f, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
