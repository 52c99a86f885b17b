package store

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// ? becomes $n outside literals, quoted names, dollar quotes and
// comments; SQLite keeps the text.
func TestRebind(t *testing.T) {
	for _, c := range [][2]string{
		{`SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{`SELECT '?', 'it''s ?', ? FROM t`, `SELECT '?', 'it''s ?', $1 FROM t`},
		{`SELECT "odd?name" FROM t WHERE x = ?`, `SELECT "odd?name" FROM t WHERE x = $1`},
		{"SELECT 1 -- is it?\nWHERE x = ?", "SELECT 1 -- is it?\nWHERE x = $1"},
		{`SELECT /* ? */ ? /* ?`, `SELECT /* ? */ $1 /* ?`},
		{`SELECT $$ ? $$, $tag$ ? $tag$, ?`, `SELECT $$ ? $$, $tag$ ? $tag$, $1`},
		{`SELECT $1`, `SELECT $1`},
		{`INSERT INTO t VALUES (?, ?), (?, ?)`, `INSERT INTO t VALUES ($1, $2), ($3, $4)`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := (dialect{engine: Postgres}).rebind(c[0]); got != c[1] {
			t.Errorf("%q: %q, want %q", c[0], got, c[1])
		}
		if got := (dialect{engine: SQLite}).rebind(c[0]); got != c[0] {
			t.Errorf("SQLite changed %q to %q", c[0], got)
		}
	}
}

func FuzzRebind(f *testing.F) {
	for _, s := range []string{`SELECT ? FROM t WHERE a = '?' AND b = ?`, "-- ?\n?", `$a$ ? $a$ ?`, `"?"?`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := rebindDollar(q)
		// Outside quotes nothing but the placeholders changes: taking every
		// $n back to ? gives the text again when it had no $ digits.
		if !strings.ContainsAny(q, "$0123456789") {
			back := got
			for i := strings.Count(got, "$"); i >= 1; i-- {
				back = strings.ReplaceAll(back, "$"+itoa(i), "?")
			}
			if back != q {
				t.Fatalf("%q became %q", q, got)
			}
		}
	})
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestEngine(t *testing.T) {
	for dsn, want := range map[string]string{
		"/var/lib/pitwall/pitwall.db":           SQLite,
		"pitwall.db":                            SQLite,
		"postgres://u@h/db":                     Postgres,
		"POSTGRESQL://u@h:5432/db?sslmode=none": Postgres,
		"postgress://u@h/db":                    "",
		"mysql://u:p@h/db":                      "",
		"postgres:/u@h/db":                      "",
		"":                                      "",
	} {
		got, err := Engine(dsn)
		if got != want || (want == "") != errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %q, %v; want %q", dsn, got, err, want)
		}
	}
	if got := Redact("postgres://pitwall:hunter2@db:5432/p?sslmode=verify-full"); strings.Contains(got, "hunter2") || !strings.Contains(got, "pitwall:xxxxx@db:5432") {
		t.Errorf("redacted: %s", got)
	}
	if got := Redact("mysql://u:hunter2@%zz/db"); strings.Contains(got, "hunter2") {
		t.Errorf("an unparsable URL redacted: %s", got)
	}
}

// One migration text, with a part for each engine where needed; two
// files of one number are refused.
func TestMigrationParts(t *testing.T) {
	m := migration{body: "CREATE TABLE a (x INTEGER);\n--@ sqlite\nUPDATE a SET x = rowid;\n--@ postgres\nUPDATE a SET x = 1;\n--@ all\nCREATE INDEX a_x ON a (x);\n"}
	if got := m.forEngine(SQLite); got != "CREATE TABLE a (x INTEGER);\nUPDATE a SET x = rowid;\nCREATE INDEX a_x ON a (x);\n" {
		t.Errorf("sqlite: %q", got)
	}
	if got := m.forEngine(Postgres); got != "CREATE TABLE a (x INTEGER);\nUPDATE a SET x = 1;\nCREATE INDEX a_x ON a (x);\n" {
		t.Errorf("postgres: %q", got)
	}
	_, err := readMigrations(fstest.MapFS{"migrations/0006_a.sql": {Data: []byte("SELECT 1;")}, "migrations/0006_b.sql": {Data: []byte("SELECT 2;")}})
	if err == nil || !strings.Contains(err.Error(), "0006_a.sql and 0006_b.sql have the same number") {
		t.Errorf("two migrations of one number: %v", err)
	}
	if _, err := readMigrations(fstest.MapFS{"migrations/init.sql": {Data: []byte("SELECT 1;")}}); err == nil {
		t.Error("a migration without a number was taken")
	}
}

func TestPool(t *testing.T) {
	var p Pool
	p.Defaults(Postgres)
	if p.MaxOpen != 20 || p.MaxIdle != 10 || p.Validate() != nil {
		t.Errorf("postgres defaults %+v, %v", p, p.Validate())
	}
	if err := (Pool{MaxOpen: 5, MaxIdle: 6}).Validate(); err == nil {
		t.Error("more idle connections than open ones")
	}
	if err := (Pool{MaxOpen: -1}).Validate(); err == nil {
		t.Error("a negative pool")
	}
}
