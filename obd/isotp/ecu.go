package isotp

import (
	"context"
	"errors"
)

// ServeECU plays the ECU that answers on id: it takes functional requests
// (single frames to 0x7DF or 0x18DB33F1) and physical ones (any length, to
// its own request ID, with flow control), calls answer with each request's
// bytes and how it was addressed, and sends every message answer returns
// as ISO-TP. port should pass the functional ID and the ECU's request ID.
// It returns nil when ctx ends or the port closes.
func ServeECU(ctx context.Context, port Bus, id uint32, extended bool, opt Options, answer func(ctx context.Context, req []byte, functional bool) [][]byte) error {
	opt = opt.withDefaults()
	reqID := RequestIDFor(id, extended)
	functional := uint32(FunctionalID11)
	if extended {
		functional = FunctionalID29
	}
	conn := NewConn(port, id, reqID, extended, opt)
	physical := NewReassembler(opt)
	for {
		f, err := port.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		if f.Extended != extended {
			continue
		}
		var req []byte
		switch f.ID {
		case functional:
			p, err := decodePCI(f)
			if err != nil || p.kind != typeSingle {
				continue // functional requests are single frames
			}
			req = append([]byte(nil), p.payload...)
		case reqID:
			msg, fc, err := physical.Feed(f)
			if err != nil {
				continue
			}
			if fc != nil {
				if err := port.Send(ctx, Frame{ID: id, Extended: extended, Data: opt.pad(fc)}); err != nil {
					return nil
				}
			}
			if msg == nil {
				continue
			}
			req = msg
		default:
			continue
		}
		for _, m := range answer(ctx, req, f.ID == functional) {
			if err := conn.Send(ctx, m); err != nil {
				break // the tester went away or stopped flow control
			}
		}
	}
}
