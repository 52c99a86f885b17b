package elm327

import (
	"errors"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

func TestNoDataMatchesObd(t *testing.T) {
	_, err := screen("010D", []byte("NO DATA\r\r"), false)
	if !errors.Is(err, obd.ErrNoData) {
		t.Fatalf("NO DATA should match obd.ErrNoData: %v", err)
	}
	var re *ReplyError
	if !errors.As(err, &re) || string(re.Raw) != "NO DATA\r\r" || re.Command != "010D" {
		t.Fatalf("the error should carry what was sent and received: %#v", err)
	}
}

func TestScreen(t *testing.T) {
	cases := []struct {
		raw   string
		lines []string
		kind  Kind
	}{
		{"SEARCHING...\r7E803410D32\r\r", []string{"7E803410D32"}, 0},
		{"010D\r7E803410D32 \r\r", []string{"7E803410D32"}, 0}, // echo
		{"BUS INIT: ...OK\r410D32\r\r", []string{"410D32"}, 0},
		{"BUS INIT: ...\rERROR\r\r", nil, KindBusInit},
		{"BUSINIT:ERROR\r\r", nil, KindBusInit},
		{"410D32\rNO DATA\r\r", []string{"410D32"}, 0},
		{"\x00\x00410D32\r\n\r\n", []string{"410D32"}, 0},
		{"ERR94\r\r", nil, KindInternalError},
		{"ELM327 v1.5\r\r", nil, KindReset},
		{"lp alert\r", nil, KindLowPowerAlert},
	}
	for _, c := range cases {
		lines, err := screen("010D", []byte(c.raw), false)
		var re *ReplyError
		if c.kind != 0 {
			if !errors.As(err, &re) || re.Kind != c.kind {
				t.Errorf("%q: got %v, want %v", c.raw, err, c.kind)
			}
			continue
		}
		if err != nil || len(lines) != len(c.lines) || len(lines) > 0 && lines[0] != c.lines[0] {
			t.Errorf("%q: got %q, %v; want %q", c.raw, lines, err, c.lines)
		}
	}
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("serial:///dev/ttyUSB0?baud=38400&raise=115200&protocol=6&timeout=3s")
	if err != nil || c.Network != "serial" || c.Address != "/dev/ttyUSB0" || c.Baud != 38400 || c.RaiseBaud != 115200 || c.Protocol != 6 || c.Timeout != 3*time.Second {
		t.Fatalf("%+v %v", c, err)
	}
	c, err = ParseURL("tcp://192.168.0.10:35000")
	if err != nil || c.Network != "tcp" || c.Address != "192.168.0.10:35000" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"tcp://host", "serial://", "usb:///dev/x", "serial:///dev/x?speed=9", "tcp://h:1?baud=9600", "serial:///dev/x?protocol=D", "serial:///dev/x?timeout=-1s"} {
		if _, err := ParseURL(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: got %v, want ErrBadURL", bad, err)
		}
	}
}

func TestParseDPN(t *testing.T) {
	for in, want := range map[string]obd.Protocol{"A6": 6, "6": 6, "A3": 3, "C": 0xC} {
		p, _, err := parseDPN([]string{in})
		if err != nil || p != want {
			t.Errorf("%s: %v %v", in, p, err)
		}
	}
	for _, bad := range []string{"A0", "0", "AA6", "X", ""} {
		if _, _, err := parseDPN([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Whatever bytes come back, parsing ends in answers or a typed error.
func FuzzReply(f *testing.F) {
	for _, s := range []string{
		"7E8064100BE3FA813\r7E906410088180013\r\r",
		"014\r0:490201314731\r1:4A433534343452\r2:37323532333637\r\r",
		"18DAF1101014490201314731\r18DAF110214A433534343452\r\r",
		"486B104303000301030212\r\r", "SEARCHING...\rUNABLE TO CONNECT\r\r", "7E8 10 14 49 02 01 31 47 31 \r",
	} {
		for p := byte(0); p <= 7; p += 3 {
			f.Add([]byte(s), p, true)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, proto byte, headers bool) {
		lay := layout{proto: obd.Protocol(proto % 13), headers: headers}
		lines, err := screen("0100", raw, false)
		if err != nil {
			var re *ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		msgs, err := decode("0100", raw, lines, lay)
		if err != nil {
			var re *ReplyError
			if !errors.As(err, &re) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, m := range msgs {
			if len(m.Data) == 0 {
				t.Fatalf("empty message from %q", raw)
			}
		}
	})
}

// The same bytes, fed in pieces of every size across reads, give the same
// result as when they arrive at once.
func FuzzSplitReads(f *testing.F) {
	f.Add([]byte("SEARCHING...\r7E803410D32\r\r>"), int64(1))
	f.Add([]byte("7E81014490201314731\r7E8214A433534343452\r7E82237323532333637\r\r>"), int64(7))
	f.Add([]byte("NO DATA\r\r>"), int64(3))
	f.Add([]byte("7E80341"), int64(2))
	f.Fuzz(func(t *testing.T, reply []byte, seed int64) {
		run := func(seed int64) (string, string) {
			c := &Client{lay: layout{proto: obd.ProtocolCAN11_500, headers: true}, cfg: Config{Timeout: 20 * time.Millisecond}}
			sc := newScriptConn([]exchange{{send: "010D", reply: reply}}, seed)
			c.c = sc
			c.log = discardLogger
			resp, err := c.request(t.Context(), obd.Request{Service: 0x01, Data: []byte{0x0D}}, "010D")
			var out string
			for _, r := range resp {
				out += string(r.ECU) + ":" + string(r.Data) + ";"
			}
			if err != nil {
				var re *ReplyError
				if !errors.As(err, &re) {
					t.Fatalf("untyped error %v", err)
				}
				return out, re.Kind.String()
			}
			return out, ""
		}
		a, ea := run(seed)
		b, eb := run(seed + 1)
		if a != b || ea != eb {
			t.Fatalf("split differently, %q/%s vs %q/%s", a, ea, b, eb)
		}
	})
}
