package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/pitwall-io/pitwall/gateway/edge/spool"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
	"github.com/pitwall-io/pitwall/obd"
)

// onCommand takes a command from the broker and queues it for the session
// that owns the adapter. A retained command is refused: Pitwall never
// retains commands, so one is an old copy a broker kept.
func (a *Agent) onCommand(_ mqtt.Client, msg mqtt.Message) {
	m, err := wire.Decode(wire.KindCommand, msg.Payload())
	if err != nil {
		a.fail("command", fmt.Errorf("command on %s: %w", msg.Topic(), err))
		return
	}
	c := m.(*wirepb.Command)
	if c.GetHeader().GetDeviceId() != a.cfg.DeviceID {
		a.refuse(c, fmt.Errorf("%w: the command is for device %q, this is %q", errRefused, c.GetHeader().GetDeviceId(), a.cfg.DeviceID))
		return
	}
	if msg.Retained() {
		a.refuse(c, fmt.Errorf("%w: the command came as a retained message, an old copy a broker kept; commands are never retained", errRefused))
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

// refuse answers a command the agent will not run.
func (a *Agent) refuse(c *wirepb.Command, err error) {
	a.reply(c, nil, fmt.Errorf("%w; the car was not touched", err))
}

// runCommand carries a command out on the session's adapter.
func (a *Agent) runCommand(ctx context.Context, s *session, c *wirepb.Command) {
	if wire.WritesToCar(c) {
		if err := a.authorise(c); err != nil {
			a.refuse(c, err)
			return
		}
	}
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
		err := s.client.ClearDTCs(ctx, true)
		a.reply(c, nil, err)
		if err == nil {
			s.codes = ""
			s.readCodes(ctx)
		}
	default:
		a.reply(c, nil, errors.New("unknown command"))
	}
}

// errRefused opens the error of every command the agent will not run.
var errRefused = errors.New("refused")

// clockSkew is how far the agent's clock and the server's may differ for a
// command's times.
const clockSkew = time.Minute

// authorise lets a command that writes to the car run: signed with this
// device's key, within its times, and an id never run before, which is
// remembered (on disk, before the command runs) until it expires.
func (a *Agent) authorise(c *wirepb.Command) error {
	if len(a.cmdKey) == 0 {
		return fmt.Errorf("%w: commands that write to the car are disabled on this agent: it has no command key (commands.key_file, or %s)", errRefused, CommandKeyEnv)
	}
	now := a.now()
	if err := wire.VerifyCommand(a.cmdKey, a.cfg.DeviceID, c, now, clockSkew); err != nil {
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	if err := a.ran.claim(c.GetId(), time.UnixMilli(c.GetExpiresMs()).Add(clockSkew), now); err != nil {
		return fmt.Errorf("%w: %w", errRefused, err)
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
