package dongle

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

// maxLine is the adapter's input buffer; longer lines are refused with "?".
const maxLine = 128

// session is one host connected to the adapter: its settings and the
// conversation.
type session struct {
	e    *Emulator
	p    Profile
	u    *uart
	in   <-chan []byte
	pend []byte // received, not yet consumed

	echo, linefeeds, spaces, headers, caf, dlc, responses bool

	proto     obd.Protocol // selected protocol (ProtocolUnknown: automatic)
	auto      bool         // automatic search allowed
	active    bool         // a protocol is connected
	found     obd.Protocol // the protocol the search found
	header    uint32       // request header set by ATSH; 0 for the default
	headerLen int          // hex digits given to ATSH
	cra       string       // receive address filter, hex with X wildcards
	st        time.Duration
	adaptive  int
	brt       time.Duration
	last      string
	seen      []time.Duration // recent response gaps, for adaptive timing
	busFree   time.Time       // K-line: when the next request may go out
}

func newSession(e *Emulator, u *uart, in <-chan []byte) *session {
	s := &session{e: e, p: e.cfg.Profile, u: u, in: in}
	s.defaults()
	s.brt = 75 * time.Millisecond
	return s
}

// defaults is the state after power-up, ATZ, ATWS or ATD.
func (s *session) defaults() {
	s.echo, s.linefeeds, s.spaces, s.headers, s.caf, s.dlc, s.responses = true, s.p.Linefeeds, true, false, true, false, true
	s.proto, s.auto, s.active, s.found = obd.ProtocolUnknown, true, false, obd.ProtocolUnknown
	s.header, s.headerLen, s.cra = 0, 0, ""
	s.st, s.adaptive = 200*time.Millisecond, 1
	s.seen = nil
}

func (s *session) eol() string {
	if s.linefeeds {
		return "\r\n"
	}
	return "\r"
}

// reply sends lines, then the blank line and the prompt.
func (s *session) reply(lines ...string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + s.eol())
	}
	b.WriteString(s.eol() + ">")
	return s.u.send([]byte(b.String()))
}

// nextByte returns the next byte from the host, waiting for it.
func (s *session) nextByte(ctx context.Context) (byte, bool) {
	for len(s.pend) == 0 {
		select {
		case b, ok := <-s.in:
			if !ok {
				return 0, false
			}
			s.pend = append(s.pend, b...)
		case <-ctx.Done():
			return 0, false
		}
	}
	c := s.pend[0]
	s.pend = s.pend[1:]
	return c, true
}

// interrupted reports whether the host sent anything since the command: a
// real adapter stops what it is doing when a character arrives.
func (s *session) interrupted() bool {
	if len(s.pend) > 0 {
		return true
	}
	select {
	case b, ok := <-s.in:
		if ok {
			s.pend = append(s.pend, b...)
			return len(b) > 0
		}
	default:
	}
	return false
}

// run serves the host until it goes away.
func (s *session) run(ctx context.Context) error {
	var line []byte
	for {
		c, ok := s.nextByte(ctx)
		if !ok {
			return nil
		}
		if s.echo && c != '\n' {
			echo := []byte{c}
			if c == '\r' && s.linefeeds {
				echo = append(echo, '\n')
			}
			if err := s.u.send(echo); err != nil {
				return err
			}
		}
		switch {
		case c == '\r':
			// The command took its time to arrive over the serial line.
			s.e.pause(ctx, time.Duration(len(line)+1)*byteTime(s.u.baud))
			err := s.handle(ctx, string(line))
			line = line[:0]
			if err != nil {
				return err
			}
		case c <= ' ' || c == 0x7F:
			// spaces and control characters are ignored, LF included
		default:
			line = append(line, c)
		}
	}
}

// handle runs one command line.
func (s *session) handle(ctx context.Context, raw string) error {
	if s.u.garbled {
		// The host is at the wrong rate: the adapter hears garbage too.
		return s.reply("?")
	}
	cmd := strings.ToUpper(raw)
	if len(cmd) > maxLine {
		return s.reply("?")
	}
	if cmd == "" {
		if s.last == "" {
			return s.u.send([]byte(s.eol() + ">"))
		}
		cmd = s.last // an empty line repeats the last command
	}
	s.last = cmd
	if strings.HasPrefix(cmd, "AT") {
		return s.at(ctx, cmd[2:])
	}
	if !isHex(cmd) {
		return s.reply("?")
	}
	return s.request(ctx, cmd)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func hexArg(s string, digits ...int) (uint64, bool) {
	ok := false
	for _, d := range digits {
		ok = ok || len(s) == d
	}
	if !ok || !isHex(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return v, err == nil
}

// protocolNames are what ATDP prints.
var protocolNames = map[obd.Protocol]string{
	1: "SAE J1850 PWM", 2: "SAE J1850 VPW", 3: "ISO 9141-2", 4: "ISO 14230-4 (KWP 5BAUD)", 5: "ISO 14230-4 (KWP FAST)",
	6: "ISO 15765-4 (CAN 11/500)", 7: "ISO 15765-4 (CAN 29/500)", 8: "ISO 15765-4 (CAN 11/250)", 9: "ISO 15765-4 (CAN 29/250)",
	0xA: "SAE J1939 (CAN 29/250)", 0xB: "USER1 (CAN 11/125)", 0xC: "USER2 (CAN 11/50)",
}

// at runs an AT command (without its "AT").
func (s *session) at(ctx context.Context, c string) error {
	if s.p.ignores(c) && s.p.ignoredValid(c) {
		return s.reply("OK")
	}
	flag := func(name string, dst *bool) (bool, error) {
		if c == name+"0" || c == name+"1" {
			*dst = c[len(name)] == '1'
			return true, s.reply("OK")
		}
		return false, nil
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"E", &s.echo}, {"L", &s.linefeeds}, {"S", &s.spaces}, {"H", &s.headers}, {"CAF", &s.caf}, {"D", &s.dlc}, {"R", &s.responses}} {
		if ok, err := flag(f.name, f.dst); ok {
			return err
		}
	}
	switch {
	case c == "Z" || c == "WS":
		if c == "Z" {
			s.u.baud = s.p.Baud // a full reset also undoes ATBRD
		}
		s.defaults()
		s.last = ""
		s.e.pause(ctx, map[string]time.Duration{"Z": 900 * time.Millisecond, "WS": 300 * time.Millisecond}[c])
		return s.u.send([]byte(s.eol() + s.eol() + s.p.Identity + s.eol() + s.eol() + ">"))
	case c == "D":
		s.defaults()
		return s.reply("OK")
	case c == "I":
		return s.reply(s.p.Identity)
	case c == "@1":
		return s.reply("OBDII to RS232 Interpreter")
	case c == "@2":
		return s.reply("?")
	case c == "RV":
		st := s.e.state()
		return s.reply(fmt.Sprintf("%.1fV", st.Battery))
	case c == "DP":
		name := "AUTO"
		if s.active {
			name = protocolNames[s.found]
			if s.auto {
				name = "AUTO, " + name
			}
		} else if s.proto != obd.ProtocolUnknown {
			name = protocolNames[s.proto]
			if s.auto {
				name = "AUTO, " + name
			}
		}
		return s.reply(name)
	case c == "DPN":
		p := s.proto
		if s.active {
			p = s.found
		}
		n := fmt.Sprintf("%X", int(p))
		if s.auto {
			n = "A" + n
		}
		return s.reply(n)
	case strings.HasPrefix(c, "SP") || strings.HasPrefix(c, "TP"):
		arg := c[2:]
		auto := c[:2] == "TP"
		if strings.HasPrefix(arg, "A") && len(arg) == 2 {
			auto, arg = true, arg[1:]
		}
		if arg == "00" {
			arg = "0"
		}
		n, ok := hexArg(arg, 1)
		if !ok || n > 0xC {
			return s.reply("?")
		}
		s.proto, s.auto, s.active = obd.Protocol(n), auto || n == 0, false
		return s.reply("OK")
	case c == "AT0" || c == "AT1" || c == "AT2":
		s.adaptive = int(c[2] - '0')
		return s.reply("OK")
	case strings.HasPrefix(c, "ST"):
		n, ok := hexArg(c[2:], 1, 2)
		if !ok {
			return s.reply("?")
		}
		if n == 0 {
			n = 0x32 // 00 restores the default
		}
		s.st = time.Duration(n) * 4 * time.Millisecond
		return s.reply("OK")
	case strings.HasPrefix(c, "SH"):
		n, ok := hexArg(c[2:], 3, 6, 8)
		if !ok {
			return s.reply("?")
		}
		s.header, s.headerLen = uint32(n), len(c)-2
		return s.reply("OK")
	case strings.HasPrefix(c, "CRA"):
		arg := c[3:]
		if arg != "" && !(len(arg) == 3 || len(arg) == 8) {
			return s.reply("?")
		}
		s.cra = arg
		return s.reply("OK")
	case c == "PC":
		s.active = false
		return s.reply("OK")
	case strings.HasPrefix(c, "BRT"):
		n, ok := hexArg(c[3:], 2)
		if !ok {
			return s.reply("?")
		}
		if n == 0 {
			n = 256
		}
		s.brt = time.Duration(n) * 5 * time.Millisecond
		return s.reply("OK")
	case strings.HasPrefix(c, "BRD"):
		n, ok := hexArg(c[3:], 2)
		if !ok || n < 8 {
			return s.reply("?")
		}
		return s.switchBaud(ctx, int(n))
	case c == "LP":
		return s.u.send([]byte("OK" + s.eol())) // and sleeps; the next character wakes it
	case c == "CS":
		return s.reply("T:00 R:00")
	}
	// Commands a genuine adapter accepts that change nothing the emulator
	// models: memory, long messages, flow control, init settings, ...
	for _, ok := range acceptedCommands {
		if ok.match(c) {
			return s.reply("OK")
		}
	}
	return s.reply("?")
}

type accepted struct {
	prefix string
	digits []int // allowed lengths of a hex argument; nil for none
}

func (a accepted) match(c string) bool {
	if !strings.HasPrefix(c, a.prefix) {
		return false
	}
	arg := c[len(a.prefix):]
	if a.digits == nil {
		return arg == ""
	}
	_, ok := hexArg(arg, a.digits...)
	return ok
}

var acceptedCommands = []accepted{
	{"M0", nil}, {"M1", nil}, {"AL", nil}, {"NL", nil}, {"AR", nil}, {"V0", nil}, {"V1", nil},
	{"CFC0", nil}, {"CFC1", nil}, {"CEA", nil}, {"CEA", []int{2}}, {"CP", []int{2}}, {"KW0", nil}, {"KW1", nil},
	{"SW", []int{2}}, {"IIA", []int{2}}, {"IB10", nil}, {"IB48", nil}, {"IB96", nil}, {"SI", nil}, {"FI", nil},
	{"BI", nil}, {"CSM0", nil}, {"CSM1", nil}, {"FE", nil}, {"JE", nil}, {"JS", nil}, {"JHF0", nil}, {"JHF1", nil},
	{"SS", nil}, {"AMC", nil}, {"CTM1", nil}, {"CTM5", nil}, {"FCSM", []int{1}}, {"FCSH", []int{3, 8}}, {"CF", []int{3, 8}}, {"CM", []int{3, 8}},
}

// ignoredValid: a clone only swallows commands that look like the ones it
// ignores (ATST with a byte, ATBRD with a byte, ...), not any text.
func (p Profile) ignoredValid(c string) bool {
	for _, pre := range p.Ignored {
		if !strings.HasPrefix(c, pre) {
			continue
		}
		arg := c[len(pre):]
		switch pre {
		case "ST", "BRD", "BRT":
			_, ok := hexArg(arg, 1, 2)
			return ok
		case "CRA":
			return arg == "" || len(arg) == 3 || len(arg) == 8
		case "CAF":
			return arg == "0" || arg == "1"
		default:
			return arg == ""
		}
	}
	return false
}
