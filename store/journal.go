package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DeviceStatus is what the ingest last learned of a device.
type DeviceStatus struct {
	Device       string
	Online       bool
	Seen         time.Time
	Boot         uint64
	LastSeq      uint64
	VIN          string
	AgentVersion string
	Adapter      string
	Protocol     string
}

// SaveStatuses records device statuses, replacing older ones; a status
// older than the one stored is ignored.
func (s *Store) SaveStatuses(ctx context.Context, sts []DeviceStatus) error {
	if len(sts) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	for _, st := range sts {
		_, err := tx.ExecContext(ctx, `INSERT INTO device_status (device, online, seen_ms, boot, last_seq, vin, agent_version, adapter, protocol)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (device) DO UPDATE SET online = excluded.online, seen_ms = excluded.seen_ms, boot = excluded.boot,
				last_seq = excluded.last_seq,
				vin = CASE WHEN excluded.vin <> '' THEN excluded.vin ELSE device_status.vin END,
				agent_version = CASE WHEN excluded.agent_version <> '' THEN excluded.agent_version ELSE device_status.agent_version END,
				adapter = CASE WHEN excluded.adapter <> '' THEN excluded.adapter ELSE device_status.adapter END,
				protocol = CASE WHEN excluded.protocol <> '' THEN excluded.protocol ELSE device_status.protocol END
			WHERE excluded.seen_ms >= device_status.seen_ms`,
			st.Device, boolInt(st.Online), ms(st.Seen), bootText(st.Boot), int64(st.LastSeq), st.VIN, st.AgentVersion, st.Adapter, st.Protocol)
		if err != nil {
			return fmt.Errorf("store: status of %s: %w", st.Device, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Status reads a device's status.
func (s *Store) Status(ctx context.Context, device string) (DeviceStatus, error) {
	st := DeviceStatus{Device: device}
	var online int
	var seen, seq int64
	var boot string
	err := s.db.QueryRowContext(ctx, `SELECT online, seen_ms, boot, last_seq, vin, agent_version, adapter, protocol FROM device_status WHERE device = ?`, device).
		Scan(&online, &seen, &boot, &seq, &st.VIN, &st.AgentVersion, &st.Adapter, &st.Protocol)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: no status for device %s", ErrNotFound, device)
	}
	st.Online, st.Seen, st.Boot, st.LastSeq = online != 0, fromMS(seen), bootFromText(boot), uint64(seq)
	return st, err
}

// SeenSince lists the devices the ingest heard from at or after t, by id:
// the cars whose state a starting server rebuilds first.
func (s *Store) SeenSince(ctx context.Context, t time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device FROM device_status WHERE seen_ms >= ? ORDER BY device`, ms(t))
	if err != nil {
		return nil, fmt.Errorf("store: devices seen since %v: %w", t, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("store: devices seen since %v: %w", t, err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Message is a device message kept as it arrived: a trouble-code report,
// an event, a command result or a birth.
type Message struct {
	Device string
	Seq    uint64
	Boot   uint64
	Kind   string // the wire kind: dtc, event, cmd/result, status
	Time   time.Time
	Body   []byte // the wire payload
}

// SaveMessages keeps messages, once each by device and sequence number:
// a message seen again is left as it was. They go in one transaction,
// many rows a statement: on PostgreSQL each statement is a round trip.
func (s *Store) SaveMessages(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	const rows = 100
	for start := 0; start < len(msgs); start += rows {
		part := msgs[start:min(start+rows, len(msgs))]
		args := make([]any, 0, 6*len(part))
		for _, m := range part {
			args = append(args, m.Device, int64(m.Seq), m.Kind, bootText(m.Boot), ms(m.Time), m.Body)
		}
		q := `INSERT INTO device_messages (device, seq, kind, boot, time_ms, body) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", len(part)), ", ") + ` ON CONFLICT (device, seq) DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("store: messages of %s from %d: %w", part[0].Device, part[0].Seq, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Messages lists a device's messages of a kind (any kind for ""), from
// since on, oldest first, at most limit of them.
func (s *Store) Messages(ctx context.Context, device, kind string, since time.Time, limit int) ([]Message, error) {
	q := `SELECT device, seq, kind, boot, time_ms, body FROM device_messages WHERE device = ? AND time_ms >= ?`
	args := []any{device, ms(since)}
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	q += ` ORDER BY time_ms, seq LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	return collect(rows, err, "messages of "+device, scanMessage)
}

// MessagesAfter lists a device's messages of every kind after a point
// (time, then sequence number), oldest first, at most limit: a cursor that
// pages through messages sharing a millisecond without missing any.
func (s *Store) MessagesAfter(ctx context.Context, device string, after time.Time, afterSeq uint64, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, seq, kind, boot, time_ms, body FROM device_messages
		WHERE device = ? AND (time_ms > ? OR time_ms = ? AND seq > ?) ORDER BY time_ms, seq LIMIT ?`, device, ms(after), ms(after), int64(afterSeq), limit)
	return collect(rows, err, "messages of "+device, scanMessage)
}

func scanMessage(r interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var seq, t int64
	var boot string
	err := r.Scan(&m.Device, &seq, &m.Kind, &boot, &t, &m.Body)
	m.Seq, m.Boot, m.Time = uint64(seq), bootFromText(boot), fromMS(t)
	return m, err
}

// SaveBirth keeps a boot's birth message; a later birth of the same boot
// (the VIN became known) replaces an earlier one.
func (s *Store) SaveBirth(ctx context.Context, device string, boot, seq uint64, t time.Time, body []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO device_births (device, boot, seq, time_ms, body) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (device, boot) DO UPDATE SET seq = excluded.seq, time_ms = excluded.time_ms, body = excluded.body
		WHERE excluded.seq >= device_births.seq`, device, bootText(boot), int64(seq), ms(t), body)
	if err != nil {
		return fmt.Errorf("store: birth of %s: %w", device, err)
	}
	return nil
}

// Birth reads the newest birth of a device's boot.
func (s *Store) Birth(ctx context.Context, device string, boot uint64) ([]byte, error) {
	var body []byte
	err := s.db.QueryRowContext(ctx, `SELECT body FROM device_births WHERE device = ? AND boot = ?`, device, bootText(boot)).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no birth for device %s boot %016x", ErrNotFound, device, boot)
	}
	return body, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LatestMessage is a device's newest message of a kind.
func (s *Store) LatestMessage(ctx context.Context, device, kind string) (Message, error) {
	var m Message
	var seq, t int64
	var boot string
	err := s.db.QueryRowContext(ctx, `SELECT device, seq, kind, boot, time_ms, body FROM device_messages WHERE device = ? AND kind = ? ORDER BY time_ms DESC, seq DESC LIMIT 1`,
		device, kind).Scan(&m.Device, &seq, &m.Kind, &boot, &t, &m.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("%w: no %s message from %s", ErrNotFound, kind, device)
	}
	m.Seq, m.Boot, m.Time = uint64(seq), bootFromText(boot), fromMS(t)
	return m, err
}

// MessageBefore is a device's last message of a kind stamped before t:
// the trouble-code report in force at t, say.
func (s *Store) MessageBefore(ctx context.Context, device, kind string, t time.Time) (Message, error) {
	var m Message
	var seq, at int64
	var boot string
	err := s.db.QueryRowContext(ctx, `SELECT device, seq, kind, boot, time_ms, body FROM device_messages WHERE device = ? AND kind = ? AND time_ms < ?
		ORDER BY time_ms DESC, seq DESC LIMIT 1`, device, kind, ms(t)).Scan(&m.Device, &seq, &m.Kind, &boot, &at, &m.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("%w: no %s message from %s before %v", ErrNotFound, kind, device, t)
	}
	if err != nil {
		return Message{}, fmt.Errorf("store: messages of %s: %w", device, err)
	}
	m.Seq, m.Boot, m.Time = uint64(seq), bootFromText(boot), fromMS(at)
	return m, nil
}
