package isotp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// OBD identifiers of ISO 15765-4.
const (
	FunctionalID11 = 0x7DF      // functional request, 11-bit
	FunctionalID29 = 0x18DB33F1 // functional request, 29-bit
	firstResponse  = 0x7E8      // ECU #1 response, 11-bit
	lastResponse   = 0x7EF
	response29     = 0x18DAF100 // 0x18DAF1xx: ECU xx answering the tester F1
)

// IsResponseID reports whether id is one an OBD ECU answers on.
func IsResponseID(id uint32, extended bool) bool {
	if extended {
		return id&0x1FFFFF00 == response29
	}
	return id >= firstResponse && id <= lastResponse
}

// RequestIDFor is the physical request identifier of the ECU that answers
// on id: 0x7E8 → 0x7E0, 0x18DAF110 → 0x18DA10F1. Flow control for that
// ECU's multi-frame answers goes there.
func RequestIDFor(id uint32, extended bool) uint32 {
	if extended {
		return 0x18DA0000 | (id&0xFF)<<8 | 0xF1
	}
	return id - 8
}

// OBDOptions tune the J1979 transport.
type OBDOptions struct {
	Options
	// Extended selects 29-bit identifiers (protocols 7 and 9).
	Extended bool
	// Bitrate only names the protocol (500 or 250 kbit/s); the bus sets the
	// real rate. Defaults to 500.
	Bitrate int
	// P2 is how long to listen for answers after a request when the caller
	// does not say how many to expect. ISO 15765-4 gives ECUs 50 ms; the
	// default of 100 ms leaves room for slow gateways.
	P2 time.Duration
	// P2Star is the extended wait after an ECU answers 7F xx 78 (response
	// pending). Defaults to 5 s.
	P2Star time.Duration
}

// OBD is an obd.Transport straight on the CAN bus.
type OBD struct {
	bus Bus
	opt OBDOptions
	mu  sync.Mutex
}

// NewOBD returns a J1979 transport on bus.
func NewOBD(bus Bus, opt OBDOptions) *OBD {
	opt.Options = opt.Options.withDefaults()
	if opt.P2 <= 0 {
		opt.P2 = 100 * time.Millisecond
	}
	if opt.P2Star <= 0 {
		opt.P2Star = 5 * time.Second
	}
	if opt.Bitrate == 0 {
		opt.Bitrate = 500
	}
	return &OBD{bus: bus, opt: opt}
}

// Protocol names the ISO 15765-4 variant in use.
func (t *OBD) Protocol() obd.Protocol {
	switch {
	case t.opt.Extended && t.opt.Bitrate == 250:
		return obd.ProtocolCAN29_250
	case t.opt.Extended:
		return obd.ProtocolCAN29_500
	case t.opt.Bitrate == 250:
		return obd.ProtocolCAN11_250
	default:
		return obd.ProtocolCAN11_500
	}
}

// ecuState follows one ECU's answer while it arrives.
type ecuState struct {
	r        Reassembler
	deadline time.Time // zero when nothing is in progress
}

// Do sends req to all ECUs and gathers their answers. It listens for P2
// after the request, longer while a multi-frame answer is still arriving
// (N_Cr per frame) or an ECU said response pending (P2*), and stops early
// once as many positive answers as req.Expect lists are in (a refusal
// does not count: the ECU that owes the awaited answer may still send it).
func (t *OBD) Do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	payload := req.Bytes()
	var only uint32 // with physical addressing, the one ECU that may answer
	if req.ECU != "" {
		id, err := strconv.ParseUint(string(req.ECU), 16, 32)
		if err != nil || !IsResponseID(uint32(id), t.opt.Extended) {
			return nil, fmt.Errorf("isotp: %q is not an OBD ECU address on this bus", req.ECU)
		}
		only = uint32(id)
	} else if len(payload) > 7 {
		return nil, fmt.Errorf("isotp: request %s is %d bytes; functional OBD requests must fit one frame (7 bytes)", req, len(payload))
	}
	t.mu.Lock()
	defer t.mu.Unlock()

	if only != 0 {
		// Physical: any length, segmented with the ECU's flow control.
		if err := send(ctx, t.bus, t.opt.Options, RequestIDFor(only, t.opt.Extended), only, t.opt.Extended, payload); err != nil {
			return nil, fmt.Errorf("isotp: sending request %s to %s: %w", req, req.ECU, err)
		}
	} else {
		fid := uint32(FunctionalID11)
		if t.opt.Extended {
			fid = FunctionalID29
		}
		if err := t.bus.Send(ctx, Frame{ID: fid, Extended: t.opt.Extended, Data: t.opt.pad(singleFrame(payload))}); err != nil {
			return nil, fmt.Errorf("isotp: sending request %s: %w", req, err)
		}
	}
	listenUntil := time.Now().Add(t.opt.P2)
	ecus := map[uint32]*ecuState{}
	var out []obd.Response
	var firstErr error
	positive := 0

	for {
		deadline := listenUntil
		busy := false
		for _, s := range ecus {
			if !s.deadline.IsZero() {
				busy = true
				if s.deadline.After(deadline) {
					deadline = s.deadline
				}
			}
		}
		if (len(req.Expect) > 0 && positive >= len(req.Expect) || only != 0 && len(out) > 0) && !busy {
			break
		}
		if !time.Now().Before(deadline) {
			break
		}
		f, err := receiveUntil(ctx, t.bus, deadline)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			continue // re-evaluate: a per-ECU deadline may have passed
		}
		if err != nil {
			return out, fmt.Errorf("isotp: waiting for answers to %s: %w", req, err)
		}
		if f.Extended != t.opt.Extended || !IsResponseID(f.ID, f.Extended) || only != 0 && f.ID != only {
			continue
		}
		s := ecus[f.ID]
		if s == nil {
			s = &ecuState{r: Reassembler{opt: t.opt.Options}}
			ecus[f.ID] = s
		}
		msg, fc, err := s.r.Feed(f)
		if err != nil {
			s.deadline = time.Time{}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if fc != nil {
			ff := Frame{ID: RequestIDFor(f.ID, f.Extended), Extended: f.Extended, Data: t.opt.pad(fc)}
			if err := t.bus.Send(ctx, ff); err != nil {
				return out, fmt.Errorf("isotp: flow control to %X: %w", ff.ID, err)
			}
		}
		switch {
		case msg == nil && s.r.Active():
			s.deadline = time.Now().Add(t.opt.TimeoutCr)
		case msg == nil:
		case len(msg) >= 3 && msg[0] == 0x7F && msg[1] == byte(req.Service) && msg[2] == byte(obd.NRCResponsePending):
			s.deadline = time.Now().Add(t.opt.P2Star)
		case !obd.Answers(req, msg):
			s.deadline = time.Time{} // a late answer to an earlier request
		default:
			s.deadline = time.Time{}
			out = append(out, obd.Response{ECU: ecuName(f.ID, f.Extended), Data: msg})
			if msg[0] != 0x7F {
				positive++
			}
		}
	}
	for id, s := range ecus {
		if !s.deadline.IsZero() && firstErr == nil {
			if s.r.Active() {
				firstErr = fmt.Errorf("ECU %s: %w", ecuName(id, t.opt.Extended), ErrTimeoutCr)
			} else {
				firstErr = fmt.Errorf("ECU %s: still pending after %v", ecuName(id, t.opt.Extended), t.opt.P2Star)
			}
		}
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("isotp: %s: %w", req, firstErr)
		}
		return nil, fmt.Errorf("isotp: %s: %w", req, obd.ErrNoData)
	}
	return out, nil
}

func ecuName(id uint32, extended bool) obd.ECU {
	if extended {
		return obd.ECU(fmt.Sprintf("%08X", id))
	}
	return obd.ECU(fmt.Sprintf("%03X", id))
}

func receiveUntil(ctx context.Context, bus Bus, deadline time.Time) (Frame, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return bus.Receive(dctx)
}

var _ obd.Transport = (*OBD)(nil)
var _ obd.ProtocolReporter = (*OBD)(nil)
