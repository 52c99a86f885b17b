package dongle

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
)

// Bus timings of the model (see docs/simulator.md).
const (
	frameTime = 250 * time.Microsecond // one 8-byte CAN frame at 500 kbit/s, with stuffing
	cfGap     = 600 * time.Microsecond // between an ECU's consecutive frames
	canSearch = 1200 * time.Millisecond
	allSearch = 5 * time.Second // trying every protocol before giving up
	slowInit  = 2500 * time.Millisecond

	// The older buses run at 10.4 kbaud: about a millisecond a byte. An
	// ECU answers no sooner than P2min (25 ms) after a request, and the
	// tester leaves P3min (55 ms) between the end of an answer and its
	// next request (ISO 9141-2, ISO 14230-4).
	kByte  = 960 * time.Microsecond
	kP2min = 25 * time.Millisecond
	kP3min = 55 * time.Millisecond
)

// frame is one received frame and when it arrived, from the request.
type frame struct {
	at     time.Duration
	id     uint32 // CAN identifier, or the legacy sender
	ext    bool
	data   []byte // the frame's bytes (CAN) or the message (legacy)
	legacy bool
	first  bool // the first frame of its message
	msgLen int  // a first frame's announced length
	seq    int  // consecutive frame number within the message, 1-based
}

// request runs an OBD request line: hex digits and an optional count digit.
func (s *session) request(ctx context.Context, cmd string) error {
	count := 0
	if len(cmd)%2 == 1 {
		if !s.p.CountDigit {
			return s.reply("?")
		}
		count = int(hexDigit(cmd[len(cmd)-1]))
		cmd = cmd[:len(cmd)-1]
		if count == 0 {
			return s.reply("?")
		}
	}
	data, _ := hex.DecodeString(cmd)
	if !s.caf {
		if len(data) < 2 || int(data[0]) != len(data)-1 {
			return s.reply("?") // without auto formatting the host gives the length byte
		}
		data = data[1:]
	}
	if len(data) == 0 || len(data) > 7 {
		return s.reply("?")
	}
	start := time.Now()
	var lines []string
	if !s.active {
		ok, pre, err := s.connect(ctx)
		if errors.Is(err, errStopped) {
			return s.stopped()
		}
		if err != nil {
			return err
		}
		if !ok {
			return s.reply(pre...)
		}
		lines = pre
		start = time.Now()
	}
	req := obd.Request{Service: obd.Service(data[0]), Data: data[1:]}
	if !s.e.state().Ignition {
		// Nothing acknowledges on a sleeping bus.
		s.e.pause(ctx, s.st)
		if s.auto {
			s.active = false
		}
		if s.found.CAN() {
			return s.reply(append(lines, "CAN ERROR")...)
		}
		return s.reply(append(lines, "NO DATA")...)
	}
	if !s.found.CAN() && s.e.cfg.Timing {
		// A K-line is quiet for P3 after an answer before it takes a request.
		if d := time.Until(s.busFree); d > 0 {
			s.e.pause(ctx, d)
		}
		start = time.Now()
	}
	var frames []frame
	if req.Service != obd.ServiceCurrentData || len(req.Data) <= 1 || s.p.Packed {
		frames = s.answer(req) // a clone sends only part of a packed request: nobody answers
	}
	if !s.found.CAN() {
		end := time.Duration(4+len(data)) * kByte
		for _, f := range frames {
			end = max(end, f.at)
		}
		s.busFree = start.Add(end + kP3min)
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].at < frames[j].at })
	frames = s.filter(frames)
	if count > 0 && len(frames) > count {
		frames = frames[:count]
	}
	for _, l := range lines { // SEARCHING... and BUS INIT come first
		if err := s.u.send([]byte(l + s.eol())); err != nil {
			return err
		}
	}
	printed := 0
	var last time.Duration
	for _, f := range frames {
		if s.wait(ctx, start.Add(f.at)) {
			return s.stopped()
		}
		if s.responses {
			for _, l := range s.format(f) {
				if err := s.u.send([]byte(l + s.eol())); err != nil {
					return err
				}
			}
		}
		s.learn(f.at - last)
		last = f.at
		printed++
	}
	if printed == 0 {
		if s.wait(ctx, start.Add(s.st)) {
			return s.stopped()
		}
		return s.reply("NO DATA")
	}
	if count == 0 || printed < count {
		// Listen on for more answers until the timeout.
		if s.wait(ctx, start.Add(last+s.timeout())) {
			return s.stopped()
		}
	}
	return s.u.send([]byte(s.eol() + ">"))
}

// errStopped: the host interrupted the adapter.
var errStopped = errors.New("dongle: interrupted by the host")

// stopped ends a request the host interrupted. The character that
// interrupted it is used up; anything after it is the next command.
func (s *session) stopped() error {
	if len(s.pend) > 0 {
		s.pend = s.pend[1:]
	}
	return s.reply("STOPPED")
}

func hexDigit(c byte) byte {
	if c >= 'A' {
		return c - 'A' + 10
	}
	return c - '0'
}

// wait sleeps until t (when timing is on), and reports whether the host
// interrupted meanwhile.
func (s *session) wait(ctx context.Context, t time.Time) bool {
	if s.e.cfg.Timing {
		for {
			d := time.Until(t)
			if d <= 0 {
				break
			}
			if s.interrupted() {
				return true
			}
			s.e.pause(ctx, min(d, 2*time.Millisecond))
		}
	}
	return s.interrupted()
}

// learn feeds adaptive timing with how long an answer took.
func (s *session) learn(gap time.Duration) {
	s.seen = append(s.seen, gap)
	if len(s.seen) > 16 {
		s.seen = s.seen[1:]
	}
}

// timeout is how long the adapter listens after the last frame: the ST
// setting, or with adaptive timing a margin over the slowest recent answer.
func (s *session) timeout() time.Duration {
	var worst time.Duration
	for _, g := range s.seen {
		worst = max(worst, g)
	}
	switch {
	case s.adaptive == 0 || worst == 0:
		return s.st
	case s.adaptive == 1:
		return min(s.st, max(25*time.Millisecond, worst*3/2+10*time.Millisecond))
	default:
		return min(s.st, max(10*time.Millisecond, worst*11/10+4*time.Millisecond))
	}
}

// connect finds the car's protocol: an automatic search, or the protocol
// set with ATSP. It returns the lines printed before the answer and
// whether a protocol is now active.
func (s *session) connect(ctx context.Context) (bool, []string, error) {
	car := s.e.cfg.Protocol
	alive := s.e.state().Ignition
	if s.auto {
		wait := canSearch
		if !car.CAN() {
			wait = slowInit + canSearch
		}
		if s.proto == car {
			wait = 300 * time.Millisecond // ATTP or ATSP A: tried first
		}
		if !alive {
			wait = allSearch
		}
		if err := s.u.send([]byte("SEARCHING..." + s.eol())); err != nil {
			return false, nil, err
		}
		if s.wait(ctx, time.Now().Add(wait)) {
			return false, nil, errStopped
		}
		if !alive {
			return false, []string{"UNABLE TO CONNECT"}, nil
		}
		s.active, s.found = true, car
		return true, nil, nil
	}
	if s.proto != car || !alive {
		s.e.pause(ctx, s.st)
		switch {
		case s.proto.CAN():
			return false, []string{"CAN ERROR"}, nil
		case s.proto >= obd.ProtocolISO9141 && s.proto <= obd.ProtocolKWPFast:
			return false, []string{"BUS INIT: ...ERROR"}, nil
		}
		return false, []string{"NO DATA"}, nil
	}
	s.active, s.found = true, car
	if car >= obd.ProtocolISO9141 && car <= obd.ProtocolKWPFast {
		s.e.pause(ctx, slowInit)
		return true, []string{"BUS INIT: ...OK"}, nil
	}
	return true, nil, nil
}

// answer asks the modules the request's header reaches and lays their
// answers out on the bus's timeline.
func (s *session) answer(req obd.Request) []frame {
	var frames []frame
	for _, m := range s.e.cfg.Modules {
		if !s.reaches(string(m.Addr)) {
			continue
		}
		r := req
		if s.header != 0 && !(s.headerLen == 3 && s.header == 0x7DF || s.headerLen == 6 && s.header == 0xDB33F1) {
			r.ECU = m.Addr // addressed to this module alone
		}
		msgs := m.Answer(r)
		if len(msgs) == 0 {
			continue
		}
		at := frameTime + m.ResponseTime()
		if !s.found.CAN() {
			// The request's header, data and checksum cross the K-line
			// first; the ECU waits at least P2min.
			at = time.Duration(4+len(req.Data)+1)*kByte + max(kP2min, m.ResponseTime())
		}
		id, ext := addrID(string(m.Addr))
		for _, msg := range msgs {
			if !s.found.CAN() {
				at += time.Duration(4+len(msg)) * kByte // the answer's bytes, header and checksum
				frames = append(frames, frame{at: at, id: id, data: msg, legacy: true, first: true})
				at += kP2min // the next message of a long answer
				continue
			}
			segs := isotp.Segment(msg, 0x55)
			for i, seg := range segs {
				f := frame{at: at, id: id, ext: ext, data: seg, first: i == 0, seq: i}
				if i == 0 && len(segs) > 1 {
					f.msgLen = len(msg)
					at += 2 * frameTime // the adapter's flow control goes out
				}
				frames = append(frames, f)
				at += cfGap
			}
		}
	}
	return frames
}

// reaches reports whether the current header addresses the module.
func (s *session) reaches(addr string) bool {
	if s.header == 0 {
		return true // the default functional header
	}
	id, _ := addrID(addr)
	switch {
	case s.headerLen == 3 && s.header == 0x7DF, s.headerLen == 6 && s.header == 0xDB33F1:
		return true
	case s.headerLen == 3:
		return s.header+8 == id
	case s.headerLen >= 6:
		phys := isotp.RequestIDFor(id, true) & 0xFFFFFF
		return s.header&0xFFFFFF == phys
	}
	return false
}

func addrID(addr string) (uint32, bool) {
	var id uint32
	fmt.Sscanf(addr, "%X", &id)
	return id, len(addr) > 3
}

// filter applies ATCRA.
func (s *session) filter(frames []frame) []frame {
	if s.cra == "" {
		return frames
	}
	var out []frame
	for _, f := range frames {
		id := fmt.Sprintf("%03X", f.id)
		if f.ext {
			id = fmt.Sprintf("%08X", f.id)
		}
		if len(id) == len(s.cra) && matchMask(id, s.cra) {
			out = append(out, f)
		}
	}
	return out
}

func matchMask(id, mask string) bool {
	for i := range id {
		if mask[i] != 'X' && mask[i] != id[i] {
			return false
		}
	}
	return true
}

// format prints a received frame the way the adapter's settings say.
func (s *session) format(f frame) []string {
	hexs := func(b []byte) []string {
		out := make([]string, len(b))
		for i, x := range b {
			out[i] = fmt.Sprintf("%02X", x)
		}
		return out
	}
	join := func(tokens []string) string {
		if s.spaces {
			return strings.Join(tokens, " ") + " "
		}
		return strings.Join(tokens, "")
	}
	if f.legacy {
		// Three header bytes (priority, target, sender) and a checksum.
		msg := append([]byte{0x48, 0x6B, byte(f.id)}, f.data...)
		var sum byte
		for _, b := range msg {
			sum += b
		}
		if s.headers {
			return []string{join(hexs(append(msg, sum)))}
		}
		return []string{join(hexs(f.data))}
	}
	if s.headers || !s.caf {
		var tokens []string
		if s.headers {
			if f.ext {
				tokens = hexs([]byte{byte(f.id >> 24), byte(f.id >> 16), byte(f.id >> 8), byte(f.id)})
			} else {
				tokens = []string{fmt.Sprintf("%03X", f.id)}
			}
			if s.dlc {
				tokens = append(tokens, fmt.Sprint(len(f.data)))
			}
		}
		return []string{join(append(tokens, hexs(f.data)...))}
	}
	// Auto formatting without headers: a single frame shows its data; a
	// multi-frame answer shows its length, then numbered lines.
	pci := f.data[0] >> 4
	switch {
	case pci == 0:
		n := int(f.data[0] & 0x0F)
		return []string{join(hexs(f.data[1 : 1+n]))}
	case pci == 1:
		sep := ": "
		if !s.spaces {
			sep = ":"
		}
		return []string{fmt.Sprintf("%03X", f.msgLen), "0" + sep + strings.TrimSuffix(join(hexs(f.data[2:])), " ") + tail(s.spaces)}
	default:
		sep := ": "
		if !s.spaces {
			sep = ":"
		}
		return []string{fmt.Sprintf("%X", f.seq&0xF) + sep + strings.TrimSuffix(join(hexs(f.data[1:])), " ") + tail(s.spaces)}
	}
}

func tail(spaces bool) string {
	if spaces {
		return " "
	}
	return ""
}
