// Package adapter opens the OBD transport an adapter URL names: an ELM327
// on a serial port or over TCP, or ISO-TP straight on a SocketCAN
// interface. Commands and the edge agent open adapters through it.
package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/elm327"
	"github.com/pitwall-io/pitwall/obd/isotp"
	"github.com/pitwall-io/pitwall/obd/socketcan"
)

// ErrBadURL: the URL names no adapter Pitwall knows.
var ErrBadURL = errors.New("adapter: bad adapter URL")

// Adapter is an open transport and what is known about the hardware.
type Adapter struct {
	URL       string
	Transport obd.Transport
	// ELM is set for ELM327 adapters, for their identity, quirks and
	// settings.
	ELM   *elm327.Client
	close func() error
}

// Close releases the adapter.
func (a *Adapter) Close() error { return a.close() }

// Describe summarises the adapter for reports.
func (a *Adapter) Describe() map[string]any {
	d := map[string]any{"url": a.URL}
	if a.ELM != nil {
		i := a.ELM.Info()
		d["kind"] = "elm327"
		d["identity"] = i.Identity
		if i.Description != "" {
			d["description"] = i.Description
		}
		if i.Baud > 0 {
			d["baud"] = i.Baud
		}
		d["clone"] = i.Clone
		d["count_suffix"] = i.CountSuffix
		d["headers"] = i.Headers
		if len(i.Quirks) > 0 {
			d["quirks"] = i.Quirks
		}
	} else {
		d["kind"] = "socketcan"
	}
	return d
}

// Option configures how adapters are opened.
type Option func(*options)

type options struct {
	log     *slog.Logger
	elmOpts []elm327.Option
}

// WithLogger passes a logger to the transport.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l; o.elmOpts = append(o.elmOpts, elm327.WithLogger(l)) }
}

// WithELMOptions passes options to an ELM327 client.
func WithELMOptions(opts ...elm327.Option) Option {
	return func(o *options) { o.elmOpts = append(o.elmOpts, opts...) }
}

// Open opens serial://, tcp:// or socketcan:// adapters.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Adapter, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadURL, rawURL, err)
	}
	switch u.Scheme {
	case "serial", "tcp":
		c, err := elm327.Open(ctx, rawURL, o.elmOpts...)
		if err != nil {
			return nil, err
		}
		return &Adapter{URL: rawURL, Transport: c, ELM: c, close: c.Close}, nil
	case "socketcan":
		cfg, err := socketcan.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		t, bus, err := socketcan.OpenOBD(cfg, isotp.OBDOptions{})
		if err != nil {
			return nil, err
		}
		return &Adapter{URL: rawURL, Transport: t, close: bus.Close}, nil
	case "":
		return nil, fmt.Errorf("%w %q: give a scheme: serial:///dev/ttyUSB0, tcp://HOST:PORT or socketcan://can0", ErrBadURL, rawURL)
	default:
		return nil, fmt.Errorf("%w %q: unknown scheme %q; want serial://, tcp:// or socketcan://", ErrBadURL, rawURL, u.Scheme)
	}
}
