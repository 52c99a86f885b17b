package alerting

import (
	"context"
	"encoding/json"
	"fmt"
)

// AppTopic is where an owner's app hears about their cars' alerts.
func AppTopic(owner string) string { return "pitwall/app/v1/" + owner + "/alerts" }

// MQTT publishes each notification (Message, as JSON) to the owner's app
// topic, at QoS 1. Publish is the broker's: the embedded broker's
// Publish, or a client's.
type MQTT struct {
	Publish func(ctx context.Context, topic string, payload []byte) error
}

// Name is "mqtt".
func (m *MQTT) Name() string { return "mqtt" }

// Notify publishes; a device with no owner has no app to tell.
func (m *MQTT) Notify(ctx context.Context, n *Notification) error {
	if n.Recipient.Owner.ID == "" {
		return nil
	}
	b, err := json.Marshal(NewMessage(n))
	if err != nil {
		return err
	}
	if err := m.Publish(ctx, AppTopic(n.Recipient.Owner.ID), b); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	return nil
}

var _ Notifier = (*MQTT)(nil)
