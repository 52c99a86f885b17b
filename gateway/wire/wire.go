// Package wire is Pitwall's versioned MQTT contract between the agent in a
// car and the cloud: topics, the protobuf messages of wirepb, signal
// aliases announced in the birth message, sequence numbers and the limits
// a receiver enforces. docs/mqtt.md documents it for integrators.
package wire

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

// Schema is the contract version every header carries.
const Schema = 1

// Prefix opens every topic.
const Prefix = "pitwall/v1/"

// Kind is the last part of a topic: what a message is.
type Kind string

// The kinds of message.
const (
	KindTelemetry     Kind = "telemetry"
	KindDTC           Kind = "dtc"
	KindEvent         Kind = "event"
	KindStatus        Kind = "status"
	KindCommand       Kind = "cmd"
	KindCommandResult Kind = "cmd/result"
)

var kinds = []Kind{KindTelemetry, KindDTC, KindEvent, KindStatus, KindCommand, KindCommandResult}

// Limits a receiver enforces.
const (
	MaxPayload     = 256 << 10 // bytes in one message
	MaxSamples     = 20000     // samples in one telemetry batch
	MaxDeviceIDLen = 64
	// MaxPacket bounds a whole MQTT packet carrying one message: the
	// payload and room for the fixed header (5 bytes), the topic (2 +
	// at most 86 bytes), the packet id and some MQTT 5 properties. A broker
	// refuses larger packets before reading them.
	MaxPacket = MaxPayload + 1<<10
	// MaxStatus bounds a status message (a birth or a last will): the
	// birth of an agent announcing all 346 signals Pitwall knows is 20 KiB
	// (TestStatusBound). A broker keeps one retained per device, so it is
	// bounded tighter than other messages.
	MaxStatus = 64 << 10
)

// Errors a receiver branches on.
var (
	ErrTopic   = errors.New("wire: not a Pitwall topic")
	ErrDevice  = errors.New("wire: bad device id")
	ErrSchema  = errors.New("wire: unsupported schema version")
	ErrPayload = errors.New("wire: malformed payload")
	// ErrNonFinite: a number that is NaN or infinite, or a signal whose
	// scale and offset can make one. Wrapped together with ErrPayload.
	ErrNonFinite = errors.New("wire: a number that is not finite")
	// ErrCode: a trouble code that is not of the form J2012 gives
	// (P, C, B or U, a digit 0-3, three hex digits), or an ECU address
	// that is not hex. Wrapped together with ErrPayload.
	ErrCode = errors.New("wire: malformed trouble code")
)

// Topic is the topic of a device's messages of a kind.
func Topic(device string, k Kind) string { return Prefix + device + "/" + string(k) }

// Filter subscribes to every device's messages of a kind ("+" for all
// devices); with a shared-subscription group, the broker splits them
// between the group's members.
func Filter(k Kind, group string) string {
	f := Prefix + "+/" + string(k)
	if group != "" {
		f = "$share/" + group + "/" + f
	}
	return f
}

// ValidDeviceID checks a device id: 1 to 64 letters, digits, '-' or '_'.
func ValidDeviceID(id string) error { return checkID(ErrDevice, id, MaxDeviceIDLen) }

// checkID checks an id that travels in topics and files: 1 to max ASCII
// letters, digits, '-' or '_'; an error wraps kind.
func checkID(kind error, id string, max int) error {
	if id == "" || len(id) > max {
		return fmt.Errorf("%w %q: 1 to %d characters", kind, id, max)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w %q: only letters, digits, '-' and '_'", kind, id)
		}
	}
	return nil
}

// ParseTopic splits a topic into its device and kind.
func ParseTopic(topic string) (string, Kind, error) {
	rest, ok := strings.CutPrefix(topic, Prefix)
	if !ok {
		return "", "", fmt.Errorf("%w: %q", ErrTopic, topic)
	}
	device, kind, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: %q has no kind", ErrTopic, topic)
	}
	if err := ValidDeviceID(device); err != nil {
		return "", "", err
	}
	for _, k := range kinds {
		if string(k) == kind {
			return device, k, nil
		}
	}
	return "", "", fmt.Errorf("%w: %q: unknown kind %q", ErrTopic, topic, kind)
}

// Message is any wire message; every one has a header.
type Message interface {
	proto.Message
	GetHeader() *wirepb.Header
}

// New returns an empty message of a kind.
func New(k Kind) (Message, error) {
	switch k {
	case KindTelemetry:
		return &wirepb.Telemetry{}, nil
	case KindDTC:
		return &wirepb.DTCReport{}, nil
	case KindEvent:
		return &wirepb.Event{}, nil
	case KindStatus:
		return &wirepb.Status{}, nil
	case KindCommand:
		return &wirepb.Command{}, nil
	case KindCommandResult:
		return &wirepb.CommandResult{}, nil
	}
	return nil, fmt.Errorf("%w: kind %q", ErrTopic, k)
}

// Decode reads a message of a kind and checks what every receiver must:
// the size, the schema version, the header, the device id.
func Decode(k Kind, payload []byte) (Message, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrPayload, len(payload), MaxPayload)
	}
	m, err := New(k)
	if err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPayload, k, err)
	}
	h := m.GetHeader()
	if h == nil {
		return nil, fmt.Errorf("%w: %s without a header", ErrPayload, k)
	}
	if h.GetSchema() != Schema {
		return nil, fmt.Errorf("%w %d (this receiver speaks %d)", ErrSchema, h.GetSchema(), Schema)
	}
	if err := ValidDeviceID(h.GetDeviceId()); err != nil {
		return nil, err
	}
	if t, ok := m.(*wirepb.Telemetry); ok {
		n := len(t.GetAlias())
		if len(t.GetDtMs()) != n || len(t.GetValue()) != n {
			return nil, fmt.Errorf("%w: telemetry columns of %d, %d and %d entries", ErrPayload, n, len(t.GetDtMs()), len(t.GetValue()))
		}
		if n > MaxSamples {
			return nil, fmt.Errorf("%w: %d samples, the limit is %d", ErrPayload, n, MaxSamples)
		}
	}
	if k == KindStatus && len(payload) > MaxStatus {
		return nil, fmt.Errorf("%w: a status of %d bytes, the limit is %d", ErrPayload, len(payload), MaxStatus)
	}
	if err := checkFinite(m.ProtoReflect(), k); err != nil {
		return nil, err
	}
	if r, ok := m.(*wirepb.DTCReport); ok {
		if err := checkCodes(r); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Encode marshals a message.
func Encode(m Message) ([]byte, error) {
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	return b, nil
}

// NewHeader fills a header.
func NewHeader(device string, boot uint64, seq uint64) *wirepb.Header {
	return &wirepb.Header{Schema: Schema, DeviceId: device, BootId: boot, Seq: seq}
}
