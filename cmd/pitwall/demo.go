package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pitwall-io/pitwall/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[--http ADDR] [--vehicles N] [--speed X] [--data DIR]",
		"Run all of Pitwall in one process with embedded defaults: the MQTT broker, the stores,\n"+
			"the server and its pages, a simulated fleet whose faults develop in the first minute,\n"+
			"and repair shops around Lisbon. Logins are printed at start. Nothing is fetched from\n"+
			"the network.", stdout)
	addr := fs.String("http", "127.0.0.1:8080", "address for the web pages and the API")
	vehicles := fs.Int("vehicles", 12, "simulated cars")
	speed := fs.Float64("speed", 10, "simulated seconds per real second (faults develop faster)")
	dir := fs.String("data", "", "keep the stores in this directory (a temporary one, removed at exit, by default)")
	verbose := fs.Bool("v", false, "log more")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *vehicles < 1 || *vehicles > 5000 {
		return usageError{fmt.Sprintf("--vehicles %d: want 1 to 5000", *vehicles)}
	}
	if *speed < 1 || *speed > 1000 {
		return usageError{fmt.Sprintf("--speed %v: want 1 to 1000", *speed)}
	}
	d, err := demo.Start(ctx, demo.Options{HTTP: *addr, Vehicles: *vehicles, Speed: *speed, Dir: *dir, Log: logger(stderr, *verbose)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Pitwall demo running at %s  (%d simulated cars at %gx speed; Ctrl-C stops it)\n\n", d.URL, *vehicles, *speed)
	fmt.Fprintf(stdout, "Sign in as:\n")
	for _, l := range d.Logins {
		fmt.Fprintf(stdout, "  %-6s %-34s password %s\n", l.Role, l.Email, l.Password)
	}
	fmt.Fprintf(stdout, "\nWithin a minute the owner's first car overheats: open the garage, the alert, its diagnosis,\nthen ask the shops for quotes; sign in as a shop the quote page names to answer. Two earlier\nrepairs show what comes after: their bills, follow-ups, a complaint, and a warranty claim when\nthe family car's fault returns. Data: %s\n", d.Dir())
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	return d.Stop()
}
