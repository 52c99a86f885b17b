package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Engine names the engine a database string chooses: a postgres:// or
// postgresql:// URL is PostgreSQL, anything else without a scheme is a
// SQLite file. Another scheme is an error rather than a file named after
// it.
func Engine(dsn string) (string, error) {
	lower := strings.ToLower(strings.TrimSpace(dsn))
	switch {
	case dsn == "":
		return "", fmt.Errorf("%w: no database given", ErrInvalid)
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, nil
	case strings.HasPrefix(lower, "postgres:"), strings.HasPrefix(lower, "postgresql:"), strings.Contains(lower, "://"):
		return "", fmt.Errorf("%w: %q is neither a postgres:// URL nor a file path", ErrInvalid, Redact(dsn))
	}
	return SQLite, nil
}

// Redact is a database string fit for logs and errors: a URL's password
// is replaced by xxxxx.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		if i := strings.Index(dsn, "://"); i >= 0 {
			if at := strings.LastIndex(dsn, "@"); at > i {
				return dsn[:i+3] + "xxxxx" + dsn[at:]
			}
		}
		return dsn
	}
	return u.Redacted()
}

// Pool sizes the connection pool. Zero values take the engine's
// defaults (see Defaults).
type Pool struct {
	// MaxOpen caps the connections open at once (PostgreSQL 20; SQLite
	// unlimited, since it has one writer at a time anyway).
	MaxOpen int `yaml:"max_open"`
	// MaxIdle is how many connections stay open unused (PostgreSQL 10,
	// SQLite 32: a new SQLite connection parses the whole schema again).
	MaxIdle int `yaml:"max_idle"`
	// MaxLifetime closes a connection after this long (PostgreSQL 30m,
	// so that a fail-over or a pgbouncer restart is picked up; SQLite
	// never).
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// MaxIdleTime closes a connection unused this long (5m; SQLite 10m).
	MaxIdleTime time.Duration `yaml:"max_idle_time"`
	// ConnectTimeout bounds connecting to PostgreSQL (10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// Defaults fills what is zero for the engine.
func (p *Pool) Defaults(engine string) {
	def := Pool{MaxOpen: 20, MaxIdle: 10, MaxLifetime: 30 * time.Minute, MaxIdleTime: 5 * time.Minute, ConnectTimeout: 10 * time.Second}
	if engine == SQLite {
		def = Pool{MaxIdle: 32, MaxIdleTime: 10 * time.Minute}
	}
	if p.MaxOpen == 0 {
		p.MaxOpen = def.MaxOpen
	}
	if p.MaxIdle == 0 {
		p.MaxIdle = def.MaxIdle
	}
	if p.MaxLifetime == 0 {
		p.MaxLifetime = def.MaxLifetime
	}
	if p.MaxIdleTime == 0 {
		p.MaxIdleTime = def.MaxIdleTime
	}
	if p.ConnectTimeout == 0 {
		p.ConnectTimeout = def.ConnectTimeout
	}
}

// Validate refuses sizes no pool can have.
func (p Pool) Validate() error {
	var errs []error
	if p.MaxOpen < 0 || p.MaxOpen > 10000 {
		errs = append(errs, fmt.Errorf("max_open %d: want 0 (the default) to 10000", p.MaxOpen))
	}
	if p.MaxIdle < 0 || p.MaxOpen > 0 && p.MaxIdle > p.MaxOpen {
		errs = append(errs, fmt.Errorf("max_idle %d: want 0 to max_open (%d)", p.MaxIdle, p.MaxOpen))
	}
	for name, d := range map[string]time.Duration{"max_lifetime": p.MaxLifetime, "max_idle_time": p.MaxIdleTime, "connect_timeout": p.ConnectTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v: want a positive duration", name, d))
		}
	}
	return errors.Join(errs...)
}

// dialect is what differs between the engines. Everything else is one
// SQL text: queries are written with ? placeholders, as SQLite takes
// them, and rebound to $1, $2 … for PostgreSQL when they are run.
type dialect struct {
	engine string
}

// rebind turns ? placeholders into $n for PostgreSQL, leaving alone a ?
// inside a string literal, a quoted identifier, a dollar-quoted string
// or a comment. SQLite takes the text as it is.
func (d dialect) rebind(q string) string {
	if d.engine != Postgres || !strings.Contains(q, "?") {
		return q
	}
	return rebindDollar(q)
}

func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := closing(q, i+1, c)
			b.WriteString(q[i:j])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end
		case c == '$':
			// A dollar-quoted string: $$…$$ or $tag$…$tag$.
			if tag, ok := dollarTag(q[i:]); ok {
				end := strings.Index(q[i+len(tag):], tag)
				stop := len(q)
				if end >= 0 {
					stop = i + len(tag) + end + len(tag)
				}
				b.WriteString(q[i:stop])
				i = stop
				continue
			}
			b.WriteByte(c)
			i++
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// closing is the index just past the quote that closes a literal opened
// before start; a doubled quote is an escaped one.
func closing(q string, start int, quote byte) int {
	for i := start; i < len(q); i++ {
		if q[i] == quote {
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(q)
}

// dollarTag reports the $tag$ a dollar-quoted string opens with.
func dollarTag(s string) (string, bool) {
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			return s[:i+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}

// forUpdate locks the rows a SELECT reads until the transaction ends. On
// SQLite every transaction begins IMMEDIATE, holding the one write lock
// from its first statement, so there is nothing more to take.
func (d dialect) forUpdate() string {
	if d.engine == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// skipLocked locks the rows a SELECT reads, passing over those another
// transaction holds: several servers sharing out the same work.
func (d dialect) skipLocked() string {
	if d.engine == Postgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// constraint maps a uniqueness or foreign-key failure to ErrExists or
// ErrNotFound, and a NOT NULL or CHECK failure to ErrInvalid, naming
// what, on either engine.
func constraint(err error, what string) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", ErrExists, what)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %s refers to something that does not exist", ErrNotFound, what)
		case sqlite3.SQLITE_CONSTRAINT_NOTNULL, sqlite3.SQLITE_CONSTRAINT_CHECK:
			return fmt.Errorf("%w: %s: %v", ErrInvalid, what, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", ErrExists, what)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %s refers to something that does not exist", ErrNotFound, what)
		case "23502", "23514": // not_null_violation, check_violation
			return fmt.Errorf("%w: %s: %s", ErrInvalid, what, pe.Message)
		}
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// openSQLite opens a file; its directory must exist.
func openSQLite(path string, p Pool) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: database %s: the directory %s does not exist", ErrInvalid, path, dir)
		}
	}
	// A new database is made readable by its owner only: it holds password
	// and secret hashes, and SQLite gives its -wal and -shm files the
	// database file's mode.
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	// Every transaction takes the write lock when it begins: one that read
	// first and wrote later could find its snapshot stale and fail at once
	// rather than wait its turn.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	// Keep connections: a new SQLite connection parses the whole schema
	// again, which under load costs more than the queries themselves.
	db.SetMaxOpenConns(p.MaxOpen)
	db.SetMaxIdleConns(p.MaxIdle)
	db.SetConnMaxIdleTime(p.MaxIdleTime)
	db.SetConnMaxLifetime(p.MaxLifetime)
	return db, nil
}

// openPostgres connects through pgx's database/sql driver and checks the
// server answers.
func openPostgres(ctx context.Context, dsn string, p Pool) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: database URL %s: %v", ErrInvalid, Redact(dsn), err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = p.ConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "pitwall"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(p.MaxOpen)
	db.SetMaxIdleConns(p.MaxIdle)
	db.SetConnMaxLifetime(p.MaxLifetime)
	db.SetConnMaxIdleTime(p.MaxIdleTime)
	pctx, cancel := context.WithTimeout(ctx, p.ConnectTimeout+time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", Redact(dsn), err)
	}
	return db, nil
}

// DB is the database with the engine's placeholders: the same methods
// as *sql.DB, taking SQL written with ? placeholders.
type DB struct {
	raw *sql.DB
	d   dialect
}

// ExecContext runs a statement.
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.raw.ExecContext(ctx, db.d.rebind(q), args...)
}

// QueryContext runs a query.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.raw.QueryContext(ctx, db.d.rebind(q), args...)
}

// QueryRowContext runs a query of one row.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.raw.QueryRowContext(ctx, db.d.rebind(q), args...)
}

// PrepareContext prepares a statement.
func (db *DB) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return db.raw.PrepareContext(ctx, db.d.rebind(q))
}

// BeginTx begins a transaction.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := db.raw.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{raw: tx, d: db.d}, nil
}

// PingContext checks the database answers.
func (db *DB) PingContext(ctx context.Context) error { return db.raw.PingContext(ctx) }

// Close closes every connection.
func (db *DB) Close() error { return db.raw.Close() }

// Tx is a transaction with the engine's placeholders.
type Tx struct {
	raw *sql.Tx
	d   dialect
}

// ExecContext runs a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.raw.ExecContext(ctx, tx.d.rebind(q), args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.raw.QueryContext(ctx, tx.d.rebind(q), args...)
}

// QueryRowContext runs a query of one row in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.raw.QueryRowContext(ctx, tx.d.rebind(q), args...)
}

// Commit commits the transaction.
func (tx *Tx) Commit() error { return tx.raw.Commit() }

// Rollback abandons the transaction; after Commit it does nothing.
func (tx *Tx) Rollback() error { return tx.raw.Rollback() }

// Conn is one connection of the pool with the engine's placeholders.
type Conn struct {
	raw *sql.Conn
	d   dialect
}

// ExecContext runs a statement on the connection.
func (c *Conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.raw.ExecContext(ctx, c.d.rebind(q), args...)
}

// QueryRowContext runs a query of one row on the connection.
func (c *Conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.raw.QueryRowContext(ctx, c.d.rebind(q), args...)
}

// BeginTx begins a transaction on the connection.
func (c *Conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := c.raw.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Tx{raw: tx, d: c.d}, nil
}

// createPrivate makes an empty file of mode 0600 where none is; an
// existing file is left as it is.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
