package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/fleet"
	"github.com/pitwall-io/pitwall/testserver"
)

// BenchmarkClusterIngest measures, in one run and with one load shape,
// the ingest on a single Mosquitto (one server) and on a three-node NATS
// cluster with one, two and three servers: samples stored per second
// (acknowledged by the broker and counted in InfluxDB) and processor
// seconds per million samples for each kind of process (the Pitwall
// servers, the broker nodes, InfluxDB, the fleet). Every sub-benchmark
// runs once (its duration is the fleet's, PITWALL_BENCH_SECONDS, 20 by
// default) with PITWALL_BENCH_CARS cars (100) sending 20 samples a
// message as fast as they are acknowledged, 8 in flight each:
//
//	go test -run '^$' -bench ClusterIngest -benchtime 1x ./cmd/pitwall/
func BenchmarkClusterIngest(b *testing.B) {
	cars, secs := 100, 20
	for env, dst := range map[string]*int{"PITWALL_BENCH_CARS": &cars, "PITWALL_BENCH_SECONDS": &secs} {
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				b.Fatalf("%s=%q: want a positive number", env, v)
			}
			*dst = n
		}
	}
	influx := testserver.StartInflux(b)
	mosq := testserver.StartMosquitto(b, testserver.MosquittoOptions{})
	nc := testserver.StartNATSCluster(b, testserver.NATSOptions{Config: clusterNATSConfig()})
	dir := b.TempDir()
	shape := fleet.FloodConfig{Vehicles: cars, Duration: time.Duration(secs) * time.Second, Signals: 20, Instants: 1, Window: 8}

	b.Run("mosquitto/servers=1", func(b *testing.B) {
		bucket := fmt.Sprintf("pitwall_bench_mosquitto_%d", time.Now().UnixNano())
		p := start(b, "server", "", "server", "--broker", mosq.URL(), "--influx-url", influx.URL(), "--influx-bucket", bucket,
			"--db", filepath.Join(b.TempDir(), "pitwall.db"), "--http", "127.0.0.1:0")
		p.waitFor(b, httpRE, 90*time.Second)
		cfg := shape
		cfg.Broker, cfg.Prefix = mosq.URL(), "bm"
		measureIngest(b, cfg, influx, bucket, map[string][]int{"server": {p.cmd.Process.Pid}, "broker": {mosq.Pid()}})
	})
	for n := 1; n <= 3; n++ {
		b.Run(fmt.Sprintf("nats/servers=%d", n), func(b *testing.B) {
			bucket := fmt.Sprintf("pitwall_bench_nats%d_%d", n, time.Now().UnixNano())
			pg := testserver.PostgresURL(b)
			var servers []int
			var bases []string
			for i := range n {
				p, base := startClusterServer(b, fmt.Sprintf("bench-%d-%d", n, i+1), dir, nc.URLs(), pg, influx.URL(), bucket, "")
				servers = append(servers, p.cmd.Process.Pid)
				bases = append(bases, base)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				total := 0
				for _, base := range bases {
					total += owned(base)
				}
				if total == clusterPartitions {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("the %d servers hold %d of %d partitions after 2 minutes", n, total, clusterPartitions)
				}
				time.Sleep(200 * time.Millisecond)
			}
			var nodes []int
			for _, node := range nc.Nodes {
				nodes = append(nodes, node.Pid())
			}
			urls := nc.MQTTURLs()
			cfg := shape
			cfg.Broker, cfg.Brokers, cfg.Prefix = urls[0], urls[1:], fmt.Sprintf("b%d", n)
			cfg.Username, cfg.Password = "car", "car-secret"
			measureIngest(b, cfg, influx, bucket, map[string][]int{"server": servers, "broker": nodes})
		})
	}
}

// measureIngest floods, waits until InfluxDB holds every acknowledged
// sample and reports the rate and each kind's processor time.
func measureIngest(b *testing.B, cfg fleet.FloodConfig, influx *testserver.Influx, bucket string, pids map[string][]int) {
	pids["influxdb"] = []int{influx.Pid()}
	cpu := func() map[string]float64 {
		out := map[string]float64{}
		for kind, ps := range pids {
			for _, pid := range ps {
				s, err := testserver.CPUSeconds(pid)
				if err != nil {
					b.Fatalf("%s: %v", kind, err)
				}
				out[kind] += s
			}
		}
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		out["fleet"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+5*time.Minute)
	defer cancel()
	b.ResetTimer()
	before, t0 := cpu(), time.Now()
	res, err := fleet.Flood(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 {
		b.Fatalf("the fleet saw %d errors; first: %s", res.Errors, res.FirstError)
	}
	var stored int64
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		counts, err := influxCounts(influx.URL(), bucket)
		if err == nil {
			stored = 0
			for _, n := range counts {
				stored += n
			}
			if stored >= res.Samples {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("InfluxDB holds %d of the %d acknowledged samples after 3 minutes", stored, res.Samples)
		}
	}
	took, after := time.Since(t0), cpu()
	b.StopTimer()
	if stored != res.Samples {
		b.Errorf("InfluxDB holds %d samples, the cars had %d acknowledged", stored, res.Samples)
	}
	b.ReportMetric(float64(res.Samples)/took.Seconds(), "samples/s")
	for kind := range after {
		b.ReportMetric((after[kind]-before[kind])/float64(res.Samples)*1e6, "cpu-s/Msample-"+kind)
	}
	b.ReportMetric(0, "ns/op")
}
