package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

// CommandTTL is how long a command the server signs may run: long enough
// for a connected car to get it, short enough that a copy is soon worth
// nothing.
const CommandTTL = 2 * time.Minute

// Errors of sending a command.
var (
	// ErrRevoked: the device was revoked.
	ErrRevoked = errors.New("server: the device is revoked")
	// ErrNoCommandKey: the device was added before command keys existed;
	// rotating its credentials gives it one.
	ErrNoCommandKey = errors.New("server: the device has no command key; rotate its credentials (pitwall devices rotate) and give it the new key")
)

// RevokeDevice revokes a device in the store and, with the embedded
// broker, refuses its publishes and cuts its session at once; this
// server's ingest refuses its messages at once too. (Another server on
// the same database cuts it within its embedded_broker.revocation_check,
// and every ingest refuses its messages within ingest.RevocationCheck,
// whatever the broker: Mosquitto needs a new export to refuse the login,
// a NATS cluster ends the session when the device's login expires.)
func (s *Server) RevokeDevice(ctx context.Context, id string) error {
	if err := s.Store.RevokeDevice(ctx, id); err != nil {
		return err
	}
	s.Ingest.Revoked(id)
	if s.Broker != nil {
		s.Broker.Revoked(id)
	}
	return nil
}

// ClearTroubleCodes sends a device the signed, once-only command to clear
// its car's trouble codes (service 04), and returns the command's id; the
// result arrives from the car as a cmd/result message with that id.
func (s *Server) ClearTroubleCodes(ctx context.Context, device string) (string, error) {
	return s.SendCommand(ctx, device, &wirepb.Command{Action: &wirepb.Command_ClearDtcs{ClearDtcs: &wirepb.ClearDTCs{}}})
}

// SendCommand sends a command with its action set: the server gives it a
// new id, its header and times, signs it with the device's key, and
// publishes it (never retained) through the embedded broker or the
// ingest's broker connection. It returns the id.
func (s *Server) SendCommand(ctx context.Context, device string, c *wirepb.Command) (string, error) {
	d, err := s.Store.Device(ctx, device)
	if err != nil {
		return "", err
	}
	if !d.Active() {
		return "", fmt.Errorf("%w: %s", ErrRevoked, device)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	c.Id = "c-" + hex.EncodeToString(b[:])
	c.Header = wire.NewHeader(device, s.commandBoot, s.commandSeq.Add(1))
	switch {
	case len(d.CommandKey) > 0:
		if err := wire.SignCommand(d.CommandKey, c, time.Now(), CommandTTL); err != nil {
			return "", err
		}
	case wire.WritesToCar(c):
		return "", fmt.Errorf("%w (device %s)", ErrNoCommandKey, device)
	}
	payload, err := wire.Encode(c)
	if err != nil {
		return "", err
	}
	topic := wire.Topic(device, wire.KindCommand)
	if s.Broker != nil {
		err = s.Broker.Publish(topic, payload, false)
	} else {
		err = s.Ingest.Publish(ctx, topic, payload)
	}
	if err != nil {
		return "", fmt.Errorf("server: sending command %s to %s: %w", c.Id, device, err)
	}
	s.log.Info("command sent", "device", device, "id", c.Id, "writes_to_car", wire.WritesToCar(c))
	return c.Id, nil
}
