package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/internal/atomicfile"
)

// ErrAlreadyRan: a command id that was run (or claimed) before.
var ErrAlreadyRan = errors.New("edge: the command has run already")

// maxRemembered bounds the ids kept at once. A command lives at most ten
// minutes, so this many writes to one car inside ten minutes is already
// far beyond any use.
const maxRemembered = 1024

// ranCommands remembers the ids of commands that write to the car until
// they expire, in a file of the agent's state directory, so that neither
// a replay nor a restart runs one twice.
type ranCommands struct {
	path string
	mu   sync.Mutex
	ids  map[string]int64 // id → Unix ms after which the id may be forgotten
}

// ranFile is the file beside the spool.
const ranFile = "commands-run.json"

// openRan reads what an earlier run remembered. A file that cannot be
// read is an error: starting without it could run a command twice.
func openRan(dir string) (*ranCommands, error) {
	r := &ranCommands{path: filepath.Join(dir, ranFile), ids: map[string]int64{}}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &r.ids)
	}
	if err != nil {
		return nil, fmt.Errorf("edge: the record of commands run, %s: %w (remove it only when no command sent in the last ten minutes may arrive again)", r.path, err)
	}
	return r, nil
}

// claim records id as run, on disk, before the caller runs it; until
// forget it is refused as ErrAlreadyRan.
func (r *ranCommands) claim(id string, forget, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, until := range r.ids {
		if now.UnixMilli() > until {
			delete(r.ids, k)
		}
	}
	if _, ok := r.ids[id]; ok {
		return fmt.Errorf("%w: command %s was carried out once already; a command that writes to the car runs only once", ErrAlreadyRan, id)
	}
	if len(r.ids) >= maxRemembered {
		return fmt.Errorf("edge: %d commands that write to the car within their lifetime; not running more", len(r.ids))
	}
	r.ids[id] = forget.UnixMilli()
	if err := r.save(); err != nil {
		delete(r.ids, id)
		return fmt.Errorf("edge: cannot remember command %s, so it is not run: %w", id, err)
	}
	return nil
}

// save replaces the file whole and durably.
func (r *ranCommands) save() error {
	b, _ := json.Marshal(r.ids)
	return atomicfile.Write(r.path, b, 0o600)
}
