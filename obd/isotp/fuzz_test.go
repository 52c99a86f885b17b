package isotp

import (
	"bytes"
	"testing"
)

// Any payload survives segmentation and reassembly, with or without
// padding; any stream of frames leaves the reassembler in a sane state.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte("1G1JC5444R7252367..."), []byte{0x10, 0x14, 0x49, 0x02, 0x01, 0x31, 0x47, 0x31, 0x21, 0x4A}, true)
	f.Add([]byte{0x41, 0x0C, 0x1A, 0xF8}, []byte{0x03, 0x41, 0x05}, false)
	f.Fuzz(func(t *testing.T, payload, noise []byte, pad bool) {
		if len(payload) == 0 || len(payload) > MaxPayload {
			return
		}
		padding := 0xCC
		if !pad {
			padding = -1
		}
		var r Reassembler
		var got []byte
		for i, fr := range Segment(payload, padding) {
			msg, _, err := r.Feed(Frame{ID: 0x7E8, Data: fr})
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if msg != nil {
				got = msg
			}
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("reassembled % X, sent % X", got, payload)
		}
		// Arbitrary frames, cut from noise at every width up to 8.
		var q Reassembler
		for len(noise) > 0 {
			n := min(len(noise), 1+int(noise[0])%8)
			msg, _, _ := q.Feed(Frame{ID: 1, Data: noise[:n]})
			if msg != nil && len(msg) == 0 {
				t.Fatal("empty message")
			}
			if q.Active() && len(q.buf) > q.want {
				t.Fatalf("buffer %d beyond announced %d", len(q.buf), q.want)
			}
			noise = noise[n:]
		}
	})
}
