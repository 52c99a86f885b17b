package series_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/testserver"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// engines opens every engine afresh: the embedded file, and a new
// database in the test InfluxDB.
func engines(t testing.TB) map[string]series.Store {
	t.Helper()
	emb, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(t.TempDir(), "series.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	out := map[string]series.Store{"embedded": emb}
	if testing.Short() {
		return out
	}
	db := fmt.Sprintf("pitwall_test_%d", time.Now().UnixNano())
	in, err := series.OpenInflux(ctx(t), series.InfluxOptions{URL: testserver.InfluxURL(t), Bucket: db, GZip: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	out["influx"] = in
	return out
}

const (
	rpm   = "Vehicle.Powertrain.CombustionEngine.Speed"
	speed = "Vehicle.Speed"
	odd   = "Vehicle.Custom.odd name,with=specials"
)

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// drive is a minute of one car at 2 Hz: rpm and speed at each instant,
// the odd signal every ten seconds.
func drive(device, vehicle string) []series.Point {
	var pts []series.Point
	for i := range 120 {
		p := series.Point{Device: device, Vehicle: vehicle, Time: t0.Add(time.Duration(i) * 500 * time.Millisecond),
			Fields: []series.Field{{Signal: rpm, Value: 800 + float64(i)*10}, {Signal: speed, Value: float64(i) / 2}}}
		if i%20 == 0 {
			p.Fields = append(p.Fields, series.Field{Signal: odd, Value: -float64(i)})
		}
		pts = append(pts, p)
	}
	return pts
}

func TestEngines(t *testing.T) {
	for name, s := range engines(t) {
		t.Run(name, func(t *testing.T) {
			a, b := drive("car-a", "1G1JC5444R7252367"), drive("car-b", "")
			for _, p := range b {
				p.Fields[0].Value += 1000
			}
			if err := s.Write(ctx(t), append(a, b...)); err != nil {
				t.Fatal(err)
			}
			// At-least-once delivery: the same points again, in another
			// batch, must not add values.
			if err := s.Write(ctx(t), a[30:90]); err != nil {
				t.Fatal(err)
			}

			got, err := s.Range(ctx(t), series.Query{Device: "car-a", Signals: []string{speed, "Vehicle.Nothing", rpm, odd},
				From: t0, To: t0.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].Signal != speed || got[1].Signal != rpm || got[2].Signal != odd {
				t.Fatalf("series %v", names(got))
			}
			if n := len(got[1].Values); n != 120 {
				t.Fatalf("%d rpm values, want 120 (a rewrite must overwrite)", n)
			}
			for i, v := range got[1].Values {
				if want := t0.Add(time.Duration(i) * 500 * time.Millisecond); !v.Time.Equal(want) || v.Value != 800+float64(i)*10 {
					t.Fatalf("rpm[%d] = %v at %v, want %v at %v", i, v.Value, v.Time, 800+float64(i)*10, want)
				}
			}
			if n := len(got[2].Values); n != 6 || got[2].Values[1].Value != -20 {
				t.Fatalf("odd signal: %v", got[2].Values)
			}

			// Ten-second windows, aligned to the epoch, stamped at their start.
			for agg, want := range map[series.Agg][]float64{
				series.Mean: {895, 1095, 1295, 1495, 1695, 1895},
				series.Min:  {800, 1000, 1200, 1400, 1600, 1800},
				series.Max:  {990, 1190, 1390, 1590, 1790, 1990},
				series.Last: {990, 1190, 1390, 1590, 1790, 1990},
			} {
				got, err := s.Range(ctx(t), series.Query{Device: "car-a", Signals: []string{rpm}, From: t0, To: t0.Add(time.Minute), Step: 10 * time.Second, Agg: agg})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || len(got[0].Values) != len(want) {
					t.Fatalf("%s: %v", agg, got)
				}
				for i, v := range got[0].Values {
					if math.Abs(v.Value-want[i]) > 1e-9 || !v.Time.Equal(t0.Add(time.Duration(i)*10*time.Second)) {
						t.Fatalf("%s window %d: %v at %v, want %v at %v", agg, i, v.Value, v.Time, want[i], t0.Add(time.Duration(i)*10*time.Second))
					}
				}
			}

			// A range covering part of the minute.
			got, err = s.Range(ctx(t), series.Query{Device: "car-b", Signals: []string{rpm}, From: t0.Add(10 * time.Second), To: t0.Add(11 * time.Second)})
			if err != nil || len(got) != 1 || len(got[0].Values) != 2 || got[0].Values[0].Value != 2000 {
				t.Fatalf("car-b 10..11 s: %v, %v", got, err)
			}

			latest, err := s.Latest(ctx(t), "car-a", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(latest) != 3 || latest[rpm].Value != 1990 || !latest[rpm].Time.Equal(t0.Add(59500*time.Millisecond)) || latest[odd].Value != -100 {
				t.Fatalf("latest: %v", latest)
			}
			latest, err = s.Latest(ctx(t), "car-b", []string{speed, "Vehicle.Nothing"})
			if err != nil || len(latest) != 1 || latest[speed].Value != 59.5 {
				t.Fatalf("latest speed of car-b: %v, %v", latest, err)
			}
			if latest, err := s.Latest(ctx(t), "car-unknown", nil); err != nil || len(latest) != 0 {
				t.Fatalf("an unknown car: %v, %v", latest, err)
			}
			// Where the values stood at 25 s: the last of each before it
			// (the instant itself is not before).
			at := t0.Add(25 * time.Second)
			before, err := s.Before(ctx(t), "car-a", []string{rpm, odd, "Vehicle.Nothing"}, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(before) != 2 || before[rpm].Value != 800+49*10 || !before[rpm].Time.Equal(at.Add(-500*time.Millisecond)) ||
				before[odd].Value != -40 || !before[odd].Time.Equal(t0.Add(20*time.Second)) {
				t.Fatalf("before 25 s: %v", before)
			}
			if before, err := s.Before(ctx(t), "car-a", []string{rpm}, t0); err != nil || len(before) != 0 {
				t.Fatalf("before the first value: %v, %v", before, err)
			}
			if before, err := s.Before(ctx(t), "car-unknown", []string{rpm}, at); err != nil || len(before) != 0 {
				t.Fatalf("an unknown car before 25 s: %v, %v", before, err)
			}
			if n, err := s.Count(ctx(t), "car-a", t0, t0.Add(time.Minute)); err != nil || n != 246 {
				t.Fatalf("count of car-a: %d, %v; want 120+120+6", n, err)
			}
			if n, err := s.Count(ctx(t), "car-a", t0, t0.Add(time.Second)); err != nil || n != 5 {
				t.Fatalf("count of car-a's first second: %d, %v; want 5", n, err)
			}
			if err := s.Ready(ctx(t)); err != nil {
				t.Fatal(err)
			}

			// An owner removes car-a: its values go, car-b's stay.
			if err := s.Delete(ctx(t), "car-a"); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Count(ctx(t), "car-a", t0, t0.Add(time.Minute)); err != nil || n != 0 {
				t.Fatalf("count of car-a after delete: %d, %v", n, err)
			}
			if latest, err := s.Latest(ctx(t), "car-a", nil); err != nil || len(latest) != 0 {
				t.Fatalf("latest of car-a after delete: %v, %v", latest, err)
			}
			if n, err := s.Count(ctx(t), "car-b", t0, t0.Add(time.Minute)); err != nil || n != 246 {
				t.Fatalf("count of car-b after car-a's delete: %d, %v", n, err)
			}
		})
	}
}

func names(ss []series.Series) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Signal)
	}
	return out
}

func TestQueryValidation(t *testing.T) {
	for _, q := range []series.Query{
		{Signals: []string{rpm}, From: t0, To: t0.Add(time.Hour)},
		{Device: "car-a", From: t0, To: t0.Add(time.Hour)},
		{Device: "car-a", Signals: []string{rpm}, From: t0, To: t0},
		{Device: "car-a", Signals: []string{rpm}, From: t0, To: t0.Add(time.Hour), Step: time.Microsecond},
		{Device: "car-a", Signals: []string{rpm}, From: t0, To: t0.Add(time.Hour), Agg: "median"},
	} {
		if err := q.Validate(); !errors.Is(err, series.ErrQuery) {
			t.Errorf("%+v: got %v", q, err)
		}
	}
}

// A closed engine says so; closing twice is harmless.
func TestEmbeddedClose(t *testing.T) {
	e, err := series.OpenEmbedded(series.EmbeddedOptions{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Close()
	if err := e.Write(ctx(t), drive("car-a", "")); err == nil || !strings.Contains(err.Error(), "s.db") {
		t.Fatalf("write after close: %v", err)
	}
}

// Reads run at once from several goroutines (a server rebuilds several
// cars at a time) and each gets its own car's answer.
func TestConcurrentReads(t *testing.T) {
	for name, s := range engines(t) {
		t.Run(name, func(t *testing.T) {
			c := ctx(t)
			for i := range 4 {
				if err := s.Write(c, drive(fmt.Sprintf("car-%d", i), "")); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 16 {
				wg.Go(func() {
					dev := fmt.Sprintf("car-%d", i%4)
					latest, err := s.Latest(c, dev, nil)
					if err == nil && latest[rpm].Value != 800+119*10 {
						err = fmt.Errorf("%s: latest rpm %v", dev, latest[rpm])
					}
					if err == nil {
						var got []series.Series
						got, err = s.Range(c, series.Query{Device: dev, Signals: []string{rpm}, From: t0, To: t0.Add(time.Minute)})
						if err == nil && (len(got) != 1 || len(got[0].Values) != 120) {
							err = fmt.Errorf("%s: range %v", dev, names(got))
						}
					}
					if err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// The reads a rebuild makes of one car, each on its own: the newest
// values, the values before the horizon and the horizon itself.
func BenchmarkReads(b *testing.B) {
	for name, s := range engines(b) {
		c := context.Background()
		if err := s.Write(c, drive("car-b", "")); err != nil {
			b.Fatal(err)
		}
		sigs := []string{rpm, speed, odd}
		b.Run(name+"/latest", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Latest(c, "car-b", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/before", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Before(c, "car-b", sigs, t0.Add(30*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/range", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Range(c, series.Query{Device: "car-b", Signals: sigs, From: t0.Add(30 * time.Second), To: t0.Add(time.Minute)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
