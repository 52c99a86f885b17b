package edge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/proto"

	"github.com/pitwall-io/pitwall/gateway/edge/spool"
	"github.com/pitwall-io/pitwall/gateway/wire"
	"github.com/pitwall-io/pitwall/gateway/wire/wirepb"
)

// secret reads a value given inline or in a file.
func secret(inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("edge: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// window is how many messages may await their PUBACK at once.
const window = 32

// publisher moves records from the spool to the broker, in order, and
// acknowledges them in the spool once the broker has.
type publisher struct {
	a      *Agent
	client mqtt.Client
	lost   chan error
	online atomic.Bool // connected and draining
}

func newPublisher(a *Agent) *publisher { return &publisher{a: a, lost: make(chan error, 1)} }

func (p *publisher) options() (*mqtt.ClientOptions, error) {
	cfg := p.a.cfg
	will, err := wire.Encode(&wirepb.Status{Header: wire.NewHeader(cfg.DeviceID, p.a.boot, 0), Online: false})
	if err != nil {
		return nil, err
	}
	o := mqtt.NewClientOptions().AddBroker(cfg.Broker.URL).SetClientID(cfg.DeviceID).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(15*time.Second).
		SetKeepAlive(cfg.Broker.KeepAlive).SetPingTimeout(10*time.Second).SetWriteTimeout(15*time.Second).
		SetOrderMatters(false).
		SetBinaryWill(wire.Topic(cfg.DeviceID, wire.KindStatus), will, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case p.lost <- err:
			default:
			}
		})
	user := cfg.Broker.Username
	if user == "" && p.a.password != "" {
		user = cfg.DeviceID
	}
	if user != "" {
		o.SetUsername(user).SetPassword(p.a.password)
	}
	tc, err := wire.ClientTLS(cfg.Broker.URL, cfg.Broker.CAFile, cfg.Broker.CertFile, cfg.Broker.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if tc != nil {
		o.SetTLSConfig(tc)
	}
	return o, nil
}

// run connects, publishes, reconnects with backoff and jitter, until ctx
// ends.
func (p *publisher) run(ctx context.Context) {
	o, err := p.options()
	if err != nil {
		p.a.fail("broker", err)
		return
	}
	o.SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) {})
	p.client = mqtt.NewClient(o)
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		if err := p.connect(ctx); err != nil {
			p.a.fail("broker", err)
			// Full jitter: up to the backoff, so a fleet does not come back at once.
			wait := time.Duration(rand.Int64N(int64(min(backoff, p.a.cfg.Broker.ReconnectMax)))) + 100*time.Millisecond
			backoff = min(2*backoff, p.a.cfg.Broker.ReconnectMax)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		backoff = 500 * time.Millisecond
		p.online.Store(true)
		err := p.drain(ctx)
		p.online.Store(false)
		if ctx.Err() != nil {
			p.goodbye()
			return
		}
		p.a.fail("broker", fmt.Errorf("connection lost: %w", err))
		p.client.Disconnect(0)
	}
}

// connect opens the session: the birth first (retained), then commands.
func (p *publisher) connect(ctx context.Context) error {
	t := p.client.Connect()
	if !waitToken(ctx, t, 20*time.Second) {
		return errors.New("connecting: timed out")
	}
	if err := t.Error(); err != nil {
		if strings.Contains(err.Error(), "not Authorized") || strings.Contains(err.Error(), "bad user name or password") {
			r := p.client.OptionsReader()
			return fmt.Errorf("the broker refused the device's credentials (user %q): %w", r.Username(), err)
		}
		return fmt.Errorf("connecting to %s: %w", p.a.cfg.Broker.URL, err)
	}
	select {
	case <-p.lost: // from an earlier connection
	default:
	}
	p.a.spool.Rewind()
	p.a.mu.Lock()
	birth := p.a.birth
	p.a.mu.Unlock()
	b, err := wire.Encode(birth)
	if err != nil {
		return err
	}
	if t := p.client.Publish(wire.Topic(p.a.cfg.DeviceID, wire.KindStatus), 1, true, b); !waitToken(ctx, t, 30*time.Second) || t.Error() != nil {
		p.client.Disconnect(0)
		return fmt.Errorf("publishing the birth message: %v", t.Error())
	}
	cmdTopic := wire.Topic(p.a.cfg.DeviceID, wire.KindCommand)
	if t := p.client.Subscribe(cmdTopic, 1, p.a.onCommand); !waitToken(ctx, t, 30*time.Second) || t.Error() != nil {
		p.client.Disconnect(0)
		return fmt.Errorf("subscribing to %s: %v", cmdTopic, t.Error())
	}
	p.a.log.Info("connected to the broker", "broker", p.a.cfg.Broker.URL)
	return nil
}

type result struct {
	rec spool.Record
	err error
}

// drain publishes spooled records in order until the connection drops.
func (p *publisher) drain(ctx context.Context) error {
	results := make(chan result, window)
	inflight := 0
	defer func() {
		// Collect what is still in flight so no goroutine outlives us.
		for ; inflight > 0; inflight-- {
			r := <-results
			if r.err == nil {
				p.ack(r.rec)
			}
		}
	}()
	for {
		if inflight < window {
			recs, err := p.a.spool.Next(window - inflight)
			if err != nil {
				return err
			}
			for _, r := range recs {
				k := kindOf(r.Kind)
				t := p.client.Publish(wire.Topic(p.a.cfg.DeviceID, k), 1, k == wire.KindStatus, r.Payload)
				inflight++
				go func(r spool.Record) {
					ok := t.WaitTimeout(60 * time.Second)
					err := t.Error()
					if !ok && err == nil {
						err = errors.New("no PUBACK within 60 s")
					}
					results <- result{r, err}
				}(r)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.lost:
			return err
		case r := <-results:
			inflight--
			if r.err != nil {
				return r.err
			}
			p.ack(r.rec)
		case <-p.a.spool.Wait():
		}
	}
}

func (p *publisher) ack(r spool.Record) {
	p.a.spool.Ack(r.Seq, r.Class)
	k := kindOf(r.Kind)
	p.a.metrics.published.WithLabelValues(string(k)).Inc()
	if k == wire.KindTelemetry {
		var t wirepb.Telemetry
		if proto.Unmarshal(r.Payload, &t) == nil {
			p.a.metrics.samples.Add(float64(len(t.GetAlias())))
		}
	}
}

// goodbye tells the broker the device goes offline on purpose.
func (p *publisher) goodbye() {
	if !p.client.IsConnected() {
		return
	}
	b, _ := wire.Encode(&wirepb.Status{Header: wire.NewHeader(p.a.cfg.DeviceID, p.a.boot, 0), Online: false, TimeMs: time.Now().UnixMilli()})
	t := p.client.Publish(wire.Topic(p.a.cfg.DeviceID, wire.KindStatus), 1, true, b)
	t.WaitTimeout(2 * time.Second)
	p.client.Disconnect(250)
}

// waitToken waits for a paho token, ctx or the timeout.
func waitToken(ctx context.Context, t mqtt.Token, d time.Duration) bool {
	select {
	case <-t.Done():
		return true
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return false
	}
}
