// Package ingest is the cloud side's consumer: it subscribes to every
// car's messages (with a shared-subscription group, several servers split
// them), checks each one, writes telemetry to the series store and the
// other messages to the relational store, and only then acknowledges
// them to the broker, so a crash of the server or an outage of the
// database loses nothing the broker was told is safe. It follows each
// device's sequence numbers (gaps, duplicates, restarts) and status, and
// hands what it stored to listeners (the pipeline: rules, alerts,
// verify-the-fix).
package ingest
