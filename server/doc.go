// Package server assembles Pitwall's cloud side in one process: the
// relational store, the series store (InfluxDB or the embedded engine),
// the embedded broker when asked for, the ingest, and the HTTP listener
// with /metrics, /healthz and /readyz. `pitwall server` and `pitwall demo`
// run it.
package server
