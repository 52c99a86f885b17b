// Package spool is the agent's durable queue: every message is on disk
// before it is published and leaves only once the broker acknowledged it.
//
// Messages are numbered here, one sequence per device, contiguous and
// never reused, and stored as records in segment files, one directory per
// class: telemetry, and the important class (trouble codes, events,
// births, command results). The spool is bounded: when it is full, the
// oldest telemetry goes first, then the oldest important records, and
// every record lost is counted. A record that fails its checksum (a torn
// write, a flipped bit) is moved aside to corrupt/ and counted; the records
// around it are delivered.
//
// Durability: each record is written with one write(2) as it is appended,
// so a crashed or killed agent loses nothing. Files are fsynced every
// SyncEvery (1 s by default) and at once for important records, so a power
// cut loses at most the last second of telemetry.
//
// A write the disk refuses (full, read-only) returns a WriteError and
// leaves no partial record behind; the record gets no number, so the
// numbering stays contiguous, and what was spooled before is untouched.
package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Class says how precious a record is.
type Class int

// The classes, in the order they are sacrificed when the spool is full.
const (
	Telemetry Class = iota
	Important
)

var classDirs = [...]string{"telemetry", "important"}

func (c Class) String() string { return classDirs[c] }

// Record is one message in the spool.
type Record struct {
	Seq     uint64
	Class   Class
	Kind    byte // the caller's tag for what the payload is
	Payload []byte
}

// Options configure a spool.
type Options struct {
	Dir string
	// MaxBytes bounds the records on disk (64 MiB by default).
	MaxBytes int64
	// SegmentBytes is the size at which a segment file is closed and a new
	// one started (MaxBytes/64, at least 4 KiB, by default).
	SegmentBytes int64
	// SyncEvery is how often written records are fsynced (1 s by default).
	SyncEvery time.Duration
	Log       *slog.Logger
	// OpenFile opens segment files (os.OpenFile by default); tests put a
	// full disk behind it.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// Stats describe the spool now.
type Stats struct {
	Bytes     int64     // on disk, in segments
	Pending   int       // records not yet acknowledged
	Dropped   [2]uint64 // records lost to the size bound, by class
	Corrupt   uint64    // records set aside for a bad checksum
	LastSeq   uint64
	AckedUpTo [2]uint64
	Segments  int
	SyncedAt  time.Time
}

// record layout: magic, crc32c (of everything after it), length of the
// payload, kind, sequence, payload.
const (
	headerLen = 4 + 4 + 4 + 1 + 8
	maxRecord = 1 << 20
)

var (
	magic  = []byte("PWSR")
	crcTab = crc32.MakeTable(crc32.Castagnoli)
)

// ErrTooLarge: a single record larger than the limit (1 MiB) or than the
// spool itself.
var ErrTooLarge = errors.New("spool: record too large")

// ErrClosed: the spool was closed.
var ErrClosed = errors.New("spool: closed")

type segment struct {
	class    Class
	id       uint64
	path     string
	size     int64
	firstSeq uint64
	lastSeq  uint64
	count    int
	f        *os.File // open for appending when it is the class's newest
}

type cursor struct {
	seg *segment
	off int64
}

// Spool is the durable queue. Its methods are safe for concurrent use.
type Spool struct {
	opt Options

	mu       sync.Mutex
	segs     [2][]*segment    // oldest first
	acked    [2]uint64        // every record of the class with seq ≤ acked is acknowledged
	sent     [2]cursor        // the next record Next hands out, per class
	sentSeq  [2]uint64        // the last seq handed out, per class
	done     map[uint64]Class // acknowledged, waiting for the records before them
	inflight [2][]uint64      // handed out by Next and not yet acknowledged, in order
	pending  int
	nextSeq  uint64
	bytes    int64
	dropped  [2]uint64
	corrupt  uint64
	dirty    [2]bool
	syncedAt time.Time
	closed   bool
	notify   chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
}

// Open opens or creates the spool in opt.Dir, checking every record.
func Open(opt Options) (*Spool, error) {
	if opt.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 20
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = max(4<<10, opt.MaxBytes/64)
	}
	if opt.SyncEvery <= 0 {
		opt.SyncEvery = time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.OpenFile == nil {
		opt.OpenFile = os.OpenFile
	}
	s := &Spool{opt: opt, done: map[uint64]Class{}, notify: make(chan struct{}, 1), stop: make(chan struct{}), nextSeq: 1}
	for c := Telemetry; c <= Important; c++ {
		dir := filepath.Join(opt.Dir, classDirs[c])
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if err := s.load(c, dir); err != nil {
			s.closeFiles()
			return nil, err
		}
	}
	if b, err := os.ReadFile(filepath.Join(opt.Dir, "seq")); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n >= s.nextSeq {
			s.nextSeq = n + 1
		}
	}
	for c := range s.sent {
		s.rewind(Class(c))
	}
	s.wg.Add(1)
	go s.syncLoop()
	return s, nil
}

// load reads a class's segments, validating every record.
func (s *Spool) load(c Class, dir string) error {
	if b, err := os.ReadFile(filepath.Join(dir, "acked")); err == nil {
		s.acked[c], _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".seg"), 10, 64)
		if err != nil {
			continue
		}
		seg := &segment{class: c, id: id, path: name}
		if err := s.scan(seg); err != nil {
			return err
		}
		s.segs[c] = append(s.segs[c], seg)
		s.bytes += seg.size
		if seg.count > 0 && seg.lastSeq > s.acked[c] {
			if seg.firstSeq > s.acked[c] {
				s.pending += seg.count
			} else {
				s.pending += s.countAfter(seg, s.acked[c])
			}
		}
		if seg.lastSeq >= s.nextSeq {
			s.nextSeq = seg.lastSeq + 1
		}
	}
	if s.acked[c] >= s.nextSeq {
		s.nextSeq = s.acked[c] + 1
	}
	return nil
}

// scan reads a segment through, setting aside what fails its checksum and
// cutting a torn record at the end.
func (s *Spool) scan(seg *segment) error {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var good bytes.Buffer
	off := 0
	rewrote := false
	for off < len(data) {
		rec, n, ok := parseRecord(data[off:])
		if !ok {
			// Find the next record that checks out; what lies between is
			// damaged.
			next := off + 1
			for next < len(data) {
				if i := bytes.Index(data[next:], magic); i < 0 {
					next = len(data)
				} else {
					next += i
					if _, _, ok := parseRecord(data[next:]); ok {
						break
					}
					next++
				}
			}
			s.setAside(seg, int64(off), data[off:next])
			off = next
			rewrote = true
			continue
		}
		good.Write(data[off : off+n])
		if seg.count == 0 {
			seg.firstSeq = rec.Seq
		}
		seg.lastSeq = rec.Seq
		seg.count++
		off += n
	}
	seg.size = int64(good.Len())
	if rewrote {
		// Keep only the good records, so later reads need no second pass.
		tmp := seg.path + ".tmp"
		if err := os.WriteFile(tmp, good.Bytes(), 0o600); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if err := os.Rename(tmp, seg.path); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// setAside keeps damaged bytes in corrupt/ for a person to look at.
func (s *Spool) setAside(seg *segment, off int64, b []byte) {
	s.corrupt++
	dir := filepath.Join(s.opt.Dir, "corrupt")
	_ = os.MkdirAll(dir, 0o700)
	name := filepath.Join(dir, fmt.Sprintf("%s-%012d-%d.bin", seg.class, seg.id, off))
	_ = os.WriteFile(name, b, 0o600)
	s.opt.Log.Warn("spool record failed its checksum; set aside", "segment", seg.path, "offset", off, "bytes", len(b), "saved", name)
}

func parseRecord(b []byte) (Record, int, bool) {
	if len(b) < headerLen || !bytes.Equal(b[:4], magic) {
		return Record{}, 0, false
	}
	n := int(binary.BigEndian.Uint32(b[8:12]))
	if n > maxRecord || len(b) < headerLen+n {
		return Record{}, 0, false
	}
	if crc32.Checksum(b[8:headerLen+n], crcTab) != binary.BigEndian.Uint32(b[4:8]) {
		return Record{}, 0, false
	}
	return Record{Kind: b[12], Seq: binary.BigEndian.Uint64(b[13:21]), Payload: b[headerLen : headerLen+n]}, headerLen + n, true
}

func encodeRecord(r Record) []byte {
	b := make([]byte, headerLen+len(r.Payload))
	copy(b, magic)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(r.Payload)))
	b[12] = r.Kind
	binary.BigEndian.PutUint64(b[13:21], r.Seq)
	copy(b[headerLen:], r.Payload)
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], crcTab))
	return b
}

// Append numbers a new record and writes it. build makes the payload for
// the sequence number given (messages carry their number inside).
func (s *Spool) Append(c Class, kind byte, build func(seq uint64) ([]byte, error)) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	seq := s.nextSeq
	payload, err := build(seq)
	if err != nil {
		return 0, err
	}
	rec := encodeRecord(Record{Seq: seq, Kind: kind, Payload: payload})
	if len(payload) > maxRecord || int64(len(rec)) > s.opt.MaxBytes/2 {
		return 0, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	s.makeRoom(int64(len(rec)))
	seg, err := s.active(c, int64(len(rec)))
	if err != nil {
		return 0, &WriteError{Path: filepath.Join(s.opt.Dir, classDirs[c]), Kept: s.pending, Err: err}
	}
	if _, err := seg.f.Write(rec); err != nil {
		s.unwrite(seg)
		return 0, &WriteError{Path: seg.path, Kept: s.pending, Err: err}
	}
	s.nextSeq++
	s.pending++
	if seg.count == 0 {
		seg.firstSeq = seq
	}
	seg.lastSeq = seq
	seg.count++
	seg.size += int64(len(rec))
	s.bytes += int64(len(rec))
	s.dirty[c] = true
	if c == Important {
		if err := seg.f.Sync(); err != nil {
			return seq, fmt.Errorf("spool: syncing %s: %w", seg.path, err)
		}
		s.dirty[c] = false
	}
	if s.sent[c].seg == nil {
		s.sent[c] = cursor{seg: seg, off: seg.size - int64(len(rec))}
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return seq, nil
}

// WriteError is a record the spool could not write (a full disk, a
// read-only file system). The record is lost; the ones already spooled are
// intact and still delivered, and the spool accepts records again as soon
// as the disk does.
type WriteError struct {
	Path string // the segment file or class directory
	Kept int    // records already spooled and still pending
	Err  error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("spool: cannot write a record to %s: %v (the %d records already spooled are kept)", e.Path, e.Err, e.Kept)
}

func (e *WriteError) Unwrap() error { return e.Err }

// unwrite undoes a failed write: a partial record is cut off so that the
// segment holds whole records only, and the file is closed so the next
// append opens it afresh. A segment the failure left empty is removed.
func (s *Spool) unwrite(seg *segment) {
	_ = seg.f.Truncate(seg.size)
	_ = seg.f.Close()
	seg.f = nil
	if seg.count > 0 {
		return
	}
	_ = os.Remove(seg.path)
	segs := s.segs[seg.class]
	if n := len(segs); n > 0 && segs[n-1] == seg {
		s.segs[seg.class] = segs[:n-1]
	}
	if s.sent[seg.class].seg == seg {
		s.sent[seg.class] = cursor{}
	}
}

// active returns the class's segment open for appending, starting a new
// one when the newest is full.
func (s *Spool) active(c Class, need int64) (*segment, error) {
	segs := s.segs[c]
	if n := len(segs); n > 0 && segs[n-1].size+need <= s.opt.SegmentBytes {
		seg := segs[n-1]
		if seg.f == nil {
			f, err := s.opt.OpenFile(seg.path, os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
			seg.f = f
		}
		return seg, nil
	}
	if n := len(segs); n > 0 && segs[n-1].f != nil {
		_ = segs[n-1].f.Sync()
		_ = segs[n-1].f.Close()
		segs[n-1].f = nil
	}
	id := uint64(1)
	if n := len(segs); n > 0 {
		id = segs[n-1].id + 1
	}
	path := filepath.Join(s.opt.Dir, classDirs[c], fmt.Sprintf("%012d.seg", id))
	f, err := s.opt.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	seg := &segment{class: c, id: id, path: path, f: f}
	s.segs[c] = append(s.segs[c], seg)
	return seg, nil
}

// makeRoom drops the oldest segments, telemetry first, until need more
// bytes fit under the bound.
func (s *Spool) makeRoom(need int64) {
	for s.bytes+need > s.opt.MaxBytes {
		c := Telemetry
		if len(s.segs[Telemetry]) == 0 || s.segs[Telemetry][0].size == 0 && len(s.segs[Telemetry]) == 1 {
			c = Important
		}
		if len(s.segs[c]) == 0 || s.segs[c][0].size == 0 && len(s.segs[c]) == 1 {
			return
		}
		s.dropOldest(c)
	}
}

// dropOldest removes a class's oldest segment, counting the records in it
// that were never acknowledged.
func (s *Spool) dropOldest(c Class) {
	seg := s.segs[c][0]
	lost := 0
	if seg.count > 0 && seg.lastSeq > s.acked[c] {
		if seg.firstSeq > s.acked[c] {
			lost = seg.count
		} else {
			lost = s.countAfter(seg, s.acked[c])
		}
	}
	for q := seg.firstSeq; q <= seg.lastSeq && seg.count > 0; q++ {
		delete(s.done, q)
	}
	s.dropped[c] += uint64(lost)
	s.pending -= lost
	s.opt.Log.Warn("spool full: dropped the oldest records", "class", c, "records", lost, "bytes", seg.size)
	if seg.f != nil {
		_ = seg.f.Close()
	}
	_ = os.Remove(seg.path)
	s.bytes -= seg.size
	s.segs[c] = s.segs[c][1:]
	if s.sent[c].seg == seg {
		s.rewind(c)
	}
	if seg.lastSeq > s.acked[c] {
		s.acked[c] = seg.lastSeq // nothing of it can be sent any more
		s.writeAcked(c)
	}
}

// countAfter counts a segment's records with seq > after.
func (s *Spool) countAfter(seg *segment, after uint64) int {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return 0
	}
	n := 0
	for off := 0; off < len(data); {
		rec, size, ok := parseRecord(data[off:])
		if !ok {
			break
		}
		if rec.Seq > after {
			n++
		}
		off += size
	}
	return n
}

// rewind points a class's cursor at its first unacknowledged record.
func (s *Spool) rewind(c Class) {
	s.sent[c] = cursor{}
	s.inflight[c] = nil
	s.sentSeq[c] = s.acked[c]
	for _, seg := range s.segs[c] {
		if seg.count > 0 && seg.lastSeq > s.acked[c] {
			s.sent[c] = cursor{seg: seg}
			return
		}
	}
	if n := len(s.segs[c]); n > 0 {
		seg := s.segs[c][n-1]
		s.sent[c] = cursor{seg: seg, off: seg.size}
	}
}

// Rewind makes Next hand out every unacknowledged record again, from the
// oldest: after a lost connection, whatever was in flight is resent.
func (s *Spool) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sent {
		s.rewind(Class(c))
	}
}

// Next hands out up to n records not yet handed out, in sequence order
// across both classes.
func (s *Spool) Next(n int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var peek [2]*Record
	var out []Record
	for len(out) < n {
		for c := range peek {
			if peek[c] == nil {
				peek[c] = s.read(Class(c))
			}
		}
		pick := -1
		for c, r := range peek {
			if r != nil && (pick < 0 || r.Seq < peek[pick].Seq) {
				pick = c
			}
		}
		if pick < 0 {
			break
		}
		out = append(out, *peek[pick])
		s.sentSeq[pick] = peek[pick].Seq
		s.inflight[pick] = append(s.inflight[pick], peek[pick].Seq)
		peek[pick] = nil
	}
	// Records peeked but not taken are read again next time.
	for c, r := range peek {
		if r != nil {
			s.unread(Class(c), r)
		}
	}
	return out, nil
}

// read returns the class's next record after its cursor, moving it on.
func (s *Spool) read(c Class) *Record {
	for {
		cur := &s.sent[c]
		if cur.seg == nil {
			return nil
		}
		if cur.off >= cur.seg.size {
			next := s.after(c, cur.seg)
			if next == nil {
				return nil
			}
			*cur = cursor{seg: next}
			continue
		}
		f, err := os.Open(cur.seg.path)
		if err != nil {
			return nil
		}
		hdr := make([]byte, headerLen)
		_, err = f.ReadAt(hdr, cur.off)
		var rec Record
		var size int
		ok := false
		if err == nil && bytes.Equal(hdr[:4], magic) {
			n := int(binary.BigEndian.Uint32(hdr[8:12]))
			if n <= maxRecord {
				buf := make([]byte, headerLen+n)
				if _, err := f.ReadAt(buf, cur.off); err == nil || err == io.EOF {
					rec, size, ok = parseRecord(buf)
				}
			}
		}
		f.Close()
		if !ok {
			// Damaged since it was written: skip the rest of the segment's
			// unreadable tail as one corrupt record.
			data, _ := os.ReadFile(cur.seg.path)
			if int(cur.off) < len(data) {
				s.setAside(cur.seg, cur.off, data[cur.off:])
			}
			cur.off = cur.seg.size
			continue
		}
		cur.off += int64(size)
		if rec.Seq <= s.acked[c] || rec.Seq <= s.sentSeq[c] {
			continue // acknowledged already, or handed out before a rewind reached it
		}
		rec.Class = c
		rec.Payload = append([]byte(nil), rec.Payload...)
		return &rec
	}
}

// unread steps a cursor back over a record just read.
func (s *Spool) unread(c Class, r *Record) {
	cur := &s.sent[c]
	size := int64(headerLen + len(r.Payload))
	if cur.off >= size {
		cur.off -= size
	}
}

func (s *Spool) after(c Class, seg *segment) *segment {
	for i, x := range s.segs[c] {
		if x == seg && i+1 < len(s.segs[c]) {
			return s.segs[c][i+1]
		}
	}
	return nil
}

// Ack marks a record as acknowledged by the broker. Segments whose records
// are all acknowledged are deleted, except the newest of each class.
func (s *Spool) Ack(seq uint64, c Class) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.acked[c] {
		return
	}
	s.done[seq] = c
	// The ack point moves over the records handed out in order, as far as
	// they are acknowledged.
	for len(s.inflight[c]) > 0 {
		q := s.inflight[c][0]
		if _, ok := s.done[q]; !ok {
			break
		}
		delete(s.done, q)
		s.inflight[c] = s.inflight[c][1:]
		if q > s.acked[c] {
			s.acked[c] = q
			s.pending--
		}
	}
	for len(s.segs[c]) > 1 && s.segs[c][0].lastSeq <= s.acked[c] {
		seg := s.segs[c][0]
		if s.sent[c].seg == seg {
			break
		}
		_ = os.Remove(seg.path)
		s.bytes -= seg.size
		s.segs[c] = s.segs[c][1:]
	}
	s.dirty[c] = true
}

// Wait returns a channel that receives when records are appended.
func (s *Spool) Wait() <-chan struct{} { return s.notify }

// NextSeq is the number the next record will get.
func (s *Spool) NextSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSeq
}

// Stats reports the spool's state.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Bytes: s.bytes, Pending: s.pending, Dropped: s.dropped, Corrupt: s.corrupt, LastSeq: s.nextSeq - 1, AckedUpTo: s.acked, SyncedAt: s.syncedAt}
	for c := range s.segs {
		st.Segments += len(s.segs[c])
	}
	return st
}

func (s *Spool) syncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sync()
		}
	}
}

// Sync fsyncs written records and saves the acknowledgement points.
func (s *Spool) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncLocked()
}

func (s *Spool) syncLocked() {
	for c := range s.segs {
		if !s.dirty[c] {
			continue
		}
		if n := len(s.segs[c]); n > 0 && s.segs[c][n-1].f != nil {
			_ = s.segs[c][n-1].f.Sync()
		}
		s.writeAcked(Class(c))
		s.dirty[c] = false
	}
	writeFileAtomic(filepath.Join(s.opt.Dir, "seq"), []byte(strconv.FormatUint(s.nextSeq-1, 10)))
	s.syncedAt = time.Now()
}

func (s *Spool) writeAcked(c Class) {
	writeFileAtomic(filepath.Join(s.opt.Dir, classDirs[c], "acked"), []byte(strconv.FormatUint(s.acked[c], 10)))
}

// writeFileAtomic replaces a small file so that a crash leaves the old or
// the new content, never a mix.
func writeFileAtomic(path string, b []byte) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		_ = os.Rename(tmp, path)
	}
}

// Close syncs and closes the spool; it is safe to call twice.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.syncLocked()
	s.closeFiles()
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	return nil
}

func (s *Spool) closeFiles() {
	for c := range s.segs {
		for _, seg := range s.segs[c] {
			if seg.f != nil {
				seg.f.Close()
				seg.f = nil
			}
		}
	}
}
