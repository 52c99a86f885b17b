package guestvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// BootOptions say what the guest runs and how big it is.
type BootOptions struct {
	Initrd  string // the initramfs file
	Cmdline string // appended to the kernel command line after the console settings
	MemMiB  int    // default 512
	// CPUs defaults to one. A frame sent on vcan reaches the other sockets
	// through the backlog of the CPU the sender ran on; with two CPUs a
	// sender moving between them had its frames arrive out of order (seen
	// once in a few dozen runs), which is the kernel's doing, not ours.
	CPUs int
	// Console receives everything the guest prints on its serial port.
	Console io.Writer
	// InitWithin, when set, bounds the wait for the guest's first report
	// line: a guest that has not reached its init by then is killed and
	// Boot returns ErrNoInit.
	InitWithin time.Duration
}

// Args is the qemu command line for o: a q35 machine without default
// devices, the serial port on qemu's standard output, no reboot (a guest
// that reboots or panics ends qemu), KVM when there is one.
func (m Machine) Args(o BootOptions) []string {
	mem, cpus := o.MemMiB, o.CPUs
	if mem <= 0 {
		mem = 512
	}
	if cpus <= 0 {
		cpus = 1
	}
	accel, cpu := "tcg", "max"
	if m.KVM {
		accel, cpu = "kvm", "host"
	}
	return []string{
		"-machine", "q35,accel=" + accel, "-cpu", cpu,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
		"-no-reboot",
		"-kernel", m.Kernel, "-initrd", o.Initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=4 " + o.Cmdline,
	}
}

// ErrDeadline: the guest was still running when the deadline came and was
// killed.
var ErrDeadline = errors.New("guestvm: the guest did not power off in time")

// ErrNoInit: the guest printed no report line within InitWithin.
var ErrNoInit = errors.New("guestvm: the guest did not reach its init in time")

// Boot runs the guest until it powers off or ctx ends; then qemu is killed
// and Boot returns ErrDeadline. qemu's own failures (a bad option, no
// kernel) come back as errors with its exit status.
func (m Machine) Boot(ctx context.Context, o BootOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	console := &watch{w: o.Console, seen: make(chan struct{})}
	cmd := exec.CommandContext(ctx, m.QEMU, m.Args(o)...)
	cmd.Stdout = console
	cmd.Stderr = console
	cmd.WaitDelay = 5 * time.Second
	var noInit atomic.Bool
	if o.InitWithin > 0 {
		t := time.AfterFunc(o.InitWithin, func() {
			select {
			case <-console.seen:
			default:
				noInit.Store(true)
				cancel()
			}
		})
		defer t.Stop()
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		if noInit.Load() {
			return fmt.Errorf("%w (%v)", ErrNoInit, o.InitWithin)
		}
		return fmt.Errorf("%w (%v)", ErrDeadline, ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("guestvm: %s: %w", m.QEMU, err)
	}
	return nil
}

// watch passes the console on and closes seen at the first report line.
type watch struct {
	w    io.Writer
	tail []byte
	seen chan struct{}
	once sync.Once
}

func (c *watch) Write(p []byte) (int, error) {
	c.tail = append(c.tail, p...)
	if bytes.Contains(c.tail, []byte(Marker)) {
		c.once.Do(func() { close(c.seen) })
	}
	if len(c.tail) > len(Marker) {
		c.tail = c.tail[len(c.tail)-len(Marker):]
	}
	if c.w == nil {
		return len(p), nil
	}
	return c.w.Write(p)
}
