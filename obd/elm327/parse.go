package elm327

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
)

// splitLines breaks a reply into its lines. CR and LF both end a line, NUL
// bytes (some clones send them) are dropped, spaces at either end are
// trimmed and blank lines removed.
func splitLines(raw []byte) []string {
	clean := strings.Map(func(r rune) rune {
		if r == 0 {
			return -1
		}
		return r
	}, string(raw))
	var out []string
	for _, l := range strings.FieldsFunc(clean, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// compact upper-cases s and removes every space, the way the adapter
// itself reads commands.
func compact(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, " ", ""))
}

// errorReplies are the adapter's messages that replace an answer.
var errorReplies = map[string]Kind{
	"?":               KindUnknownCommand,
	"NODATA":          KindNoData,
	"UNABLETOCONNECT": KindUnableToConnect,
	"CANERROR":        KindCANError,
	"BUSBUSY":         KindBusBusy,
	"BUSERROR":        KindBusError,
	"DATAERROR":       KindDataError,
	"<DATAERROR":      KindDataError,
	"<RXERROR":        KindRxError,
	"BUFFERFULL":      KindBufferFull,
	"FBERROR":         KindFeedbackError,
	"STOPPED":         KindStopped,
	"ACTALERT":        KindActivityAlert,
	"LPALERT":         KindLowPowerAlert,
	"LVRESET":         KindLowVoltageReset,
	"SEARCHING...":    0, // printed before the answer during automatic search
}

// isBanner reports whether l is the adapter's identity line, which it
// prints after a reset (ATZ, power-up, LV RESET) and for ATI/ATWS.
func isBanner(l string) bool {
	u := compact(l)
	return strings.HasPrefix(u, "ELM327") || strings.HasPrefix(u, "OBDII") && strings.Contains(u, "ELM")
}

// screen removes the echo and status lines from a reply and returns the
// lines that remain, or the error the adapter reported. cmd is what was
// sent; banner says whether an identity line is expected in the reply.
func screen(cmd string, raw []byte, banner bool) ([]string, error) {
	lines := splitLines(raw)
	fail := func(k Kind, detail string) ([]string, error) {
		return nil, &ReplyError{Kind: k, Command: cmd, Raw: raw, Detail: detail}
	}
	c := compact(cmd)
	var keep []string
	busInit := false
	for i, l := range lines {
		u := compact(l)
		if i == 0 && u == c && c != "" {
			continue // echo: ATE0 not yet in force, or a clone ignoring it
		}
		if k, ok := errorReplies[u]; ok {
			if k == 0 {
				continue
			}
			if k == KindNoData && len(keep) > 0 {
				continue // some modules answered, others did not
			}
			return fail(k, "")
		}
		// "BUS INIT: ...OK" or "BUS INIT: ...ERROR", the verdict sometimes
		// on a line of its own.
		if strings.HasPrefix(u, "BUSINIT") {
			if strings.Contains(u, "ERROR") {
				return fail(KindBusInit, "")
			}
			busInit = true
			continue
		}
		if busInit && (u == "ERROR" || u == "OK") {
			if u == "ERROR" {
				return fail(KindBusInit, "")
			}
			continue
		}
		if len(u) == 5 && strings.HasPrefix(u, "ERR") && isHex(u[3:]) {
			return fail(KindInternalError, "ERR"+u[3:])
		}
		if j := strings.Index(u, "<DATAERROR"); j >= 0 {
			return fail(KindDataError, "after "+l[:min(j, len(l))])
		}
		if j := strings.Index(u, "<RXERROR"); j >= 0 {
			return fail(KindRxError, "after "+l[:min(j, len(l))])
		}
		if isBanner(l) && !banner {
			return fail(KindReset, "the adapter printed its banner "+strconv.Quote(l))
		}
		keep = append(keep, l)
	}
	return keep, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func hexBytes(s string) ([]byte, bool) {
	if len(s)%2 != 0 || !isHex(s) {
		return nil, false
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		v, _ := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		b[i] = byte(v)
	}
	return b, true
}

// layout is how the adapter prints answers on the current protocol.
type layout struct {
	proto   obd.Protocol
	headers bool
}

// decode turns the data lines of one answer into complete messages, one
// per ECU message, in the order they completed. CAN answers shown with
// headers are reassembled from their ISO-TP frames per identifier; without
// headers, the adapter's own "length, then 0:, 1:, …" form is followed.
func decode(cmd string, raw []byte, lines []string, lay layout) ([]obd.Response, error) {
	fail := func(k Kind, format string, args ...any) ([]obd.Response, error) {
		return nil, &ReplyError{Kind: k, Command: cmd, Raw: raw, Detail: fmt.Sprintf(format, args...)}
	}
	var out []obd.Response
	frames := map[string]*isotp.Reassembler{}
	var order []string // first-seen order of CAN identifiers

	// Headers off, multi-frame: a length line, then numbered lines.
	var mf struct {
		want int
		next int
		buf  []byte
	}
	mfActive := func() bool { return mf.want > 0 }

	for _, l := range lines {
		u := compact(l)
		// "0:" … "F:" numbered continuation lines (headers off, CAN).
		if len(u) >= 2 && u[1] == ':' && isHex(u[:1]) {
			if !mfActive() {
				return fail(KindIncomplete, "line %q without the length line that opens a multi-frame answer", l)
			}
			n, _ := strconv.ParseUint(u[:1], 16, 8)
			if int(n) != mf.next {
				return fail(KindIncomplete, "line %q out of order, want %X:", l, mf.next)
			}
			b, ok := hexBytes(u[2:])
			if !ok {
				return fail(KindGarbage, "line %q is not hex", l)
			}
			mf.buf = append(mf.buf, b...)
			mf.next = (mf.next + 1) & 0xF
			if len(mf.buf) >= mf.want {
				out = append(out, obd.Response{Data: mf.buf[:mf.want]})
				mf.want, mf.buf = 0, nil
			}
			continue
		}
		if !isHex(u) {
			return fail(KindGarbage, "line %q is not hex data", l)
		}
		if mfActive() {
			return fail(KindIncomplete, "multi-frame answer of %d bytes ended after %d", mf.want, len(mf.buf))
		}
		// A three-digit line opens a headers-off multi-frame answer.
		if len(u) == 3 && lay.proto.CAN() || len(u) == 3 && lay.proto == obd.ProtocolUnknown {
			n, _ := strconv.ParseUint(u, 16, 16)
			if n == 0 {
				return fail(KindGarbage, "multi-frame length line %q", l)
			}
			mf.want, mf.next, mf.buf = int(n), 0, nil
			continue
		}
		id, frame, ok := splitHeader(u, lay)
		if !ok {
			return fail(KindGarbage, "line %q does not fit the %s layout", l, lay.proto)
		}
		if id == "" || !lay.proto.CAN() {
			if !lay.proto.CAN() && id != "" {
				frame = frame[:len(frame)-1] // legacy protocols end with a checksum byte
			}
			if len(frame) == 0 {
				return fail(KindGarbage, "line %q carries no data", l)
			}
			out = append(out, obd.Response{ECU: obd.ECU(id), Data: frame})
			continue
		}
		r := frames[id]
		if r == nil {
			r = isotp.NewReassembler(isotp.Options{})
			frames[id] = r
			order = append(order, id)
		}
		msg, _, err := r.Feed(isotp.Frame{Data: frame})
		if err != nil {
			return fail(KindIncomplete, "ECU %s: %v", id, err)
		}
		if msg != nil {
			out = append(out, obd.Response{ECU: obd.ECU(id), Data: msg})
		}
	}
	if mfActive() {
		return fail(KindIncomplete, "multi-frame answer of %d bytes ended after %d", mf.want, len(mf.buf))
	}
	for _, id := range order {
		if frames[id].Active() {
			return fail(KindIncomplete, "ECU %s stopped part way through a multi-frame answer", id)
		}
	}
	return out, nil
}

// splitHeader separates a compacted hex line into the sender's identifier
// and the bytes after it. id is empty when the line carries no header.
func splitHeader(u string, lay layout) (id string, data []byte, ok bool) {
	switch {
	case lay.proto.CAN() || lay.proto == obd.ProtocolUnknown:
		// 11-bit: three hex digits then whole bytes, so an odd length.
		if len(u)%2 == 1 {
			if len(u) < 5 {
				return "", nil, false
			}
			b, ok := hexBytes(u[3:])
			return u[:3], b, ok
		}
		b, ok := hexBytes(u)
		if !ok {
			return "", nil, false
		}
		// 29-bit: four header bytes; the first is at most 0x1F, which no
		// reply's first data byte (4x, 7F) can be.
		if lay.headers && len(b) >= 6 && b[0] <= 0x1F {
			return u[:8], b[4:], true
		}
		return "", b, true
	default:
		b, ok := hexBytes(u)
		if !ok {
			return "", nil, false
		}
		if lay.headers {
			if len(b) < 5 { // three header bytes, data, checksum
				return "", nil, false
			}
			return fmt.Sprintf("%02X", b[2]), b[3:], true
		}
		return "", b, true
	}
}
