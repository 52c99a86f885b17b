package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// ErrNotEmpty is a copy into a database that already holds rows.
var ErrNotEmpty = errors.New("store: the target database is not empty")

// TableCount is how many rows a table holds.
type TableCount struct {
	Table string
	Rows  int
}

// copyBatch is how many rows one INSERT carries.
const copyBatch = 200

// CopyTo copies every row of this store (a SQLite installation) into to,
// a PostgreSQL database with no rows yet, in one transaction: tables in
// the order their foreign keys need, each value converted to the column's
// type. Before committing it checks that every table holds as many rows
// as here; a target with rows already, or at another schema version, is
// refused. progress, when set, hears of each table copied.
func (s *Store) CopyTo(ctx context.Context, to *Store, progress func(TableCount)) ([]TableCount, error) {
	if to.d.engine != Postgres {
		return nil, fmt.Errorf("%w: the target must be a PostgreSQL database", ErrInvalid)
	}
	vf, err := s.Version(ctx)
	if err != nil {
		return nil, err
	}
	vt, err := to.Version(ctx)
	if err != nil {
		return nil, err
	}
	if vf != vt {
		return nil, fmt.Errorf("%w: the source is at schema version %d, the target at %d", ErrInvalid, vf, vt)
	}
	tables, err := to.tablesInOrder(ctx)
	if err != nil {
		return nil, err
	}
	var full []string
	for _, t := range tables {
		n, err := count(ctx, to.db, t.name)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			full = append(full, fmt.Sprintf("%s (%d rows)", t.name, n))
		}
	}
	if len(full) > 0 {
		return nil, fmt.Errorf("%w: %s holds %s", ErrNotEmpty, to.name, strings.Join(full, ", "))
	}
	tx, err := to.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	var out []TableCount
	for _, t := range tables {
		n, err := s.copyTable(ctx, tx, t)
		if err != nil {
			return nil, err
		}
		var got int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&got); err != nil {
			return nil, fmt.Errorf("store: counting %s: %w", t.name, err)
		}
		want, err := count(ctx, s.db, t.name)
		if err != nil {
			return nil, err
		}
		if got != want || n != want {
			return nil, fmt.Errorf("store: %s: copied %d rows, the target holds %d, the source %d; nothing was kept", t.name, n, got, want)
		}
		c := TableCount{Table: t.name, Rows: got}
		out = append(out, c)
		if progress != nil {
			progress(c)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

func count(ctx context.Context, db *DB, table string) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: counting %s: %w", table, err)
	}
	return n, nil
}

// table is a table of the PostgreSQL schema: its columns and their types.
type table struct {
	name  string
	cols  []string
	types []string // information_schema data_type: bigint, text, bytea, ...
}

// tablesInOrder lists the schema's tables (but the migrations' own) so
// that every table comes after those its foreign keys refer to.
func (s *Store) tablesInOrder(ctx context.Context) ([]table, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("store: reading the schema: %w", err)
	}
	byName := map[string]*table{}
	var names []string
	for rows.Next() {
		var tn, cn, dt string
		if err := rows.Scan(&tn, &cn, &dt); err != nil {
			rows.Close()
			return nil, err
		}
		t := byName[tn]
		if t == nil {
			t = &table{name: tn}
			byName[tn] = t
			names = append(names, tn)
		}
		t.cols, t.types = append(t.cols, cn), append(t.types, dt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	rows, err = s.db.QueryContext(ctx, `SELECT c.relname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
		WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, fmt.Errorf("store: reading foreign keys: %w", err)
	}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			rows.Close()
			return nil, err
		}
		if child != parent {
			deps[child] = append(deps[child], parent)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []table
	done := map[string]bool{}
	visiting := map[string]bool{}
	var visit func(n string) error
	visit = func(n string) error {
		if done[n] {
			return nil
		}
		if visiting[n] {
			return fmt.Errorf("store: the foreign keys of %s go round in a circle", n)
		}
		visiting[n] = true
		for _, p := range deps[n] {
			if byName[p] != nil {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		done[n] = true
		out = append(out, *byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// copyTable copies one table's rows into tx, in batches.
func (s *Store) copyTable(ctx context.Context, tx *Tx, t table) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+strings.Join(t.cols, ", ")+` FROM `+t.name)
	if err != nil {
		return 0, fmt.Errorf("store: reading %s: %w", t.name, err)
	}
	defer rows.Close()
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	var args []any
	n, pending := 0, 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		q := `INSERT INTO ` + t.name + ` (` + strings.Join(t.cols, ", ") + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", pending), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("store: copying %s (rows %d to %d): %w", t.name, n-pending+1, n, err)
		}
		args, pending = args[:0], 0
		return nil
	}
	vals := make([]any, len(t.cols))
	ptrs := make([]any, len(t.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("store: reading %s: %w", t.name, err)
		}
		for i, v := range vals {
			c, err := convert(v, t.types[i])
			if err != nil {
				return 0, fmt.Errorf("store: %s.%s, row %d: %w", t.name, t.cols[i], n+1, err)
			}
			args = append(args, c)
		}
		n++
		pending++
		if pending == copyBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: reading %s: %w", t.name, err)
	}
	return n, flush()
}

// convert makes a value SQLite returned fit a PostgreSQL column: SQLite
// keeps what it was given whatever the declared type, so an integer may
// sit in a DOUBLE PRECISION column and text in a BYTEA one.
func convert(v any, pgType string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch pgType {
	case "double precision", "real", "numeric":
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		}
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("%v is not a whole number", x)
			}
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case int64, float64:
			return fmt.Sprint(x), nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	default:
		return v, nil
	}
	return nil, fmt.Errorf("a %T value does not fit a %s column", v, pgType)
}
