package fleet

import "testing"

// A flood message's size grows with its samples and its car's id, and a
// message of the cluster test's shape (20 signals, one instant, a
// 12-character id) stays a small packet.
func TestFloodMessageBytes(t *testing.T) {
	one, err := FloodMessageBytes(12, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := FloodMessageBytes(12, 20, 10)
	if err != nil {
		t.Fatal(err)
	}
	longID, err := FloodMessageBytes(40, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if one < 20 || one > 400 || ten <= one || longID != one+28 {
		t.Errorf("20 samples: %d bytes, 200: %d, with an id 28 longer: %d", one, ten, longID)
	}
	t.Logf("20 signals, 1 instant: %d bytes; 10 instants: %d", one, ten)
	if _, err := FloodMessageBytes(12, 10000, 1); err == nil {
		t.Error("10000 signals: want an error, there are not that many")
	}
}
