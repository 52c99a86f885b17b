package dongle

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
)

var update = flag.Bool("update", false, "rewrite golden session files")

// A golden session: testdata/sessions/<name>.in lists what the host sends,
// one command per line (a line "@at 10m" moves the car's clock); the
// emulator's exact answers, bytes escaped, are kept in <name>.golden.
type sessionCase struct {
	name     string
	profile  string
	scenario string
	proto    obd.Protocol
}

var sessionCases = []sessionCase{
	{"genuine-can11", "genuine", "overheat", 0},
	{"genuine-can29", "genuine", "misfire", obd.ProtocolCAN29_500},
	{"clone-v1.5", "clone-v1.5", "healthy", 0},
	{"legacy-iso9141", "genuine", "misfire", obd.ProtocolISO9141},
	{"ignition-off", "slow", "healthy", 0},
	{"bad-input", "genuine", "healthy", 0},
}

func newEmulator(t testing.TB, c sessionCase) (*Emulator, *car.Clock) {
	sc, err := car.Load(c.scenario)
	if err != nil {
		t.Fatal(err)
	}
	if c.name == "ignition-off" {
		sc.Drive = []car.Phase{{Kind: car.Parked, For: 10 * time.Minute}, {Kind: car.Idle, For: 10 * time.Minute}}
	}
	vc := car.New(car.DefaultSpec(), sc, 1)
	clock := car.ManualClock()
	p, _ := LookupProfile(c.profile)
	mods := ecu.Modules(vc, clock, ecu.Options{Legacy: c.proto == obd.ProtocolISO9141, Extended: c.proto == obd.ProtocolCAN29_500, Seed: 1})
	return New(Config{Profile: p, Car: vc, Clock: clock, Modules: mods, Protocol: c.proto}), clock
}

func TestGoldenSessions(t *testing.T) {
	for _, c := range sessionCases {
		t.Run(c.name, func(t *testing.T) {
			em, clock := newEmulator(t, c)
			host, dev := net.Pipe()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = em.Serve(ctx, dev, nil); close(done) }()
			defer func() { cancel(); host.Close(); <-done }()

			in, err := os.ReadFile(filepath.Join("testdata", "sessions", c.name+".in"))
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			r := bufio.NewReader(host)
			for _, cmd := range strings.Split(strings.TrimRight(string(in), "\n"), "\n") {
				if strings.HasPrefix(cmd, "#") {
					continue
				}
				if at, ok := strings.CutPrefix(cmd, "@at "); ok {
					d, err := time.ParseDuration(at)
					if err != nil {
						t.Fatal(err)
					}
					clock.Set(d)
					fmt.Fprintf(&out, "@at %s\n", at)
					continue
				}
				if _, err := host.Write([]byte(cmd + "\r")); err != nil {
					t.Fatal(err)
				}
				reply, err := r.ReadBytes('>')
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&out, "> %s\n< %s\n", cmd, escape(reply))
			}
			golden := filepath.Join("testdata", "sessions", c.name+".golden")
			if *update {
				_ = os.WriteFile(golden, []byte(out.String()), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("session differs from %s:\n%s", golden, out.String())
			}
		})
	}
}

func escape(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		switch {
		case c == '\r':
			s.WriteString(`\r`)
		case c == '\n':
			s.WriteString(`\n`)
		case c < ' ' || c > '~':
			fmt.Fprintf(&s, `\x%02x`, c)
		default:
			s.WriteByte(c)
		}
	}
	return s.String()
}

// Whatever a host sends, line by line, the emulator answers every line
// with a prompt and never falls over.
func FuzzSession(f *testing.F) {
	f.Add([]byte("ATZ\rATE0\rATH1\r0100\r010C0D\r0902\r"))
	f.Add([]byte("AT SP A6\r\r\rATSH7E0\r01 0C 1\rATCAF0\r02010C\r"))
	f.Add([]byte("ATBRD08\rATST00\rATCRA7E8\r03\r04\r0A\r\x00\xff\r"))
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > 512 {
			return
		}
		em, clock := newEmulator(t, sessionCase{profile: "genuine", scenario: "misfire"})
		clock.Set(10 * time.Minute)
		host, dev := net.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = em.Serve(ctx, dev, nil); close(done) }()
		defer func() { cancel(); host.Close(); <-done }()
		buf := make([]byte, 4096)
		for i, line := range bytes.Split(input, []byte("\r")) {
			if i == bytes.Count(input, []byte("\r")) {
				break // no CR after the last piece: nothing to answer yet
			}
			go func() { _, _ = host.Write(append(line, '\r')) }()
			var got []byte
			for !bytes.Contains(got, []byte(">")) {
				_ = host.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := host.Read(buf)
				if err != nil {
					t.Fatalf("line %d %q: %v after %q", i, line, err, got)
				}
				got = append(got, buf[:n]...)
			}
		}
	})
}
