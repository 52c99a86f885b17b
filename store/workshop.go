package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Progress is a step of the work a shop shows the owner.
type Progress struct {
	N      int
	Step   string
	Note   string
	Time   time.Time
	Photos []PhotoInfo
}

// PhotoInfo describes a stored photo without its bytes.
type PhotoInfo struct {
	ID          string
	ContentType string
	Width       int
	Height      int
	Bytes       int
}

// Photo is a stored photo with its bytes.
type Photo struct {
	PhotoInfo
	BookingID string
	Data      []byte
}

// MaxBookingSteps and MaxBookingPhotos bound what one booking's progress
// holds: a long job posts a few dozen steps and photos.
const (
	MaxBookingSteps  = 100
	MaxBookingPhotos = 60
)

// AddProgress records a progress step with its photos on a booking in
// one of statuses, numbered after the last, with its history event,
// under the booking's lock; past MaxBookingSteps or MaxBookingPhotos it
// is ErrInvalid.
func (s *Store) AddProgress(ctx context.Context, bookingID string, statuses []string, p Progress, photos []Photo, ev Event) (Progress, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Progress{}, fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := inStatus(ctx, tx, bookingID, statuses, "a progress step"); err != nil {
		return Progress{}, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(n), 0) + 1 FROM booking_progress WHERE booking_id = ?`, bookingID).Scan(&p.N); err != nil {
		return Progress{}, fmt.Errorf("store: progress: %w", err)
	}
	// Bounded under the booking's lock: a shop posting without end
	// cannot fill the database or the owner's inbox.
	if p.N > MaxBookingSteps {
		return Progress{}, fmt.Errorf("%w: booking %s has %d progress steps, at most %d", ErrInvalid, bookingID, p.N-1, MaxBookingSteps)
	}
	if len(photos) > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM booking_photos WHERE booking_id = ?`, bookingID).Scan(&n); err != nil {
			return Progress{}, fmt.Errorf("store: progress: %w", err)
		}
		if n+len(photos) > MaxBookingPhotos {
			return Progress{}, fmt.Errorf("%w: booking %s holds %d photos, at most %d", ErrInvalid, bookingID, n, MaxBookingPhotos)
		}
	}
	p.Time = s.stamp()
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_progress (booking_id, n, step, note, time_ms) VALUES (?, ?, ?, ?, ?)`,
		bookingID, p.N, p.Step, p.Note, ms(p.Time)); err != nil {
		return Progress{}, constraint(err, "progress of booking "+bookingID)
	}
	p.Photos = nil
	for _, ph := range photos {
		ph.ID = newID()
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_photos (id, booking_id, progress_n, content_type, width, height, data, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			ph.ID, bookingID, p.N, ph.ContentType, ph.Width, ph.Height, ph.Data, ms(p.Time)); err != nil {
			return Progress{}, constraint(err, "photo of booking "+bookingID)
		}
		ph.Bytes = len(ph.Data)
		p.Photos = append(p.Photos, ph.PhotoInfo)
	}
	if err := addEventKind(ctx, tx, bookingID, p.Time, ev); err != nil {
		return Progress{}, err
	}
	return p, tx.Commit()
}

// BookingProgress lists a booking's progress steps with their photos,
// oldest first.
func (s *Store) BookingProgress(ctx context.Context, bookingID string) ([]Progress, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT n, step, note, time_ms FROM booking_progress WHERE booking_id = ? ORDER BY n`, bookingID)
	steps, err := collect(rows, err, "progress", func(r interface{ Scan(...any) error }) (Progress, error) {
		var p Progress
		var t int64
		err := r.Scan(&p.N, &p.Step, &p.Note, &t)
		p.Time = fromMS(t)
		return p, err
	})
	if err != nil || len(steps) == 0 {
		return steps, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT id, progress_n, content_type, width, height, LENGTH(data) FROM booking_photos WHERE booking_id = ? ORDER BY progress_n, created_ms, id`, bookingID)
	if err != nil {
		return nil, fmt.Errorf("store: photos: %w", err)
	}
	defer rows.Close()
	byN := map[int]int{}
	for i, p := range steps {
		byN[p.N] = i
	}
	for rows.Next() {
		var ph PhotoInfo
		var n int
		if err := rows.Scan(&ph.ID, &n, &ph.ContentType, &ph.Width, &ph.Height, &ph.Bytes); err != nil {
			return nil, err
		}
		if i, ok := byN[n]; ok {
			steps[i].Photos = append(steps[i].Photos, ph)
		}
	}
	return steps, rows.Err()
}

// BookingPhoto reads a photo of a booking; a photo of another booking is
// not found.
func (s *Store) BookingPhoto(ctx context.Context, bookingID, photoID string) (Photo, error) {
	var p Photo
	err := s.db.QueryRowContext(ctx, `SELECT id, booking_id, content_type, width, height, data FROM booking_photos WHERE id = ? AND booking_id = ?`, photoID, bookingID).
		Scan(&p.ID, &p.BookingID, &p.ContentType, &p.Width, &p.Height, &p.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Photo{}, fmt.Errorf("%w: photo %s", ErrNotFound, photoID)
	}
	p.Bytes = len(p.Data)
	return p, err
}
