package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pitwall-io/pitwall/store"
)

// runStore moves an installation's database.
func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "migrate" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, `usage: pitwall store migrate --from FILE.db --to postgres://USER@HOST:5432/DATABASE

Copies an embedded installation (its SQLite file) into PostgreSQL, so that one or
several servers can run on it. The file is first brought to this version's schema;
the target gets the same schema and every row, in one transaction, and the copy is
kept only when every table counts as many rows on both sides. A target that holds
rows already is refused. Stop the server first: rows written during the copy are
not copied. Give the password with PGPASSWORD or a ~/.pgpass file (PGPASSFILE),
not in the URL.`)
			return flag.ErrHelp
		}
		return usageError{"name what to do: migrate"}
	}
	fs := newFlags("store migrate", "--from FILE.db --to postgres://...", "Copies a SQLite installation into PostgreSQL; see `pitwall store --help`.", stdout)
	from := fs.String("from", "", "the installation's SQLite file")
	to := fs.String("to", "", "the PostgreSQL database, postgres://USER@HOST:PORT/DATABASE")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usageError{"store migrate needs --from FILE.db and --to postgres://..."}
	}
	if e, err := store.Engine(*from); err != nil || e != store.SQLite {
		return usageError{fmt.Sprintf("--from %q: want the SQLite file of an installation", store.Redact(*from))}
	}
	if e, err := store.Engine(*to); err != nil || e != store.Postgres {
		return usageError{fmt.Sprintf("--to %q: want postgres://USER@HOST:PORT/DATABASE", store.Redact(*to))}
	}
	if _, err := os.Stat(*from); err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	src, err := store.Open(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close()
	total := 0
	counts, err := src.CopyTo(ctx, dst, func(c store.TableCount) {
		fmt.Fprintf(stdout, "  %-24s %9d rows\n", c.Table, c.Rows)
	})
	if err != nil {
		return err
	}
	for _, c := range counts {
		total += c.Rows
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables from %s to %s; the counts match\n", total, len(counts), *from, dst)
	return nil
}
