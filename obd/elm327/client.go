package elm327

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitwall-io/pitwall/obd"
	"github.com/pitwall-io/pitwall/obd/isotp"
)

// Info is what the client learned about the adapter.
type Info struct {
	Identity    string       // the ATI line, e.g. "ELM327 v2.1"
	Version     string       // "2.1"; empty when the identity carries none
	Description string       // the AT@1 line, when the adapter has one
	Clone       bool         // the identity or behaviour shows a clone
	Quirks      []string     // what was detected and is being worked around
	Baud        int          // serial rate in use; 0 on TCP
	Protocol    obd.Protocol // the bus protocol, once detected
	Auto        bool         // the protocol was found by automatic search
	Headers     bool         // replies carry headers (sender identifiers)
	CountSuffix bool         // the adapter honours the response-count digit
}

// Option changes how a client behaves.
type Option func(*Client)

// WithLogger sends the client's diagnostics (every exchange at debug level)
// to l.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithCountSuffix switches the response-count digit off (false) even when
// the adapter supports it; benchmarks use it to compare.
func WithCountSuffix(on bool) Option { return func(c *Client) { c.allowSuffix = on } }

// withDialer replaces how the link is opened (tests).
func withDialer(d func(ctx context.Context) (conn, error)) Option {
	return func(c *Client) { c.dial = d }
}

// Client is an obd.Transport through an ELM327 adapter. Its methods are safe
// for concurrent use; requests are sent one at a time, as the adapter needs.
type Client struct {
	cfg         Config
	log         *slog.Logger
	dial        func(ctx context.Context) (conn, error)
	allowSuffix bool

	mu         sync.Mutex
	c          conn
	info       Info
	lay        layout
	protoKnown bool // the protocol is detected and active
	suffixOK   int  // -1 refused, 0 untested, 1 works
	dirty      bool // the last read ended early; unread bytes may follow
	closed     bool
	backoff    time.Duration
	nextDial   time.Time
}

// Timeouts for the adapter's own work. OBD requests use Config.Timeout.
const (
	resetTimeout    = 5 * time.Second  // ATZ: the adapter reboots
	atTimeout       = 2 * time.Second  // any other AT command
	searchTimeout   = 20 * time.Second // first request while the protocol is searched
	defaultTimeout  = 5 * time.Second  // an OBD request on a known protocol
	maxReply        = 64 << 10         // longest reply believed; more is a broken device
	pollInterval    = 100 * time.Millisecond
	maxDialBackoff  = 10 * time.Second
	baseDialBackoff = 250 * time.Millisecond
)

// Open connects to the adapter at rawURL (see ParseURL) and initialises it.
// The car need not be on: the protocol is detected with the first request.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg, opts...)
}

// OpenConfig is Open with the address already parsed.
func OpenConfig(ctx context.Context, cfg Config, opts ...Option) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	c := &Client{cfg: cfg, log: discardLogger, allowSuffix: true}
	c.dial = c.dialConfig
	for _, o := range opts {
		o(c)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Info returns what is known about the adapter.
func (c *Client) Info() Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.info
	i.Quirks = append([]string(nil), c.info.Quirks...)
	return i
}

// Protocol is the detected bus protocol, or obd.ProtocolUnknown before the
// first successful request.
func (c *Client) Protocol() obd.Protocol {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.protoKnown {
		return obd.ProtocolUnknown
	}
	return c.info.Protocol
}

// SetCountSuffix allows (true) or forbids the response-count digit from
// now on; it is used only where the adapter supports it.
func (c *Client) SetCountSuffix(on bool) {
	c.mu.Lock()
	c.allowSuffix = on
	c.mu.Unlock()
}

// Close closes the link. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.drop()
}

func (c *Client) drop() error {
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c = nil
	c.protoKnown = false
	return err
}

func (c *Client) dialConfig(ctx context.Context) (conn, error) {
	switch c.cfg.Network {
	case "tcp":
		return dialTCP(ctx, c.cfg.Address)
	case "serial":
		return c.openSerialProbing(ctx)
	}
	return nil, fmt.Errorf("%w: network %q", ErrBadURL, c.cfg.Network)
}

// connect opens the link and initialises the adapter. Callers hold c.mu.
func (c *Client) connect(ctx context.Context) error {
	if c.closed {
		return ErrClosed
	}
	_ = c.drop()
	lk, err := c.dial(ctx)
	if err != nil {
		return err
	}
	c.c = lk
	c.dirty = true // a fresh link may hold a power-up banner or noise
	if err := c.initAdapter(ctx); err != nil {
		_ = c.drop()
		return err
	}
	return nil
}

// reconnect re-opens a lost link, no more often than the backoff allows.
func (c *Client) reconnect(ctx context.Context, cause error) error {
	if wait := time.Until(c.nextDial); wait > 0 {
		return fmt.Errorf("elm327: adapter link down, next attempt in %v: %w", wait.Round(time.Millisecond), cause)
	}
	c.log.Warn("reconnecting to the adapter", "adapter", c.cfg.String(), "cause", cause)
	if err := c.connect(ctx); err != nil {
		if c.backoff == 0 {
			c.backoff = baseDialBackoff
		} else {
			c.backoff = min(2*c.backoff, maxDialBackoff)
		}
		c.nextDial = time.Now().Add(c.backoff)
		return fmt.Errorf("elm327: reconnecting after %v: %w", cause, err)
	}
	c.backoff, c.nextDial = 0, time.Time{}
	return nil
}

// exchange sends one command and returns everything the adapter sent before
// its prompt. Every read has a deadline; ctx cancels between reads.
func (c *Client) exchange(ctx context.Context, cmd string, timeout time.Duration) ([]byte, error) {
	if c.c == nil {
		return nil, fmt.Errorf("elm327: %s: link is down", cmd)
	}
	if c.dirty {
		// The last exchange ended without its prompt: whatever the adapter
		// still sent for it must not be taken for this answer.
		if err := c.c.Discard(); err != nil {
			return nil, fmt.Errorf("elm327: %s: clearing input: %w", cmd, err)
		}
		c.dirty = false
	}
	if _, err := io.WriteString(c.c, cmd+"\r"); err != nil {
		return nil, fmt.Errorf("elm327: sending %s: %w", cmd, err)
	}
	raw, err := c.readUntil(ctx, cmd, timeout, func(b []byte) int { return bytes.IndexByte(b, '>') })
	c.dirty = err != nil
	c.log.Debug("elm327 exchange", "cmd", cmd, "reply", string(raw), "err", err)
	return raw, err
}

// readUntil reads until end finds the end of the reply (returning its
// index) or the timeout passes, and returns the bytes before the end.
func (c *Client) readUntil(ctx context.Context, cmd string, timeout time.Duration, end func([]byte) int) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var buf []byte
	chunk := make([]byte, 512)
	for {
		if i := end(buf); i >= 0 {
			return buf[:i], nil
		}
		if err := ctx.Err(); err != nil {
			return buf, err
		}
		now := time.Now()
		if !now.Before(deadline) {
			return buf, &ReplyError{Kind: KindNoPrompt, Command: cmd, Raw: buf,
				Detail: fmt.Sprintf("nothing ended the reply within %v", timeout)}
		}
		next := now.Add(pollInterval)
		if deadline.Before(next) {
			next = deadline
		}
		_ = c.c.SetReadDeadline(next)
		n, err := c.c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) > maxReply {
			return buf[:256], &ReplyError{Kind: KindGarbage, Command: cmd, Raw: buf[:256],
				Detail: fmt.Sprintf("more than %d bytes without a prompt", maxReply)}
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return buf, fmt.Errorf("elm327: reading the reply to %s: %w", cmd, err)
		}
	}
}

// at sends an AT command and returns its reply lines, or the adapter's
// error. banner allows an identity line in the reply.
func (c *Client) at(ctx context.Context, cmd string, timeout time.Duration, banner bool) ([]string, error) {
	raw, err := c.exchange(ctx, cmd, timeout)
	if err != nil {
		return nil, err
	}
	return screen(cmd, raw, banner)
}

// atOK sends an AT command that should answer OK.
func (c *Client) atOK(ctx context.Context, cmd string) error {
	lines, err := c.at(ctx, cmd, atTimeout, false)
	if err != nil {
		return err
	}
	if len(lines) != 1 || compact(lines[0]) != "OK" {
		raw := strings.Join(lines, "\r")
		return &ReplyError{Kind: KindGarbage, Command: cmd, Raw: []byte(raw), Detail: "expected OK"}
	}
	return nil
}

var versionRE = regexp.MustCompile(`(?i)v\s*(\d+\.\d+[a-z]?)`)

// initAdapter brings a freshly opened adapter to a known state.
func (c *Client) initAdapter(ctx context.Context) error {
	info := Info{Baud: c.info.Baud}
	if sc, ok := c.c.(*serialConn); ok {
		info.Baud = sc.baud
	}
	// A full reset first; ATWS on adapters that ignore ATZ or where ATZ
	// would drop a raised baud rate.
	reset := "ATZ"
	if sc, ok := c.c.(*serialConn); ok && c.cfg.RaiseBaud > 0 && sc.baud == c.cfg.RaiseBaud {
		reset = "ATWS"
	}
	lines, err := c.at(ctx, reset, resetTimeout, true)
	if err != nil && reset == "ATZ" {
		lines, err = c.at(ctx, "ATWS", resetTimeout, true)
	}
	if err != nil {
		return fmt.Errorf("elm327: resetting the adapter: %w", err)
	}
	for _, l := range lines {
		if isBanner(l) {
			info.Identity = l
		}
	}
	for _, cmd := range []string{"ATE0", "ATL0", "ATS0", "ATH1"} {
		if err := c.atOK(ctx, cmd); err != nil {
			return fmt.Errorf("elm327: initialising: %w", err)
		}
	}
	if lines, err := c.at(ctx, "ATI", atTimeout, true); err == nil && len(lines) > 0 {
		info.Identity = lines[len(lines)-1]
	}
	if info.Identity == "" {
		return fmt.Errorf("%w: no identity after reset", ErrNotELM327)
	}
	if m := versionRE.FindStringSubmatch(info.Identity); m != nil {
		info.Version = strings.ToLower(m[1])
	}
	if lines, err := c.at(ctx, "AT@1", atTimeout, false); err == nil && len(lines) > 0 {
		info.Description = strings.Join(lines, " ")
	}
	// No genuine ELM327 was ever released as v1.5: that number marks the
	// clones built on copied v1.0 firmware.
	if strings.HasPrefix(info.Version, "1.5") {
		info.Clone = true
		info.Quirks = append(info.Quirks, "identifies as v1.5, a version only clones report")
	}
	// A command no firmware knows: a genuine adapter answers "?". A clone
	// answering OK is one whose OKs cannot be trusted.
	if err := c.atOK(ctx, "ATYZ"); err == nil {
		info.Clone = true
		info.Quirks = append(info.Quirks, "answers OK to commands it does not know; settings are checked by their effect")
	}
	info.Headers = true
	c.info = info
	c.lay = layout{headers: true}
	c.suffixOK = 0
	if !c.versionAtLeast(1, 3) || info.Clone {
		c.suffixOK = -1 // the count digit came with v1.3; clones mistake it for data
	}
	if err := c.atOK(ctx, "ATAT1"); err != nil {
		c.log.Debug("adaptive timing refused", "err", err)
	}
	if c.cfg.RaiseBaud > 0 {
		if err := c.raiseBaud(ctx); err != nil {
			return err
		}
	}
	return c.selectProtocol(ctx)
}

// versionAtLeast compares the identity's version with major.minor.
func (c *Client) versionAtLeast(major, minor int) bool {
	v := strings.TrimRight(c.info.Version, "abcdefghijklmnopqrstuvwxyz")
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(a)
	mi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// selectProtocol asks for the configured protocol or automatic search. The
// search itself runs with the next OBD request.
func (c *Client) selectProtocol(ctx context.Context) error {
	cmd := "ATSP0"
	if c.cfg.Protocol > 0 {
		cmd = fmt.Sprintf("ATSP%X", c.cfg.Protocol)
	}
	if err := c.atOK(ctx, cmd); err != nil {
		return fmt.Errorf("elm327: selecting the protocol: %w", err)
	}
	c.protoKnown = false
	return nil
}

// learnProtocol reads which protocol the adapter's search found, after the
// first request of a session has made it search, and how it prints
// answers. reply is the service byte answers open with; lines are the
// first request's answer lines, which show whether headers are on.
func (c *Client) learnProtocol(ctx context.Context, lines []string, reply byte) error {
	dpn, err := c.at(ctx, "ATDPN", atTimeout, false)
	if err != nil {
		return fmt.Errorf("elm327: reading the protocol number: %w", err)
	}
	p, auto, err := parseDPN(dpn)
	if err != nil {
		return &ReplyError{Kind: KindGarbage, Command: "ATDPN", Raw: []byte(strings.Join(dpn, "\r")), Detail: err.Error()}
	}
	c.info.Protocol, c.info.Auto = p, auto
	c.lay = layout{proto: p, headers: headersShown(lines, p, reply)}
	if !c.lay.headers && c.info.Headers {
		c.info.Quirks = append(c.info.Quirks, "ignores ATH1: answers carry no sender, several ECUs cannot be told apart")
	}
	c.info.Headers = c.lay.headers
	c.protoKnown = true
	return nil
}

// parseDPN reads ATDPN's answer: an optional A (automatic) and the number.
func parseDPN(lines []string) (obd.Protocol, bool, error) {
	if len(lines) == 0 {
		return 0, false, errors.New("empty answer")
	}
	s := compact(lines[len(lines)-1])
	auto := false
	if len(s) == 2 && s[0] == 'A' {
		auto, s = true, s[1:]
	}
	n, err := strconv.ParseUint(s, 16, 8)
	if err != nil || len(s) != 1 || n == 0 || n > 0xC {
		return 0, false, fmt.Errorf("%q is not a protocol number", lines[len(lines)-1])
	}
	return obd.Protocol(n), auto, nil
}

// headersShown tells from answer lines whether the adapter really prints
// headers: on 11-bit CAN a header makes the hex digit count odd; a 29-bit
// header opens with a byte no answer opens with (at most 1F); on the older
// protocols three header bytes come before the reply byte.
func headersShown(lines []string, p obd.Protocol, reply byte) bool {
	for _, l := range lines {
		u := compact(l)
		if len(u) >= 2 && u[1] == ':' || !isHex(u) {
			return false // the adapter's own headerless multi-frame form
		}
		switch {
		case p.CAN() && !p.Extended():
			return len(u)%2 == 1 && len(u) > 3
		case p.CAN():
			b, ok := hexBytes(u)
			return ok && len(b) > 4 && b[0] <= 0x1F
		default:
			b, ok := hexBytes(u)
			return ok && len(b) >= 5 && b[3] == reply
		}
	}
	return true // nothing to go by; trust the setting
}

// Do sends one request and returns every ECU's answer.
func (c *Client) Do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	resp, err := c.do(ctx, req)
	switch {
	case err == nil || ctx.Err() != nil:
		return resp, err
	case linkBroken(err):
		// The adapter reset, stopped answering or the link died: set it up
		// again and try once more.
		if rerr := c.reconnect(ctx, err); rerr != nil {
			return nil, rerr
		}
		return c.do(ctx, req)
	case busLost(err):
		// The car went quiet (ignition off) or the bus changed: search the
		// protocol again with the next request.
		_ = c.selectProtocol(ctx)
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	if c.c == nil {
		if err := c.reconnect(ctx, errors.New("link down")); err != nil {
			return nil, err
		}
	}
	if req.ECU != "" {
		return c.physical(ctx, req)
	}
	cmd := fmt.Sprintf("%X", req.Bytes())
	if !c.protoKnown {
		// The first request makes the adapter search the bus, which can
		// take many seconds; its answer is decoded once the protocol found
		// is known.
		raw, err := c.exchange(ctx, cmd, searchTimeout)
		if err != nil {
			return nil, err
		}
		lines, err := screen(cmd, raw, false)
		if err != nil {
			return nil, err
		}
		if err := c.learnProtocol(ctx, lines, req.Service.Reply()); err != nil {
			return nil, err
		}
		return c.answers(req, cmd, raw, lines)
	}
	if n := c.suffixFor(req); n > 0 {
		resp, err := c.request(ctx, req, fmt.Sprintf("%s%X", cmd, n))
		if c.suffixOK == 0 {
			// The first use tests the digit: a refusal or nonsense means the
			// firmware does not know it.
			if err != nil && !linkBroken(err) {
				c.suffixOK = -1
				c.info.CountSuffix = false
				c.info.Quirks = append(c.info.Quirks, "refuses the response-count digit")
				return c.request(ctx, req, cmd)
			}
			c.suffixOK = 1
			c.info.CountSuffix = true
		}
		return resp, err
	}
	return c.request(ctx, req, cmd)
}

// physical sends req to one ECU: the adapter's request header is set to
// the ECU's physical address for the request and back to the functional
// address after it, whatever happens in between.
func (c *Client) physical(ctx context.Context, req obd.Request) ([]obd.Response, error) {
	if !c.protoKnown || !c.lay.proto.CAN() {
		return nil, fmt.Errorf("elm327: physical addressing of %s needs a detected CAN protocol (have %s)", req.ECU, c.lay.proto)
	}
	ext := c.lay.proto.Extended()
	id, err := strconv.ParseUint(string(req.ECU), 16, 32)
	if err != nil || !isotp.IsResponseID(uint32(id), ext) {
		return nil, fmt.Errorf("elm327: %q is not an OBD ECU address on %s", req.ECU, c.lay.proto)
	}
	if len(req.Bytes()) > 7 {
		return nil, fmt.Errorf("elm327: request %s is longer than one CAN frame, which the adapter cannot send", req)
	}
	set, restore := fmt.Sprintf("ATSH%03X", isotp.RequestIDFor(uint32(id), false)), "ATSH7DF"
	if ext {
		set, restore = fmt.Sprintf("ATSH%06X", isotp.RequestIDFor(uint32(id), true)&0xFFFFFF), "ATSHDB33F1"
	}
	if err := c.atOK(ctx, set); err != nil {
		return nil, fmt.Errorf("elm327: addressing %s: %w", req.ECU, err)
	}
	cmd := fmt.Sprintf("%X", req.Bytes())
	if n := c.suffixFor(req); n > 0 && c.suffixOK > 0 {
		cmd += fmt.Sprintf("%X", n)
	}
	resp, err := c.request(ctx, req, cmd)
	if rerr := c.atOK(ctx, restore); rerr != nil {
		_ = c.drop() // the header is unknown now: set the adapter up afresh
		if err == nil {
			err = fmt.Errorf("elm327: restoring the functional address: %w", rerr)
		}
	}
	var out []obd.Response
	for _, r := range resp {
		if r.ECU == req.ECU {
			out = append(out, r)
		}
	}
	if err == nil && len(out) == 0 {
		err = &ReplyError{Kind: KindNoData, Command: cmd, Detail: "no answer from " + string(req.ECU)}
	}
	return out, err
}

// suffixFor is the response-count digit for req, or 0 for none. The
// adapter counts lines, which on CAN are frames, so the digit is only used
// when the caller knows how long each ECU's answer is.
func (c *Client) suffixFor(req obd.Request) int {
	if !c.allowSuffix || c.suffixOK < 0 || len(req.Expect) == 0 {
		return 0
	}
	n := 0
	for _, l := range req.Expect {
		if l <= 0 {
			return 0
		}
		if c.lay.proto.CAN() {
			n += obd.CANFrames(l)
		} else {
			n++
		}
	}
	if n > 0xF {
		return 0
	}
	return n
}

// request sends cmd for req and decodes the answers.
func (c *Client) request(ctx context.Context, req obd.Request, cmd string) ([]obd.Response, error) {
	raw, err := c.exchange(ctx, cmd, c.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	lines, err := screen(cmd, raw, false)
	if err != nil {
		return nil, err
	}
	return c.answers(req, cmd, raw, lines)
}

// answers decodes the lines of an answer into messages, drops the "response
// pending" notices the adapter passes on, and checks that what remains
// answers req.
func (c *Client) answers(req obd.Request, cmd string, raw []byte, lines []string) ([]obd.Response, error) {
	msgs, err := decode(cmd, raw, lines, c.lay)
	if err != nil {
		return nil, err
	}
	out := msgs[:0]
	pending := false
	for _, m := range msgs {
		d := m.Data
		if len(d) >= 3 && d[0] == 0x7F && d[1] == byte(req.Service) && d[2] == byte(obd.NRCResponsePending) {
			pending = true // the adapter keeps listening; the answer follows
			continue
		}
		if !obd.Answers(req, d) {
			return nil, &ReplyError{Kind: KindGarbage, Command: cmd, Raw: raw,
				Detail: fmt.Sprintf("answer % X does not reply to %s", d, req)}
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		detail := "no answer"
		if pending {
			detail = "an ECU said response pending but its answer did not come before the adapter's timeout"
		}
		return nil, &ReplyError{Kind: KindNoData, Command: cmd, Raw: raw, Detail: detail}
	}
	return out, nil
}

// BatteryVoltage reads the supply voltage at the OBD connector (ATRV).
func (c *Client) BatteryVoltage(ctx context.Context) (float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	if c.c == nil {
		if err := c.reconnect(ctx, errors.New("link down")); err != nil {
			return 0, err
		}
	}
	lines, err := c.at(ctx, "ATRV", atTimeout, false)
	if err != nil {
		if linkBroken(err) {
			_ = c.drop()
		}
		return 0, err
	}
	return parseVoltage(lines)
}

func parseVoltage(lines []string) (float64, error) {
	if len(lines) == 1 {
		s := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(lines[0])), "V")
		if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && v >= 0 && v < 100 {
			return v, nil
		}
	}
	return 0, &ReplyError{Kind: KindGarbage, Command: "ATRV", Raw: []byte(strings.Join(lines, "\r")), Detail: "expected a voltage like 12.6V"}
}

var (
	_ obd.Transport        = (*Client)(nil)
	_ obd.ProtocolReporter = (*Client)(nil)
	_ obd.VoltageReader    = (*Client)(nil)
)

var discardLogger = slog.New(slog.DiscardHandler)
