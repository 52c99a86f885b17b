package guestvm

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Initramfs collects the files of an initramfs and writes them as a newc
// cpio archive, the format the kernel unpacks at boot. Parent directories
// are added as needed. Files are held in memory.
type Initramfs struct {
	entries []cpioEntry
	seen    map[string]bool
}

type cpioEntry struct {
	name         string
	mode         uint32 // type and permission bits as in stat(2)
	data         []byte
	major, minor uint32 // device numbers of character devices
}

// Mode bits of stat(2), which cpio stores as they are.
const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeChar = 0o020000
)

func (r *Initramfs) add(e cpioEntry) error {
	e.name = strings.TrimPrefix(path.Clean("/"+e.name), "/")
	if e.name == "" {
		return fmt.Errorf("guestvm: initramfs entry with an empty name")
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[e.name] {
		return fmt.Errorf("guestvm: initramfs entry %q added twice", e.name)
	}
	if dir := path.Dir(e.name); dir != "." && !r.seen[dir] {
		if err := r.add(cpioEntry{name: dir, mode: modeDir | 0o755}); err != nil {
			return err
		}
	}
	r.seen[e.name] = true
	r.entries = append(r.entries, e)
	return nil
}

// AddDir adds a directory (and its parents).
func (r *Initramfs) AddDir(name string) error {
	if r.seen[strings.TrimPrefix(path.Clean("/"+name), "/")] {
		return nil
	}
	return r.add(cpioEntry{name: name, mode: modeDir | 0o755})
}

// AddFile adds a regular file with the given permissions.
func (r *Initramfs) AddFile(name string, perm fs.FileMode, data []byte) error {
	return r.add(cpioEntry{name: name, mode: modeReg | uint32(perm.Perm()), data: data})
}

// AddCharDevice adds a character device node, such as /dev/console (5, 1),
// which the kernel opens for init's standard streams before any devtmpfs
// is mounted.
func (r *Initramfs) AddCharDevice(name string, major, minor uint32) error {
	return r.add(cpioEntry{name: name, mode: modeChar | 0o600, major: major, minor: minor})
}

// WriteTo writes the archive, trailer included.
func (r *Initramfs) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var n int64
	write := func(ino int, e cpioEntry) error {
		name := e.name + "\x00"
		nlink := 1
		if e.mode&modeDir != 0 {
			nlink = 2
		}
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(name), 0)
		for _, part := range [][]byte{[]byte(hdr), []byte(name), pad4(len(hdr) + len(name)), e.data, pad4(len(e.data))} {
			m, err := bw.Write(part)
			n += int64(m)
			if err != nil {
				return err
			}
		}
		return nil
	}
	for i, e := range r.entries {
		if err := write(i+1, e); err != nil {
			return n, err
		}
	}
	if err := write(0, cpioEntry{name: "TRAILER!!!"}); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// pad4 is the padding that brings n bytes to a multiple of four.
func pad4(n int) []byte { return make([]byte, (4-n%4)%4) }
