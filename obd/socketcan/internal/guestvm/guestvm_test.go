package guestvm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readCPIO is a newc reader for the test: it returns the entries in order
// and fails on anything the kernel's unpacker would refuse.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	for off := 0; ; {
		if off%4 != 0 {
			t.Fatalf("header at %d is not 4-byte aligned", off)
		}
		if len(b) < off+110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("header at %d, field %d: %v", off, i, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nameLen := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nameLen])
		if !strings.HasSuffix(name, "\x00") {
			t.Fatalf("name %q at %d is not NUL-terminated", name, off)
		}
		name = strings.TrimSuffix(name, "\x00")
		data := off + 110 + nameLen
		data += (4 - data%4) % 4
		if name == "TRAILER!!!" {
			if len(b) != data {
				t.Fatalf("%d bytes after the trailer", len(b)-data)
			}
			return out
		}
		out = append(out, cpioEntry{name: name, mode: mode, data: b[data : data+size], major: rmaj, minor: rmin})
		off = data + size
		off += (4 - off%4) % 4
	}
}

func TestInitramfs(t *testing.T) {
	var r Initramfs
	for _, err := range []error{
		r.AddFile("init", 0o755, []byte("#!init")),
		r.AddFile("/lib/modules/can.ko", 0o644, bytes.Repeat([]byte{0xAB}, 4097)),
		r.AddCharDevice("dev/console", 5, 1),
		r.AddDir("proc"),
		r.AddDir("lib"), // already there: fine
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddFile("init", 0o755, nil); err == nil {
		t.Error("a second /init was accepted")
	}
	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo: %d, %v (wrote %d)", n, err, buf.Len())
	}
	got := readCPIO(t, buf.Bytes())
	want := []struct {
		name string
		mode uint32
		size int
	}{
		{"init", modeReg | 0o755, 6},
		{"lib", modeDir | 0o755, 0},
		{"lib/modules", modeDir | 0o755, 0},
		{"lib/modules/can.ko", modeReg | 0o644, 4097},
		{"dev", modeDir | 0o755, 0},
		{"dev/console", modeChar | 0o600, 0},
		{"proc", modeDir | 0o755, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.mode != w.mode || len(g.data) != w.size {
			t.Errorf("entry %d: %s mode %o size %d, want %s %o %d", i, g.name, g.mode, len(g.data), w.name, w.mode, w.size)
		}
	}
	if got[5].major != 5 || got[5].minor != 1 {
		t.Errorf("/dev/console is %d,%d, want 5,1", got[5].major, got[5].minor)
	}
	if !bytes.Equal(got[0].data, []byte("#!init")) {
		t.Errorf("/init holds %q", got[0].data)
	}
}

func TestResolveModules(t *testing.T) {
	got, err := ResolveModules("testdata", "vcan", "can_raw", "can-isotp", "can-gw")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/drivers/net/can/dev/can-dev.ko.xz", "kernel/drivers/net/can/vcan.ko.xz",
		"kernel/net/can/can.ko.xz", "kernel/net/can/can-raw.ko.xz", "kernel/net/can/can-isotp.ko.xz",
		"kernel/net/netlink/nl_helper.ko.xz", "kernel/net/can/can-gw.ko.xz",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order %v,\nwant %v", got, want)
	}
	if !Compressed(got[0]) || Compressed("can.ko") {
		t.Error("Compressed tells .ko.xz from .ko wrongly")
	}
	if _, err := ResolveModules("testdata", "can-j1939"); err == nil || !strings.Contains(err.Error(), "can_j1939") {
		t.Errorf("a missing module: %v", err)
	}
	if _, err := ResolveModules("testdata", "loop_a"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a dependency cycle: %v", err)
	}
	if _, err := ResolveModules(t.TempDir(), "vcan"); err == nil {
		t.Error("no modules.dep: no error")
	}
}

func TestNewestKernel(t *testing.T) {
	boot, mods := t.TempDir(), t.TempDir()
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-57-amd64", "6.1.0-100-amd64"} {
		if err := os.WriteFile(filepath.Join(boot, "vmlinuz-"+v), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := newestKernel(boot, mods); err == nil || !strings.Contains(err.Error(), "with its modules") {
		t.Errorf("images without modules: %v", err)
	}
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-57-amd64"} { // 100 has no modules
		if err := os.MkdirAll(filepath.Join(mods, v), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mods, v, "modules.dep"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	k, m, err := newestKernel(boot, mods)
	if err != nil || k != filepath.Join(boot, "vmlinuz-6.1.0-57-amd64") || m != filepath.Join(mods, "6.1.0-57-amd64") {
		t.Errorf("got %s %s %v", k, m, err)
	}
	if _, _, err := newestKernel(t.TempDir(), mods); err == nil || !strings.Contains(err.Error(), "linux-image-amd64") {
		t.Errorf("no images: %v", err)
	}
	for _, c := range [][2]string{{"6.1.0-9-amd64", "6.1.0-57-amd64"}, {"6.1.0-57-amd64", "6.12.0-1-amd64"}, {"5.10.0-30-amd64", "6.1.0-1-amd64"}} {
		if !versionLess(c[0], c[1]) || versionLess(c[1], c[0]) {
			t.Errorf("versionLess(%s, %s) wrong", c[0], c[1])
		}
	}
}

func TestKVMUsable(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "kvm")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mods := func(names ...string) string {
		d := t.TempDir()
		for _, n := range names {
			if err := os.Mkdir(filepath.Join(d, n), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	if ok, why := kvmUsable(dev, mods("kvm", "kvm_amd")); !ok || why != "" {
		t.Errorf("kvm_amd: %v %q", ok, why)
	}
	if ok, why := kvmUsable(dev, mods("kvm", "kvm_pvm")); ok || !strings.Contains(why, "kvm_pvm") {
		t.Errorf("kvm_pvm: %v %q", ok, why)
	}
	if ok, why := kvmUsable(filepath.Join(dir, "none"), mods("kvm_intel")); ok || why == "" {
		t.Errorf("no device: %v %q", ok, why)
	}
}

func TestParse(t *testing.T) {
	console := []byte("Probing EDD... ok\r\n[    0.1] Linux version 6.1\r\n" +
		string(Event{Kind: KindBoot, OK: true, Uptime: 1.5}.Line()) +
		"[    1.7] can: isotp protocol\r\n" +
		"noise before " + strings.TrimSuffix(string(Event{Kind: KindCheck, Name: "a/b", OK: true, Detail: "fine\nreally", Seconds: 0.25}.Line()), "\n") + "\r\n" +
		Marker + `{"kind":"check","name":"cut off by print` + "\r\n" +
		string(Event{Kind: KindEnd, Detail: "1 checks failed"}.Line()))
	got := Parse(console)
	if len(got) != 3 || got[0].Kind != KindBoot || got[0].Uptime != 1.5 ||
		got[1].Name != "a/b" || got[1].Detail != "fine\nreally" || !got[1].OK || got[2].Kind != KindEnd || got[2].OK {
		t.Fatalf("%+v", got)
	}
}

// fakeQEMU writes a shell script standing in for qemu.
func fakeQEMU(t *testing.T, body string) Machine {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the fake qemu is a shell script")
	}
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Machine{QEMU: p, Kernel: "/k", Modules: "/m"}
}

func TestBoot(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	m := fakeQEMU(t, `echo "$@"; echo '`+Marker+`{"kind":"end","ok":true}'`)
	if err := m.Boot(ctx, BootOptions{Initrd: "/i", Cmdline: "pitwall.x=1", Console: &out, InitWithin: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accel=tcg -cpu max", "-kernel /k -initrd /i", "-no-reboot", "console=ttyS0", "pitwall.x=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("qemu's arguments lack %q: %s", want, out.String())
		}
	}
	if e := Parse(out.Bytes()); len(e) != 1 || e[0].Kind != KindEnd {
		t.Errorf("report %+v", e)
	}
	m.KVM = true
	if a := strings.Join(m.Args(BootOptions{}), " "); !strings.Contains(a, "accel=kvm -cpu host") {
		t.Errorf("with KVM: %s", a)
	}

	silent := fakeQEMU(t, "exec sleep 30")
	start := time.Now()
	if err := silent.Boot(ctx, BootOptions{InitWithin: 200 * time.Millisecond, Console: &out}); !errors.Is(err, ErrNoInit) {
		t.Errorf("a guest that never reaches init: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("the silent guest was not killed promptly")
	}
	talkative := fakeQEMU(t, `echo '`+Marker+`{"kind":"boot","ok":true}'; exec sleep 30`)
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := talkative.Boot(dctx, BootOptions{InitWithin: 100 * time.Millisecond, Console: &out}); !errors.Is(err, ErrDeadline) {
		t.Errorf("a guest that hangs after its init started: %v", err)
	}
	failing := fakeQEMU(t, "echo 'qemu-system-x86_64: -kernel /k: no such file' >&2; exit 1")
	if err := failing.Boot(ctx, BootOptions{Console: &out}); err == nil || errors.Is(err, ErrDeadline) || errors.Is(err, ErrNoInit) {
		t.Errorf("qemu failing: %v", err)
	}
}

// fakeBzImage lays out a setup header (boot protocol 2.15, one setup
// sector) in front of payload, with the four-byte size the kernel's build
// appends.
func fakeBzImage(payload []byte) []byte {
	img := make([]byte, 1024)
	img[0x1F1] = 1
	copy(img[0x202:], "HdrS")
	img[0x206], img[0x207] = 0x0F, 0x02
	payload = append(payload, 1, 2, 3, 4)
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	binary.LittleEndian.PutUint32(img[0x24C:], uint32(len(payload)))
	img = append(img, make([]byte, 16)...)
	return append(img, payload...)
}

func TestBzPayload(t *testing.T) {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write([]byte("an uncompressed kernel"))
	w.Close()
	p, err := bzPayload(fakeBzImage(z.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := decompress(p, &out); err != nil || out.String() != "an uncompressed kernel" {
		t.Fatalf("%q %v", out.String(), err)
	}
	if _, err := bzPayload(make([]byte, 4096)); err == nil {
		t.Error("an image without a setup header was taken")
	}
	if err := decompress(append([]byte("LZ4?"), make([]byte, 20)...), &out); err == nil {
		t.Error("an unknown compression was taken")
	}
	if err := checkPVH(filepath.Join("testdata", "modules.dep")); err == nil {
		t.Error("a text file passed for a PVH kernel")
	}
}

// On a machine with Debian's kernel, the real image unpacks to a kernel
// qemu can boot at its PVH entry.
func TestUncompressedDebianKernel(t *testing.T) {
	k, _, err := newestKernel("/boot", "/lib/modules")
	if err != nil {
		t.Skip(err)
	}
	if testing.Short() {
		t.Skip("-short: unpacking a kernel takes seconds")
	}
	dir := t.TempDir()
	v, err := Uncompressed(k, dir)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Uncompressed(k, dir); err != nil || again != v {
		t.Errorf("the second call unpacked again or failed: %s %v", again, err)
	}
}
