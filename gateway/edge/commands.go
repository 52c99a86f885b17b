package edge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/edge/spool"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// onCommand takes a command from the broker and queues it for the session
// that owns the adapter.
func (a *Agent) onCommand(_ mqtt.Client, msg mqtt.Message) {
	m, err := wire.Decode(wire.KindCommand, msg.Payload())
	if err != nil {
		a.fail("command", fmt.Errorf("command on %s: %w", msg.Topic(), err))
		return
	}
	c := m.(*wirepb.Command)
	if c.GetHeader().GetDeviceId() != a.cfg.DeviceID {
		a.reply(c, nil, fmt.Errorf("command for device %q reached %q", c.GetHeader().GetDeviceId(), a.cfg.DeviceID))
		return
	}
	select {
	case a.cmds <- c:
	default:
		a.reply(c, nil, errors.New("the agent is busy with other commands; try again"))
	}
}

// reply records a command's result.
func (a *Agent) reply(c *wirepb.Command, result any, err error) {
	r := &wirepb.CommandResult{Id: c.GetId(), Ok: err == nil}
	if err != nil {
		r.Error = err.Error()
		a.fail("command", fmt.Errorf("command %s: %w", c.GetId(), err))
	}
	if result != nil {
		r.Json, _ = json.Marshal(result)
	}
	_, _ = a.emit(wire.KindCommandResult, spool.Important, func(h *wirepb.Header) wire.Message { r.Header = h; return r })
}

// runCommand carries a command out on the session's adapter.
func (a *Agent) runCommand(ctx context.Context, s *session, c *wirepb.Command) {
	switch x := c.GetAction().(type) {
	case *wirepb.Command_ScanNow:
		r, err := obd.Scan(ctx, s.client)
		a.reply(c, r, err)
	case *wirepb.Command_ReadFreezeFrame:
		frames, err := s.client.FreezeFrames(ctx, byte(x.ReadFreezeFrame.GetFrame()))
		a.reply(c, frames, err)
	case *wirepb.Command_SetPollPlan:
		tiers, err := a.setPlan(x.SetPollPlan)
		a.reply(c, map[string]any{"tiers": tiers}, err)
	case *wirepb.Command_ClearDtcs:
		err := a.checkClearToken(x.ClearDtcs.GetConfirmationToken())
		if err == nil {
			err = s.client.ClearDTCs(ctx, true)
		}
		a.reply(c, nil, err)
		if err == nil {
			s.codes = ""
			s.readCodes(ctx)
		}
	default:
		a.reply(c, nil, errors.New("unknown command"))
	}
}

// checkClearToken guards service 04: only with the configured token.
func (a *Agent) checkClearToken(token string) error {
	if a.clearToken == "" {
		return errors.New("clearing trouble codes is disabled on this agent (no commands.clear_token is configured)")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(a.clearToken)) != 1 {
		return errors.New("the confirmation token is wrong; trouble codes were not cleared")
	}
	return nil
}

// setPlan replaces the poll plan, checked like the configuration, and keeps
// it beside the spool so that it survives a restart.
func (a *Agent) setPlan(p *wirepb.SetPollPlan) ([]TierConfig, error) {
	var tiers []TierConfig
	for _, t := range p.GetTiers() {
		tiers = append(tiers, TierConfig{Hz: t.GetHz(), PIDs: t.GetSignals()})
	}
	c := a.cfg
	c.Poll.Tiers = tiers
	if r := p.GetMaxRequestsPerSecond(); r > 0 {
		c.Poll.MaxRequestsPerSecond = r
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("poll plan refused: %w", err)
	}
	b, _ := json.Marshal(tiers)
	if err := os.WriteFile(filepath.Join(a.cfg.Spool.Dir, "plan.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("saving the poll plan: %w", err)
	}
	a.mu.Lock()
	a.tiers, a.replan = tiers, true
	a.mu.Unlock()
	return tiers, nil
}

// loadPlan takes the poll plan a command set before a restart.
func (a *Agent) loadPlan() {
	b, err := os.ReadFile(filepath.Join(a.cfg.Spool.Dir, "plan.json"))
	if err != nil {
		return
	}
	var tiers []TierConfig
	if json.Unmarshal(b, &tiers) == nil && len(tiers) > 0 {
		c := a.cfg
		c.Poll.Tiers = tiers
		if c.Validate() == nil {
			a.tiers = tiers
		}
	}
}
