package series

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// Embedded is the embedded engine: one SQLite file (pure Go, no cgo), in
// WAL mode with full sync, so a point is on disk when Write returns.
//
// Why SQLite: the server already keeps its relational state in SQLite, so
// the demo and single-car installs need one engine, one backup story and
// one file format; it is crash-safe, its B-tree keyed by (device, signal,
// time) makes a rewrite of the same sample an overwrite and a range read a
// single index walk, and downsampling is a GROUP BY. Its limit is one
// writer at a time, which a few hundred cars never reach; fleets use
// InfluxDB.
type Embedded struct {
	db        *sql.DB
	path      string
	log       *slog.Logger
	retention time.Duration

	mu      sync.Mutex // one writer at a time; guards the id caches
	signals map[string]int64
	devices map[string]int64

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// EmbeddedOptions configure the embedded engine.
type EmbeddedOptions struct {
	Path string // the database file; created if missing
	// Retention drops values older than this, hourly (0 keeps all).
	Retention time.Duration
	Log       *slog.Logger
}

const embeddedSchema = `
CREATE TABLE IF NOT EXISTS series_signals (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS series_devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, vehicle TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS series_samples (
	device INTEGER NOT NULL,
	signal INTEGER NOT NULL,
	t      INTEGER NOT NULL, -- Unix milliseconds
	value  REAL NOT NULL,
	PRIMARY KEY (device, signal, t)
) WITHOUT ROWID;
`

// Delete erases every value of a device.
func (e *Embedded) Delete(ctx context.Context, device string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.db.ExecContext(ctx, `DELETE FROM series_samples WHERE device = (SELECT id FROM series_devices WHERE name = ?)`, device); err != nil {
		return fmt.Errorf("series: deleting device %s: %w", device, err)
	}
	return nil
}

// OpenEmbedded opens or creates the embedded engine's file.
func OpenEmbedded(opt EmbeddedOptions) (*Embedded, error) {
	if opt.Path == "" {
		return nil, errors.New("series: the embedded engine needs a file path")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	// A new file is the owner's alone (SQLite gives its -wal and -shm
	// files the same mode).
	if f, err := os.OpenFile(opt.Path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("series: %s: %w", opt.Path, err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+opt.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("series: opening %s: %w", opt.Path, err)
	}
	// Keep connections: a new SQLite connection parses the whole schema
	// again, which under load costs more than the queries themselves.
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(10 * time.Minute)
	if _, err := db.Exec(embeddedSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("series: preparing %s: %w", opt.Path, err)
	}
	e := &Embedded{db: db, path: opt.Path, log: opt.Log, retention: opt.Retention,
		signals: map[string]int64{}, devices: map[string]int64{}, stop: make(chan struct{})}
	if opt.Retention > 0 {
		e.wg.Add(1)
		go e.expire()
	}
	return e, nil
}

// Write stores points in one transaction.
func (e *Embedded) Write(ctx context.Context, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("series: %s: %w", e.path, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	ins, err := tx.PrepareContext(ctx, `INSERT INTO series_samples (device, signal, t, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (device, signal, t) DO UPDATE SET value = excluded.value`)
	if err != nil {
		return fmt.Errorf("series: %s: %w", e.path, err)
	}
	defer ins.Close()
	// New names are added in the transaction; the caches learn them only
	// once it commits.
	newSignals, newDevices := map[string]int64{}, map[string]int64{}
	for _, p := range points {
		dev, err := e.id(ctx, tx, "series_devices", p.Device, e.devices, newDevices)
		if err != nil {
			return err
		}
		if p.Vehicle != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE series_devices SET vehicle = ? WHERE id = ? AND vehicle <> ?`, p.Vehicle, dev, p.Vehicle); err != nil {
				return fmt.Errorf("series: %s: %w", e.path, err)
			}
		}
		t := p.Time.UnixMilli()
		for _, f := range p.Fields {
			sig, err := e.id(ctx, tx, "series_signals", f.Signal, e.signals, newSignals)
			if err != nil {
				return err
			}
			if _, err := ins.ExecContext(ctx, dev, sig, t, f.Value); err != nil {
				return fmt.Errorf("series: %s: writing %s %s: %w", e.path, p.Device, f.Signal, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("series: %s: %w", e.path, err)
	}
	for k, v := range newSignals {
		e.signals[k] = v
	}
	for k, v := range newDevices {
		e.devices[k] = v
	}
	return nil
}

// id finds or creates a name's row id in a name table.
func (e *Embedded) id(ctx context.Context, tx *sql.Tx, table, name string, cache, fresh map[string]int64) (int64, error) {
	if id, ok := cache[name]; ok {
		return id, nil
	}
	if id, ok := fresh[name]; ok {
		return id, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO `+table+` (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("series: %s: %s %q: %w", e.path, table, name, err)
	}
	fresh[name] = id
	return id, nil
}

// lookup finds a name's id without creating it.
func (e *Embedded) lookup(ctx context.Context, table, name string) (int64, bool, error) {
	var id int64
	err := e.db.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("series: %s: %w", e.path, err)
	}
	return id, true, nil
}

// Range reads signals of a device, downsampled when q.Step is set.
func (e *Embedded) Range(ctx context.Context, q Query) ([]Series, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	dev, ok, err := e.lookup(ctx, "series_devices", q.Device)
	if err != nil || !ok {
		return nil, err
	}
	var out []Series
	for _, name := range q.Signals {
		sig, ok, err := e.lookup(ctx, "series_signals", name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var rows *sql.Rows
		from, to := q.From.UnixMilli(), q.To.UnixMilli()
		if q.Step == 0 {
			rows, err = e.db.QueryContext(ctx, `SELECT t, value FROM series_samples
				WHERE device = ? AND signal = ? AND t >= ? AND t < ? ORDER BY t`, dev, sig, from, to)
		} else {
			agg := map[Agg]string{Mean: "avg(value)", Min: "min(value)", Max: "max(value)", Last: "value"}[q.Agg]
			extra := ""
			if q.Agg == Last {
				extra = ", max(t)" // SQLite takes the bare column from the row holding the max
			}
			step := q.Step.Milliseconds()
			rows, err = e.db.QueryContext(ctx, `SELECT t - (t % ?) AS w, `+agg+extra+` FROM series_samples
				WHERE device = ? AND signal = ? AND t >= ? AND t < ? GROUP BY w ORDER BY w`, step, dev, sig, from, to)
		}
		if err != nil {
			return nil, fmt.Errorf("series: %s: %w", e.path, err)
		}
		s := Series{Signal: name}
		for rows.Next() {
			var t int64
			var v float64
			dest := []any{&t, &v}
			if q.Step != 0 && q.Agg == Last {
				var maxT int64
				dest = append(dest, &maxT)
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("series: %s: %w", e.path, err)
			}
			s.Values = append(s.Values, Value{Time: time.UnixMilli(t).UTC(), Value: v})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("series: %s: %w", e.path, err)
		}
		if len(s.Values) > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// Latest returns each signal's newest value: one index probe per signal.
func (e *Embedded) Latest(ctx context.Context, device string, signals []string) (map[string]Value, error) {
	dev, ok, err := e.lookup(ctx, "series_devices", device)
	if err != nil || !ok {
		return map[string]Value{}, err
	}
	type sig struct {
		id   int64
		name string
	}
	var sigs []sig
	if signals == nil {
		// Walk the device's distinct signals through the index, one probe
		// each, rather than scanning its rows.
		for last := int64(-1); ; {
			var id int64
			err := e.db.QueryRowContext(ctx, `SELECT signal FROM series_samples WHERE device = ? AND signal > ? ORDER BY signal LIMIT 1`, dev, last).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("series: %s: %w", e.path, err)
			}
			var name string
			if err := e.db.QueryRowContext(ctx, `SELECT name FROM series_signals WHERE id = ?`, id).Scan(&name); err != nil {
				return nil, fmt.Errorf("series: %s: %w", e.path, err)
			}
			sigs = append(sigs, sig{id, name})
			last = id
		}
	} else {
		for _, name := range signals {
			id, ok, err := e.lookup(ctx, "series_signals", name)
			if err != nil {
				return nil, err
			}
			if ok {
				sigs = append(sigs, sig{id, name})
			}
		}
	}
	out := map[string]Value{}
	for _, s := range sigs {
		var t int64
		var v float64
		err := e.db.QueryRowContext(ctx, `SELECT t, value FROM series_samples WHERE device = ? AND signal = ? ORDER BY t DESC LIMIT 1`, dev, s.id).Scan(&t, &v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("series: %s: %w", e.path, err)
		}
		out[s.name] = Value{Time: time.UnixMilli(t).UTC(), Value: v}
	}
	return out, nil
}

// Before returns each signal's last value before t: one index probe per
// signal.
func (e *Embedded) Before(ctx context.Context, device string, signals []string, t time.Time) (map[string]Value, error) {
	out := map[string]Value{}
	dev, ok, err := e.lookup(ctx, "series_devices", device)
	if err != nil || !ok {
		return out, err
	}
	for _, name := range signals {
		sig, ok, err := e.lookup(ctx, "series_signals", name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		var ms int64
		var v float64
		err = e.db.QueryRowContext(ctx, `SELECT t, value FROM series_samples WHERE device = ? AND signal = ? AND t < ? ORDER BY t DESC LIMIT 1`,
			dev, sig, t.UnixMilli()).Scan(&ms, &v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("series: %s: %w", e.path, err)
		}
		out[name] = Value{Time: time.UnixMilli(ms).UTC(), Value: v}
	}
	return out, nil
}

// Count counts a device's values in a time range.
func (e *Embedded) Count(ctx context.Context, device string, from, to time.Time) (int64, error) {
	dev, ok, err := e.lookup(ctx, "series_devices", device)
	if err != nil || !ok {
		return 0, err
	}
	var n int64
	err = e.db.QueryRowContext(ctx, `SELECT count(*) FROM series_samples WHERE device = ? AND t >= ? AND t < ?`, dev, from.UnixMilli(), to.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("series: %s: %w", e.path, err)
	}
	return n, nil
}

// Ready checks that the file answers.
func (e *Embedded) Ready(ctx context.Context) error {
	if err := e.db.PingContext(ctx); err != nil {
		return fmt.Errorf("series: %s: %w", e.path, err)
	}
	return nil
}

// expire deletes values past the retention, hourly.
func (e *Embedded) expire() {
	defer e.wg.Done()
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		cutoff := time.Now().Add(-e.retention).UnixMilli()
		e.mu.Lock()
		res, err := e.db.Exec(`DELETE FROM series_samples WHERE t < ?`, cutoff)
		e.mu.Unlock()
		if err != nil {
			e.log.Warn("series: expiring old values", "err", err)
		} else if n, _ := res.RowsAffected(); n > 0 {
			e.log.Info("series: expired old values", "values", n, "older_than", e.retention)
		}
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
	}
}

// Close closes the file; it is safe to call twice.
func (e *Embedded) Close() error {
	var err error
	e.once.Do(func() {
		close(e.stop)
		e.wg.Wait()
		err = e.db.Close()
	})
	return err
}

var _ Store = (*Embedded)(nil)
