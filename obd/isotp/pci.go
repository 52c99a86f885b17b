package isotp

import "time"

// The four frame types, from the high nibble of the first data byte.
const (
	typeSingle      = 0x0
	typeFirst       = 0x1
	typeConsecutive = 0x2
	typeFlowControl = 0x3
)

// Flow-control statuses.
const (
	flowContinue = 0x0
	flowWait     = 0x1
	flowOverflow = 0x2
)

// MaxPayload is the longest message ISO-TP carries on classic CAN with a
// 12-bit first-frame length.
const MaxPayload = 4095

// pci is a decoded protocol control information header.
type pci struct {
	kind    byte
	length  int    // single and first frames: the message length
	seq     byte   // consecutive frames: sequence number 0–F
	payload []byte // the data bytes the frame carries (padding included for CF)
	status  byte   // flow control
	bs      byte   // flow control: block size
	stmin   byte   // flow control: raw STmin
}

// decodePCI reads the header of one received frame.
func decodePCI(f Frame) (pci, error) {
	d := f.Data
	if len(d) == 0 {
		return pci{}, &FrameError{ID: f.ID, Data: d, Reason: "empty frame"}
	}
	p := pci{kind: d[0] >> 4}
	switch p.kind {
	case typeSingle:
		p.length = int(d[0] & 0x0F)
		if p.length == 0 {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "single frame with length 0 (CAN FD escape is not supported on classic CAN)"}
		}
		if p.length > len(d)-1 {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "single frame declares more bytes than it carries"}
		}
		p.payload = d[1 : 1+p.length]
	case typeFirst:
		if len(d) < 8 {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "first frame shorter than 8 bytes"}
		}
		p.length = int(d[0]&0x0F)<<8 | int(d[1])
		if p.length == 0 {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "first frame with 32-bit length escape is not supported on classic CAN"}
		}
		if p.length < 8 {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "first frame for a message that fits a single frame"}
		}
		p.payload = d[2:]
	case typeConsecutive:
		p.seq = d[0] & 0x0F
		p.payload = d[1:]
	case typeFlowControl:
		if len(d) < 3 {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "flow control shorter than 3 bytes"}
		}
		p.status = d[0] & 0x0F
		p.bs = d[1]
		p.stmin = d[2]
		if p.status > flowOverflow {
			return p, &FrameError{ID: f.ID, Data: d, Reason: "flow control with reserved status"}
		}
	default:
		return p, &FrameError{ID: f.ID, Data: d, Reason: "reserved frame type"}
	}
	return p, nil
}

// stminDuration converts the STmin byte to a duration. Reserved values count
// as the longest defined gap, 127 ms, as ISO 15765-2 tells receivers to do.
func stminDuration(b byte) time.Duration {
	switch {
	case b <= 0x7F:
		return time.Duration(b) * time.Millisecond
	case b >= 0xF1 && b <= 0xF9:
		return time.Duration(b-0xF0) * 100 * time.Microsecond
	default:
		return 127 * time.Millisecond
	}
}

// stminByte encodes a separation time for our flow-control frames,
// rounding up to the next value the byte can express.
func stminByte(d time.Duration) byte {
	switch {
	case d <= 0:
		return 0
	case d <= 900*time.Microsecond:
		n := (d + 99*time.Microsecond) / (100 * time.Microsecond)
		return 0xF0 + byte(n)
	case d >= 127*time.Millisecond:
		return 0x7F
	default:
		return byte((d + time.Millisecond - 1) / time.Millisecond)
	}
}

// pad fills a frame to 8 bytes when padding is on, as ISO 15765-4 requires
// for OBD.
func (o *Options) pad(b []byte) []byte {
	if o.NoPadding {
		return b
	}
	for len(b) < 8 {
		b = append(b, o.Padding)
	}
	return b
}

func singleFrame(payload []byte) []byte {
	return append([]byte{byte(len(payload))}, payload...)
}

func firstFrame(payload []byte) []byte {
	n := len(payload)
	return append([]byte{typeFirst<<4 | byte(n>>8), byte(n)}, payload[:6]...)
}

func consecutiveFrame(seq byte, chunk []byte) []byte {
	return append([]byte{typeConsecutive<<4 | seq&0x0F}, chunk...)
}

func flowControlFrame(status, bs, stmin byte) []byte {
	return []byte{typeFlowControl<<4 | status, bs, stmin}
}

// Segment cuts a message into the frames a sender puts on the bus: one
// single frame, or a first frame and consecutive frames, each padded to 8
// bytes with pad unless pad is negative.
func Segment(payload []byte, pad int) [][]byte {
	o := Options{NoPadding: pad < 0, Padding: byte(pad)}
	if len(payload) <= 7 {
		return [][]byte{o.pad(singleFrame(payload))}
	}
	frames := [][]byte{o.pad(firstFrame(payload))}
	rest, seq := payload[6:], byte(1)
	for len(rest) > 0 {
		n := min(7, len(rest))
		frames = append(frames, o.pad(consecutiveFrame(seq, rest[:n])))
		rest, seq = rest[n:], (seq+1)&0x0F
	}
	return frames
}
