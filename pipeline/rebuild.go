package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/rules"
	"github.com/pitwall-io/pitwall/series"
	"github.com/pitwall-io/pitwall/store"
)

// maxReplayMessages bounds the trouble-code reports and the events one
// rebuild reads of a car.
const maxReplayMessages = 10_000

// rebuild replaces a car's rule state by a replay of its stored history
// and stores what the replay found that no stored alert tells.
//
// The history is read without holding the flow, so that the other cars'
// batches go on meanwhile (a taken partition's cars are rebuilt while
// the server's other partitions flow); if a batch of this car was
// evaluated while its history was read, the history is read again
// holding the flow, so that every batch is either in the replay or
// evaluated on the rebuilt state.
func (p *Pipeline) rebuild(ctx context.Context, device string) error {
	p.flow.Lock()
	gen := p.evaluated[device]
	p.flow.Unlock()
	h, vehicle, err := p.history(ctx, device)
	p.flow.Lock()
	defer p.flow.Unlock()
	if err == nil && p.evaluated[device] != gen {
		h, vehicle, err = p.history(ctx, device)
	}
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrHistory, device, err)
	}
	found := p.d.Rules.Rebuild(device, vehicle, h)
	if len(found) == 0 {
		return nil
	}
	p.log.Info("pipeline: a rebuild found alerts no server had stored", "device", device, "alerts", len(found))
	if err := p.d.Alerts.Receive(ctx, found); err != nil {
		return fmt.Errorf("pipeline: storing the %d alerts a rebuild of %s found: %w", len(found), device, err)
	}
	return nil
}

// history reads what a rebuild of a car replays: the last Horizon of
// input before its newest stored instant, where its values and codes
// stood when that began, and its stored alerts.
func (p *Pipeline) history(ctx context.Context, device string) (rules.History, string, error) {
	var h rules.History
	latest, err := p.d.Series.Latest(ctx, device, nil)
	if err != nil {
		return h, "", fmt.Errorf("latest values: %w", err)
	}
	signals := make([]string, 0, len(latest))
	for s, v := range latest {
		signals = append(signals, s)
		h.Until = later(h.Until, v.Time)
	}
	var codes, events []store.Message
	for _, kind := range []wire.Kind{wire.KindDTC, wire.KindEvent} {
		m, err := p.d.Store.LatestMessage(ctx, device, string(kind))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return h, "", err
		default:
			h.Until = later(h.Until, m.Time)
		}
	}
	stored, err := p.d.Store.Alerts(ctx, device, false, 500)
	if err != nil {
		return h, "", fmt.Errorf("stored alerts: %w", err)
	}
	vehicle := ""
	for _, a := range stored {
		h.Alerts = append(h.Alerts, ruleAlert(a))
		if vehicle == "" {
			vehicle = a.Vehicle
		}
	}
	if h.Until.IsZero() {
		return h, vehicle, nil // nothing stored: the replay restores the alerts alone
	}
	h.From = h.Until.Add(-p.d.Rules.Horizon())
	if len(signals) > 0 {
		before, err := p.d.Series.Before(ctx, device, signals, h.From)
		if err != nil {
			return h, "", fmt.Errorf("values before %v: %w", h.From, err)
		}
		for s, v := range before {
			h.Before = append(h.Before, rules.Sample{Signal: s, Time: v.Time, Value: v.Value})
		}
		got, err := p.d.Series.Range(ctx, series.Query{Device: device, Signals: signals, From: h.From, To: h.Until.Add(time.Millisecond)})
		if err != nil {
			return h, "", fmt.Errorf("values from %v: %w", h.From, err)
		}
		for _, s := range got {
			for _, v := range s.Values {
				h.Samples = append(h.Samples, rules.Sample{Signal: s.Signal, Time: v.Time, Value: v.Value})
			}
		}
	}
	if m, err := p.d.Store.MessageBefore(ctx, device, string(wire.KindDTC), h.From); err == nil {
		codes = append(codes, m)
	} else if !errors.Is(err, store.ErrNotFound) {
		return h, "", err
	}
	more, err := p.d.Store.Messages(ctx, device, string(wire.KindDTC), h.From, maxReplayMessages)
	if err != nil {
		return h, "", err
	}
	codes = append(codes, more...)
	if events, err = p.d.Store.Messages(ctx, device, string(wire.KindEvent), h.From, maxReplayMessages); err != nil {
		return h, "", err
	}
	for _, m := range codes {
		msg, err := wire.Decode(wire.KindDTC, m.Body)
		if err != nil {
			// Stored once valid: a body that no longer decodes is skipped, not fatal.
			p.log.Warn("pipeline: a stored trouble-code report does not decode; the rebuild goes on without it", "device", device, "seq", m.Seq, "err", err)
			continue
		}
		h.Codes = append(h.Codes, ruleCodes(msg.(*wirepb.DTCReport)))
	}
	for _, m := range events {
		msg, err := wire.Decode(wire.KindEvent, m.Body)
		if err != nil {
			p.log.Warn("pipeline: a stored event does not decode; the rebuild goes on without it", "device", device, "seq", m.Seq, "err", err)
			continue
		}
		if ev, ok := ruleEvent(msg.(*wirepb.Event)); ok {
			h.Events = append(h.Events, ev)
		}
	}
	return h, vehicle, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
