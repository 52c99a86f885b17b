package series

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// Influx is the InfluxDB engine, through the official client: InfluxDB
// 2.x (a bucket in an organisation, a token) and 1.8 (a database, its v2
// compatibility write API and Flux queries, a "user:password" token).
//
// Points go to one measurement, tagged with device and, when known,
// vehicle, with a field per signal, stamped to the millisecond. InfluxDB
// keys a point by measurement, tags and time, so writing a point again
// overwrites it: redelivered messages are stored once.
type Influx struct {
	opt    InfluxOptions
	client influxdb2.Client
	write  api.WriteAPIBlocking
	query  api.QueryAPI
	v1     bool
}

// InfluxOptions configure the InfluxDB engine.
type InfluxOptions struct {
	URL string
	// Token is a 2.x API token, or "user:password" (or empty) for 1.8.
	Token string
	// Org is the 2.x organisation; 1.8 ignores it.
	Org string
	// Bucket is the 2.x bucket, or the 1.8 database ("pitwall" or
	// "pitwall/autogen"). It is created when missing.
	Bucket string
	// Measurement names the points (telemetry by default).
	Measurement string
	// GZip compresses writes (worth it across a network, not on loopback).
	GZip bool
	// Timeout bounds each HTTP request (30 s by default).
	Timeout time.Duration
	Log     *slog.Logger
}

// OpenInflux connects to InfluxDB, learns its version and creates the
// bucket or database if it is missing.
func OpenInflux(ctx context.Context, opt InfluxOptions) (*Influx, error) {
	if opt.URL == "" || opt.Bucket == "" {
		return nil, errors.New("series: InfluxDB needs a URL and a bucket")
	}
	if u, err := url.Parse(opt.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("series: InfluxDB URL %q: want http://HOST:PORT or https://HOST:PORT", opt.URL)
	}
	if opt.Measurement == "" {
		opt.Measurement = "telemetry"
	}
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	o := influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetUseGZip(opt.GZip).
		SetHTTPRequestTimeout(uint(opt.Timeout.Seconds())).SetLogLevel(0)
	c := influxdb2.NewClientWithOptions(strings.TrimRight(opt.URL, "/"), opt.Token, o)
	in := &Influx{opt: opt, client: c, write: c.WriteAPIBlocking(opt.Org, opt.Bucket), query: c.QueryAPI(opt.Org)}
	h, err := c.Health(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("series: InfluxDB at %s: %w", opt.URL, err)
	}
	// A build without version stamps says "unknown": ask for the 2.x
	// bucket API, which 1.8 does not have.
	if h.Version != nil && strings.HasPrefix(*h.Version, "1.") {
		in.v1 = true
	} else if in.v1, err = in.lacksV2API(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := in.ensureBucket(ctx); err != nil {
		c.Close()
		return nil, err
	}
	// One query before any other: the client works out its query URL on
	// its first query without a lock (influxdb-client-go issue 379), so
	// concurrent first queries race; done here, every later query only
	// reads it. It also finds a server that cannot answer Flux at once.
	if _, err := in.Latest(ctx, "_pitwall_open", []string{"none"}); err != nil {
		c.Close()
		return nil, err
	}
	return in, nil
}

// influxQL posts an InfluxQL statement to 1.x's /query.
func (in *Influx) influxQL(ctx context.Context, form url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(in.opt.URL, "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if in.opt.Token != "" {
		req.Header.Set("Authorization", "Token "+in.opt.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// lacksV2API reports whether the server is 1.x: no /api/v2/buckets.
func (in *Influx) lacksV2API(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(in.opt.URL, "/")+"/api/v2/buckets?limit=1", nil)
	if err != nil {
		return false, err
	}
	if in.opt.Token != "" {
		req.Header.Set("Authorization", "Token "+in.opt.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("series: InfluxDB at %s: %w", in.opt.URL, err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNotFound, nil
}

// ensureBucket creates the 1.8 database or the 2.x bucket if missing.
func (in *Influx) ensureBucket(ctx context.Context) error {
	if in.v1 {
		db, _, _ := strings.Cut(in.opt.Bucket, "/")
		if err := in.influxQL(ctx, url.Values{"q": {"CREATE DATABASE " + influxQLIdent(db)}}); err != nil {
			return fmt.Errorf("series: creating database %s: %w", db, err)
		}
		return nil
	}
	b := in.client.BucketsAPI()
	if _, err := b.FindBucketByName(ctx, in.opt.Bucket); err == nil {
		return nil
	}
	org, err := in.client.OrganizationsAPI().FindOrganizationByName(ctx, in.opt.Org)
	if err != nil {
		return fmt.Errorf("series: organisation %q: %w", in.opt.Org, err)
	}
	if _, err := b.CreateBucketWithName(ctx, org, in.opt.Bucket); err != nil {
		return fmt.Errorf("series: creating bucket %s: %w", in.opt.Bucket, err)
	}
	return nil
}

// Write sends points in one request. An error that retrying cannot fix
// (a malformed point, a type conflict, a refused token) matches
// ErrRejected; others are transient.
func (in *Influx) Write(ctx context.Context, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(len(points) * 200)
	for _, p := range points {
		appendLine(&b, in.opt.Measurement, p)
	}
	err := in.write.WriteRecord(ctx, b.String())
	if err == nil {
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 && he.StatusCode != http.StatusTooManyRequests && he.StatusCode != http.StatusRequestTimeout {
		return fmt.Errorf("%w: InfluxDB %s: %v", ErrRejected, in.opt.URL, err)
	}
	return fmt.Errorf("series: writing to InfluxDB %s: %w", in.opt.URL, err)
}

// Delete erases every point of a device: InfluxQL's DELETE on 1.8, the
// delete API on 2.x.
func (in *Influx) Delete(ctx context.Context, device string) error {
	if in.v1 {
		db, _, _ := strings.Cut(in.opt.Bucket, "/")
		q := "DELETE FROM " + influxQLIdent(in.opt.Measurement) + " WHERE \"device\" = '" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(device) + "'"
		if err := in.influxQL(ctx, url.Values{"q": {q}, "db": {db}}); err != nil {
			return fmt.Errorf("series: deleting device %s: %w", device, err)
		}
		return nil
	}
	pred := `_measurement="` + in.opt.Measurement + `" AND device="` + strings.ReplaceAll(device, `"`, `\"`) + `"`
	if err := in.client.DeleteAPI().DeleteWithName(ctx, in.opt.Org, in.opt.Bucket, time.Unix(0, 0), time.Now().Add(24*time.Hour*365), pred); err != nil {
		return fmt.Errorf("series: deleting device %s: %w", device, err)
	}
	return nil
}

// ErrRejected is a write the engine refused for good: sending it again
// cannot succeed.
var ErrRejected = errors.New("series: write rejected")

// appendLine writes a point as one line of line protocol.
func appendLine(b *strings.Builder, measurement string, p Point) {
	lpEscape(b, measurement, ", ")
	b.WriteString(",device=")
	lpEscape(b, p.Device, ",= ")
	if p.Vehicle != "" {
		b.WriteString(",vehicle=")
		lpEscape(b, p.Vehicle, ",= ")
	}
	var num [32]byte
	sep := byte(' ')
	for _, f := range p.Fields {
		if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
			continue // line protocol has no NaN; the ingest never sends one
		}
		b.WriteByte(sep)
		sep = ','
		lpEscape(b, f.Signal, ",= ")
		b.WriteByte('=')
		b.Write(strconv.AppendFloat(num[:0], f.Value, 'g', -1, 64))
	}
	if sep == ' ' {
		return // no field left: not a point
	}
	b.WriteByte(' ')
	b.Write(strconv.AppendInt(num[:0], p.Time.UnixMilli(), 10))
	b.WriteByte('\n')
}

// lpEscape writes s with a backslash before each of special.
func lpEscape(b *strings.Builder, s, special string) {
	if !strings.ContainsAny(s, special) {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
}

// Range reads signals with Flux.
func (in *Influx) Range(ctx context.Context, q Query) ([]Series, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var f strings.Builder
	in.from(&f, q.Device, q.Signals, q.From, q.To)
	f.WriteString(` |> group(columns: ["_field"])`)
	if q.Step > 0 {
		fn := map[Agg]string{Mean: "mean", Min: "min", Max: "max", Last: "last"}[q.Agg]
		fmt.Fprintf(&f, ` |> aggregateWindow(every: %dms, fn: %s, createEmpty: false, timeSrc: "_start")`, q.Step.Milliseconds(), fn)
	}
	f.WriteString(` |> sort(columns: ["_time"])`)
	vals, err := in.run(ctx, f.String())
	if err != nil {
		return nil, err
	}
	var out []Series
	for _, s := range q.Signals {
		if v := vals[s]; len(v) > 0 {
			out = append(out, Series{Signal: s, Values: v})
		}
	}
	return out, nil
}

// Latest reads each signal's newest value with Flux.
func (in *Influx) Latest(ctx context.Context, device string, signals []string) (map[string]Value, error) {
	var f strings.Builder
	// Flux needs a start; a car's newest value within ten years is its newest.
	in.from(&f, device, signals, time.Now().AddDate(-10, 0, 0), time.Now().Add(24*time.Hour))
	f.WriteString(` |> group(columns: ["_field"]) |> last()`)
	vals, err := in.run(ctx, f.String())
	if err != nil {
		return nil, err
	}
	out := map[string]Value{}
	for s, v := range vals {
		if len(v) > 0 {
			out[s] = v[len(v)-1]
		}
	}
	return out, nil
}

// Before reads each signal's last value before t with Flux.
func (in *Influx) Before(ctx context.Context, device string, signals []string, t time.Time) (map[string]Value, error) {
	out := map[string]Value{}
	if len(signals) == 0 {
		return out, nil
	}
	var f strings.Builder
	in.from(&f, device, signals, t.AddDate(-10, 0, 0), t)
	f.WriteString(` |> group(columns: ["_field"]) |> last()`)
	vals, err := in.run(ctx, f.String())
	if err != nil {
		return nil, err
	}
	for s, v := range vals {
		if len(v) > 0 {
			out[s] = v[len(v)-1]
		}
	}
	return out, nil
}

// Count counts a device's values in a time range with Flux.
func (in *Influx) Count(ctx context.Context, device string, from, to time.Time) (int64, error) {
	var f strings.Builder
	in.from(&f, device, nil, from, to)
	f.WriteString(` |> group() |> count()`)
	res, err := in.query.Query(ctx, f.String())
	if err != nil {
		return 0, fmt.Errorf("series: querying InfluxDB %s: %w", in.opt.URL, err)
	}
	defer res.Close()
	var n int64
	for res.Next() {
		if v, ok := res.Record().Value().(int64); ok {
			n += v
		}
	}
	if err := res.Err(); err != nil {
		return 0, fmt.Errorf("series: querying InfluxDB %s: %w", in.opt.URL, err)
	}
	return n, nil
}

// from writes the common head of a query: bucket, range and filters.
func (in *Influx) from(f *strings.Builder, device string, signals []string, from, to time.Time) {
	// InfluxDB 1.8 returns a point lying exactly on the range's stop; the
	// time filter keeps the stop exclusive as the Query says.
	stop := to.UTC().Format(time.RFC3339Nano)
	fmt.Fprintf(f, `from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == %s and r.device == %s and r._time < %s)`,
		fluxString(in.opt.Bucket), from.UTC().Format(time.RFC3339Nano), stop,
		fluxString(in.opt.Measurement), fluxString(device), stop)
	if len(signals) > 0 {
		f.WriteString(` |> filter(fn: (r) => `)
		for i, s := range signals {
			if i > 0 {
				f.WriteString(" or ")
			}
			f.WriteString("r._field == " + fluxString(s))
		}
		f.WriteString(")")
	}
}

// run executes a Flux query and collects values by field.
func (in *Influx) run(ctx context.Context, flux string) (map[string][]Value, error) {
	res, err := in.query.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("series: querying InfluxDB %s: %w", in.opt.URL, err)
	}
	defer res.Close()
	out := map[string][]Value{}
	for res.Next() {
		r := res.Record()
		v, ok := r.Value().(float64)
		if !ok {
			continue
		}
		out[r.Field()] = append(out[r.Field()], Value{Time: r.Time().UTC(), Value: v})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("series: querying InfluxDB %s: %w", in.opt.URL, err)
	}
	for _, v := range out {
		sort.SliceStable(v, func(i, j int) bool { return v[i].Time.Before(v[j].Time) })
	}
	return out, nil
}

// Ready pings InfluxDB.
func (in *Influx) Ready(ctx context.Context) error {
	ok, err := in.client.Ping(ctx)
	if err != nil {
		return fmt.Errorf("series: InfluxDB %s: %w", in.opt.URL, err)
	}
	if !ok {
		return fmt.Errorf("series: InfluxDB %s does not answer its ping", in.opt.URL)
	}
	return nil
}

// Close releases the client.
func (in *Influx) Close() error {
	in.client.Close()
	return nil
}

// fluxString quotes s as a Flux string literal.
func fluxString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\$`)
		case c == '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// influxQLIdent quotes an InfluxQL identifier.
func influxQLIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// IsTransient reports whether a write error may succeed if retried: the
// engine was unreachable, overloaded or slow, rather than refusing the
// data, and the caller has not given up.
func IsTransient(err error) bool {
	return err != nil && !errors.Is(err, ErrRejected) && !errors.Is(err, context.Canceled)
}

var _ Store = (*Influx)(nil)
