//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mountAll mounts what the checks need: /proc, /sys, /dev (for /dev/null,
// which os/exec opens) and a /tmp.
func mountAll() error {
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

// uptime is the time since the guest's kernel started.
func uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// cmdline reads pitwall.KEY=VALUE settings from the kernel command line.
func cmdline() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return out
	}
	for _, f := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "pitwall.") {
			out[strings.TrimPrefix(k, "pitwall.")] = v
		}
	}
	return out
}

// loadModules loads the module files listed one a line in list, in that
// order, with finit_module; compressed files (.ko.xz, .ko.zst) are left to
// the kernel to decompress. A module already loaded is fine.
func loadModules(list string) ([]string, error) {
	f, err := os.Open(list)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var loaded []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		path := strings.TrimSpace(sc.Text())
		if path == "" {
			continue
		}
		if err := loadModule(path); err != nil {
			return loaded, fmt.Errorf("loading %s: %w", path, err)
		}
		loaded = append(loaded, path)
	}
	return loaded, sc.Err()
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	compressed := strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz")
	flags := 0
	if compressed {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	if errors.Is(err, unix.ENOSYS) && !compressed {
		// A kernel without finit_module takes the image itself.
		var img []byte
		if img, err = os.ReadFile(path); err == nil {
			err = unix.InitModule(img, "")
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil && compressed {
		return fmt.Errorf("%w (the kernel may lack CONFIG_MODULE_DECOMPRESS for this compression)", err)
	}
	return err
}

// rtnetlink speaks just enough NETLINK_ROUTE to create links and bring
// them up.
type rtnetlink struct {
	fd  int
	seq uint32
}

func openRtnetlink() (*rtnetlink, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &rtnetlink{fd: fd}, nil
}

func (n *rtnetlink) Close() error { return unix.Close(n.fd) }

// attr encodes one rtattr, padded to four bytes.
func attr(typ uint16, data []byte) []byte {
	b := make([]byte, 4, 4+len(data)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// newLink sends RTM_NEWLINK with an ifinfomsg and attributes and waits for
// the kernel's acknowledgement.
func (n *rtnetlink) newLink(flags uint16, index int32, ifFlags, change uint32, attrs ...[]byte) error {
	body := make([]byte, unix.SizeofIfInfomsg)
	body[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	binary.NativeEndian.PutUint32(body[8:], ifFlags)
	binary.NativeEndian.PutUint32(body[12:], change)
	for _, a := range attrs {
		body = append(body, a...)
	}
	return n.do(unix.RTM_NEWLINK, flags, body)
}

// do sends one request and waits for the kernel's acknowledgement.
func (n *rtnetlink) do(typ, flags uint16, body []byte) error {
	n.seq++
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	binary.NativeEndian.PutUint32(msg[8:], n.seq)
	msg = append(msg, body...)
	if err := unix.Sendto(n.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		m, _, err := unix.Recvfrom(n.fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:m])
		if err != nil {
			return err
		}
		for _, r := range msgs {
			if r.Header.Seq != n.seq || r.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(r.Data) < 4 {
				return errors.New("short netlink error message")
			}
			if code := int32(binary.NativeEndian.Uint32(r.Data)); code != 0 {
				return unix.Errno(-code)
			}
			return nil
		}
	}
}

// addVCAN creates a vcan interface and brings it up, as
// `ip link add NAME type vcan && ip link set NAME up` would.
func addVCAN(name string) error {
	n, err := openRtnetlink()
	if err != nil {
		return fmt.Errorf("rtnetlink: %w", err)
	}
	defer n.Close()
	ifname := append([]byte(name), 0)
	linkinfo := attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte("vcan")))
	if err := n.newLink(unix.NLM_F_CREATE|unix.NLM_F_EXCL, 0, 0, 0, attr(unix.IFLA_IFNAME, ifname), linkinfo); err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if err := n.newLink(0, 0, unix.IFF_UP, unix.IFF_UP, attr(unix.IFLA_IFNAME, ifname)); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// ifaceState reads an interface's operstate and flags from /sys, for the
// report.
func ifaceState(name string) string {
	b, _ := os.ReadFile("/sys/class/net/" + name + "/operstate")
	f, _ := os.ReadFile("/sys/class/net/" + name + "/flags")
	return strings.TrimSpace(string(b)) + " flags " + string(bytes.TrimSpace(f))
}

// Token-bucket qdisc attributes (linux/pkt_sched.h).
const (
	tcaTBFParms = 1
	tcaTBFBurst = 6
	tcHRoot     = 0xFFFFFFFF
)

// limitTx gives iface a token-bucket queue that lets frames out at
// bytesPerSecond (a CAN frame counts 16 bytes), holds at most limit bytes
// and drops the rest, as `tc qdisc add dev IFACE root tbf rate … burst …
// limit …` would. A vcan interface then behaves like a CAN controller on
// a busy bus: its transmit queue fills and sending fails with ENOBUFS.
func limitTx(iface string, bytesPerSecond, burst, limit uint32) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	n, err := openRtnetlink()
	if err != nil {
		return err
	}
	defer n.Close()
	tcm := make([]byte, 20) // struct tcmsg
	binary.NativeEndian.PutUint32(tcm[4:], uint32(ifi.Index))
	binary.NativeEndian.PutUint32(tcm[8:], 0x10000) // handle 1:0
	binary.NativeEndian.PutUint32(tcm[12:], tcHRoot)
	qopt := make([]byte, 36) // struct tc_tbf_qopt: rate, peakrate (tc_ratespec), limit, buffer, mtu
	qopt[1] = 1              // rate.linklayer: ethernet, so that no rate table is needed
	binary.NativeEndian.PutUint32(qopt[8:], bytesPerSecond)
	binary.NativeEndian.PutUint32(qopt[24:], limit)
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, burst)
	opts := append(attr(tcaTBFParms, qopt), attr(tcaTBFBurst, b)...)
	body := append(tcm, attr(unix.TCA_KIND, []byte("tbf\x00"))...)
	body = append(body, attr(unix.TCA_OPTIONS, opts)...)
	if err := n.do(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body); err != nil {
		return fmt.Errorf("adding a tbf qdisc to %s: %w", iface, err)
	}
	return nil
}
