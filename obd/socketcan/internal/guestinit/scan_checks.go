//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitwall-io/pitwall/firmware-sim/car"
	"github.com/pitwall-io/pitwall/firmware-sim/ecu"
	"github.com/pitwall-io/pitwall/obd"
)

// pitwallBin is the pitwall binary the host put in the initramfs.
const pitwallBin = "/bin/pitwall"

// The simulated car starts a minute into its drive (running: a car whose
// ignition is off does not answer) and its clock then runs a millionth of
// real time, so the car stays in that state for the whole scan and the
// reference scan below can expect every value to the bit.
const (
	simSeed  = 3
	simSpeed = "0.000001"
	simStart = time.Minute
)

// checkScan runs `pitwall sim can` and `pitwall scan --adapter
// socketcan://vcan0` as separate processes on the guest's kernel and
// compares the scan with what the same simulated car reports to a scan
// without any bus in between.
func checkScan(extended bool) func(ctx context.Context, n *notes) error {
	return func(ctx context.Context, n *notes) error {
		args := []string{"sim", "can", "--iface", pitwallIface, "--seed", fmt.Sprint(simSeed), "--speed", simSpeed, "--start", simStart.String()}
		// The simulated ECUs answer in 12–20 ms on a real machine, but in an
		// emulated guest on a busy host they were seen to take up to 900 ms.
		adapter := "socketcan://" + pitwallIface + "?p2=3s"
		proto := obd.ProtocolCAN11_500
		if extended {
			args = append(args, "--extended")
			adapter += "&extended=true"
			proto = obd.ProtocolCAN29_500
		}
		sim := exec.CommandContext(ctx, pitwallBin, args...)
		var simErr bytes.Buffer
		sim.Stderr = &simErr
		out, err := sim.StdoutPipe()
		if err != nil {
			return err
		}
		if err := sim.Start(); err != nil {
			return fmt.Errorf("starting pitwall %s: %w", strings.Join(args, " "), err)
		}
		defer func() {
			_ = sim.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = sim.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = sim.Process.Kill()
				<-done
			}
		}()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "socketcan://"+pitwallIface {
			return fmt.Errorf("pitwall %s printed %q (%v); stderr: %s", strings.Join(args, " "), line, err, simErr.String())
		}
		sn, err := sniff(pitwallIface)
		if err != nil {
			return err
		}
		started := time.Now()
		scan := exec.CommandContext(ctx, pitwallBin, "scan", "--adapter", adapter, "--json", "--timeout", "90s")
		var scanErr bytes.Buffer
		scan.Stderr = &scanErr
		js, err := scan.Output()
		took := time.Since(started)
		frames, serr := sn.stop()
		if serr != nil {
			return serr
		}
		n.add("%s", answerTimes(frames))
		if err != nil {
			return fmt.Errorf("pitwall scan --adapter %s: %w; stderr: %s", adapter, err, scanErr.String())
		}
		var got obd.ScanReport
		if err := json.Unmarshal(js, &got); err != nil {
			return fmt.Errorf("pitwall scan --json printed what is not a report: %w\n%s", err, js)
		}
		ref, err := referenceScan(ctx, extended)
		if err != nil {
			return fmt.Errorf("reference scan: %w", err)
		}
		ref.Protocol = proto.String()
		n.add("scan took %v: VIN %s, %d ECUs, %d values, protocol %q, %d problems",
			took.Round(time.Millisecond), got.VIN, len(got.ECUs), len(got.Values), got.Protocol, len(got.Problems))
		if got.VIN == "" || len(got.ECUs) != 2 || len(got.Values) < 20 {
			return fmt.Errorf("the scan read too little: VIN %q, %d ECUs, %d values\n%s", got.VIN, len(got.ECUs), len(got.Values), js)
		}
		if diffs := diffReports(*ref, got); len(diffs) > 0 {
			return fmt.Errorf("the scan over vcan0 differs from the same car read directly:\n  %s", strings.Join(diffs, "\n  "))
		}
		return nil
	}
}

// referenceScan reads the car `pitwall sim can` simulates, built the same
// way, straight from its modules.
func referenceScan(ctx context.Context, extended bool) (*obd.ScanReport, error) {
	sc, err := car.Load("healthy")
	if err != nil {
		return nil, err
	}
	c := car.New(car.DefaultSpec(), sc, simSeed)
	c.Advance(simStart)
	clock := car.NewClock(1e-6)
	mods := ecu.Modules(c, clock, ecu.Options{Extended: extended, Seed: simSeed})
	return obd.Scan(ctx, obd.NewClient(ecu.Direct(mods)))
}

// diffReports compares two reports as JSON, leaving out the time and the
// adapter, and lists the paths where they differ (at most 20).
func diffReports(want, got obd.ScanReport) []string {
	norm := func(r obd.ScanReport) any {
		r.Time, r.Adapter = time.Time{}, nil
		b, _ := json.Marshal(r)
		var v any
		_ = json.Unmarshal(b, &v)
		return v
	}
	var out []string
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		if len(out) >= 20 || reflect.DeepEqual(w, g) {
			return
		}
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok {
				break
			}
			keys := map[string]bool{}
			for k := range wv {
				keys[k] = true
			}
			for k := range gv {
				keys[k] = true
			}
			var ks []string
			for k := range keys {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			for _, k := range ks {
				walk(path+"."+k, wv[k], gv[k])
			}
			return
		case []any:
			gv, ok := g.([]any)
			if !ok || len(gv) != len(wv) {
				break
			}
			for i := range wv {
				walk(fmt.Sprintf("%s[%d]", path, i), wv[i], gv[i])
			}
			return
		}
		wj, _ := json.Marshal(w)
		gj, _ := json.Marshal(g)
		out = append(out, fmt.Sprintf("%s: got %s, want %s", strings.TrimPrefix(path, "."), clip(gj), clip(wj)))
	}
	walk("", norm(want), norm(got))
	return out
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// answerTimes summarises, from a recording of the bus, how long the
// simulated ECUs took to begin answering functional requests: the
// slowest answers, and the requests nobody answered within a second.
func answerTimes(frames []frame) string {
	type wait struct {
		req   frame
		delay time.Duration
	}
	var waits []wait
	unanswered := 0
	for i, f := range frames {
		if (f.id&unix.CAN_EFF_MASK) != 0x7DF && (f.id&unix.CAN_EFF_MASK) != 0x18DB33F1 {
			continue
		}
		answered := false
		for _, g := range frames[i+1:] {
			if g.at.Sub(f.at) > time.Second {
				break
			}
			id := g.id & unix.CAN_EFF_MASK
			if (id >= 0x7E8 && id <= 0x7EF) || id&0x1FFFFF00 == 0x18DAF100 {
				waits = append(waits, wait{f, g.at.Sub(f.at)})
				answered = true
				break
			}
		}
		if !answered {
			unanswered++
		}
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i].delay > waits[j].delay })
	var slow []string
	for _, w := range waits[:min(3, len(waits))] {
		slow = append(slow, fmt.Sprintf("%v after %v", w.delay.Round(time.Millisecond), w.req))
	}
	return fmt.Sprintf("%d functional requests, %d unanswered for 1 s; first answers, slowest: %s", len(waits)+unanswered, unanswered, strings.Join(slow, ", "))
}
