package isotp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// Round trips of every interesting length, with block sizes and separation
// times on both sides, must deliver the payload unchanged.
func TestConnRoundTrip(t *testing.T) {
	lengths := []int{1, 6, 7, 8, 13, 14, 62, 63, 111, 112, 113, 500, 4095}
	cases := []struct {
		name string
		rx   Options
	}{
		{"no-limits", Options{}},
		{"bs1", Options{BlockSize: 1}},
		{"bs3-stmin1ms", Options{BlockSize: 3, STmin: time.Millisecond}},
		{"stmin-300us", Options{STmin: 300 * time.Microsecond}},
		{"no-padding", Options{NoPadding: true, BlockSize: 8}},
	}
	for _, c := range cases {
		for _, n := range lengths {
			if n == 4095 && c.rx.STmin > 0 {
				continue // keeps the suite quick; framing is the same
			}
			t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
				ctx := testCtx(t)
				bus := NewMemBus()
				a := NewConn(bus.Port(nil), 0x7E0, 0x7E8, false, Options{})
				b := NewConn(bus.Port(nil), 0x7E8, 0x7E0, false, c.rx)
				want := pattern(n)
				errc := make(chan error, 1)
				go func() { errc <- a.Send(ctx, want) }()
				got, err := b.Receive(ctx)
				if err != nil {
					t.Fatalf("receive: %v", err)
				}
				if err := <-errc; err != nil {
					t.Fatalf("send: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes % X, want % X", len(got), got, want)
				}
			})
		}
	}
}

// The frames on the bus are exactly what ISO 15765-2 prescribes.
func TestConnFramesOnTheWire(t *testing.T) {
	ctx := testCtx(t)
	bus := NewMemBus()
	tap := bus.Port(nil)
	a := NewConn(bus.Port(nil), 0x7E0, 0x7E8, false, Options{})
	b := NewConn(bus.Port(nil), 0x7E8, 0x7E0, false, Options{BlockSize: 2, STmin: 5 * time.Millisecond})
	payload := pattern(21)
	go func() { _, _ = b.Receive(ctx) }()
	if err := a.Send(ctx, payload); err != nil {
		t.Fatal(err)
	}
	want := []Frame{
		{ID: 0x7E0, Data: []byte{0x10, 0x15, 0x03, 0x0A, 0x11, 0x18, 0x1F, 0x26}},
		{ID: 0x7E8, Data: []byte{0x30, 0x02, 0x05, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC}},
		{ID: 0x7E0, Data: []byte{0x21, 0x2D, 0x34, 0x3B, 0x42, 0x49, 0x50, 0x57}},
		{ID: 0x7E0, Data: []byte{0x22, 0x5E, 0x65, 0x6C, 0x73, 0x7A, 0x81, 0x88}},
		{ID: 0x7E8, Data: []byte{0x30, 0x02, 0x05, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC}},
		{ID: 0x7E0, Data: []byte{0x23, 0x8F, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC}},
	}
	for i, w := range want {
		f, err := tap.Receive(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.ID != w.ID || !bytes.Equal(f.Data, w.Data) {
			t.Fatalf("frame %d: got %v, want %v", i, f, w)
		}
	}
}

func TestSenderHonoursWaitAndOverflow(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name    string
		replies [][]byte
		want    error
	}{
		{"wait-then-continue", [][]byte{{0x31, 0, 0}, {0x31, 0, 0}, {0x30, 0, 0}}, nil},
		{"overflow", [][]byte{{0x32, 0, 0}}, ErrOverflow},
		{"too-many-waits", [][]byte{{0x31, 0, 0}, {0x31, 0, 0}, {0x31, 0, 0}}, ErrTooManyWaits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus := NewMemBus()
			peer := bus.Port(nil)
			a := NewConn(bus.Port(nil), 0x7E0, 0x7E8, false, Options{MaxWaits: 2})
			errc := make(chan error, 1)
			go func() { errc <- a.Send(ctx, pattern(30)) }()
			if _, err := peer.Receive(ctx); err != nil { // first frame
				t.Fatal(err)
			}
			for _, r := range tc.replies {
				if err := peer.Send(ctx, Frame{ID: 0x7E8, Data: r}); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-errc; !errors.Is(err, tc.want) {
				t.Fatalf("send: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	ctx := testCtx(t)
	t.Run("N_Bs", func(t *testing.T) {
		bus := NewMemBus()
		_ = bus.Port(nil) // a silent node
		a := NewConn(bus.Port(nil), 0x7E0, 0x7E8, false, Options{TimeoutBs: 20 * time.Millisecond})
		if err := a.Send(ctx, pattern(20)); !errors.Is(err, ErrTimeoutBs) {
			t.Fatalf("got %v, want ErrTimeoutBs", err)
		}
	})
	t.Run("N_Cr", func(t *testing.T) {
		bus := NewMemBus()
		peer := bus.Port(nil)
		b := NewConn(bus.Port(nil), 0x7E8, 0x7E0, false, Options{TimeoutCr: 20 * time.Millisecond})
		_ = peer.Send(ctx, Frame{ID: 0x7E0, Data: []byte{0x10, 0x14, 1, 2, 3, 4, 5, 6}})
		if _, err := b.Receive(ctx); !errors.Is(err, ErrTimeoutCr) {
			t.Fatalf("got %v, want ErrTimeoutCr", err)
		}
	})
}

func TestReassemblerErrors(t *testing.T) {
	var r Reassembler
	if _, fc, err := r.Feed(Frame{ID: 1, Data: []byte{0x10, 0x0A, 1, 2, 3, 4, 5, 6}}); err != nil || fc == nil {
		t.Fatalf("first frame: fc=%v err=%v", fc, err)
	}
	_, _, err := r.Feed(Frame{ID: 1, Data: []byte{0x22, 7, 8, 9, 10}})
	var se *SequenceError
	if !errors.As(err, &se) || se.Want != 1 || se.Got != 2 {
		t.Fatalf("got %v, want a sequence error 1/2", err)
	}
	if r.Active() {
		t.Fatal("reassembly should be abandoned after a sequence error")
	}
	for _, bad := range [][]byte{{}, {0x00}, {0x07, 1, 2}, {0x10, 0x05, 1, 2, 3, 4, 5, 6}, {0x10, 0x00, 0, 0, 0, 0x20, 1, 2}, {0x40}, {0x35, 0, 0}} {
		var r Reassembler
		if _, _, err := r.Feed(Frame{ID: 1, Data: bad}); err == nil {
			t.Errorf("% X: accepted, want an error", bad)
		}
	}
}

func TestSTmin(t *testing.T) {
	for b, want := range map[byte]time.Duration{0: 0, 0x0A: 10 * time.Millisecond, 0x7F: 127 * time.Millisecond,
		0xF1: 100 * time.Microsecond, 0xF9: 900 * time.Microsecond, 0x80: 127 * time.Millisecond, 0xFA: 127 * time.Millisecond} {
		if got := stminDuration(b); got != want {
			t.Errorf("stminDuration(%02X) = %v, want %v", b, got, want)
		}
	}
	for d, want := range map[time.Duration]byte{0: 0, 100 * time.Microsecond: 0xF1, 250 * time.Microsecond: 0xF3,
		time.Millisecond: 1, 1500 * time.Microsecond: 2, time.Second: 0x7F} {
		if got := stminByte(d); got != want {
			t.Errorf("stminByte(%v) = %02X, want %02X", d, got, want)
		}
	}
}

// fakeECU answers functional OBD requests on the bus like an engine or
// transmission module would.
type fakeECU struct {
	respID   uint32
	extended bool
	delay    time.Duration
	answer   func(req []byte) [][]byte // messages to send, in order
}

func (e fakeECU) run(ctx context.Context, t testing.TB, bus *MemBus, wg *sync.WaitGroup) {
	reqID := RequestIDFor(e.respID, e.extended)
	port := bus.Port(func(f Frame) bool { return f.ID == FunctionalID11 || f.ID == FunctionalID29 || f.ID == reqID })
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer port.Close()
		err := ServeECU(ctx, port, e.respID, e.extended, Options{}, func(ctx context.Context, req []byte, _ bool) [][]byte {
			if e.delay > 0 {
				_ = sleep(ctx, e.delay)
			}
			return e.answer(req)
		})
		if err != nil {
			t.Errorf("ECU %X: %v", e.respID, err)
		}
	}()
}

var vin = []byte("1G1JC5444R7252367")

func engine(req []byte) [][]byte {
	switch {
	case bytes.Equal(req, []byte{0x01, 0x0C}):
		return [][]byte{{0x41, 0x0C, 0x1A, 0xF8}}
	case bytes.Equal(req, []byte{0x09, 0x02}):
		return [][]byte{append([]byte{0x49, 0x02, 0x01}, vin...)}
	case bytes.Equal(req, []byte{0x01, 0x05}):
		return [][]byte{{0x7F, 0x01, 0x78}, {0x41, 0x05, 0x7B}}
	}
	return nil
}

func transmission(req []byte) [][]byte {
	if bytes.Equal(req, []byte{0x01, 0x0C}) {
		return [][]byte{{0x41, 0x0C, 0x1A, 0xFC}}
	}
	return nil
}

func TestOBDFunctionalRequests(t *testing.T) {
	for _, ext := range []bool{false, true} {
		t.Run(fmt.Sprintf("extended=%v", ext), func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			bus := NewMemBus()
			engID, tcmID := uint32(0x7E8), uint32(0x7E9)
			if ext {
				engID, tcmID = 0x18DAF110, 0x18DAF118
			}
			fakeECU{respID: engID, extended: ext, answer: engine}.run(ctx, t, bus, &wg)
			fakeECU{respID: tcmID, extended: ext, answer: transmission}.run(ctx, t, bus, &wg)
			tr := NewOBD(bus.Port(nil), OBDOptions{Extended: ext, P2: 200 * time.Millisecond})

			got, err := tr.Do(ctx, obd.Request{Service: 0x01, Data: []byte{0x0C}, Expect: []int{4, 4}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("got %d answers, want 2: %v", len(got), got)
			}
			byECU := map[obd.ECU][]byte{}
			for _, r := range got {
				byECU[r.ECU] = r.Data
			}
			if !bytes.Equal(byECU[ecuName(engID, ext)], []byte{0x41, 0x0C, 0x1A, 0xF8}) ||
				!bytes.Equal(byECU[ecuName(tcmID, ext)], []byte{0x41, 0x0C, 0x1A, 0xFC}) {
				t.Fatalf("answers by ECU: %X", byECU)
			}

			got, err = tr.Do(ctx, obd.Request{Service: 0x09, Data: []byte{0x02}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !bytes.Equal(got[0].Data[3:], vin) {
				t.Fatalf("VIN answer: %+v", got)
			}

			// Response pending, then the answer.
			got, err = tr.Do(ctx, obd.Request{Service: 0x01, Data: []byte{0x05}, Expect: []int{3}})
			if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, []byte{0x41, 0x05, 0x7B}) {
				t.Fatalf("pending then answer: %+v, %v", got, err)
			}

			_, err = tr.Do(ctx, obd.Request{Service: 0x01, Data: []byte{0x99}})
			if !errors.Is(err, obd.ErrNoData) {
				t.Fatalf("unanswered request: got %v, want ErrNoData", err)
			}
			if tr.Protocol().Extended() != ext {
				t.Fatalf("protocol %v for extended=%v", tr.Protocol(), ext)
			}
		})
	}
}

// With the answer count known, the transport returns as soon as the counted
// answers are in and does not wait for a slower module.
func TestOBDStopsAtExpectedCount(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	bus := NewMemBus()
	fakeECU{respID: 0x7E8, answer: engine}.run(ctx, t, bus, &wg)
	fakeECU{respID: 0x7E9, answer: transmission, delay: 100 * time.Millisecond}.run(ctx, t, bus, &wg)
	tr := NewOBD(bus.Port(nil), OBDOptions{P2: 5 * time.Second})
	got, err := tr.Do(ctx, obd.Request{Service: 0x01, Data: []byte{0x0C}, Expect: []int{3}})
	if err != nil || len(got) != 1 || got[0].ECU != "7E8" {
		t.Fatalf("got %+v, %v; want only the engine's answer", got, err)
	}
}

// A refusal does not count toward the expected answers: the module that
// owes the positive one is still heard when it answers after another
// module's refusal.
func TestOBDRefusalDoesNotEndListening(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	bus := NewMemBus()
	refuse := func([]byte) [][]byte { return [][]byte{{0x7F, 0x01, 0x12}} }
	fakeECU{respID: 0x7E9, answer: refuse}.run(ctx, t, bus, &wg)
	fakeECU{respID: 0x7E8, answer: engine, delay: 50 * time.Millisecond}.run(ctx, t, bus, &wg)
	tr := NewOBD(bus.Port(nil), OBDOptions{P2: 5 * time.Second})
	got, err := tr.Do(ctx, obd.Request{Service: 0x01, Data: []byte{0x0C}, Expect: []int{0}})
	if err != nil || len(got) != 2 || got[0].ECU != "7E9" || got[1].ECU != "7E8" || got[1].Data[0] != 0x41 {
		t.Fatalf("got %+v, %v; want the refusal then the engine's answer", got, err)
	}
}

func TestOBDRejectsLongFunctionalRequest(t *testing.T) {
	tr := NewOBD(NewMemBus().Port(nil), OBDOptions{})
	if _, err := tr.Do(testCtx(t), obd.Request{Service: 0x01, Data: pattern(7)}); err == nil {
		t.Fatal("an 8-byte functional request was accepted")
	}
}

func TestIDs(t *testing.T) {
	if RequestIDFor(0x7E8, false) != 0x7E0 || RequestIDFor(0x18DAF110, true) != 0x18DA10F1 {
		t.Fatal("request id mapping")
	}
	if !IsResponseID(0x7EF, false) || IsResponseID(0x7DF, false) || !IsResponseID(0x18DAF11A, true) || IsResponseID(0x18DB33F1, true) {
		t.Fatal("response id classification")
	}
}

// A VIN request and its three-frame answer with flow control, through the
// in-process bus: the cost of the stack itself, without bus timing.
func BenchmarkOBDRequestVIN(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	bus := NewMemBus()
	fakeECU{respID: 0x7E8, answer: engine}.run(ctx, b, bus, &wg)
	tr := NewOBD(bus.Port(nil), OBDOptions{})
	req := obd.Request{Service: 0x09, Data: []byte{0x02}, Expect: []int{20}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Do(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// A physically addressed request longer than a frame reaches one ECU with
// flow control, and only its answer counts.
func TestOBDPhysicalRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	bus := NewMemBus()
	ecu := NewConn(bus.Port(func(f Frame) bool { return f.ID == 0x7E0 }), 0x7E8, 0x7E0, false, Options{BlockSize: 1})
	got := make(chan []byte, 1)
	go func() {
		req, err := ecu.Receive(ctx)
		if err != nil {
			return
		}
		got <- req
		_ = ecu.Send(ctx, append([]byte{req[0] + 0x40}, req[1:4]...))
	}()
	tr := NewOBD(bus.Port(nil), OBDOptions{P2: time.Second})
	long := append([]byte{0x22}, pattern(11)...) // 12 bytes: two frames
	resp, err := tr.Do(ctx, obd.Request{Service: 0x09, Data: long[1:], ECU: "7E8"})
	if err != nil {
		t.Fatal(err)
	}
	if r := <-got; !bytes.Equal(r[1:], long[1:]) || r[0] != 0x09 {
		t.Fatalf("ECU received % X", r)
	}
	if len(resp) != 1 || resp[0].ECU != "7E8" || resp[0].Data[0] != 0x49 {
		t.Fatalf("answer %+v", resp)
	}
	if _, err := tr.Do(ctx, obd.Request{Service: 0x01, Data: []byte{0x0C}, ECU: "7DF"}); err == nil {
		t.Fatal("7DF is not an ECU address")
	}
}

// ServeECU takes physical requests of any length, with flow control, and
// ignores functional requests longer than a frame.
func TestServeECUPhysical(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	bus := NewMemBus()
	var got [][]byte
	var mu sync.Mutex
	fakeECU{respID: 0x18DAF110, extended: true, answer: func(req []byte) [][]byte {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		return [][]byte{append([]byte{req[0] + 0x40}, req[1:]...)}
	}}.run(ctx, t, bus, &wg)
	tr := NewOBD(bus.Port(nil), OBDOptions{Extended: true, P2: time.Second})
	long := pattern(30)
	resp, err := tr.Do(ctx, obd.Request{Service: 0x09, Data: long, ECU: "18DAF110"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp) != 1 || !bytes.Equal(resp[0].Data[1:], long) {
		t.Fatalf("echo of a 31-byte request: %+v", resp)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || len(got[0]) != 31 {
		t.Fatalf("the ECU received %d requests", len(got))
	}
}
