package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pitwall-io/pitwall/store"
)

// openExisting opens the database the server made: a tool never creates
// one, so a mistyped --db is an error, not a new empty file.
func openExisting(ctx context.Context, db string) (*store.Store, error) {
	e, err := store.Engine(db)
	if err != nil {
		return nil, err
	}
	if e == store.SQLite {
		if _, err := os.Stat(db); err != nil {
			return nil, fmt.Errorf("database %s: %w (give --db; `pitwall server` creates the database on its first start)", db, err)
		}
	}
	return store.Open(ctx, db)
}
