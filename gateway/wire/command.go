package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

// Command authorisation: a command that writes to the car carries an
// HMAC-SHA256, made with a key only the server and that one device know,
// over everything that says what the command does and when; the receiver
// checks it, the times, and that it has not run the id before.
const (
	// CommandKeySize is the length of a device's command key.
	CommandKeySize = 32
	// MaxCommandLifetime bounds expires_ms - issued_ms.
	MaxCommandLifetime = 10 * time.Minute
	// MaxCommandIDLen bounds a command id.
	MaxCommandIDLen = 64
	// commandMAC opens the signed bytes, so a signature made for another
	// purpose with the same key can never pass for a command's.
	commandMAC = "pitwall/v1 command"
)

// Errors a command's receiver branches on; each is wrapped with the
// details.
var (
	ErrUnsigned     = errors.New("wire: the command is not signed")
	ErrSignature    = errors.New("wire: the command's signature does not match")
	ErrCommandTimes = errors.New("wire: the command is not valid now")
	ErrCommandID    = errors.New("wire: bad command id")
)

// NewCommandKey makes a device's random command key.
func NewCommandKey() []byte {
	k := make([]byte, CommandKeySize)
	_, _ = rand.Read(k)
	return k
}

// FormatCommandKey writes a key as the agent reads it: URL-safe base64
// without padding (43 characters).
func FormatCommandKey(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

// ParseCommandKey reads a key written by FormatCommandKey; surrounding
// space (a file's last newline) is ignored.
func ParseCommandKey(s string) ([]byte, error) {
	k, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(k) != CommandKeySize {
		return nil, fmt.Errorf("wire: a command key is %d bytes in URL-safe base64 without padding (43 characters), as `pitwall devices add` prints it", CommandKeySize)
	}
	return k, nil
}

// WritesToCar reports whether a command changes the car itself, and so
// needs a signature, fresh times and an id the agent has not run.
func WritesToCar(c *wirepb.Command) bool {
	_, ok := c.GetAction().(*wirepb.Command_ClearDtcs)
	return ok
}

// ValidCommandID checks a command id: 1 to 64 letters, digits, '-' or '_'.
func ValidCommandID(id string) error { return checkID(ErrCommandID, id, MaxCommandIDLen) }

// commandBytes is what a command's signature covers: commandMAC, the
// device id, the command id, the action's name (the oneof field's name,
// such as "clear_dtcs"), issued_ms and expires_ms in decimal, and the
// action's message in deterministic protobuf; each as a 4-byte big-endian
// length and the bytes.
func commandBytes(device string, c *wirepb.Command) ([]byte, error) {
	m := c.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("action"))
	if fd == nil {
		return nil, fmt.Errorf("%w: a command without an action", ErrPayload)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Get(fd).Message().Interface())
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	var b []byte
	for _, part := range [][]byte{[]byte(commandMAC), []byte(device), []byte(c.GetId()), []byte(fd.Name()),
		strconv.AppendInt(nil, c.GetIssuedMs(), 10), strconv.AppendInt(nil, c.GetExpiresMs(), 10), body} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b, nil
}

// SignCommand sets a command's times (issued now, valid for ttl) and its
// signature with the device's key. The header must name the device.
func SignCommand(key []byte, c *wirepb.Command, now time.Time, ttl time.Duration) error {
	if len(key) != CommandKeySize {
		return fmt.Errorf("wire: a command key of %d bytes, want %d", len(key), CommandKeySize)
	}
	if ttl <= 0 || ttl > MaxCommandLifetime {
		return fmt.Errorf("%w: a lifetime of %v, want up to %v", ErrCommandTimes, ttl, MaxCommandLifetime)
	}
	if err := ValidCommandID(c.GetId()); err != nil {
		return err
	}
	c.IssuedMs, c.ExpiresMs = now.UnixMilli(), now.Add(ttl).UnixMilli()
	b, err := commandBytes(c.GetHeader().GetDeviceId(), c)
	if err != nil {
		return err
	}
	c.Signature = mac(key, b)
	return nil
}

func mac(key, b []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(b)
	return h.Sum(nil)
}

// VerifyCommand checks a command for device as its receiver must before
// running it: the signature with the device's key, then the times
// against now, allowing skew either way for the two clocks. Whether the
// id ran before is the receiver's to remember.
func VerifyCommand(key []byte, device string, c *wirepb.Command, now time.Time, skew time.Duration) error {
	if err := ValidCommandID(c.GetId()); err != nil {
		return err
	}
	if len(c.GetSignature()) == 0 {
		return fmt.Errorf("%w: command %s", ErrUnsigned, c.GetId())
	}
	if len(key) != CommandKeySize {
		return fmt.Errorf("%w: command %s: this receiver has no command key", ErrSignature, c.GetId())
	}
	b, err := commandBytes(device, c)
	if err != nil {
		return err
	}
	if !hmac.Equal(c.GetSignature(), mac(key, b)) {
		return fmt.Errorf("%w: command %s for device %s", ErrSignature, c.GetId(), device)
	}
	issued, expires := time.UnixMilli(c.GetIssuedMs()), time.UnixMilli(c.GetExpiresMs())
	switch {
	case !expires.After(issued) || expires.Sub(issued) > MaxCommandLifetime:
		return fmt.Errorf("%w: command %s is valid from %s to %s; a command lives at most %v", ErrCommandTimes, c.GetId(),
			issued.UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339), MaxCommandLifetime)
	case now.Add(skew).Before(issued):
		return fmt.Errorf("%w: command %s was issued at %s, after this receiver's clock (%s)", ErrCommandTimes, c.GetId(),
			issued.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Add(-skew).After(expires):
		return fmt.Errorf("%w: command %s expired at %s (this receiver's clock says %s)", ErrCommandTimes, c.GetId(),
			expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}
