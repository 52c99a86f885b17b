package guestvm

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// moduleName is a module's name as modprobe knows it: the file name
// without .ko and compression suffix, with dashes as underscores.
func moduleName(file string) string {
	b := path.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// Compressed reports whether a module file must be handed to the kernel
// to decompress (finit_module with MODULE_INIT_COMPRESSED_FILE).
func Compressed(file string) bool {
	return strings.HasSuffix(file, ".xz") || strings.HasSuffix(file, ".zst") || strings.HasSuffix(file, ".gz")
}

// ResolveModules reads modules.dep in a kernel's module directory (for
// example /lib/modules/6.1.0-57-amd64) and returns the files of the named
// modules and everything they depend on, relative to dir, in an order the
// kernel can load them: dependencies first, each once.
func ResolveModules(dir string, names ...string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("guestvm: kernel modules: %w", err)
	}
	defer f.Close()
	deps := map[string][]string{} // module name → its file, then its dependencies' files
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			return nil, fmt.Errorf("guestvm: %s/modules.dep:%d: no colon in %q", dir, line, sc.Text())
		}
		deps[moduleName(file)] = append([]string{file}, strings.Fields(rest)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("guestvm: %s/modules.dep: %w", dir, err)
	}
	var order []string
	done := map[string]bool{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		if done[name] {
			return nil
		}
		for _, c := range chain {
			if c == name {
				return fmt.Errorf("guestvm: modules.dep: dependency cycle %s → %s", strings.Join(chain, " → "), name)
			}
		}
		d, ok := deps[name]
		if !ok {
			return fmt.Errorf("guestvm: module %s is not in %s/modules.dep (is the kernel built with it?)", name, dir)
		}
		for _, dep := range d[1:] {
			if err := visit(moduleName(dep), append(chain, name)); err != nil {
				return err
			}
		}
		done[name] = true
		order = append(order, d[0])
		return nil
	}
	for _, n := range names {
		if err := visit(moduleName(n), nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
