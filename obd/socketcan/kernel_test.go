package socketcan_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitwall-io/pitwall/obd/socketcan/internal/guestvm"
)

// The kernel test boots Debian's kernel under qemu with an initramfs of
// static binaries (the guest's init and pitwall), and the guest checks
// Pitwall's SocketCAN and ISO-TP against the kernel's own CAN stack: see
// internal/guestinit for the checks and docs/obd.md for running it by hand.
//
// PITWALL_KERNEL_RUN, a regular expression, runs only the guest checks it
// matches. The last run's initramfs and console are kept in
// ~/.cache/pitwall/kernel-test.
func TestKernel(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: the kernel test boots a qemu guest")
	}
	m, err := guestvm.Find()
	if err != nil {
		unavailable(t, err.Error())
	}
	if _, err := exec.LookPath("go"); err != nil {
		unavailable(t, "the go command, to build the guest's binaries")
	}
	if !m.KVM {
		t.Logf("no KVM: %s; the guest runs under software emulation (TCG), many times slower", m.NoKVM)
	}
	testStart := time.Now()
	dir := cacheDir(t)
	work := t.TempDir()
	initBin, pitwallBin := filepath.Join(work, "init"), filepath.Join(work, "pitwall")
	goBuild(t, initBin, "github.com/pitwall-io/pitwall/obd/socketcan/internal/guestinit")
	goBuild(t, pitwallBin, "github.com/pitwall-io/pitwall/cmd/pitwall")
	built := time.Since(testStart)

	initrd := filepath.Join(dir, "initramfs.cpio")
	mods := buildInitramfs(t, m, initrd, initBin, pitwallBin)

	logFile, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	bzImage := m.Kernel
	if k, err := guestvm.Uncompressed(m.Kernel, dir); err == nil {
		m.Kernel = k // booted at its PVH entry: seconds faster under emulation
	} else {
		t.Logf("booting the compressed image: %v", err)
	}
	t.Logf("kernel %s, modules %s, qemu %s (KVM %v)", m.Kernel, strings.Join(mods, " "), m.QEMU, m.KVM)
	console, opts, bootStart, bootErr := boot(t, m, initrd, logFile)
	for bootErr != nil && !console.reachedInit() {
		switch {
		case m.KVM:
			t.Logf("with KVM the guest did not reach its init (%v): trying again under software emulation", bootErr)
			m.KVM = false
		case m.Kernel != bzImage:
			t.Logf("the unpacked kernel did not boot (%v): trying %s", bootErr, bzImage)
			m.Kernel = bzImage
		default:
			t.Fatalf("%v\n%s", bootErr, console.bytes())
		}
		console, opts, bootStart, bootErr = boot(t, m, initrd, logFile)
	}
	ran := time.Since(bootStart)
	out := console.bytes()

	events := guestvm.Parse(out)
	var end *guestvm.Event
	var bootUptime float64
	for _, e := range events {
		switch e.Kind {
		case guestvm.KindBoot:
			bootUptime = e.Uptime
		case guestvm.KindEnd:
			end = &e
		case guestvm.KindCheck:
			t.Run(e.Name, func(t *testing.T) {
				if !e.OK {
					t.Errorf("failed in the guest after %.2fs: %s", e.Seconds, e.Detail)
					return
				}
				t.Logf("%.2fs: %s", e.Seconds, e.Detail)
			})
		}
	}
	if first := console.firstMarker(); !first.IsZero() {
		t.Logf("boot: %.2fs from starting qemu to the guest's init (kernel %.2fs of it); building %.1fs; guest %.1fs in all; test %.1fs",
			first.Sub(bootStart).Seconds(), bootUptime, built.Seconds(), ran.Seconds(), time.Since(testStart).Seconds())
	}
	switch {
	case bootErr != nil:
		t.Errorf("%v", bootErr)
	case end == nil:
		t.Errorf("the guest stopped before reporting the end of its checks")
	case !end.OK:
		t.Errorf("guest: %s", end.Detail)
	}
	if t.Failed() {
		t.Logf("guest console (also in %s); boot by hand with:\n  %s %s\n%s",
			logFile.Name(), m.QEMU, strings.Join(quote(m.Args(opts)), " "), out)
	}
}

// boot runs the guest once, with a hard deadline: a guest that hangs fails
// the test instead of holding up CI.
func boot(t *testing.T, m guestvm.Machine, initrd string, log io.Writer) (*consoleWriter, guestvm.BootOptions, time.Time, error) {
	deadline, guestLimit := 3*time.Minute, 150
	var initWithin time.Duration
	if m.KVM {
		initWithin = time.Minute
	} else {
		deadline, guestLimit = 8*time.Minute, 420
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmdline := fmt.Sprintf("pitwall.timeout=%d", guestLimit)
	if re := os.Getenv("PITWALL_KERNEL_RUN"); re != "" {
		cmdline += " pitwall.run=" + re
	}
	console := &consoleWriter{file: log}
	opts := guestvm.BootOptions{Initrd: initrd, Cmdline: cmdline, Console: console, InitWithin: initWithin}
	start := time.Now()
	return console, opts, start, m.Boot(ctx, opts)
}

// unavailable skips the test for want of something, except in CI, where
// scripts/test installs it and its absence is a failure.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("the SocketCAN kernel test cannot run: %s (scripts/test installs qemu-system-x86 and linux-image-amd64)", why)
	}
	t.Skipf("skipping the SocketCAN kernel test: %s", why)
}

// cacheDir is where the last run's initramfs and console stay, for a look
// or a boot by hand.
func cacheDir(t *testing.T) string {
	base := os.Getenv("PITWALL_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(c, "pitwall")
	}
	dir := filepath.Join(base, "kernel-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// goBuild builds a static binary of pkg (CGO_ENABLED=0), as the guest has
// no C library.
func goBuild(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// buildInitramfs writes the guest's initramfs: /init, /bin/pitwall, the
// CAN modules with their dependencies and the order to load them in,
// and /dev/console for init's output.
func buildInitramfs(t *testing.T, m guestvm.Machine, path, initBin, pitwallBin string) []string {
	t.Helper()
	mods, err := guestvm.ResolveModules(m.Modules, "vcan", "can-raw", "can-isotp", "sch_tbf")
	if err != nil {
		unavailable(t, err.Error())
	}
	var r guestvm.Initramfs
	add := func(name, src string, perm os.FileMode) {
		b, err := os.ReadFile(src)
		if err == nil {
			err = r.AddFile(name, perm, b)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	add("init", initBin, 0o755)
	add("bin/pitwall", pitwallBin, 0o755)
	var list []string
	for _, rel := range mods {
		name := "lib/modules/" + filepath.Base(rel)
		add(name, filepath.Join(m.Modules, rel), 0o644)
		list = append(list, "/"+name)
	}
	for _, err := range []error{
		r.AddFile("etc/pitwall/modules", 0o644, []byte(strings.Join(list, "\n")+"\n")),
		r.AddCharDevice("dev/console", 5, 1),
		r.AddDir("proc"), r.AddDir("sys"), r.AddDir("tmp"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tmp := path + fmt.Sprintf(".%d", os.Getpid())
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteTo(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	for i := range mods {
		mods[i] = filepath.Base(mods[i])
	}
	return mods
}

// consoleWriter keeps the guest's console, copies it to a file as it comes
// and notes when the first report line arrived.
type consoleWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	file  io.Writer
	first time.Time
}

func (c *consoleWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.first.IsZero() && bytes.Contains(c.buf.Bytes(), []byte(guestvm.Marker)) {
		c.first = time.Now()
	}
	_, _ = c.file.Write(p)
	return len(p), nil
}

func (c *consoleWriter) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

func (c *consoleWriter) reachedInit() bool { return !c.firstMarker().IsZero() }

func (c *consoleWriter) firstMarker() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
