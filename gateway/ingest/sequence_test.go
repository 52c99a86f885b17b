package ingest

import "testing"

func TestSequence(t *testing.T) {
	var s sequence
	type step struct {
		boot, n uint64
		want    seqResult
	}
	for i, st := range []step{
		{1, 1, seqResult{}},
		{1, 2, seqResult{}},
		{1, 2, seqResult{duplicate: true}},
		{1, 6, seqResult{gap: 3}},
		{1, 4, seqResult{late: true}},
		{1, 4, seqResult{duplicate: true}},
		{2, 7, seqResult{restart: true}},
		{2, 0, seqResult{}},
		{2, 8 + window, seqResult{gap: window}},
		{2, 9, seqResult{late: true}},
		{2, 7, seqResult{duplicate: true}}, // too far behind to know
		{3, 1, seqResult{restart: true, reset: true}},
		{3, 2, seqResult{}},
	} {
		if got := s.observe(st.boot, st.n); got != st.want {
			t.Fatalf("step %d (boot %d, seq %d): got %+v, want %+v", i, st.boot, st.n, got, st.want)
		}
	}
	if s.missing != 0 {
		t.Fatalf("missing %d after the reset", s.missing)
	}
}

func TestSequenceMissing(t *testing.T) {
	var s sequence
	for _, n := range []uint64{1, 5, 3, 10, 4} {
		s.observe(1, n)
	}
	// 2, 6, 7, 8, 9 have not arrived.
	if s.missing != 5 {
		t.Fatalf("missing %d, want 5", s.missing)
	}
}
