// Package guestvm boots a small Linux guest under qemu for the SocketCAN
// kernel test: it finds qemu, a kernel image and that kernel's modules,
// packs an initramfs (newc cpio) of static binaries and module files,
// runs the guest with a hard deadline and collects what it printed on its
// serial console. The guest reports in lines that Parse reads back.
package guestvm
