package guestvm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Machine is what a guest boots with.
type Machine struct {
	QEMU    string // qemu-system-x86_64
	Kernel  string // a bzImage, such as /boot/vmlinuz-6.1.0-57-amd64
	Modules string // that kernel's module directory, holding modules.dep
	// KVM is true when /dev/kvm can be opened and a hardware KVM module
	// (kvm_intel, kvm_amd) serves it; otherwise qemu emulates the
	// processor in software (TCG), many times slower, and NoKVM says why.
	KVM   bool
	NoKVM string
}

// MissingError lists what a guest cannot do without, each with how to get it.
type MissingError struct{ Missing []string }

func (e *MissingError) Error() string {
	return "cannot boot a test guest: " + strings.Join(e.Missing, "; ")
}

// Environment variables that point Find elsewhere.
const (
	EnvQEMU    = "PITWALL_QEMU"           // the qemu-system-x86_64 binary
	EnvKernel  = "PITWALL_KERNEL"         // a kernel image
	EnvModules = "PITWALL_KERNEL_MODULES" // its module directory
)

// Find looks for qemu-system-x86_64 on PATH and for the newest kernel image
// in /boot that has its modules in /lib/modules (Debian's linux-image-amd64
// installs both), unless the environment names them.
func Find() (Machine, error) {
	var m Machine
	var missing []string
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return m, &MissingError{[]string{fmt.Sprintf("an x86-64 Linux host (this is %s/%s)", runtime.GOOS, runtime.GOARCH)}}
	}
	m.QEMU = os.Getenv(EnvQEMU)
	if m.QEMU == "" {
		p, err := exec.LookPath("qemu-system-x86_64")
		if err != nil {
			missing = append(missing, "qemu-system-x86_64 (apt-get install qemu-system-x86, or set "+EnvQEMU+")")
		}
		m.QEMU = p
	}
	m.Kernel, m.Modules = os.Getenv(EnvKernel), os.Getenv(EnvModules)
	switch {
	case m.Kernel != "" && m.Modules == "":
		missing = append(missing, EnvKernel+" is set but "+EnvModules+" is not: name the kernel's module directory too")
	case m.Kernel == "":
		k, mods, err := newestKernel("/boot", "/lib/modules")
		if err != nil {
			missing = append(missing, err.Error())
		}
		m.Kernel = k
		if m.Modules == "" {
			m.Modules = mods
		}
	}
	if m.Kernel != "" {
		if f, err := os.Open(m.Kernel); err != nil {
			missing = append(missing, fmt.Sprintf("a readable kernel image (%v)", err))
		} else {
			f.Close()
		}
	}
	if m.Modules != "" {
		if _, err := os.Stat(filepath.Join(m.Modules, "modules.dep")); err != nil {
			missing = append(missing, fmt.Sprintf("the kernel's modules.dep (%v)", err))
		}
	}
	m.KVM, m.NoKVM = kvmUsable("/dev/kvm", "/sys/module")
	if len(missing) > 0 {
		return m, &MissingError{missing}
	}
	return m, nil
}

// newestKernel finds vmlinuz-VERSION in boot whose modules are in
// modules/VERSION, preferring the newest version.
func newestKernel(boot, modules string) (kernel, moddir string, err error) {
	images, _ := filepath.Glob(filepath.Join(boot, "vmlinuz-*"))
	var found []string
	for _, img := range images {
		v := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		if _, err := os.Stat(filepath.Join(modules, v, "modules.dep")); err == nil {
			found = append(found, v)
		}
	}
	if len(found) == 0 {
		what := "no kernel image in " + boot
		if len(images) > 0 {
			what = fmt.Sprintf("no kernel image in %s with its modules in %s", boot, modules)
		}
		return "", "", errors.New(what + " (apt-get install linux-image-amd64, or set " + EnvKernel + " and " + EnvModules + ")")
	}
	sort.Slice(found, func(i, j int) bool { return versionLess(found[i], found[j]) })
	v := found[len(found)-1]
	return filepath.Join(boot, "vmlinuz-"+v), filepath.Join(modules, v), nil
}

// versionLess orders kernel versions such as 6.1.0-57-amd64 by their
// numbers, so that 6.1.0-100 comes after 6.1.0-57.
func versionLess(a, b string) bool {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '+' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		var na, nb int
		_, ea := fmt.Sscanf(pa[i], "%d", &na)
		_, eb := fmt.Sscanf(pb[i], "%d", &nb)
		if ea == nil && eb == nil && na != nb {
			return na < nb
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

// kvmUsable says whether qemu can run a stock kernel with KVM: /dev/kvm
// must open, and be served by Intel's or AMD's hardware virtualisation.
// Some hosts offer /dev/kvm through kvm_pvm, which runs only guest kernels
// built for it, and Debian's kernel hangs there at its first instruction.
func kvmUsable(dev, modules string) (bool, string) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("%s cannot be used (%v)", dev, err)
	}
	f.Close()
	for _, hw := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat(filepath.Join(modules, hw)); err == nil {
			return true, ""
		}
	}
	if _, err := os.Stat(filepath.Join(modules, "kvm_pvm")); err == nil {
		return false, dev + " is served by kvm_pvm, which boots only kernels built as PVM guests, not Debian's"
	}
	return false, dev + " opens but neither kvm_intel nor kvm_amd is loaded"
}
