//go:build !windows

package fleet

import (
	"syscall"
	"time"
)

// usage is the process's CPU time and peak resident memory so far.
func usage() (cpuSeconds, maxRSSMiB float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), float64(ru.Maxrss) / 1024
}
