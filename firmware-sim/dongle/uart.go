package dongle

import (
	"io"
	"time"
)

// uart is the adapter's serial output: bytes leave no faster than the
// baud rate allows (ten bits a byte, 8N1). On a pseudo-terminal whose host
// side is set to another rate, what arrives is garbage, as on a real line.
type uart struct {
	w        io.Writer
	baud     int
	hostRate func() int // the host's line rate, 0 when there is no line (TCP)
	timing   bool
	free     time.Time // when the transmitter has sent all it was given
	garbled  bool      // the last send went out at the wrong rate
}

// byteTime is how long one byte takes on the line.
func byteTime(baud int) time.Duration {
	return time.Duration(10 * float64(time.Second) / float64(baud))
}

// send writes b once it would have finished crossing the line.
func (u *uart) send(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if u.timing {
		// Bytes given while the transmitter is (nearly) still busy follow
		// the earlier ones back to back: a late wake-up of this goroutine
		// must not stretch the line.
		now := time.Now()
		start := u.free
		if now.Sub(start) > 2*time.Millisecond {
			start = now
		}
		u.free = start.Add(time.Duration(len(b)) * byteTime(u.baud))
		if d := time.Until(u.free); d > 0 {
			time.Sleep(d)
		}
	}
	u.garbled = false
	if u.hostRate != nil {
		if r := u.hostRate(); r != 0 && r != u.baud {
			u.garbled = true
			g := make([]byte, len(b))
			for i := range g {
				g[i] = 0xF8 ^ byte(i&0x07) // framing errors look like this
			}
			b = g
		}
	}
	_, err := u.w.Write(b)
	return err
}
