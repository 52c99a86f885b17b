package diagnosis

import "errors"

var (
	// ErrBadVIN is wrapped by every complaint about a VIN.
	ErrBadVIN = errors.New("bad VIN")
	// ErrBadCode is wrapped by every complaint about a trouble code's form.
	ErrBadCode = errors.New("bad trouble code")
	// ErrNoData: a vehicle with no device, or whose devices never sent a
	// trouble-code report, has nothing to pre-diagnose.
	ErrNoData = errors.New("no data for a pre-diagnosis")
)
