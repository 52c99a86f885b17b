package pipeline

import "errors"

// ErrHistory wraps a failure to read a car's stored history for a
// rebuild; the car is then left as it was.
var ErrHistory = errors.New("pipeline: reading a car's history")
