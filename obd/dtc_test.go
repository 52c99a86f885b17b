package obd

import (
	"errors"
	"testing"
)

func TestDTCFormatting(t *testing.T) {
	for raw, want := range map[DTC]string{0x0133: "P0133", 0x0420: "P0420", 0x4300: "C0300", 0x9234: "B1234", 0xC100: "U0100", 0x3FFF: "P3FFF", 0x1234: "P1234"} {
		if got := raw.String(); got != want {
			t.Errorf("%04X: got %s, want %s", uint16(raw), got, want)
		}
		back, err := ParseDTC(want)
		if err != nil || back != raw {
			t.Errorf("ParseDTC(%s) = %04X, %v", want, uint16(back), err)
		}
	}
	for _, bad := range []string{"", "P013", "X0133", "P4133", "P01G3", "P01333"} {
		if _, err := ParseDTC(bad); err == nil {
			t.Errorf("ParseDTC(%q) accepted", bad)
		}
	}
	if !DTC(0x0300).Generic() || DTC(0x1300).Generic() || !DTC(0xC100).Generic() {
		t.Error("generic classification")
	}
}

func TestDecodeDTCs(t *testing.T) {
	cases := []struct {
		name    string
		framing Framing
		msgs    []string
		want    []string
	}{
		{"can", FramingCAN, []string{"4302 0133 0420"}, []string{"P0133", "P0420"}},
		{"can-none", FramingCAN, []string{"4300"}, nil},
		{"can-padded", FramingCAN, []string{"4301 0300 0000"}, []string{"P0300"}},
		{"auto-can", FramingAuto, []string{"4301 C100"}, []string{"U0100"}},
		{"legacy", FramingLegacy, []string{"43 0133 0420 0000"}, []string{"P0133", "P0420"}},
		{"legacy-two-messages", FramingLegacy, []string{"43 0101 0102 0103", "43 0104 0000 0000"}, []string{"P0101", "P0102", "P0103", "P0104"}},
		{"auto-legacy", FramingAuto, []string{"43 0133 0000 0000"}, []string{"P0133"}},
		{"pending", FramingCAN, []string{"4701 0171"}, []string{"P0171"}},
	}
	for _, c := range cases {
		var msgs [][]byte
		svc := ServiceStoredDTCs
		for _, m := range c.msgs {
			b := mustHex(t, m)
			msgs = append(msgs, b)
			svc = Service(b[0] - 0x40)
		}
		got, err := DecodeDTCs(svc, c.framing, msgs...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i].String() != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			}
		}
	}
	for _, bad := range []string{"4303 0133", "44 0133", "43 01", ""} {
		_, err := DecodeDTCs(ServiceStoredDTCs, FramingAuto, mustHex(t, bad))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", bad, err)
		}
	}
}

func FuzzDecodeDTCs(f *testing.F) {
	f.Add([]byte{0x43, 0x02, 0x01, 0x33, 0x04, 0x20}, byte(0))
	f.Add([]byte{0x43, 0x01, 0x33, 0x04, 0x20, 0x00, 0x00}, byte(2))
	f.Fuzz(func(t *testing.T, msg []byte, framing byte) {
		codes, err := DecodeDTCs(ServiceStoredDTCs, Framing(framing%3), msg)
		if err != nil {
			return
		}
		for _, d := range codes {
			if back, err := ParseDTC(d.String()); err != nil || back != d {
				t.Fatalf("%04X formats as %s which parses to %04X, %v", uint16(d), d, uint16(back), err)
			}
		}
	})
}

func TestCheckVIN(t *testing.T) {
	for vin, digit := range map[string]bool{"1G1JC5444R7252367": true, "1M8GDM9AXKP042788": true, "WVWZZZ1JZXW000001": false} {
		c := CheckVIN(vin)
		if !c.Valid || c.CheckDigit != digit {
			t.Errorf("%s: %+v", vin, c)
		}
	}
	for _, bad := range []string{"1G1JC5444R725236", "1G1JC5444R72523670", "1G1JC5444O7252367"} {
		if c := CheckVIN(bad); c.Valid || c.Problem == "" {
			t.Errorf("%s: %+v", bad, c)
		}
	}
}

// Answers with several PIDs split into items that tile the message exactly.
func FuzzSplitPIDs(f *testing.F) {
	f.Add([]byte{0x41, 0x0C, 0x1A, 0xF8, 0x0D, 0x32, 0x05, 0x7B}, []byte{0x0C, 0x0D, 0x05})
	f.Add([]byte{0x42, 0x0C, 0x00, 0x0B, 0xB8}, []byte{0x0C})
	f.Fuzz(func(t *testing.T, msg, asked []byte) {
		var pids []PID
		for _, b := range asked {
			pids = append(pids, PID(b))
		}
		for _, svc := range []Service{ServiceCurrentData, ServiceFreezeFrame} {
			frame := 0
			if svc == ServiceFreezeFrame {
				frame = 1
			}
			items, err := splitPIDs(svc, msg, frame, pids)
			if err != nil {
				continue
			}
			n := 1
			for _, it := range items {
				n += 1 + frame + len(it.data)
			}
			if n > len(msg) {
				t.Fatalf("items cover %d bytes of %d", n, len(msg))
			}
		}
		_, _ = infoItems(InfoVIN, 17, [][]byte{msg})
		_, _ = infoItems(InfoCalibrationID, 16, [][]byte{msg, asked})
	})
}
