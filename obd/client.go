package obd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
)

// MaxPack is the most PIDs J1979 allows in one service 01 request on CAN.
const MaxPack = 6

// ClientOption changes how a Client behaves.
type ClientOption func(*Client)

// WithPacking sets how many PIDs go in one service 01 request on CAN
// (1 turns packing off; the default is MaxPack).
func WithPacking(n int) ClientOption {
	return func(c *Client) { c.maxPack = max(1, min(n, MaxPack)) }
}

// WithClientLogger sends the client's diagnostics to l.
func WithClientLogger(l *slog.Logger) ClientOption { return func(c *Client) { c.log = l } }

// Client reads a car through any Transport: it discovers which ECUs
// support which PIDs, packs requests where the bus allows, falls back to
// one PID at a time where the adapter or ECU refuses packed requests, and
// decodes every answer.
type Client struct {
	t       Transport
	log     *slog.Logger
	maxPack int

	mu        sync.Mutex
	supported map[ECU]PIDSet // from the bitmaps; nil until discovered
	notes     []error        // what discovery was not answered
	probed    error          // set when the PIDs were found without a map
	mids      *midState      // service 06 maps and what went unanswered; nil until read
	scaling   map[ECU]*Scaling
	packFails int  // consecutive packed requests that failed
	packOff   bool // packed requests proved not to work
}

// packGiveUp is how many packed requests in a row may fail before the
// client stops packing for good.
const packGiveUp = 2

// NewClient returns a client on t.
func NewClient(t Transport, opts ...ClientOption) *Client {
	c := &Client{t: t, log: slog.New(slog.DiscardHandler), maxPack: MaxPack}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Transport returns the transport the client uses.
func (c *Client) Transport() Transport { return c.t }

// Protocol returns the transport's bus protocol, if it reports one.
func (c *Client) Protocol() Protocol {
	if r, ok := c.t.(ProtocolReporter); ok {
		return r.Protocol()
	}
	return ProtocolUnknown
}

// Reading is one PID's value as one ECU reported it.
type Reading struct {
	ECU   ECU
	PID   PID
	Value Value
}

// Forget drops what the client learned about the car (supported PIDs,
// packing), for example after an ignition cycle or a different car.
func (c *Client) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.supported, c.scaling, c.notes, c.probed, c.mids = nil, nil, nil, nil, nil
	c.packFails, c.packOff = 0, false
}

// SupportedPIDs asks every ECU which service 01 PIDs it supports, walking
// the bitmaps 00, 20, 40, … as long as some ECU says the next one exists.
// The answer is remembered until Forget.
func (c *Client) SupportedPIDs(ctx context.Context) (map[ECU]PIDSet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.discover(ctx); err != nil {
		return nil, err
	}
	out := make(map[ECU]PIDSet, len(c.supported))
	for e, s := range c.supported {
		out[e] = s
	}
	return out, nil
}

func (c *Client) discover(ctx context.Context) error {
	if c.supported != nil {
		return nil
	}
	sets, notes, err := c.bitmaps(ctx, ServiceCurrentData, nil, nil)
	if err != nil && ctx.Err() == nil && !errors.Is(err, errBitmapTransport) {
		// No ECU gave the first map: ask the PIDs Pitwall needs one by one.
		sets, err = c.probe(ctx, err)
		notes = nil // the probe's note tells it all
	}
	if err != nil {
		return err
	}
	if owes := owed(sets, 0x01); owes == nil && ctx.Err() == nil {
		// PID 01 (the MIL and readiness) is asked once even when no map
		// lists it: ECUs that forget it in their map often answer it.
		if got, err := c.probeOne(ctx, 0x01); len(got) > 0 {
			for _, e := range got {
				s := sets[e]
				s.Add(0x01)
				sets[e] = s
			}
		} else {
			notes = append(notes, &UnansweredError{Service: ServiceCurrentData, Item: "PID 01 (monitor status)", Err: err})
		}
	}
	c.supported = sets
	c.notes = notes
	c.scaling = map[ECU]*Scaling{}
	// PID 4F changes the scale of a few PIDs on the cars that report it.
	for ecu, s := range sets {
		if !s.Has(0x4F) {
			continue
		}
		resp, err := c.t.Do(ctx, Request{Service: ServiceCurrentData, Data: []byte{0x4F}})
		if err != nil {
			c.log.Warn("reading PID 4F scaling", "err", err)
			continue
		}
		for _, r := range resp {
			if r.ECU == ecu && len(r.Data) >= 6 && r.Data[1] == 0x4F {
				if sc, err := ScalingFrom(r.Data[2:]); err == nil {
					c.scaling[ecu] = &sc
				}
			}
		}
	}
	return nil
}

// FallbackPIDs are the PIDs the client asks one at a time when no ECU
// answers the first supported-PID map (01 00): the ones most cars have
// and Pitwall's scan and poll plan read.
var FallbackPIDs = []PID{0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x1C, 0x1F,
	0x21, 0x2F, 0x31, 0x33, 0x42, 0x46, 0x5C, 0x5E, 0xA6}

// probe finds what a car supports that answers no supported-PID map:
// PID 01 first, which every OBD-II ECU has; if nobody answers that either
// the car is taken as silent (cause is returned) at the cost of one
// request. Otherwise each of FallbackPIDs is asked once and whoever
// answers is taken to support it.
func (c *Client) probe(ctx context.Context, cause error) (map[ECU]PIDSet, error) {
	sets := map[ECU]PIDSet{}
	for i, p := range FallbackPIDs {
		got, err := c.probeOne(ctx, p)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if i == 0 && len(got) == 0 {
			if err != nil && !errors.Is(err, ErrNoData) && !errors.Is(err, ErrUnsupported) {
				return nil, err // the adapter, not the car
			}
			return nil, cause
		}
		for _, e := range got {
			s := sets[e]
			s.Add(p)
			sets[e] = s
		}
	}
	c.log.Info("no ECU answers the supported-PID map; found PIDs by asking each", "asked", len(FallbackPIDs), "ecus", len(sets))
	c.probed = &UnansweredError{Service: ServiceCurrentData, Item: "PID 00 (supported-PID map)", Map: true,
		Err: fmt.Errorf("%w; asked %d common PIDs one at a time instead", cause, len(FallbackPIDs))}
	return sets, nil
}

// probeOne asks one PID of every ECU and returns who answered it.
func (c *Client) probeOne(ctx context.Context, p PID) ([]ECU, error) {
	resp, err := c.t.Do(ctx, Request{Service: ServiceCurrentData, Data: []byte{byte(p)}})
	var got []ECU
	var refused []error
	for _, r := range resp {
		if neg := negative(r); neg != nil {
			refused = append(refused, neg)
			continue
		}
		if len(r.Data) >= 2 && r.Data[0] == ServiceCurrentData.Reply() && r.Data[1] == byte(p) && !slices.Contains(got, r.ECU) {
			got = append(got, r.ECU)
		}
	}
	if err == nil && len(got) == 0 {
		err = errors.Join(refused...)
		if err == nil {
			err = ErrNoData
		}
	}
	return got, err
}

// errBitmapTransport marks a supported-map walk that failed in the
// transport (the adapter, not the car): probing would fail the same way.
var errBitmapTransport = errors.New("obd: the transport failed")

// bitmaps walks the supported-PID bitmaps of service 01 (suffix nil) or of
// service 02 frame n (suffix {n}). first is who owes the first map, as
// Request.Expect; after it, the ECUs that announced a map owe it. A map an
// ECU announced but nobody answers, refused or malformed answers are left
// out and returned as notes; it fails only when no ECU gave the first map.
func (c *Client) bitmaps(ctx context.Context, svc Service, suffix []byte, first []int) (map[ECU]PIDSet, []error, error) {
	sets := map[ECU]PIDSet{}
	var notes []error
	for base := 0; base <= 0xE0; base += 0x20 {
		req := Request{Service: svc, Data: append([]byte{byte(base)}, suffix...), Expect: first}
		item := mapItem(svc, base)
		if base > 0 {
			req.Expect = owed(sets, PID(base))
		}
		resp, err := c.t.Do(ctx, req)
		if err != nil {
			if base > 0 && (errors.Is(err, ErrNoData) || errors.Is(err, ErrUnsupported)) {
				// An ECU said the range existed but does not answer it.
				notes = append(notes, &UnansweredError{Service: svc, Item: item, Map: true, Listed: ecusWith(sets, PID(base)), Err: err})
				break
			}
			if !errors.Is(err, ErrNoData) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrMalformed) {
				err = fmt.Errorf("%w: %w", errBitmapTransport, err)
			}
			return nil, notes, fmt.Errorf("obd: reading supported PIDs %02X: %w", base, err)
		}
		more := false
		var bad []error
		for _, r := range resp {
			if neg := negative(r); neg != nil {
				bad = append(bad, neg)
				continue
			}
			if len(r.Data) < 2+len(suffix)+4 || r.Data[0] != svc.Reply() || r.Data[1] != byte(base) {
				bad = append(bad, fmt.Errorf("ECU %s: %w", r.ECU, malformed("supported-PID bitmap "+PID(base).String(), r.Data, "want %02X %02X and four bytes", svc.Reply(), base)))
				continue
			}
			s := decodeBitmap(PID(base), r.Data[2+len(suffix):])
			set := sets[r.ECU]
			set.Union(s)
			sets[r.ECU] = set
			if s.Has(PID(base + 0x20)) {
				more = true
			}
		}
		if len(bad) > 0 {
			notes = append(notes, &UnansweredError{Service: svc, Item: item, Map: true, Err: errors.Join(bad...)})
		}
		if !more {
			break
		}
	}
	if len(sets) == 0 {
		return nil, notes, fmt.Errorf("obd: no ECU reported supported PIDs: %w", errors.Join(append([]error{ErrNoData}, notes...)...))
	}
	return sets, notes, nil
}

// mapItem names supported map base of a service in an UnansweredError.
func mapItem(svc Service, base int) string {
	if svc == ServiceTestResults {
		return fmt.Sprintf("MID %02X (supported-MID map)", base)
	}
	return fmt.Sprintf("PID %02X (supported-PID map)", base)
}

// ecusWith lists the ECUs whose set holds p, in address order.
func ecusWith(sets map[ECU]PIDSet, p PID) []ECU {
	var out []ECU
	for _, e := range sortedECUs(sets) {
		if sets[e].Has(p) {
			out = append(out, e)
		}
	}
	return out
}

// DiscoveryProblems returns what the car did not answer while the client
// learned its supported PIDs (maps refused, missing or malformed, PIDs
// asked without a map), as *UnansweredError each; nil when every map came.
func (c *Client) DiscoveryProblems() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	notes := c.notes
	if c.probed != nil {
		notes = append([]error{c.probed}, notes...)
	}
	return errors.Join(notes...)
}

// negative returns the refusal a response carries, or nil.
func negative(r Response) *NegativeResponseError {
	if len(r.Data) >= 3 && r.Data[0] == negativeReply {
		return &NegativeResponseError{ECU: r.ECU, Service: Service(r.Data[1]), Code: NegativeResponseCode(r.Data[2])}
	}
	return nil
}

// UnsupportedPIDError names a PID no ECU reported as supported.
type UnsupportedPIDError struct{ PID PID }

func (e *UnsupportedPIDError) Error() string {
	name := "unknown PID"
	if i, ok := Lookup(e.PID); ok {
		name = i.Name
	}
	return fmt.Sprintf("obd: PID %s (%s) is not supported by any ECU of this car", e.PID, name)
}

func (e *UnsupportedPIDError) Is(target error) bool { return target == ErrUnsupported }

// Read reads PIDs from every ECU that supports them. On CAN it packs up to
// six PIDs a request and falls back to single requests where packing is
// refused. Readings come back in PID order, then ECU order. PIDs no ECU
// supports, and PIDs whose answers failed, are reported in the error
// (errors.Join) while the rest are still returned.
func (c *Client) Read(ctx context.Context, pids ...PID) ([]Reading, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.discover(ctx); err != nil {
		return nil, err
	}
	var errs []error
	var packable, single []PID
	seen := map[PID]bool{}
	for _, p := range pids {
		if seen[p] {
			continue
		}
		seen[p] = true
		if len(c.ecusFor(p)) == 0 {
			errs = append(errs, &UnsupportedPIDError{PID: p})
			continue
		}
		if info, ok := Lookup(p); ok && info.Packable() {
			packable = append(packable, p)
		} else {
			single = append(single, p)
		}
	}
	var out []Reading
	if c.canPack() {
		for len(packable) > 0 {
			n := min(c.maxPack, len(packable))
			got, missing, err := c.readPacked(ctx, packable[:n])
			out = append(out, got...)
			if err != nil && ctx.Err() != nil {
				return sortReadings(out), err
			}
			single = append(single, missing...)
			packable = packable[n:]
		}
	} else {
		single = append(single, packable...)
	}
	for _, p := range single {
		got, err := c.readOne(ctx, p)
		out = append(out, got...)
		if err != nil {
			if ctx.Err() != nil {
				return sortReadings(out), err
			}
			errs = append(errs, err)
		}
	}
	return sortReadings(out), errors.Join(errs...)
}

func sortReadings(r []Reading) []Reading {
	sort.SliceStable(r, func(i, j int) bool {
		if r[i].PID != r[j].PID {
			return r[i].PID < r[j].PID
		}
		return r[i].ECU < r[j].ECU
	})
	return r
}

func (c *Client) canPack() bool {
	return c.maxPack > 1 && !c.packOff && c.Protocol().CAN()
}

// ecusFor lists the ECUs that support p, in a stable order.
func (c *Client) ecusFor(p PID) []ECU {
	var out []ECU
	for e, s := range c.supported {
		if s.Has(p) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// expect is the answer each ECU owes for a service 01 request of pids:
// the reply byte plus, for each PID it supports, the PID byte and its
// data; 0 where a PID's length varies (see Request.Expect).
func (c *Client) expect(pids []PID) []int {
	var lens []int
	for _, e := range sortedECUs(c.supported) {
		n, owes := 0, false
		for _, p := range pids {
			if !c.supported[e].Has(p) {
				continue
			}
			owes = true
			info, ok := Lookup(p)
			if !ok || info.Bytes == 0 || len(info.AltBytes) > 0 {
				n = -1 // a length we cannot know in advance
			}
			if n >= 0 {
				n += 1 + info.Bytes
			}
		}
		switch {
		case owes && n < 0:
			lens = append(lens, 0)
		case owes:
			lens = append(lens, 1+n)
		}
	}
	return lens
}

// owed is Request.Expect for a request every ECU in sets that has one of
// pids must answer, with lengths unknown; nil when none is known to.
func owed(sets map[ECU]PIDSet, pids ...PID) []int {
	var n int
	for _, s := range sets {
		for _, p := range pids {
			if s.Has(p) {
				n++
				break
			}
		}
	}
	if n == 0 {
		return nil
	}
	return make([]int, n)
}

// supportedBy returns the service 01 PIDs an ECU supports, once known.
func (c *Client) supportedBy(e ECU) (PIDSet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.supported[e]
	return s, ok
}

// knownECUs is Request.Expect for a request every ECU found by discovery
// answers (the trouble-code services), or nil before discovery.
func (c *Client) knownECUs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.supported) == 0 {
		return nil
	}
	return make([]int, len(c.supported))
}

func sortedECUs[V any](m map[ECU]V) []ECU {
	out := make([]ECU, 0, len(m))
	for e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (c *Client) readOne(ctx context.Context, p PID) ([]Reading, error) {
	req := Request{Service: ServiceCurrentData, Data: []byte{byte(p)}, Expect: c.expect([]PID{p})}
	resp, err := c.t.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("obd: reading PID %s: %w", p, err)
	}
	var out []Reading
	var errs []error
	for _, r := range resp {
		if neg := negative(r); neg != nil {
			errs = append(errs, neg)
			continue
		}
		items, err := splitPIDs(ServiceCurrentData, r.Data, 0, []PID{p})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, it := range items {
			v, err := Decode(it.pid, it.data, c.scaling[r.ECU])
			if err != nil {
				errs = append(errs, fmt.Errorf("ECU %s: %w", r.ECU, err))
				continue
			}
			out = append(out, Reading{ECU: r.ECU, PID: it.pid, Value: v})
		}
	}
	if len(out) == 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// readPacked reads several PIDs in one request. PIDs an ECU supports but
// left out of its answer come back as missing, to be read one at a time.
func (c *Client) readPacked(ctx context.Context, pids []PID) (got []Reading, missing []PID, err error) {
	if len(pids) == 1 {
		got, err := c.readOne(ctx, pids[0])
		if err != nil {
			return nil, pids, err
		}
		return got, nil, nil
	}
	req := Request{Service: ServiceCurrentData, Data: pidBytes(pids), Expect: c.expect(pids)}
	resp, err := c.t.Do(ctx, req)
	if err != nil {
		c.packFailed(err)
		return nil, pids, err
	}
	answered := map[ECU]map[PID]bool{}
	for _, r := range resp {
		if negative(r) != nil {
			continue
		}
		items, err := splitPIDs(ServiceCurrentData, r.Data, 0, pids)
		if err != nil {
			c.log.Warn("packed answer not understood", "ecu", r.ECU, "err", err)
			continue
		}
		for _, it := range items {
			v, err := Decode(it.pid, it.data, c.scaling[r.ECU])
			if err != nil {
				continue
			}
			if answered[r.ECU] == nil {
				answered[r.ECU] = map[PID]bool{}
			}
			answered[r.ECU][it.pid] = true
			got = append(got, Reading{ECU: r.ECU, PID: it.pid, Value: v})
		}
	}
	short := map[PID]bool{}
	for _, p := range pids {
		for _, e := range c.ecusFor(p) {
			if !answered[e][p] {
				short[p] = true
			}
		}
	}
	for _, p := range pids {
		if short[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		c.packFailed(fmt.Errorf("packed answer lacked PIDs %v", missing))
		// Re-read the missing ones singly; drop partial readings of them so
		// every ECU's value comes from the same request.
		kept := got[:0]
		for _, r := range got {
			if !short[r.PID] {
				kept = append(kept, r)
			}
		}
		got = kept
	} else {
		c.packFails = 0
	}
	return got, missing, nil
}

func (c *Client) packFailed(err error) {
	c.packFails++
	if c.packFails >= packGiveUp && !c.packOff {
		c.packOff = true
		c.log.Info("packed requests do not work with this adapter or car; reading one PID at a time", "last", err)
	}
}

// Packing reports whether the client still packs PIDs into one request.
func (c *Client) Packing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.canPack()
}

func pidBytes(pids []PID) []byte {
	b := make([]byte, len(pids))
	for i, p := range pids {
		b[i] = byte(p)
	}
	return b
}

type pidItem struct {
	pid  PID
	data []byte
}

// splitPIDs splits a service 01 or 02 answer into its PIDs and data:
// reply byte, then for each PID the PID byte, in service 02 the frame
// number (frameBytes = 1), and its data bytes. Only PIDs in asked are
// accepted.
func splitPIDs(svc Service, msg []byte, frameBytes int, asked []PID) ([]pidItem, error) {
	what := "service " + svc.String() + " answer"
	if len(msg) < 2 || msg[0] != svc.Reply() {
		return nil, malformed(what, msg, "does not open with %02X and a PID", svc.Reply())
	}
	want := map[PID]bool{}
	for _, p := range asked {
		want[p] = true
	}
	var out []pidItem
	rest := msg[1:]
	for len(rest) > 0 {
		p := PID(rest[0])
		if !want[p] {
			if len(out) > 0 && allZero(rest) {
				break // padding after the last PID
			}
			return out, malformed(what, msg, "PID %s was not asked for", p)
		}
		want[p] = false
		info, _ := Lookup(p)
		n := info.Bytes
		switch {
		case len(asked) == 1:
			n = len(rest) - 1 - frameBytes // Decode checks the length
		case n == 0 || len(info.AltBytes) > 0:
			return out, malformed(what, msg, "PID %s has no fixed length and cannot be split from others", p)
		}
		if n < 0 || len(rest) < 1+frameBytes+n {
			return out, malformed(what, msg, "PID %s needs %d data bytes, %d left", p, n, len(rest)-1-frameBytes)
		}
		out = append(out, pidItem{pid: p, data: rest[1+frameBytes : 1+frameBytes+n]})
		rest = rest[1+frameBytes+n:]
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
