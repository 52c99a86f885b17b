package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

func open(t *testing.T, dir string, max int64) *Spool {
	t.Helper()
	s, err := Open(Options{Dir: dir, MaxBytes: max, SegmentBytes: max / 8})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func add(t *testing.T, s *Spool, c Class, size int) uint64 {
	t.Helper()
	seq, err := s.Append(c, byte(c), func(seq uint64) ([]byte, error) {
		b := make([]byte, size)
		copy(b, fmt.Sprintf("record %d", seq))
		return b, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func drain(t *testing.T, s *Spool, ack bool) []uint64 {
	t.Helper()
	var all []uint64
	for {
		rs, err := s.Next(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			return all
		}
		for _, r := range rs {
			if string(r.Payload[:len(fmt.Sprintf("record %d", r.Seq))]) != fmt.Sprintf("record %d", r.Seq) {
				t.Fatalf("record %d carries %q", r.Seq, r.Payload[:12])
			}
			all = append(all, r.Seq)
			if ack {
				s.Ack(r.Seq, r.Class)
			}
		}
	}
}

// Records come out in sequence order across classes, leave only when
// acknowledged, survive a restart, and the numbering carries on.
func TestOrderAckAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := 0; i < 50; i++ {
		c := Telemetry
		if i%7 == 3 {
			c = Important
		}
		add(t, s, c, 100)
	}
	got := drain(t, s, false)
	if len(got) != 50 || !slices.IsSorted(got) || got[0] != 1 {
		t.Fatalf("handed out %v", got)
	}
	// Acknowledge the first 20 only, then "crash": no Close.
	s.Rewind()
	rs, _ := s.Next(20)
	for _, r := range rs {
		s.Ack(r.Seq, r.Class)
	}
	s.Sync()
	s2 := open(t, dir, 1<<20)
	defer s2.Close()
	again := drain(t, s2, true)
	if len(again) != 30 || again[0] != 21 || again[29] != 50 {
		t.Fatalf("after restart: %v", again)
	}
	if seq := add(t, s2, Telemetry, 10); seq != 51 {
		t.Fatalf("numbering restarted at %d", seq)
	}
	if st := s2.Stats(); st.Pending != 1 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
}

// Even when everything was acknowledged and deleted, the numbering
// carries on after a restart.
func TestNumberingSurvivesEmptySpool(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := 0; i < 300; i++ {
		add(t, s, Telemetry, 1000)
	}
	drain(t, s, true)
	s.Close()
	s2 := open(t, dir, 1<<20)
	defer s2.Close()
	if got := add(t, s2, Telemetry, 10); got != 301 {
		t.Fatalf("next seq %d", got)
	}
	if st := s2.Stats(); st.Segments > 2 {
		t.Fatalf("acknowledged segments kept: %+v", st)
	}
}

// Rewind hands out again what was in flight when a connection dropped.
func TestRewind(t *testing.T) {
	s := open(t, t.TempDir(), 1<<20)
	defer s.Close()
	for i := 0; i < 10; i++ {
		add(t, s, Telemetry, 50)
	}
	rs, _ := s.Next(6)
	s.Ack(rs[0].Seq, rs[0].Class)
	s.Ack(rs[1].Seq, rs[1].Class)
	s.Ack(rs[3].Seq, rs[3].Class) // 4 is acknowledged, but 3 is not: the ack point stays at 2
	s.Rewind()
	got := drain(t, s, true)
	if !slices.Equal(got, []uint64{3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("after rewind %v", got)
	}
}

// When the spool is full the oldest telemetry goes first and is counted;
// important records go only when no telemetry is left.
func TestFullDropsOldestTelemetryFirst(t *testing.T) {
	s := open(t, t.TempDir(), 64<<10)
	defer s.Close()
	var important []uint64
	for i := 0; i < 400; i++ {
		if i%50 == 0 {
			important = append(important, add(t, s, Important, 200))
		}
		add(t, s, Telemetry, 500)
	}
	st := s.Stats()
	if st.Bytes > 64<<10 {
		t.Fatalf("spool holds %d bytes over its bound", st.Bytes)
	}
	got := drain(t, s, true)
	for _, q := range important {
		if !slices.Contains(got, q) {
			t.Fatalf("important record %d was dropped while telemetry remained", q)
		}
	}
	lost := 408 - len(got)
	if st.Dropped[Telemetry] != uint64(lost) || st.Dropped[Important] != 0 {
		t.Fatalf("dropped %v, lost %d", st.Dropped, lost)
	}
	// Now only important records: they go, oldest first, and are counted.
	for i := 0; i < 200; i++ {
		add(t, s, Important, 900)
	}
	st = s.Stats()
	if st.Dropped[Important] == 0 || st.Bytes > 64<<10 {
		t.Fatalf("stats %+v", st)
	}
	rest := drain(t, s, true)
	if uint64(len(rest))+st.Dropped[Important] != 200 {
		t.Fatalf("%d delivered + %d dropped != 200", len(rest), st.Dropped[Important])
	}
}

// A torn last record and a flipped bit in the middle: the damaged records
// are set aside and counted, the rest delivered.
func TestCorruptRecords(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	for i := 0; i < 10; i++ {
		add(t, s, Telemetry, 64)
	}
	s.Close()
	seg := filepath.Join(dir, "telemetry", "000000000001.seg")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	recLen := len(data) / 10
	data[3*recLen+headerLen+5] ^= 0x10 // record 4's payload
	data = data[:len(data)-20]         // record 10 torn
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, 1<<20)
	defer s2.Close()
	got := drain(t, s2, true)
	if !slices.Equal(got, []uint64{1, 2, 3, 5, 6, 7, 8, 9}) {
		t.Fatalf("delivered %v", got)
	}
	if st := s2.Stats(); st.Corrupt != 2 {
		t.Fatalf("corrupt %d, want 2", st.Corrupt)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*"))
	if len(aside) != 2 {
		t.Fatalf("set aside: %v", aside)
	}
	if seq := add(t, s2, Telemetry, 10); seq != 11 {
		t.Fatalf("next seq %d: numbers once given are not given again", seq)
	}
}

// fullDisk opens segment files normally until it is switched on; then
// every file it opens is /dev/full, whose writes fail with ENOSPC as a
// full disk's do.
type fullDisk struct{ on atomic.Bool }

func (d *fullDisk) open(name string, flag int, perm os.FileMode) (*os.File, error) {
	if d.on.Load() {
		return os.OpenFile("/dev/full", os.O_WRONLY, 0)
	}
	return os.OpenFile(name, flag, perm)
}

// A full disk refuses new records with an error that names the file and
// the cause; everything already spooled stays whole and is delivered, the
// numbering has no gap, and writing resumes once there is room.
func TestFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	disk := &fullDisk{}
	opts := Options{Dir: dir, MaxBytes: 1 << 20, SegmentBytes: 300, OpenFile: disk.open}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // two full segments of two records each
		add(t, s, Telemetry, 100)
	}
	add(t, s, Important, 100)
	disk.on.Store(true)
	// The next telemetry record needs a new segment: the disk refuses it.
	_, err = s.Append(Telemetry, 0, func(uint64) ([]byte, error) { return make([]byte, 100), nil })
	var we *WriteError
	if !errors.As(err, &we) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), filepath.Join(dir, "telemetry")) ||
		!strings.Contains(err.Error(), "the 5 records already spooled are kept") {
		t.Fatalf("got %v", err)
	}
	if st := s.Stats(); st.Pending != 5 || st.LastSeq != 5 {
		t.Fatalf("after the failed write: %+v", st)
	}
	disk.on.Store(false)
	if seq := add(t, s, Telemetry, 100); seq != 6 {
		t.Fatalf("the record after the disk recovered is %d, want 6", seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the open segment is opened again: a full disk now
	// fails the write into an existing segment, which must stay whole.
	s, err = Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	disk.on.Store(true)
	if _, err := s.Append(Important, 1, func(uint64) ([]byte, error) { return make([]byte, 10), nil }); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append to an existing segment on a full disk: %v", err)
	}
	disk.on.Store(false)
	if seq := add(t, s, Important, 100); seq != 7 {
		t.Fatalf("seq %d, want 7", seq)
	}
	if got := drain(t, s, true); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("delivered %v", got)
	}
	if st := s.Stats(); st.Corrupt != 0 || st.Dropped != [2]uint64{} || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTooLarge(t *testing.T) {
	s := open(t, t.TempDir(), 64<<10)
	defer s.Close()
	if _, err := s.Append(Telemetry, 0, func(uint64) ([]byte, error) { return make([]byte, 40<<10), nil }); err == nil {
		t.Fatal("a record over half the spool was accepted")
	}
	if got := add(t, s, Telemetry, 10); got != 1 {
		t.Fatalf("a refused record used up seq: next is %d", got)
	}
}

func FuzzSegment(f *testing.F) {
	f.Add(encodeRecord(Record{Seq: 1, Kind: 2, Payload: []byte("hello")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		_ = os.MkdirAll(filepath.Join(dir, "telemetry"), 0o700)
		_ = os.WriteFile(filepath.Join(dir, "telemetry", "000000000001.seg"), data, 0o600)
		s, err := Open(Options{Dir: dir})
		if err != nil {
			return
		}
		defer s.Close()
		rs, _ := s.Next(1000)
		for i := 1; i < len(rs); i++ {
			if rs[i].Seq <= rs[i-1].Seq {
				// records from a damaged file may be out of order; they must not repeat
				if rs[i].Seq == rs[i-1].Seq {
					t.Fatalf("seq %d twice", rs[i].Seq)
				}
			}
		}
	})
}
