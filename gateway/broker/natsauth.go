package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitwall-io/pitwall/gateway/wire"
)

// NATS's auth callout: a NATS cluster asks, for every client that is not
// one of its own configured users, whoever listens on this subject (in the
// callout's account) whether to let it in, and with which rights.
const natsAuthSubject = "$SYS.REQ.USER.AUTH"

// NATSAuthOptions shape a NATSAuth.
type NATSAuthOptions struct {
	// URL is the cluster (nats://…, several separated by commas), reached
	// as User with Password: a user of the callout's account that the
	// cluster's auth_callout lists in auth_users.
	URL      string
	User     string
	Password string
	// NATSOptions are added to the connection (TLS, a dialer).
	NATSOptions []nats.Option
	// IssuerSeed is the seed of the account key the cluster's
	// auth_callout names as issuer (an "SA…" nkey seed): the answers and
	// the users' rights are signed with it.
	IssuerSeed string
	// Account is the account devices are placed in (PITWALL by default):
	// the one with JetStream, the MQTT streams and the partition mapping.
	Account string
	// Partitions is the mapping's partition count: a device may publish
	// only to its own partition's subjects.
	Partitions int
	// SessionMax is how long a device's login lasts: NATS closes the
	// connection then and the device logs in again, so a revoked device
	// keeps an open session at most this long (1 hour by default).
	SessionMax time.Duration
	// Devices checks the credentials (*store.Store is one).
	Devices Devices
	// Timeout bounds one check (5 s by default).
	Timeout  time.Duration
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// NATSAuth answers a NATS cluster's auth callout for devices: a device
// logs in with its id as user name and its secret as password, checked
// against the store as the embedded broker checks them, and is given
// the right to publish only its own messages, on its own partition's
// subjects, and to read only its own commands.
type NATSAuth struct {
	opt     NATSAuthOptions
	issuer  nkeys.KeyPair
	nc      *nats.Conn
	sub     *nats.Subscription
	log     *slog.Logger
	answers *prometheus.CounterVec
	wg      sync.WaitGroup
	once    sync.Once
}

// ErrIssuer: the issuer seed is not an account key's seed.
var ErrIssuer = errors.New("broker: the auth callout's issuer seed is not an account nkey seed (SA…)")

// StartNATSAuth connects to the cluster and answers its auth callout until
// Close.
func StartNATSAuth(opt NATSAuthOptions) (*NATSAuth, error) {
	if opt.Devices == nil {
		return nil, errors.New("broker: the auth callout needs Devices")
	}
	if opt.Account == "" {
		opt.Account = "PITWALL"
	}
	if opt.SessionMax == 0 {
		opt.SessionMax = time.Hour
	}
	if opt.Timeout == 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.Partitions < 1 {
		return nil, errors.New("broker: the auth callout needs the partition count")
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(opt.IssuerSeed)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIssuer, err)
	}
	if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicAccountKey(pub) {
		return nil, ErrIssuer
	}
	a := &NATSAuth{opt: opt, issuer: kp, log: opt.Log}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.answers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pitwall_broker_nats_logins_total",
		Help: "Device logins the NATS auth callout answered, by result."}, []string{"result"})
	if opt.Registry != nil {
		opt.Registry.MustRegister(a.answers)
	}
	opts := append([]nats.Option{nats.Name("pitwall auth callout"), nats.UserInfo(opt.User, opt.Password), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(time.Second)}, opt.NATSOptions...)
	if a.nc, err = nats.Connect(opt.URL, opts...); err != nil {
		return nil, fmt.Errorf("broker: auth callout: connecting to %s: %w", opt.URL, err)
	}
	// A queue group: any one server answers each login.
	if a.sub, err = a.nc.QueueSubscribe(natsAuthSubject, "pitwall-auth", a.handle); err != nil {
		a.nc.Close()
		return nil, fmt.Errorf("broker: auth callout: %w", err)
	}
	return a, nil
}

// IssuerPublicKey is the public key the cluster's auth_callout must name
// as issuer.
func (a *NATSAuth) IssuerPublicKey() string {
	pub, _ := a.issuer.PublicKey()
	return pub
}

// Ready reports whether the callout can answer.
func (a *NATSAuth) Ready() error {
	if !a.nc.IsConnected() {
		return fmt.Errorf("broker: auth callout: not connected to %s", a.opt.URL)
	}
	return nil
}

// Close stops answering; safe to call twice.
func (a *NATSAuth) Close() error {
	a.once.Do(func() {
		_ = a.sub.Drain()
		a.nc.Close()
		a.wg.Wait()
	})
	return nil
}

func (a *NATSAuth) handle(m *nats.Msg) {
	a.wg.Add(1)
	defer a.wg.Done()
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		a.answers.WithLabelValues("malformed").Inc()
		a.log.Warn("broker: auth callout: a request that is not an authorization JWT", "err", err)
		return // the server times the login out
	}
	userJWT, reason := a.decide(req)
	resp := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	resp.Audience = req.Server.ID
	if reason != "" {
		resp.Error = reason
	} else {
		resp.Jwt = userJWT
	}
	token, err := resp.Encode(a.issuer)
	if err != nil {
		a.log.Error("broker: auth callout: signing an answer", "err", err)
		return
	}
	_ = m.Respond([]byte(token))
}

// decide checks one login: a signed user JWT with the device's rights, or
// the reason it is refused.
func (a *NATSAuth) decide(req *jwt.AuthorizationRequestClaims) (string, string) {
	co := req.ConnectOptions
	device := co.Username
	if err := wire.ValidDeviceID(device); err != nil {
		a.answers.WithLabelValues("refused").Inc()
		return "", "not a device id"
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opt.Timeout)
	defer cancel()
	if err := a.opt.Devices.Authenticate(ctx, device, co.Password); err != nil {
		a.answers.WithLabelValues("refused").Inc()
		a.log.Info("broker: NATS login refused", "device", device, "type", req.ClientInformation.Type, "host", req.ClientInformation.Host, "err", err)
		return "", "bad user name or password"
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Name = device
	uc.Audience = a.opt.Account
	uc.Expires = time.Now().Add(a.opt.SessionMax).Unix()
	// Over MQTT only: a device has no business on NATS's own protocol.
	uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeMqtt)
	pub, sub := wire.NATSDeviceRights(device, a.opt.Partitions)
	uc.Pub.Allow.Add(pub...)
	uc.Sub.Allow.Add(sub...)
	uj, err := uc.Encode(a.issuer)
	if err != nil {
		a.answers.WithLabelValues("error").Inc()
		return "", "internal error"
	}
	a.answers.WithLabelValues("accepted").Inc()
	return uj, ""
}

// ReadSeed reads an nkey seed file (the first line that is a seed).
func ReadSeed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "S") {
			return line, nil
		}
	}
	return "", fmt.Errorf("%w: %s holds no seed", ErrIssuer, path)
}
