package fleet

// usage is not measured on Windows.
func usage() (cpuSeconds, maxRSSMiB float64) { return 0, 0 }
