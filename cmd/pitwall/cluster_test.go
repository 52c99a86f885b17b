package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/testserver"
)

// clusterPartitions is the partition count of the cluster test's mapping.
const clusterPartitions = 16

// clusterScale is the fleet and duration of TestClusterSurvivesItsNodes:
// 200 cars for two minutes, as the issue asks (a 2-core machine carries it
// under -race, see docs/scale.md); PITWALL_CLUSTER_CARS and
// PITWALL_CLUSTER_SECONDS scale it down or up.
func clusterScale(t *testing.T) (cars int, d time.Duration) {
	cars, d = 200, 120*time.Second
	if v := os.Getenv("PITWALL_CLUSTER_CARS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PITWALL_CLUSTER_CARS=%q: want a positive count", v)
		}
		cars = n
	}
	if v := os.Getenv("PITWALL_CLUSTER_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 {
			t.Fatalf("PITWALL_CLUSTER_SECONDS=%q: want 20 or more", v)
		}
		d = time.Duration(n) * time.Second
	}
	return cars, d
}

// clusterNATSConfig is the accounts of the cluster test: the cars log in
// with one shared password (the auth callout is tested on its own), the
// servers as srv.
func clusterNATSConfig() string {
	return `accounts {
  PITWALL {
    jetstream: enabled
    users: [{user: car, password: car-secret}, {user: srv, password: srv-secret}]
` + wire.NATSMappingsConfig(clusterPartitions) + `
  }
  SYS {}
}
system_account: SYS
`
}

// startClusterServer runs `pitwall server` on the cluster; with a webhook
// URL, its alerts are told there.
func startClusterServer(t testing.TB, name, dir, natsURLs, pg, influx, bucket, webhook string) (*proc, string) {
	t.Helper()
	conf := fmt.Sprintf(`store:
  url: %q
series:
  engine: influxdb
  influxdb:
    url: %q
    bucket: %q
ingest:
  broker:
    url: %q
    username: srv
    password: srv-secret
    client_id: %q
  nats:
    partitions: %d
    rebalance: 1s
    lease_timeout: 5s
http:
  addr: 127.0.0.1:0
`, pg, influx, bucket, natsURLs, "pitwall-"+name, clusterPartitions)
	if webhook != "" {
		conf += fmt.Sprintf("alerting:\n  webhook: {url: %q, secret: cluster-test-secret}\n", webhook)
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, name, "", "server", "--config", path)
	addr := p.waitFor(t, httpRE, 90*time.Second)
	return p, "http://" + addr
}

var ownedRE = regexp.MustCompile(`(?m)^pitwall_ingest_partitions_owned (\S+)$`)

// owned reads how many partitions a server consumes from its metrics; -1
// when it does not answer.
func owned(base string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := ownedRE.FindStringSubmatch(sc.Text()); m != nil {
			f, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return -1
			}
			return int(f)
		}
	}
	return -1
}

// Three NATS nodes, three servers, PostgreSQL, InfluxDB and a fleet that
// keeps what it sent until it is acknowledged (as the agent's spool does).
// Mid-stream one NATS node is SIGKILLed and restarted, then one server is
// SIGKILLed. Every sample a car had acknowledged must be in InfluxDB
// exactly once, and every car's sequence complete; the survivors must
// hold every partition again within the documented bound.
func TestClusterSurvivesItsNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS cluster, three servers, PostgreSQL and InfluxDB")
	}
	cars, runFor := clusterScale(t)
	nc := testserver.StartNATSCluster(t, testserver.NATSOptions{Config: clusterNATSConfig()})
	pg := testserver.PostgresURL(t)
	influx := testserver.InfluxURL(t)
	dir := t.TempDir()
	bucket := fmt.Sprintf("pitwall_cluster_%d", time.Now().UnixNano())
	told, hook := startTellings(t)

	type srv struct {
		p    *proc
		base string
	}
	var servers []srv
	for i := range 3 {
		p, base := startClusterServer(t, fmt.Sprintf("server-%d", i+1), dir, nc.URLs(), pg, influx, bucket, hook)
		servers = append(servers, srv{p, base})
	}
	total := func(which []srv) int {
		n := 0
		for _, s := range which {
			o := owned(s.base)
			if o < 0 {
				return -1
			}
			n += o
		}
		return n
	}
	waitUntil(t, 2*time.Minute, "the three servers share all partitions", func() bool {
		if total(servers) != clusterPartitions {
			return false
		}
		for _, s := range servers {
			if owned(s.base) < 1 {
				return false
			}
		}
		return true
	})

	var mu sync.Mutex
	acked := map[string]map[uint64]int{} // device → seq → samples
	ctx, cancel := context.WithTimeout(context.Background(), runFor+5*time.Minute)
	defer cancel()
	type floodResult struct {
		r   fleet.Result
		err error
	}
	done := make(chan floodResult, 1)
	mqtt := nc.MQTTURLs()
	go func() {
		r, err := fleet.Flood(ctx, fleet.FloodConfig{Broker: mqtt[0], Brokers: mqtt[1:], Vehicles: cars, Signals: 5, Instants: 1,
			Duration: runFor, Rate: 1, Window: 8, Prefix: "cluster", Username: "car", Password: "car-secret", Resend: true,
			Acked: func(device string, seq uint64, samples int) {
				mu.Lock()
				defer mu.Unlock()
				if acked[device] == nil {
					acked[device] = map[uint64]int{}
				}
				acked[device][seq] = samples
			}})
		done <- floodResult{r, err}
	}()
	time.Sleep(runFor / 4)
	node := nc.Nodes[0]
	t.Logf("SIGKILL NATS node %s", node.Name)
	node.Kill()
	time.Sleep(5 * time.Second)
	node.Restart(t)
	t.Logf("NATS node %s is back", node.Name)

	time.Sleep(runFor / 4)
	victim := servers[0]
	// A car of the victim's starts to overheat: the overheat's for: (20 s)
	// is pending on the victim when it dies, and must fire once, from a
	// survivor that took the car's partition over.
	held, err := heldPartitions(victim.base)
	if err != nil {
		t.Fatal(err)
	}
	hot, err := deviceIn("cluster-hot", held)
	if err != nil {
		t.Fatal(err)
	}
	hotCtx, stopHot := context.WithCancel(ctx)
	defer stopHot()
	firstHot := make(chan time.Time, 1)
	hotDone := make(chan error, 1)
	go func() { hotDone <- hotCar(hotCtx, mqtt[1], hot, firstHot) }()
	var hotFrom time.Time
	select {
	case hotFrom = <-firstHot:
	case err := <-hotDone:
		t.Fatalf("the hot car stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the hot car's first sample was not acknowledged within a minute")
	}
	time.Sleep(10*time.Second - time.Since(hotFrom))
	if got := told.of(hot, "overheat"); len(got) > 0 {
		t.Fatalf("%s's overheat told %v, before its for: could have held", hot, got)
	}
	t.Logf("SIGKILL %s, with %s hot since %v", victim.p.name, hot, time.Since(hotFrom).Round(time.Second))
	killed := time.Now()
	_ = victim.p.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.p.done
	survivors := servers[1:]
	var takeover time.Duration
	waitUntil(t, time.Minute, "the survivors take every partition", func() bool {
		if total(survivors) == clusterPartitions {
			takeover = time.Since(killed)
			return true
		}
		return false
	})
	t.Logf("the survivors hold all %d partitions %v after the SIGKILL", clusterPartitions, takeover.Round(100*time.Millisecond))
	if dir := os.Getenv("PITWALL_ARTEFACTS"); dir != "" {
		// The run's figure, kept whether the test passes or not (CI's artefacts).
		line := fmt.Sprintf("%s %d cars × %v: takeover after the server's SIGKILL %v\n", time.Now().UTC().Format(time.RFC3339), cars, runFor, takeover.Round(100*time.Millisecond))
		if f, err := os.OpenFile(filepath.Join(dir, "cluster-takeover.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.WriteString(line)
			_ = f.Close()
		}
	}
	if takeover > 30*time.Second {
		t.Errorf("takeover took %v; the documented bound is 30 s", takeover)
	}

	// Told once: it may take the takeover, the rebuild and the rest of the
	// for: (under a minute); then nothing more while it stays hot.
	waitUntil(t, 2*time.Minute, hot+"'s overheat told by a survivor", func() bool { return len(told.of(hot, "overheat")) > 0 })
	time.Sleep(15 * time.Second)
	stopHot()
	if err := <-hotDone; err != nil {
		t.Errorf("the hot car: %v", err)
	}
	if got := told.of(hot, "overheat"); len(got) != 1 {
		t.Errorf("%s's overheat told %d times (%v), want once", hot, len(got), got)
	} else {
		// On the data's clock the alert starts when for: has held, 20 s
		// after the first hot sample; a survivor that started the car
		// afresh instead of rebuilding its pending for: would start it
		// 20 s after the takeover, 30 s or more after the first hot sample.
		starts := told.startsOf(hot, "overheat")[0]
		t.Logf("%s's overheat told once, %v after its first hot sample, %v after the SIGKILL; it starts %v after the first hot sample", hot,
			got[0].Sub(hotFrom).Round(100*time.Millisecond), got[0].Sub(killed).Round(100*time.Millisecond), starts.Sub(hotFrom.Truncate(time.Millisecond)).Round(100*time.Millisecond))
		if d := starts.Sub(hotFrom.Truncate(time.Millisecond)); d < 20*time.Second || d > 25*time.Second { // stored to the millisecond
			t.Errorf("the overheat starts %v after the first hot sample; with the pending for: rebuilt it starts 20 s after", d)
		}
	}

	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	t.Logf("fleet: %d cars, %d connected, %d messages and %d samples acknowledged, %d errors (%s)", res.r.Vehicles, res.r.Connected,
		res.r.Messages, res.r.Samples, res.r.Errors, res.r.FirstError)
	if res.r.Errors > 0 {
		t.Errorf("the fleet saw %d errors; first: %s", res.r.Errors, res.r.FirstError)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(acked) != cars {
		t.Errorf("%d of %d cars had anything acknowledged", len(acked), cars)
	}
	want := map[string]int64{}
	for dev, seqs := range acked {
		// Complete: 1 (the birth) to the newest, none missing.
		newest := uint64(0)
		for s, n := range seqs {
			newest = max(newest, s)
			want[dev] += int64(n)
		}
		if uint64(len(seqs)) != newest {
			var missing []uint64
			for s := uint64(1); s <= newest; s++ {
				if _, ok := seqs[s]; !ok {
					missing = append(missing, s)
				}
			}
			t.Errorf("%s: sequence 1…%d acknowledged with %v missing", dev, newest, missing)
		}
	}
	// InfluxDB keeps a point once per device, signal and time: a sample
	// stored twice is counted once, so the count is exactly what was
	// acknowledged when none is lost and none is made up.
	var got map[string]int64
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		var err error
		if got, err = influxCounts(influx, bucket); err != nil {
			t.Logf("counting in InfluxDB: %v", err)
		}
		all := err == nil
		for dev, w := range want {
			all = all && got[dev] >= w
		}
		if all || time.Now().After(deadline) {
			break
		}
	}
	var wrong []string
	var stored, wanted int64
	for dev, w := range want {
		stored += got[dev]
		wanted += w
		if got[dev] != w {
			wrong = append(wrong, fmt.Sprintf("%s %d of %d", dev, got[dev], w))
		}
	}
	for dev := range got {
		if _, ok := want[dev]; !ok && dev != hot {
			wrong = append(wrong, fmt.Sprintf("%s %d of none", dev, got[dev]))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("cars whose samples in InfluxDB differ from the acknowledged ones: %s", strings.Join(wrong, ", "))
	}
	t.Logf("InfluxDB holds %d samples; the cars had %d acknowledged", stored, wanted)
}

// influxCounts counts each device's samples in an InfluxDB 1.8 database
// (InfluxQL: one query for the fleet).
func influxCounts(base, db string) (map[string]int64, error) {
	q := url.Values{"db": {db}, "q": {`SELECT count(*) FROM telemetry GROUP BY device`}}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(base + "/query?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, errors.New(r.Error)
		}
		for _, sr := range r.Series {
			for _, row := range sr.Values {
				for _, v := range row[1:] { // the time, then a count per field
					if f, ok := v.(float64); ok {
						counts[sr.Tags["device"]] += int64(f)
					}
				}
			}
		}
	}
	return counts, nil
}
