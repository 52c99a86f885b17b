package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leases hands out numbered shares of a job (the ingest's partitions),
// each to one holder at a time, through PostgreSQL's session advisory
// locks on one connection of their own: a lease is held while that
// session lives, so a holder that dies (its process killed, its network
// cut) loses every lease as soon as PostgreSQL sees the session end, and
// another can take them. Holders count each other through a shared lock
// that every open Leases holds, so each can take its fair share.
//
// A Leases may be used from several goroutines: its calls take turns on
// its one connection.
type Leases struct {
	mu    sync.Mutex
	conn  *pgx.Conn
	class int32 // the advisory lock class of the shares
}

// LeaseOptions shape a Leases.
type LeaseOptions struct {
	// Class names the job: holders of the same class and database share
	// its numbers.
	Class int32
	// Dial, when set, opens the connection (tests cut it to play a
	// holder whose network fails).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// KeepAlive is how long PostgreSQL waits for a silent holder's
	// connection before it ends the session and frees its leases, through
	// TCP keepalives and tcp_user_timeout (10 s by default).
	KeepAlive time.Duration
}

// ErrNotPostgres: leases need PostgreSQL's advisory locks.
var ErrNotPostgres = errors.New("store: leases need a PostgreSQL database (store.url)")

// IngestLeaseClass is the class of the ingest's NATS partitions.
const IngestLeaseClass int32 = 0x50570001

// memberKey is the second key of the shared lock every holder of a class
// holds; shares are numbered from 0 under the class itself, members under
// class+1.
const memberKey = 0

// OpenLeases opens the session that holds a class's leases, on the
// PostgreSQL database dsn names, and joins the class's holders.
func OpenLeases(ctx context.Context, dsn string, opt LeaseOptions) (*Leases, error) {
	if e, err := Engine(dsn); err != nil || e != Postgres {
		return nil, ErrNotPostgres
	}
	if opt.KeepAlive == 0 {
		opt.KeepAlive = 10 * time.Second
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	if opt.Dial != nil {
		cfg.DialFunc = opt.Dial
	}
	ka := max(1, int(opt.KeepAlive/time.Second)/3)
	cfg.RuntimeParams["application_name"] = "pitwall leases"
	// The server side of the liveness: PostgreSQL probes a silent client
	// and gives up within about KeepAlive.
	cfg.RuntimeParams["tcp_keepalives_idle"] = fmt.Sprint(ka)
	cfg.RuntimeParams["tcp_keepalives_interval"] = fmt.Sprint(ka)
	cfg.RuntimeParams["tcp_keepalives_count"] = "2"
	cfg.RuntimeParams["tcp_user_timeout"] = fmt.Sprint(opt.KeepAlive.Milliseconds())
	cfg.RuntimeParams["idle_session_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: leases: connecting: %w", err)
	}
	l := &Leases{conn: conn, class: opt.Class}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1, $2)`, opt.Class+1, memberKey); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: leases: joining: %w", err)
	}
	return l, nil
}

// Members counts the open Leases of the class, this one included.
func (l *Leases) Members(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int
	err := l.conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = $1 AND objid = $2 AND objsubid = 2`, uint32(l.class+1), memberKey).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: leases: counting holders: %w", err)
	}
	return n, nil
}

// TryAcquire takes share n if no one holds it, without waiting.
func (l *Leases) TryAcquire(ctx context.Context, n int) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ok bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, l.class, int32(n)).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: leases: taking %d: %w", n, err)
	}
	return ok, nil
}

// Release gives share n up.
func (l *Leases) Release(ctx context.Context, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ok bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, l.class, int32(n)).Scan(&ok); err != nil {
		return fmt.Errorf("store: leases: releasing %d: %w", n, err)
	}
	if !ok {
		return fmt.Errorf("%w: share %d was not held", ErrNotFound, n)
	}
	return nil
}

// Check reports whether the session still lives: when it fails, every
// lease must be taken as lost.
func (l *Leases) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("store: leases: the session is gone: %w", err)
	}
	return nil
}

// Close ends the session, releasing every lease; safe to call twice.
func (l *Leases) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn.IsClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return l.conn.Close(ctx)
}
