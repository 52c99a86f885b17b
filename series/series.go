package series

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Point is one device's signals at one instant.
type Point struct {
	Device string
	// Vehicle, when known, tags the point with the vehicle the device is
	// fitted to.
	Vehicle string
	Time    time.Time // stored to the millisecond
	Fields  []Field
}

// Field is one signal's value in a point.
type Field struct {
	Signal string
	Value  float64
}

// Samples counts the values in points.
func Samples(points []Point) int {
	n := 0
	for _, p := range points {
		n += len(p.Fields)
	}
	return n
}

// Writer stores points durably: when Write returns nil they survive a
// crash of the process and of the engine.
type Writer interface {
	Write(ctx context.Context, points []Point) error
}

// Query asks for signals of one device over a time range.
type Query struct {
	Device  string
	Signals []string
	From    time.Time // inclusive
	To      time.Time // exclusive
	// Step, when set, downsamples: one value per signal and window of
	// Step, the windows aligned to the Unix epoch and stamped with their
	// start.
	Step time.Duration
	// Agg combines a window's values: mean (the default), min, max or last.
	Agg Agg
}

// Agg is how a window's values become one.
type Agg string

// The aggregates a Query may ask for.
const (
	Mean Agg = "mean"
	Min  Agg = "min"
	Max  Agg = "max"
	Last Agg = "last"
)

// Validate checks a query before it reaches an engine.
func (q *Query) Validate() error {
	switch {
	case q.Device == "":
		return fmt.Errorf("%w: no device", ErrQuery)
	case len(q.Signals) == 0:
		return fmt.Errorf("%w: no signals", ErrQuery)
	case !q.From.Before(q.To):
		return fmt.Errorf("%w: the range %v to %v is empty", ErrQuery, q.From, q.To)
	case q.Step < 0 || q.Step > 0 && q.Step < time.Millisecond:
		return fmt.Errorf("%w: step %v: at least 1ms", ErrQuery, q.Step)
	}
	switch q.Agg {
	case "":
		q.Agg = Mean
	case Mean, Min, Max, Last:
	default:
		return fmt.Errorf("%w: aggregate %q: want mean, min, max or last", ErrQuery, q.Agg)
	}
	return nil
}

// Series is one signal's values, oldest first.
type Series struct {
	Signal string
	Values []Value
}

// Value is a signal's value at a time.
type Value struct {
	Time  time.Time
	Value float64
}

// Reader reads stored series.
type Reader interface {
	// Range returns each asked signal that has values in the range, in
	// the order asked.
	Range(ctx context.Context, q Query) ([]Series, error)
	// Latest returns each signal's newest value for a device (signals nil:
	// every signal the device has sent), keyed by signal.
	Latest(ctx context.Context, device string, signals []string) (map[string]Value, error)
	// Before returns each asked signal's last value before t, keyed by
	// signal: where a device's values stood at t.
	Before(ctx context.Context, device string, signals []string, t time.Time) (map[string]Value, error)
	// Count is how many values of all signals a device has in [from, to).
	Count(ctx context.Context, device string, from, to time.Time) (int64, error)
}

// Store is an engine: it writes, reads, and is closed when done.
type Store interface {
	Writer
	Reader
	// Ready reports whether the engine takes writes now.
	Ready(ctx context.Context) error
	// Delete erases every value of a device (its owner removed it).
	Delete(ctx context.Context, device string) error
	Close() error
}

// ErrQuery is a query the engines cannot answer as asked.
var ErrQuery = errors.New("series: bad query")
