package socketcan

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Config says which interface to use and how the car's bus is set up.
type Config struct {
	Interface string
	// Extended selects 29-bit identifiers (ISO 15765-4 protocols 7 and 9).
	Extended bool
	// Bitrate names the bus rate in kbit/s (500 or 250) for reports; the
	// interface itself is configured with ip link.
	Bitrate int
	// P2 is how long to wait for ECUs to begin answering a request; zero
	// leaves isotp's default (100 ms). ISO 15765-4 gives ECUs 50 ms, but a
	// gateway in between, or a simulator on a slow machine, takes longer.
	P2 time.Duration
}

// ParseURL reads socketcan://can0, with optional ?extended=true,
// ?bitrate=250 and ?p2=300ms.
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
		case "p2":
			d, err := time.ParseDuration(v)
			if err != nil || d < 10*time.Millisecond || d > 10*time.Second {
				return Config{}, fmt.Errorf("%w %q: p2=%q; want a duration from 10ms to 10s, such as 300ms", ErrBadURL, raw, v)
			}
			c.P2 = d
		default:
			return Config{}, fmt.Errorf("%w %q: unknown option %q (known: extended, bitrate, p2)", ErrBadURL, raw, k)
		}
	}
	return c, nil
}
