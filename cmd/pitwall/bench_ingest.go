package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/ingest"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// ingestBench is what `pitwall bench ingest` reports.
type ingestBench struct {
	Vehicles          int     `json:"vehicles"`
	SamplesPerMessage int     `json:"samples_per_message"`
	Seconds           float64 `json:"seconds"`
	Offered           float64 `json:"offered_samples_per_second"`
	Published         int64   `json:"samples_published"`
	Stored            int64   `json:"samples_stored"`
	InInflux          int64   `json:"samples_in_influxdb"`
	EndToEnd          float64 `json:"end_to_end_samples_per_second"`
	Messages          float64 `json:"messages_per_second"`
	Raw               float64 `json:"raw_line_protocol_samples_per_second"`
	Ratio             float64 `json:"ratio_to_raw"`
	Rejected          uint64  `json:"rejected"`
	CPUSeconds        float64 `json:"bench_process_cpu_seconds"`
	MaxRSSMiB         float64 `json:"bench_process_max_rss_mib"`
}

func benchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench ingest", "--broker URL --influx-url URL [--vehicles N] [--duration D] [--json]",
		"Measures samples per second end to end: simulated cars publish telemetry at QoS 1 to the\n"+
			"broker, Pitwall's ingest (in this process) checks it, writes it to InfluxDB and only\n"+
			"then acknowledges it. Beside it, the ceiling: batched line-protocol writes of the same\n"+
			"points straight to the same InfluxDB. Each run writes to new databases named\n"+
			"pitwall_bench_*; at the end every stored sample is counted in InfluxDB.", stdout)
	broker := fs.String("broker", "", "MQTT broker URL (tcp://HOST:PORT)")
	influxURL := fs.String("influx-url", "", "InfluxDB URL (http://HOST:PORT)")
	token := fs.String("influx-token", "", "InfluxDB token (user:password for 1.8)")
	org := fs.String("influx-org", "", "InfluxDB 2.x organisation")
	vehicles := fs.Int("vehicles", 500, "simulated cars, one connection each")
	signals := fs.Int("signals", 20, "signals per instant")
	instants := fs.Int("instants", 10, "instants per message (a message holds signals×instants samples)")
	dur := fs.Duration("duration", 30*time.Second, "how long the cars publish")
	rawDur := fs.Duration("raw-duration", 10*time.Second, "how long to measure the raw ceiling")
	rate := fs.Float64("rate", 4.5, "messages per car per second (0: as fast as the broker acknowledges)")
	consumers := fs.Int("consumers", 2, "ingest broker connections")
	batch := fs.Int("batch-samples", 20000, "samples per InfluxDB write")
	writers := fs.Int("raw-writers", 4, "concurrent writers for the raw ceiling")
	gzip := fs.Bool("gzip", false, "compress InfluxDB writes")
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("v", false, "log the ingest to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *broker == "" || *influxURL == "" {
		return usageError{"--broker and --influx-url are required"}
	}
	if *vehicles < 1 || *dur <= 0 || *rawDur <= 0 || *signals < 1 || *instants < 1 {
		return usageError{"--vehicles, --signals, --instants and the durations must be positive"}
	}
	stamp := time.Now().UTC().Format("20060102_150405")
	res := ingestBench{Vehicles: *vehicles, SamplesPerMessage: *signals * *instants}

	fmt.Fprintf(stderr, "raw ceiling: %d writers, %v ...\n", *writers, *rawDur)
	raw, err := rawCeiling(ctx, *influxURL, *token, *org, "pitwall_bench_raw_"+stamp, *vehicles, *signals, *writers, *batch, *gzip, *rawDur)
	if err != nil {
		return err
	}
	res.Raw = raw

	bucket := "pitwall_bench_e2e_" + stamp
	sr, err := series.OpenInflux(ctx, series.InfluxOptions{URL: *influxURL, Token: *token, Org: *org, Bucket: bucket, GZip: *gzip})
	if err != nil {
		return err
	}
	defer sr.Close()
	dir, err := os.MkdirTemp("", "pitwall-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "bench.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := ingest.Config{Broker: ingest.BrokerConfig{URL: *broker, ClientID: "pitwall-bench-" + stamp}, Consumers: *consumers,
		BatchSamples: *batch, Queue: 20000}
	in, err := ingest.New(cfg, sr, st, ingest.WithLogger(logger(stderr, *verbose)))
	if err != nil {
		return err
	}
	ictx, stopIngest := context.WithCancel(ctx)
	defer stopIngest()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = in.Run(ictx) }()
	deadline := time.Now().Add(30 * time.Second)
	for in.Ready() != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("the ingest did not connect to %s: %v", *broker, in.Ready())
		}
		time.Sleep(50 * time.Millisecond)
	}

	fmt.Fprintf(stderr, "end to end: %d cars, %d samples a message, %v ...\n", *vehicles, res.SamplesPerMessage, *dur)
	// Measure the stored rate over the middle of the run: after the cars
	// have connected, until the publishing stops.
	warm := min(5*time.Second, *dur/4)
	var from, to atomic.Int64
	var t0, t1 time.Time
	go func() {
		select {
		case <-time.After(warm):
		case <-ctx.Done():
			return
		}
		t0 = time.Now()
		from.Store(int64(in.Stats().Samples))
	}()
	fl, err := fleet.Flood(ctx, fleet.FloodConfig{Broker: *broker, Vehicles: *vehicles, Signals: *signals, Instants: *instants,
		Duration: *dur, Rate: *rate, Prefix: "bench", Window: 8})
	t1 = time.Now()
	to.Store(int64(in.Stats().Samples))
	if err != nil {
		return err
	}
	if fl.Errors > 0 {
		fmt.Fprintf(stderr, "the cars saw %d errors; first: %s\n", fl.Errors, fl.FirstError)
	}
	res.Published = fl.Samples
	res.Seconds = t1.Sub(t0).Seconds()
	res.EndToEnd = float64(to.Load()-from.Load()) / res.Seconds
	res.Messages = res.EndToEnd / float64(res.SamplesPerMessage)
	res.Offered = float64(fl.Samples) / fl.Seconds
	// Let the ingest finish, then count what InfluxDB holds.
	deadline = time.Now().Add(2 * time.Minute)
	for int64(in.Stats().Samples) < fl.Samples && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	stopIngest()
	wg.Wait()
	s := in.Stats()
	res.Stored, res.Rejected = int64(s.Samples), s.Rejected
	for i := range *vehicles {
		n, err := sr.Count(ctx, fmt.Sprintf("bench-%05d", i+1), time.Now().Add(-24*time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			return err
		}
		res.InInflux += n
	}
	if res.Raw > 0 {
		res.Ratio = res.EndToEnd / res.Raw
	}
	res.CPUSeconds, res.MaxRSSMiB = fl.CPUSeconds, fl.MaxRSSMiB
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "end to end  %10.0f samples/s  (%.0f messages/s of %d samples, %d cars, over %.1f s; offered %.0f/s)\n",
		res.EndToEnd, res.Messages, res.SamplesPerMessage, res.Vehicles, res.Seconds, res.Offered)
	fmt.Fprintf(stdout, "raw ceiling %10.0f samples/s  (batched line protocol, %d writers)\n", res.Raw, *writers)
	fmt.Fprintf(stdout, "ratio       %10.2f\n", res.Ratio)
	fmt.Fprintf(stdout, "published %d samples, stored %d, in InfluxDB %d, rejected messages %d\n", res.Published, res.Stored, res.InInflux, res.Rejected)
	if res.InInflux != res.Published {
		return fmt.Errorf("InfluxDB holds %d samples, the cars had %d acknowledged", res.InInflux, res.Published)
	}
	return nil
}

// rawCeiling writes pre-built line protocol of the same shape (a point
// per car and instant, a field per signal) as fast as InfluxDB takes it.
func rawCeiling(ctx context.Context, url, token, org, bucket string, vehicles, signals, writers, batch int, gzip bool, d time.Duration) (float64, error) {
	sr, err := series.OpenInflux(ctx, series.InfluxOptions{URL: url, Token: token, Org: org, Bucket: bucket})
	if err != nil {
		return 0, err
	}
	sr.Close()
	c := influxdb2.NewClientWithOptions(url, token, influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetUseGZip(gzip).SetLogLevel(0))
	defer c.Close()
	w := c.WriteAPIBlocking(org, bucket)
	var fields strings.Builder
	for k := range signals {
		if k > 0 {
			fields.WriteByte(',')
		}
		fmt.Fprintf(&fields, "Vehicle.Signal%d=%d.5", k, k)
	}
	lines := max(1, batch/signals)
	start := time.Now().Add(-2 * time.Hour).UnixMilli()
	var written atomic.Int64
	var firstErr error
	var mu sync.Mutex
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	for wi := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for n := 0; wctx.Err() == nil; n++ {
				b.Reset()
				for l := range lines {
					i := (n*writers+wi)*lines + l // each line its own car and instant
					b.WriteString("telemetry,device=raw-")
					b.WriteString(strconv.Itoa(i % vehicles))
					b.WriteByte(' ')
					b.WriteString(fields.String())
					b.WriteByte(' ')
					b.WriteString(strconv.FormatInt(start+int64(i/vehicles), 10))
					b.WriteByte('\n')
				}
				if err := w.WriteRecord(wctx, b.String()); err != nil {
					if wctx.Err() == nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
					return
				}
				written.Add(int64(lines * signals))
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("raw ceiling: %w", firstErr)
	}
	return float64(written.Load()) / time.Since(began).Seconds(), nil
}
