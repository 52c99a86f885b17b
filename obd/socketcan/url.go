package socketcan

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// ErrBadURL: the address could not be understood.
var ErrBadURL = errors.New("socketcan: bad adapter URL")

// ErrUnsupported: SocketCAN exists only on Linux.
var ErrUnsupported = errors.New("socketcan: SocketCAN needs Linux")

// Config says which interface to use and how the car's bus is set up.
type Config struct {
	Interface string
	// Extended selects 29-bit identifiers (ISO 15765-4 protocols 7 and 9).
	Extended bool
	// Bitrate names the bus rate in kbit/s (500 or 250) for reports; the
	// interface itself is configured with ip link.
	Bitrate int
}

// ParseURL reads socketcan://can0, with optional ?extended=true and
// ?bitrate=250.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "socketcan" || u.Host == "" || u.Path != "" {
		return Config{}, fmt.Errorf("%w %q: want socketcan://IFACE, e.g. socketcan://can0", ErrBadURL, raw)
	}
	c := Config{Interface: u.Host, Bitrate: 500}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "extended":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("%w %q: extended=%q is not true or false", ErrBadURL, raw, v)
			}
			c.Extended = b
		case "bitrate":
			n, err := strconv.Atoi(v)
			if err != nil || (n != 250 && n != 500) {
				return Config{}, fmt.Errorf("%w %q: bitrate=%q; OBD runs at 500 or 250 kbit/s", ErrBadURL, raw, v)
			}
			c.Bitrate = n
		default:
			return Config{}, fmt.Errorf("%w %q: unknown option %q (known: extended, bitrate)", ErrBadURL, raw, k)
		}
	}
	return c, nil
}
