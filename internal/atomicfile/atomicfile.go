// Package atomicfile replaces small files whole: a reader, or a crash at
// any point, sees the old content or the new one, never a mix, and the file
// never exists with a mode wider than asked for, not even for a moment.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with b at mode perm: written to a temporary file in the
// same directory (created with perm before any byte is written), synced,
// renamed over path, and the directory synced so the rename survives a power
// cut. On any error path is left as it was and the temporary file is removed.
func Write(path string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("writing %s: syncing its directory: %w", path, err)
		}
	}
	return nil
}
