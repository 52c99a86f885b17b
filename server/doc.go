// Package server assembles Pitwall's cloud side in one process: the
// relational store, the series store (InfluxDB or the embedded engine),
// the embedded broker when asked for, the ingest and the pipeline it
// feeds (rules, alerting, verify-the-fix), and the HTTP listener with the
// web API and pages, /metrics, /healthz and /readyz. Run is the one place
// that starts the server's goroutines and waits for them before it
// closes what New opened. `pitwall server` and `pitwall demo` run it.
package server
