package edge

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/testserver"
)

// A disk that fills up under the spool: the agent says so once, clearly,
// keeps reading the car and holds the readings in memory, keeps sending
// what was spooled, and once there is room again stores the held
// readings: every number arrives, no sample is lost.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	b := testserver.StartMosquitto(t, testserver.MosquittoOptions{})
	carURL, _ := startCar(t, "healthy", 5*time.Minute)
	cfg := testConfig(t, carURL, b.URL())
	cfg.Spool.MaxBytes = 64 << 10 // 4 KiB segments: a new file every few seconds
	w := watch(t, b.URL(), cfg.DeviceID)
	var full atomic.Bool
	openFile := func(name string, flag int, perm os.FileMode) (*os.File, error) {
		if full.Load() {
			return os.OpenFile("/dev/full", os.O_WRONLY, 0) // every write: ENOSPC
		}
		return os.OpenFile(name, flag, perm)
	}
	var logs syncBuffer
	a, stop := runAgent(t, cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), func(a *Agent) { a.spoolOpen = openFile })
	eventually(t, 20*time.Second, "the first deliveries", func() bool { return w.count() > 5 })

	full.Store(true)
	fullAt := time.Now()
	spoolErrors := func() float64 { return counterValue(a.metrics.errors.WithLabelValues("spool")) }
	eventually(t, 60*time.Second, "a failed spool write", func() bool { return spoolErrors() > 0 })
	requests, _ := a.Counters()
	eventually(t, 20*time.Second, "the car still being read", func() bool {
		r, _ := a.Counters()
		return r > requests+30 && spoolErrors() > 5
	})
	full.Store(false)
	freedAt := time.Now()
	eventually(t, 20*time.Second, "the spool to recover", func() bool { return strings.Contains(logs.String(), "the spool accepts records again") })
	stop()

	st := a.Stats().Spool
	eventually(t, 10*time.Second, fmt.Sprintf("seq 1..%d", st.LastSeq), func() bool { return w.contiguous(st.LastSeq) == nil })
	if st.Dropped != [2]uint64{} || st.Corrupt != 0 {
		t.Errorf("dropped %v, corrupt %d", st.Dropped, st.Corrupt)
	}
	if lost := counterValue(a.metrics.samplesLost); lost != 0 {
		t.Errorf("%v samples lost", lost)
	}
	out := logs.String()
	if n := strings.Count(out, "cannot store a"); n != 1 {
		t.Errorf("the failure logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "no space left on device") || !strings.Contains(out, cfg.Spool.Dir) {
		t.Errorf("the log does not say the disk is full, or where:\n%s", out)
	}
	// The readings taken while the disk was full arrived: no gap of more
	// than two seconds in the sample times across the outage.
	w.mu.Lock()
	var times []int64
	for _, m := range w.msgs {
		if x, ok := m.(*wirepb.Telemetry); ok {
			ms := x.GetBaseMs()
			for _, dt := range x.GetDtMs() {
				ms += int64(dt)
				times = append(times, ms)
			}
		}
	}
	w.mu.Unlock()
	from, to := fullAt.UnixMilli(), freedAt.UnixMilli()
	last := from
	slices.Sort(times)
	for _, ms := range times {
		if ms < from || ms > to {
			continue
		}
		if ms-last > 2000 {
			t.Errorf("no samples from %v to %v while the disk was full", time.UnixMilli(last), time.UnixMilli(ms))
		}
		last = ms
	}
	if to-last > 2000 {
		t.Errorf("no samples in the last %v of the outage", time.Duration(to-last)*time.Millisecond)
	}
}
