//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitwall-io/pitwall/obd/socketcan/internal/guestvm"
)

// notes collect what a check measured, for its report line.
type notes struct {
	mu    sync.Mutex
	lines []string
}

func (n *notes) add(format string, args ...any) {
	n.mu.Lock()
	n.lines = append(n.lines, fmt.Sprintf(format, args...))
	n.mu.Unlock()
}

func (n *notes) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "; ")
}

type check struct {
	name    string
	timeout time.Duration
	run     func(ctx context.Context, n *notes) error
}

// checks run in this order; names are what the host test shows.
var checks = []check{
	{"socketcan/filters-and-close", 20 * time.Second, checkBusFilters},
	{"socketcan/transmit-queue-full", 20 * time.Second, checkTxQueueFull},
	{"isotp/pitwall-to-kernel/single-frame", 20 * time.Second, checkToKernelSingle},
	{"isotp/pitwall-to-kernel/multi-frame", 30 * time.Second, checkToKernelMulti},
	{"isotp/pitwall-to-kernel/block-size-stmin", 20 * time.Second, checkToKernelBlockSTmin},
	{"isotp/pitwall-to-kernel/stmin-microseconds", 20 * time.Second, checkToKernelSTminMicro},
	{"isotp/pitwall-to-kernel/lost-frame", 20 * time.Second, checkToKernelLost},
	{"isotp/kernel-to-pitwall/single-frame", 20 * time.Second, checkFromKernelSingle},
	{"isotp/kernel-to-pitwall/multi-frame", 30 * time.Second, checkFromKernelMulti},
	{"isotp/kernel-to-pitwall/block-size-stmin", 20 * time.Second, checkFromKernelBlockSTmin},
	{"isotp/kernel-to-pitwall/lost-frame", 20 * time.Second, checkFromKernelLost},
	{"isotp/29-bit", 20 * time.Second, checkExtended},
	{"obd/kernel-ecu", 20 * time.Second, checkOBDKernelECU},
	{"obd/kernel-ecu-lost-frame", 20 * time.Second, checkOBDLostFrame},
	{"scan/11-bit", 100 * time.Second, checkScan(false)},
	{"scan/29-bit", 100 * time.Second, checkScan(true)},
}

var consoleMu sync.Mutex

func emit(e guestvm.Event) {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	_, _ = os.Stdout.Write(e.Line())
}

func powerOff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	os.Exit(1) // init exiting panics the kernel, which ends qemu just as well
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinit is the init of Pitwall's SocketCAN test guest and runs only as PID 1; see obd/socketcan/kernel_test.go")
		os.Exit(2)
	}
	emit(guestvm.Event{Kind: guestvm.KindBoot, OK: true, Uptime: uptime().Seconds()})
	step := func(name string, f func() (string, error)) {
		start := time.Now()
		detail, err := f()
		e := guestvm.Event{Kind: guestvm.KindCheck, Name: name, OK: err == nil, Detail: detail, Seconds: time.Since(start).Seconds()}
		if err != nil {
			e.Detail = err.Error()
		}
		emit(e)
		if err != nil {
			emit(guestvm.Event{Kind: guestvm.KindEnd, Detail: "setup failed", Uptime: uptime().Seconds()})
			powerOff()
		}
	}
	step("setup/mount", func() (string, error) { return "", mountAll() })
	opts := cmdline()
	limit := 240 * time.Second
	if s, err := strconv.Atoi(opts["timeout"]); err == nil && s > 0 {
		limit = time.Duration(s) * time.Second
	}
	go func() {
		time.Sleep(limit)
		emit(guestvm.Event{Kind: guestvm.KindCheck, Name: "guest-watchdog", Detail: fmt.Sprintf("the checks took longer than %v", limit)})
		emit(guestvm.Event{Kind: guestvm.KindEnd, Detail: "watchdog", Uptime: uptime().Seconds()})
		powerOff()
	}()
	step("setup/modules", func() (string, error) {
		loaded, err := loadModules("/etc/pitwall/modules")
		return "loaded " + strings.Join(loaded, " "), err
	})
	step("setup/vcan", func() (string, error) {
		for _, n := range []string{pitwallIface, kernelIface} {
			if err := addVCAN(n); err != nil {
				return "", err
			}
		}
		if err := setupQueueIface(); err != nil {
			return "", err
		}
		return pitwallIface + " " + ifaceState(pitwallIface) + ", " + kernelIface + " " + ifaceState(kernelIface) + ", " + queueIface + " with a tbf queue", nil
	})
	var only *regexp.Regexp
	if s := opts["run"]; s != "" {
		if re, err := regexp.Compile(s); err == nil {
			only = re
		}
	}
	failed := 0
	for _, c := range checks {
		if only != nil && !only.MatchString(c.name) {
			continue
		}
		var n notes
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		done := make(chan error, 1)
		go func() { done <- c.run(ctx, &n) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(c.timeout + 5*time.Second):
			err = fmt.Errorf("still running after %v", c.timeout+5*time.Second)
		}
		cancel()
		e := guestvm.Event{Kind: guestvm.KindCheck, Name: c.name, OK: err == nil, Detail: n.String(), Seconds: time.Since(start).Seconds()}
		if err != nil {
			failed++
			e.Detail = strings.TrimPrefix(e.Detail+"; ", "; ") + err.Error()
		}
		emit(e)
	}
	emit(guestvm.Event{Kind: guestvm.KindEnd, OK: failed == 0, Detail: fmt.Sprintf("%d checks failed", failed), Uptime: uptime().Seconds()})
	powerOff()
}
