module github.com/pitwall-io/pitwall

go 1.26.8

require (
	github.com/go-daq/canbus v0.2.0 // indirect
	go.bug.st/serial v1.8.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
)
