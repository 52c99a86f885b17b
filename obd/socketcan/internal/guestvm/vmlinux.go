package guestvm

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Uncompressed returns the ELF kernel inside a bzImage, unpacked into
// cacheDir once and kept there. qemu boots such a kernel straight at its
// PVH entry point, skipping the firmware's real-mode setup and the
// kernel's own decompression, which under software emulation take longer
// than the kernel's whole boot. gzip is unpacked here; xz and zstd, the
// usual compressions of distribution kernels, with the xz or zstd tool.
// An error means: boot the bzImage instead.
func Uncompressed(bzImage, cacheDir string) (string, error) {
	st, err := os.Stat(bzImage)
	if err != nil {
		return "", err
	}
	out := filepath.Join(cacheDir, fmt.Sprintf("vmlinux-%s-%d-%d", filepath.Base(bzImage), st.Size(), st.ModTime().Unix()))
	if err := checkPVH(out); err == nil {
		return out, nil
	}
	img, err := os.ReadFile(bzImage)
	if err != nil {
		return "", err
	}
	payload, err := bzPayload(img)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(cacheDir, "vmlinux-*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	err = decompress(payload, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = checkPVH(tmp.Name())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err == nil { // older kernels' unpacked copies are not needed again
		old, _ := filepath.Glob(filepath.Join(cacheDir, "vmlinux-"+filepath.Base(bzImage)+"-*"))
		for _, o := range old {
			if o != out {
				os.Remove(o)
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("guestvm: unpacking %s: %w", bzImage, err)
	}
	return out, nil
}

// bzPayload finds the compressed kernel in a bzImage from its setup header
// (boot protocol 2.08 and later).
func bzPayload(img []byte) ([]byte, error) {
	if len(img) < 0x250 || string(img[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS setup header)")
	}
	if v := binary.LittleEndian.Uint16(img[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %x.%02x predates payload fields", v>>8, v&0xFF)
	}
	setup := int(img[0x1F1])
	if setup == 0 {
		setup = 4
	}
	start := (setup + 1) * 512
	off, n := int(binary.LittleEndian.Uint32(img[0x248:])), int(binary.LittleEndian.Uint32(img[0x24C:]))
	if start+off+n > len(img) || n == 0 {
		return nil, errors.New("payload outside the image")
	}
	return img[start+off : start+off+n], nil
}

func decompress(payload []byte, w io.Writer) error {
	var tool string
	switch {
	case bytes.HasPrefix(payload, []byte{0x1F, 0x8B}):
		r, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return err
		}
		r.Multistream(false)
		_, err = io.Copy(w, r)
		return err
	case len(payload) < 16:
		return errors.New("payload too short")
	case bytes.HasPrefix(payload, []byte("\xFD7zXZ\x00")):
		tool = "xz"
	case bytes.HasPrefix(payload, []byte{0x28, 0xB5, 0x2F, 0xFD}):
		tool = "zstd"
	default:
		return fmt.Errorf("unknown compression (first bytes % X)", payload[:min(6, len(payload))])
	}
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("the kernel is %s-compressed and %s is not installed", tool, tool)
	}
	// The kernel's build appends the unpacked size, four bytes, to the
	// compressed stream; the tools would take it for a second stream.
	cmd := exec.Command(path, "-dc")
	if tool == "xz" {
		cmd.Args = append(cmd.Args, "--single-stream")
	}
	cmd.Stdin, cmd.Stdout = bytes.NewReader(payload[:len(payload)-4]), w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s -dc: %w: %s", tool, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// checkPVH succeeds for an ELF kernel with the Xen PVH entry note
// (XEN_ELFNOTE_PHYS32_ENTRY), which qemu needs to boot it directly.
func checkPVH(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return err
		}
		for len(b) >= 12 {
			nameLen, descLen, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
			name := b[12:min(len(b), 12+int(nameLen))]
			if typ == 18 && string(bytes.TrimRight(name, "\x00")) == "Xen" {
				return nil
			}
			adv := 12 + int((nameLen+3)&^3) + int((descLen+3)&^3)
			if adv > len(b) {
				break
			}
			b = b[adv:]
		}
	}
	return errors.New("no PVH entry note: the kernel lacks CONFIG_PVH")
}
