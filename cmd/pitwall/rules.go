package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pitwall-io/pitwall/diagnosis"
	"github.com/pitwall-io/pitwall/rules"
)

func runRules(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"name what to do: check FILE... or builtin"}
	}
	switch args[0] {
	case "-h", "--help":
		fmt.Fprintln(stdout, `usage: pitwall rules check FILE...   check rule files: every problem with file:line:column
       pitwall rules builtin         print the built-in rule pack (docs/rules.md explains it)`)
		return flag.ErrHelp
	case "builtin":
		_, err := stdout.Write(rules.BuiltinSource())
		return err
	case "check":
		if len(args) < 2 {
			return usageError{"rules check needs at least one file"}
		}
		kb, err := diagnosis.Builtin()
		if err != nil {
			return err
		}
		bad := 0
		for _, path := range args[1:] {
			set, err := rules.LoadFile(path)
			for _, err := range []error{err, set.CheckSymptoms(kb.SymptomIDs())} {
				var joined interface{ Unwrap() []error }
				switch {
				case err == nil:
				case errors.As(err, &joined):
					for _, e := range joined.Unwrap() {
						fmt.Fprintln(stdout, e)
						bad++
					}
				default:
					fmt.Fprintln(stdout, err)
					bad++
				}
			}
			fmt.Fprintf(stdout, "%s: %d rules loaded, %d inhibit rules\n", path, len(set.Rules), len(set.Inhibits))
		}
		if bad > 0 {
			return fmt.Errorf("rule files with problems: %d found", bad)
		}
		return nil
	}
	return usageError{fmt.Sprintf("unknown rules command %q", args[0])}
}
