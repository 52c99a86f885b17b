package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the relational state in one database.
type Store struct {
	db    *DB
	d     dialect
	name  string // the file, or the URL without its password
	now   func() time.Time
	stmts sync.Map // query text → *sql.Stmt, for the hot read paths
}

// prepared is a statement prepared once and kept: parsing the SQL costs
// more than running the hot queries the pages and the API make.
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if old, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

// Open opens the database dsn names and brings its schema up to date: a
// postgres:// (or postgresql://) URL is PostgreSQL, a file path SQLite
// (created when missing; its directory must exist).
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenPool(ctx, dsn, Pool{})
}

// OpenPool is Open with the connection pool sized by p (zero fields take
// the engine's defaults).
func OpenPool(ctx context.Context, dsn string, p Pool) (*Store, error) {
	engine, err := Engine(dsn)
	if err != nil {
		return nil, err
	}
	p.Defaults(engine)
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%w: pool: %v", ErrInvalid, err)
	}
	var raw *sql.DB
	if engine == Postgres {
		raw, err = openPostgres(ctx, dsn, p)
	} else {
		raw, err = openSQLite(dsn, p)
	}
	if err != nil {
		return nil, err
	}
	d := dialect{engine: engine}
	s := &Store{db: &DB{raw: raw, d: d}, d: d, name: Redact(dsn), now: time.Now}
	if err := s.migrate(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return s, nil
}

// Engine is the engine the store runs on: SQLite or Postgres.
func (s *Store) Engine() string { return s.d.engine }

// String names the database, without a password.
func (s *Store) String() string { return s.name }

// execer is a database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

var (
	_ execer = (*DB)(nil)
	_ execer = (*Tx)(nil)
)

// execOne runs a statement that must change a row: an error names what;
// a statement that changes none returns none.
func execOne(ctx context.Context, db execer, what string, none error, q string, args ...any) error {
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return none
	}
	return nil
}

// collect reads every row of a query with scan; what names the query in
// errors.
func collect[T any](rows *sql.Rows, err error, what string, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	return s.db.Close()
}

// Ready checks that the database answers.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	return nil
}

// migrationLock is the PostgreSQL advisory lock servers starting at
// once take so that one of them migrates and the others wait.
const migrationLock = 0x70697477616c6c // "pitwall"

// migrate applies the migrations not yet applied, each in a transaction.
// On PostgreSQL it holds an advisory lock meanwhile: several servers may
// start together on one database.
func (s *Store) migrate(ctx context.Context) error {
	list, err := readMigrations(migrations)
	if err != nil {
		return err
	}
	var x interface {
		execer
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	} = s.db
	begin := func() (*Tx, error) { return s.db.BeginTx(ctx, nil) }
	if s.d.engine == Postgres {
		conn, err := s.db.raw.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: %s: %w", s.name, err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("store: %s: waiting for another server's migrations: %w", s.name, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck
		c := &Conn{raw: conn, d: s.d}
		x = c
		begin = func() (*Tx, error) { return c.BeginTx(ctx, nil) }
	}
	if _, err := x.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	for _, m := range list {
		var n int
		if err := x.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
			return fmt.Errorf("store: %s: %w", s.name, err)
		}
		if n > 0 {
			continue
		}
		body := m.forEngine(s.d.engine)
		tx, err := begin()
		if err != nil {
			return fmt.Errorf("store: %s: %w", s.name, err)
		}
		if strings.TrimSpace(body) != "" {
			if _, err := tx.raw.ExecContext(ctx, body); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: %s: migration %s: %w", s.name, m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)`, m.version, m.name, s.now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: %s: %w", s.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: %s: migration %s: %w", s.name, m.name, err)
		}
	}
	return nil
}

// migration is one numbered file of migrations/.
type migration struct {
	version int
	name    string
	body    string
}

// readMigrations lists the migrations in order, refusing a file without
// a number and two files with the same one (the second would be taken
// as applied and silently skipped).
func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("store: migration %s has no number", base)
		}
		if other, ok := seen[v]; ok {
			return nil, fmt.Errorf("store: migrations %s and %s have the same number", other, base)
		}
		seen[v] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, body: string(body)})
	}
	return out, nil
}

// forEngine is the migration's text for one engine. The text is one for
// both engines; where an engine genuinely needs its own statements, a
// line "--@ sqlite" or "--@ postgres" starts a part only that engine
// runs, and "--@ all" returns to the shared text.
func (m migration) forEngine(engine string) string {
	var b strings.Builder
	keep := true
	for _, line := range strings.SplitAfter(m.body, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "--@") {
			switch strings.TrimSpace(strings.TrimPrefix(t, "--@")) {
			case "all":
				keep = true
			case engine:
				keep = true
			default:
				keep = false
			}
			continue
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.String()
}

// Version is the newest migration applied.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// newID makes a random id: 16 hex digits.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// bootText stores a 64-bit boot id, which does not fit a signed column, as hex.
func bootText(b uint64) string { return fmt.Sprintf("%016x", b) }

func bootFromText(s string) uint64 {
	b, _ := strconv.ParseUint(s, 16, 64)
	return b
}

// readOne scans the one row a query finds: ErrNotFound naming what when
// there is none.
func readOne[T any](row *sql.Row, scan func(interface{ Scan(...any) error }) (T, error), what string) (T, error) {
	v, err := scan(row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var zero T
		return zero, fmt.Errorf("%w: %s", ErrNotFound, what)
	case err != nil:
		return v, fmt.Errorf("store: %s: %w", what, err)
	}
	return v, nil
}
