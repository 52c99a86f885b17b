package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/dongle"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/gateway/edge"
)

// RunThroughAgent runs each car the way a real one is read: an ELM327
// emulator (genuine, timed) on its own loopback port, and Pitwall's edge
// agent polling it, spooling and publishing. Slower per car, faithful in
// everything; for small fleets.
func RunThroughAgent(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Vehicles <= 0 || cfg.Duration <= 0 {
		return Result{}, fmt.Errorf("fleet: vehicles and duration must be positive")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sim"
	}
	if cfg.Speed <= 0 {
		cfg.Speed = 1
	}
	dir, err := os.MkdirTemp("", "pitwall-fleet")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	clock := car.NewClock(cfg.Speed)
	res := Result{Vehicles: cfg.Vehicles, Scenarios: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < cfg.Vehicles; i++ {
		name := cfg.Scenario
		if name == "mix" || name == "" {
			name = Mix[i%len(Mix)]
		}
		sc, err := car.Load(name)
		if err != nil {
			return res, err
		}
		res.Scenarios[name]++
		spec := car.DefaultSpec()
		spec.VIN = car.VINFor(uint64(i))
		seed := cfg.Seed*1_000_003 + uint64(i)
		vc := car.New(spec, sc, seed)
		em := dongle.New(dongle.Config{Profile: dongle.Profiles["genuine"], Car: vc, Clock: clock,
			Modules: ecu.Modules(vc, clock, ecu.Options{Seed: seed}), Timing: true})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return res, err
		}
		l.Close()
		addr := l.Addr().String()
		ready := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = em.ListenTCP(runCtx, addr, func(net.Addr) { close(ready) })
		}()
		<-ready
		device := fmt.Sprintf("%s-%05d", cfg.Prefix, i+1)
		acfg := edge.Config{DeviceID: device, Adapter: "tcp://" + addr, Broker: edge.BrokerConfig{URL: cfg.Broker, Password: cfg.Password},
			Spool: edge.SpoolConfig{Dir: fmt.Sprintf("%s/%s", dir, device)}}
		if cfg.Password != "" {
			acfg.Broker.Username = device
		}
		a, err := edge.New(acfg, edge.WithLogger(cfg.Log))
		if err != nil {
			return res, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.Run(runCtx)
			msgs, samples := a.Published()
			mu.Lock()
			defer mu.Unlock()
			res.Connected++
			res.Messages += int64(msgs)
			res.Samples += int64(samples)
			if err != nil {
				res.Errors++
				if res.FirstError == "" {
					res.FirstError = err.Error()
				}
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.CPUSeconds, res.MaxRSSMiB = usage()
	return res, nil
}
